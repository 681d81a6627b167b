"""Analytic parameter counts of the diffusion backbones: DiT (continuous transformer or the legacy x-transformers
one), the adp U-Nets (`adp_1d`, `adp_cfg_1d`) and Dance Diffusion's DAU1d (spec §2.2, §8.2, §8.3). Torch-free; the
layer arithmetic is in `param_layers.py`, the public surface in `params.py`.
"""

from __future__ import annotations

from dataclasses import dataclass

from audiodiff.compiler.param_layers import (
    ParamCount,
    conv,
    embedding,
    group_norm,
    layer_norm,
    linear,
    rotary_buffer,
    transformer_block,
)
from audiodiff.schema.v1.backbones import (
    BackboneSpec,
    DAU1dSpec,
    DiTBackboneSpec,
    DiTOptionsSpec,
    UNet1dSpec,
    UNetCFG1dSpec,
)

TIMESTEP_FEATURES = 256  # DiT: FourierFeatures(1, 256) -> a [128, 1] frequency table
XTRANSFORMERS_DIM_HEAD = 64  # legacy `x-transformers` DiT: x-transformers' default head width (not configurable)
XTRANSFORMERS_FF_MULT = 4


# --- backbones -----------------------------------------------------------------------------------------------------


def backbone_count(config: BackboneSpec) -> ParamCount:
    """Parameters and persistent buffers of a backbone spec (DiT, DiT uncond, adp U-Nets, DAU1d), by the counter of
    the registry entry whose config class this is."""
    from audiodiff.compiler.registry import backbone_entry_for

    counter = backbone_entry_for(config).counter
    assert counter is not None  # every backbone entry has one (the registry checks it)
    result = counter(config)
    assert isinstance(result, ParamCount)
    return result


def count_dit(config: DiTBackboneSpec) -> ParamCount:
    return _dit(config)


def count_unet(config: UNet1dSpec) -> ParamCount:
    return _unet(config)  # UNetCFG1dSpec is a subclass: its cross-attention parts are counted by `_unet`


def count_dau1d(config: DAU1dSpec) -> ParamCount:
    return _dau1d(config)


def backbone_params(config: BackboneSpec) -> int | None:
    """Parameter count of a backbone spec (buffers excluded); None when the spec describes no buildable network."""
    try:
        return backbone_count(config).params
    except ValueError:
        return None  # the rules report why (attention keys missing, too few channel widths, ...)


