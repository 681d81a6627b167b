"""Diffusion model wrappers: conditioning routing around a backbone, after stable-audio-tools `models/diffusion.py`.

`ConditionedDiffusionModel` (upstream `ConditionedDiffusionModelWrapper`) runs the conditioners, routes their
outputs into the backbone's four conditioning inputs (cross-attention tokens, global vector, prepended tokens,
input-concat channels) in the order of the routing lists, and calls the backbone, which does classifier-free
guidance itself. Attribute names give the released checkpoint layout: `model.model.*` (backbone inside a thin
wrapper), `conditioner.conditioners.<id>.*`, `pretransform.*`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Literal

import torch
from torch import Tensor, nn

from audiodiff.nn.conditioners import ConditionerOutput, MultiConditioner

__all__ = [
    "INPAINT_IDS",
    "BackboneWrapper",
    "ConditionedDiffusionModel",
    "DiffusionObjective",
    "Routing",
    "UnconditionedDiffusionModel",
]

DiffusionObjective = Literal["v", "rectified_flow", "rf_denoiser"]
_OBJECTIVES: tuple[str, ...] = ("v", "rectified_flow", "rf_denoiser")

# Input-concat ids that no conditioner produces: the inpainting code path supplies them (spec §3.6).
INPAINT_IDS: tuple[str, ...] = ("inpaint_mask", "inpaint_masked_input")


@dataclass(frozen=True)
class DistributionShift:
    """Resolution-dependent time shift: longer sequences get more noise (spec §5.5). A model carries its own, and
    training, demos and samplers apply it to t in [0, 1]: t' = t / (t + e^mu (1 - t))."""

    base_shift: float = 0.5
    max_shift: float = 1.15
    min_length: int = 256
    max_length: int = 4096
    use_sine: bool = False

    def __call__(self, t: Tensor, length: int) -> Tensor:
        clamped = min(max(length, self.min_length), self.max_length)
        fraction = (clamped - self.min_length) / (self.max_length - self.min_length)
        mu = -(self.base_shift + (self.max_shift - self.base_shift) * fraction)
        shifted = t / (t + math.exp(mu) * (1 - t))
        return torch.sin(shifted * (math.pi / 2)) if self.use_sine else shifted


@dataclass(frozen=True)
class Routing:
    """Which conditioner outputs feed which backbone input; the order inside each tuple is layout."""

    cross_attention_ids: tuple[str, ...] = ()   # concatenated on the token axis -> cross_attn_cond [B, sum N, D]
    global_ids: tuple[str, ...] = ()            # concatenated on the feature axis -> global_cond [B, sum D]
    prepend_ids: tuple[str, ...] = ()           # concatenated on the token axis -> prepend_cond [B, sum N, D]
    input_concat_ids: tuple[str, ...] = ()      # concatenated on the channel axis -> input_concat_cond [B, sum C, L]

    def __post_init__(self) -> None:
        for field in fields(self):
            ids = getattr(self, field.name)
            if isinstance(ids, str) or not all(isinstance(id_, str) for id_ in ids):
                raise ValueError(f"routing `{field.name}` must be a sequence of conditioner ids, got `{ids!r}`")
            object.__setattr__(self, field.name, tuple(ids))  # accept lists, store tuples

    def routes(self) -> dict[str, tuple[str, ...]]:
        """Route name -> ids, for messages and checks."""
        return {field.name: getattr(self, field.name) for field in fields(self)}


# A conditioning entry: a conditioner's (value, mask), a one-element sequence, or a bare tensor (no mask).
ConditioningEntry = ConditionerOutput | Sequence[Tensor] | Tensor


