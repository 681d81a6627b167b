"""Generation: from a built model and a request to audio, with the request checked against the model first.

The latent length comes from the requested seconds and the model's rates, rounded up to what the backbone
accepts; the decoded audio is trimmed back to exactly the requested length.

Inpainting models (`input_concat_ids` routing `inpaint_mask` and `inpaint_masked_input`) take known audio: either
regions of it to regenerate (`--inpaint AUDIO --mask START:END`), or audio to continue (`--continue AUDIO`: kept at
the start, the rest generated). The model keeps the known part by conditioning, as the reference does: the output is
all generated, and reproduces the known audio only as well as the model learned to.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import torch
from torch import Tensor

from audiodiff.compiler.lower import max_generation_frames
from audiodiff.compiler.materialize import objective_of
from audiodiff.diagnostics import codes
from audiodiff.diagnostics.codes import Code
from audiodiff.nn.diffusion import ConditionedDiffusionModel, DiffusionModel
from audiodiff.nn.objectives import Objective
from audiodiff.nn.routing import ConditioningEntry, Guidance
from audiodiff.runtime.inpainting import (
    Span,
    continuation_mask,
    frame_mask,
    generated_spans,
    inpaint_conditioning,
    routes_inpainting,
)
from audiodiff.runtime.sampling import WANTS_UNGUIDED, Model, SamplerSettings, sample, sampler_names
from audiodiff.schema.v1.conditioning import ConditionerSpec
from audiodiff.schema.v1.root import ModelConfig
from audiodiff.schema.values import value_problem
from audiodiff.schema.views import (
    BackboneView,
    backbone_of,
    conditioning_of,
    pretransform_of,
    pretransform_ratio,
    reads_inpainting,
)


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
    known_audio: Tensor | None = None  # [C, T] at the model's sample rate: audio to inpaint or to continue
    mask_spans: tuple[Span, ...] = ()  # regions of `known_audio` to regenerate (seconds)
    continuation: bool = False  # keep all of `known_audio` at the start and generate what follows


@dataclass(frozen=True)
class Plan:
    """What will be generated: lengths, sampler settings and the metadata of every batch item."""

    samples: int  # audio samples per item after trimming
    latent_length: int
    settings: SamplerSettings
    metadata: list[dict[str, Any]]
    negative_metadata: list[dict[str, Any]] | None
    cfg_scale: float
    inpaint_mask: Tensor | None = None  # [1, 1, latent_length]: 1 keep the known audio, 0 generate


def parse_value(text: str) -> Any:
    """`--cond key=value` values: JSON where it parses (numbers, true, lists), else the plain string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def plan(spec: ModelConfig, request: SampleRequest) -> Plan:
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
    if request.known_audio is not None and request.seconds is None and not request.continuation:
        seconds = request.known_audio.shape[-1] / spec.sample_rate  # inpainting keeps the audio's length
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
    mask = _inpaint_mask(spec, request, samples, latent_length, ratio)
    return Plan(samples, latent_length, settings, metadata, negative, cfg_scale, mask)


def _inpaint_mask(
    spec: ModelConfig, request: SampleRequest, samples: int, latent_length: int, ratio: int
) -> Tensor | None:
    """The frames to keep and to generate, after checking that the model inpaints and the request fits the clip."""
    known = request.known_audio
    if known is None:
        return None
    option = "--continue" if request.continuation else "--inpaint"
    if not reads_inpainting(spec):
        raise RequestError(
            f"`{option}` needs an inpainting model, and this `{spec.model_type}` model takes no known audio",
            hint="inpainting models are `diffusion_cond_inpaint` with "
            '`"input_concat_ids": ["inpaint_mask", "inpaint_masked_input"]`',
            code=codes.INPAINT_REQUEST,
        )
    rate = spec.sample_rate
    clip = samples / rate
    if request.continuation:
        if known.shape[-1] >= samples:
            raise RequestError(
                f"the audio to continue lasts {known.shape[-1] / rate:.3f} s, so a {clip:.3f} s clip leaves "
                "nothing to generate",
                hint=f"ask for more with `--seconds` (more than {known.shape[-1] / rate:.3f})",
                code=codes.INPAINT_REQUEST,
            )
        mask = continuation_mask(known.shape[-1], ratio=ratio, latent_length=latent_length)
    else:
        if not request.mask_spans:
            raise RequestError("`--inpaint` needs `--mask START:END` (the seconds to regenerate)")
        half_sample = 0.5 / rate
        for start, end in request.mask_spans:
            if end > clip + half_sample:
                raise RequestError(
                    f"`--mask {start:g}:{end:g}` ends after the {clip:.3f} s clip",
                    hint=f"masks lie within 0:{clip:g}" + ("" if request.seconds else ", the length of the audio"),
                    code=codes.INPAINT_REQUEST,
                )
        mask = frame_mask(request.mask_spans, sample_rate=rate, ratio=ratio, latent_length=latent_length)
    if bool((mask > 0.5).all()):  # frames the latent grid cannot split
        raise RequestError("the mask covers no whole latent frame, so nothing would be generated")
    return mask


