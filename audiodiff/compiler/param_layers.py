"""The layer vocabulary of the analytic parameter counts: element counts of torch layers, in plain integers.

Each function mirrors one torch constructor (its weight shape, its bias, its persistent buffers), so a model count
reads like the module tree it describes. Nothing here imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass

from audiodiff.schema.v1.backbones import AttentionOptionsSpec, FeedForwardOptionsSpec, NormOptionsSpec


@dataclass(frozen=True)
class ParamCount:
    """Elements of `nn.Parameter`s and of persistent buffers (state-dict entries no optimizer updates)."""

    params: int
    buffers: int = 0

    def __add__(self, other: ParamCount) -> ParamCount:
        return ParamCount(self.params + other.params, self.buffers + other.buffers)

    def __mul__(self, times: int) -> ParamCount:
        return ParamCount(self.params * times, self.buffers * times)

    @property
    def state_dict_elements(self) -> int:
        return self.params + self.buffers


NONE = ParamCount(0)


def linear(in_features: int, out_features: int, *, bias: bool = True) -> ParamCount:
    """`nn.Linear`: weight [out, in] (+ bias [out])."""
    return ParamCount(in_features * out_features + (out_features if bias else 0))


def conv(in_channels: int, out_channels: int, kernel_size: int, *, bias: bool = True, groups: int = 1) -> ParamCount:
    """`nn.Conv1d` weight [out, in/groups, k] (+ bias [out]); `nn.ConvTranspose1d` has the same element count."""
    return ParamCount(out_channels * (in_channels // groups) * kernel_size + (out_channels if bias else 0))


def wn_conv(in_channels: int, out_channels: int, kernel_size: int, *, bias: bool = True) -> ParamCount:
    """Weight-normed `nn.Conv1d` (legacy hook): weight_v [out, in, k], weight_g [out, 1, 1], bias [out]."""
    return conv(in_channels, out_channels, kernel_size, bias=bias) + ParamCount(out_channels)


def wn_conv_transpose(in_channels: int, out_channels: int, kernel_size: int, *, bias: bool = True) -> ParamCount:
    """Weight-normed `nn.ConvTranspose1d`: weight_v [in, out, k], weight_g [in, 1, 1] (norm over dim 0), bias [out]."""
    return conv(in_channels, out_channels, kernel_size, bias=bias) + ParamCount(in_channels)


def embedding(rows: int, width: int) -> ParamCount:
    """`nn.Embedding`: weight [rows, width]."""
    return ParamCount(rows * width)


def group_norm(channels: int) -> ParamCount:
    """Affine `nn.GroupNorm` (any group count): weight and bias [C]."""
    return ParamCount(2 * channels)


def layer_norm(width: int) -> ParamCount:
    """Affine `nn.LayerNorm`: weight and bias [width]."""
    return ParamCount(2 * width)


def rotary_buffer(rotary_dim: int) -> ParamCount:
    """`RotaryEmbedding(d)`: a persistent `inv_freq` buffer of ceil(d / 2) frequencies."""
    return ParamCount(0, (rotary_dim + 1) // 2)


def lstm(width: int, num_layers: int) -> ParamCount:
    """`nn.LSTM(width, width, num_layers)`: per layer W_ih, W_hh [4H, H] and two biases [4H]."""
    return ParamCount(num_layers * (8 * width * width + 8 * width))


# --- the continuous transformer's pieces (models/transformer.py), shared by the DiT and the TAAE codec ------------


def transformer_norm(width: int, *, remove_norms: bool, norm: NormOptionsSpec) -> ParamCount:
    """A block norm: DynamicTanh (alpha, gamma, beta) or the bias-free LayerNorm whose fixed parts are buffers."""
    if remove_norms:
        return ParamCount(1 + 2 * width)
    return stable_layer_norm(width, bias=norm.bias, fix_scale=norm.fix_scale)


def stable_layer_norm(width: int, *, bias: bool = False, fix_scale: bool = False) -> ParamCount:
    """stable-audio-tools `LayerNorm`: gamma (a buffer if `fix_scale`) and beta (a buffer unless `bias`)."""
    gamma = ParamCount(0, width) if fix_scale else ParamCount(width)
    beta = ParamCount(width) if bias else ParamCount(0, width)
    return gamma + beta


def attention(dim: int, head: int, *, context_width: int | None, attn: AttentionOptionsSpec) -> ParamCount:
    """`Attention`: fused bias-free qkv (self) or q + kv (cross), bias-free out, optional q/k norms, feature scales."""
    five_or_three = 5 if attn.differential else 3
    if context_width is None:
        count = linear(dim, five_or_three * dim, bias=False)
    else:
        count = linear(dim, (2 if attn.differential else 1) * dim, bias=False)
        count += linear(context_width, (3 if attn.differential else 2) * context_width, bias=False)
    count += linear(dim, dim, bias=False)
    if attn.qk_norm == "ln":  # nn.LayerNorm(head) for q and for k
        count += layer_norm(head) * 2
    elif attn.qk_norm == "dyt":  # DynamicTanh(head) for q and for k
        count += ParamCount(1 + 2 * head) * 2
    if attn.feat_scale:  # lambda_dc, lambda_hf
        count += ParamCount(2 * dim)
    return count


def feed_forward(dim: int, ff: FeedForwardOptionsSpec) -> ParamCount:
    """`FeedForward`: SwiGLU (a biased Linear in, whatever `use_conv`/`no_bias`) or Linear/Conv + SiLU, then out."""
    hidden = int(dim * ff.mult)
    bias = not ff.no_bias
    if ff.glu:
        count = linear(dim, 2 * hidden)
    elif ff.use_conv:
        count = conv(dim, hidden, ff.conv_kernel_size, bias=bias)
    else:
        count = linear(dim, hidden, bias=bias)
    if ff.use_conv:
        return count + conv(hidden, dim, ff.conv_kernel_size, bias=bias)
    return count + linear(hidden, dim, bias=bias)


def conformer_module(dim: int, norm: NormOptionsSpec) -> ParamCount:
    """`ConformerModule`: norms (never DynamicTanh), 1x1 conv, GLU, depthwise conv k17, norm, 1x1 conv."""
    norms = stable_layer_norm(dim, bias=norm.bias, fix_scale=norm.fix_scale) * 2
    return norms + conv(dim, dim, 1, bias=False) * 2 + linear(dim, 2 * dim) + conv(dim, dim, 17, bias=False, groups=dim)


def transformer_block(
    dim: int,
    head: int,
    *,
    context_width: int | None,
    adaln: bool,
    remove_norms: bool,
    add_rope: bool,
    layer_scale: bool,
    conformer: bool,
    attn: AttentionOptionsSpec,
    ff: FeedForwardOptionsSpec,
    norm: NormOptionsSpec,
) -> ParamCount:
    """`TransformerBlock`: pre-norm self-attention, optional cross-attention and conformer, feed-forward."""
    block_norm = transformer_norm(dim, remove_norms=remove_norms, norm=norm)
    scale = ParamCount(dim) if layer_scale else NONE  # LayerScale per branch
    count = block_norm + attention(dim, head, context_width=None, attn=attn) + scale
    if context_width is not None:
        count += block_norm + attention(dim, head, context_width=context_width, attn=attn) + scale
    count += block_norm + feed_forward(dim, ff) + scale
    if conformer:
        count += conformer_module(dim, norm) + scale
    if adaln:
        count += ParamCount(6 * dim)  # to_scale_shift_gate
    if add_rope:
        count += rotary_buffer(head // 2)
    return count
