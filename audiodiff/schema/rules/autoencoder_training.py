"""Rules of autoencoder training (spec §5.1, C65): the two optimizer groups against the losses in use, the
discriminator's channels, the STFT resolutions against the clip length, loss weights, and the losses that only
some bottlenecks produce.

The reference finds most of these when training starts (`KeyError: 'discriminator'`, a convolution's channel
error at the first step, an STFT padding error); here they are found before anything is built.
"""

from __future__ import annotations

import typing

from audiodiff.diagnostics import codes
from audiodiff.schema.rules.report import RuleReport, at
from audiodiff.schema.v1 import autoencoder_training as ae
from audiodiff.schema.v1.autoencoder_training import (
    DiscriminatorSpec,
    LossConfigsSpec,
    SpectralLossSpec,
    default_loss_configs,
)
from audiodiff.schema.v1.pretransform import Bottleneck
from audiodiff.schema.v1.root import AutoencoderConfig
from audiodiff.schema.v1.training import AutoencoderTrainingSpec


def _bottlenecks_with(term: str) -> list[str]:
    """The bottleneck tags whose class produces a loss term (`kl`, `mmd`), from the `Bottleneck` union."""
    members: tuple[type[Bottleneck], ...] = typing.get_args(typing.get_args(Bottleneck)[0])
    return sorted(
        typing.get_args(member.model_fields["type"].annotation)[0] for member in members if term in member.loss_terms
    )


GROUPS = ("autoencoder", "discriminator")


def check(spec: AutoencoderConfig, report: RuleReport) -> None:
    training = spec.training
    if training is None:
        return
    configs = training.loss_configs
    losses = configs if configs is not None else default_loss_configs()
    _check_optimizers(training, losses, configs is None, report)
    if training.force_input_mono and spec.model.encoder.config.input_channels != 1:
        report.add(
            codes.MONO_INPUT_CHANNELS,
            f"`force_input_mono` feeds the encoder one channel, but it reads "
            f"{spec.model.encoder.config.input_channels}",
            at("model", "encoder", "config", "in_channels"),
            help="set the encoder's `in_channels` to 1",
            related=(("the mono input is asked for here", at("training", "force_input_mono")),),
        )
    if configs is None:
        return  # the default losses' window against the clip length: `run` checks it (a model-only config is fine)
    _check_entries(configs, report)
    _check_discriminator(spec, configs, report)
    _check_resolutions(spec, configs, report)
    _check_weights(configs, report)
    _check_bottleneck_losses(spec, configs, report)


def _check_optimizers(
    training: AutoencoderTrainingSpec, losses: LossConfigsSpec, defaulted: bool, report: RuleReport
) -> None:
    groups = training.optimizer_configs
    adversarial = losses.discriminator is not None
    if groups is None:
        if training.learning_rate is None:
            report.add(
                codes.AUTOENCODER_OPTIMIZER,
                "neither `learning_rate` nor `optimizer_configs` is set: the default AdamW optimizers get no rate",
                at("training"),
                help='add `"learning_rate": 1e-4` (AdamW for the autoencoder and the discriminator)',
            )
        return
    needed = GROUPS if adversarial else GROUPS[:1]
    discriminator_at = at("training", "loss_configs", "discriminator") if not defaulted else at("training")
    why = (
        "the default `loss_configs` train an `encodec` discriminator"
        if defaulted
        else "the discriminator is declared here"
    )
    for name in needed:
        if name not in groups:
            related = ((why, discriminator_at),) if name == "discriminator" else ()
            code = codes.AUTOENCODER_OPTIMIZER if name == "discriminator" else codes.OPTIMIZER_GROUP
            report.add(
                code,
                f"`optimizer_configs` has no `{name}` entry, which an autoencoder "
                + ("with a discriminator trains" if name == "discriminator" else "trains"),
                at("training", "optimizer_configs"),
                help=f'add `"{name}": {{"optimizer": {{"type": "AdamW", "config": {{"lr": 1e-4, '
                f'"betas": [0.8, 0.99]}}}}}}`',
                related=related,
            )
    for name in groups:
        if name not in needed:
            reason = (
                "there is no discriminator to train"
                if name == "discriminator"
                else "autoencoders train the `autoencoder` and `discriminator` groups"
            )
            report.add(
                codes.SETTING_IGNORED,
                f"the `{name}` optimizer group is never used: {reason}",
                at("training", "optimizer_configs", name),
                help="remove it",
            )
    with_schedule = [name for name in needed if name in groups and groups[name].scheduler is not None]
    if adversarial and len(with_schedule) == 1 and all(name in groups for name in needed):
        other = next(name for name in needed if name not in with_schedule)
        report.add(
            codes.SCHEDULER_UNPAIRED,
            f"only the `{with_schedule[0]}` group has a scheduler, so upstream "
            f"schedules neither (it needs one for `{other}` too)",
            at("training", "optimizer_configs", with_schedule[0], "scheduler"),
            help=f"add a scheduler to `{other}` as well, or remove this one",
        )
    if training.learning_rate is not None:
        report.add(
            codes.LEARNING_RATE_OVERRIDDEN,
            "`learning_rate` is ignored because `optimizer_configs` sets the rates",
            at("training", "learning_rate"),
            related=(("the optimizers' rates are set here", at("training", "optimizer_configs")),),
        )


