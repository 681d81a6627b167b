"""The `model` section of diffusion models: `model.diffusion` with its backbone and routing lists (spec §2.1, §2.3).

Which backbone a model type accepts (C21) is a rule, not a union per model type: a `DAU1d` under
`diffusion_cond` should read "not allowed here", not "unknown tag".
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from audiodiff.schema.routes import INPAINT_IDS, Route
from audiodiff.schema.v1.backbones import (
    DAU1dSpec,
    DistributionShiftSpec,
    DiTSpec,
    DiTUncondSpec,
    UNet1dSpec,
    UNetCFG1dSpec,
)
from audiodiff.schema.v1.base import PositiveInt, Spec, StrTuple
from audiodiff.schema.v1.conditioning import ConditioningSpec
from audiodiff.schema.v1.pretransform import PretransformSpec

DiffusionObjective = Literal["v", "rectified_flow", "rf_denoiser"]

__all__ = ["INPAINT_IDS"]  # re-exported: the routes and the inpainting ids are defined in `schema.routes`


class _DiffusionSection(Spec):
    diffusion_objective: DiffusionObjective = "v"
    cross_attention_cond_ids: StrTuple = ()
    global_cond_ids: StrTuple = ()
    input_concat_ids: StrTuple = ()
    prepend_cond_ids: StrTuple = ()
    distribution_shift_options: DistributionShiftSpec | None = None

    def route_ids(self, route: Route) -> tuple[str, ...]:
        ids: tuple[str, ...] = getattr(self, route.key)
        return ids


class DiTDiffusionSpec(_DiffusionSection):
    type: Literal["dit"]
    config: DiTSpec


class UNetCFG1dDiffusionSpec(_DiffusionSection):
    type: Literal["adp_cfg_1d"]
    config: UNetCFG1dSpec


class UNet1dDiffusionSpec(_DiffusionSection):
    type: Literal["adp_1d"]
    config: UNet1dSpec


class DAU1dDiffusionSpec(_DiffusionSection):
    type: Literal["DAU1d"]
    config: DAU1dSpec = Field(default_factory=DAU1dSpec)


DiffusionSectionSpec = Annotated[
    DiTDiffusionSpec | UNetCFG1dDiffusionSpec | UNet1dDiffusionSpec | DAU1dDiffusionSpec,
    Field(discriminator="type"),
]


class DiffusionCondModelSpec(Spec):
    """`model` of `diffusion_cond` and `diffusion_cond_inpaint`."""

    diffusion: DiffusionSectionSpec
    io_channels: PositiveInt
    pretransform: PretransformSpec | None = None
    conditioning: ConditioningSpec | None = None


# --- diffusion_uncond: the backbone sits directly under `model` ------------------------------------------------


class DiTUncondModelSpec(Spec):
    backbone_tag: ClassVar[str] = "dit"  # the canonical tag of the backbone it builds

    type: Literal["dit"]
    config: DiTUncondSpec
    pretransform: PretransformSpec | None = None


class DAU1dUncondModelSpec(Spec):
    backbone_tag: ClassVar[str] = "DAU1d"

    type: Literal["DAU1d"]
    config: DAU1dSpec = Field(default_factory=DAU1dSpec)
    pretransform: PretransformSpec | None = None


class UNet1dUncondModelSpec(Spec):
    # `adp_uncond_1d` is the upstream spelling; `adp_1d` is the canonical one (the docs use it for both model types)
    backbone_tag: ClassVar[str] = "adp_1d"

    type: Literal["adp_1d", "adp_uncond_1d"]
    config: UNet1dSpec
    pretransform: PretransformSpec | None = None


DiffusionUncondModelSpec = Annotated[
    DiTUncondModelSpec | DAU1dUncondModelSpec | UNet1dUncondModelSpec,
    Field(discriminator="type"),
]
