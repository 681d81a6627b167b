"""What only the reference (stable-audio-tools 0.0.19) refuses: configs that audiodiff runs, or does not train
itself, but that the reference trainer crashes on at build, at the first step or when training starts.

Each finding here uses a code whose `upstream` record (diagnostics/codes.py) says where the reference fails; the
pipeline's `judge` makes it an error under `--target stable-audio-tools` and leaves the code's own severity (a
warning naming the version) under the default target. Rules report facts and never look at the target, so a rule
elsewhere that finds something only the reference refuses just picks (or adds) a code with an `Upstream` record.
"""

from __future__ import annotations

from audiodiff.diagnostics import codes
from audiodiff.diagnostics.model import Diagnostic
from audiodiff.schema.rules.report import RuleReport, at
from audiodiff.schema.v1.root import AutoencoderConfig
from audiodiff.schema.views import backbone_of, routes_of

# Backbone tags the reference's factories build per model family (C21); audiodiff accepts more (the docs' spellings).
_UPSTREAM_BACKBONES = {
    "diffusion_cond": ("dit", "adp_cfg_1d", "adp_1d"),
    "diffusion_cond_inpaint": ("dit", "adp_cfg_1d", "adp_1d"),
    "diffusion_uncond": ("dit", "adp_uncond_1d", "DAU1d"),
}
# Discriminators the reference's autoencoder training builds; any other type leaves it unset.
_DISCRIMINATOR_TYPES = ("oobleck", "encodec", "dac", "big_vgan")


def check(spec, report: RuleReport) -> None:
    if isinstance(spec, AutoencoderConfig):
        if spec.training is not None:
            _check_autoencoder_training(spec.training, report)
        return
    _check_backbone_type(spec, report)
    routed = any(routes_of(spec).values())  # routes without conditioning are AD203's error already
    if spec.model_type in ("diffusion_cond", "diffusion_cond_inpaint") and spec.model.conditioning is None and not routed:
        report.add(
            codes.CONDITIONING_ABSENT,
            f"a `{spec.model_type}` model without `model.conditioning` has no conditioner to call",
            at("model"),
            help="declare `model.conditioning` (e.g. a `number` conditioner for `seconds_total`), or use "
            "`diffusion_uncond` for an unconditioned model",
        )


def _check_backbone_type(spec, report: RuleReport) -> None:
    backbone = backbone_of(spec)
    if backbone is None:
        return
    # `adp_1d` under `diffusion_uncond` is schema version 2's canonical spelling, so whether the reference would read
    # it depends on how the file spells it: `check_spelling` decides that, from the document as written.
    if spec.model_type != "diffusion_uncond" and backbone.type not in _UPSTREAM_BACKBONES[spec.model_type]:
        _backbone_not_built(spec.model_type, backbone.type, backbone.type_pointer, report)
    if backbone.type == "DAU1d":
        report.add(
            codes.DAU1D_UNBUILDABLE,
            "the reference's `DAU1d` passes a `use_snake` argument its blocks no longer accept",
            backbone.type_pointer,
            help="train it with audiodiff, or use `dit` or `adp_uncond_1d` with the reference",
        )
    config = backbone.config
    if getattr(config, "transformer_type", None) == "x-transformers":
        report.add(
            codes.TRANSFORMER_TYPE_REMOVED,
            "the reference removed the `x-transformers` DiT in 0.0.19",
            f"{backbone.pointer}/transformer_type",
            help='use `"continuous_transformer"` (its weights have other names; old checkpoints need 0.0.18)',
        )


def _backbone_not_built(model_type: str, tag: str, pointer: str, report: RuleReport) -> None:
    accepted = _UPSTREAM_BACKBONES[model_type]
    replacement = {"adp_1d": "adp_uncond_1d"}.get(tag) if model_type == "diffusion_uncond" else None
    report.add(
        codes.BACKBONE_NOT_BUILT_UPSTREAM,
        f"the reference builds `{model_type}` backbones of type " + ", ".join(f"`{name}`" for name in accepted)
        + f" only, not `{tag}`",
        pointer,
        help=f'spell it `"{replacement}"` (the same U-Net)' if replacement else None,
    )


def check_spelling(spec, written: dict, version: int | None) -> list[Diagnostic]:
    """Findings that depend on the document as written, not on the migrated spec: an unversioned (version-1) file is
    what the reference reads, and `adp_1d` there is a backbone its unconditioned factory does not know. Version 2
    spells the same U-Net `adp_1d` for every model type; `audiodiff migrate --to 1` writes the reference's spelling."""
    report = RuleReport()
    if version == 1 and spec is not None and getattr(spec, "model_type", None) == "diffusion_uncond":
        model = written.get("model")
        tag = model.get("type") if isinstance(model, dict) else None
        if isinstance(tag, str) and tag not in _UPSTREAM_BACKBONES["diffusion_uncond"]:
            _backbone_not_built("diffusion_uncond", tag, at("model", "type"), report)
    return report.diagnostics


def _check_autoencoder_training(training, report: RuleReport) -> None:
    """The reference's autoencoder training wrapper: a discriminator (the default loss has one) needs its own
    optimizer group; the spectral, time and discriminator entries need the weights the wrapper indexes."""
    losses = training.loss_configs
    where = at("training", "loss_configs")
    uses_discriminator = losses is None or "discriminator" in losses
    optimizers = training.optimizer_configs
    if optimizers is None:
        if training.learning_rate is None:
            report.add(
                codes.AUTOENCODER_OPTIMIZER,
                "neither `learning_rate` nor `optimizer_configs` is set: the default optimizers get no rate",
                at("training"),
                help='add `"learning_rate": 1e-4`, or `optimizer_configs` with `autoencoder` and `discriminator`',
            )
    elif uses_discriminator and "discriminator" not in optimizers:
        reason = "`loss_configs` has a `discriminator`" if losses is not None else "the default losses train a discriminator"
        report.add(
            codes.AUTOENCODER_OPTIMIZER,
            f"{reason}, but `optimizer_configs` has no `discriminator` entry",
            at("training", "optimizer_configs"),
            help="add an `optimizer_configs.discriminator` entry (or drop the discriminator loss)",
            related=(("the discriminator loss is set here", where + "/discriminator"),) if losses is not None else (),
        )
    if losses is None:
        return
    needed = {"spectral": ("mrstft",), "time": ()}
    if "discriminator" in losses:
        needed["discriminator"] = ("adversarial", "feature_matching")
    for name, weights in needed.items():
        entry = losses.get(name)
        if entry is None:
            report.add(
                codes.AUTOENCODER_LOSS,
                f"`loss_configs` has no `{name}` entry, which the reference's autoencoder training reads",
                where,
            )
            continue
        for weight in weights:
            if weight not in entry.weights:
                report.add(
                    codes.AUTOENCODER_LOSS,
                    f"`loss_configs.{name}` has no `{weight}` weight",
                    f"{where}/{name}/weights" if entry.explicitly_set("weights") else f"{where}/{name}",
                )
    discriminator = losses.get("discriminator")
    if discriminator is not None and discriminator.type not in _DISCRIMINATOR_TYPES:
        report.add(
            codes.AUTOENCODER_LOSS,
            f"`{discriminator.type}` is not a discriminator the reference builds ("
            + ", ".join(f"`{name}`" for name in _DISCRIMINATOR_TYPES) + ")",
            f"{where}/discriminator/type",
        )
