"""`audiodiff run`: validate and compile both configs and the rules between them, open and check the dataset,
then build the model and train it with PyTorch Lightning.

The order is the point: every mistake that can be found without a model (a config typo, a dataset that does not
fit the model, a setting this machine cannot honour, an unsafe resume) is reported, all at once, before a single
weight is allocated. Failures become `RunError`s carrying located diagnostics; the CLI renders them.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audiodiff.diagnostics import codes
from audiodiff.diagnostics.model import Diagnostic
from audiodiff.diagnostics.render import FileResult
from audiodiff.runtime.machine import Machine
from audiodiff.runtime.preflight import COMMAND_LINE, Findings, Preflight, check_configs
from audiodiff.runtime.run_folder import folder_problem

GRADIENT_CHECKPOINTING = ("auto", "on", "off")


@dataclass(frozen=True)
class RunOptions:
    config: Path
    dataset: Path
    output: Path
    max_steps: int | None = None  # None: until stopped
    batch_size: int = 4
    precision: str | None = None  # None: 32 on CPU, bf16-mixed (else 16-mixed) on GPUs
    devices: int = 1
    num_nodes: int = 1
    strategy: str = "auto"  # auto | ddp | fsdp
    resume: bool = False
    force_resume: bool = False
    seed: int = 42
    logger: str | None = None  # tensorboard | csv | wandb; None: tensorboard when installed
    project: str | None = None  # the wandb project (default: audiodiff)
    run_name: str | None = None  # the logged run's name (default: the output folder's name)
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    num_workers: int | None = None  # None: 0 on CPU, a few on GPUs
    accumulate_grad_batches: int = 1
    gradient_clip_val: float | None = None  # None: `training.clip_grad_norm` (0 = off)
    allow_metadata_module: bool = False
    allow_pipe: bool = False  # run the shell commands of `pipe:` shard URLs
    pretransform_ckpt: Path | None = None  # the same as `--init pretransform=PATH`
    init: tuple[str, ...] = ()  # `--init PATH` / `--init PART=PATH`: a new run from existing weights
    allow_partial: bool = False  # `--init` may leave tensors it does not cover random (they are listed)
    t5_path: str | None = None
    accelerator: str = "auto"
    progress: bool = True
    gradient_checkpointing: str = "auto"  # on | off | auto: on when training is estimated not to fit in memory
    overrides: tuple[Any, ...] = ()  # schema.overrides.Override: `--set` values applied to the model config


@dataclass
class RunOutcome:
    steps: int
    first_loss: float | None
    final_loss: float | None
    checkpoint: Path | None
    exported: Path | None
    stopped_early: bool
    seconds: float
    skipped_files: int = 0


class RunError(Exception):
    """The run cannot start (or had to stop); `results` holds the located diagnostics per file."""

    def __init__(self, results: list[FileResult], detail: str | None = None) -> None:
        super().__init__("; ".join(d.message for r in results for d in r.diagnostics if d.is_error))
        self.results = results
        self.detail = detail  # a report shown after the diagnostics (e.g. an `--init` coverage report)


@dataclass
class RunPlan:
    """What `prepare` found and decided: the checks' results, the machine settings, and what a resume continues."""

    preflight: Preflight
    findings: Findings
    checkpoints: Path
    resume_from: Path | None = None
    applied: list[str] = field(default_factory=list)  # config changes a resume takes over
    precision: str = "32"
    accelerator: str = "cpu"
    strategy: str = "auto"
    init: dict[str, Any] = field(default_factory=dict)  # part -> init_sources.InitSource serving it
    init_report: Any = None  # init_weights.InitReport, checked on the meta device (not in a dry run)


