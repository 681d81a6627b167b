"""Generation: from a built model and a request to audio, with the request checked against the model first.

The latent length comes from the requested seconds and the model's rates, rounded up to what the backbone
accepts; the decoded audio is trimmed back to exactly the requested length.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from audiodiff.compiler.lower import max_generation_frames
from audiodiff.compiler.materialize import objective_of
from audiodiff.diagnostics import codes
from audiodiff.diagnostics.codes import Code
from audiodiff.nn.objectives import Objective
from audiodiff.nn.routing import INPAINT_IDS, Guidance
from audiodiff.runtime.sampling import WANTS_UNGUIDED, SamplerSettings, sample, sampler_names
from audiodiff.schema.values import value_problem
from audiodiff.schema.views import BackboneView, backbone_of, conditioning_of, pretransform_of, pretransform_ratio


class RequestError(ValueError):
    """A sampling request that does not fit the model; one sentence, plus an optional hint. `code` says what
    kind of problem: a length the model cannot generate, or any other setting."""

    def __init__(self, message: str, hint: str | None = None, code: Code = codes.RUN_SETTING):
        super().__init__(message)
        self.hint = hint
        self.code = code


@dataclass(frozen=True)
class SampleRequest:
    seconds: float | None = None  # None: the config's sample_size
    steps: int = 100
    cfg_scale: float = 6.0
    sampler: str | None = None  # None: the objective's default
    seed: int = 0
    batch: int = 1
    prompt: str | None = None
    negative_prompt: str | None = None
    cond: Mapping[str, Any] = field(default_factory=dict)  # conditioner id -> value
    init_audio: Tensor | None = None  # [C, T] at the model's sample rate (audio-to-audio)
    init_noise_level: float = 1.0


@dataclass(frozen=True)
class Plan:
    """What will be generated: lengths, sampler settings and the metadata of every batch item."""

    samples: int  # audio samples per item after trimming
    latent_length: int
    settings: SamplerSettings
    metadata: list[dict[str, Any]]
    negative_metadata: list[dict[str, Any]] | None
    cfg_scale: float


def parse_value(text: str) -> Any:
    """`--cond key=value` values: JSON where it parses (numbers, true, lists), else the plain string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def plan(spec: Any, request: SampleRequest) -> Plan:
    """Check a request against a validated spec and work out lengths, sampler and metadata."""
    if request.steps < 1:
        raise RequestError(f"`--steps` must be at least 1, got {request.steps}")
    if request.batch < 1:
        raise RequestError(f"`--batch` must be at least 1, got {request.batch}")
    backbone = backbone_of(spec)
    if backbone is None:
        raise RequestError(f"a `{spec.model_type}` model does not generate audio; sample from a diffusion model")
    located = pretransform_of(spec)
    ratio = (pretransform_ratio(located[0]) or 1) if located is not None else 1
    seconds = request.seconds if request.seconds is not None else spec.sample_size / spec.sample_rate
    if not math.isfinite(seconds) or seconds <= 0:
        raise RequestError(f"`--seconds` must be a positive number, got {seconds}", code=codes.SAMPLE_LENGTH)
    samples = max(1, round(seconds * spec.sample_rate))
    multiple = backbone.length_multiple
    latent_length = math.ceil(math.ceil(samples / ratio) / multiple) * multiple
    _check_length(backbone, latent_length, ratio, spec.sample_rate)

    objective = objective_of(spec)
    name = request.sampler or objective.default_sampler
    if name not in sampler_names(objective) and name not in ("k-heun", "k-euler"):
        raise RequestError(
            f"`{name}` is not a sampler for `{objective}` models",
            hint="choose one of " + ", ".join(f"`{n}`" for n in sampler_names(objective)),
        )
    sigma_max = request.init_noise_level if request.init_audio is not None else None
    settings = SamplerSettings(sampler=name, steps=request.steps, sigma_max=sigma_max)

    metadata = _metadata(spec, request, seconds)
    negative = None
    if request.negative_prompt is not None:
        if not metadata or "prompt" not in metadata[0]:
            raise RequestError("`--negative-prompt` needs a model with a `prompt` conditioner")
        negative = [dict(item, prompt=request.negative_prompt) for item in metadata]
    cfg_scale = request.cfg_scale if backbone.capabilities.cfg else 1.0
    return Plan(samples, latent_length, settings, metadata, negative, cfg_scale)


def _check_length(backbone: BackboneView, latent_length: int, ratio: int, sample_rate: int) -> None:
    """The same position budget as `compile --explain`'s `max_generation_length`."""
    budget = backbone.capabilities.position_budget(backbone.config)
    if budget is None:
        return
    longest_frames = max_generation_frames(backbone, budget)
    if latent_length > longest_frames:
        longest = longest_frames * ratio / sample_rate
        raise RequestError(
            f"{latent_length} latent frames are more than the model's absolute position table holds",
            hint=f"ask for at most {longest:.2f} seconds",
            code=codes.SAMPLE_LENGTH,
        )


