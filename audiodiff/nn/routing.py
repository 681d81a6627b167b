"""What a backbone is called with: the routing of conditioner outputs, the typed bundle of its conditioning inputs,
and the guidance settings (spec §3.3).

The four routes are defined once, in `audiodiff.schema.routes` (this layer may not import it): `Routing`'s fields
are the routes' list keys and `BackboneInputs`' route fields their ports, which a test keeps equal to that table.
Every backbone's forward is `forward(x, t, inputs=BackboneInputs(), guidance=Guidance())`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace

import torch
from torch import Tensor

from audiodiff.nn.conditioners import ConditionerOutput

__all__ = ["INPAINT_IDS", "BackboneInputs", "ConditioningEntry", "Guidance", "Routing", "route_inputs"]

# Input-concat ids that no conditioner produces: the inpainting code path supplies them (spec §3.6).
INPAINT_IDS: tuple[str, ...] = ("inpaint_mask", "inpaint_masked_input")

# A conditioning entry: a conditioner's (value, mask), a one-element sequence, or a bare tensor (no mask).
ConditioningEntry = ConditionerOutput | Sequence[Tensor] | Tensor


@dataclass(frozen=True)
class Routing:
    """Which conditioner outputs feed which backbone input; the order inside each tuple is layout."""

    cross_attention_cond_ids: tuple[str, ...] = ()  # token axis -> cross_attn_cond [B, sum N, D]
    global_cond_ids: tuple[str, ...] = ()  # feature axis -> global_cond [B, sum D]
    prepend_cond_ids: tuple[str, ...] = ()  # token axis -> prepend_cond [B, sum N, D]
    input_concat_ids: tuple[str, ...] = ()  # channel axis -> input_concat_cond [B, sum C, L]

    def __post_init__(self) -> None:
        for field in fields(self):
            ids = getattr(self, field.name)
            if isinstance(ids, str) or not all(isinstance(id_, str) for id_ in ids):
                raise ValueError(f"routing `{field.name}` must be a sequence of conditioner ids, got `{ids!r}`")
            object.__setattr__(self, field.name, tuple(ids))  # accept lists, store tuples

    def routes(self) -> dict[str, tuple[str, ...]]:
        """Route list key -> ids, for messages and checks."""
        return {field.name: getattr(self, field.name) for field in fields(self)}

    def check(self, conditioner_ids: tuple[str, ...]) -> None:
        for route, ids in self.routes().items():
            allowed = conditioner_ids + (INPAINT_IDS if route == "input_concat_ids" else ())
            for id_ in ids:
                if id_ not in allowed:
                    known = ", ".join(f"`{name}`" for name in allowed) or "none"
                    raise ValueError(f"`{route}` names `{id_}`, which is not a conditioner id (known: {known})")


@dataclass(frozen=True)
class BackboneInputs:
    """The conditioning a backbone consumes: one field per route port, with the masks of the token routes and the
    negative (guidance null) cross-attention tokens. None: the route carries nothing."""

    cross_attn_cond: Tensor | None = None  # [B, N_ctx, D_ctx]
    cross_attn_mask: Tensor | None = None  # [B, N_ctx]
    global_cond: Tensor | None = None  # [B, D_glob]
    prepend_cond: Tensor | None = None  # [B, N_pre, D_pre]
    prepend_cond_mask: Tensor | None = None  # [B, N_pre]
    input_concat_cond: Tensor | None = None  # [B, C_cat, L']
    negative_cross_attn_cond: Tensor | None = None  # [B, N_ctx, D_ctx] guidance null instead of zeros
    negative_cross_attn_mask: Tensor | None = None  # [B, N_ctx]

    def tensors(self) -> dict[str, Tensor]:
        """Field -> tensor for the fields that carry one (for tests and debugging)."""
        present = {field.name: getattr(self, field.name) for field in fields(self)}
        return {name: value for name, value in present.items() if value is not None}

    def with_negative(self, negative: BackboneInputs) -> BackboneInputs:
        """These inputs, guided against `negative`'s cross-attention tokens. The reference's wrappers accept
        negative global / input-concat / prepend tensors and drop them, so only cross-attention is kept."""
        return replace(
            self, negative_cross_attn_cond=negative.cross_attn_cond, negative_cross_attn_mask=negative.cross_attn_mask
        )


@dataclass(frozen=True)
class Guidance:
    """Classifier-free guidance settings of one backbone call (the eval defaults: no guidance, no dropout)."""

    cfg_scale: float = 1.0
    cfg_dropout_prob: float = 0.0  # training: per item, the token conditioning becomes the null
    rescale_cfg: bool = False  # U-Net: rescale the guided output's std to the conditional one's
    scale_phi: float | None = None  # DiT: CFG rescale blend; None: 0
    cfg_interval: tuple[float, float] = (0.0, 1.0)  # guide only while the noise level lies in this range


NO_INPUTS = BackboneInputs()
NO_GUIDANCE = Guidance()


def _entry(cond: Mapping[str, ConditioningEntry], id_: str, route: str) -> tuple[Tensor, Tensor | None]:
    """Splits a conditioning entry into (value, mask); a bare tensor or one-element sequence has no mask."""
    if id_ not in cond:
        have = ", ".join(f"`{key}`" for key in cond) or "nothing"
        raise ValueError(f"conditioning has no `{id_}`, which `{route}` routes to the backbone (it has {have})")
    entry = cond[id_]
    if isinstance(entry, Tensor):
        return entry, None
    if len(entry) == 1:
        return entry[0], None
    if len(entry) == 2:
        return entry[0], entry[1]
    raise ValueError(f"conditioning entry `{id_}` must be a tensor or a (value, mask) pair")


def _require_mask(mask: Tensor | None, id_: str, route: str) -> Tensor:
    if mask is None:
        # Pre-encoded conditioning and injected tensors carry no mask, so token routes cannot use them (C39).
        raise ValueError(f"`{id_}` has no mask, so it cannot be routed through `{route}`")
    return mask


def _check_agree(sizes: dict[str, int], what: str, route: str) -> None:
    if len(set(sizes.values())) > 1:
        listed = ", ".join(f"`{id_}` {size}" for id_, size in sizes.items())
        raise ValueError(f"`{route}` inputs disagree in {what}: {listed}")


def route_inputs(routing: Routing, cond: Mapping[str, ConditioningEntry]) -> BackboneInputs:
    """Concatenates conditioner outputs into the backbone's inputs, route by route, in routing-list order."""
    cross_attn_cond = cross_attn_mask = global_cond = input_concat_cond = prepend_cond = prepend_mask = None

    if routing.cross_attention_cond_ids:
        route = "cross_attention_cond_ids"
        values, masks, widths = [], [], {}
        for id_ in routing.cross_attention_cond_ids:
            value, mask = _entry(cond, id_, route)
            mask = _require_mask(mask, id_, route)
            if value.dim() == 2:  # a single vector [B, D] becomes one token [B, 1, D]
                value, mask = value.unsqueeze(1), mask.unsqueeze(1)
            widths[id_] = value.shape[-1]
            values.append(value)
            masks.append(mask)
        _check_agree(widths, "token width", route)
        cross_attn_cond = torch.cat(values, dim=1)  # [B, sum N, D]
        cross_attn_mask = torch.cat(masks, dim=1)  # [B, sum N]; bool and float masks promote to float

    if routing.global_cond_ids:
        route = "global_cond_ids"
        values = [_entry(cond, id_, route)[0] for id_ in routing.global_cond_ids]
        _check_agree({id_: v.dim() for id_, v in zip(routing.global_cond_ids, values, strict=True)}, "rank", route)
        global_cond = torch.cat(values, dim=-1)  # [B, 1, sum D] or [B, sum D]
        if global_cond.dim() == 3:
            global_cond = global_cond.squeeze(1)  # [B, sum D] (a no-op when there is more than one token)

    if routing.input_concat_ids:
        route = "input_concat_ids"
        values = [_entry(cond, id_, route)[0] for id_ in routing.input_concat_ids]
        _check_agree(
            {id_: v.shape[-1] for id_, v in zip(routing.input_concat_ids, values, strict=True)}, "length", route
        )
        input_concat_cond = torch.cat(values, dim=1)  # [B, sum C, L']

    if routing.prepend_cond_ids:
        route = "prepend_cond_ids"
        values, masks = [], []
        for id_ in routing.prepend_cond_ids:
            value, mask = _entry(cond, id_, route)
            if value.dim() != 3:  # unlike cross-attention, prepend gives 2-D values no token axis
                raise ValueError(f"`{route}` inputs must be [B, N, D] tokens; `{id_}` is {tuple(value.shape)}")
            values.append(value)
            masks.append(_require_mask(mask, id_, route))
        _check_agree(
            {id_: v.shape[-1] for id_, v in zip(routing.prepend_cond_ids, values, strict=True)}, "token width", route
        )
        prepend_cond = torch.cat(values, dim=1)  # [B, sum N, D]
        prepend_mask = torch.cat(masks, dim=1)  # [B, sum N]

    return BackboneInputs(
        cross_attn_cond=cross_attn_cond,
        cross_attn_mask=cross_attn_mask,
        global_cond=global_cond,
        prepend_cond=prepend_cond,
        prepend_cond_mask=prepend_mask,
        input_concat_cond=input_concat_cond,
    )