def run(options: RunOptions, *, echo: Callable[[str], None] | None = None) -> RunOutcome:
    echo = echo or (lambda text: print(text, file=sys.stderr, flush=True))
    if not is_rank_zero():  # the first process holds the folder for all of them
        return _run(options, echo)
    from audiodiff.runtime.run_lock import RunFolderLocked, hold_run_folder

    try:
        with hold_run_folder(options.output) as lock:
            if lock.stale is not None:
                echo(
                    f"note: `{options.output}` was left locked by a run that ended without releasing it "
                    f"({lock.stale.describe()}); taking it over"
                )
            return _run(options, echo)
    except RunFolderLocked as locked:
        raise RunError(
            [
                FileResult(
                    str(options.output),
                    [
                        Diagnostic(
                            codes.RUN_FOLDER_LOCKED,
                            str(locked),
                            None,
                            path=str(options.output),
                            help="wait for that run to finish, stop it, or choose another `--output`",
                        )
                    ],
                )
            ]
        ) from None
    except OSError as error:  # the folder cannot be created or the lock file written
        raise RunError(
            [
                FileResult(
                    str(options.output),
                    [
                        Diagnostic(
                            codes.OUTPUT_WRITE_FAILED,
                            f"`{options.output}` cannot be used as the run folder: {error.strerror or error}",
                            None,
                            path=str(options.output),
                        )
                    ],
                )
            ]
        ) from None


def _run(options: RunOptions, echo: Callable[[str], None]) -> RunOutcome:
    plan = prepare(options)
    warnings = [r for r in plan.findings.results() if r.diagnostics]
    if warnings and is_rank_zero():
        from audiodiff.diagnostics.render import text as text_renderer

        sys.stderr.write(text_renderer.render(warnings, summary=False))
    if plan.preflight.spec.model_type == "autoencoder":
        from audiodiff.runtime.autoencoder_launch import train_autoencoder

        return train_autoencoder(options, plan, echo)
    from audiodiff.runtime.launch import train

    return train(options, plan, echo)


def prepare(options: RunOptions, *, dry_run: bool = False) -> RunPlan:
    """Every check that needs no model; raises RunError with all findings when any is an error.

    `dry_run` (`audiodiff run --check`) makes the same checks without importing torch or Lightning: the machine
    is read from the driver's device list instead of torch, and a resume is judged against the config that the
    checkpoint's exported `.safetensors` beside it carries."""
    from audiodiff.runtime.init_sources import InitUsageError, parse_init

    try:
        sources = parse_init(options.init, options.pretransform_ckpt)
    except InitUsageError as error:
        raise RunError([FileResult(COMMAND_LINE, [_setting(str(error))])]) from None
    preflight = check_configs(
        options.config,
        options.dataset,
        allow_metadata_module=options.allow_metadata_module,
        allow_pipe=options.allow_pipe,
        pretransform_ckpt=options.pretransform_ckpt,
        overrides=options.overrides,
        init=sources,
    )
    findings = preflight.findings
    plan = RunPlan(preflight, findings, Path(options.output) / "checkpoints", init=preflight.init)
    from audiodiff.runtime.machine import light_machine, torch_machine

    for diagnostic in _settings(options, plan, light_machine() if dry_run else torch_machine()):
        findings.add(COMMAND_LINE, diagnostic)
    if not findings.has_errors and plan.resume_from is not None:
        _check_resume(plan, options, dry_run=dry_run)
    detail = None
    if not findings.has_errors and plan.init and not dry_run:
        from audiodiff.runtime.init_check import check_init_fit

        detail = check_init_fit(plan, options)
    if findings.has_errors:
        raise RunError(findings.results(), detail=detail)
    return plan


def _setting(message: str, help: str | None = None) -> Diagnostic:
    return Diagnostic(codes.RUN_SETTING, message, None, path=COMMAND_LINE, help=help)


