"""Spec -> torch modules. The one place where typed config becomes constructor arguments.

Construction and weight loading are separate steps: nothing here reads a checkpoint or touches the network, and
building under `device="meta"` allocates no memory. A constructor that rejects its arguments is re-raised as a
`BuildError` naming the graph node and the config pointer that made it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from audiodiff.nn.errors import MissingExtraError
from audiodiff.nn.objectives import Objective, objective_named
from audiodiff.schema.pointer import join
from audiodiff.schema.v1 import backbones as bb
from audiodiff.schema.v1 import pretransform as pre
from audiodiff.schema.v1.root import AutoencoderConfig, DiffusionUncondConfig
from audiodiff.schema.views import backbone_of, conditioning_of, diffusion_objective_of, pretransform_of, routes_of


class BuildError(Exception):
    """A module could not be built from its (valid) spec; says which node and which config object."""

    def __init__(self, node_id: str, pointer: str, message: str, *, extra: str | None = None):
        super().__init__(f"{node_id}: {message}")
        self.node_id = node_id
        self.pointer = pointer
        self.message = message
        self.extra = extra


@dataclass(frozen=True)
class BuildOptions:
    device: torch.device | str | None = None  # "meta" builds the tree without memory
    gradient_checkpointing: bool = False  # DiT blocks recompute activations in backward
    t5_model_path: str | None = None  # a local T5 folder instead of the Hugging Face cache


@contextlib.contextmanager
def _building(node_id: str, pointer: str) -> Iterator[None]:
    try:
        yield
    except BuildError:
        raise
    except MissingExtraError as error:
        raise BuildError(node_id, pointer, str(error), extra=error.extra) from error
    except (ValueError, TypeError, FileNotFoundError, OSError) as error:
        raise BuildError(node_id, pointer, str(error)) from error


def objective_of(spec: Any) -> Objective:
    """The objective of a model config (`v` for models that do not name one)."""
    return objective_named(diffusion_objective_of(spec))


def build_model(spec: Any, options: BuildOptions = BuildOptions()) -> nn.Module:
    """The whole model of a validated model config: ConditionedDiffusionModel, UnconditionedDiffusionModel or
    AudioAutoencoder, with the reference's state-dict layout."""
    device = options.device
    with torch.device(device) if device is not None else contextlib.nullcontext():
        if isinstance(spec, AutoencoderConfig):
            with _building("autoencoder", "/model"):
                return build_autoencoder(spec.model, spec.sample_rate)
        return _build_diffusion(spec, options)


def _build_diffusion(spec: Any, options: BuildOptions) -> nn.Module:
    from audiodiff.nn.diffusion import (
        ConditionedDiffusionModel,
        DistributionShift,
        Routing,
        UnconditionedDiffusionModel,
    )

    pretransform = None
    ratio = 1
    located = pretransform_of(spec)
    if located is not None:
        pretransform_spec, pointer = located
        with _building("pretransform", pointer):
            pretransform = build_pretransform(pretransform_spec, spec.sample_rate)
        ratio = pretransform.downsampling_ratio
    backbone_view = backbone_of(spec)
    with _building("diffusion.backbone", backbone_view.pointer):
        backbone = build_backbone(backbone_view.type, backbone_view.config, objective_of(spec), options)
    min_input_length = ratio * backbone_view.length_multiple
    if isinstance(spec, DiffusionUncondConfig):
        return UnconditionedDiffusionModel(
            backbone=backbone,
            nest_backbone=backbone_view.capabilities.nested,
            io_channels=backbone_view.channels,
            sample_size=spec.sample_size,
            sample_rate=spec.sample_rate,
            pretransform=pretransform,
            min_input_length=min_input_length,
        )
    routing = Routing(**{route.key: ids for route, ids in routes_of(spec).items()})
    conditioner = build_conditioning(spec, pretransform, options)
    shift = spec.model.diffusion.distribution_shift_options
    return ConditionedDiffusionModel(
        backbone=backbone,
        conditioner=conditioner,
        routing=routing,
        io_channels=spec.model.io_channels,
        sample_rate=spec.sample_rate,
        diffusion_objective=objective_of(spec),
        pretransform=pretransform,
        min_input_length=min_input_length,
        distribution_shift=None if shift is None else DistributionShift(
            base_shift=shift.base_shift, max_shift=shift.max_shift, min_length=shift.min_length,
            max_length=shift.max_length, use_sine=shift.use_sine,
        ),
    )


