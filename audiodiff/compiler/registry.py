"""The closed table of everything a config can build: (kind, type tag) -> spec class, lowering, builder.

Config text never names a Python object. A tag either has an entry here or is rejected by the schema; a test
asserts the bijection between the members of the schema's tagged unions and these entries. Entries that the
schema accepts but audiodiff cannot build say why, and `compile` reports it (`validate` does not).
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from audiodiff.compiler import lowering
from audiodiff.schema.v1 import autoencoder_training as ae_train
from audiodiff.schema.v1 import conditioning as cond
from audiodiff.schema.v1 import diffusion as diff
from audiodiff.schema.v1 import pretransform as pre
from audiodiff.schema.v1 import training as train

Status = Literal["buildable", "needs_extra", "needs_download", "unsupported"]


@dataclass(frozen=True)
class Entry:
    kind: str
    tag: str
    spec: type
    builder: str | None  # the function that builds it: in `audiodiff.compiler.materialize` for modules, in
    #                     `audiodiff.runtime.optim` for optimizers and schedulers
    lowering: Callable[..., Any] | None = None
    status: Status = "buildable"
    extra: str | None = None  # the pyproject extra that provides it
    module: str | None = None  # the importable module the extra installs
    reason: str | None = None
    weights: tuple[str, ...] = ()  # the weights a loss or discriminator entry takes (`weights.<name>`)

    def availability(self) -> tuple[Status, str | None]:
        """("buildable", None), or the status with a one-sentence reason, checked without importing anything."""
        if self.status == "needs_extra" and self.module is not None:
            if _installed(self.module):
                return "buildable", None
            return "needs_extra", self.reason or f"needs the optional package `{self.module}`"
        return self.status, self.reason


@functools.cache
def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


_ENTRIES: list[Entry] = []


def _add(kind: str, tag: str, spec: type, builder: str | None, lowering: Callable[..., Any] | None = None,
         **options: Any) -> None:
    _ENTRIES.append(Entry(kind, tag, spec, builder, lowering, **options))


# --- backbones of conditioned models (`model.diffusion`) and of unconditioned models (`model`) -------------------
_add("backbone", "dit", diff.DiTDiffusionSpec, "build_dit", lowering.lower_backbone)
_add("backbone", "adp_cfg_1d", diff.UNetCFG1dDiffusionSpec, "build_unet_cfg", lowering.lower_backbone)
_add("backbone", "adp_1d", diff.UNet1dDiffusionSpec, "build_unet", lowering.lower_backbone)
_add("backbone", "DAU1d", diff.DAU1dDiffusionSpec, "build_dau1d", lowering.lower_backbone)
_add("uncond_backbone", "dit", diff.DiTUncondModelSpec, "build_dit", lowering.lower_backbone)
_add("uncond_backbone", "DAU1d", diff.DAU1dUncondModelSpec, "build_dau1d", lowering.lower_backbone)
_add("uncond_backbone", "adp_1d", diff.UNet1dUncondModelSpec, "build_unet", lowering.lower_backbone)
_add("uncond_backbone", "adp_uncond_1d", diff.UNet1dUncondModelSpec, "build_unet", lowering.lower_backbone)

# --- conditioners ---------------------------------------------------------------------------------------------------
_CLAP = dict(status="needs_extra", extra="clap", module="laion_clap",
             reason="CLAP conditioners need the optional `laion_clap` package and a local CLAP checkpoint")
_add("conditioner", "t5", cond.T5ConditionerSpec, "build_conditioner", lowering.lower_t5,
     status="needs_extra", extra="t5", module="transformers",
     reason="T5 conditioners need the optional `transformers` package (`pip install audiodiff[t5]`)")
_add("conditioner", "clap_text", cond.CLAPTextConditionerSpec, "build_conditioner", lowering.lower_clap_text, **_CLAP)
_add("conditioner", "clap_audio", cond.CLAPAudioConditionerSpec, "build_conditioner",
     lowering.lower_vector_conditioner, **_CLAP)
_add("conditioner", "int", cond.IntConditionerSpec, "build_conditioner", lowering.lower_vector_conditioner)
_add("conditioner", "number", cond.NumberConditionerSpec, "build_conditioner", lowering.lower_vector_conditioner)
_add("conditioner", "list", cond.ListConditionerSpec, "build_conditioner", lowering.lower_vector_conditioner)
_add("conditioner", "phoneme", cond.PhonemeConditionerSpec, "build_conditioner", lowering.lower_phoneme,
     status="needs_extra", extra="phoneme", module="g2p_en",
     reason="phoneme conditioners need the optional `g2p_en` package and its NLTK data")
_add("conditioner", "lut", cond.LUTConditionerSpec, "build_conditioner", lowering.lower_lut,
     status="needs_extra", extra="t5", module="transformers",
     reason="LUT conditioners need the optional `transformers` package for their tokenizer")
_add("conditioner", "pretransform", cond.PretransformConditionerSpec, "build_conditioner",
     lowering.lower_signal_conditioner)
_add("conditioner", "source_mix", cond.SourceMixConditionerSpec, "build_conditioner", lowering.lower_signal_conditioner)

# --- pretransforms --------------------------------------------------------------------------------------------------
_add("pretransform", "autoencoder", pre.AutoencoderPretransformSpec, "build_pretransform",
     lowering.lower_pretransform)
_add("pretransform", "wavelet", pre.WaveletPretransformSpec, "build_pretransform", lowering.lower_pretransform)
_add("pretransform", "patched", pre.PatchedPretransformSpec, "build_pretransform", lowering.lower_pretransform)
_add("pretransform", "pqmf", pre.PQMFPretransformSpec, None, lowering.lower_pretransform, status="unsupported",
     reason="the upstream PQMF pretransform reports no ratio or latent width and cannot serve diffusion (C14)")
_add("pretransform", "dac_pretrained", pre.DACPretrainedPretransformSpec, None, lowering.lower_pretransform,
     status="needs_download", reason="`dac_pretrained` downloads the official DAC weights when it is built")
_add("pretransform", "audiocraft_pretrained", pre.AudiocraftPretrainedPretransformSpec, None,
     lowering.lower_pretransform, status="needs_download",
     reason="`audiocraft_pretrained` downloads an EnCodec model when it is built, and only tokenizes")

# --- autoencoder stages ---------------------------------------------------------------------------------------------
for _tag, _enc, _dec in (
    ("oobleck", pre.OobleckEncoderStage, pre.OobleckDecoderStage),
    ("dac", pre.DACEncoderStage, pre.DACDecoderStage),
    ("seanet", pre.SEANetEncoderStage, pre.SEANetDecoderStage),
):
    _add("encoder", _tag, _enc, "build_encoder", lowering.lower_encoder)
    _add("decoder", _tag, _dec, "build_decoder", lowering.lower_decoder)
for _tag, _enc, _dec in (
    ("local_attn", pre.LocalAttentionEncoderStage, pre.LocalAttentionDecoderStage),
    ("taae", pre.TAAEEncoderStage, pre.TAAEDecoderStage),
):
    _reason = f"audiodiff validates `{_tag}` autoencoder stages but does not build them yet"
    _add("encoder", _tag, _enc, None, lowering.lower_encoder, status="unsupported", reason=_reason)
    _add("decoder", _tag, _dec, None, lowering.lower_decoder, status="unsupported", reason=_reason)

# --- bottlenecks ----------------------------------------------------------------------------------------------------
for _tag, _spec in (
    ("tanh", pre.TanhBottleneck), ("vae", pre.VAEBottleneck), ("l2_norm", pre.L2NormBottleneck),
    ("wasserstein", pre.WassersteinBottleneck), ("fsq", pre.FSQBottleneck),
    ("dithered_fsq", pre.DitheredFSQBottleneck), ("dac_rvq", pre.DACRVQBottleneck),
    ("dac_rvq_vae", pre.DACRVQVAEBottleneck),
):
    _add("bottleneck", _tag, _spec, "build_bottleneck", lowering.lower_bottleneck)
for _tag, _spec in (("rvq", pre.RVQBottleneck), ("rvq_vae", pre.RVQVAEBottleneck)):
    _add("bottleneck", _tag, _spec, "build_bottleneck", lowering.lower_bottleneck, status="needs_extra",
         extra="vq", module="vector_quantize_pytorch",
         reason="residual VQ bottlenecks need the optional `vector-quantize-pytorch` package")

# --- optimizers and schedulers --------------------------------------------------------------------------------------
_add("optimizer", "Adam", train.AdamOptimizerSpec, "build_optimizer")
_add("optimizer", "AdamW", train.AdamWOptimizerSpec, "build_optimizer")
_add("optimizer", "SGD", train.SGDOptimizerSpec, "build_optimizer")
# DeepSpeed's FusedAdam computes the Adam(W) update: audiodiff builds torch's Adam(W) for it (fused on CUDA)
_add("optimizer", "FusedAdam", train.FusedAdamOptimizerSpec, "build_optimizer")
for _tag, _spec in (
    ("InverseLR", train.InverseLRSpec), ("ExponentialLR", train.ExponentialLRSpec),
    ("CosineAnnealingLR", train.CosineAnnealingLRSpec), ("LinearLR", train.LinearLRSpec),
    ("StepLR", train.StepLRSpec), ("ConstantLR", train.ConstantLRSpec),
):
    _add("scheduler", _tag, _spec, "build_scheduler")

# --- autoencoder training: discriminators, `loss_configs` entries, `eval_loss_configs` metrics -------------------
# builders live in `audiodiff.runtime.autoencoder_losses`
_ADVERSARIAL = ("adversarial", "feature_matching")
_add("discriminator", "encodec", ae_train.EncodecDiscriminatorSpec, "build_discriminator", weights=_ADVERSARIAL)
_add("discriminator", "oobleck", ae_train.OobleckDiscriminatorSpec, "build_discriminator", weights=_ADVERSARIAL)
_add("discriminator", "dac", ae_train.DACDiscriminatorSpec, "build_discriminator", weights=_ADVERSARIAL)
_add("discriminator", "big_vgan", ae_train.BigVGANDiscriminatorSpec, None, weights=_ADVERSARIAL,
     status="unsupported", reason="its CQT sub-discriminators need packages audiodiff does not depend on")
_add("loss", "spectral", ae_train.SpectralLossSpec, "spectral_terms", weights=("mrstft",))
_add("loss", "time", ae_train.TimeLossSpec, "time_terms", weights=("l1", "l2"))
_add("loss", "bottleneck", ae_train.BottleneckLossSpec, "bottleneck_terms", weights=("kl", "mmd"))
_add("loss", "mrmel", ae_train.ExternalLossSpec, None, weights=("mrmel",), status="unsupported",
     reason="the multi-resolution mel loss needs `descript-audiotools`")
_add("loss", "hubert", ae_train.ExternalLossSpec, None, weights=("hubert",), status="unsupported",
     reason="the HuBERT loss downloads a HuBERT model when it is built")
_add("eval_metric", "stft", ae_train.STFTEvalConfig, "build_eval_metrics")
_add("eval_metric", "sisdr", ae_train.SISDREvalConfig, "build_eval_metrics")
_add("eval_metric", "mel", dict, None, status="unsupported", reason="mel metrics need librosa's filter banks")
_add("eval_metric", "pesq", dict, None, status="unsupported", reason="PESQ needs the `pesq` package")

REGISTRY: dict[tuple[str, str], Entry] = {(entry.kind, entry.tag): entry for entry in _ENTRIES}
if len(REGISTRY) != len(_ENTRIES):
    raise RuntimeError("duplicate (kind, tag) in the registry")

KINDS = tuple(dict.fromkeys(entry.kind for entry in _ENTRIES))


def lookup(kind: str, tag: str) -> Entry:
    return REGISTRY[(kind, tag)]


def tags(kind: str) -> list[str]:
    return [entry.tag for entry in _ENTRIES if entry.kind == kind]
