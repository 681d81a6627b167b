"""The second half of `audiodiff run`, once every check has passed: build the model, load external weights, wire
data, demos, checkpoints and the logger into a Lightning Trainer, print the summary, and train."""

from __future__ import annotations

import errno
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

from audiodiff.compiler.pipeline import FileCheck
from audiodiff.diagnostics import codes
from audiodiff.diagnostics.model import Diagnostic
from audiodiff.diagnostics.render import FileResult
from audiodiff.nn.autoencoder import AudioAutoencoder
from audiodiff.nn.conditioners import Conditioner
from audiodiff.nn.diffusion import ConditionedDiffusionModel, DiffusionModel, UnconditionedDiffusionModel
from audiodiff.runtime.checkpoint_io import (
    AtomicCheckpointIO,
    CheckpointCallback,
    exported_path,
    list_checkpoints,
    remove_temporaries,
)
from audiodiff.runtime.data import AudioDataset, LatentDataset, NoUsableItem, StreamBatchSampler, make_loader
from audiodiff.runtime.demos import DemoCallback, DemoSettings
from audiodiff.runtime.faults import ConditioningError, NonFiniteLossError, StopRequest
from audiodiff.runtime.init_sources import InitSource
from audiodiff.runtime.optim import apply_hyperparameters, build_optimizer, describe
from audiodiff.runtime.outputs import NonFiniteOutput, OutputWriteFailed, write_failure
from audiodiff.runtime.preflight import COMMAND_LINE, Preflight
from audiodiff.runtime.progress import RunProgressBar, SummaryLine, count, render_summary
from audiodiff.runtime.run import RunError, RunOptions, RunOutcome, RunPlan, is_rank_zero
from audiodiff.runtime.shard_data import (
    BAD_SHARD_FRACTION,
    BAD_SHARD_MINIMUM,
    ShardFailure,
    resume_note,
    shard_loader_factory,
    shard_summary,
)
from audiodiff.runtime.training import DiffusionTrainer, TrainingSettings, loss_summary
from audiodiff.schema.migrate import config_for_checkpoint
from audiodiff.schema.routes import Route
from audiodiff.schema.source import SourceDocument
from audiodiff.schema.v1.root import AutoencoderConfig, DiffusionConfig, ModelConfig
from audiodiff.schema.v1.training import DiffusionTrainingSpec
from audiodiff.schema.versions import LATEST_VERSION, stamp_checkpoint_metadata
from audiodiff.schema.views import backbone_of, diffusion_objective_of, pretransform_of, reads_inpainting


def diffusion_config(spec: ModelConfig) -> DiffusionConfig:
    """The diffusion model config this module trains (`run` sends autoencoders to `autoencoder_launch`)."""
    if isinstance(spec, AutoencoderConfig):
        raise ValueError("autoencoders are trained by `autoencoder_launch`, not the diffusion trainer")
    return spec


def training_of(spec: DiffusionConfig) -> DiffusionTrainingSpec:
    """The `training` section (the preflight refuses a config without one before anything is built)."""
    if spec.training is None:
        raise ValueError("the config has no `training` section")
    return spec.training


def document_of(check: FileCheck) -> SourceDocument:
    """The parsed file of a checked config (a preflight without errors parsed both)."""
    if check.document is None:
        raise ValueError(f"{check.path} was not parsed")
    return check.document