# --- backbones ----------------------------------------------------------------------------------------------------


def build_backbone(tag: str, config: Any, objective: Objective, options: BuildOptions) -> nn.Module:
    return _BACKBONE_BUILDERS[tag](config, objective, options)


def build_dit(config: bb.DiTOptionsSpec, objective: Objective, options: BuildOptions) -> nn.Module:
    from audiodiff.nn.dit import DiffusionTransformer
    from audiodiff.nn.transformer import AttentionOptions, FeedForwardOptions, NormOptions, TransformerOptions

    if config.transformer_type == "x-transformers":
        from audiodiff.nn.legacy_xtransformers import XTransformerOptions

        transformer: Any = XTransformerOptions()
    else:
        transformer = TransformerOptions(
            final_cross_attn_ix=config.final_cross_attn_ix,
            causal=config.causal,
            rotary_pos_emb=config.rotary_pos_emb,
            zero_init_branch_outputs=config.zero_init_branch_outputs,
            conformer=config.conformer,
            use_sinusoidal_emb=config.use_sinusoidal_emb,
            use_abs_pos_emb=config.use_abs_pos_emb,
            abs_pos_emb_max_length=config.abs_pos_emb_max_length,
            num_memory_tokens=config.num_memory_tokens,
            sliding_window=tuple(config.sliding_window) if config.sliding_window is not None else None,
            remove_norms=config.remove_norms,
            add_rope=config.add_rope,
            layer_scale=config.layer_scale,
            attn=AttentionOptions(qk_norm=config.attn_kwargs.qk_norm, differential=config.attn_kwargs.differential,
                                  feat_scale=config.attn_kwargs.feat_scale),
            ff=FeedForwardOptions(mult=config.ff_kwargs.mult, no_bias=config.ff_kwargs.no_bias,
                                  glu=config.ff_kwargs.glu, use_conv=config.ff_kwargs.use_conv,
                                  conv_kernel_size=config.ff_kwargs.conv_kernel_size),
            norm=NormOptions(bias=config.norm_kwargs.bias, fix_scale=config.norm_kwargs.fix_scale,
                             force_fp32=config.norm_kwargs.force_fp32, eps=config.norm_kwargs.eps),
        )
    return DiffusionTransformer(
        io_channels=config.channels,
        patch_size=config.patch_size,
        embed_dim=config.embed_dim,
        depth=config.depth,
        num_heads=config.num_heads,
        cond_token_dim=config.cond_token_dim,
        project_cond_tokens=config.project_cond_tokens,
        global_cond_dim=config.global_cond_dim,
        project_global_cond=config.project_global_cond,
        input_concat_dim=config.input_concat_dim,
        prepend_cond_dim=config.prepend_cond_dim,
        global_cond_type=config.global_cond_type,
        timestep_cond_type=config.timestep_cond_type,
        timestep_embed_dim=config.timestep_embed_dim,
        diffusion_objective=objective,
        transformer=transformer,
        gradient_checkpointing=options.gradient_checkpointing,
    )


def _unet_arguments(config: bb.UNet1dSpec) -> dict[str, Any]:
    from audiodiff.nn.unet1d_layers import AttentionOptions

    return dict(
        in_channels=config.in_channels,
        channels=config.channels,
        multipliers=config.multipliers,
        factors=config.factors,
        num_blocks=config.num_blocks,
        attentions=config.attentions,
        attention=AttentionOptions(
            heads=config.attention_heads, features=config.attention_features, multiplier=config.attention_multiplier
        ),
        patch_size=config.patch_size,
        resnet_groups=config.resnet_groups,
        use_context_time=config.use_context_time,
        kernel_multiplier_downsample=config.kernel_multiplier_downsample,
        use_nearest_upsample=config.use_nearest_upsample,
        use_skip_scale=config.use_skip_scale,
        use_stft=config.use_stft,
        use_stft_context=config.use_stft_context,
        out_channels=config.out_channels,
        context_features=config.context_features,
        context_features_multiplier=config.context_features_multiplier,
        context_channels=config.context_channels,
    )


def build_unet(config: bb.UNet1dSpec, objective: Objective, options: BuildOptions) -> nn.Module:
    from audiodiff.nn.unet1d import UNet1d

    return UNet1d(**_unet_arguments(config), context_embedding_features=config.context_embedding_features)