def _check_entries(configs: LossConfigsSpec, report: RuleReport) -> None:
    """The entries and weights upstream indexes whenever `loss_configs` is given (audiodiff does without them:
    AD509 carries the judgement per target)."""
    where = at("training", "loss_configs")
    for name in ("spectral", "time"):
        if getattr(configs, name) is None:
            report.add(
                codes.AUTOENCODER_LOSS,
                f"`loss_configs` has no `{name}` entry, which the reference's autoencoder training reads",
                where,
                help='add `"time": {"type": "l1", "weights": {"l1": 0.0}}`'
                if name == "time"
                else 'add `"spectral": {"type": "mrstft", "weights": {"mrstft": 1.0}}`',
            )
    needed: list[tuple[str, SpectralLossSpec | DiscriminatorSpec, tuple[str, ...]]] = []
    if configs.spectral is not None:
        needed.append(("spectral", configs.spectral, ("mrstft",)))
    if configs.discriminator is not None:
        needed.append(("discriminator", configs.discriminator, ("adversarial", "feature_matching")))
    for name, entry, weights in needed:
        for weight in weights:
            if getattr(entry.weights, weight) is None:
                pointer = f"{where}/{name}/weights" if entry.explicitly_set("weights") else f"{where}/{name}"
                report.add(
                    codes.AUTOENCODER_LOSS,
                    f"`loss_configs.{name}` has no `{weight}` weight",
                    pointer,
                    help=f'add `"{weight}": ...` (audiodiff uses upstream\'s default meanwhile)',
                )


def _decoder_channels(spec: AutoencoderConfig) -> int:
    return spec.model.decoder.config.output_channels


def _check_discriminator(spec: AutoencoderConfig, configs: LossConfigsSpec, report: RuleReport) -> None:
    discriminator = configs.discriminator
    channels = _decoder_channels(spec)
    if isinstance(discriminator, ae.OobleckDiscriminatorSpec) and discriminator.config.in_channels != channels:
        pointer = at("training", "loss_configs", "discriminator", "config")
        if discriminator.config.explicitly_set("in_channels"):
            pointer = at("training", "loss_configs", "discriminator", "config", "in_channels")
        report.add(
            codes.DISCRIMINATOR_CHANNELS,
            f"the `oobleck` discriminator reads "
            f"{discriminator.config.in_channels} channel(s), but the decoder writes {channels}",
            pointer,
            help=f'set `"in_channels": {channels}` (upstream does not take it from the model)',
            related=(
                (
                    "the decoder's channels are set here",
                    at("model", "decoder", "config", type(spec.model.decoder.config).output_key),
                ),
            ),
        )


