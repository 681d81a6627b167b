"""The losses of autoencoder training, assembled from the typed `loss_configs` (spec §5.1): which terms the
generator minimises with which weights, the discriminator and its loss, and the evaluation metrics.

Term names are the reference's log names (`mrstft_loss`, `loss_adv`, `kl_loss`, ...). Weights live in buffers, so a
decaying weight (`decay`) is saved with the checkpoint and a resume continues it exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from audiodiff.schema.v1 import autoencoder_training as losses_spec
from audiodiff.schema.v1.autoencoder_training import (
    LossConfigsSpec,
    default_loss_configs,
)

if TYPE_CHECKING:
    from audiodiff.nn.dac_discriminator import DACDiscriminator
    from audiodiff.nn.discriminators import EncodecDiscriminator, OobleckDiscriminator
    from audiodiff.nn.reconstruction_losses import MultiResolutionSTFTLoss, STFTOptions

    Discriminator = EncodecDiscriminator | OobleckDiscriminator | DACDiscriminator  # each has `loss(reals, fakes)`

DEFAULT_KL_WEIGHT = 1e-6
DEFAULT_MMD_WEIGHT = 100.0
# bottleneck type -> the terms its encode info carries: (term name, info key, weight or None for the configured one)
BOTTLENECK_TERMS: dict[str, tuple[tuple[str, str, float | None], ...]] = {
    "vae": (("kl_loss", "kl", None),),
    "rvq": (("quantizer_loss", "quantizer_loss", 1.0),),
    "rvq_vae": (("kl_loss", "kl", None), ("quantizer_loss", "quantizer_loss", 1.0)),
    "dac_rvq": (("codebook_loss", "vq/codebook_loss", 1.0), ("commitment_loss", "vq/commitment_loss", 0.25)),
    "dac_rvq_vae": (
        ("kl_loss", "kl", None),
        ("codebook_loss", "vq/codebook_loss", 1.0),
        ("commitment_loss", "vq/commitment_loss", 0.25),
    ),
    "wasserstein": (("mmd_loss", "mmd", None),),
}

StepValues = dict[str, Tensor]  # reals, decoded, the encoder's info, the discriminator's outputs


@dataclass(frozen=True)
class Term:
    """One weighted generator loss: `weight * compute(values)`; the weight is multiplied by `decay` at each use."""

    name: str
    weight: float
    compute: Callable[[StepValues], Tensor]
    decay: float = 1.0


def build_discriminator(spec: losses_spec.DiscriminatorSpec, *, channels: int) -> Discriminator:
    """The discriminator of a `loss_configs.discriminator` entry, for audio of `channels` channels."""
    from audiodiff.nn.dac_discriminator import DACDiscriminator
    from audiodiff.nn.discriminators import EncodecDiscriminator, OobleckDiscriminator

    if isinstance(spec, losses_spec.EncodecDiscriminatorSpec):
        c = spec.config
        return EncodecDiscriminator(
            c.filters,
            in_channels=channels,
            n_ffts=c.n_ffts,
            hop_lengths=c.hop_lengths,
            win_lengths=c.win_lengths,
            normalize_losses=c.normalize_losses,
            out_channels=c.out_channels,
            max_filters=c.max_filters,
            filters_scale=c.filters_scale,
            kernel_size=c.kernel_size,
            dilations=c.dilations,
            stride=c.stride,
            negative_slope=c.activation_params.negative_slope,
            spec_scale_pow=c.spec_scale_pow,
        )
    if isinstance(spec, losses_spec.OobleckDiscriminatorSpec):
        return OobleckDiscriminator(in_channels=spec.config.in_channels)
    if isinstance(spec, losses_spec.DACDiscriminatorSpec):
        dac = spec.config
        return DACDiscriminator(
            channels=channels, periods=dac.periods, fft_sizes=dac.fft_sizes, bands=dac.bands, use_hinge=dac.use_hinge
        )
    raise ValueError(f"the `{spec.type}` discriminator cannot be built by audiodiff")


def stft_options(config: losses_spec.STFTOptions, sample_rate: int) -> STFTOptions:
    from audiodiff.nn.reconstruction_losses import STFTOptions

    if config.scale is not None:
        raise ValueError(f"`scale: {config.scale}` STFT losses need librosa filter banks, which audiodiff does not use")
    return STFTOptions(
        window=config.window,
        w_sc=config.w_sc,
        w_log_mag=config.w_log_mag,
        w_lin_mag=config.w_lin_mag,
        w_phs=config.w_phs,
        sample_rate=sample_rate,
        perceptual_weighting=config.perceptual_weighting,
        scale_invariance=config.scale_invariance,
        eps=config.eps,
        log_eps=config.log_eps,
        log_fac=config.log_fac,
        mag_distance=config.mag_distance,
    )


def spectral_terms(
    spectral: losses_spec.SpectralLossSpec, *, channels: int, sample_rate: int
) -> tuple[list[Term], list[nn.Module]]:
    """Multi-resolution STFT terms: sum-and-difference plus half-weighted left and right for stereo, else one."""
    from audiodiff.nn.reconstruction_losses import (
        MultiResolutionSTFTLoss,
        SumAndDifferenceSTFTLoss,
    )

    c = spectral.config
    options = stft_options(c, sample_rate)
    per_channel = MultiResolutionSTFTLoss(c.fft_sizes, c.hop_sizes, c.win_lengths, **options)
    weight = spectral.weights.mrstft if spectral.weights.mrstft is not None else losses_spec.DEFAULT_MRSTFT
    # upstream hands (reals, decoded) to the distance as (input, target): spectral convergence is normalised by the
    # reconstruction's magnitude, not the original's; kept for parity
    if channels != 2:
        return [Term("mrstft_loss", weight, lambda v: per_channel(v["reals"], v["decoded"]), spectral.decay)], [
            per_channel
        ]
    stereo = SumAndDifferenceSTFTLoss(c.fft_sizes, c.hop_sizes, c.win_lengths, **options)
    terms = [Term("mrstft_loss", weight, lambda v: stereo(v["reals"], v["decoded"]), spectral.decay)]
    for index, side in enumerate(("left", "right")):
        terms.append(
            Term(
                f"stft_loss_{side}",
                weight / 2,
                _one_channel(per_channel, index),
                spectral.decay,
            )
        )
    return terms, [stereo, per_channel]


def _one_channel(distance: MultiResolutionSTFTLoss, index: int) -> Callable[[StepValues], Tensor]:
    return lambda v: distance(v["reals"][:, index : index + 1], v["decoded"][:, index : index + 1])


def _info_value(key: str) -> Callable[[StepValues], Tensor]:
    return lambda v: v[key]


def time_terms(time: losses_spec.TimeLossSpec) -> list[Term]:
    """Time-domain L1 and L2 distances, each only with a positive weight."""
    terms = []
    if time.weights.l1 is not None and time.weights.l1 > 0:
        terms.append(
            Term("l1_time_loss", time.weights.l1, lambda v: (v["reals"] - v["decoded"]).abs().mean(), time.decay)
        )
    if time.weights.l2 is not None and time.weights.l2 > 0:
        terms.append(
            Term("l2_time_loss", time.weights.l2, lambda v: ((v["reals"] - v["decoded"]) ** 2).mean(), time.decay)
        )
    return terms


def bottleneck_terms(bottleneck: losses_spec.BottleneckLossSpec | None, bottleneck_type: str | None) -> list[Term]:
    """The terms the bottleneck's encode info carries (KL, quantizer, codebook and commitment, MMD)."""
    weights = bottleneck.weights if bottleneck is not None else losses_spec.BottleneckWeightsSpec()
    terms = []
    for name, key, fixed in BOTTLENECK_TERMS.get(bottleneck_type or "", ()):
        weight = fixed
        if weight is None:
            weight = (
                (weights.kl if weights.kl is not None else DEFAULT_KL_WEIGHT)
                if key == "kl"
                else (weights.mmd if weights.mmd is not None else DEFAULT_MMD_WEIGHT)
            )
        terms.append(Term(name, weight, _info_value(key)))
    return terms