def train(options: RunOptions, plan: RunPlan, echo: Callable[[str], None]) -> RunOutcome:
    start = time.monotonic()
    quiet_lightning()
    preflight = plan.preflight
    spec = diffusion_config(preflight.spec)
    output = Path(options.output)
    if is_rank_zero():
        remove_temporaries(plan.checkpoints)
    checkpointing = gradient_checkpointing(options, plan)
    pl.seed_everything(options.seed, workers=True, verbose=False)  # identical initial weights on every rank
    model = build_trainable_model(
        spec, options, preflight, gradient_checkpointing=checkpointing.enabled, init=plan.init
    )
    if isinstance(model, AudioAutoencoder):  # a diffusion config builds a diffusion model
        raise TypeError("the diffusion trainer was handed an autoencoder")
    settings = TrainingSettings.from_spec(
        spec, seed=options.seed, accumulate_grad_batches=options.accumulate_grad_batches
    )
    loader_factory = _loader_factory(spec, preflight, options, plan)
    module = DiffusionTrainer(
        model,
        settings,
        optimizer_factory=_optimizer_factory(spec, plan),
        loader_factory=loader_factory,
    )
    if plan.resume_from is not None:
        module.after_restore = lambda trained: _apply_changes(trained, spec, echo)
    stop = StopRequest(notify=echo if is_rank_zero() else (lambda message: None))
    # the config travels in the newest schema version, and says so (both keys: readers look for either)
    config = config_for_checkpoint(document_of(preflight.model).data)
    version = LATEST_VERSION
    # the logger's hparams.yaml (and the checkpoint's `hyper_parameters`): the effective config, `--set` included
    module.save_hyperparameters(
        {
            "model_config": config,
            "dataset_config": document_of(preflight.dataset).data,
            "overrides": [override.text for override in options.overrides],
        }
    )
    checkpoints = CheckpointCallback(
        plan.checkpoints,
        every=options.checkpoint_every,
        keep=options.keep_checkpoints,
        embed={
            "model_config": config,
            "schema_version": version,
            **stamp_checkpoint_metadata(),
            "audiodiff": {
                "dataset_config": document_of(preflight.dataset).data,
                "seed": options.seed,
                "batch_size": options.batch_size,
            },
        },
        export=_exporter(config, version, fsdp=plan.strategy == "fsdp"),
        stop=stop,
        accumulate_grad_batches=options.accumulate_grad_batches,
    )
    demos = DemoCallback(DemoSettings.from_spec(spec), output / "demos", stop=stop)
    trainer = make_trainer(
        options,
        plan,
        output,
        echo,
        [checkpoints, demos],
        strategy=_strategy(plan, model, spec),
        accumulate_grad_batches=options.accumulate_grad_batches,
        gradient_clip_val=_clip(options, spec),
    )
    if trainer.is_global_zero:
        echo(_summary(options, plan, model, preflight, checkpointing))
        for change in plan.applied:
            echo(f"  resume: {change}")
    try:
        with stop:
            trainer.fit(module, ckpt_path=str(plan.resume_from) if plan.resume_from else None)
    except NonFiniteLossError as error:
        raise RunError([non_finite_diagnostic(error, plan)]) from None
    except NonFiniteOutput as error:
        raise RunError([_output_problem(codes.NON_FINITE_OUTPUT, str(error), plan)]) from None
    except OutputWriteFailed as error:
        raise RunError([_output_problem(codes.OUTPUT_WRITE_FAILED, str(error), plan)]) from None
    except ConditioningError as error:
        raise RunError([_unreadable_value(error, preflight)]) from None
    except ShardFailure as error:
        raise RunError([_shard_failure(error, preflight, plan)]) from None
    except NoUsableItem as error:
        from audiodiff.diagnostics.render import FileResult

        diagnostic = Diagnostic(
            codes.DATASET_EMPTY,
            f"training ran out of readable files: {error}",
            "/datasets",
            path=preflight.dataset.path,
            help="check the files' permissions and contents, then `--resume`",
        )
        raise RunError([FileResult(preflight.dataset.path, [diagnostic])]) from None
    except OSError as error:  # a demo, a log row or a checkpoint folder that could not be written
        if error.errno not in _WRITE_ERRNOS:
            raise
        failure = write_failure(error, Path(error.filename) if error.filename else output)
        raise RunError([_output_problem(codes.OUTPUT_WRITE_FAILED, str(failure), plan)]) from None
    except RuntimeError as error:
        if plan.resume_from is None or "loading state_dict" not in str(error):
            raise
        # only reachable with --force-resume: the checkpoint's weights do not fit the changed architecture
        raise RunError([_unloadable(error, plan.resume_from)]) from None
    first_final = loss_summary(module.losses)
    skipped = len(preflight.scan.skipped) if preflight.scan else 0
    report = getattr(loader_factory, "report", None)  # what shard streams skipped, by name
    if report is not None and (report.members or report.shards):
        skipped += len(report.members) + len(report.shards)
        if trainer.is_global_zero:
            echo(f"  data: {report.describe()}")
    saved = list_checkpoints(plan.checkpoints)
    last = saved[-1] if saved else None
    return RunOutcome(
        steps=trainer.global_step,
        first_loss=first_final[0] if first_final else None,
        final_loss=first_final[1] if first_final else None,
        checkpoint=last[1] if last else None,
        exported=exported_path(plan.checkpoints, last[0]) if last else None,
        stopped_early=stop.requested,
        seconds=time.monotonic() - start,
        skipped_files=skipped,
    )


