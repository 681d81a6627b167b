"""The model behind the page: loaded once (coverage checked as `sample` checks it), then asked for takes.

A take is one generation request: its values are checked by the same `plan` that `audiodiff sample` uses, the
audio is generated with the same `generate`, and the take records the exact `audiodiff sample` command that
reproduces it. Refusals are `TakeRefused` with one sentence and a hint, shown on the page.
"""

from __future__ import annotations

import itertools
import math
import shlex
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audiodiff.runtime.generate import RequestError, SampleRequest, generated_seconds, parse_value, plan
from audiodiff.runtime.loading import LoadRefused, SamplingSource, load_model, resolve_source
from audiodiff.schema.v1.root import ModelConfig
from audiodiff.serve.form import MAX_BATCH, Form, build_form, condition_values

DEFAULT_MAX_SECONDS = 60.0


class TakeRefused(ValueError):
    """A request the model cannot serve, in one sentence, with an optional hint."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint

    def __str__(self) -> str:
        text = super().__str__()
        return f"{text} ({self.hint})" if self.hint else text


class Cancelled(Exception):
    """Raised inside the sampler's callback when the page asked to stop."""


@dataclass(frozen=True)
class TakeRequest:
    conditions: dict[str, Any] = field(default_factory=dict)  # form values by conditioner id
    negative_prompt: str | None = None
    seconds: float | None = None
    steps: int = 50
    sampler: str | None = None
    cfg_scale: float = 6.0
    seed: int = 0
    batch: int = 1
    init_audio: Path | None = None
    init_noise_level: float = 1.0
    known_audio: Path | None = None  # inpainting models: audio to inpaint (with `mask`) or to continue (without)
    mask: str = ""  # START:END[,START:END] seconds of `known_audio` to regenerate; empty: continue it


@dataclass(frozen=True)
class Take:
    number: int
    audio: tuple[Path, ...]  # one file per batch item
    spectrograms: tuple[Path, ...]
    command: str  # the `audiodiff sample` command that makes the same audio
    summary: str  # one line: what was asked
    clipped: int  # samples beyond full scale, over the whole batch


