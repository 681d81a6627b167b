"""Read-only views over a validated model config: where the backbone, pretransform and routes are, and the
quantities every later stage derives from them (latent width, downsampling ratio, length multiple).

The document's shape differs per model type (`model.diffusion.config` vs `model.config`); rules and the compiler
ask these functions instead of branching on `model_type` themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

from audiodiff.schema.capabilities import BACKBONES, BackboneCapabilities
from audiodiff.schema.pointer import join
from audiodiff.schema.routes import INPAINT_IDS, INPUT_CONCAT, ROUTES, Route
from audiodiff.schema.v1.backbones import BackboneSpec
from audiodiff.schema.v1.conditioning import ConditioningSpec
from audiodiff.schema.v1.pretransform import AutoencoderModelSpec, PretransformSpec
from audiodiff.schema.v1.root import AutoencoderConfig, DiffusionUncondConfig, ModelConfig


@dataclass(frozen=True)
class BackboneView:
    type: str  # the canonical tag: `dit`, `adp_cfg_1d`, `adp_1d`, `DAU1d`
    config: BackboneSpec
    pointer: str  # of the backbone's `config` object
    type_pointer: str

    @property
    def capabilities(self) -> BackboneCapabilities:
        return BACKBONES[self.type]

    @property
    def channels(self) -> int:
        """Channels of the tensor the backbone denoises (C20)."""
        return self.config.denoised_channels

    @property
    def channels_key(self) -> str:
        return self.config.channels_key

    @property
    def length_multiple(self) -> int:
        """Latent lengths must be a multiple of this (DiT patch size, U-Net factor product, DAU1d strides)."""
        return self.config.length_multiple


def is_diffusion(spec: ModelConfig) -> bool:
    return not isinstance(spec, AutoencoderConfig)


def backbone_of(spec: ModelConfig) -> BackboneView | None:
    if isinstance(spec, AutoencoderConfig):
        return None
    if isinstance(spec, DiffusionUncondConfig):
        return BackboneView(
            spec.model.backbone_tag, spec.model.config, join("", "model", "config"), join("", "model", "type")
        )
    diffusion = spec.model.diffusion
    return BackboneView(
        diffusion.type,
        diffusion.config,
        join("", "model", "diffusion", "config"),
        join("", "model", "diffusion", "type"),
    )


def pretransform_of(spec: ModelConfig) -> tuple[PretransformSpec, str] | None:
    """The model's pretransform spec and its pointer, or None."""
    if isinstance(spec, AutoencoderConfig):
        return None
    pretransform = spec.model.pretransform
    if pretransform is None:
        return None
    return pretransform, join("", "model", "pretransform")


def conditioning_of(spec: ModelConfig) -> ConditioningSpec | None:
    if isinstance(spec, (AutoencoderConfig, DiffusionUncondConfig)):
        return None
    return spec.model.conditioning


def routes_of(spec: ModelConfig) -> dict[Route, tuple[str, ...]]:
    """Route -> the ids of its routing list, in document order; empty for models without routing."""
    if isinstance(spec, (AutoencoderConfig, DiffusionUncondConfig)):
        return dict.fromkeys(ROUTES, ())
    return {route: spec.model.diffusion.route_ids(route) for route in ROUTES}


def reads_inpainting(spec: ModelConfig) -> bool:
    """Whether the model takes known audio and a mask: it routes the inpainting tensors through `input_concat_ids`."""
    return any(id_ in INPAINT_IDS for id_ in routes_of(spec)[INPUT_CONCAT])


def generated_channels(spec: ModelConfig) -> int:
    """Audio channels a diffusion model generates: what its pretransform decodes to, else the backbone's."""
    located = pretransform_of(spec)
    if located is not None:
        channels = pretransform_io_channels(located[0])
        if channels is not None:
            return channels
    backbone = backbone_of(spec)
    return backbone.channels if backbone is not None else spec.audio_channels


def diffusion_objective_of(spec: ModelConfig) -> str:
    if isinstance(spec, (AutoencoderConfig, DiffusionUncondConfig)):
        return "v"
    return spec.model.diffusion.diffusion_objective


# --- pretransform arithmetic ---------------------------------------------------------------------------------------


def autoencoder_io_channels(model: AutoencoderModelSpec) -> int:
    return model.audio_channels


def pretransform_ratio(pretransform: PretransformSpec) -> int | None:
    """Declared downsampling ratio: the factor between audio length and latent length (None when unknown)."""
    return pretransform.ratio


def pretransform_latent_channels(pretransform: PretransformSpec) -> int | None:
    """Channels of the latents the pretransform produces (its `encoded_channels`)."""
    return pretransform.latent_channels


def pretransform_io_channels(pretransform: PretransformSpec) -> int | None:
    """Audio channels the pretransform consumes."""
    return pretransform.io_channels