def build_unet_cfg(config: bb.UNetCFG1dSpec, objective: Objective, options: BuildOptions) -> nn.Module:
    from audiodiff.nn.unet1d import UNetCFG1d

    return UNetCFG1d(
        **_unet_arguments(config),
        context_embedding_max_length=config.context_embedding_max_length,
        context_embedding_features=config.context_embedding_features,
        use_xattn_time=config.use_xattn_time,
    )


def build_dau1d(config: bb.DAU1dSpec, objective: Objective, options: BuildOptions) -> nn.Module:
    from audiodiff.nn.dau1d import DAU1d

    return DAU1d(
        io_channels=config.io_channels,
        depth=config.depth,
        n_attn_layers=config.n_attn_layers,
        channels=config.channels,
        cond_dim=config.cond_dim,
        cond_noise_aug=config.cond_noise_aug,
        kernel_size=config.kernel_size,
        learned_resample=config.learned_resample,
        strides=config.strides,
        conv_bias=config.conv_bias,
        use_snake=config.use_snake,
        global_cond_dim=config.global_cond_dim,
    )


_BACKBONE_BUILDERS: dict[str, Callable[..., nn.Module]] = {
    "dit": build_dit,
    "adp_cfg_1d": build_unet_cfg,
    "adp_1d": build_unet,
    "DAU1d": build_dau1d,
}

# --- conditioners -------------------------------------------------------------------------------------------------


def build_conditioning(spec: Any, model_pretransform: nn.Module | None, options: BuildOptions) -> nn.Module | None:
    from audiodiff.nn.conditioners import MultiConditioner

    conditioning = conditioning_of(spec)
    if conditioning is None:
        return None
    conditioners = {}
    for index, entry in enumerate(conditioning.configs):
        pointer = join("", "model", "conditioning", "configs", index)
        with _building(f"conditioning.{entry.id}", pointer):
            conditioners[entry.id] = build_conditioner(
                entry, conditioning.output_dim(entry), spec.sample_rate, model_pretransform, options
            )
    return MultiConditioner(
        conditioners, default_keys=dict(conditioning.default_keys), pre_encoded_keys=conditioning.pre_encoded_keys
    )


def build_conditioner(entry: Any, output_dim: int, sample_rate: int, model_pretransform: nn.Module | None,
                      options: BuildOptions) -> nn.Module:
    from audiodiff.nn import conditioners as c

    config = entry.config
    if entry.type == "number":
        return c.NumberConditioner(output_dim=output_dim, min_val=config.min_val, max_val=config.max_val)
    if entry.type == "int":
        return c.IntConditioner(output_dim=output_dim, min_val=config.min_val, max_val=config.max_val)
    if entry.type == "list":
        return c.ListConditioner(output_dim=output_dim, options=config.options)
    if entry.type == "t5":
        from audiodiff.nn.text_conditioners import T5Conditioner

        return T5Conditioner(output_dim=output_dim, t5_model_name=config.t5_model_name, max_length=config.max_length,
                             enable_grad=config.enable_grad, project_out=config.project_out,
                             model_path=options.t5_model_path)
    if entry.type == "lut":
        from audiodiff.nn.text_conditioners import TokenizerLUTConditioner, tokenizer_vocabulary_size

        vocab_size = tokenizer_vocabulary_size(config.tokenizer_name, config.special_tokens)
        return TokenizerLUTConditioner(output_dim=output_dim, tokenizer_name=config.tokenizer_name,
                                       vocab_size=vocab_size, max_length=config.max_length,
                                       use_abs_pos_emb=config.use_abs_pos_emb, project_out=config.project_out,
                                       special_tokens=config.special_tokens)
    if entry.type == "phoneme":
        from audiodiff.nn.text_conditioners import PhonemeConditioner

        return PhonemeConditioner(output_dim=output_dim, max_length=config.max_length, project_out=config.project_out)
    if entry.type == "clap_text":
        from audiodiff.nn.clap_conditioners import CLAPTextConditioner

        return CLAPTextConditioner(output_dim=output_dim, clap_ckpt_path=config.clap_ckpt_path,
                                   use_text_features=config.use_text_features,
                                   feature_layer_ix=config.feature_layer_ix, audio_model_type=config.audio_model_type,
                                   enable_fusion=config.enable_fusion, project_out=config.project_out,
                                   finetune=config.finetune)
    if entry.type == "clap_audio":
        from audiodiff.nn.clap_conditioners import CLAPAudioConditioner

        return CLAPAudioConditioner(output_dim=output_dim, clap_ckpt_path=config.clap_ckpt_path,
                                    audio_model_type=config.audio_model_type, enable_fusion=config.enable_fusion,
                                    project_out=config.project_out)
    # pretransform / source_mix: the model's own pretransform, or one built from `pretransform_config`
    pretransform = model_pretransform if config.use_model_pretransform else build_pretransform(
        config.pretransform_config, config.sample_rate
    )
    if entry.type == "pretransform":
        return c.PretransformConditioner(pretransform=pretransform, output_dim=output_dim,
                                         save_pretransform=config.save_pretransform)
    return c.SourceMixConditioner(pretransform=pretransform, output_dim=output_dim, source_keys=config.source_keys,
                                  save_pretransform=config.save_pretransform, pre_encoded=config.pre_encoded,
                                  allow_null_source=config.allow_null_source, source_length=config.source_length)


