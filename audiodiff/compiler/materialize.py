"""Spec -> torch modules. The one place where typed config becomes constructor arguments.

Construction and weight loading are separate steps: nothing here reads a checkpoint or touches the network, and
building under `device="meta"` allocates no memory. A constructor that rejects its arguments is re-raised as a
`BuildError` naming the graph node and the config pointer that made it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import torch
from torch import nn

from audiodiff.compiler.registry import lookup
from audiodiff.nn.errors import MissingExtraError
from audiodiff.nn.objectives import Objective, objective_named
from audiodiff.schema.pointer import join
from audiodiff.schema.v1 import pretransform as pre
from audiodiff.schema.v1.backbones import BackboneSpec
from audiodiff.schema.v1.conditioning import ConditionerSpec
from audiodiff.schema.v1.root import AutoencoderConfig, DiffusionConfig, DiffusionUncondConfig, ModelConfig
from audiodiff.schema.views import backbone_of, conditioning_of, diffusion_objective_of, pretransform_of, routes_of

if TYPE_CHECKING:
    from audiodiff.nn.autoencoder import AudioAutoencoder
    from audiodiff.nn.bottleneck import Bottleneck
    from audiodiff.nn.conditioners import Conditioner, MultiConditioner
    from audiodiff.nn.pretransforms import Pretransform

_Module = TypeVar("_Module", bound=nn.Module)


class BuildError(Exception):
    """A module could not be built from its (valid) spec; says which node and which config object."""

    def __init__(self, node_id: str, pointer: str, message: str, *, extra: str | None = None):
        super().__init__(f"{node_id}: {message}")
        self.node_id = node_id
        self.pointer = pointer
        self.message = message
        self.extra = extra


@dataclass(frozen=True)
class BuildOptions:
    device: torch.device | str | None = None  # "meta" builds the tree without memory
    gradient_checkpointing: bool = False  # DiT blocks recompute activations in backward
    t5_model_path: str | None = None  # a local T5 folder instead of the Hugging Face cache


@contextlib.contextmanager
def _building(node_id: str, pointer: str) -> Iterator[None]:
    try:
        yield
    except BuildError:
        raise
    except MissingExtraError as error:
        raise BuildError(node_id, pointer, str(error), extra=error.extra) from error
    except (ValueError, TypeError, FileNotFoundError, OSError) as error:
        raise BuildError(node_id, pointer, str(error)) from error


def objective_of(spec: ModelConfig) -> Objective:
    """The objective of a model config (`v` for models that do not name one)."""
    return objective_named(diffusion_objective_of(spec))


def build_model(spec: ModelConfig, options: BuildOptions = BuildOptions()) -> nn.Module:
    """The whole model of a validated model config: ConditionedDiffusionModel, UnconditionedDiffusionModel or
    AudioAutoencoder, with the reference's state-dict layout."""
    device = options.device
    with torch.device(device) if device is not None else contextlib.nullcontext():
        if isinstance(spec, AutoencoderConfig):
            with _building("autoencoder", "/model"):
                return build_autoencoder(spec.model, spec.sample_rate)
        return _build_diffusion(spec, options)


def _build_diffusion(spec: DiffusionConfig, options: BuildOptions) -> nn.Module:
    from audiodiff.nn.diffusion import (
        ConditionedDiffusionModel,
        DistributionShift,
        Routing,
        UnconditionedDiffusionModel,
    )

    pretransform = None
    ratio = 1
    located = pretransform_of(spec)
    if located is not None:
        pretransform_spec, pointer = located
        with _building("pretransform", pointer):
            pretransform = build_pretransform(pretransform_spec, spec.sample_rate)
        ratio = pretransform.downsampling_ratio
    backbone_view = backbone_of(spec)
    assert backbone_view is not None  # a diffusion config always has a backbone
    with _building("diffusion.backbone", backbone_view.pointer):
        kind = "uncond_backbone" if isinstance(spec, DiffusionUncondConfig) else "backbone"
        tag = spec.model.type if isinstance(spec, DiffusionUncondConfig) else backbone_view.type
        backbone = build_backbone(tag, backbone_view.config, objective_of(spec), options, kind)
    min_input_length = ratio * backbone_view.length_multiple
    if isinstance(spec, DiffusionUncondConfig):
        return UnconditionedDiffusionModel(
            backbone=backbone,
            nest_backbone=backbone_view.capabilities.nested,
            io_channels=backbone_view.channels,
            sample_size=spec.sample_size,
            sample_rate=spec.sample_rate,
            pretransform=pretransform,
            min_input_length=min_input_length,
        )
    routing = Routing(**{route.key: ids for route, ids in routes_of(spec).items()})
    conditioner = build_conditioning(spec, pretransform, options)
    shift = spec.model.diffusion.distribution_shift_options
    return ConditionedDiffusionModel(
        backbone=backbone,
        conditioner=conditioner,
        routing=routing,
        io_channels=spec.model.io_channels,
        sample_rate=spec.sample_rate,
        diffusion_objective=objective_of(spec),
        pretransform=pretransform,
        min_input_length=min_input_length,
        distribution_shift=None
        if shift is None
        else DistributionShift(
            base_shift=shift.base_shift,
            max_shift=shift.max_shift,
            min_length=shift.min_length,
            max_length=shift.max_length,
            use_sine=shift.use_sine,
        ),
    )


