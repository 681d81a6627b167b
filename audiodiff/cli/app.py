"""The `audiodiff` command line. Each command is a thin signature here; its work lives in its own module, imported
only when that command runs, so `audiodiff validate` never pays for torch or Lightning."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from audiodiff import __version__

app = typer.Typer(
    name="audiodiff",
    help="Validate, compile, train and sample audio diffusion models from stable-audio-tools configs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
schema_app = typer.Typer(help="Export the config schema for editors and other validators.", no_args_is_help=True)
app.add_typer(schema_app, name="schema")
ckpt_app = typer.Typer(help="Inspect checkpoints and export them in the released layout.", no_args_is_help=True)
app.add_typer(ckpt_app, name="ckpt")


class OutputFormat(str, Enum):
    text = "text"
    json = "json"
    github = "github"
    sarif = "sarif"
    junit = "junit"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"audiodiff {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Validate, compile, train and sample audio diffusion models from stable-audio-tools configs."""


@app.command()
def validate(
    paths: list[Path] = typer.Argument(..., help="Config files (JSON or YAML), or folders to search for them."),
    format: OutputFormat = typer.Option(OutputFormat.text, "--format", "-f", help="Output format."),
    strict: bool = typer.Option(False, "--strict", help="Treat warnings as errors for the exit code."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Add a documentation link to each diagnostic."),
) -> None:
    """Check configs against the schema, every cross-field rule and the graph's width contracts.

    All problems of all files are reported in one pass, each with file:line:col, a JSON pointer, a code and a
    fix hint. Exit code 0: no errors; 1: errors found; 2: usage error.

    Examples:

      audiodiff validate model_config.json

      audiodiff validate configs/ --format json
    """
    from audiodiff.cli.validate import run_validate

    raise typer.Exit(run_validate(paths, format.value, strict=strict, verbose=verbose))


@app.command()
def lint(
    paths: list[Path] = typer.Argument(..., help="Folders to search for configs, or config files."),
    format: OutputFormat = typer.Option(OutputFormat.text, "--format", "-f", help="Output format."),
    strict: bool = typer.Option(False, "--strict", help="Treat warnings as errors for the exit code."),
    exclude: list[str] = typer.Option([], "--exclude", help="Skip paths matching this .gitignore-style pattern."),
    select: list[str] = typer.Option([], "--select", help="Report only these codes (AD201, prefixes like AD7, names)."),
    ignore: list[str] = typer.Option([], "--ignore", help="Never report these codes (comma-separated)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Add documentation links and value provenance."),
) -> None:
    """Lint every model and dataset config below PATHS in one process, for CI and pre-commit.

    Files are picked up by extension (.json .yaml .yml) and content (a `model_type` or `dataset_type` key);
    other files are skipped and counted. On top of `validate`, lint warns about unrouted conditioners,
    non-canonical spellings, a missing `schema_version`, migrated defaults, long demo rounds and `seconds_start`
    with random crops of pre-encoded data. Settings and per-file ignores come from the `tool.audiodiff` table
    of pyproject.toml.

    Examples:

      audiodiff lint configs/

      audiodiff lint . --format sarif > audiodiff.sarif

      audiodiff lint . --ignore AD703,AD901 --exclude 'legacy/'
    """
    from audiodiff.cli.lint import run_lint

    raise typer.Exit(run_lint(paths, format.value, strict=strict, exclude=exclude, select=select, ignore=ignore,
                              verbose=verbose))


@app.command()
def migrate(
    paths: list[Path] = typer.Argument(..., help="Config files (JSON or YAML), or folders to search for them."),
    to: Optional[int] = typer.Option(None, "--to", help="Target schema version (default: the newest)."),
    write: bool = typer.Option(False, "--write", help="Rewrite the files in place instead of printing a diff."),
    check: bool = typer.Option(False, "--check", help="Exit 1 when a file is not written in the target version."),
) -> None:
    """Move configs to another schema version; prints a unified diff unless --write or --check.

    Key order, indentation and comments are kept. Older files are also migrated in memory whenever audiodiff
    reads them, so migrating is about making the file say what audiodiff already reads.

    Examples:

      audiodiff migrate model_config.json

      audiodiff migrate configs/ --write

      audiodiff migrate configs/ --check
    """
    from audiodiff.cli.migrate import run_migrate

    raise typer.Exit(run_migrate(paths, to=to, write=write, check=check))


class ExplainFormat(str, Enum):
    text = "text"
    json = "json"
    dot = "dot"


class Precision(str, Enum):
    fp32 = "32"
    bf16_mixed = "bf16-mixed"
    fp16_mixed = "16-mixed"


@app.command()
def compile(
    config: Path = typer.Argument(..., help="A model config (JSON or YAML)."),
    explain: bool = typer.Option(False, "--explain", help="Print the graph, routes, derived quantities and memory."),
    format: ExplainFormat = typer.Option(ExplainFormat.text, "--format", "-f", help="Output format."),
    params: bool = typer.Option(False, "--params", help="Cross-check parameter counts on torch's meta device."),
    batch: int = typer.Option(8, "--batch", min=1, help="Batch size for the memory estimate."),
    precision: Precision = typer.Option(Precision.bf16_mixed, "--precision", help="Precision for the estimate."),
    strict: bool = typer.Option(False, "--strict", help="Treat warnings as errors for the exit code."),
) -> None:
    """Lower a config into a typed graph of modules with static shape checks, without allocating weights.

    Examples:

      audiodiff compile model_config.json --explain

      audiodiff compile model_config.json --explain --format json --batch 4 --precision 32

      audiodiff compile model_config.json --explain --format dot | dot -Tsvg > graph.svg
    """
    from audiodiff.cli.compile import run_compile

    raise typer.Exit(run_compile(config, explain=explain, format=format.value, params=params, batch=batch,
                                 precision=precision.value, strict=strict))


@app.command()
def sample(
    source: Path = typer.Argument(..., help="A model config, or a checkpoint that carries its config."),
    ckpt: Optional[Path] = typer.Option(None, "--ckpt", help="The trained weights (Lightning, .ckpt, .safetensors)."),
    prompt: Optional[str] = typer.Option(None, "--prompt", help="Text for the `prompt` conditioner."),
    negative_prompt: Optional[str] = typer.Option(None, "--negative-prompt", help="Text to steer away from."),
    cond: list[str] = typer.Option([], "--cond", help="Conditioning ID=VALUE (repeatable); values are JSON or text."),
    seconds: Optional[float] = typer.Option(None, "--seconds", help="Length of the output (default: sample_size)."),
    steps: int = typer.Option(100, "--steps", help="Sampler steps."),
    cfg_scale: float = typer.Option(6.0, "--cfg-scale", help="Classifier-free guidance scale."),
    sampler: Optional[str] = typer.Option(None, "--sampler", help="Sampler name (default: the objective's)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the initial noise and of stochastic samplers."),
    batch: int = typer.Option(1, "--batch", help="Number of clips."),
    out: Path = typer.Option(..., "--out", help="Output file (.wav or .flac); batches add _1, _2, ..."),
    allow_partial: bool = typer.Option(False, "--allow-partial", help="Sample even if the checkpoint is partial."),
    t5_path: Optional[str] = typer.Option(None, "--t5-path", help="A local T5 folder (else the local HF cache)."),
    init_audio: Optional[Path] = typer.Option(None, "--init-audio", help="Audio to start from (audio-to-audio)."),
    init_noise_level: float = typer.Option(1.0, "--init-noise-level", help="Noise level added to the init audio."),
    device: Optional[str] = typer.Option(None, "--device", help="Where to run: `cpu`, `cuda`, `cuda:1` (default: "
                                         "`cuda` when available)."),
    force: bool = typer.Option(False, "--force", help="Replace output files that exist."),
) -> None:
    """Generate audio with a trained model; every setting is checked against the model first.

    Examples:

      audiodiff sample config.json --ckpt model.safetensors --prompt "warm pads" --seconds 10 --out pads.wav

      audiodiff sample model.safetensors --cond class=chirp --steps 50 --sampler dpmpp-2m --seed 3 --out chirp.wav
    """
    from audiodiff.cli.sample import SampleOptions, run_sample

    options = SampleOptions(ckpt=ckpt, prompt=prompt, negative_prompt=negative_prompt, cond=cond, seconds=seconds,
                            steps=steps, cfg_scale=cfg_scale, sampler=sampler, seed=seed, batch=batch, out=out,
                            allow_partial=allow_partial, t5_path=t5_path, init_audio=init_audio,
                            init_noise_level=init_noise_level, device=device, force=force)
    raise typer.Exit(run_sample(source, options))


class InspectFormat(str, Enum):
    text = "text"
    json = "json"


@ckpt_app.command("inspect")
def ckpt_inspect(
    path: Path = typer.Argument(..., help="A checkpoint: Lightning .ckpt, released .ckpt or .safetensors."),
    format: InspectFormat = typer.Option(InspectFormat.text, "--format", "-f", help="Output format."),
) -> None:
    """Kind, key layout, embedded config (and whether it validates), schema version, parameters, EMA.

    Example: audiodiff ckpt inspect runs/demo/checkpoints/last.ckpt
    """
    from audiodiff.cli.ckpt import run_inspect

    raise typer.Exit(run_inspect(path, format=format.value))


@ckpt_app.command("export")
def ckpt_export(
    path: Path = typer.Argument(..., help="A Lightning (or released) checkpoint."),
    out: Path = typer.Option(..., "--out", help="The .safetensors file to write."),
    no_ema: bool = typer.Option(False, "--no-ema", help="Export the online weights even when EMA is present."),
    force: bool = typer.Option(False, "--force", help="Replace the output file if it exists."),
) -> None:
    """Write the stable-audio-tools released layout (the EMA backbone when present) as safetensors.

    Example: audiodiff ckpt export runs/demo/checkpoints/last.ckpt --out model.safetensors
    """
    from audiodiff.cli.ckpt import run_export

    raise typer.Exit(run_export(path, out=out, no_ema=no_ema, force=force))


class Strategy(str, Enum):
    auto = "auto"
    ddp = "ddp"
    fsdp = "fsdp"


class LoggerKind(str, Enum):
    tensorboard = "tensorboard"
    csv = "csv"


class Accelerator(str, Enum):
    auto = "auto"
    cpu = "cpu"
    gpu = "gpu"


@app.command()
def run(
    config: Path = typer.Argument(..., help="The model config (JSON or YAML) with its `training` section."),
    dataset: Path = typer.Option(..., "--dataset", "-d", help="The dataset config (`audio_dir` or `pre_encoded`)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Run folder (default: runs/<config name>)."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", min=1, help="Stop after this many optimizer steps."),
    batch_size: int = typer.Option(4, "--batch-size", "-b", min=1, help="Items per batch and device."),
    precision: Optional[Precision] = typer.Option(None, "--precision", help="Default: 32 on CPU, bf16-mixed on GPU."),
    devices: int = typer.Option(1, "--devices", min=1, help="Devices (GPUs, or CPU processes) per node."),
    num_nodes: int = typer.Option(1, "--num-nodes", min=1, help="Machines (Lightning's usual environment variables)."),
    strategy: Strategy = typer.Option(Strategy.auto, "--strategy", help="Distribution strategy (Lightning's)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the newest checkpoint in the run folder."),
    force_resume: bool = typer.Option(False, "--force-resume", help="Resume even across unsafe config changes."),
    seed: int = typer.Option(42, "--seed", help="Seed of the initial weights, the data order and the noise."),
    logger: Optional[LoggerKind] = typer.Option(None, "--logger", help="Default: tensorboard when installed."),
    checkpoint_every: int = typer.Option(1000, "--checkpoint-every", min=1, help="Steps between checkpoints."),
    keep_checkpoints: int = typer.Option(3, "--keep-checkpoints", min=1, help="How many checkpoints to keep."),
    num_workers: Optional[int] = typer.Option(None, "--num-workers", min=0, help="Data-loader processes."),
    accumulate: int = typer.Option(1, "--accumulate-grad-batches", min=1, help="Batches per optimizer step."),
    gradient_clip: Optional[float] = typer.Option(None, "--gradient-clip-val", min=0.0,
                                                  help="Clip the gradient norm (default: `training.clip_grad_norm`)."),
    allow_metadata_module: bool = typer.Option(False, "--allow-metadata-module",
                                               help="Run the dataset's `custom_metadata_module` (Python code)."),
    pretransform_ckpt: Optional[Path] = typer.Option(None, "--pretransform-ckpt",
                                                     help="Weights of an `autoencoder` pretransform."),
    t5_path: Optional[str] = typer.Option(None, "--t5-path", help="A local T5 folder (else the local HF cache)."),
    accelerator: Accelerator = typer.Option(Accelerator.auto, "--accelerator", help="Where to train."),
    gradient_checkpointing: str = typer.Option(
        "auto", "--gradient-checkpointing", metavar="auto|on|off",
        help="Recompute DiT blocks in backward to save memory; `auto`: when a step is estimated not to fit."),
) -> None:
    """Train a diffusion model with PyTorch Lightning: EMA, demos, safe checkpoints, resume, DDP / FSDP.

    Both configs, the rules between them, the settings and the dataset's files are checked before the model is
    built. Ctrl-C saves a checkpoint and stops; `--resume` continues the step count, optimizer, scheduler, EMA
    and random streams, and refuses config changes that the checkpoint cannot absorb.

    Examples:

      audiodiff run examples/toy_dit.json --dataset examples/toy_dataset.json --output runs/demo --max-steps 500

      audiodiff run model.json -d data.json -o runs/a --resume

      audiodiff run model.json -d data.json --devices 4 --strategy ddp --precision bf16-mixed
    """
    from audiodiff.cli.run import run_training

    raise typer.Exit(run_training(
        config, dataset=dataset, output=output, max_steps=max_steps, batch_size=batch_size,
        precision=precision.value if precision is not None else None, devices=devices, num_nodes=num_nodes,
        strategy=strategy.value, resume=resume, force_resume=force_resume, seed=seed,
        logger=logger.value if logger is not None else None, checkpoint_every=checkpoint_every,
        keep_checkpoints=keep_checkpoints, num_workers=num_workers, accumulate_grad_batches=accumulate,
        gradient_clip_val=gradient_clip, allow_metadata_module=allow_metadata_module,
        pretransform_ckpt=pretransform_ckpt, t5_path=t5_path, accelerator=accelerator.value,
        gradient_checkpointing=gradient_checkpointing,
    ))


@app.command()
def encode(
    config: Path = typer.Argument(..., help="The model config whose pretransform encodes the audio."),
    dataset: Path = typer.Option(..., "--dataset", "-d", help="An `audio_dir` dataset config."),
    output: Path = typer.Option(..., "--output", "-o", help="Folder for the latents and their dataset config."),
    batch_size: int = typer.Option(8, "--batch-size", "-b", min=1, help="Files encoded at once."),
    pretransform_ckpt: Optional[Path] = typer.Option(None, "--pretransform-ckpt",
                                                     help="Weights of an `autoencoder` pretransform."),
    allow_metadata_module: bool = typer.Option(False, "--allow-metadata-module",
                                               help="Run the dataset's `custom_metadata_module` (Python code)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace latents an earlier encode wrote there."),
) -> None:
    """Encode a dataset through the model's pretransform, for `pre_encoded` training.

    Each file's first `sample_size` samples become `<dataset id>/<relpath>.npy` latents [channels, frames]
    (`a.wav` -> `a.wav.npy`; unscaled, as stable-audio-tools stores them) with `<relpath>.json` metadata;
    `DIR/dataset.json` is a ready dataset config. Existing files are never replaced without `--overwrite`, and
    the output may not lie inside a dataset folder.

    Example: audiodiff encode model.json --dataset data.json --output latents/ --pretransform-ckpt ae.ckpt
    """
    from audiodiff.cli.encode import run_encode

    raise typer.Exit(run_encode(config, dataset=dataset, output=output, batch_size=batch_size,
                                pretransform_ckpt=pretransform_ckpt, allow_metadata_module=allow_metadata_module,
                                overwrite=overwrite))


@schema_app.command("export")
def schema_export(
    version: Optional[int] = typer.Option(None, "--version", help="Schema version (default: the newest)."),
    kind: str = typer.Option("model", "--kind", help="`model` or `dataset` configs."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write to this file instead of stdout."),
) -> None:
    """Write the JSON Schema of model (or dataset) configs.

    Example: audiodiff schema export -o audiodiff.schema.json
    """
    from audiodiff.cli.schema import run_export

    raise typer.Exit(run_export(version, kind, output))


def main() -> None:
    app()