def _metadata(spec: Any, request: SampleRequest, seconds: float) -> list[dict[str, Any]]:
    conditioning = conditioning_of(spec)
    if conditioning is None:
        if request.prompt is not None or request.cond:
            raise RequestError("this model takes no conditioning; drop `--prompt` and `--cond`")
        return []
    ids = conditioning.ids
    kinds = {entry.id: entry.type for entry in conditioning.configs}
    values: dict[str, Any] = {}
    if "seconds_start" in ids:
        values["seconds_start"] = 0
    if "seconds_total" in ids:
        # an `int` conditioner takes whole seconds: round up, as the data loader does for a file's length
        values["seconds_total"] = math.ceil(seconds) if kinds["seconds_total"] == "int" else seconds
    if request.prompt is not None:
        if "prompt" not in ids:
            raise RequestError(
                "this model has no `prompt` conditioner",
                hint="set its conditioners with `--cond ID=VALUE`: " + ", ".join(f"`{i}`" for i in ids),
            )
        values["prompt"] = request.prompt
    for key, value in request.cond.items():
        if key not in ids and key not in conditioning.default_keys.values():
            raise RequestError(
                f"`--cond {key}=...` names no conditioner of this model",
                hint="its conditioners are " + ", ".join(f"`{i}`" for i in ids),
            )
        values[key] = value
    for entry in conditioning.configs:
        if entry.id in values:
            _check_value(entry, values[entry.id])
    fallbacks = conditioning.default_keys
    missing = [i for i in ids if i not in values and fallbacks.get(i) not in values]
    if missing:
        raise RequestError(
            "missing conditioning for " + ", ".join(f"`{i}`" for i in missing),
            hint="give each with `--cond ID=VALUE`" + (" (or `--prompt`)" if "prompt" in missing else ""),
        )
    return [dict(values) for _ in range(request.batch)]


def _check_value(entry: Any, value: Any) -> None:
    problem = value_problem(entry, value)
    if problem is not None:
        raise RequestError(problem)
    options = getattr(entry.config, "options", None)  # a conditioner over a fixed list of values
    if options is not None and value not in options:
        # legal (it selects the "unknown" row), but on the command line it is almost always a typo
        raise RequestError(
            f"`{value}` is not one of the options of `{entry.id}`",
            hint="options: " + ", ".join(f"`{o}`" for o in entry.config.options),
        )


def generate(
    model: torch.nn.Module,
    spec: Any,
    request: SampleRequest,
    the_plan: Plan,
    *,
    device: torch.device | str = "cpu",
    callback: Callable[[int, int, Tensor], None] | None = None,
) -> Tensor:
    """Sample audio [B, C, samples] (decoded and trimmed) for a planned request, on `device` (the model is moved
    there). The initial noise is drawn on the CPU from the seed, so it is the same on every device."""
    device = torch.device(device)
    model.to(device)
    objective: Objective = model.diffusion_objective
    noise = torch.randn(
        request.batch, model.io_channels, the_plan.latent_length, generator=torch.Generator().manual_seed(request.seed)
    ).to(device)
    generator = torch.Generator(device=device).manual_seed(request.seed + 1)  # for stochastic samplers
    conditional = hasattr(model, "conditioner")
    cond = model.conditioning_tensors(the_plan.metadata, device) if conditional else {}
    if conditional and any(i in INPAINT_IDS for i in model.routing.input_concat_ids):
        # plain generation of an inpainting model: nothing is kept (mask 0), so the masked input is silence
        cond["inpaint_mask"] = torch.zeros(request.batch, 1, the_plan.latent_length, device=device)
        cond["inpaint_masked_input"] = torch.zeros_like(noise)
    negative = (
        model.conditioning_tensors(the_plan.negative_metadata, device)
        if (conditional and the_plan.negative_metadata is not None)
        else None
    )

    guidance = Guidance(cfg_scale=the_plan.cfg_scale, rescale_cfg=True)

    unguided = the_plan.settings.sampler in WANTS_UNGUIDED  # CFG++ reads the unguided half too

    def denoise(x: Tensor, t: Tensor) -> Tensor | tuple[Tensor, Tensor | None]:
        if not conditional:
            return model(x, t)
        if unguided:
            return model.forward_with_unguided(x, t, cond, negative_cond=negative, guidance=guidance)
        return model(x, t, cond, negative_cond=negative, guidance=guidance)

    init = None
    if request.init_audio is not None:
        init = _encode_init(model, request.init_audio, the_plan.latent_length, request.batch, device)
    # the model's own time shift (rectified-flow schedules; upstream's generate leaves it out, see docs)
    shift = getattr(model, "distribution_shift", None) if objective.family == "flow" else None
    with torch.inference_mode():
        latents = sample(
            denoise,
            noise,
            objective=objective,
            settings=the_plan.settings,
            generator=generator,
            init=init,
            shift=shift,
            callback=callback,
        )
        audio = model.pretransform.decode(latents) if model.pretransform is not None else latents
    return audio[..., : the_plan.samples].float().cpu()


def _encode_init(model, audio: Tensor, latent_length: int, batch_size: int, device) -> Tensor:
    ratio = model.pretransform.downsampling_ratio if model.pretransform is not None else 1
    length = latent_length * ratio
    audio = audio[..., :length]
    audio = torch.nn.functional.pad(audio, (0, length - audio.shape[-1]))  # [C, T]
    batch = audio.unsqueeze(0).expand(batch_size, -1, -1).to(device)  # [B, C, T]
    with torch.inference_mode():
        return model.pretransform.encode(batch) if model.pretransform is not None else batch