def adversarial_terms(discriminator: losses_spec.DiscriminatorSpec) -> list[Term]:
    weights = discriminator.weights
    adversarial = weights.adversarial if weights.adversarial is not None else losses_spec.DEFAULT_ADVERSARIAL
    matching = (
        weights.feature_matching if weights.feature_matching is not None else losses_spec.DEFAULT_FEATURE_MATCHING
    )
    return [
        Term("loss_adv", adversarial, lambda v: v["loss_adv"]),
        Term("feature_matching_loss", matching, lambda v: v["feature_matching_distance"]),
    ]


class AutoencoderLosses(nn.Module):
    """The generator's weighted terms and the discriminator (not a submodule here: the trainer owns it, under the
    name upstream's checkpoints use)."""

    def __init__(
        self, configs: LossConfigsSpec | None, *, channels: int, sample_rate: int, bottleneck_type: str | None
    ) -> None:
        super().__init__()
        configs = configs if configs is not None else default_loss_configs()
        terms: list[Term] = []
        discriminator: Discriminator | None = None
        if configs.discriminator is not None:
            discriminator = build_discriminator(configs.discriminator, channels=channels)
            terms += adversarial_terms(configs.discriminator)
        self._discriminator = [discriminator]  # a list keeps it out of this module's tree
        distances: list[nn.Module] = []
        if configs.spectral is not None:  # absent: no spectral terms (upstream fails, AD509)
            spectral, distances = spectral_terms(configs.spectral, channels=channels, sample_rate=sample_rate)
            terms += spectral
        self.distances = nn.ModuleList(distances)
        if configs.time is not None:
            terms += time_terms(configs.time)
        terms += bottleneck_terms(configs.bottleneck, bottleneck_type)
        self.terms = tuple(terms)
        for term in self.terms:  # persistent: decayed weights resume where they were
            self.register_buffer(f"weight_{term.name}", torch.tensor(float(term.weight)))

    @property
    def discriminator(self) -> Discriminator | None:
        return self._discriminator[0]

    def generator_loss(self, values: StepValues) -> tuple[Tensor, dict[str, Tensor]]:
        """(total, {term name: weighted value}) of the generator's step."""
        total = values["reals"].new_zeros(())
        parts = {}
        for term in self.terms:
            weight = getattr(self, f"weight_{term.name}")
            if term.decay != 1.0:
                weight.mul_(term.decay)
            value = weight * term.compute(values)
            parts[term.name] = value
            total = total + value
        return total, parts