# --- pretransforms and autoencoders -------------------------------------------------------------------------------


def build_pretransform(spec: Any, sample_rate: int) -> nn.Module:
    from audiodiff.nn import pretransforms as p

    if isinstance(spec, pre.AutoencoderPretransformSpec):
        return p.AutoencoderPretransform(
            build_autoencoder(spec.config, sample_rate), scale=spec.scale, model_half=spec.model_half,
            iterate_batch=spec.iterate_batch, chunked=spec.chunked, enable_grad=spec.enable_grad,
        )
    if isinstance(spec, pre.WaveletPretransformSpec):
        return p.WaveletPretransform(channels=spec.config.channels, levels=spec.config.levels,
                                     wavelet=spec.config.wavelet, enable_grad=spec.enable_grad)
    if isinstance(spec, pre.PatchedPretransformSpec):
        return p.PatchedPretransform(channels=spec.config.channels, patch_size=spec.config.patch_size,
                                     oversampling=spec.config.oversampling, enable_grad=spec.enable_grad)
    raise ValueError(f"the `{spec.type}` pretransform cannot be built by audiodiff")


def build_autoencoder(model: pre.AutoencoderModelSpec, sample_rate: int) -> nn.Module:
    from audiodiff.nn.autoencoder import AudioAutoencoder

    encoder = _requires_grad(build_encoder(model.encoder), model.encoder.requires_grad)
    decoder = _requires_grad(build_decoder(model.decoder), model.decoder.requires_grad)
    bottleneck = None
    if model.bottleneck is not None:
        bottleneck = _requires_grad(build_bottleneck(model.bottleneck), model.bottleneck.requires_grad)
    nested = build_pretransform(model.pretransform, sample_rate) if model.pretransform is not None else None
    return AudioAutoencoder(
        encoder=encoder, decoder=decoder, latent_dim=model.latent_dim, downsampling_ratio=model.downsampling_ratio,
        sample_rate=sample_rate, io_channels=model.io_channels, bottleneck=bottleneck, pretransform=nested,
        in_channels=model.in_channels, out_channels=model.out_channels, soft_clip=model.decoder.soft_clip,
    )


def _requires_grad(module: nn.Module, enabled: bool) -> nn.Module:
    if not enabled:
        module.requires_grad_(False)
    return module


def build_encoder(stage: Any) -> nn.Module:
    config = stage.config
    if stage.type == "oobleck":
        from audiodiff.nn.oobleck import OobleckEncoder

        return OobleckEncoder(in_channels=config.in_channels, channels=config.channels, latent_dim=config.latent_dim,
                              c_mults=config.c_mults, strides=config.strides, use_snake=config.use_snake,
                              antialias_activation=config.antialias_activation)
    if stage.type == "dac":
        from audiodiff.nn.dac import DACEncoder

        return DACEncoder(in_channels=config.in_channels, d_model=config.d_model, strides=config.strides,
                          latent_dim=config.latent_dim)
    if stage.type == "seanet":
        from audiodiff.nn.seanet import SEANetEncoder

        return SEANetEncoder(**_seanet_arguments(config), downsampling_ratios=config.ratios)
    raise ValueError(f"`{stage.type}` encoders cannot be built by audiodiff yet")