# --- backbones ----------------------------------------------------------------------------------------------------


def build_backbone(
    tag: str, config: BackboneSpec, objective: Objective, options: BuildOptions, kind: str = "backbone"
) -> nn.Module:
    from audiodiff.compiler.entries.backbones import BackboneBuild

    build = _builder(kind, tag)
    return build(config, BackboneBuild(objective, options.gradient_checkpointing))


def _builder(kind: str, tag: str) -> Callable[..., nn.Module]:
    """The registered builder of (kind, tag); a type without one is a sentence, not an AttributeError."""
    entry = lookup(kind, tag)
    if entry.builder is None:
        _, reason = entry.availability()
        raise ValueError(reason or f"the `{tag}` {kind} has no builder in audiodiff's registry")
    return entry.builder  # type: ignore[return-value]


# --- conditioners -------------------------------------------------------------------------------------------------


def build_conditioning(
    spec: ModelConfig, model_pretransform: Pretransform | None, options: BuildOptions
) -> MultiConditioner | None:
    from audiodiff.nn.conditioners import MultiConditioner

    conditioning = conditioning_of(spec)
    if conditioning is None:
        return None
    conditioners: dict[str, Conditioner] = {}
    for index, entry in enumerate(conditioning.configs):
        pointer = join("", "model", "conditioning", "configs", index)
        with _building(f"conditioning.{entry.id}", pointer):
            conditioners[entry.id] = build_conditioner(
                entry, conditioning.output_dim(entry), spec.sample_rate, model_pretransform, options
            )
    return MultiConditioner(
        conditioners, default_keys=dict(conditioning.default_keys), pre_encoded_keys=conditioning.pre_encoded_keys
    )


def build_conditioner(
    entry: ConditionerSpec,
    output_dim: int,
    sample_rate: int,
    model_pretransform: Pretransform | None,
    options: BuildOptions,
) -> Conditioner:
    from audiodiff.compiler.entries.conditioners import ConditionerBuild
    from audiodiff.nn.conditioners import Conditioner

    context = ConditionerBuild(output_dim, sample_rate, model_pretransform, options.t5_model_path)
    return _made(Conditioner, _builder("conditioner", entry.type)(entry, context), entry.type)


# --- pretransforms and autoencoders -------------------------------------------------------------------------------


def build_pretransform(spec: pre.PretransformSpec, sample_rate: int) -> Pretransform:
    from audiodiff.nn.pretransforms import Pretransform

    return _made(Pretransform, _builder("pretransform", spec.type)(spec, sample_rate), spec.type)


def build_autoencoder(model: pre.AutoencoderModelSpec, sample_rate: int) -> AudioAutoencoder:
    from audiodiff.nn.autoencoder import AudioAutoencoder

    encoder = _requires_grad(build_encoder(model.encoder), model.encoder.requires_grad)
    decoder = _requires_grad(build_decoder(model.decoder), model.decoder.requires_grad)
    bottleneck: Bottleneck | None = None
    if model.bottleneck is not None:
        bottleneck = _requires_grad(build_bottleneck(model.bottleneck), model.bottleneck.requires_grad)
    nested = build_pretransform(model.pretransform, sample_rate) if model.pretransform is not None else None
    return AudioAutoencoder(
        encoder=encoder,
        decoder=decoder,
        latent_dim=model.latent_dim,
        downsampling_ratio=model.downsampling_ratio,
        sample_rate=sample_rate,
        io_channels=model.io_channels,
        bottleneck=bottleneck,
        pretransform=nested,
        in_channels=model.in_channels,
        out_channels=model.out_channels,
        soft_clip=model.decoder.soft_clip,
    )


def _requires_grad(module: _Module, enabled: bool) -> _Module:
    if not enabled:
        module.requires_grad_(False)
    return module


def build_encoder(stage: pre.EncoderStage) -> nn.Module:
    return _builder("encoder", stage.type)(stage)


def build_decoder(stage: pre.DecoderStage) -> nn.Module:
    return _builder("decoder", stage.type)(stage)


def build_bottleneck(spec: pre.Bottleneck) -> Bottleneck:
    from audiodiff.nn.bottleneck import Bottleneck

    return _made(Bottleneck, _builder("bottleneck", spec.type)(spec), spec.type)


def _made(expected: type[_Module], module: nn.Module, tag: str) -> _Module:
    """A registered builder's module, checked to be of the kind its caller composes (a registry mistake is a
    sentence naming the tag, not an AttributeError later)."""
    if not isinstance(module, expected):
        raise TypeError(f"the `{tag}` builder made a {type(module).__name__}, not a {expected.__name__}")
    return module