def build_eval_metrics(
    configs: losses_spec.EvalLossConfigsSpec | None, *, sample_rate: int
) -> dict[str, Callable[[Tensor, Tensor], Tensor]]:
    """Metrics of reconstructions against their originals, `(decoded, reals) -> value`: `sisdr` (dB, higher is
    better) and `mrstft` (the distance at the default resolutions) always, `stft` when configured."""
    from audiodiff.nn.reconstruction_losses import (
        MultiResolutionSTFTLoss,
        STFTDistance,
        si_sdr,
    )

    configs = configs or losses_spec.EvalLossConfigsSpec()
    zero_mean = configs.sisdr.zero_mean if configs.sisdr is not None else True
    eps = configs.sisdr.eps if configs.sisdr is not None else 1e-8
    distance = MultiResolutionSTFTLoss(
        losses_spec.DEFAULT_SCALES[1:], losses_spec.DEFAULT_HOPS[1:], losses_spec.DEFAULT_SCALES[1:]
    )
    metrics: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
        "sisdr": lambda decoded, reals: si_sdr(decoded, reals, zero_mean=zero_mean, eps=eps).mean(),
        "mrstft": distance,
    }
    if configs.stft is not None:
        c = configs.stft
        stft = STFTDistance(c.fft_size, c.hop_size, c.win_length, **stft_options(c, sample_rate))
        metrics["stft"] = stft
    return metrics
