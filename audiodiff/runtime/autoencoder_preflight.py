"""What `audiodiff run` needs of an autoencoder config beyond validation: every loss, discriminator and metric it
asks for must be one audiodiff builds (the registry says which, and why not)."""

from __future__ import annotations

from pathlib import Path

from audiodiff.compiler.registry import lookup
from audiodiff.diagnostics import codes
from audiodiff.diagnostics.model import Diagnostic, Severity
from audiodiff.schema.v1.autoencoder_training import DEFAULT_SCALES
from audiodiff.schema.v1.root import AutoencoderConfig


def autoencoder_trainable(spec: AutoencoderConfig, pretransform_ckpt: Path | None) -> list[Diagnostic]:
    training = spec.training
    found = []
    if pretransform_ckpt is not None:
        found.append(
            Diagnostic(
                codes.RUN_SETTING,
                "`--pretransform-ckpt` loads a diffusion model's pretransform, and this config trains an autoencoder",
                "/model",
                help="drop `--pretransform-ckpt`",
            )
        )
    if training is None:  # the caller reports the missing section (AD812) before it asks here
        return found
    if training.teacher_model is not None:
        found.append(
            Diagnostic(
                codes.TRAINING_UNSUPPORTED,
                "distillation from a teacher autoencoder is not supported by `audiodiff run`",
                "/training/teacher_model",
                help="remove `teacher_model` to train the autoencoder on its own",
            )
        )
    configs = training.loss_configs
    if configs is None and spec.sample_size < max(DEFAULT_SCALES):
        found.append(
            Diagnostic(
                codes.STFT_RESOLUTIONS,
                f"the default losses analyse windows of up to "
                f"{max(DEFAULT_SCALES)} samples, longer than `sample_size` {spec.sample_size}",
                "/sample_size",
                help="give `training.loss_configs` with shorter `fft_sizes` and `n_ffts`, or train on longer clips",
            )
        )
    if configs is not None:
        if configs.discriminator is not None:
            status, reason = lookup("discriminator", configs.discriminator.type).availability()
            if status != "buildable":
                found.append(
                    Diagnostic(
                        codes.TRAINING_UNSUPPORTED,
                        f"the `{configs.discriminator.type}` discriminator cannot be trained by audiodiff: {reason}",
                        "/training/loss_configs/discriminator/type",
                        help="use `encodec`, `oobleck` or `dac`",
                    )
                )
        for name in ("mrmel", "hubert"):
            entry = getattr(configs, name)
            if entry is not None and any(weight > 0 for weight in entry.weights.values()):
                found.append(
                    Diagnostic(
                        codes.TRAINING_UNSUPPORTED,
                        f"the `{name}` loss is not built by audiodiff: {lookup('loss', name).availability()[1]}",
                        f"/training/loss_configs/{name}",
                        help=f"remove `{name}` or set its weight to 0",
                    )
                )
        if configs.spectral is not None and configs.spectral.config.scale is not None:
            found.append(
                Diagnostic(
                    codes.TRAINING_UNSUPPORTED,
                    f"`scale: {configs.spectral.config.scale}` spectral "
                    "losses need librosa's filter banks, which audiodiff does not use",
                    "/training/loss_configs/spectral/config/scale",
                    help="remove `scale`",
                )
            )
    metrics = training.eval_loss_configs
    if metrics is not None:
        for name in ("mel", "pesq"):
            if getattr(metrics, name) is not None:
                found.append(
                    Diagnostic(
                        codes.SETTING_IGNORED,
                        f"the `{name}` metric is not computed by audiodiff: "
                        f"{lookup('eval_metric', name).availability()[1]}",
                        f"/training/eval_loss_configs/{name}",
                        severity=Severity.WARNING,
                    )
                )
        if metrics.stft is not None and metrics.stft.scale is not None:
            found.append(
                Diagnostic(
                    codes.TRAINING_UNSUPPORTED,
                    "`scale` STFT metrics need librosa's filter banks",
                    "/training/eval_loss_configs/stft/scale",
                )
            )
    return found
