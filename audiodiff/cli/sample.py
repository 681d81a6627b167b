"""`audiodiff sample`: generate audio from a config and checkpoint (or a checkpoint carrying its config).

Order of work: the config and the request are checked first (no weights involved), then the checkpoint's
coverage of the model is checked on the meta device, and only then is the model built, loaded and run.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from audiodiff.cli.options import SET_HELP, parse_overrides, renamed
from audiodiff.cli.report import fail, report
from audiodiff.diagnostics import codes

COMMAND_LINE = "command line"


@dataclass(frozen=True)
class SampleOptions:
    ckpt: Path | None
    prompt: str | None
    negative_prompt: str | None
    cond: list[str]
    seconds: float | None
    steps: int
    cfg_scale: float
    sampler: str | None
    seed: int
    batch: int
    out: Path
    allow_partial: bool
    t5_path: str | None
    init_audio: Path | None
    init_noise_level: float
    device: str | None
    force: bool
    normalize: bool = False
    overrides: tuple[Any, ...] = ()  # schema.overrides.Override, applied to the model config
    inpaint: Path | None = None  # audio whose `mask` regions are regenerated
    mask: str | None = None  # START:END[,START:END...] seconds
    continue_audio: Path | None = None  # audio kept at the start, the rest generated
    lora: Path | None = None  # a LoRA adapter file applied on top of the checkpoint


def command(
    source: Path = typer.Argument(..., help="A model config, or a checkpoint that carries its config."),
    ckpt: Path | None = typer.Option(None, "--ckpt", help="The trained weights (Lightning, .ckpt, .safetensors)."),
    prompt: str | None = typer.Option(None, "--prompt", help="Text for the `prompt` conditioner."),
    negative_prompt: str | None = typer.Option(None, "--negative-prompt", help="Text to steer away from."),
    cond: list[str] = typer.Option([], "--cond", help="Conditioning ID=VALUE (repeatable); values are JSON or text."),
    seconds: float | None = typer.Option(None, "--seconds", help="Length of the output (default: sample_size)."),
    steps: int = typer.Option(100, "--steps", help="Sampler steps."),
    cfg_scale: float = typer.Option(6.0, "--cfg-scale", help="Classifier-free guidance scale."),
    sampler: str | None = typer.Option(None, "--sampler", help="Sampler name (default: the objective's)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the initial noise and of stochastic samplers."),
    batch: int = typer.Option(1, "--batch", help="Number of clips."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Output file (.wav or .flac); batches add _1, _2, ..."
    ),
    out: Path | None = typer.Option(None, "--out", hidden=True, help="Old name of `--output`."),
    allow_partial: bool = typer.Option(False, "--allow-partial", help="Sample even if the checkpoint is partial."),
    t5_path: str | None = typer.Option(None, "--t5-path", help="A local T5 folder (else the local HF cache)."),
    init_audio: Path | None = typer.Option(None, "--init-audio", help="Audio to start from (audio-to-audio)."),
    init_noise_level: float = typer.Option(1.0, "--init-noise-level", help="Noise level added to the init audio."),
    device: str | None = typer.Option(
        None, "--device", help="Where to run: `cpu`, `cuda`, `cuda:1` (default: `cuda` when available)."
    ),
    force: bool = typer.Option(False, "--force", help="Replace output files that exist."),
    normalize: bool = typer.Option(
        False, "--normalize", help="Scale each clip to peak 1 instead of clipping what goes beyond full scale."
    ),
    overrides: list[str] = typer.Option([], "--set", metavar="PATH=VALUE", help=SET_HELP),
    inpaint: Path | None = typer.Option(
        None, "--inpaint", help="Audio to inpaint (inpainting models): the `--mask` regions are regenerated."
    ),
    mask: str | None = typer.Option(
        None, "--mask", metavar="START:END[,START:END]", help="Seconds of the `--inpaint` audio to regenerate."
    ),
    continue_audio: Path | None = typer.Option(
        None, "--continue", help="Audio to continue (inpainting models): kept at the start, the rest generated."
    ),
    lora: Path | None = typer.Option(
        None, "--lora", help="A LoRA adapter file to apply (checked against the base weights' fingerprint)."
    ),
) -> None:
    """Generate audio with a trained model; every setting is checked against the model first.

    Examples:

      audiodiff sample config.json --ckpt model.safetensors --prompt "warm pads" --seconds 10 -o pads.wav

      audiodiff sample model.safetensors --cond class=chirp --steps 50 --sampler euler --seed 3 -o chirp.wav

      audiodiff sample inpaint.ckpt --prompt "rain" --inpaint take.wav --mask 1.5:2.5 -o fixed.wav

      audiodiff sample inpaint.ckpt --prompt "rain" --continue intro.wav --seconds 20 -o longer.wav

      audiodiff sample BASE.safetensors --lora ADAPTER.safetensors --prompt "rain on a tin roof" -o rain.wav
    """
    output = renamed(output, out, old="--out", new="--output")
    if output is None:
        raise typer.BadParameter("name the audio file to write", param_hint="'--output' / '-o'")
    options = SampleOptions(
        ckpt=ckpt,
        prompt=prompt,
        negative_prompt=negative_prompt,
        cond=cond,
        seconds=seconds,
        steps=steps,
        cfg_scale=cfg_scale,
        sampler=sampler,
        seed=seed,
        batch=batch,
        out=output,
        allow_partial=allow_partial,
        t5_path=t5_path,
        init_audio=init_audio,
        init_noise_level=init_noise_level,
        device=device,
        force=force,
        normalize=normalize,
        overrides=tuple(parse_overrides(overrides)),
        inpaint=inpaint,
        mask=mask,
        continue_audio=continue_audio,
        lora=lora,
    )
    raise typer.Exit(run_sample(source, options))


def run_sample(source: Path, options: SampleOptions) -> int:
    from audiodiff.runtime.generate import RequestError, SampleRequest, plan
    from audiodiff.runtime.sample_checks import option_problems
    from audiodiff.schema.overrides import parse_value

    problems = option_problems(
        steps=options.steps,
        cfg_scale=options.cfg_scale,
        seconds=options.seconds,
        batch=options.batch,
        seed=options.seed,
        init_noise_level=options.init_noise_level,
        cond=options.cond,
        sampler=options.sampler,
        t5_path=options.t5_path,
    )
    if problems:
        return report(COMMAND_LINE, problems)
    spans = _mask_spans(options)
    if spans is None:
        return 2
    pairs: dict[str, Any] = {}
    for item in options.cond:
        key, sep, value = item.partition("=")
        if not sep or not key:
            print(f"error: `--cond` takes ID=VALUE, got `{item}`", file=sys.stderr)
            return 2
        pairs[key] = parse_value(value)  # JSON (NaN and infinities refused), else text
    out = options.out
    if out.suffix.lower() not in (".wav", ".flac"):
        print(f"error: `--output` must end in .wav or .flac, got `{out}`", file=sys.stderr)
        return 2
    from audiodiff.runtime.audio import output_paths

    existing = [path for path in output_paths(out, options.batch) if path.exists()]
    if existing and not options.force:
        return fail(
            str(existing[0]),
            codes.RUN_SETTING,
            "the output file exists already",
            help="choose another `--output`, or pass `--force` to replace it",
        )

    from audiodiff.runtime.loading import LoadRefused, load_model, resolve_source
    from audiodiff.runtime.sample_checks import device_check, memory_check, memory_diagnostic

    device, problem = device_check(options.device)  # before any file is read: a typo should not wait for them
    if problem is not None:
        return report(COMMAND_LINE, [problem])
    try:
        resolved = resolve_source(source, options.ckpt, options.overrides)
    except LoadRefused as refused:
        return _refused(refused)
    spec = resolved.spec

    init = None
    if options.init_audio is not None:
        from audiodiff.runtime.audio import read_audio
        from audiodiff.schema.views import generated_channels

        try:
            init = read_audio(options.init_audio, sample_rate=spec.sample_rate, channels=generated_channels(spec))
        except (OSError, RuntimeError, ValueError) as error:
            return fail(str(options.init_audio), codes.RUN_SETTING, f"the init audio could not be read: {error}")
    known = None
    known_path = options.inpaint or options.continue_audio
    if known_path is not None:
        from audiodiff.runtime.generate import read_known_audio

        try:
            known = read_known_audio(known_path, spec)
        except RequestError as error:
            return fail(str(known_path), error.code, str(error), help=error.hint)
    request = SampleRequest(
        seconds=options.seconds,
        steps=options.steps,
        cfg_scale=options.cfg_scale,
        sampler=options.sampler,
        seed=options.seed,
        batch=options.batch,
        prompt=options.prompt,
        negative_prompt=options.negative_prompt,
        cond=pairs,
        init_audio=init,
        init_noise_level=options.init_noise_level,
        known_audio=known,
        mask_spans=tuple(spans),
        continuation=options.continue_audio is not None,
    )
    try:
        the_plan = plan(spec, request)
    except RequestError as error:
        return fail(str(source), error.code, str(error), help=error.hint)
    seconds = the_plan.samples / spec.sample_rate
    # the latent length actually generated (rounded up to what the backbone takes) is what is allocated
    verdict = memory_check(spec, max(the_plan.samples, the_plan.latent_length), options.batch, device)
    problem = memory_diagnostic(verdict, seconds, options.batch, device)
    if problem is not None:
        return report(COMMAND_LINE, [problem])

    try:
        model = load_model(
            resolved,
            allow_partial=options.allow_partial,
            t5_path=options.t5_path,
            on_partial=lambda text: sys.stderr.write(text + "\n"),
            lora=options.lora,
        )
    except LoadRefused as refused:
        return _refused(refused)
    audio = _run_with_progress(model, spec, request, the_plan, device)
    audio = _report_level(audio, normalize=options.normalize)

    from audiodiff.runtime.audio import write_audio
    from audiodiff.runtime.outputs import NonFiniteOutput

    try:
        written = write_audio(out, audio, spec.sample_rate)
    except NonFiniteOutput as error:  # checked before writing: NaN would become a file of full-scale noise
        return fail(
            str(out),
            codes.NON_FINITE_OUTPUT,
            str(error),
            help="the model or the request produced NaN; check the checkpoint (`audiodiff ckpt inspect`) "
            "and the request values",
        )
    for path in written:
        print(f"wrote {path} ({seconds:.3f} s, {spec.sample_rate} Hz, {audio.shape[1]} channel(s))")
    if the_plan.inpaint_mask is not None:
        from audiodiff.runtime.generate import describe_mask

        print(describe_mask(the_plan, spec))
    return 0


def _mask_spans(options: SampleOptions) -> list[tuple[float, float]] | None:
    """The `--mask` regions, after the usage rules of `--inpaint`, `--mask` and `--continue` (None: a usage error,
    already reported)."""
    from audiodiff.runtime.inpainting import parse_spans

    def usage(message: str) -> None:
        print(f"error: {message}", file=sys.stderr)

    if options.inpaint is not None and options.continue_audio is not None:
        usage("give `--inpaint` or `--continue`, not both")
        return None
    if options.mask is not None and options.inpaint is None:
        usage("`--mask` says which seconds of the `--inpaint` audio to regenerate; give `--inpaint AUDIO` too")
        return None
    if options.inpaint is not None and options.mask is None:
        usage("`--inpaint` needs `--mask START:END` (the seconds to regenerate, e.g. `--mask 1.5:2.5`)")
        return None
    if options.mask is None:
        return []
    try:
        return parse_spans(options.mask)
    except ValueError as error:
        usage(f"`--mask`: {error}")
        return None


def _report_level(audio, *, normalize: bool):
    """Count what would be clipped when written; with `--normalize`, scale each clip to peak 1 instead."""
    from audiodiff.runtime.sample_checks import clipping, normalize_peak

    found = clipping(audio)
    if normalize:
        print(f"normalized each clip to peak 1 (the loudest was at {found.peak:.3f})", file=sys.stderr)
        return normalize_peak(audio)
    if found.clipped:
        print(
            f"warning: {found.clipped:,} of {found.total:,} samples ({100 * found.clipped / found.total:.2f}%) "
            f"are beyond full scale (peak {found.peak:.3f}) and were clipped; pass `--normalize` to scale each "
            "clip to peak 1, or lower `--cfg-scale`",
            file=sys.stderr,
        )
    return audio


def _run_with_progress(model, spec, request, the_plan, device: str):
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from audiodiff.runtime.generate import generate

    with Progress(
        TextColumn("sampling"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} steps"),
        TimeRemainingColumn(),
        transient=True,
        disable=not sys.stderr.isatty(),
    ) as progress:
        task = progress.add_task("sample", total=the_plan.settings.steps)

        def advance(step: int, steps: int, x) -> None:
            progress.update(task, completed=step + 1)

        return generate(model, spec, request, the_plan, device=device, callback=advance)


def _refused(refused) -> int:
    """Report why the model could not be loaded: exit 2 for a usage mistake, else the diagnostics' exit code."""
    if refused.usage:
        print(f"error: {refused.diagnostics[0].message}", file=sys.stderr)
        return 2
    if refused.detail:
        sys.stderr.write(refused.detail + "\n")
    return report(refused.path, refused.diagnostics, refused.line)