class BackboneWrapper(nn.Module):
    """Holds the backbone at `.model`, so its keys read `model.model.*` as under the reference's DiT/U-Net wrappers."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.model = backbone

    @property
    def supports_cfg(self) -> bool:
        return bool(getattr(self.model, "supports_cfg", False))

    def forward(
        self,
        x: Tensor,                                      # [B, C_io, L]
        t: Tensor,                                      # [B]
        *,
        cross_attn_cond: Tensor | None = None,          # [B, N_ctx, D_ctx]
        cross_attn_mask: Tensor | None = None,          # [B, N_ctx]
        global_cond: Tensor | None = None,              # [B, D_glob]
        input_concat_cond: Tensor | None = None,        # [B, C_cat, L']
        prepend_cond: Tensor | None = None,             # [B, N_pre, D_pre]
        prepend_cond_mask: Tensor | None = None,        # [B, N_pre]
        negative_cross_attn_cond: Tensor | None = None,
        negative_cross_attn_mask: Tensor | None = None,
        cfg_scale: float = 1.0,
        cfg_dropout_prob: float = 0.0,
        rescale_cfg: bool = False,
        scale_phi: float | None = None,
        cfg_interval: tuple[float, float] = (0.0, 1.0),
    ) -> Tensor:                                        # [B, C_out, L]
        return self.model(
            x,
            t,
            cross_attn_cond=cross_attn_cond,
            cross_attn_mask=cross_attn_mask,
            global_cond=global_cond,
            input_concat_cond=input_concat_cond,
            prepend_cond=prepend_cond,
            prepend_cond_mask=prepend_cond_mask,
            negative_cross_attn_cond=negative_cross_attn_cond,
            negative_cross_attn_mask=negative_cross_attn_mask,
            cfg_scale=cfg_scale,
            cfg_dropout_prob=cfg_dropout_prob,
            rescale_cfg=rescale_cfg,
            scale_phi=scale_phi,
            cfg_interval=cfg_interval,
        )


def _check_objective(objective: str) -> None:
    if objective not in _OBJECTIVES:
        known = ", ".join(f"`{name}`" for name in _OBJECTIVES)
        raise ValueError(f"unknown diffusion objective `{objective}`; known objectives: {known}")


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


class ConditionedDiffusionModel(nn.Module):
    """A backbone plus the conditioners and routing that feed it (diffusion_cond / diffusion_cond_inpaint)."""

    def __init__(
        self,
        *,
        backbone: nn.Module,                            # DiT / adp U-Net, with the BACKBONE.md forward
        conditioner: MultiConditioner | None,           # None: conditioning tensors come precomputed
        routing: Routing,
        io_channels: int,                               # channels the backbone denoises (latent width)
        sample_rate: int,
        diffusion_objective: DiffusionObjective = "v",
        pretransform: nn.Module | None = None,
        min_input_length: int = 1,                      # pretransform ratio x backbone downsampling (informational)
        distribution_shift: DistributionShift | None = None,  # applied to t by training, demos and samplers
    ) -> None:
        super().__init__()
        _check_objective(diffusion_objective)
        if conditioner is not None:
            self._check_routing(routing, tuple(conditioner.conditioners.keys()))
        self.model = BackboneWrapper(backbone)
        self.conditioner = conditioner
        self.pretransform = pretransform
        self.routing = routing
        self.io_channels = io_channels
        self.sample_rate = sample_rate
        self.diffusion_objective = diffusion_objective
        self.min_input_length = min_input_length
        self.distribution_shift = distribution_shift

    @staticmethod
    def _check_routing(routing: Routing, conditioner_ids: tuple[str, ...]) -> None:
        for route, ids in routing.routes().items():
            allowed = conditioner_ids + (INPAINT_IDS if route == "input_concat_ids" else ())
            for id_ in ids:
                if id_ not in allowed:
                    known = ", ".join(f"`{name}`" for name in allowed) or "none"
                    raise ValueError(f"`{route}` names `{id_}`, which is not a conditioner id (known: {known})")

    @property
    def supports_cfg(self) -> bool:
        return self.model.supports_cfg

    def conditioning_tensors(
        self, metadata: Sequence[Mapping[str, Any]], device: torch.device | str
    ) -> dict[str, ConditionerOutput]:
        """Runs every conditioner on a batch of metadata dicts: `{id: (value, mask)}`."""
        if self.conditioner is None:
            return {}
        return self.conditioner(metadata, device)

    def get_conditioning_inputs(
        self, cond: Mapping[str, ConditioningEntry], negative: bool = False
    ) -> dict[str, Tensor | None]:
        """Routes conditioner outputs to the backbone's keyword inputs (spec §3.3); `negative` renames them."""
        routing = self.routing
        cross_attn_cond = cross_attn_mask = global_cond = input_concat_cond = prepend_cond = prepend_mask = None

        if routing.cross_attention_ids:
            route = "cross_attention_ids"
            values, masks, widths = [], [], {}
            for id_ in routing.cross_attention_ids:
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

        if routing.global_ids:
            route = "global_ids"
            values = [_entry(cond, id_, route)[0] for id_ in routing.global_ids]
            _check_agree({id_: v.dim() for id_, v in zip(routing.global_ids, values)}, "rank", route)
            global_cond = torch.cat(values, dim=-1)  # [B, 1, sum D] or [B, sum D]
            if global_cond.dim() == 3:
                global_cond = global_cond.squeeze(1)  # [B, sum D] (a no-op when there is more than one token)

        if routing.input_concat_ids:
            route = "input_concat_ids"
            values = [_entry(cond, id_, route)[0] for id_ in routing.input_concat_ids]
            _check_agree({id_: v.shape[-1] for id_, v in zip(routing.input_concat_ids, values)}, "length", route)
            input_concat_cond = torch.cat(values, dim=1)  # [B, sum C, L']

        if routing.prepend_ids:
            route = "prepend_ids"
            values, masks = [], []
            for id_ in routing.prepend_ids:
                value, mask = _entry(cond, id_, route)
                if value.dim() != 3:  # unlike cross-attention, prepend gives 2-D values no token axis
                    raise ValueError(f"`{route}` inputs must be [B, N, D] tokens; `{id_}` is {tuple(value.shape)}")
                values.append(value)
                masks.append(_require_mask(mask, id_, route))
            _check_agree({id_: v.shape[-1] for id_, v in zip(routing.prepend_ids, values)}, "token width", route)
            prepend_cond = torch.cat(values, dim=1)  # [B, sum N, D]
            prepend_mask = torch.cat(masks, dim=1)  # [B, sum N]

        if negative:
            # The reference has no negative prepend input.
            return {
                "negative_cross_attn_cond": cross_attn_cond,
                "negative_cross_attn_mask": cross_attn_mask,
                "negative_global_cond": global_cond,
                "negative_input_concat_cond": input_concat_cond,
            }
        return {
            "cross_attn_cond": cross_attn_cond,
            "cross_attn_mask": cross_attn_mask,
            "global_cond": global_cond,
            "input_concat_cond": input_concat_cond,
            "prepend_cond": prepend_cond,
            "prepend_cond_mask": prepend_mask,
        }

    def forward(
        self,
        x: Tensor,                                      # [B, io_channels, L]
        t: Tensor,                                      # [B] diffusion time in [0, 1]
        cond: Mapping[str, ConditioningEntry],          # conditioner outputs (+ injected inpaint tensors)
        *,
        negative_cond: Mapping[str, ConditioningEntry] | None = None,
        cfg_scale: float = 1.0,
        cfg_dropout_prob: float = 0.0,
        rescale_cfg: bool = False,
        scale_phi: float | None = None,
        cfg_interval: tuple[float, float] = (0.0, 1.0),
    ) -> Tensor:                                        # [B, io_channels, L]
        routed = self.get_conditioning_inputs(cond)
        negative_cross_attn_cond = negative_cross_attn_mask = None
        if negative_cond is not None:
            # Only the cross-attention part of a negative prompt reaches a backbone: the reference's DiT and
            # U-Net wrappers accept negative global / input-concat tensors and drop them.
            negative = self.get_conditioning_inputs(negative_cond, negative=True)
            negative_cross_attn_cond = negative["negative_cross_attn_cond"]
            negative_cross_attn_mask = negative["negative_cross_attn_mask"]
        return self.model(
            x,
            t,
            cross_attn_cond=routed["cross_attn_cond"],
            cross_attn_mask=routed["cross_attn_mask"],
            global_cond=routed["global_cond"],
            input_concat_cond=routed["input_concat_cond"],
            prepend_cond=routed["prepend_cond"],
            prepend_cond_mask=routed["prepend_cond_mask"],
            negative_cross_attn_cond=negative_cross_attn_cond,
            negative_cross_attn_mask=negative_cross_attn_mask,
            cfg_scale=cfg_scale,
            cfg_dropout_prob=cfg_dropout_prob,
            rescale_cfg=rescale_cfg,
            scale_phi=scale_phi,
            cfg_interval=cfg_interval,
        )


class UnconditionedDiffusionModel(nn.Module):
    """A backbone without conditioning (diffusion_uncond), optionally on a pretransform's latents."""

    # The reference trains unconditional models with the v objective only (and stores no attribute for it).
    diffusion_objective: DiffusionObjective = "v"

    def __init__(
        self,
        *,
        backbone: nn.Module,
        nest_backbone: bool,                            # True: keys `model.model.*` (dit, adp_uncond_1d);
                                                        # False: keys `model.*` (DAU1d: `model.net.*`)
        io_channels: int,
        sample_size: int,
        sample_rate: int,
        pretransform: nn.Module | None = None,
        min_input_length: int = 1,
    ) -> None:
        super().__init__()
        self.model = BackboneWrapper(backbone) if nest_backbone else backbone
        self.pretransform = pretransform
        self.io_channels = io_channels
        self.sample_size = sample_size
        self.sample_rate = sample_rate
        self.min_input_length = min_input_length

    @property
    def supports_cfg(self) -> bool:
        return False

    def forward(self, x: Tensor, t: Tensor) -> Tensor:  # [B, C, L], [B] -> [B, C, L]
        return self.model(x, t)
