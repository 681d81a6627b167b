"""What each backbone can do, declared once per backbone type: the routes it consumes with the config field that
declares each width, classifier-free guidance, its position budget, the model types that accept it, and the few
training features only some backbones support.

The rules, the compiler's contracts and graph, the memory estimate, training and sampling all read these records
(through `BackboneView.capabilities` or `backbone_capabilities(tag)`); none of them switches on a backbone's tag.
The compiler's registry entry of each backbone holds the same record (a test keeps them identical), so adding a
backbone is one record here plus its registry entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from audiodiff.schema.routes import (
    CROSS_ATTENTION,
    GLOBAL,
    INPUT_CONCAT,
    PREPEND,
    Route,
)
from audiodiff.schema.v1.backbones import DiTOptionsSpec

ModelType = Literal["diffusion_cond", "diffusion_cond_inpaint", "diffusion_uncond"]
CONDITIONED: frozenset[ModelType] = frozenset({"diffusion_cond", "diffusion_cond_inpaint"})
UNCONDITIONED: frozenset[ModelType] = frozenset({"diffusion_uncond"})


@dataclass(frozen=True)
class RouteInput:
    """One route a backbone consumes, and the config field that declares the width it expects."""

    route: Route
    width_field: str  # e.g. `cond_token_dim`; a list field (`context_channels`) declares its first element
    required_when_declared: bool = False  # a declared width with nothing routed is an error, not a warning
    resamples: bool = True  # input-concat tensors are resized to x's length (False: they must match it)

    def width(self, config: object) -> int:
        value = getattr(config, self.width_field, 0)
        if isinstance(value, (list, tuple)):
            return int(value[0]) if value else 0
        return int(value or 0)


@dataclass(frozen=True)
class PositionBudget:
    """An absolute position table: every token of one pass (prepended ones, the global token, the latent frames
    folded by the patch size) needs a row. Computed here only; the contracts, `explain` and `sample` ask it."""

    positions: int  # rows of the table
    field: str  # the config field that sets it
    patch_size: int
    global_token: bool  # the global embedding is prepended as one more token

    def tokens(self, latent_frames: int, prepend_tokens: int) -> int:
        return prepend_tokens + int(self.global_token) + latent_frames // self.patch_size

    def max_latent_frames(self, prepend_tokens: int) -> int:
        """The longest latent sequence that fits beside `prepend_tokens` prepended tokens."""
        return (self.positions - int(self.global_token) - prepend_tokens) * self.patch_size


Guidance = Literal["never", "with_token_routes", "always"]


@dataclass(frozen=True)
class BackboneCapabilities:
    inputs: tuple[RouteInput, ...]  # the routes it consumes; any other route's ids would be dropped
    model_types: frozenset[ModelType]  # which model types accept it (C21)
    guidance: Guidance = "never"  # when sampling runs a doubled (conditional + null) batch
    requires: tuple[Route, ...] = ()  # routes its forward pass cannot run without
    token_limit_field: str | None = None  # a learned null table with a row per cross-attention token
    learned_null: bool = False  # that table is trained only through CFG dropout
    position_budget: Callable[[object], PositionBudget | None] = lambda config: None
    mask_padding: bool = False  # accepts the padding mask (`training.mask_padding`)
    gradient_checkpointing: bool = False
    adversarial_post_training: bool = False  # `training.arc`
    nested: bool = True  # its weights sit under a wrapper's `.model` in unconditioned models too
    # the reference (stable-audio-tools 0.0.19): the model types whose factory builds this tag, how its
    # unconditioned factory spells the same backbone, and (message, help) when it cannot build it at all
    upstream_model_types: frozenset[ModelType] = frozenset()
    upstream_uncond_spelling: str | None = None
    upstream_refusal: tuple[str, str] | None = None

    @property
    def cfg(self) -> bool:
        return self.guidance != "never"

    def input(self, route: Route) -> RouteInput | None:
        return next((item for item in self.inputs if item.route == route), None)

    def consumes(self, route: Route) -> bool:
        return self.input(route) is not None


def _dit_position_budget(config: object) -> PositionBudget | None:
    if not isinstance(config, DiTOptionsSpec) or not config.use_abs_pos_emb:
        return None
    return PositionBudget(
        positions=config.abs_pos_emb_max_length,
        field="abs_pos_emb_max_length",
        patch_size=config.patch_size,
        global_token=getattr(config, "global_cond_type", "prepend") == "prepend",
    )


DIT = BackboneCapabilities(
    inputs=(
        RouteInput(CROSS_ATTENTION, "cond_token_dim"),
        RouteInput(GLOBAL, "global_cond_dim"),
        RouteInput(PREPEND, "prepend_cond_dim"),
        RouteInput(INPUT_CONCAT, "input_concat_dim"),
    ),
    model_types=CONDITIONED | UNCONDITIONED,
    guidance="with_token_routes",
    position_budget=_dit_position_budget,
    mask_padding=True,
    gradient_checkpointing=True,
    adversarial_post_training=True,
    upstream_model_types=CONDITIONED | UNCONDITIONED,
)
UNET_CFG = BackboneCapabilities(
    inputs=(
        RouteInput(CROSS_ATTENTION, "context_embedding_features"),
        RouteInput(GLOBAL, "context_features", required_when_declared=True),
        RouteInput(INPUT_CONCAT, "context_channels", resamples=False),
    ),
    model_types=CONDITIONED,
    guidance="always",
    requires=(CROSS_ATTENTION,),
    token_limit_field="context_embedding_max_length",
    learned_null=True,
    upstream_model_types=CONDITIONED,
)
UNET = BackboneCapabilities(
    inputs=(
        RouteInput(GLOBAL, "context_features", required_when_declared=True),
        RouteInput(INPUT_CONCAT, "context_channels"),
    ),
    model_types=CONDITIONED | UNCONDITIONED,
    upstream_model_types=CONDITIONED,
    upstream_uncond_spelling="adp_uncond_1d",
)
UNET_UNCOND = BackboneCapabilities(  # `adp_uncond_1d`: adp_1d's alias
    inputs=UNET.inputs, model_types=UNCONDITIONED, upstream_model_types=UNCONDITIONED
)
DAU1D = BackboneCapabilities(
    inputs=(RouteInput(GLOBAL, "global_cond_dim"), RouteInput(INPUT_CONCAT, "cond_dim")),
    model_types=CONDITIONED | UNCONDITIONED,
    nested=False,
    upstream_model_types=UNCONDITIONED,
    upstream_refusal=(
        "the reference's `DAU1d` passes a `use_snake` argument its blocks no longer accept",
        "train it with audiodiff, or use `dit` or `adp_uncond_1d` with the reference",
    ),
)

BACKBONES: dict[str, BackboneCapabilities] = {
    "dit": DIT,
    "adp_cfg_1d": UNET_CFG,
    "adp_1d": UNET,
    "adp_uncond_1d": UNET_UNCOND,
    "DAU1d": DAU1D,
}


def backbone_capabilities(tag: str) -> BackboneCapabilities | None:
    return BACKBONES.get(tag)
