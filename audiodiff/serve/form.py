"""The generation form of a model, derived from its validated spec: one field per conditioner the user sets, plus
the request settings (seconds, steps, sampler, CFG, seed, batch). Torch-free, so it can be tested on its own."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from audiodiff.schema.v1.conditioning import IntConfig, ListConfig, NumberConfig
from audiodiff.schema.v1.root import ModelConfig
from audiodiff.schema.values import value_kind
from audiodiff.schema.views import backbone_of, conditioning_of, diffusion_objective_of, reads_inpainting

# conditioners the seconds field fills, as `audiodiff sample` does (start at 0, total = the requested length)
SECONDS_IDS = ("seconds_start", "seconds_total")
MAX_BATCH = 8


@dataclass(frozen=True)
class ConditionField:
    """One conditioner the form asks for."""

    id: str
    kind: str  # `text`, `number`, `int` or `choice`
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()

    @property
    def default(self) -> Any:
        if self.kind == "choice":
            return self.choices[0]
        if self.kind in ("number", "int"):
            return self.minimum
        return ""


@dataclass(frozen=True)
class Form:
    conditions: tuple[ConditionField, ...]
    unsupported: tuple[str, ...]  # conditioner ids a form cannot feed (audio signals): generation refuses them
    seconds_default: float
    seconds_max: float
    sample_rate: int
    cfg: bool  # whether the backbone applies classifier-free guidance
    negative_prompt: bool  # a `prompt` conditioner exists, so a negative prompt can be given
    objective: str
    inpainting: bool = False  # the model takes known audio and a mask (`--inpaint` / `--continue`)


def build_form(spec: ModelConfig, *, max_seconds: float) -> Form:
    """The form for a validated diffusion model spec; `max_seconds` caps the length (memory, position budget)."""
    conditioning = conditioning_of(spec)
    fields: list[ConditionField] = []
    unsupported: list[str] = []
    for entry in conditioning.configs if conditioning is not None else ():
        if entry.id in SECONDS_IDS:
            continue
        kind = value_kind(entry)
        if kind == "audio":
            unsupported.append(entry.id)
        elif kind == "choice" and isinstance(entry.config, ListConfig):
            fields.append(ConditionField(entry.id, kind, choices=tuple(entry.config.options)))
        elif kind in ("number", "int") and isinstance(entry.config, (IntConfig, NumberConfig)):
            fields.append(ConditionField(entry.id, kind, float(entry.config.min_val), float(entry.config.max_val)))
        else:
            fields.append(ConditionField(entry.id, kind))
    seconds_default = spec.sample_size / spec.sample_rate
    seconds_max = max_seconds
    total = conditioning.by_id("seconds_total") if conditioning is not None else None
    if total is not None and isinstance(total.config, (IntConfig, NumberConfig)):
        # beyond its range the conditioner clamps: longer clips would all be told "this long"
        seconds_max = min(seconds_max, float(total.config.max_val))
    backbone = backbone_of(spec)
    return Form(
        conditions=tuple(fields),
        unsupported=tuple(unsupported),
        seconds_default=min(seconds_default, seconds_max),
        seconds_max=max(seconds_max, 1.0 / spec.sample_rate),
        sample_rate=spec.sample_rate,
        cfg=backbone is not None and backbone.capabilities.cfg,
        negative_prompt=conditioning is not None and "prompt" in conditioning.ids,
        objective=diffusion_objective_of(spec),
        inpainting=reads_inpainting(spec),
    )


def condition_values(form: Form, values: dict[str, Any]) -> dict[str, Any]:
    """The `--cond` values of a request from the form's raw values (sliders give floats; ints are rounded)."""
    chosen: dict[str, Any] = {}
    for field in form.conditions:
        value = values.get(field.id, field.default)
        if field.kind == "int" and isinstance(value, float) and math.isfinite(value):
            value = round(value)
        chosen[field.id] = value
    return chosen