def build_decoder(stage: Any) -> nn.Module:
    config = stage.config
    if stage.type == "oobleck":
        from audiodiff.nn.oobleck import OobleckDecoder

        return OobleckDecoder(out_channels=config.out_channels, channels=config.channels, latent_dim=config.latent_dim,
                              c_mults=config.c_mults, strides=config.strides, use_snake=config.use_snake,
                              antialias_activation=config.antialias_activation,
                              use_nearest_upsample=config.use_nearest_upsample, final_tanh=config.final_tanh)
    if stage.type == "dac":
        from audiodiff.nn.dac import DACDecoder

        return DACDecoder(latent_dim=config.latent_dim, out_channels=config.out_channels, channels=config.channels,
                          rates=config.rates)
    if stage.type == "seanet":
        from audiodiff.nn.seanet import SEANetDecoder

        return SEANetDecoder(**_seanet_arguments(config), upsampling_ratios=config.ratios,
                             final_activation=config.final_activation, trim_right_ratio=config.trim_right_ratio)
    raise ValueError(f"`{stage.type}` decoders cannot be built by audiodiff yet")


def _seanet_arguments(config: pre.SEANetEncoderSpec) -> dict[str, Any]:
    return dict(
        channels=config.channels, dimension=config.dimension, n_filters=config.n_filters,
        n_residual_layers=config.n_residual_layers, activation=config.activation,
        activation_alpha=config.activation_params.alpha, norm=config.norm, kernel_size=config.kernel_size,
        last_kernel_size=config.last_kernel_size, residual_kernel_size=config.residual_kernel_size,
        dilation_base=config.dilation_base, causal=config.causal, pad_mode=config.pad_mode,
        true_skip=config.true_skip, compress=config.compress, lstm=config.lstm,
    )


def build_bottleneck(spec: Any) -> nn.Module:
    from audiodiff.nn import bottleneck as b

    config = spec.config
    if spec.type == "tanh":
        return b.TanhBottleneck(scale=config.scale)
    if spec.type == "vae":
        return b.VAEBottleneck()
    if spec.type == "l2_norm":
        return b.L2Bottleneck()
    if spec.type == "wasserstein":
        return b.WassersteinBottleneck(noise_augment_dim=config.noise_augment_dim, bypass_mmd=config.bypass_mmd,
                                       use_tanh=config.use_tanh, tanh_scale=config.tanh_scale)
    if spec.type in ("rvq", "rvq_vae"):
        cls = b.RVQBottleneck if spec.type == "rvq" else b.RVQVAEBottleneck
        return cls(dim=config.dim, codebook_size=config.codebook_size, num_quantizers=config.num_quantizers,
                   decay=config.decay, kmeans_init=config.kmeans_init, kmeans_iters=config.kmeans_iters,
                   threshold_ema_dead_code=config.threshold_ema_dead_code, codebook_dim=config.codebook_dim,
                   shared_codebook=config.shared_codebook, commitment_weight=config.commitment_weight,
                   quantize_dropout=config.quantize_dropout)
    if spec.type == "dac_rvq":
        return b.DACRVQBottleneck(n_codebooks=config.n_codebooks, codebook_size=config.codebook_size,
                                  input_dim=config.input_dim, codebook_dim=config.codebook_dim,
                                  quantizer_dropout=config.quantizer_dropout,
                                  quantize_on_decode=config.quantize_on_decode,
                                  noise_augment_dim=config.noise_augment_dim)
    if spec.type == "dac_rvq_vae":
        return b.DACRVQVAEBottleneck(n_codebooks=config.n_codebooks, codebook_size=config.codebook_size,
                                     input_dim=config.input_dim, codebook_dim=config.codebook_dim,
                                     quantizer_dropout=config.quantizer_dropout,
                                     quantize_on_decode=config.quantize_on_decode)
    if spec.type == "fsq":
        return b.FSQBottleneck(levels=config.levels, dim=config.dim, num_codebooks=config.num_codebooks,
                               noise_augment_dim=config.noise_augment_dim)
    if spec.type == "dithered_fsq":
        return b.DitheredFSQBottleneck(dim=config.dim, levels=config.levels, num_codebooks=config.num_codebooks,
                                       dither_inference=config.dither_inference, noise_dropout=config.noise_dropout)
    raise ValueError(f"unknown bottleneck `{spec.type}`")
