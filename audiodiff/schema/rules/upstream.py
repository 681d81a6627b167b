"""What only the reference (stable-audio-tools 0.0.19) refuses: configs that audiodiff runs, or does not train
itself, but that the reference trainer crashes on at build, at the first step or when training starts.

Each finding here uses a code whose `upstream` record (diagnostics/codes.py) says where the reference fails; the
pipeline's `judge` makes it an error under `--target stable-audio-tools` and leaves the code's own severity (a
warning naming the version) under the default target. Rules report facts and never look at the target, so a rule
elsewhere that finds something only the reference refuses just picks (or adds) a code with an `Upstream` record.
"""

from __future__ import annotations

from typing import Any

from audiodiff.diagnostics import codes
from audiodiff.diagnostics.model import Diagnostic
from audiodiff.schema.capabilities import BACKBONES, ModelType, backbone_capabilities
from audiodiff.schema.rules.report import RuleReport, at
from audiodiff.schema.v1.root import (
    AutoencoderConfig,
    DiffusionCondConfig,
    DiffusionCondInpaintConfig,
    DiffusionUncondConfig,
    ModelConfig,
)
from audiodiff.schema.v1.training import DiffusionTrainingSpec
from audiodiff.schema.views import backbone_of, conditioning_of, routes_of


def _upstream_backbones(model_type: ModelType) -> tuple[str, ...]:
    """Backbone tags the reference's factories build for a model type (C21), from the capability records; audiodiff
    accepts more (the docs' spellings)."""
    return tuple(tag for tag, record in BACKBONES.items() if model_type in record.upstream_model_types)


def check(spec: ModelConfig, report: RuleReport) -> None:
    if isinstance(spec, AutoencoderConfig):
        return  # autoencoder training: `rules/autoencoder_training.py` (AD506, AD509 carry the upstream judgement)
    _check_backbone_type(spec, report)
    _check_conditioners(spec, report)
    if isinstance(spec, DiffusionUncondConfig) and spec.training is not None:
        _check_uncond_training(spec.training, report)
    if spec.training is not None and spec.training.lora is not None:
        report.add(
            codes.LORA_EXTENSION,
            "`training.lora` is an audiodiff extension: audiodiff trains only the adapters, the reference has no "
            "such key",
            at("training", "lora"),
            help="train with audiodiff, or remove `training.lora` for a full fine-tune with the reference",
        )
    routed = any(routes_of(spec).values())  # routes without conditioning are AD203's error already
    conditioned = isinstance(spec, (DiffusionCondConfig, DiffusionCondInpaintConfig))
    if conditioned and conditioning_of(spec) is None and not routed:
        report.add(
            codes.CONDITIONING_ABSENT,
            f"a `{spec.model_type}` model without `model.conditioning` has no conditioner to call",
            at("model"),
            help="declare `model.conditioning` (e.g. a `number` conditioner for `seconds_total`), or use "
            "`diffusion_uncond` for an unconditioned model",
        )


def _check_conditioners(spec: ModelConfig, report: RuleReport) -> None:
    conditioning = conditioning_of(spec)
    if conditioning is None:
        return
    for index, entry in enumerate(conditioning.configs):
        if entry.upstream_refusal is not None:
            message, help = entry.upstream_refusal
            report.add(
                codes.UNBUILDABLE_UPSTREAM, message, at("model", "conditioning", "configs", index, "type"), help=help
            )


def _check_uncond_training(training: DiffusionTrainingSpec, report: RuleReport) -> None:
    """The reference's unconditioned training reads `learning_rate` (plain Adam) and nothing else."""
    if training.learning_rate is None and training.optimizer_configs is not None:  # neither at all: AD504
        report.add(
            codes.UNCOND_LEARNING_RATE,
            "`diffusion_uncond` training has `optimizer_configs` but no `learning_rate`, the only rate the "
            "reference's unconditioned training reads",
            at("training"),
            help='add `"learning_rate"` (the rate of `optimizer_configs.diffusion`)',
        )


def _check_backbone_type(
    spec: DiffusionCondConfig | DiffusionCondInpaintConfig | DiffusionUncondConfig, report: RuleReport
) -> None:
    backbone = backbone_of(spec)
    if backbone is None:
        return
    # `adp_1d` under `diffusion_uncond` is schema version 2's canonical spelling, so whether the reference would read
    # it depends on how the file spells it: `check_spelling` decides that, from the document as written.
    if spec.model_type != "diffusion_uncond" and spec.model_type not in backbone.capabilities.upstream_model_types:
        _backbone_not_built(spec.model_type, backbone.type, backbone.type_pointer, report)
    refusal = backbone.capabilities.upstream_refusal
    if refusal is not None:
        message, help = refusal
        report.add(codes.UNBUILDABLE_UPSTREAM, message, backbone.type_pointer, help=help)
    config = backbone.config
    if getattr(config, "transformer_type", None) == "x-transformers":
        report.add(
            codes.TRANSFORMER_TYPE_REMOVED,
            "the reference removed the `x-transformers` DiT in 0.0.19",
            f"{backbone.pointer}/transformer_type",
            help='use `"continuous_transformer"` (its weights have other names; old checkpoints need 0.0.18)',
        )


def _backbone_not_built(model_type: ModelType, tag: str, pointer: str, report: RuleReport) -> None:
    accepted = _upstream_backbones(model_type)
    record = backbone_capabilities(tag)
    replacement = record.upstream_uncond_spelling if record is not None and model_type == "diffusion_uncond" else None
    report.add(
        codes.BACKBONE_NOT_BUILT_UPSTREAM,
        f"the reference builds `{model_type}` backbones of type "
        + ", ".join(f"`{name}`" for name in accepted)
        + f" only, not `{tag}`",
        pointer,
        help=f'spell it `"{replacement}"` (the same U-Net)' if replacement else None,
    )


def check_spelling(spec: ModelConfig | None, written: dict[str, Any], version: int | None) -> list[Diagnostic]:
    """Findings that depend on the document as written, not on the migrated spec: an unversioned (version-1) file is
    what the reference reads, and `adp_1d` there is a backbone its unconditioned factory does not know. Version 2
    spells the same U-Net `adp_1d` for every model type; `audiodiff migrate --to 1` writes the reference's spelling."""
    report = RuleReport()
    if version == 1 and spec is not None and getattr(spec, "model_type", None) == "diffusion_uncond":
        model = written.get("model")
        tag = model.get("type") if isinstance(model, dict) else None
        if isinstance(tag, str) and tag not in _upstream_backbones("diffusion_uncond"):
            _backbone_not_built("diffusion_uncond", tag, at("model", "type"), report)
    return report.diagnostics