def _settings(options: RunOptions, plan: RunPlan, machine: Machine) -> list[Diagnostic]:
    """Command-line settings this machine and this model can honour (AD807)."""
    found = []
    cuda = machine.cuda_devices > 0
    accelerator = options.accelerator if options.accelerator != "auto" else ("gpu" if cuda else "cpu")
    if accelerator == "gpu" and not cuda:
        found.append(_setting("`--accelerator gpu` was asked for, but this machine shows no CUDA device"))
    plan.accelerator = accelerator
    world = options.devices * options.num_nodes
    if options.strategy == "fsdp" and accelerator != "gpu":
        found.append(
            _setting(
                "`--strategy fsdp` needs CUDA devices, and this run is on the CPU",
                help="use `--strategy ddp` for several CPU processes",
            )
        )
    if accelerator == "gpu" and cuda and options.devices > machine.cuda_devices:
        found.append(
            _setting(
                f"`--devices {options.devices}` asks for more GPUs than the {machine.cuda_devices} this machine has"
            )
        )
    plan.strategy = options.strategy if options.strategy != "auto" else ("ddp" if world > 1 else "auto")
    shards = plan.preflight.shards
    if shards is not None and sum(len(source.urls) for source in shards) < world:
        found.append(
            _setting(
                f"the dataset has {sum(len(source.urls) for source in shards)} shard(s), fewer than the {world} "
                "training processes (`--devices` x `--num-nodes`), so some would have nothing to read",
                help="split the data into at least as many shards as processes",
            )
        )
    precision = options.precision
    if precision is None:
        precision = "32" if accelerator == "cpu" else ("bf16-mixed" if machine.bf16 else "16-mixed")
    if precision == "16-mixed" and accelerator == "cpu":
        found.append(_setting("`--precision 16-mixed` runs on GPUs only", help="use `bf16-mixed` or `32` on the CPU"))
    plan.precision = precision
    existing = _checkpoints_present(plan.checkpoints)
    if options.resume:
        if not existing:
            found.append(
                _setting(
                    f"`--resume` was given, but `{plan.checkpoints}` holds no checkpoint",
                    help="drop `--resume` to start a new run",
                )
            )
        else:
            from audiodiff.runtime.run_folder import latest_checkpoint

            plan.resume_from = latest_checkpoint(plan.checkpoints)
    elif existing:
        found.append(
            _setting(
                f"`{options.output}` already holds checkpoints of an earlier run",
                help="pass `--resume` to continue it, or choose another `--output`",
            )
        )
    if options.logger == "wandb":
        import importlib.util

        if importlib.util.find_spec("wandb") is None:
            found.append(
                _setting(
                    "`--logger wandb` needs the wandb package, which is not installed",
                    help="pip install 'audiodiff[wandb]' (WANDB_MODE=offline logs without a network)",
                )
            )
    if options.init and options.resume:
        found.append(
            _setting(
                "`--init` starts a new run from existing weights, and `--resume` continues this run's own",
                help="drop `--init` to continue the run, or choose another `--output` for a new one",
            )
        )
    if options.allow_partial and not (options.init or options.pretransform_ckpt):
        found.append(_setting("`--allow-partial` only makes sense with `--init`"))
    if options.force_resume and not options.resume:
        found.append(_setting("`--force-resume` only makes sense with `--resume`"))
    problem = folder_problem(Path(options.output))
    if problem is not None:
        found.append(
            Diagnostic(
                codes.OUTPUT_WRITE_FAILED,
                f"`--output {options.output}` cannot be the run folder: {problem}",
                None,
                path=COMMAND_LINE,
            )
        )
    if options.gradient_clip_val is not None and not math.isfinite(options.gradient_clip_val):
        found.append(_setting("`--gradient-clip-val` must be a finite number (0 turns clipping off)"))
    for flag, name in (("--project", options.project), ("--run-name", options.run_name)):
        if name is not None and not _is_plain_name(name):
            found.append(
                _setting(
                    f"`{flag} {name!r}` is not a usable name: loggers make folders of it",
                    help="use letters, digits, `-`, `_` and `.`, without `/` (and not `.` or `..`)",
                )
            )
    if options.t5_path is not None and not Path(options.t5_path).is_dir():
        found.append(_setting(f"`--t5-path {options.t5_path}` is not a folder"))
    if options.gradient_checkpointing not in GRADIENT_CHECKPOINTING:
        found.append(
            _setting(
                f"`--gradient-checkpointing {options.gradient_checkpointing}` is not one of "
                + ", ".join(f"`{choice}`" for choice in GRADIENT_CHECKPOINTING)
            )
        )
    return found