def _dit(spec: DiTBackboneSpec) -> ParamCount:
    """`DiffusionTransformer` (spec §8.2): embeddings, 1x1 pre/post convs, then the transformer."""
    embed, io, patch = spec.embed_dim, spec.channels, spec.patch_size
    if spec.timestep_cond_type == "global":
        timestep_width, concat_dim = embed, spec.input_concat_dim
    else:
        if spec.timestep_embed_dim is None:
            raise ValueError("`timestep_cond_type` `input_concat` needs `timestep_embed_dim`")
        timestep_width, concat_dim = spec.timestep_embed_dim, spec.input_concat_dim + spec.timestep_embed_dim
    dim_in = io + concat_dim
    count = ParamCount(TIMESTEP_FEATURES // 2)  # timestep_features.weight [128, 1]
    count += linear(TIMESTEP_FEATURES, timestep_width) + linear(timestep_width, timestep_width)
    if spec.cond_token_dim > 0:  # to_cond_embed: two bias-free Linears
        width = spec.context_width
        count += linear(spec.cond_token_dim, width, bias=False) + linear(width, width, bias=False)
    if spec.global_cond_dim > 0:
        width = embed if spec.project_global_cond else spec.global_cond_dim
        count += linear(spec.global_cond_dim, width, bias=False) + linear(width, width, bias=False)
    if spec.prepend_cond_dim > 0:
        count += linear(spec.prepend_cond_dim, embed, bias=False) + linear(embed, embed, bias=False)
    count += conv(dim_in, dim_in, 1, bias=False) + conv(io, io, 1, bias=False)  # pre/postprocess_conv
    if spec.transformer_type == "x-transformers":
        return count + _legacy_xtransformer(spec, dim_in * patch, io * patch)
    return count + _continuous_transformer(spec, dim_in * patch, io * patch)


def _continuous_transformer(spec: DiTOptionsSpec, dim_in: int, dim_out: int) -> ParamCount:
    """`ContinuousTransformer`: bias-free in/out projections, positions, optional adaLN embedder, the blocks."""
    embed = spec.embed_dim
    head = min(spec.head_width, embed)
    count = linear(dim_in, embed, bias=False) + linear(embed, dim_out, bias=False)
    if spec.rotary_pos_emb:
        count += rotary_buffer(max(spec.head_width // 2, 32))
    if spec.num_memory_tokens > 0:
        count += ParamCount(spec.num_memory_tokens * embed)
    if spec.use_abs_pos_emb:  # replaces the sinusoidal module when both are set
        count += embedding(spec.abs_pos_emb_max_length + spec.num_memory_tokens, embed)
    elif spec.use_sinusoidal_emb:
        count += ParamCount(1)  # the learned scale; its frequency table is not persistent
    adaln = spec.global_cond_type == "adaLN"
    if adaln:  # global_cond_embedder: Linear(E, E), SiLU, Linear(E, 6E)
        count += linear(embed, embed) + linear(embed, 6 * embed)
    cross = spec.cond_token_dim > 0
    for index in range(spec.depth):
        cross_here = cross and (spec.final_cross_attn_ix == -1 or index <= spec.final_cross_attn_ix)
        count += transformer_block(
            embed,
            head,
            context_width=spec.context_width if cross_here else None,
            adaln=adaln,
            remove_norms=spec.remove_norms,
            add_rope=spec.add_rope,
            layer_scale=spec.layer_scale,
            conformer=spec.conformer,
            attn=spec.attn_kwargs,
            ff=spec.ff_kwargs,
            norm=spec.norm_kwargs,
        )
    return count


def _legacy_xtransformer(spec: DiTOptionsSpec, dim_in: int, dim_out: int) -> ParamCount:
    """x-transformers `ContinuousTransformerWrapper` + `Encoder` as stable-audio-tools <= 0.0.18 built it.

    Biased projections, `nn.LayerNorm` pre-norms and final norm, bias-free q/k/v/out of width heads·64, a GLU
    feed-forward (mult 4) with biases; per block `a` (self), `c` (cross, when cross-attending) and `f` layers.
    """
    embed = spec.embed_dim
    inner = spec.num_heads * XTRANSFORMERS_DIM_HEAD
    hidden = embed * XTRANSFORMERS_FF_MULT
    attention = layer_norm(embed) + ParamCount(4 * embed * inner)
    feed_forward = layer_norm(embed) + linear(embed, 2 * hidden) + linear(hidden, embed)
    per_block = attention + feed_forward + (attention if spec.cond_token_dim > 0 else ParamCount(0))
    count = linear(dim_in, embed) + linear(embed, dim_out) + layer_norm(embed)  # + final_norm
    count += rotary_buffer(max(XTRANSFORMERS_DIM_HEAD // 2, 32))
    return count + per_block * spec.depth


def _unet(spec: UNet1dSpec) -> ParamCount:
    """adp `UNet1d` / `UNetCFG1d` (spec §2.2.3, §8.3)."""
    channels, levels = spec.channels, spec.num_levels
    if len(spec.factors) != levels or len(spec.num_blocks) != levels or len(spec.attentions) < levels + 1:
        raise ValueError("`factors` and `num_blocks` need one entry per level and `attentions` one more")
    widths = [channels * multiplier for multiplier in spec.multipliers]
    mapping = channels * spec.context_features_multiplier if (spec.use_context_time or spec.context_features) else None
    context_channels = list(spec.context_channels or ())
    context_channels += [0] * (levels + 1 - len(context_channels))
    in_channels = spec.in_channels
    out_channels = spec.out_channels if spec.out_channels is not None else spec.in_channels
    count = ParamCount(0)
    if mapping is not None:  # to_mapping: Linear, GELU, Linear, GELU
        count += linear(mapping, mapping) * 2
    if (
        mapping is not None and spec.use_context_time
    ):  # to_time: learned Fourier features (channels/2) + Linear(channels + 1, M)
        count += _time_embedding(channels, mapping)
    if mapping is not None and spec.context_features:
        count += linear(spec.context_features, mapping)
    if spec.use_stft:
        fft = spec.stft_num_fft if spec.stft_num_fft is not None else 1023
        stft_channels = (fft // 2 + 1) * 2
        in_channels *= stft_channels
        out_channels *= stft_channels
        if spec.use_stft_context:
            context_channels[0] *= stft_channels
        count += ParamCount(0, spec.stft_window_length or fft)  # the persistent Hann window
    attention = _UNetAttention.of(spec)
    context = spec.context_embedding_features
    patch = spec.patch_size
    count += _resnet_block(in_channels + context_channels[0], widths[0] // patch, mapping)  # to_in (Patcher)
    for i in range(levels):
        width = widths[i + 1]
        kernel = spec.factors[i] * spec.kernel_multiplier_downsample + 1
        count += conv(widths[i], width, kernel)  # downsample
        for j in range(spec.num_blocks[i]):
            count += _resnet_block(width + (context_channels[i + 1] if j == 0 else 0), width, mapping)
        count += attention.transformer(width, spec.attentions[i], context)
    last = widths[-1]
    count += _resnet_block(last, last, mapping) * 2  # bottleneck pre/post blocks
    count += attention.transformer(last, spec.attentions[-1], context)
    for i in range(levels):  # upsample blocks: one more ResNet block where the level has attention
        width, factor = widths[i + 1], spec.factors[i]
        blocks = spec.num_blocks[i] + (1 if spec.attentions[i] else 0)
        count += _resnet_block(2 * width, width, mapping) * blocks
        count += attention.transformer(width, spec.attentions[i], context)
        if factor == 1 or spec.use_nearest_upsample:
            count += conv(width, widths[i], 3)
        else:
            count += conv(width, widths[i], 2 * factor)  # ConvTranspose1d: same element count as a Conv1d
    count += _resnet_block(widths[0] // patch, out_channels, mapping)  # to_out (Unpatcher)
    if isinstance(spec, UNetCFG1dSpec):
        rows = spec.context_embedding_max_length
        if spec.use_xattn_time:
            count += _time_embedding(channels, spec.context_embedding_features)
            rows += 1
        count += embedding(rows, spec.context_embedding_features)  # fixed_embedding: the learned CFG null
    return count


def _time_embedding(dim: int, out_features: int) -> ParamCount:
    """adp `TimePositionalEmbedding`: dim/2 learned frequencies, then Linear(dim + 1, out)."""
    return ParamCount(dim // 2) + linear(dim + 1, out_features)


def _resnet_block(in_channels: int, out_channels: int, mapping: int | None) -> ParamCount:
    """adp `ResnetBlock1d`: GroupNorm+conv3 twice, scale/shift from the mapping, 1x1 skip when widths differ.

    GroupNorm holds two values per channel whatever `resnet_groups` is, so the group count does not appear.
    """
    count = group_norm(in_channels) + conv(in_channels, out_channels, 3)
    count += group_norm(out_channels) + conv(out_channels, out_channels, 3)
    if mapping is not None:
        count += linear(mapping, 2 * out_channels)
    if in_channels != out_channels:
        count += conv(in_channels, out_channels, 1)
    return count


@dataclass(frozen=True)
class _UNetAttention:
    """The `attention_*` keys of an adp U-Net, forwarded to every Transformer1d."""

    heads: int | None
    features: int | None
    multiplier: int | None

    @classmethod
    def of(cls, spec: UNet1dSpec) -> _UNetAttention:
        return cls(spec.attention_heads, spec.attention_features, spec.attention_multiplier)

    def transformer(self, channels: int, num_blocks: int, context: int | None) -> ParamCount:
        """adp `Transformer1d` of `num_blocks` blocks over `channels` (0 blocks: absent)."""
        if num_blocks <= 0:
            return ParamCount(0)
        if (self.heads is None and self.features is None) or self.multiplier is None:
            raise ValueError(
                "U-Net levels with attention need `attention_heads` or `attention_features`, and `attention_multiplier`"
            )
        if self.features is not None:
            features = self.features
            heads = self.heads if self.heads is not None else channels // features
        else:
            assert self.heads is not None  # checked above: one of the two is given
            heads = self.heads
            features = channels // heads
        mid = heads * features
        attention = layer_norm(channels) * 2 + linear(channels, mid, bias=False) + linear(channels, 2 * mid, bias=False)
        attention += linear(mid, channels)  # attention.to_out
        block = attention + linear(channels, channels * self.multiplier) + linear(channels * self.multiplier, channels)
        if context:  # cross-attention: norm_context and to_kv read the context width
            block += layer_norm(channels) + layer_norm(context) + linear(channels, mid, bias=False)
            block += linear(context, 2 * mid, bias=False) + linear(mid, channels)
        ends = group_norm(channels) + conv(channels, channels, 1) * 2  # to_in GroupNorm(32) + 1x1, to_out 1x1
        return ends + block * num_blocks


def _dau1d(spec: DAU1dSpec) -> ParamCount:
    """Dance Diffusion `DiffusionAttnUnet1D`, built from the innermost level outwards as the reference does."""
    depth, channels = spec.depth, spec.channels
    if len(channels) < depth or len(spec.strides) < depth - 1:
        raise ValueError(f"DAU1d of depth {depth} needs {depth} channel widths and {depth - 1} strides")
    strides = (1,) + tuple(spec.strides)
    attn_from = depth - spec.n_attn_layers

    def res(c_in: int, c_mid: int, c_out: int, is_last: bool = False) -> ParamCount:
        # ResConvBlock: conv, GroupNorm(1), GELU or DAC Snake1d (alpha [C]), conv, and the same again unless last
        snake = spec.use_snake
        count = conv(c_in, c_mid, spec.kernel_size, bias=spec.conv_bias) + group_norm(c_mid)
        count += conv(c_mid, c_out, spec.kernel_size, bias=spec.conv_bias) + ParamCount(c_mid if snake else 0)
        count += ParamCount(0) if is_last else group_norm(c_out) + ParamCount(c_out if snake else 0)
        return count + (conv(c_in, c_out, 1, bias=False) if c_in != c_out else ParamCount(0))

    def attention(c: int) -> ParamCount:  # SelfAttention1d: GroupNorm(1) + 1x1 qkv + 1x1 out
        return group_norm(c) + conv(c, 3 * c, 1) + conv(c, c, 1)

    count = ParamCount(8)  # timestep_embed: FourierFeatures(1, 16) -> [8, 1]
    for i in range(depth, 1, -1):
        c, c_prev, stride = channels[i - 1], channels[i - 2], strides[i - 1]
        if stride > 2 and not spec.learned_resample:
            raise ValueError("DAU1d strides above 2 need `learned_resample`")
        with_attn = i >= attn_from and spec.n_attn_layers > 0
        if spec.learned_resample or stride == 1:
            count += conv(c_prev, c_prev, 2 * stride + 1)  # Downsample1d_2
        else:
            count += ParamCount(0, 8)  # Downsample1d("cubic"): persistent 8-tap kernel
        count += res(c_prev, c, c) + res(c, c, c) * 2 + res(2 * c if i != depth else c, c, c) + res(c, c, c)
        count += res(c, c, c_prev)
        if with_attn:
            count += attention(c) * 5 + attention(c_prev)
        if not spec.learned_resample:
            count += ParamCount(0, 8)  # Upsample1d("cubic")
        elif stride == 1:
            count += conv(c_prev, c_prev, 3)
        else:
            count += conv(c_prev, c_prev, 2 * stride)  # ConvTranspose1d
    c = channels[0]
    time_features = 32 if spec.cond_noise_aug else 16
    # audiodiff extension: a global vector is broadcast over time and concatenated like the timestep features
    first_in = spec.io_channels + spec.cond_dim + time_features + spec.global_cond_dim
    count += res(first_in, c, c) + res(c, c, c) * 2 + res(2 * c, c, c) + res(c, c, c)
    return count + res(c, c, spec.io_channels, is_last=True)