def _check_resolutions(spec: AutoencoderConfig, configs: LossConfigsSpec, report: RuleReport) -> None:
    length = spec.sample_size
    base = at("training", "loss_configs")
    lists: list[tuple[str, tuple[str, str, str], tuple, tuple, tuple, bool]] = []
    if configs.spectral is not None:
        spectral = configs.spectral.config
        lists.append(
            (
                f"{base}/spectral/config",
                ("fft_sizes", "hop_sizes", "win_lengths"),
                spectral.fft_sizes,
                spectral.hop_sizes,
                spectral.win_lengths,
                True,
            )
        )
    discriminator = configs.discriminator
    if isinstance(discriminator, ae.EncodecDiscriminatorSpec):
        encodec = discriminator.config
        lists.append(
            (
                f"{base}/discriminator/config",
                ("n_ffts", "hop_lengths", "win_lengths"),
                encodec.n_ffts,
                encodec.hop_lengths,
                encodec.win_lengths,
                False,
            )
        )
    for pointer, names, ffts, hops, windows, centred in lists:
        if not len(ffts) == len(hops) == len(windows):
            report.add(
                codes.STFT_RESOLUTIONS,
                f"`{names[0]}`, `{names[1]}` and `{names[2]}` must have one entry "
                f"per resolution, and have {len(ffts)}, {len(hops)} and {len(windows)}",
                f"{pointer}/{names[1]}" if len(hops) != len(ffts) else f"{pointer}/{names[2]}",
            )
            continue
        for index, (fft, window) in enumerate(zip(ffts, windows, strict=True)):
            if window > fft:
                report.add(
                    codes.STFT_RESOLUTIONS,
                    f"window {window} is longer than its FFT size {fft}",
                    f"{pointer}/{names[2]}/{index}",
                    help=f"use a window of at most {fft} samples",
                )
        # centred STFTs reflect-pad by half a window (which must be shorter than the clip); the discriminator's
        # STFT is not centred and needs a whole window
        limit = max(ffts)
        if (centred and limit // 2 >= length) or (not centred and limit > length):
            report.add(
                codes.STFT_RESOLUTIONS,
                f"an FFT of {limit} samples does not fit clips of `sample_size` {length}",
                f"{pointer}/{names[0]}/{list(ffts).index(limit)}",
                help="use shorter FFTs or longer clips",
                related=(("the clip length is set here", at("sample_size")),),
            )
    if isinstance(discriminator, ae.DACDiscriminatorSpec):
        for index, size in enumerate(discriminator.config.fft_sizes):
            if (size - size // 4) // 2 >= length:
                report.add(
                    codes.STFT_RESOLUTIONS,
                    f"an FFT of {size} samples does not fit clips of `sample_size` {length}",
                    f"{base}/discriminator/config/fft_sizes/{index}",
                )


def _check_weights(configs: LossConfigsSpec, report: RuleReport) -> None:
    base = at("training", "loss_configs")
    weights: list[tuple[str, float | None]] = []
    if configs.discriminator is not None:
        weights += [
            (f"{base}/discriminator/weights/adversarial", configs.discriminator.weights.adversarial),
            (f"{base}/discriminator/weights/feature_matching", configs.discriminator.weights.feature_matching),
        ]
    if configs.spectral is not None:
        weights.append((f"{base}/spectral/weights/mrstft", configs.spectral.weights.mrstft))
    if configs.time is not None:
        weights += [
            (f"{base}/time/weights/l1", configs.time.weights.l1),
            (f"{base}/time/weights/l2", configs.time.weights.l2),
        ]
    if configs.bottleneck is not None:
        weights += [
            (f"{base}/bottleneck/weights/kl", configs.bottleneck.weights.kl),
            (f"{base}/bottleneck/weights/mmd", configs.bottleneck.weights.mmd),
        ]
    for pointer, weight in weights:
        if weight is not None and weight < 0:
            report.add(
                codes.LOSS_WEIGHT,
                f"the weight {weight:g} is negative: training would maximise this loss",
                pointer,
                help="use a weight of 0 or more",
            )
    spectral = configs.spectral.weights.mrstft if configs.spectral is not None else 0.0
    spectral = ae.DEFAULT_MRSTFT if spectral is None else spectral
    time = configs.time.weights if configs.time is not None else None
    if (
        configs.spectral is not None
        and spectral == 0
        and not (time is not None and ((time.l1 or 0) > 0 or (time.l2 or 0) > 0))
    ):
        report.add(
            codes.LOSS_WEIGHT,
            "no reconstruction loss has a positive weight: the decoder is not trained to reproduce its input",
            f"{base}/spectral/weights/mrstft",
            help="give `mrstft` (or the time-domain `l1`) a positive weight",
        )


def _check_bottleneck_losses(spec: AutoencoderConfig, configs: LossConfigsSpec, report: RuleReport) -> None:
    if configs.bottleneck is None:
        return
    model_bottleneck = spec.model.bottleneck
    bottleneck = model_bottleneck.type if model_bottleneck is not None else None
    terms = model_bottleneck.loss_terms if model_bottleneck is not None else frozenset()
    weights = configs.bottleneck.weights
    base = at("training", "loss_configs", "bottleneck", "weights")
    for name, what in (("kl", "a KL term"), ("mmd", "an MMD term")):
        if getattr(weights, name) is not None and name not in terms:
            report.add(
                codes.BOTTLENECK_LOSS_IGNORED,
                f"the `{name}` weight is ignored: the "
                + (f"`{bottleneck}` bottleneck" if bottleneck else "model, which has no bottleneck,")
                + f" produces no {what[3:] if what.startswith('an ') else what[2:]}",
                f"{base}/{name}",
                help=f"remove it, or use a bottleneck with {what}: "
                + ", ".join(f"`{tag}`" for tag in _bottlenecks_with(name)),
            )