def _is_plain_name(name: str) -> bool:
    """A logger's project or run name that is safe as one folder name: no separators, no control characters."""
    return bool(name.strip()) and name not in (".", "..") and name.isprintable() and not any(c in name for c in "/\\")


def _checkpoints_present(folder: Path) -> bool:
    from audiodiff.runtime.run_folder import list_checkpoints

    return bool(list_checkpoints(folder))


def _check_resume(plan: RunPlan, options: RunOptions, *, dry_run: bool = False) -> None:
    """Compare the checkpoint's config with the current one: refuse unsafe changes unless forced (AD804)."""
    from audiodiff.compiler.pipeline import locate
    from audiodiff.runtime.resume import diff_configs, normalised

    model = plan.preflight.model
    path = plan.resume_from
    assert path is not None
    try:
        payload = _dry_resume_payload(path) if dry_run else _resume_payload(path)
    except Exception as error:  # a damaged file is reported, never shown as a traceback
        plan.findings.add(
            str(path),
            Diagnostic(
                codes.CHECKPOINT_UNREADABLE,
                f"the checkpoint could not be read: {str(error).splitlines()[0] if str(error) else error!r}",
                None,
                path=str(path),
                help="delete it to resume from the one before",
            ),
        )
        return
    old = payload.get("model_config")
    if not isinstance(old, dict):
        plan.findings.add(
            str(path),
            Diagnostic(
                codes.CHECKPOINT_UNREADABLE,
                "the checkpoint carries no `model_config`, so the resume cannot be checked",
                None,
                path=str(path),
            ),
        )
        return
    if model.migration is not None:
        new = model.migration.data
    else:
        new = model.document.data if model.document is not None else None
    if new is None:
        return  # a config that could not be read is reported by its own check
    old_view, new_view = normalised(old), normalised(new)
    changes = diff_configs(old_view if old_view is not None else old, new_view if new_view is not None else new)
    found = []
    for change in changes:
        if change.kind == "unsafe" and not options.force_resume:
            found.append(
                Diagnostic(
                    codes.RESUME_UNSAFE_CHANGE,
                    f"`{change.pointer}` changed from {_value(change.old)}"
                    f" to {_value(change.new)} since `{path.name}` was written ({change.reason})",
                    change.pointer,
                    help="undo the change, start a new run with another `--output`, "
                    "or pass `--force-resume` to resume anyway",
                )
            )
        else:
            note = "" if change.kind == "safe" else f" ({change.reason}, applied from the next step)"
            plan.applied.append(f"{change.describe()}{note}")
    plan.findings.extend(model.path, locate(model, found))
    recorded = payload.get("audiodiff")
    previous: dict[str, Any] = recorded if isinstance(recorded, dict) else {}
    for name, now in (("batch_size", options.batch_size), ("seed", options.seed)):
        if name in previous and previous[name] != now:
            plan.applied.append(
                f"--{name.replace('_', '-')} {previous[name]} -> {now} (the data stream and noise "
                "continue differently from here)"
            )


def _resume_payload(path: Path) -> dict[str, Any]:
    from audiodiff.runtime.checkpoint_io import read_training_checkpoint

    return read_training_checkpoint(path)


def _dry_resume_payload(path: Path) -> dict[str, Any]:
    """What a dry run knows of a checkpoint without torch: the config its exported twin carries."""
    from audiodiff.runtime.run_folder import exported_config

    twin = path.with_suffix(".safetensors")
    config = exported_config(twin)
    if config is None:
        raise ValueError(
            f"`{twin.name}` (which carries the checkpoint's config for `run --check`) is missing or "
            "unreadable; run without `--check` to read the checkpoint itself"
        )
    return {"model_config": config}


def _value(value: Any) -> str:
    from audiodiff.runtime.resume import ABSENT

    return "(absent)" if value is ABSENT else f"`{value}`"


def is_rank_zero() -> bool:
    """Whether this process is the first of the run (global rank 0 on node 0), from the launcher's variables."""
    return (
        int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0"))) == 0
        and int(os.environ.get("NODE_RANK", "0")) == 0
    )