def read_known_audio(path: str | os.PathLike[str], spec: ModelConfig) -> Tensor:
    """The audio to inpaint or continue, as [C, T] at the model's rate and channel count. A mono file is duplicated
    to every channel; another channel count than the model's is refused (kept audio is not silently remixed)."""
    import soundfile

    from audiodiff.runtime.audio import read_audio
    from audiodiff.schema.views import generated_channels

    channels = generated_channels(spec)
    try:
        have = soundfile.info(str(path)).channels
    except (OSError, RuntimeError) as error:
        raise RequestError(f"the audio could not be read: {error}") from None
    if have not in (1, channels):
        raise RequestError(
            f"the audio has {have} channels and the model generates {channels}",
            hint=f"mix it to {channels} channel(s) (or mono) first",
            code=codes.INPAINT_REQUEST,
        )
    try:
        return read_audio(path, sample_rate=spec.sample_rate, channels=channels)
    except (OSError, RuntimeError, ValueError) as error:
        raise RequestError(f"the audio could not be read: {error}") from None


def generated_seconds(the_plan: Plan, spec: ModelConfig) -> list[Span]:
    """The regions (seconds, within the clip) an inpainting request regenerates; none for other requests."""
    if the_plan.inpaint_mask is None:
        return []
    located = pretransform_of(spec)
    ratio = (pretransform_ratio(located[0]) or 1) if located is not None else 1
    clip = the_plan.samples / spec.sample_rate
    spans = generated_spans(the_plan.inpaint_mask, seconds_per_frame=ratio / spec.sample_rate)
    return [(start, min(end, clip)) for start, end in spans if start < clip]


def describe_mask(the_plan: Plan, spec: ModelConfig) -> str:
    """`generated 1.00-2.00 s of 3.00 s` for the sampling report."""
    spans = generated_seconds(the_plan, spec)
    if not spans:
        return ""
    clip = the_plan.samples / spec.sample_rate
    parts = ", ".join(f"{start:.2f}-{end:.2f}" for start, end in spans)
    return f"generated {parts} s of {clip:.2f} s, the rest kept from the known audio"


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


def _metadata(spec: ModelConfig, request: SampleRequest, seconds: float) -> list[dict[str, Any]]:
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


def _check_value(entry: ConditionerSpec, value: Any) -> None:
    problem = value_problem(entry, value)
    if problem is not None:
        raise RequestError(problem)
    options = getattr(entry.config, "options", None)  # a conditioner over a fixed list of values
    if options is not None and value not in options:
        # legal (it selects the "unknown" row), but on the command line it is almost always a typo
        raise RequestError(
            f"`{value}` is not one of the options of `{entry.id}`",
            hint="options: " + ", ".join(f"`{o}`" for o in options),
        )


def generate(
    model: DiffusionModel,
    spec: ModelConfig,
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
    conditioned = model if isinstance(model, ConditionedDiffusionModel) else None
    cond: dict[str, ConditioningEntry] = {}  # conditioner outputs, plus the injected inpainting tensors
    if conditioned is not None:
        cond.update(conditioned.conditioning_tensors(the_plan.metadata, device))
    if conditioned is not None and routes_inpainting(conditioned):
        if the_plan.inpaint_mask is None or request.known_audio is None:
            # plain generation of an inpainting model: nothing is kept (mask 0), so the masked input is silence
            mask = torch.zeros(request.batch, 1, the_plan.latent_length, device=device)
            known = torch.zeros_like(noise)
        else:
            mask = the_plan.inpaint_mask.to(device).expand(request.batch, -1, -1)  # [B, 1, L]
            known = _encode_init(model, request.known_audio, the_plan.latent_length, request.batch, device)
        cond.update(inpaint_conditioning(known, mask))
    negative = (
        conditioned.conditioning_tensors(the_plan.negative_metadata, device)
        if (conditioned is not None and the_plan.negative_metadata is not None)
        else None
    )

    guidance = Guidance(cfg_scale=the_plan.cfg_scale, rescale_cfg=True)

    unguided = the_plan.settings.sampler in WANTS_UNGUIDED  # CFG++ reads the unguided half too

    def denoise(x: Tensor, t: Tensor) -> Tensor | tuple[Tensor, Tensor | None]:
        if conditioned is None:
            return model(x, t)
        if unguided:
            return conditioned.forward_with_unguided(x, t, cond, negative_cond=negative, guidance=guidance)
        return conditioned(x, t, cond, negative_cond=negative, guidance=guidance)

    init = None
    if request.init_audio is not None:
        init = _encode_init(model, request.init_audio, the_plan.latent_length, request.batch, device)
    # the model's own time shift (rectified-flow schedules; upstream's generate leaves it out, see docs)
    shift = conditioned.distribution_shift if conditioned is not None and objective.family == "flow" else None
    with torch.inference_mode():
        latents = sample(
            # `Model` says a tensor; the samplers in WANTS_UNGUIDED also take the `(guided, unguided)` pair
            cast(Model, denoise),
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


def _encode_init(
    model: DiffusionModel, audio: Tensor, latent_length: int, batch_size: int, device: torch.device
) -> Tensor:
    ratio = model.pretransform.downsampling_ratio if model.pretransform is not None else 1
    length = latent_length * ratio
    audio = audio[..., :length]
    audio = torch.nn.functional.pad(audio, (0, length - audio.shape[-1]))  # [C, T]
    batch = audio.unsqueeze(0).expand(batch_size, -1, -1).to(device)  # [B, C, T]
    with torch.inference_mode():
        return model.pretransform.encode(batch) if model.pretransform is not None else batch
