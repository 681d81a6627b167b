"""Backbone configs: the `config` object of `model.diffusion` (or of `model` for `diffusion_uncond`).

Defaults are the upstream constructor defaults (stable-audio-tools 0.0.19, spec §2.2). Keys that upstream forwards
with `**kwargs` into the transformer and every block are spelled out here, so a typo is an error instead of a crash
at build time (C52) or a silent no-op.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from audiodiff.schema.v1.base import (
    Bool,
    Float,
    Int,
    IntTuple,
    NonNegativeInt,
    NonNegativeRepeatCount,
    NonNegativeRepeatCountTuple,
    PositiveFloat,
    PositiveInt,
    PositiveIntTuple,
    RepeatCount,
    RepeatCountTuple,
    Spec,
)

TransformerType = Literal["continuous_transformer", "x-transformers"]


class AttentionOptionsSpec(Spec):
    """`attn_kwargs` of every transformer block."""

    qk_norm: Literal["none", "l2", "ln", "dyt"] = "none"
    differential: Bool = False
    feat_scale: Bool = False


class FeedForwardOptionsSpec(Spec):
    """`ff_kwargs` of every transformer block."""

    mult: PositiveFloat = 4
    no_bias: Bool = False
    glu: Bool = True
    use_conv: Bool = False
    conv_kernel_size: PositiveInt = 3


class NormOptionsSpec(Spec):
    """`norm_kwargs` of every LayerNorm in the transformer."""

    bias: Bool = False
    fix_scale: Bool = False
    force_fp32: Bool = False
    eps: PositiveFloat = 1e-5


class _BackboneConfig(Spec):
    """What every backbone config says about itself: the field that holds the channel count it denoises (spelled
    differently per backbone; C20) and the multiple latent lengths must be of."""

    channels_key: ClassVar[str] = "io_channels"

    @property
    def denoised_channels(self) -> int:
        channels: int = getattr(self, self.channels_key)
        return channels

    @property
    def length_multiple(self) -> int:
        return 1


class DiTOptionsSpec(_BackboneConfig):
    """What conditioned and unconditioned `dit` configs share; the channel count is spelled differently."""

    patch_size: PositiveInt = 1
    embed_dim: PositiveInt = 768
    depth: RepeatCount = 12
    num_heads: PositiveInt = 8
    cond_token_dim: NonNegativeInt = 0
    project_cond_tokens: Bool = True
    global_cond_dim: NonNegativeInt = 0
    project_global_cond: Bool = True
    input_concat_dim: NonNegativeInt = 0
    prepend_cond_dim: NonNegativeInt = 0
    transformer_type: TransformerType = "continuous_transformer"
    global_cond_type: Literal["prepend", "adaLN"] = "prepend"
    timestep_cond_type: Literal["global", "input_concat"] = "global"
    timestep_embed_dim: PositiveInt | None = None
    # forwarded to the continuous transformer
    final_cross_attn_ix: Int = -1
    causal: Bool = False
    rotary_pos_emb: Bool = True
    zero_init_branch_outputs: Bool = True
    conformer: Bool = False
    use_sinusoidal_emb: Bool = False
    use_abs_pos_emb: Bool = False
    abs_pos_emb_max_length: PositiveInt = 10000
    num_memory_tokens: NonNegativeRepeatCount = 0
    sliding_window: IntTuple | None = None
    # forwarded to every transformer block
    remove_norms: Bool = False
    add_rope: Bool = False
    layer_scale: Bool = False
    attn_kwargs: AttentionOptionsSpec = Field(default_factory=AttentionOptionsSpec)
    ff_kwargs: FeedForwardOptionsSpec = Field(default_factory=FeedForwardOptionsSpec)
    norm_kwargs: NormOptionsSpec = Field(default_factory=NormOptionsSpec)

    @property
    def head_width(self) -> int:
        return self.embed_dim // self.num_heads

    @property
    def length_multiple(self) -> int:
        return self.patch_size

    @property
    def context_width(self) -> int:
        """Width of the cross-attention context after `to_cond_embed` (C43)."""
        return self.embed_dim if self.project_cond_tokens else self.cond_token_dim


class DiTSpec(DiTOptionsSpec):
    """`dit`: the diffusion transformer (`DiffusionTransformer`) with its continuous-transformer options."""

    io_channels: PositiveInt = 32

    @property
    def channels(self) -> int:
        return self.io_channels


class DiTUncondSpec(DiTOptionsSpec):
    """`dit` under `diffusion_uncond`: the unconditioned wrapper takes the channel count as `in_channels`."""

    channels_key: ClassVar[str] = "in_channels"

    in_channels: PositiveInt

    @property
    def channels(self) -> int:
        return self.in_channels


class UNet1dSpec(_BackboneConfig):
    """`adp_1d` / `adp_uncond_1d`: the audio-diffusion-pytorch 1-D U-Net (`UNet1d`)."""

    channels_key: ClassVar[str] = "in_channels"  # `channels` is the width of its first level

    in_channels: PositiveInt
    channels: PositiveInt
    multipliers: PositiveIntTuple
    factors: PositiveIntTuple
    num_blocks: RepeatCountTuple
    attentions: NonNegativeRepeatCountTuple
    patch_size: PositiveInt = 1
    resnet_groups: PositiveInt = 8
    use_context_time: Bool = True
    kernel_multiplier_downsample: PositiveInt = 2
    use_nearest_upsample: Bool = False
    use_skip_scale: Bool = True
    use_stft: Bool = False
    use_stft_context: Bool = False
    out_channels: PositiveInt | None = None
    context_features: PositiveInt | None = None
    context_features_multiplier: PositiveInt = 4
    context_channels: IntTuple | None = None
    context_embedding_features: PositiveInt | None = None
    attention_heads: PositiveInt | None = None
    attention_features: PositiveInt | None = None
    attention_multiplier: PositiveInt | None = None
    stft_num_fft: PositiveInt | None = None
    stft_hop_length: PositiveInt | None = None
    stft_window_length: PositiveInt | None = None
    stft_length: PositiveInt | None = None
    stft_use_complex: Bool | None = None

    @property
    def num_levels(self) -> int:
        return len(self.multipliers) - 1

    @property
    def length_multiple(self) -> int:
        """Input lengths must be a multiple of this: patching times every downsampling factor."""
        product = self.patch_size
        for factor in self.factors:
            product *= factor
        return product


class UNetCFG1dSpec(UNet1dSpec):
    """`adp_cfg_1d`: the U-Net with cross-attention and a learned null embedding for guidance (`UNetCFG1d`)."""

    context_embedding_max_length: PositiveInt
    context_embedding_features: PositiveInt
    use_xattn_time: Bool = False


def _dance_diffusion_channels() -> tuple[int, ...]:
    return (128, 128, 256, 256) + (512,) * 10


class DAU1dSpec(_BackboneConfig):
    """`DAU1d`: the Dance Diffusion attention U-Net (`DiffusionAttnUnet1D`)."""

    # denoises `io_channels` (the default `channels_key`); `channels` are its levels' widths

    io_channels: PositiveInt = 2
    depth: RepeatCount = 14
    n_attn_layers: NonNegativeRepeatCount = 6
    channels: PositiveIntTuple = Field(default_factory=_dance_diffusion_channels)
    cond_dim: NonNegativeInt = 0
    cond_noise_aug: Bool = False
    kernel_size: PositiveInt = 5
    learned_resample: Bool = False
    strides: PositiveIntTuple = (2,) * 13
    conv_bias: Bool = True
    use_snake: Bool = False
    # audiodiff: width of a global conditioning vector, broadcast over time and concatenated to the input like the
    # timestep features; the reference DAU1d has no global conditioning at all.
    global_cond_dim: NonNegativeInt = 0

    @property
    def length_multiple(self) -> int:
        product = 1
        for stride in self.strides[: self.depth - 1]:
            product *= stride
        return product


class DistributionShiftSpec(Spec):
    """`distribution_shift_options`: resolution-dependent timestep shift (spec §5.5)."""

    base_shift: Float = 0.5
    max_shift: Float = 1.15
    max_length: PositiveInt = 4096
    min_length: PositiveInt = 256
    use_sine: Bool = False


DiTBackboneSpec = DiTSpec | DiTUncondSpec  # the two spellings of the DiT's channel count
BackboneSpec = DiTSpec | DiTUncondSpec | UNetCFG1dSpec | UNet1dSpec | DAU1dSpec  # what a backbone `config` holds
