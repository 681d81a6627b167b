"""`audiodiff run` for `model_type: autoencoder`, once every check has passed: build the autoencoder and its
losses, hold back demo clips, wire checkpoints (both optimizers and schedulers), reconstruction demos and the
logger into a Lightning Trainer, and train. Exports are the autoencoder alone in the released layout (`encoder.*`,
`decoder.*`, `bottleneck.*`, EMA weights when EMA is on), which `--pretransform-ckpt` and `encode` read."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

from audiodiff.nn.autoencoder import AudioAutoencoder
from audiodiff.runtime.autoencoder_losses import AutoencoderLosses, build_eval_metrics
from audiodiff.runtime.autoencoder_training import (
    AutoencoderSettings,
    AutoencoderTrainer,
)
from audiodiff.runtime.checkpoint_io import (
    CheckpointCallback,
    exported_path,
    list_checkpoints,
    remove_temporaries,
)
from audiodiff.runtime.data import (
    AudioDataset,
    NoUsableItem,
    StreamBatchSampler,
    make_loader,
)
from audiodiff.runtime.faults import NonFiniteLossError, StopRequest
from audiodiff.runtime.optim import autoencoder_groups, build_group
from audiodiff.runtime.preflight import Preflight
from audiodiff.runtime.progress import (
    SummaryLine,
    count,
    render_summary,
)
from audiodiff.runtime.reconstruction_demos import ReconstructionDemos, hold_back
from audiodiff.runtime.run import (
    RunError,
    RunOptions,
    RunOutcome,
    RunPlan,
    is_rank_zero,
)
from audiodiff.runtime.scan import DataFile
from audiodiff.runtime.training import loss_summary
from audiodiff.schema.migrate import config_for_checkpoint
from audiodiff.schema.v1.root import AutoencoderConfig, ModelConfig
from audiodiff.schema.v1.training import AutoencoderTrainingSpec
from audiodiff.schema.versions import LATEST_VERSION, stamp_checkpoint_metadata


def autoencoder_config(spec: ModelConfig) -> tuple[AutoencoderConfig, AutoencoderTrainingSpec]:
    """The autoencoder config and its `training` section (`run` sends only these here, after the preflight
    refused a config without the section)."""
    if not isinstance(spec, AutoencoderConfig):
        raise ValueError("diffusion models are trained by `launch`, not the autoencoder trainer")
    if spec.training is None:
        raise ValueError("the config has no `training` section")
    return spec, spec.training


def train_autoencoder(options: RunOptions, plan: RunPlan, echo: Callable[[str], None]) -> RunOutcome:
    from audiodiff.runtime import launch

    start = time.monotonic()
    launch.quiet_lightning()
    preflight = plan.preflight
    spec, training = autoencoder_config(preflight.spec)
    scan = preflight.scan
    if scan is None:  # the preflight scans an autoencoder's audio_dir dataset
        raise ValueError("the preflight scanned no dataset files")
    output = Path(options.output)
    if is_rank_zero():
        remove_temporaries(plan.checkpoints)
    pl.seed_everything(options.seed, workers=True, verbose=False)  # identical initial weights on every rank
    model = launch.build_trainable_model(spec, options, preflight, gradient_checkpointing=False, init=plan.init)
    if not isinstance(model, AudioAutoencoder):  # an autoencoder config builds one
        raise TypeError("the autoencoder trainer was handed a diffusion model")
    channels = model.out_channels
    bottleneck = spec.model.bottleneck.type if spec.model.bottleneck is not None else None
    losses = AutoencoderLosses(
        training.loss_configs, channels=channels, sample_rate=spec.sample_rate, bottleneck_type=bottleneck
    )
    settings = AutoencoderSettings.from_spec(training, seed=options.seed, clip_grad_norm=options.gradient_clip_val)
    train_files, demo_files = hold_back(scan.files)
    module = AutoencoderTrainer(
        model,
        losses,
        settings,
        group_factory=_group_factory(training, plan),
        loader_factory=_loader_factory(spec, preflight, options, plan, train_files),
        use_schedulers=_schedulers_used(training, losses.discriminator is not None),
    )
    stop = StopRequest(notify=echo if is_rank_zero() else (lambda message: None))
    config = config_for_checkpoint(launch.document_of(preflight.model).data)
    checkpoints = CheckpointCallback(
        plan.checkpoints,
        every=options.checkpoint_every,
        keep=options.keep_checkpoints,
        embed={
            "model_config": config,
            "schema_version": LATEST_VERSION,
            **stamp_checkpoint_metadata(),
            "audiodiff": {
                "dataset_config": launch.document_of(preflight.dataset).data,
                "seed": options.seed,
                "batch_size": options.batch_size,
            },
        },
        export=_exporter(config),
        stop=stop,
    )
    clips = _demo_clips(spec, preflight, demo_files, options.seed)
    demos = ReconstructionDemos(
        clips,
        output / "demos",
        every=training.demo.demo_every,
        sample_rate=spec.sample_rate,
        metrics=build_eval_metrics(training.eval_loss_configs, sample_rate=spec.sample_rate),
    )
    trainer = launch.make_trainer(options, plan, output, echo, [checkpoints, demos], strategy=_strategy(plan))
    if trainer.is_global_zero:
        echo(_summary(options, plan, model, module, train_files, demo_files))
        for change in plan.applied:
            echo(f"  resume: {change}")
    try:
        with stop:
            trainer.fit(module, ckpt_path=str(plan.resume_from) if plan.resume_from else None)
    except NonFiniteLossError as error:
        raise RunError([launch.non_finite_diagnostic(error, plan)]) from None
    except NoUsableItem as error:
        from audiodiff.diagnostics import codes
        from audiodiff.diagnostics.model import Diagnostic
        from audiodiff.diagnostics.render import FileResult

        diagnostic = Diagnostic(
            codes.DATASET_EMPTY,
            f"training ran out of readable files: {error}",
            "/datasets",
            path=preflight.dataset.path,
            help="check the files' permissions and contents, then `--resume`",
        )
        raise RunError([FileResult(preflight.dataset.path, [diagnostic])]) from None
    first_final = loss_summary(module.history)
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
        skipped_files=len(scan.skipped),
    )


def _schedulers_used(training: AutoencoderTrainingSpec, adversarial: bool) -> bool:
    """Upstream steps schedulers only when every optimizer it builds has one (otherwise none at all)."""
    groups = autoencoder_groups(training)
    names = ("autoencoder", "discriminator") if adversarial else ("autoencoder",)
    return all(groups[name].scheduler is not None for name in names)


def _group_factory(training: AutoencoderTrainingSpec, plan: RunPlan):
    groups = autoencoder_groups(training)
    fused = plan.accelerator == "gpu"

    def factory(name: str, parameters, with_scheduler: bool):
        return build_group(groups[name], parameters, fused=fused, with_scheduler=with_scheduler)

    return factory


def _loader_factory(
    spec: AutoencoderConfig, preflight: Preflight, options: RunOptions, plan: RunPlan, files: list[DataFile]
):
    dataset = AudioDataset(
        files,
        sample_rate=spec.sample_rate,
        sample_size=spec.sample_size,
        channels=spec.audio_channels,
        random_crop=preflight.dataset_spec.random_crop,
        seed=options.seed,
        metadata_modules=preflight.metadata_modules,
    )
    workers = options.num_workers if options.num_workers is not None else (0 if plan.accelerator == "cpu" else 2)

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


def _demo_clips(spec: AutoencoderConfig, preflight: Preflight, files: list[DataFile], seed: int) -> torch.Tensor:
    """The held-back clips, each cropped from its start: `[N, C, sample_size]`."""
    dataset = AudioDataset(
        files,
        sample_rate=spec.sample_rate,
        sample_size=spec.sample_size,
        channels=spec.audio_channels,
        random_crop=False,
        seed=seed,
        metadata_modules=preflight.metadata_modules,
    )
    return torch.stack([dataset[index][0] for index in range(min(len(files), 8))])


def _strategy(plan: RunPlan) -> Any:
    if plan.strategy == "ddp":
        from pytorch_lightning.strategies import DDPStrategy

        # each step trains one of the two networks: the other's parameters get no gradient that step
        return DDPStrategy(
            find_unused_parameters=True, process_group_backend="gloo" if plan.accelerator == "cpu" else None
        )
    return plan.strategy if plan.strategy != "fsdp" else "auto"


def _exporter(config: dict[str, Any]):
    from audiodiff.runtime.checkpoints import write_released

    def export(module: AutoencoderTrainer, path: Path) -> None:
        state = {key: value.detach() for key, value in module.sampling_model.state_dict().items()}
        write_released(path, state, config=config, schema_version=LATEST_VERSION)

    return export


def _summary(
    options: RunOptions,
    plan: RunPlan,
    model: AudioAutoencoder,
    module: AutoencoderTrainer,
    train_files: list[Any],
    demo_files: list[Any],
) -> str:
    spec, training = autoencoder_config(plan.preflight.spec)
    discriminator = module.discriminator
    configured = training.loss_configs.discriminator if training.loss_configs else None  # None: the default's
    critic = (
        "none"
        if discriminator is None
        else f"`{configured.type if configured is not None else 'encodec'}` "
        f"({count(sum(p.numel() for p in discriminator.parameters()))} parameters)"
    )
    terms = ", ".join(f"{term.name} x{term.weight:g}" for term in module.losses.terms)
    groups = autoencoder_groups(training)
    optimizers = "; ".join(
        f"{name}: {group.optimizer.type} lr {group.optimizer.config.lr:g}"
        + (f" + {group.scheduler.type}" if group.scheduler and module._use_schedulers else "")
        for name, group in groups.items()
        if name in ("autoencoder", "discriminator")
    )
    steps = f"{options.max_steps} steps" if options.max_steps else "until stopped (Ctrl-C saves and stops)"
    lines = [
        SummaryLine(
            "model",
            f"autoencoder, `{spec.model.encoder.type}` encoder, "
            f"`{spec.model.bottleneck.type if spec.model.bottleneck else 'no'}` bottleneck, x"
            f"{spec.model.downsampling_ratio} to {spec.model.latent_dim} channels; "
            f"{count(sum(p.numel() for p in model.parameters()))} parameters",
        ),
        SummaryLine("losses", f"{terms}; discriminator {critic}"),
        SummaryLine(
            "data",
            f"{len(train_files)} audio files for training, {len(demo_files)} held back for demos; "
            f"{spec.audio_channels} ch at {spec.sample_rate} Hz, crops of {spec.sample_size}; "
            f"batch {options.batch_size}",
        ),
        SummaryLine(
            "training",
            f"{steps}; {optimizers}; warm-up {training.warmup_steps} steps; EMA "
            f"{'on' if training.use_ema else 'off'}; precision {plan.precision}; seed "
            f"{options.seed}",
        ),
        SummaryLine(
            "demos",
            f"every {training.demo.demo_every} steps: reconstructions of the held-back clips, SI-SDR and STFT distance",
        ),
        SummaryLine(
            "outputs",
            f"{options.output}/ (checkpoints/ every {options.checkpoint_every} steps, last "
            f"{options.keep_checkpoints} kept; demos/; logs/)",
        ),
    ]
    if plan.resume_from is not None:
        lines.append(SummaryLine("resume", f"from `{plan.resume_from}`"))
    return render_summary(f"audiodiff run {plan.preflight.model.path} --dataset {plan.preflight.dataset.path}", lines)
