"""Autoencoder training types: discriminators, `loss_configs` entries and `eval_loss_configs` metrics. Their
builders live in the runtime layer (`audiodiff.runtime.autoencoder_losses`), above the compiler, so each entry names
its builder as a `module:function` path that `Entry.resolve_builder` imports on use; `weights` names the weights
the entry's spec takes (`weights.<name>`)."""

from __future__ import annotations

from audiodiff.compiler.entry import Entry
from audiodiff.compiler.params_discriminators import (
    dac_params,
    encodec_params,
    oobleck_params,
)
from audiodiff.schema.v1 import autoencoder_training as ae_train

_LOSSES = "audiodiff.runtime.autoencoder_losses:"
_ADVERSARIAL = ("adversarial", "feature_matching")

ENTRIES: tuple[Entry, ...] = (
    Entry(
        "discriminator",
        "encodec",
        ae_train.EncodecDiscriminatorSpec,
        builder_path=_LOSSES + "build_discriminator",
        weights=_ADVERSARIAL,
        counter=encodec_params,
    ),
    Entry(
        "discriminator",
        "oobleck",
        ae_train.OobleckDiscriminatorSpec,
        builder_path=_LOSSES + "build_discriminator",
        weights=_ADVERSARIAL,
        counter=oobleck_params,
    ),
    Entry(
        "discriminator",
        "dac",
        ae_train.DACDiscriminatorSpec,
        builder_path=_LOSSES + "build_discriminator",
        weights=_ADVERSARIAL,
        counter=dac_params,
    ),
    Entry(
        "discriminator",
        "big_vgan",
        ae_train.BigVGANDiscriminatorSpec,
        weights=_ADVERSARIAL,
        status="unsupported",
        reason="its CQT sub-discriminators need packages audiodiff does not depend on",
    ),
    Entry("loss", "spectral", ae_train.SpectralLossSpec, builder_path=_LOSSES + "spectral_terms", weights=("mrstft",)),
    Entry("loss", "time", ae_train.TimeLossSpec, builder_path=_LOSSES + "time_terms", weights=("l1", "l2")),
    Entry(
        "loss",
        "bottleneck",
        ae_train.BottleneckLossSpec,
        builder_path=_LOSSES + "bottleneck_terms",
        weights=("kl", "mmd"),
    ),
    Entry(
        "loss",
        "mrmel",
        ae_train.ExternalLossSpec,
        weights=("mrmel",),
        status="unsupported",
        reason="the multi-resolution mel loss needs `descript-audiotools`",
    ),
    Entry(
        "loss",
        "hubert",
        ae_train.ExternalLossSpec,
        weights=("hubert",),
        status="unsupported",
        reason="the HuBERT loss downloads a HuBERT model when it is built",
    ),
    Entry("eval_metric", "stft", ae_train.STFTEvalConfig, builder_path=_LOSSES + "build_eval_metrics"),
    Entry("eval_metric", "sisdr", ae_train.SISDREvalConfig, builder_path=_LOSSES + "build_eval_metrics"),
    Entry("eval_metric", "mel", dict, status="unsupported", reason="mel metrics need librosa's filter banks"),
    Entry("eval_metric", "pesq", dict, status="unsupported", reason="PESQ needs the `pesq` package"),
)
