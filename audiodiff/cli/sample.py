"""`audiodiff sample`: generate audio from a config and checkpoint (or a checkpoint carrying its config)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from audiodiff.cli.report import fail, report
from audiodiff.diagnostics import codes

CHECKPOINT_SUFFIXES = (".ckpt", ".safetensors", ".pt", ".pth")


def run_sample(source: Path, *, ckpt: Path | None, prompt: str | None, negative_prompt: str | None,
               cond: list[str], seconds: float | None, steps: int, cfg_scale: float, sampler: str | None,
               seed: int, batch: int, out: Path, allow_partial: bool, t5_path: str | None,
               init_audio: Path | None, init_noise_level: float) -> int:
    pairs: dict[str, Any] = {}
    for item in cond:
        key, sep, value = item.partition("=")
        if not sep or not key:
            print(f"error: `--cond` takes ID=VALUE, got `{item}`", file=sys.stderr)
            return 2
        from audiodiff.runtime.generate import parse_value

        pairs[key] = parse_value(value)
    if out.suffix.lower() not in (".wav", ".flac"):
        print(f"error: `--out` must end in .wav or .flac, got `{out}`", file=sys.stderr)
        return 2

    loaded = _load_model_source(source, ckpt, allow_partial=allow_partial, t5_path=t5_path)
    if isinstance(loaded, int):
        return loaded
    spec, model, checkpoint_path = loaded

    from audiodiff.runtime.audio import read_audio, write_audio
    from audiodiff.runtime.generate import RequestError, SampleRequest, generate, plan

    init = None
    if init_audio is not None:
        try:
            init = read_audio(init_audio, sample_rate=spec.sample_rate, channels=_audio_channels(model))
        except (OSError, RuntimeError, ValueError) as error:
            return fail(str(init_audio), codes.SAMPLE_LENGTH, f"the init audio could not be read: {error}")
    request = SampleRequest(seconds=seconds, steps=steps, cfg_scale=cfg_scale, sampler=sampler, seed=seed,
                            batch=batch, prompt=prompt, negative_prompt=negative_prompt, cond=pairs,
                            init_audio=init, init_noise_level=init_noise_level)
    try:
        the_plan = plan(spec, request)
    except RequestError as error:
        return fail(str(source), codes.SAMPLE_LENGTH, str(error), help=error.hint)

    audio = _run_with_progress(model, spec, request, the_plan)
    written = write_audio(out, audio, spec.sample_rate)
    for path in written:
        print(f"wrote {path} ({the_plan.samples / spec.sample_rate:.3f} s, {spec.sample_rate} Hz, "
              f"{audio.shape[1]} channel(s))")
    return 0


def _audio_channels(model) -> int:
    pretransform = getattr(model, "pretransform", None)
    return getattr(pretransform, "io_channels", None) or model.io_channels


def _run_with_progress(model, spec, request, the_plan):
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from audiodiff.runtime.generate import generate

    with Progress(TextColumn("sampling"), BarColumn(), TextColumn("{task.completed}/{task.total} steps"),
                  TimeRemainingColumn(), transient=True, disable=not sys.stderr.isatty()) as progress:
        task = progress.add_task("sample", total=the_plan.settings.steps)

        def advance(step: int, steps: int, x) -> None:
            progress.update(task, completed=step + 1)

        return generate(model, spec, request, the_plan, callback=advance)


def _load_model_source(source: Path, ckpt: Path | None, *, allow_partial: bool, t5_path: str | None):
    """(spec, model with weights, checkpoint path), or an exit code after reporting why not."""
    from audiodiff.compiler.checks import buildability
    from audiodiff.compiler.pipeline import check_file, check_text
    from audiodiff.runtime.checkpoints import CheckpointError, read_checkpoint

    checkpoint = None
    if source.suffix in CHECKPOINT_SUFFIXES:
        if ckpt is not None:
            print("error: give a config with `--ckpt`, or a checkpoint alone", file=sys.stderr)
            return 2
        ckpt = source
    if ckpt is not None:
        try:
            checkpoint = read_checkpoint(ckpt)
        except CheckpointError as error:
            return fail(str(ckpt), codes.CHECKPOINT_UNREADABLE, str(error))
    if source.suffix in CHECKPOINT_SUFFIXES:
        if checkpoint.config is None:
            return fail(str(source), codes.CHECKPOINT_UNREADABLE, "the checkpoint carries no config",
                        help="pass the model config first and the checkpoint with `--ckpt`")
        import json

        check = check_text(json.dumps(checkpoint.config, indent=2), f"{source} (embedded config)")
    else:
        check = check_file(source)
    diagnostics = list(check.diagnostics)
    if check.graph is not None:
        from audiodiff.compiler.pipeline import _locate

        diagnostics.extend(_locate(buildability(check.graph, strict=True), check.path, check.document))
    if any(d.is_error for d in diagnostics) or check.spec is None:
        return report(check.path, diagnostics, check.result().line)
    if check.kind != "model":
        return fail(check.path, codes.RUN_SETTING, "a dataset config cannot be sampled; pass a model config")
    if checkpoint is None:
        return fail(str(source), codes.CHECKPOINT_PARTIAL, "no checkpoint given: the model would be random",
                    help="pass the trained weights with `--ckpt PATH`")
    return _build_and_load(check.spec, checkpoint, allow_partial=allow_partial, t5_path=t5_path)


def _build_and_load(spec, checkpoint, *, allow_partial: bool, t5_path: str | None):
    import torch

    from audiodiff.compiler.materialize import BuildError, BuildOptions, build_model
    from audiodiff.runtime.checkpoints import PartialLoadError, coverage, load_checkpoint_into

    try:
        skeleton = build_model(spec, BuildOptions(device="meta", t5_model_path=t5_path))
    except BuildError as error:
        return fail(checkpoint.path, codes.NOT_BUILDABLE, error.message, pointer=error.pointer)
    report_before = coverage(skeleton, checkpoint.state_dict)
    if not report_before.complete and not allow_partial:
        sys.stderr.write(f"coverage of {checkpoint.path}:\n{report_before.render()}\n")
        return fail(checkpoint.path, codes.CHECKPOINT_PARTIAL,
                    "the checkpoint does not cover the model: a partial load would leave weights random",
                    help="fix the config or the checkpoint, or pass `--allow-partial` to sample anyway")
    model = build_model(spec, BuildOptions(t5_model_path=t5_path))
    try:
        result = load_checkpoint_into(model, checkpoint, allow_partial=allow_partial)
    except PartialLoadError as error:  # unreachable after the meta check, kept for safety
        sys.stderr.write(error.report.render() + "\n")
        return 1
    if not result.complete:
        sys.stderr.write(f"partial load of {checkpoint.path}; these stay random:\n{result.render()}\n")
    conditioner = getattr(model, "conditioner", None)
    if conditioner is not None:
        from audiodiff.nn.errors import MissingExtraError, MissingWeightsError

        try:
            conditioner.load_weights()
        except (MissingWeightsError, MissingExtraError) as error:
            return fail(checkpoint.path, codes.CHECKPOINT_PARTIAL, f"external encoder weights are missing: {error}",
                        help="put the encoder in the local Hugging Face cache, or pass `--t5-path DIR`")
    model.eval()
    torch.set_grad_enabled(False)
    return spec, model, checkpoint.path
