"""`audiodiff ckpt inspect` and `audiodiff ckpt export`: what a checkpoint is, and its released form."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from audiodiff.cli.options import InspectFormat, renamed
from audiodiff.cli.report import fail
from audiodiff.diagnostics import codes

group = typer.Typer(help="Inspect checkpoints and export them in the released layout.", no_args_is_help=True)


@group.command("inspect")
def inspect_command(
    path: Path = typer.Argument(..., help="A checkpoint: Lightning .ckpt, released .ckpt or .safetensors."),
    format: InspectFormat = typer.Option(InspectFormat.text, "--format", "-f", help="Output format."),
) -> None:
    """Kind, key layout, embedded config (and whether it validates), schema version, parameters, EMA; for a LoRA
    adapter file, its layers, rank, size and the fingerprint of the base weights it needs.

    Example: audiodiff ckpt inspect runs/demo/checkpoints/step_0000500.ckpt
    """
    raise typer.Exit(run_inspect(path, format=format.value))


@group.command("export")
def export_command(
    path: Path = typer.Argument(..., help="A Lightning (or released) checkpoint."),
    output: Path | None = typer.Option(None, "--output", "-o", help="The .safetensors file to write."),
    out: Path | None = typer.Option(None, "--out", hidden=True, help="Old name of `--output`."),
    no_ema: bool = typer.Option(False, "--no-ema", help="Export the online weights even when EMA is present."),
    force: bool = typer.Option(False, "--force", help="Replace the output file if it exists."),
    merge: Path | None = typer.Option(
        None, "--merge", help="A LoRA adapter file to fold into the weights (its base fingerprint must match)."
    ),
) -> None:
    """Write the stable-audio-tools released layout (the EMA backbone when present) as safetensors.

    A LoRA run's own checkpoint has its adapters folded in; `--merge ADAPTER` folds an adapter file into a base
    checkpoint.

    Examples:

      audiodiff ckpt export runs/demo/checkpoints/step_0000500.ckpt -o model.safetensors

      audiodiff ckpt export BASE.safetensors --merge ADAPTER.safetensors -o tuned.safetensors
    """
    output = renamed(output, out, old="--out", new="--output")
    if output is None:
        raise typer.BadParameter("name the .safetensors file to write", param_hint="'--output' / '-o'")
    raise typer.Exit(run_export(path, out=output, no_ema=no_ema, force=force, merge=merge))


def run_inspect(path: Path, *, format: str) -> int:
    from audiodiff.runtime.checkpoints import CheckpointError, parameter_counts, read_checkpoint

    other = _other_kind(path)
    if other is not None:
        return fail(
            str(path),
            codes.CHECKPOINT_UNREADABLE,
            f"not a checkpoint: this is {other}",
            help="name a .ckpt (Lightning or released) or a .safetensors file",
        )
    from audiodiff.cli.ckpt_lora import inspect_adapters
    from audiodiff.runtime.adapters import is_adapter_file

    if is_adapter_file(path):
        return inspect_adapters(path, format=format)
    try:
        checkpoint = read_checkpoint(path, header_only=True)
    except CheckpointError as error:
        return fail(str(path), codes.CHECKPOINT_UNREADABLE, str(error))
    summary: dict[str, Any] = {
        "path": str(path),
        "kind": checkpoint.kind,
        "layout": checkpoint.layout,
        "tensors": len(checkpoint.state_dict),
        "parameters": parameter_counts(checkpoint.state_dict),
        "ema": {"present": checkpoint.has_ema, "used": checkpoint.used_ema},
        "schema_version": checkpoint.schema_version,
        "dropped": len(checkpoint.dropped),
        **checkpoint.extra,
    }
    from audiodiff.runtime.init_sources import servable_parts

    summary["init_parts"] = servable_parts(list(checkpoint.state_dict), checkpoint.layout)
    summary["config"] = _config_summary(checkpoint.config)
    if format == "json":
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
        return 0
    print(f"{path}")
    print(f"  kind            {checkpoint.kind}")
    print(f"  layout          {checkpoint.layout}")
    print(f"  tensors         {len(checkpoint.state_dict)}")
    for module, count in summary["parameters"].items():
        print(f"  {module:<15} {count:,} elements")
    print(
        f"  EMA             {'present' if checkpoint.has_ema else 'absent'}"
        + (" (its backbone is used)" if checkpoint.used_ema else "")
    )
    print(f"  schema version  {checkpoint.schema_version if checkpoint.schema_version is not None else 'not recorded'}")
    for key in ("global_step", "epoch"):
        if key in checkpoint.extra:
            print(f"  {key:<15} {checkpoint.extra[key]}")
    parts = summary["init_parts"]
    served = ", ".join(f"{part} ({count} tensors)" for part, count in parts.items()) or "none (no known layout)"
    print(f"  run --init      {served}")
    config = summary["config"]
    if config is None:
        print("  config          none embedded")
    else:
        state = "valid" if config["valid"] else f"INVALID ({config['errors']} error(s))"
        print(f"  config          {config['model_type']} ({state})")
        for message in config["messages"][:5]:
            print(f"      {message}")
    return 0


# the first bytes of files people pass by mistake, and what they are
_MAGIC = (
    (b"RIFF", "a WAV (RIFF) audio file"),
    (b"fLaC", "a FLAC audio file"),
    (b"OggS", "an Ogg audio file"),
    (b"ID3", "an MP3 audio file"),
    (b"FORM", "an AIFF audio file"),
    (b"\x93NUMPY", "a NumPy array (.npy)"),
    (b"\x89PNG", "a PNG image"),
)


def _other_kind(path: Path) -> str | None:
    """What a file is when its first bytes say it is something other than a checkpoint (None: it may be one)."""
    try:
        with open(path, "rb") as stream:
            head = stream.read(16)
    except OSError:
        return None  # read_checkpoint says why it cannot be read
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if head.lstrip()[:1] in (b"{", b"[") or path.suffix.lower() in (".json", ".yaml", ".yml"):
        return "a text file (a config?): checkpoints are binary"
    return None


def _config_summary(config: dict | None) -> dict[str, Any] | None:
    if config is None:
        return None
    from audiodiff.compiler.pipeline import check_text

    check = check_text(json.dumps(config, indent=2), "embedded config")
    errors = [d for d in check.diagnostics if d.is_error]
    return {
        "model_type": config.get("model_type"),
        "valid": not errors,
        "errors": len(errors),
        "messages": [f"{d.code.id} {d.pointer}: {d.message}" for d in errors],
    }


def run_export(path: Path, *, out: Path, no_ema: bool, force: bool, merge: Path | None = None) -> int:
    from audiodiff.runtime.checkpoints import CheckpointError, read_checkpoint, write_released
    from audiodiff.schema.versions import LATEST_VERSION

    if out.suffix != ".safetensors":
        print(f"error: `--output` must end in .safetensors, got `{out}`", file=sys.stderr)
        return 2
    if out.exists() and not force:
        return fail(
            str(out),
            codes.RUN_SETTING,
            "the output file exists already",
            help="choose another `--output`, or pass `--force` to replace it",
        )
    try:
        checkpoint = read_checkpoint(path, prefer_ema=not no_ema)
    except CheckpointError as error:
        return fail(str(path), codes.CHECKPOINT_UNREADABLE, str(error))
    if checkpoint.layout not in ("released", "lightning", "autoencoder"):
        return fail(str(path), codes.CHECKPOINT_UNREADABLE, "the checkpoint's keys follow no known layout")
    version = checkpoint.schema_version if checkpoint.schema_version is not None else LATEST_VERSION
    from audiodiff.cli.ckpt_lora import fold_adapters

    folded = fold_adapters(path, checkpoint, merge)
    if isinstance(folded, int):
        return folded
    state, config, note = folded
    checkpoint.state_dict, checkpoint.config = state, config
    from audiodiff.runtime.outputs import NonFiniteOutput

    try:
        write_released(out, checkpoint.state_dict, config=checkpoint.config, schema_version=version)
    except NonFiniteOutput as error:
        return fail(
            str(path),
            codes.NON_FINITE_OUTPUT,
            str(error),
            help="export an earlier checkpoint of the run, from before the weights diverged",
        )
    except OSError as error:
        return fail(
            str(out),
            codes.RUN_SETTING,
            f"cannot write the file: {error.strerror or error}",
            help="choose an `--output` in a folder you can write to",
        )
    source = "the EMA backbone" if checkpoint.used_ema else "the online weights"
    print(f"wrote {out}: {len(checkpoint.state_dict)} tensors in the released layout, from {source}{note}")
    return 0