def quiet_lightning() -> None:
    """Lightning's start-up chatter (accelerator lines, tips) says nothing the summary does not; warnings about
    choices made on purpose here (a frozen pretransform in eval mode) are dropped too."""
    import logging
    import warnings

    for name in ("pytorch_lightning", "lightning_fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=r".*module\(s\) in eval mode.*")
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
    warnings.filterwarnings("ignore", message=r".*does not have many workers.*")


# --- the model ---------------------------------------------------------------------------------------------------


def build_trainable_model(
    spec: ModelConfig,
    options: RunOptions,
    preflight: Preflight,
    *,
    gradient_checkpointing: bool,
    init: Mapping[str, InitSource] | None = None,
) -> DiffusionModel | AudioAutoencoder:
    """The model to train (`autoencoder_launch` builds autoencoders here too), built for real, with the `--init` weights (`init`: part -> InitSource, whose coverage
    `prepare` checked on the meta device) and the external encoders loaded. Built before the trainer, so the EMA copy
    starts from the loaded weights."""
    from audiodiff.compiler.materialize import BuildError, BuildOptions, build_model

    def fail(message: str, pointer: str | None, code=codes.NOT_BUILDABLE, help: str | None = None) -> RunError:
        from audiodiff.compiler.pipeline import locate
        from audiodiff.diagnostics.render import FileResult

        check = preflight.model
        diagnostic = Diagnostic(code, message, pointer, help=help)
        return RunError([FileResult(check.path, locate(check, [diagnostic]), check.result().line)])

    try:
        model = build_model(
            spec, BuildOptions(t5_model_path=options.t5_path, gradient_checkpointing=gradient_checkpointing)
        )
    except BuildError as error:
        raise fail(f"{error.node_id} could not be built: {error.message}", error.pointer) from None
    if not isinstance(model, (ConditionedDiffusionModel, UnconditionedDiffusionModel, AudioAutoencoder)):
        raise fail(f"a `{spec.model_type}` config builds no trainable model", "/model_type")
    if init:
        _load_init(model, spec.model_type, init, fail)
    conditioner = model.conditioner if isinstance(model, ConditionedDiffusionModel) else None
    if conditioner is not None:
        for name, module in conditioner.conditioners.items():
            if isinstance(module, Conditioner) and not module.is_loaded:  # each is one (see `members`)
                try:
                    module.load_weights()
                except Exception as error:  # missing files or packages of an external encoder
                    raise fail(
                        f"the weights of the `{name}` conditioner could not be loaded: {error}",
                        "/model/conditioning",
                        code=codes.RUN_SETTING,
                        help="download them once (or pass `--t5-path`), then run again",
                    ) from None
    from audiodiff.runtime.adapters import attach_for_training

    attach_for_training(model, spec)  # `training.lora`: adapters on the DiT, every other weight frozen
    return model


def _load_init(model: torch.nn.Module, model_type: str, init: Any, fail: Callable[..., RunError]) -> None:
    from audiodiff.runtime.checkpoints import CheckpointError
    from audiodiff.runtime.init_weights import apply_init

    try:
        apply_init(model, model_type, init)
    except CheckpointError as error:  # the file changed or broke since it was checked
        raise fail(str(error), None, code=codes.CHECKPOINT_UNREADABLE) from None


@dataclass(frozen=True)
class CheckpointingDecision:
    """Whether the backbone recomputes activations in backward (gradient checkpointing), and why, for the summary."""

    enabled: bool
    reason: str


def gradient_checkpointing(options: RunOptions, plan: RunPlan) -> CheckpointingDecision:
    """`--gradient-checkpointing`: `on`, `off`, or `auto`: on when one training step without it is estimated to
    exceed this device's memory budget (`audiodiff.compiler.memory`'s first-order estimate)."""
    if options.gradient_checkpointing in ("on", "off"):
        return CheckpointingDecision(
            options.gradient_checkpointing == "on", f"{options.gradient_checkpointing} (`--gradient-checkpointing`)"
        )
    from audiodiff.compiler.memory import (
        estimate_memory,
        format_bytes,
        needs_gradient_checkpointing,
        training_settings,
    )

    spec = plan.preflight.spec
    budget = memory_budget(plan.accelerator, processes=options.devices)
    if budget is None:
        return CheckpointingDecision(False, "off (auto: this machine's memory size is unknown)")
    optimizer, states, use_ema = training_settings(spec)
    try:
        estimate = estimate_memory(
            spec,
            batch_size=options.batch_size,
            precision=plan.precision,
            optimizer=optimizer,
            optimizer_states=states,
            use_ema=use_ema,
        )
    except Exception as error:  # the estimate is advice: a precision or a part it does not model never stops a run
        return CheckpointingDecision(False, f"off (auto: no memory estimate: {error})")
    enabled = needs_gradient_checkpointing(estimate, budget)
    return CheckpointingDecision(
        enabled,
        f"{'on' if enabled else 'off'} (auto: ~"
        f"{format_bytes(estimate.training_total_unchecked)} a step without it, budget "
        f"{format_bytes(budget)})",
    )


def memory_budget(accelerator: str, *, processes: int = 1) -> int | None:
    """Bytes one training process may use: 90 % of its GPU, or 80 % of the RAM available now shared by the
    `processes` of this machine (None when unknown)."""
    if accelerator == "gpu" and torch.cuda.is_available():
        index = int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count()
        return int(torch.cuda.get_device_properties(index).total_memory * 0.9)
    try:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not every platform names these
        return None
    return int(available * 0.8) // max(1, processes)


def _optimizer_factory(spec: DiffusionConfig, plan: RunPlan):
    fused = plan.accelerator == "gpu"

    def factory(parameters):
        return build_optimizer(training_of(spec), parameters, fused=fused)

    return factory


def _apply_changes(module: DiffusionTrainer, spec: DiffusionConfig, echo: Callable[[str], None]) -> None:
    scheduler = module.lr_schedulers()
    optimizer = module.optimizers(use_pl_optimizer=False)
    if isinstance(optimizer, list) or isinstance(scheduler, list):  # `configure_optimizers` returns one of each
        raise TypeError("the diffusion trainer has one optimizer and at most one scheduler")
    changed = apply_hyperparameters(training_of(spec), optimizer, scheduler)
    if changed and module.trainer.is_global_zero:
        echo("  resume applies: " + "; ".join(changed))


# --- data --------------------------------------------------------------------------------------------------------


def _loader_factory(spec: DiffusionConfig, preflight: Preflight, options: RunOptions, plan: RunPlan):
    workers = data_workers(options, plan)
    if preflight.shards is not None:  # a `wds` / `s3` dataset, streamed
        return shard_loader_factory(
            spec, preflight, batch_size=options.batch_size, seed=options.seed, num_workers=workers
        )
    if preflight.scan is None:
        raise ValueError("the preflight scanned no dataset files")
    files = preflight.scan.files
    data = preflight.dataset_spec
    dataset: LatentDataset | AudioDataset
    if preflight.latent_length is not None:
        dataset = LatentDataset(
            files,
            crop_length=preflight.latent_length,
            random_crop=data.random_crop,
            seed=options.seed,
            metadata_modules=preflight.metadata_modules,
        )
    else:
        dataset = AudioDataset(
            files,
            sample_rate=spec.sample_rate,
            sample_size=spec.sample_size,
            channels=spec.audio_channels,
            random_crop=data.random_crop,
            seed=options.seed,
            metadata_modules=preflight.metadata_modules,
        )

    def factory(start_batch: int, rank: int, world_size: int):
        sampler = StreamBatchSampler(
            len(dataset),
            options.batch_size,
            seed=options.seed,
            rank=rank,
            world_size=world_size,
            start_batch=start_batch,
        )
        return make_loader(dataset, sampler, num_workers=workers)

    return factory


def data_workers(options: RunOptions, plan: RunPlan) -> int:
    workers = options.num_workers
    if workers is None:
        workers = 0 if plan.accelerator == "cpu" else min(4, max(1, (os.cpu_count() or 2) // 2))
    return workers


def _shard_failure(error: ShardFailure, preflight: Preflight, plan: RunPlan) -> FileResult:
    # a data-loader worker's exception arrives as its traceback's text: its last line holds the message
    lines = [line for line in str(error).strip().splitlines() if line.strip()]
    message = lines[-1].split("ShardFailure: ", 1)[-1] if lines else str(error)
    diagnostic = Diagnostic(
        codes.SHARD_UNREADABLE,
        f"training stopped: {message}",
        "/datasets",
        path=preflight.dataset.path,
        help=f"a run stops once more than {BAD_SHARD_FRACTION:.0%} of the shards a worker opened (and at least "
        f"{BAD_SHARD_MINIMUM}) failed; fix or remove them, then `--resume` ({_last_good(plan)})",
    )
    return FileResult(preflight.dataset.path, [diagnostic])


# --- trainer pieces ------------------------------------------------------------------------------------------------


def _strategy(plan: RunPlan, model: torch.nn.Module, spec: DiffusionConfig) -> Any:
    if plan.strategy == "ddp":
        from pytorch_lightning.strategies import DDPStrategy

        return DDPStrategy(
            find_unused_parameters=may_leave_parameters_unused(spec, model),
            process_group_backend="gloo" if plan.accelerator == "cpu" else None,
        )
    if plan.strategy == "fsdp":
        from pytorch_lightning.strategies import FSDPStrategy

        from audiodiff.nn.diffusion import BackboneWrapper

        # the online backbone and its EMA copy become FSDP units of identical layout, so their local shards
        # line up and the EMA update stays shard-local
        return FSDPStrategy(auto_wrap_policy={BackboneWrapper}, state_dict_type="full", use_orig_params=True)
    return "auto"


def may_leave_parameters_unused(spec: DiffusionConfig, model: torch.nn.Module) -> bool:
    """Whether a training step can leave trainable parameters out of the loss. DDP must then search for them after
    each backward pass (`find_unused_parameters`), or it waits forever for their gradients: the case for a trainable
    conditioner routed nowhere, and for `adp_cfg_1d`'s learned null embedding, which only CFG dropout uses."""
    routed = {i for ids in _routes(spec).values() for i in ids}
    conditioner = getattr(model, "conditioner", None)
    if conditioner is not None and any(
        name not in routed and any(p.requires_grad for p in module.parameters())
        for name, module in conditioner.conditioners.items()
    ):
        return True
    backbone = backbone_of(spec)
    dropout = training_of(spec).cfg_dropout_prob if spec.model_type != "diffusion_uncond" else 0.0
    return backbone is not None and backbone.capabilities.learned_null and not dropout > 0


def _routes(spec: DiffusionConfig) -> dict[Route, tuple[str, ...]]:
    from audiodiff.schema.views import routes_of

    return routes_of(spec)


def _clip(options: RunOptions, spec: DiffusionConfig) -> float | None:
    value = options.gradient_clip_val if options.gradient_clip_val is not None else training_of(spec).clip_grad_norm
    return value if value and value > 0 else None


def make_trainer(
    options: RunOptions,
    plan: RunPlan,
    output: Path,
    echo: Callable[[str], None],
    callbacks: list[pl.Callback],
    **settings: Any,
) -> pl.Trainer:
    """The Lightning trainer every `run` uses (diffusion and autoencoder alike): our checkpoint writing and
    progress, no validation loop, no distributed sampler (our samplers shard the data); `settings` adds what one kind
    of training sets itself (strategy, accumulation, clipping)."""
    return pl.Trainer(
        accelerator=plan.accelerator,
        devices=options.devices,
        num_nodes=options.num_nodes,
        precision=plan.precision,  # type: ignore[arg-type]  # Lightning's Literal; `run` checked the string
        max_steps=options.max_steps or -1,
        max_epochs=-1,
        callbacks=callbacks + ([RunProgressBar(refresh_rate=1)] if options.progress else []),
        logger=make_logger(options, output, echo, step_of(plan.resume_from)),
        plugins=[AtomicCheckpointIO()],
        enable_checkpointing=False,
        enable_progress_bar=options.progress,
        enable_model_summary=False,
        use_distributed_sampler=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        log_every_n_steps=1,
        default_root_dir=str(output),
        **settings,
    )


def make_logger(options: RunOptions, output: Path, echo: Callable[[str], None], resume_step: int | None) -> Any:
    from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger

    kind = options.logger
    if kind == "wandb":
        return wandb_logger(options, output, resumed=resume_step is not None)
    if kind in (None, "tensorboard"):
        try:
            import tensorboard  # noqa: F401
        except ImportError:
            if kind == "tensorboard" and is_rank_zero():
                echo("tensorboard is not installed (pip install 'audiodiff[logging]'): logging to CSV instead")
            kind = "csv"
        else:
            kind = "tensorboard"
    if kind == "tensorboard":  # event files append: a resumed run continues the same curves
        return TensorBoardLogger(save_dir=str(output), name="logs", version="", default_hp_metric=False)
    # a CSV logger rewrites its file, so a resumed run writes its own next to the first
    return CSVLogger(save_dir=str(output), name="logs", version="" if resume_step is None else f"resume_{resume_step}")


WANDB_ID_FILE = "wandb-run-id"


def wandb_logger(options: RunOptions, output: Path, *, resumed: bool) -> Any:
    """Weights & Biases through Lightning's logger, its files under `<output>/logs/`. The run's id is kept in the
    run folder, so `--resume` continues the same wandb run. `WANDB_MODE=offline` works without a network (sync
    later with `wandb sync`)."""
    from pytorch_lightning.loggers import WandbLogger

    folder = output / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    id_file = folder / WANDB_ID_FILE
    run_id = id_file.read_text().strip() if resumed and id_file.is_file() else None
    if run_id is None:
        import secrets

        run_id = secrets.token_hex(4)
        if is_rank_zero():
            id_file.write_text(run_id + "\n")
    return WandbLogger(
        project=options.project or "audiodiff",
        name=options.run_name or output.resolve().name,
        save_dir=str(folder),
        id=run_id,
        resume="allow",
    )


def step_of(path: Path | None) -> int | None:
    from audiodiff.runtime.checkpoint_io import CHECKPOINT_PATTERN

    match = CHECKPOINT_PATTERN.match(path.name) if path is not None else None
    return int(match.group(1)) if match else None


def _exporter(config: dict[str, Any], version: int, *, fsdp: bool):
    from audiodiff.runtime.adapters import adapter_scale, has_adapters, write_adapters
    from audiodiff.runtime.checkpoints import read_checkpoint, released_state_dict, write_released

    def export(module: DiffusionTrainer, path: Path) -> None:
        if fsdp:  # sharded weights: convert the full state dict that the checkpoint just gathered
            state = read_checkpoint(path.with_suffix(".ckpt")).state_dict
        else:
            ema = module.diffusion_ema.ema_model if module.diffusion_ema is not None else None
            state = released_state_dict(module.diffusion, ema)
        if has_adapters(module.diffusion):  # a LoRA run exports its adapters alone, with the base's fingerprint
            write_adapters(path, state, scale=adapter_scale(module.diffusion), config=config, schema_version=version)
            return
        write_released(path, state, config=config, schema_version=version)

    return export


def _last_good(plan: RunPlan) -> str:
    saved = list_checkpoints(plan.checkpoints)
    return (
        f"the last good checkpoint is `{saved[-1][1]}` (step {saved[-1][0]})"
        if saved
        else "no checkpoint had been written yet"
    )


def non_finite_diagnostic(error: NonFiniteLossError, plan: RunPlan) -> FileResult:
    kept = _last_good(plan)
    if error.suspects:  # the data, not the optimisation, is out of scale: name it
        files = ", ".join(f"`{path}` (peak {peak:.3g})" for path, peak in error.suspects[:3])
        more = f" and {len(error.suspects) - 3} more" if len(error.suspects) > 3 else ""
        advice = (
            f"the batch held values out of all scale in {files}{more}: check or remove those files (audio "
            f"should lie in [-1, 1]); {kept}"
        )
    else:
        advice = f"{kept}; lower the learning rate or add warm-up, then continue with `--resume`"
    diagnostic = Diagnostic(
        codes.NON_FINITE_LOSS,
        f"the loss is {error.value} at step {error.step}; training stopped before that step changed the weights",
        None,
        path=COMMAND_LINE,
        help=advice,
    )
    return FileResult(COMMAND_LINE, [diagnostic])


_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EACCES, errno.EPERM, errno.EROFS, getattr(errno, "EDQUOT", 122)})


def _output_problem(code: codes.Code, message: str, plan: RunPlan) -> FileResult:
    """A run stopped because an output could not (or must not) be written: say why, and what is still good."""
    diagnostic = Diagnostic(
        code, message, None, path=COMMAND_LINE, help=f"{_last_good(plan)}; fix the cause, then continue with `--resume`"
    )
    return FileResult(COMMAND_LINE, [diagnostic])


def _unreadable_value(error: ConditioningError, preflight: Preflight) -> FileResult:
    from audiodiff.compiler.pipeline import locate

    files = ", ".join(f"`{path}`" for path in error.paths[:3]) + (" ..." if len(error.paths) > 3 else "")
    where = f" (in a batch of {files})" if len(error.paths) > 1 else ""
    diagnostic = Diagnostic(
        codes.DATASET_METADATA,
        f"training stopped at step {error.step}: {error.message}{where}",
        "/datasets",
        path=preflight.dataset.path,
        help="fix the value (or the `custom_metadata_module` that produces it), then continue with `--resume`",
    )
    check = preflight.dataset
    return FileResult(check.path, locate(check, [diagnostic]), check.result().line)


def _unloadable(error: RuntimeError, resume_from: Path) -> FileResult:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    detail = "; ".join(lines[1:4]) if len(lines) > 1 else lines[0]
    diagnostic = Diagnostic(
        codes.CHECKPOINT_PARTIAL,
        f"the weights in `{resume_from.name}` do not fit the changed model: {detail}",
        None,
        path=str(resume_from),
        help="a forced resume keeps the architecture; start a new run to change it",
    )
    return FileResult(str(resume_from), [diagnostic])


# --- the summary -------------------------------------------------------------------------------------------------


def _summary(
    options: RunOptions,
    plan: RunPlan,
    model: DiffusionModel,
    preflight: Preflight,
    checkpointing: CheckpointingDecision,
) -> str:
    from audiodiff.nn.lora import adapters

    spec = diffusion_config(preflight.spec)
    training = training_of(spec)
    backbone = backbone_of(spec)
    if backbone is None:  # every diffusion config has one
        raise ValueError("a diffusion config without a backbone")
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    located = pretransform_of(spec)
    pretransform = (
        f", `{located[0].type}` pretransform (x{model.pretransform.downsampling_ratio})"
        if located is not None and model.pretransform is not None
        else ""
    )
    objective = diffusion_objective_of(spec)
    scan = preflight.scan
    skipped = f" ({len(scan.skipped)} unreadable, skipped)" if scan is not None and scan.skipped else ""
    seconds = spec.sample_size / spec.sample_rate
    if preflight.shards is not None:
        data = shard_summary(
            preflight, spec, workers=data_workers(options, plan), world_size=options.devices * options.num_nodes
        )
    elif scan is None:
        raise ValueError("the preflight scanned no dataset files")
    elif preflight.latent_length is not None:
        data = f"{len(scan.files)} latent files{skipped}, crops of {preflight.latent_length} latents"
    else:
        rates = sorted({f.sample_rate for f in scan.files})
        resampled = f", resampled from {'/'.join(str(r) for r in rates)} Hz" if rates != [spec.sample_rate] else ""
        data = (
            f"{len(scan.files)} audio files{skipped}{resampled}, {spec.audio_channels} ch at "
            f"{spec.sample_rate} Hz, crops of {spec.sample_size} samples ({seconds:.2f} s)"
        )
    optimizer = describe(training)
    schedule = f" + {optimizer.scheduler}" if optimizer.scheduler else " (constant)"
    steps = f"{options.max_steps} steps" if options.max_steps else "until stopped (Ctrl-C saves and stops)"
    world = options.devices * options.num_nodes
    where = f"{world} x {plan.accelerator}" + (f", {plan.strategy}" if plan.strategy != "auto" else "")
    demo = DemoSettings.from_spec(spec)
    recompute = f"gradient checkpointing {checkpointing.reason}"
    if checkpointing.enabled and not backbone.capabilities.gradient_checkpointing:
        recompute += f" (no effect on `{backbone.type}` backbones: only `dit` recomputes its blocks)"
    lines = [
        SummaryLine(
            "model",
            f"{spec.model_type}, `{backbone.type}` backbone, `{objective}` objective{pretransform}; "
            f"{count(total)} parameters ({count(trainable)} trainable)",
        ),
        SummaryLine(
            "data",
            f"{data}; batch {options.batch_size}"
            + (f" x {options.accumulate_grad_batches} accumulated" if options.accumulate_grad_batches > 1 else ""),
        ),
        SummaryLine(
            "training",
            f"{steps}; {optimizer.optimizer} lr {optimizer.learning_rate:g}{schedule}; "
            f"EMA {'on' if training.use_ema else 'off'}; precision {plan.precision}; "
            f"{where}; seed {options.seed}",
        ),
        *_inpainting_line(spec),
        SummaryLine("memory", recompute),
        SummaryLine(
            "demos",
            f"every {demo.every} steps: {demo.num_demos} x cfg "
            f"{', '.join(f'{s:g}' for s in demo.cfg_scales)}, {demo.steps} sampler steps",
        ),
        SummaryLine(
            "outputs",
            f"{options.output}/ (checkpoints/ every {options.checkpoint_every} steps, last "
            f"{options.keep_checkpoints} kept; demos/; logs/)",
        ),
    ]
    lora = training.lora
    if lora is not None:  # what trains, and what the checkpoints' exports hold
        lines.append(
            SummaryLine(
                "lora",
                f"rank {lora.rank} (scale {lora.scale:g}) on {len(adapters(model))} layers of the DiT; "
                f"{count(trainable)} adapter parameters train ({100 * trainable / max(total, 1):.2f} %), the rest "
                "is frozen; exports hold the adapters alone",
            )
        )
    if plan.resume_from is not None:
        lines.append(SummaryLine("resume", f"from `{plan.resume_from}`"))
    elif plan.init_report is not None and plan.init_report.requested:
        lines.append(SummaryLine("init", "a new run from existing weights (step 0, new optimizer, EMA from them)"))
    if preflight.shards is not None and plan.resume_from is not None:
        world = options.devices * options.num_nodes
        lines.append(SummaryLine("resume data", resume_note(preflight.shards, data_workers(options, plan), world)))
    if scan is not None and scan.skipped:  # which files, and why: "3 unreadable" alone sends the user hunting
        from audiodiff.runtime.scan import skipped_files

        lines.append(SummaryLine("skipped", skipped_files(scan.skipped)))
    title = f"audiodiff run {preflight.model.path} --dataset {preflight.dataset.path}"
    text = render_summary(title, lines)
    if plan.init_report is not None and plan.init_report.requested:
        text += plan.init_report.render(partial=options.allow_partial) + "\n"
    return text


def _inpainting_line(spec: DiffusionConfig) -> list[SummaryLine]:
    """How an inpainting model's training masks are drawn (nothing for other models)."""
    from audiodiff.runtime.inpainting import MaskSettings

    training = spec.training
    if training is None or training.inpainting is None or not reads_inpainting(spec):
        return []
    masks = MaskSettings.from_spec(training.inpainting)
    segments, whole, causal = masks.probabilities
    return [
        SummaryLine(
            "inpainting",
            f"random masks each step: 1-{masks.max_segments} segments {segments:g}, whole clip {whole:g}, "
            f"causal suffix {causal:g}",
        )
    ]


def format_outcome(outcome: RunOutcome) -> str:
    parts = [f"trained to step {outcome.steps} in {outcome.seconds:.0f} s"]
    if outcome.first_loss is not None and outcome.final_loss is not None and math.isfinite(outcome.first_loss):
        parts.append(f"loss {outcome.first_loss:.4f} (first steps) -> {outcome.final_loss:.4f} (last steps)")
    if outcome.exported is not None:
        parts.append(f"weights: {outcome.exported}")
    if outcome.stopped_early:
        parts.append("stopped early; continue with --resume")
    return "; ".join(parts)
