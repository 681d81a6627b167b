"""Pretransform, autoencoder-stage and bottleneck types: for each tag its spec, builder, counter and lowering.

Builders import `audiodiff.nn` inside themselves (this file stays torch-free); the counters' layer arithmetic is in
`params_codecs.py`. A pretransform builder takes (spec, sample_rate); stage and bottleneck builders take the spec.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from audiodiff.compiler import lowering
from audiodiff.compiler import params_codecs as count
from audiodiff.compiler.entry import Entry
from audiodiff.schema.v1 import pretransform as pre

if TYPE_CHECKING:
    from torch import nn


# --- pretransforms --------------------------------------------------------------------------------------------------


def build_autoencoder_pretransform(spec: pre.AutoencoderPretransformSpec, sample_rate: int) -> nn.Module:
    from audiodiff.compiler.materialize import build_autoencoder
    from audiodiff.nn.pretransforms import AutoencoderPretransform

    return AutoencoderPretransform(
        build_autoencoder(spec.config, sample_rate),
        scale=spec.scale,
        model_half=spec.model_half,
        iterate_batch=spec.iterate_batch,
        chunked=spec.chunked,
        enable_grad=spec.enable_grad,
    )


def build_wavelet_pretransform(spec: pre.WaveletPretransformSpec, sample_rate: int) -> nn.Module:
    from audiodiff.nn.pretransforms import WaveletPretransform

    return WaveletPretransform(
        channels=spec.config.channels,
        levels=spec.config.levels,
        wavelet=spec.config.wavelet,
        enable_grad=spec.enable_grad,
    )


def build_patched_pretransform(spec: pre.PatchedPretransformSpec, sample_rate: int) -> nn.Module:
    from audiodiff.nn.pretransforms import PatchedPretransform

    return PatchedPretransform(
        channels=spec.config.channels,
        patch_size=spec.config.patch_size,
        oversampling=spec.config.oversampling,
        enable_grad=spec.enable_grad,
    )


# --- encoders and decoders ------------------------------------------------------------------------------------------


def build_oobleck_encoder(stage: pre.OobleckEncoderStage) -> nn.Module:
    from audiodiff.nn.oobleck import OobleckEncoder

    config = stage.config
    return OobleckEncoder(
        in_channels=config.in_channels,
        channels=config.channels,
        latent_dim=config.latent_dim,
        c_mults=config.c_mults,
        strides=config.strides,
        use_snake=config.use_snake,
        antialias_activation=config.antialias_activation,
    )


def build_oobleck_decoder(stage: pre.OobleckDecoderStage) -> nn.Module:
    from audiodiff.nn.oobleck import OobleckDecoder

    config = stage.config
    return OobleckDecoder(
        out_channels=config.out_channels,
        channels=config.channels,
        latent_dim=config.latent_dim,
        c_mults=config.c_mults,
        strides=config.strides,
        use_snake=config.use_snake,
        antialias_activation=config.antialias_activation,
        use_nearest_upsample=config.use_nearest_upsample,
        final_tanh=config.final_tanh,
    )


def build_dac_encoder(stage: pre.DACEncoderStage) -> nn.Module:
    from audiodiff.nn.dac import DACEncoder

    config = stage.config
    return DACEncoder(
        in_channels=config.in_channels, d_model=config.d_model, strides=config.strides, latent_dim=config.latent_dim
    )


def build_dac_decoder(stage: pre.DACDecoderStage) -> nn.Module:
    from audiodiff.nn.dac import DACDecoder

    config = stage.config
    return DACDecoder(
        latent_dim=config.latent_dim, out_channels=config.out_channels, channels=config.channels, rates=config.rates
    )


def _seanet_arguments(config: pre.SEANetEncoderSpec) -> dict[str, Any]:
    return dict(
        channels=config.channels,
        dimension=config.dimension,
        n_filters=config.n_filters,
        n_residual_layers=config.n_residual_layers,
        activation=config.activation,
        activation_alpha=config.activation_params.alpha,
        norm=config.norm,
        kernel_size=config.kernel_size,
        last_kernel_size=config.last_kernel_size,
        residual_kernel_size=config.residual_kernel_size,
        dilation_base=config.dilation_base,
        causal=config.causal,
        pad_mode=config.pad_mode,
        true_skip=config.true_skip,
        compress=config.compress,
        lstm=config.lstm,
    )


def build_seanet_encoder(stage: pre.SEANetEncoderStage) -> nn.Module:
    from audiodiff.nn.seanet import SEANetEncoder

    return SEANetEncoder(**_seanet_arguments(stage.config), downsampling_ratios=stage.config.ratios)


def build_seanet_decoder(stage: pre.SEANetDecoderStage) -> nn.Module:
    from audiodiff.nn.seanet import SEANetDecoder

    config = stage.config
    return SEANetDecoder(
        **_seanet_arguments(config),
        upsampling_ratios=config.ratios,
        final_activation=config.final_activation,
        trim_right_ratio=config.trim_right_ratio,
    )


def _taae_arguments(config: pre.TAAEEncoderSpec | pre.TAAEDecoderSpec) -> dict[str, Any]:
    return dict(
        channels=config.channels,
        latent_dim=config.latent_dim,
        c_mults=config.c_mults,
        strides=config.strides,
        transformer_depths=config.transformer_depths,
        use_snake=config.use_snake,
        sliding_window=config.sliding_window,
        checkpointing=config.checkpointing,
        conformer=config.conformer,
        layer_scale=config.layer_scale,
        use_dilated_conv=config.use_dilated_conv,
    )


def build_taae_encoder(stage: pre.TAAEEncoderStage) -> nn.Module:
    from audiodiff.nn.taae import TAAEEncoder

    return TAAEEncoder(in_channels=stage.config.in_channels, **_taae_arguments(stage.config))


def build_taae_decoder(stage: pre.TAAEDecoderStage) -> nn.Module:
    from audiodiff.nn.taae import TAAEDecoder

    return TAAEDecoder(out_channels=stage.config.out_channels, **_taae_arguments(stage.config))


# --- bottlenecks ----------------------------------------------------------------------------------------------------


def build_tanh(spec: pre.TanhBottleneck) -> nn.Module:
    from audiodiff.nn.bottleneck import TanhBottleneck

    return TanhBottleneck(scale=spec.config.scale)


def build_vae(spec: pre.VAEBottleneck) -> nn.Module:
    from audiodiff.nn.bottleneck import VAEBottleneck

    return VAEBottleneck()


def build_l2_norm(spec: pre.L2NormBottleneck) -> nn.Module:
    from audiodiff.nn.bottleneck import L2Bottleneck

    return L2Bottleneck()


def build_wasserstein(spec: pre.WassersteinBottleneck) -> nn.Module:
    from audiodiff.nn.bottleneck import WassersteinBottleneck

    config = spec.config
    return WassersteinBottleneck(
        noise_augment_dim=config.noise_augment_dim,
        bypass_mmd=config.bypass_mmd,
        use_tanh=config.use_tanh,
        tanh_scale=config.tanh_scale,
    )


def _rvq_arguments(spec: pre.RVQBottleneck | pre.RVQVAEBottleneck) -> dict[str, Any]:
    config = spec.config
    return dict(
        dim=config.dim,
        codebook_size=config.codebook_size,
        num_quantizers=config.num_quantizers,
        decay=config.decay,
        kmeans_init=config.kmeans_init,
        kmeans_iters=config.kmeans_iters,
        threshold_ema_dead_code=config.threshold_ema_dead_code,
        codebook_dim=config.codebook_dim,
        shared_codebook=config.shared_codebook,
        commitment_weight=config.commitment_weight,
        quantize_dropout=config.quantize_dropout,
    )


def build_rvq(spec: pre.RVQBottleneck) -> nn.Module:
    from audiodiff.nn.bottleneck import RVQBottleneck

    return RVQBottleneck(**_rvq_arguments(spec))


def build_rvq_vae(spec: pre.RVQVAEBottleneck) -> nn.Module:
    from audiodiff.nn.bottleneck import RVQVAEBottleneck

    return RVQVAEBottleneck(**_rvq_arguments(spec))


def build_dac_rvq(spec: pre.DACRVQBottleneck) -> nn.Module:
    from audiodiff.nn.bottleneck import DACRVQBottleneck

    config = spec.config
    return DACRVQBottleneck(
        n_codebooks=config.n_codebooks,
        codebook_size=config.codebook_size,
        input_dim=config.input_dim,
        codebook_dim=config.codebook_dim,
        quantizer_dropout=config.quantizer_dropout,
        quantize_on_decode=config.quantize_on_decode,
        noise_augment_dim=config.noise_augment_dim,
    )


def build_dac_rvq_vae(spec: pre.DACRVQVAEBottleneck) -> nn.Module:
    from audiodiff.nn.bottleneck import DACRVQVAEBottleneck

    config = spec.config
    return DACRVQVAEBottleneck(
        n_codebooks=config.n_codebooks,
        codebook_size=config.codebook_size,
        input_dim=config.input_dim,
        codebook_dim=config.codebook_dim,
        quantizer_dropout=config.quantizer_dropout,
        quantize_on_decode=config.quantize_on_decode,
    )


def build_fsq(spec: pre.FSQBottleneck) -> nn.Module:
    from audiodiff.nn.bottleneck import FSQBottleneck

    config = spec.config
    return FSQBottleneck(
        levels=config.levels,
        dim=config.dim,
        num_codebooks=config.num_codebooks,
        noise_augment_dim=config.noise_augment_dim,
    )


def build_dithered_fsq(spec: pre.DitheredFSQBottleneck) -> nn.Module:
    from audiodiff.nn.bottleneck import DitheredFSQBottleneck

    config = spec.config
    return DitheredFSQBottleneck(
        dim=config.dim,
        levels=config.levels,
        num_codebooks=config.num_codebooks,
        dither_inference=config.dither_inference,
        noise_dropout=config.noise_dropout,
    )


# --- the entries ----------------------------------------------------------------------------------------------------

_STAGE_REASON = "audiodiff validates `{}` autoencoder stages but does not build them yet"
_VQ = dict(
    status="needs_extra",
    extra="vq",
    module="vector_quantize_pytorch",
    reason="residual VQ bottlenecks need the optional `vector-quantize-pytorch` package",
)
_CONTINUOUS, _DISCRETE = lowering.lower_bottleneck, lowering.lower_discrete_bottleneck

ENTRIES: tuple[Entry, ...] = (
    Entry(
        "pretransform",
        "autoencoder",
        pre.AutoencoderPretransformSpec,
        build_autoencoder_pretransform,
        count.count_autoencoder_pretransform,
        lowering.lower_pretransform,
    ),
    Entry(
        "pretransform",
        "wavelet",
        pre.WaveletPretransformSpec,
        build_wavelet_pretransform,
        count.count_wavelet_pretransform,
        lowering.lower_pretransform,
    ),
    Entry(
        "pretransform",
        "patched",
        pre.PatchedPretransformSpec,
        build_patched_pretransform,
        count.count_patched_pretransform,
        lowering.lower_pretransform,
    ),
    Entry(
        "pretransform",
        "pqmf",
        pre.PQMFPretransformSpec,
        lowering=lowering.lower_pretransform,
        status="unsupported",
        reason="the upstream PQMF pretransform reports no ratio or latent width and cannot serve diffusion (C14)",
    ),
    Entry(
        "pretransform",
        "dac_pretrained",
        pre.DACPretrainedPretransformSpec,
        lowering=lowering.lower_pretransform,
        status="needs_download",
        reason="`dac_pretrained` downloads the official DAC weights when it is built",
    ),
    Entry(
        "pretransform",
        "audiocraft_pretrained",
        pre.AudiocraftPretrainedPretransformSpec,
        lowering=lowering.lower_pretransform,
        status="needs_download",
        reason="`audiocraft_pretrained` downloads an EnCodec model when it is built, and only tokenizes",
    ),
    Entry(
        "encoder",
        "oobleck",
        pre.OobleckEncoderStage,
        build_oobleck_encoder,
        count.count_oobleck_encoder,
        lowering.lower_encoder,
    ),
    Entry(
        "decoder",
        "oobleck",
        pre.OobleckDecoderStage,
        build_oobleck_decoder,
        count.count_oobleck_decoder,
        lowering.lower_decoder,
    ),
    Entry("encoder", "dac", pre.DACEncoderStage, build_dac_encoder, count.count_dac_encoder, lowering.lower_encoder),
    Entry("decoder", "dac", pre.DACDecoderStage, build_dac_decoder, count.count_dac_decoder, lowering.lower_decoder),
    Entry(
        "encoder",
        "seanet",
        pre.SEANetEncoderStage,
        build_seanet_encoder,
        count.count_seanet_encoder,
        lowering.lower_encoder,
    ),
    Entry(
        "decoder",
        "seanet",
        pre.SEANetDecoderStage,
        build_seanet_decoder,
        count.count_seanet_decoder,
        lowering.lower_decoder,
    ),
    # local_attn: the reference passes a keyword its Attention rejects, so there is no layout to count
    Entry(
        "encoder",
        "local_attn",
        pre.LocalAttentionEncoderStage,
        lowering=lowering.lower_encoder,
        status="unsupported",
        reason=_STAGE_REASON.format("local_attn"),
    ),
    Entry(
        "decoder",
        "local_attn",
        pre.LocalAttentionDecoderStage,
        lowering=lowering.lower_decoder,
        status="unsupported",
        reason=_STAGE_REASON.format("local_attn"),
    ),
    Entry(
        "encoder", "taae", pre.TAAEEncoderStage, build_taae_encoder, count.count_taae_encoder, lowering.lower_encoder
    ),
    Entry(
        "decoder", "taae", pre.TAAEDecoderStage, build_taae_decoder, count.count_taae_decoder, lowering.lower_decoder
    ),
    Entry("bottleneck", "tanh", pre.TanhBottleneck, build_tanh, count.count_stateless_bottleneck, _CONTINUOUS),
    Entry("bottleneck", "vae", pre.VAEBottleneck, build_vae, count.count_stateless_bottleneck, _CONTINUOUS),
    Entry("bottleneck", "l2_norm", pre.L2NormBottleneck, build_l2_norm, count.count_stateless_bottleneck, _CONTINUOUS),
    Entry(
        "bottleneck",
        "wasserstein",
        pre.WassersteinBottleneck,
        build_wasserstein,
        count.count_stateless_bottleneck,
        _CONTINUOUS,
    ),
    Entry("bottleneck", "fsq", pre.FSQBottleneck, build_fsq, count.count_fsq_bottleneck, _DISCRETE),
    Entry(
        "bottleneck",
        "dithered_fsq",
        pre.DitheredFSQBottleneck,
        build_dithered_fsq,
        count.count_stateless_bottleneck,
        _DISCRETE,
    ),
    Entry("bottleneck", "dac_rvq", pre.DACRVQBottleneck, build_dac_rvq, count.count_dac_rvq_bottleneck, _DISCRETE),
    Entry(
        "bottleneck",
        "dac_rvq_vae",
        pre.DACRVQVAEBottleneck,
        build_dac_rvq_vae,
        count.count_dac_rvq_bottleneck,
        _DISCRETE,
    ),
    Entry("bottleneck", "rvq", pre.RVQBottleneck, build_rvq, count.count_rvq_bottleneck, _DISCRETE, **_VQ),  # type: ignore[arg-type]
    Entry("bottleneck", "rvq_vae", pre.RVQVAEBottleneck, build_rvq_vae, count.count_rvq_bottleneck, _DISCRETE, **_VQ),  # type: ignore[arg-type]
)