class Studio:
    """A loaded model and the folder its takes are written to."""

    def __init__(
        self,
        source: Path,
        ckpt: Path | None,
        *,
        takes_dir: Path,
        device: str = "cpu",
        allow_partial: bool = False,
        t5_path: str | None = None,
        max_seconds: float = DEFAULT_MAX_SECONDS,
    ):
        self.source, self.ckpt = source, ckpt
        self.takes_dir = takes_dir
        self.device = device
        self.allow_partial, self.t5_path = allow_partial, t5_path
        self.resolved: SamplingSource = resolve_source(source, ckpt)  # LoadRefused when the files refuse
        self.spec = self.resolved.spec
        self.form: Form = build_form(self.spec, max_seconds=_longest_request(self.spec, max_seconds))
        self.notes: list[str] = []
        self.model = load_model(
            self.resolved, allow_partial=allow_partial, t5_path=t5_path, on_partial=self.notes.append
        )
        self._numbers = itertools.count(1)
        self._number_lock = threading.Lock()

    def sample_request(self, request: TakeRequest) -> SampleRequest:
        """The request `audiodiff sample` would make of the same values; checks them as it does."""
        for name, value in (
            ("seconds", request.seconds),
            ("cfg scale", request.cfg_scale),
            ("init noise level", request.init_noise_level),
        ):
            if value is not None and not math.isfinite(value):
                raise TakeRefused(f"the {name} must be a finite number, got {value}")
        if not 1 <= request.batch <= MAX_BATCH:
            raise TakeRefused(f"the batch must be between 1 and {MAX_BATCH}, got {request.batch}")
        if request.seconds is not None and request.seconds > self.form.seconds_max:
            raise TakeRefused(
                f"{request.seconds:g} s is longer than this model and page allow",
                hint=f"ask for at most {self.form.seconds_max:g} s",
            )
        if request.cfg_scale < 0:
            raise TakeRefused(f"the CFG scale must not be negative, got {request.cfg_scale:g}")
        init = None
        if request.init_audio is not None:
            from audiodiff.runtime.audio import read_audio
            from audiodiff.schema.views import generated_channels

            try:
                init = read_audio(
                    request.init_audio, sample_rate=self.spec.sample_rate, channels=generated_channels(self.spec)
                )
            except (OSError, RuntimeError, ValueError) as error:
                raise TakeRefused(f"the init audio could not be read: {error}") from None
        cond = condition_values(self.form, request.conditions)
        if self.form.unsupported:
            raise TakeRefused(
                "this model is conditioned on audio signals ("
                + ", ".join(f"`{i}`" for i in self.form.unsupported)
                + "), which the page cannot give",
                hint="sample it with `audiodiff sample --cond`",
            )
        negative = request.negative_prompt or None
        known, spans = self._known(request)
        return SampleRequest(
            seconds=None if spans else request.seconds,  # inpainting keeps the audio's length
            known_audio=known,
            mask_spans=tuple(spans),
            continuation=known is not None and not spans,
            steps=request.steps,
            cfg_scale=request.cfg_scale,
            sampler=request.sampler or None,
            seed=request.seed,
            batch=request.batch,
            negative_prompt=negative,
            cond=cond,
            init_audio=init,
            init_noise_level=request.init_noise_level,
        )

    def _known(self, request: TakeRequest) -> tuple[Any, list[tuple[float, float]]]:
        """The known audio [C, T] and the spans to regenerate of an inpainting request (None, [] for others)."""
        from audiodiff.runtime.generate import read_known_audio
        from audiodiff.runtime.inpainting import parse_spans

        if request.known_audio is None:
            if request.mask.strip():
                raise TakeRefused("a mask needs the audio it applies to", hint="upload the audio to inpaint")
            return None, []
        try:
            spans = parse_spans(request.mask) if request.mask.strip() else []
        except ValueError as error:
            raise TakeRefused(f"the mask: {error}", hint="seconds to regenerate, as `1.5:2.5` or `0:1,3:4`") from None
        try:
            return read_known_audio(request.known_audio, self.spec), spans
        except RequestError as error:
            raise TakeRefused(str(error), error.hint) from None

    def generate(
        self,
        request: TakeRequest,
        *,
        progress: Callable[[int, int], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> Take:
        import torch

        from audiodiff.runtime.audio import write_audio
        from audiodiff.runtime.generate import generate
        from audiodiff.serve.spectrogram import write_spectrogram

        sample_request = self.sample_request(request)
        try:
            the_plan = plan(self.spec, sample_request)
        except RequestError as error:
            raise TakeRefused(str(error), error.hint) from None

        def step(index: int, steps: int, x: Any) -> None:
            if cancel is not None and cancel.is_set():
                raise Cancelled()
            if progress is not None:
                progress(index + 1, steps)

        with torch.inference_mode():  # grad mode is per thread: the page's worker threads start with it on
            audio = generate(self.model, self.spec, sample_request, the_plan, device=self.device, callback=step)
        if not bool(torch.isfinite(audio).all()):
            raise TakeRefused(
                "the model produced non-finite samples (NaN or infinity); nothing was written",
                hint="check the checkpoint, or lower the CFG scale",
            )
        clipped = int((audio.abs() > 1).sum())
        with self._number_lock:
            number = next(self._numbers)
        folder = self.takes_dir / f"take_{number:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        files = tuple(write_audio(folder / "take.wav", audio, self.spec.sample_rate))
        spans = generated_seconds(the_plan, self.spec)
        images = tuple(
            write_spectrogram(
                path.with_suffix(".png"),
                item,
                self.spec.sample_rate,
                title=f"take {number}"
                + (f", item {i + 1}" if len(files) > 1 else "")
                + (" (outlined: regenerated)" if spans else ""),
                spans=spans,
            )
            for i, (path, item) in enumerate(zip(files, audio, strict=True))
        )
        return Take(
            number,
            files,
            images,
            self.command(sample_request, the_plan.settings.sampler, known_path=request.known_audio),
            self.summary(sample_request, the_plan.samples),
            clipped,
        )

    def command(self, request: SampleRequest, sampler: str, *, known_path: Path | None = None) -> str:
        """The `audiodiff sample` command line that generates the same audio (`known_path`: the file the known
        audio of an inpainting request came from)."""
        words = ["audiodiff", "sample", str(self.source)]
        if self.ckpt is not None:
            words += ["--ckpt", str(self.ckpt)]
        for key, value in request.cond.items():
            words += ["--cond", f"{key}={_cond_text(value)}"]
        if request.negative_prompt:
            words += ["--negative-prompt", request.negative_prompt]
        if request.seconds is not None:
            words += ["--seconds", f"{request.seconds:g}"]
        if known_path is not None and request.known_audio is not None:
            if request.mask_spans:
                mask = ",".join(f"{start:g}:{end:g}" for start, end in request.mask_spans)
                words += ["--inpaint", str(known_path), "--mask", mask]
            else:
                words += ["--continue", str(known_path)]
        words += [
            "--steps",
            str(request.steps),
            "--sampler",
            sampler,
            "--cfg-scale",
            f"{request.cfg_scale:g}",
            "--seed",
            str(request.seed),
        ]
        if request.batch > 1:
            words += ["--batch", str(request.batch)]
        if self.allow_partial:
            words.append("--allow-partial")
        words += ["-o", "take.wav"]
        return shlex.join(words)

    def summary(self, request: SampleRequest, samples: int) -> str:
        values = ", ".join(f"{key}={value}" for key, value in request.cond.items())
        known = ""
        if request.known_audio is not None:
            spans = ", ".join(f"{start:g}-{end:g} s" for start, end in request.mask_spans)
            known = f"; regenerated {spans}" if spans else "; continues the uploaded audio"
        return (
            f"{values or 'unconditioned'}; {samples / self.spec.sample_rate:.2f} s, {request.steps} steps, "
            f"CFG {request.cfg_scale:g}, seed {request.seed}{known}"
        )


def _cond_text(value: Any) -> str:
    """A `--cond` value that `parse_value` reads back as `value` (text stays bare unless it would parse as JSON)."""
    if isinstance(value, str) and parse_value(value) == value:
        return value
    import json

    return json.dumps(value)


def _longest_request(spec: ModelConfig, cap: float) -> float:
    """The longest `seconds` that `plan` accepts, at most `cap`: found by bisection, so the page offers exactly
    what `audiodiff sample` would accept (position budgets, length multiples, memory checks alike)."""

    def fits(seconds: float) -> bool:
        try:
            plan(spec, SampleRequest(seconds=seconds, steps=1, cfg_scale=1.0, cond=_any_conditions(spec)))
        except RequestError as error:
            return error.code.id != "AD806"  # only length refusals matter here
        return True

    if fits(cap):
        return cap
    low, high = 1.0 / spec.sample_rate, cap
    for _ in range(40):
        middle = (low + high) / 2
        low, high = (middle, high) if fits(middle) else (low, middle)
    return low


def _any_conditions(spec: ModelConfig) -> dict[str, Any]:
    form = build_form(spec, max_seconds=DEFAULT_MAX_SECONDS)
    return {entry.id: entry.default for entry in form.conditions}


__all__ = ["Cancelled", "LoadRefused", "Studio", "Take", "TakeRefused", "TakeRequest"]
