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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from audiodiff.nn.conditioners import ConditionerOutput, MultiConditioner
from audiodiff.nn.objectives import OBJECTIVES, Objective
from audiodiff.nn.routing import (
    INPAINT_IDS,
    NO_GUIDANCE,
    NO_INPUTS,
    BackboneInputs,
    ConditioningEntry,
    Guidance,
    Routing,
    route_inputs,
)

if TYPE_CHECKING:
    from audiodiff.nn.pretransforms import Pretransform

__all__ = [
    "INPAINT_IDS",
    "BackboneInputs",
    "BackboneWrapper",
    "ConditionedDiffusionModel",
    "DiffusionModel",
    "Guidance",
    "Routing",
    "UnconditionedDiffusionModel",
]


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
        x: Tensor,
        t: Tensor,
        inputs: BackboneInputs = NO_INPUTS,  # [B, C_io, L], [B]
        guidance: Guidance = NO_GUIDANCE,
    ) -> Tensor:  # [B, C_out, L]
        return self.model(x, t, inputs, guidance)


class ConditionedDiffusionModel(nn.Module):
    """A backbone plus the conditioners and routing that feed it (diffusion_cond / diffusion_cond_inpaint)."""

    def __init__(
        self,
        *,
        backbone: nn.Module,  # DiT / adp U-Net, with the BACKBONE.md forward
        conditioner: MultiConditioner | None,  # None: conditioning tensors come precomputed
        routing: Routing,
        io_channels: int,  # channels the backbone denoises (latent width)
        sample_rate: int,
        diffusion_objective: Objective = OBJECTIVES["v"],
        pretransform: Pretransform | None = None,
        min_input_length: int = 1,  # pretransform ratio x backbone downsampling (informational)
        distribution_shift: DistributionShift | None = None,  # applied to t by training, demos and samplers
    ) -> None:
        super().__init__()
        if not isinstance(diffusion_objective, Objective):
            raise TypeError(f"`diffusion_objective` must be an Objective, got `{diffusion_objective!r}`")
        if conditioner is not None:
            routing.check(tuple(conditioner.conditioners.keys()))
        self.model = BackboneWrapper(backbone)
        self.conditioner = conditioner
        self.pretransform = pretransform
        self.routing = routing
        self.io_channels = io_channels
        self.sample_rate = sample_rate
        self.diffusion_objective = diffusion_objective
        self.min_input_length = min_input_length
        self.distribution_shift = distribution_shift

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

    def get_conditioning_inputs(self, cond: Mapping[str, ConditioningEntry]) -> BackboneInputs:
        """Routes conditioner outputs to the backbone's inputs (spec §3.3)."""
        return route_inputs(self.routing, cond)

    def forward(
        self,
        x: Tensor,  # [B, io_channels, L]
        t: Tensor,  # [B] diffusion time in [0, 1]
        cond: Mapping[str, ConditioningEntry],  # conditioner outputs (+ injected inpaint tensors)
        *,
        negative_cond: Mapping[str, ConditioningEntry] | None = None,
        guidance: Guidance = NO_GUIDANCE,
    ) -> Tensor:  # [B, io_channels, L]
        inputs = self.get_conditioning_inputs(cond)
        if negative_cond is not None:
            inputs = inputs.with_negative(self.get_conditioning_inputs(negative_cond))
        return self.model(x, t, inputs, guidance)

    def forward_with_unguided(
        self,
        x: Tensor,  # [B, io_channels, L]
        t: Tensor,  # [B]
        cond: Mapping[str, ConditioningEntry],
        *,
        negative_cond: Mapping[str, ConditioningEntry] | None = None,
        guidance: Guidance = NO_GUIDANCE,
    ) -> tuple[Tensor, Tensor | None]:  # the output and its unguided half (None: none ran)
        """`forward`, plus the unguided prediction where the backbone guided in one doubled batch (the DiT, as
        upstream, whose U-Nets report none): what CFG++ samplers read."""
        unguided = getattr(self.model.model, "forward_with_unguided", None)
        if unguided is None:
            return self(x, t, cond, negative_cond=negative_cond, guidance=guidance), None
        inputs = self.get_conditioning_inputs(cond)
        if negative_cond is not None:
            inputs = inputs.with_negative(self.get_conditioning_inputs(negative_cond))
        return unguided(x, t, inputs, guidance)


class UnconditionedDiffusionModel(nn.Module):
    """A backbone without conditioning (diffusion_uncond), optionally on a pretransform's latents."""

    # The reference trains unconditional models with the v objective only (and stores no attribute for it).
    diffusion_objective: Objective = OBJECTIVES["v"]

    def __init__(
        self,
        *,
        backbone: nn.Module,
        nest_backbone: bool,  # True: keys `model.model.*` (dit, adp_uncond_1d);
        # False: keys `model.*` (DAU1d: `model.net.*`)
        io_channels: int,
        sample_size: int,
        sample_rate: int,
        pretransform: Pretransform | None = None,
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


DiffusionModel = ConditionedDiffusionModel | UnconditionedDiffusionModel  # what training and sampling take
