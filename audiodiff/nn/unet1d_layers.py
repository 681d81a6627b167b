"""Layers of the adp U-Net (`unet1d.py`): padded convolutions, ResNet blocks with scale/shift modulation,
Transformer1d with K/V-masked cross-attention, the learned Fourier time embedding, and the U-Net levels.

Module and attribute names follow stable-audio-tools' `models/adp.py` so state-dict keys match it exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops.layers.torch import Rearrange
from torch import Tensor, nn


@dataclass(frozen=True)
class AttentionOptions:
    """Attention settings shared by every Transformer1d of an adp U-Net (upstream `attention_*` keys)."""

    heads: int | None = None  # heads per attention; or derived from `features`
    features: int | None = None  # width per head; or derived from `heads`
    multiplier: int | None = None  # feed-forward hidden width = block width * multiplier

    def resolve(self, channels: int) -> tuple[int, int]:
        """(heads, head width) at a block of `channels` width; a missing one is `channels // the other`."""
        heads, features = self.heads, self.features
        if features is None and heads is not None:
            features = channels // heads if heads > 0 else 0
        if heads is None and features is not None:
            heads = channels // features if features > 0 else 0
        if heads is None or features is None:
            raise ValueError("attention needs `attention_heads` or `attention_features`")
        return heads, features


class PaddedConv1d(nn.Conv1d):
    """Conv1d padded so the output length is ceil(L / stride), extra padding on the right (audiocraft's rule)."""

    def forward(self, x: Tensor) -> Tensor:  # [B, C, L] -> [B, C', ceil(L / stride)]
        kernel = (self.kernel_size[0] - 1) * self.dilation[0] + 1
        stride = self.stride[0]
        padding_total = kernel - stride
        length = x.shape[-1]
        extra = math.ceil(length / stride) * stride - length
        right = padding_total // 2
        left = padding_total - right
        return super().forward(F.pad(x, (left, right + extra)))


class TrimmedConvTranspose1d(nn.ConvTranspose1d):
    """ConvTranspose1d trimmed back to exactly L * stride samples."""

    def forward(self, input: Tensor, output_size: list[int] | None = None) -> Tensor:  # [B, C, L] -> [B, C', L*s]
        padding_total = self.kernel_size[0] - self.stride[0]
        right = padding_total // 2
        left = padding_total - right
        y = super().forward(input, output_size)
        return y[..., left : y.shape[-1] - right]


def downsample_conv(in_channels: int, out_channels: int, factor: int, kernel_multiplier: int) -> nn.Module:
    return PaddedConv1d(in_channels, out_channels, kernel_size=factor * kernel_multiplier + 1, stride=factor)


def upsample_conv(in_channels: int, out_channels: int, factor: int, use_nearest: bool) -> nn.Module:
    if factor == 1:
        return PaddedConv1d(in_channels, out_channels, kernel_size=3)
    if use_nearest:
        return nn.Sequential(
            nn.Upsample(scale_factor=factor, mode="nearest"),
            PaddedConv1d(in_channels, out_channels, kernel_size=3),
        )
    return TrimmedConvTranspose1d(in_channels, out_channels, kernel_size=factor * 2, stride=factor)


class ConvBlock1d(nn.Module):
    """GroupNorm -> optional (1 + scale, shift) modulation -> SiLU -> conv."""

    def __init__(self, in_channels: int, out_channels: int, num_groups: int) -> None:
        super().__init__()
        self.groupnorm = nn.GroupNorm(num_groups=num_groups, num_channels=in_channels)
        self.activation = nn.SiLU()
        self.project = PaddedConv1d(in_channels, out_channels, kernel_size=3)

    def forward(self, x: Tensor, scale_shift: tuple[Tensor, Tensor] | None = None) -> Tensor:
        x = self.groupnorm(x)
        if scale_shift is not None:
            scale, shift = scale_shift  # [B, C, 1] each
            x = x * (scale + 1) + shift
        return self.project(self.activation(x))


class MappingToScaleShift(nn.Module):
    """SiLU -> Linear from the mapping vector to a per-channel (scale, shift)."""

    def __init__(self, features: int, channels: int) -> None:
        super().__init__()
        self.to_scale_shift = nn.Sequential(nn.SiLU(), nn.Linear(features, channels * 2))

    def forward(self, mapping: Tensor) -> tuple[Tensor, Tensor]:  # [B, M] -> 2 x [B, C, 1]
        scale, shift = self.to_scale_shift(mapping).unsqueeze(-1).chunk(2, dim=1)
        return scale, shift


class ResnetBlock1d(nn.Module):
    """Two conv blocks, the second modulated by the mapping vector, plus a (1x1 conv) residual."""

    def __init__(self, in_channels: int, out_channels: int, num_groups: int, mapping_features: int | None) -> None:
        super().__init__()
        self.block1 = ConvBlock1d(in_channels, out_channels, num_groups)
        if mapping_features is not None:
            self.to_scale_shift = MappingToScaleShift(mapping_features, out_channels)
        self.block2 = ConvBlock1d(out_channels, out_channels, num_groups)
        self.to_out = (
            PaddedConv1d(in_channels, out_channels, kernel_size=1) if in_channels != out_channels else nn.Identity()
        )
        self.uses_mapping = mapping_features is not None

    def forward(self, x: Tensor, mapping: Tensor | None = None) -> Tensor:  # [B, C_in, L] -> [B, C_out, L]
        h = self.block1(x)
        scale_shift = self.to_scale_shift(mapping) if self.uses_mapping else None
        return self.block2(h, scale_shift) + self.to_out(x)


class Patcher(nn.Module):
    """ResNet block to width/patch_size, then fold `patch_size` samples into channels."""

    def __init__(self, in_channels: int, out_channels: int, patch_size: int, mapping_features: int | None) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.block = ResnetBlock1d(in_channels, out_channels // patch_size, 1, mapping_features)

    def forward(self, x: Tensor, mapping: Tensor | None) -> Tensor:  # [B, C_in, L] -> [B, C_out, L / p]
        x = self.block(x, mapping)  # [B, C_out / p, L]
        b, c, length = x.shape
        p = self.patch_size
        return x.view(b, c, length // p, p).permute(0, 1, 3, 2).reshape(b, c * p, length // p)


class Unpatcher(nn.Module):
    """Unfold channels back into `patch_size` samples, then a ResNet block to the output width."""

    def __init__(self, in_channels: int, out_channels: int, patch_size: int, mapping_features: int | None) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.block = ResnetBlock1d(in_channels // patch_size, out_channels, 1, mapping_features)

    def forward(self, x: Tensor, mapping: Tensor | None) -> Tensor:  # [B, C_in, L / p] -> [B, C_out, L]
        b, c, length = x.shape
        p = self.patch_size
        x = x.view(b, c // p, p, length).permute(0, 1, 3, 2).reshape(b, c // p, length * p)
        return self.block(x, mapping)


class MultiHeadOutput(nn.Module):
    """Scaled dot-product attention over split heads, merged and projected (upstream `AttentionBase`)."""

    def __init__(self, features: int, head_features: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.to_out = nn.Linear(head_features * num_heads, features)

    def forward(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:  # [B, N, H*D], [B, M, H*D] x2 -> [B, N, F]
        b, n, _ = q.shape
        q, k, v = (t.unflatten(-1, (self.num_heads, -1)).transpose(1, 2) for t in (q, k, v))  # [B, H, *, D]
        out = F.scaled_dot_product_attention(q, k, v)  # [B, H, N, D], scale D^-1/2
        return self.to_out(out.transpose(1, 2).reshape(b, n, -1))


class Attention(nn.Module):
    """Pre-LayerNorm (self- or cross-) attention; masked context tokens get zero keys and values."""

    def __init__(self, features: int, head_features: int, num_heads: int, context_features: int | None = None) -> None:
        super().__init__()
        mid_features = head_features * num_heads
        context_features = features if context_features is None else context_features
        self.norm = nn.LayerNorm(features)
        # the self-attention also owns a context norm: keys and values come from norm_context(x)
        self.norm_context = nn.LayerNorm(context_features)
        self.to_q = nn.Linear(features, mid_features, bias=False)
        self.to_kv = nn.Linear(context_features, mid_features * 2, bias=False)
        self.attention = MultiHeadOutput(features, head_features, num_heads)

    def forward(self, x: Tensor, context: Tensor | None = None, context_mask: Tensor | None = None) -> Tensor:
        context = x if context is None else context  # [B, M, D_ctx]
        q = self.to_q(self.norm(x))  # [B, N, H*D]
        k, v = self.to_kv(self.norm_context(context)).chunk(2, dim=-1)  # [B, M, H*D] each
        if context_mask is not None:
            # the reference multiplies K and V by the mask instead of excluding tokens from the softmax
            keep = context_mask.to(k.dtype).unsqueeze(-1)  # [B, M, 1]
            k, v = k * keep, v * keep
        return self.attention(q, k, v)


class TransformerBlock(nn.Module):
    """Self-attention, optional cross-attention, GELU feed-forward; each residual."""

    def __init__(
        self, features: int, num_heads: int, head_features: int, multiplier: int, context_features: int | None
    ) -> None:
        super().__init__()
        self.attention = Attention(features, head_features, num_heads)
        self.uses_cross_attention = context_features is not None and context_features > 0
        if self.uses_cross_attention:
            self.cross_attention = Attention(features, head_features, num_heads, context_features)
        self.feed_forward = nn.Sequential(
            nn.Linear(features, features * multiplier),
            nn.GELU(),
            nn.Linear(features * multiplier, features),
        )

    def forward(self, x: Tensor, context: Tensor | None, context_mask: Tensor | None) -> Tensor:  # [B, N, F]
        x = self.attention(x) + x
        if self.uses_cross_attention:
            x = self.cross_attention(x, context, context_mask) + x
        return self.feed_forward(x) + x


class Transformer1d(nn.Module):
    """GroupNorm(32) + 1x1 conv in, transformer blocks over time, 1x1 conv out (channels-first in and out)."""

    def __init__(
        self, channels: int, num_layers: int, attention: AttentionOptions, context_features: int | None
    ) -> None:
        super().__init__()
        heads, head_features = attention.resolve(channels)
        if attention.multiplier is None:
            raise ValueError("attention needs `attention_multiplier`")
        self.to_in = nn.Sequential(
            nn.GroupNorm(num_groups=32, num_channels=channels, eps=1e-6, affine=True),
            PaddedConv1d(channels, channels, kernel_size=1),
            Rearrange("b c t -> b t c"),
        )
        self.blocks = nn.ModuleList(
            TransformerBlock(channels, heads, head_features, attention.multiplier, context_features)
            for _ in range(num_layers)
        )
        self.to_out = nn.Sequential(
            Rearrange("b t c -> b c t"),
            PaddedConv1d(channels, channels, kernel_size=1),
        )

    def forward(self, x: Tensor, context: Tensor | None, context_mask: Tensor | None) -> Tensor:  # [B, C, L]
        x = self.to_in(x)  # [B, L, C]
        for block in self.blocks:
            x = block(x, context, context_mask)
        return self.to_out(x)  # [B, C, L]


class LearnedPositionalEmbedding(nn.Module):
    """Learned random Fourier features of a scalar, with the scalar itself prepended: [x, sin(2πxw), cos(2πxw)]."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.weights = nn.Parameter(torch.randn(dim // 2))

    def forward(self, x: Tensor) -> Tensor:  # [B] -> [B, dim + 1]
        x = x.unsqueeze(-1)  # [B, 1]
        freqs = x * self.weights.unsqueeze(0) * 2 * math.pi  # [B, dim / 2]
        return torch.cat([x, freqs.sin(), freqs.cos()], dim=-1)


class TimePositionalEmbedding(nn.Sequential):
    """Learned Fourier features of t, then a Linear to `out_features` (keys `0.weights`, `1.weight`, `1.bias`)."""

    def __init__(self, dim: int, out_features: int) -> None:
        super().__init__(LearnedPositionalEmbedding(dim), nn.Linear(dim + 1, out_features))


class DownsampleBlock1d(nn.Module):
    """Strided conv down, ResNet blocks, optional transformer; returns every intermediate as a skip."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        factor: int,
        kernel_multiplier: int,
        num_groups: int,
        num_layers: int,
        num_transformer_blocks: int,
        attention: AttentionOptions,
        mapping_features: int | None,
        context_embedding_features: int | None,
    ) -> None:
        super().__init__()
        self.downsample = downsample_conv(in_channels, out_channels, factor, kernel_multiplier)
        self.blocks = nn.ModuleList(
            ResnetBlock1d(out_channels, out_channels, num_groups, mapping_features) for _ in range(num_layers)
        )
        if num_transformer_blocks > 0:
            self.transformer = Transformer1d(
                out_channels, num_transformer_blocks, attention, context_embedding_features
            )
        self.uses_transformer = num_transformer_blocks > 0

    def forward(
        self, x: Tensor, *, mapping: Tensor | None, context: Tensor | None, context_mask: Tensor | None
    ) -> tuple[Tensor, list[Tensor]]:
        x = self.downsample(x)  # [B, C_out, L / factor]
        skips = []
        for block in self.blocks:
            x = block(x, mapping)
            skips.append(x)
        if self.uses_transformer:
            x = self.transformer(x, context, context_mask)
            skips.append(x)
        return x, skips


class UpsampleBlock1d(nn.Module):
    """ResNet blocks each fed one (scaled) skip, optional transformer, then upsample."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        factor: int,
        num_groups: int,
        num_layers: int,
        num_transformer_blocks: int,
        attention: AttentionOptions,
        use_nearest: bool,
        skip_scale: float,
        mapping_features: int | None,
        context_embedding_features: int | None,
    ) -> None:
        super().__init__()
        self.skip_scale = skip_scale
        # skips of this level all have in_channels channels
        self.blocks = nn.ModuleList(
            ResnetBlock1d(in_channels * 2, in_channels, num_groups, mapping_features) for _ in range(num_layers)
        )
        if num_transformer_blocks > 0:
            self.transformer = Transformer1d(in_channels, num_transformer_blocks, attention, context_embedding_features)
        self.uses_transformer = num_transformer_blocks > 0
        self.upsample = upsample_conv(in_channels, out_channels, factor, use_nearest)

    def forward(
        self,
        x: Tensor,
        *,
        skips: list[Tensor],
        mapping: Tensor | None,
        context: Tensor | None,
        context_mask: Tensor | None,
    ) -> Tensor:
        for block in self.blocks:
            x = torch.cat([x, skips.pop() * self.skip_scale], dim=1)  # [B, 2 C_in, L]
            x = block(x, mapping)
        if self.uses_transformer:
            x = self.transformer(x, context, context_mask)
        return self.upsample(x)  # [B, C_out, L * factor]


class BottleneckBlock1d(nn.Module):
    """ResNet block, optional transformer, ResNet block at the lowest resolution."""

    def __init__(
        self,
        channels: int,
        *,
        num_groups: int,
        num_transformer_blocks: int,
        attention: AttentionOptions,
        mapping_features: int | None,
        context_embedding_features: int | None,
    ) -> None:
        super().__init__()
        self.pre_block = ResnetBlock1d(channels, channels, num_groups, mapping_features)
        if num_transformer_blocks > 0:
            self.transformer = Transformer1d(channels, num_transformer_blocks, attention, context_embedding_features)
        self.uses_transformer = num_transformer_blocks > 0
        self.post_block = ResnetBlock1d(channels, channels, num_groups, mapping_features)

    def forward(
        self, x: Tensor, *, mapping: Tensor | None, context: Tensor | None, context_mask: Tensor | None
    ) -> Tensor:
        x = self.pre_block(x, mapping)
        if self.uses_transformer:
            x = self.transformer(x, context, context_mask)
        return self.post_block(x, mapping)
