"""`audiodiff run CONFIG --dataset DATASET`: train a diffusion model; problems are reported as diagnostics."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from audiodiff.cli.options import SET_HELP, Accelerator, LoggerKind, Precision, Strategy, parse_overrides


def command(
    config: Path = typer.Argument(..., help="The model config (JSON or YAML) with its `training` section."),
    dataset: Path = typer.Option(..., "--dataset", "-d", help="The dataset config (`audio_dir` or `pre_encoded`)."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Run folder (default: runs/<config name>)."),
    max_steps: int | None = typer.Option(
        None, "--max-steps", min=1, max=10**9, help="Stop after this many optimizer steps."
    ),
    batch_size: int = typer.Option(4, "--batch-size", "-b", min=1, max=1_000_000, help="Items per batch and device."),
    precision: Precision | None = typer.Option(None, "--precision", help="Default: 32 on CPU, bf16-mixed on GPU."),
    devices: int = typer.Option(1, "--devices", min=1, max=4096, help="Devices (GPUs, or CPU processes) per node."),
    num_nodes: int = typer.Option(
        1, "--num-nodes", min=1, max=4096, help="Machines (Lightning's usual environment variables)."
    ),
    strategy: Strategy = typer.Option(Strategy.auto, "--strategy", help="Distribution strategy (Lightning's)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the newest checkpoint in the run folder."),
    force_resume: bool = typer.Option(False, "--force-resume", help="Resume even across unsafe config changes."),
    seed: int = typer.Option(42, "--seed", help="Seed of the initial weights, the data order and the noise."),
    logger: LoggerKind | None = typer.Option(None, "--logger", help="Default: tensorboard when installed."),
    project: str | None = typer.Option(None, "--project", help="The wandb project (default: audiodiff)."),
    run_name: str | None = typer.Option(
        None, "--run-name", help="The logged run's name (default: the output folder's name)."
    ),
    checkpoint_every: int = typer.Option(
        1000, "--checkpoint-every", min=1, max=10**9, help="Steps between checkpoints."
    ),
    keep_checkpoints: int = typer.Option(
        3, "--keep-checkpoints", min=1, max=1_000_000, help="How many checkpoints to keep."
    ),
    num_workers: int | None = typer.Option(None, "--num-workers", min=0, max=1024, help="Data-loader processes."),
    accumulate: int = typer.Option(
        1, "--accumulate-grad-batches", min=1, max=1_000_000, help="Batches per optimizer step."
    ),
    gradient_clip: float | None = typer.Option(
        None, "--gradient-clip-val", min=0.0, help="Clip the gradient norm (default: `training.clip_grad_norm`)."
    ),
    allow_metadata_module: bool = typer.Option(
        False, "--allow-metadata-module", help="Run the dataset's `custom_metadata_module` (Python code)."
    ),
    allow_pipe: bool = typer.Option(
        False, "--allow-pipe", help="Run the shell commands of the dataset's `pipe:` shard URLs."
    ),
    init: list[str] = typer.Option(
        [],
        "--init",
        metavar="[PART=]CKPT",
        help="Start a new run from these weights: a whole model, or one part (backbone, conditioner, pretransform; "
        "encoder, decoder, bottleneck of an autoencoder). Repeatable. Checked before the model is built.",
    ),
    allow_partial: bool = typer.Option(
        False, "--allow-partial", help="Let `--init` leave the tensors it does not cover random (they are listed)."
    ),
    pretransform_ckpt: Path | None = typer.Option(
        None, "--pretransform-ckpt", help="Weights of an `autoencoder` pretransform (= `--init pretransform=CKPT`)."
    ),
    t5_path: str | None = typer.Option(None, "--t5-path", help="A local T5 folder (else the local HF cache)."),
    accelerator: Accelerator = typer.Option(Accelerator.auto, "--accelerator", help="Where to train."),
    gradient_checkpointing: str = typer.Option(
        "auto",
        "--gradient-checkpointing",
        metavar="auto|on|off",
        help="Recompute DiT blocks in backward to save memory; `auto`: when a step is estimated not to fit.",
    ),
    overrides: list[str] = typer.Option([], "--set", metavar="PATH=VALUE", help=SET_HELP + " Model config only."),
    check: bool = typer.Option(
        False,
        "--check",
        help="Run every check of `run` (configs, the rules between "
        "them, the dataset, settings, resume) and stop before building the model.",
    ),
) -> None:
    """Train a diffusion model with PyTorch Lightning: EMA, demos, safe checkpoints, resume, DDP / FSDP.

    Both configs, the rules between them, the settings and the dataset's files are checked before the model is
    built; `--check` runs only those checks, without importing torch. Ctrl-C saves a checkpoint and stops;
    `--resume` continues the step count, optimizer, scheduler, EMA and random streams, and refuses config
    changes that the checkpoint cannot absorb.

    Examples:

      audiodiff run examples/toy_dit.json --dataset examples/toy_dataset.json --output runs/demo --max-steps 500

      audiodiff run model.json -d data.json -o runs/a --resume

      audiodiff run examples/toy_dit.json --dataset examples/toy_dataset.json --check

      audiodiff run model.json -d data.json --set training.learning_rate=3e-4 --set model.diffusion.config.depth=8

      audiodiff run model.json -d data.json --devices 4 --strategy ddp --precision bf16-mixed

      audiodiff run model.json -d data.json -o runs/ft --init model.safetensors --logger wandb --project my-finetune

      audiodiff run sao.json -d data.json --init sao.safetensors --init pretransform=my_vae.ckpt
    """
    raise typer.Exit(
        run_training(
            config,
            dataset=dataset,
            output=output,
            max_steps=max_steps,
            batch_size=batch_size,
            precision=precision.value if precision is not None else None,
            devices=devices,
            num_nodes=num_nodes,
            strategy=strategy.value,
            resume=resume,
            force_resume=force_resume,
            seed=seed,
            logger=logger.value if logger is not None else None,
            project=project,
            run_name=run_name,
            checkpoint_every=checkpoint_every,
            keep_checkpoints=keep_checkpoints,
            num_workers=num_workers,
            accumulate_grad_batches=accumulate,
            gradient_clip_val=gradient_clip,
            allow_metadata_module=allow_metadata_module,
            allow_pipe=allow_pipe,
            pretransform_ckpt=pretransform_ckpt,
            init=init,
            allow_partial=allow_partial,
            t5_path=t5_path,
            accelerator=accelerator.value,
            gradient_checkpointing=gradient_checkpointing,
            check=check,
            overrides=parse_overrides(overrides),
        )
    )


def run_training(
    config: Path,
    *,
    dataset: Path,
    output: Path | None,
    max_steps: int | None,
    batch_size: int,
    precision: str | None,
    devices: int,
    num_nodes: int,
    strategy: str,
    resume: bool,
    force_resume: bool,
    seed: int,
    logger: str | None,
    checkpoint_every: int,
    keep_checkpoints: int,
    num_workers: int | None,
    accumulate_grad_batches: int,
    gradient_clip_val: float | None,
    allow_metadata_module: bool,
    pretransform_ckpt: Path | None,
    allow_pipe: bool = False,
    t5_path: str | None,
    accelerator: str,
    gradient_checkpointing: str = "auto",
    check: bool = False,
    overrides: list | None = None,
    init: list[str] | None = None,
    allow_partial: bool = False,
    project: str | None = None,
    run_name: str | None = None,
) -> int:
    from audiodiff.diagnostics.render import text as text_renderer
    from audiodiff.runtime.run import RunError, RunOptions, prepare, run

    options = RunOptions(
        config=config,
        dataset=dataset,
        output=output if output is not None else Path("runs") / config.stem,
        max_steps=max_steps,
        batch_size=batch_size,
        precision=precision,
        devices=devices,
        num_nodes=num_nodes,
        strategy=strategy,
        resume=resume,
        force_resume=force_resume,
        seed=seed,
        logger=logger,
        project=project,
        run_name=run_name,
        checkpoint_every=checkpoint_every,
        keep_checkpoints=keep_checkpoints,
        num_workers=num_workers,
        accumulate_grad_batches=accumulate_grad_batches,
        gradient_clip_val=gradient_clip_val,
        allow_metadata_module=allow_metadata_module,
        allow_pipe=allow_pipe,
        pretransform_ckpt=pretransform_ckpt,
        init=tuple(init or ()),
        allow_partial=allow_partial,
        t5_path=t5_path,
        accelerator=accelerator,
        gradient_checkpointing=gradient_checkpointing,
        overrides=tuple(overrides or ()),
    )
    if check:
        try:
            plan = prepare(options, dry_run=True)
        except RunError as error:
            _report(error)
            return 1
        warnings = [result for result in plan.findings.results() if result.diagnostics]
        if warnings:
            sys.stderr.write(text_renderer.render(warnings, summary=False))
        print(_check_summary(plan, options))
        return 0
    try:
        outcome = run(options)
    except RunError as error:
        _report(error)
        return 1
    except KeyboardInterrupt:  # the second Ctrl-C: no checkpoint of this step, and no traceback
        print(
            f"\ninterrupted: stopped at once; `--resume` continues from the newest checkpoint in "
            f"{options.output / 'checkpoints'}",
            file=sys.stderr,
        )
        return 130
    from audiodiff.runtime.launch import format_outcome
    from audiodiff.runtime.run import is_rank_zero

    if is_rank_zero():
        print(format_outcome(outcome), file=sys.stderr)
    return 0


def _report(error) -> None:
    from audiodiff.diagnostics.render import text as text_renderer

    sys.stderr.write(text_renderer.render(error.results))
    if error.detail:
        sys.stderr.write(error.detail + "\n")


def _check_summary(plan, options) -> str:
    """What `run --check` verified, in one paragraph: enough to trust that `run` would start."""
    scan = plan.preflight.scan
    files = f"{len(scan.files)} file(s)" if scan is not None else "no files"
    skipped = ""
    if scan is not None and scan.skipped:
        from audiodiff.runtime.scan import skipped_files

        skipped = f", {len(scan.skipped)} skipped: {skipped_files(scan.skipped)}"
    resume = f"resume from `{plan.resume_from.name}` checked" if plan.resume_from is not None else "a new run"
    return (
        f"run --check: all checks passed for {options.config} with {options.dataset}: {files}{skipped}; "
        f"{plan.accelerator}, precision {plan.precision}; {resume} in {options.output}. No model was built."
    )
