"""Lint-only rules: advice about configs that validate, but probably do not do what their author meant.

Per file: conditioners that nothing routes (AD701), a missing `schema_version` (AD703), demo rounds that render a
lot of audio (AD705). Across the files of one run: a model that conditions on `seconds_start` while training on
pre-encoded latents, next to a dataset that crops such latents at random (AD706). Migration notices (AD310, AD702,
AD901) come from `schema.migrate` through the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass

from audiodiff.compiler.pipeline import FileCheck
from audiodiff.diagnostics import codes
from audiodiff.diagnostics.model import Diagnostic, Related, Span
from audiodiff.schema.pointer import join
from audiodiff.schema.v1.dataset import PreEncodedDatasetSpec, WebDatasetSpec
from audiodiff.schema.v1.root import ModelConfig
from audiodiff.schema.v1.training import DiffusionTrainingSpec
from audiodiff.schema.views import conditioning_of, routes_of

ROUTING_LISTS = "`cross_attention_cond_ids`, `global_cond_ids`, `prepend_cond_ids` or `input_concat_ids`"


def file_rules(check: FileCheck, *, max_demo_seconds: float) -> list[Diagnostic]:
    """Lint findings for one checked file (already located)."""
    document = check.document
    if document is None or check.kind is None:
        return []
    found: list[Diagnostic] = []
    if "schema_version" not in document.data:
        found.append(_missing_version(check))
    spec = check.model_spec
    if spec is not None:
        found.extend(_unrouted_conditioners(spec))
        found.extend(_long_demos(spec, max_demo_seconds))
    return found


def _missing_version(check: FileCheck) -> Diagnostic:
    key = "/model_type" if check.kind == "model" else "/dataset_type"
    span = check.document.span(key, prefer_key=True) if check.document is not None else None
    return Diagnostic(
        codes.MISSING_SCHEMA_VERSION,
        "the file does not declare `schema_version`, so it is read as version 1, the stable-audio-tools dialect",
        "",
        span=span,
        help="`audiodiff migrate --write FILE` adds `schema_version` and writes out the defaults the newest version "
        "spells out",
    )


def _unrouted_conditioners(spec: ModelConfig) -> list[Diagnostic]:
    conditioning = conditioning_of(spec)
    if conditioning is None:
        return []
    routed = {conditioner_id for ids in routes_of(spec).values() for conditioner_id in ids}
    found = []
    for index, entry in enumerate(conditioning.configs):
        if entry.id in routed:
            continue
        found.append(
            Diagnostic(
                codes.UNROUTED_CONDITIONER,
                f"conditioner `{entry.id}` is declared but no routing list names it",
                join("", "model", "conditioning", "configs", index, "id"),
                help=f"route it through {ROUTING_LISTS}, or remove it: every declared conditioner still runs on every "
                "batch and every metadata dict must carry its id",
            )
        )
    return found


def demo_round_seconds(spec: ModelConfig) -> tuple[float, int, int, float] | None:
    """(total seconds, demos, CFG scales, seconds per demo) of one demo round, or None when there are no demos."""
    training = spec.training
    if not isinstance(training, DiffusionTrainingSpec):  # none, or an autoencoder's
        return None
    seconds = spec.sample_size / spec.sample_rate
    if spec.model_type == "diffusion_uncond":
        demos, scales = 8, 1  # upstream always renders 8 unguided demos (spec §5.7)
    else:
        demo = training.demo
        default = 8 if spec.model_type == "diffusion_cond_inpaint" else None
        count = demo.num_demos if demo.num_demos is not None else default
        scales = len(demo.demo_cfg_scales or ())
        if count is None or scales == 0:
            return None  # a validation error elsewhere (AD501, AD503)
        demos = count
    return demos * scales * seconds, demos, scales, seconds


def _long_demos(spec: ModelConfig, bound: float) -> list[Diagnostic]:
    round_ = demo_round_seconds(spec)
    if round_ is None or round_[0] <= bound:
        return []
    total, demos, scales, seconds = round_
    pointer = "/training/demo" if spec.training is not None and spec.training.explicitly_set("demo") else "/training"
    return [
        Diagnostic(
            codes.LONG_DEMO_AUDIO,
            f"each demo round renders {_duration(total)} of audio ({demos} demos x {scales} CFG scales x "
            f"{_duration(seconds)}), more than the bound of {_duration(bound)}",
            pointer,
            help="lower `num_demos`, use fewer `demo_cfg_scales` or a shorter `sample_size`; `max-demo-seconds` in "
            "`[tool.audiodiff]` sets the bound",
        )
    ]


def _duration(seconds: float) -> str:
    if seconds >= 120:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.3g} s"


# --- across files ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    path: str
    pointer: str
    span: Span | None


def seconds_start_on_latents(check: FileCheck) -> Place | None:
    """Where a model that trains on pre-encoded latents routes a `seconds_start` conditioner."""
    spec = check.model_spec
    if spec is None:
        return None
    training = spec.training
    if not isinstance(training, DiffusionTrainingSpec) or not training.pre_encoded:
        return None
    conditioning = conditioning_of(spec)
    if conditioning is None:
        return None
    routed = {conditioner_id for ids in routes_of(spec).values() for conditioner_id in ids}
    for index, entry in enumerate(conditioning.configs):
        if entry.id == "seconds_start" and entry.id in routed:
            return _place(check, join("", "model", "conditioning", "configs", index, "id"))
    return None


def random_latent_crops(check: FileCheck) -> Place | None:
    """Where a dataset config crops pre-encoded latents at random."""
    spec = check.dataset_spec
    if spec is None or not spec.random_crop:
        return None
    if isinstance(spec, PreEncodedDatasetSpec) or (isinstance(spec, WebDatasetSpec) and spec.pre_encoded):
        return _place(check, "/random_crop" if spec.explicitly_set("random_crop") else "/dataset_type")
    return None


def _place(check: FileCheck, pointer: str) -> Place:
    span = check.document.span(pointer) if check.document is not None else None
    return Place(check.path, pointer, span)


def seconds_start_with_random_crops(models: list[Place], datasets: list[Place]) -> list[Diagnostic]:
    """AD706 on both sides, when one run holds models of the first kind and datasets of the second."""
    if not models or not datasets:
        return []
    found = []
    for model in models:
        dataset = datasets[0]
        others = f" (and {len(datasets) - 1} more)" if len(datasets) > 1 else ""
        found.append(
            Diagnostic(
                codes.SECONDS_START_RANDOM_CROP,
                f"`seconds_start` is read from pre-encoded metadata, but `{dataset.path}`{others} crops pre-encoded "
                "latents at random, which leaves `seconds_start` at the offset of the crop that was encoded",
                model.pointer,
                model.path,
                model.span,
                help="turn `random_crop` off for pre-encoded data, or stop routing `seconds_start`",
                related=(Related("the dataset crops at random here", dataset.pointer, dataset.span, dataset.path),),
            )
        )
    for dataset in datasets:
        model = models[0]
        others = f" (and {len(models) - 1} more)" if len(models) > 1 else ""
        found.append(
            Diagnostic(
                codes.SECONDS_START_RANDOM_CROP,
                "random crops of pre-encoded latents leave each item's `seconds_start` at its pre-encoding value, and "
                f"`{model.path}`{others} conditions on `seconds_start`",
                dataset.pointer,
                dataset.path,
                dataset.span,
                help="set `random_crop: false`, or pre-encode the crops you want to train on",
                related=(Related("the model routes `seconds_start` here", model.pointer, model.span, model.path),),
            )
        )
    return found
