"""Transformer autoencoder stages (`taae`, stable-audio-tools' TAAE encoder and decoder).

Each resolution level is a strided weight-normed convolution (transposed in the decoder) next to a stack of
pre-norm transformer blocks that run over time steps: 128-wide heads, per-block rotary positions, LayerNorm'd
queries and keys, layer scales, LayerNorm eps 1e-2. Optional dilated residual units (the Oobleck ones) sit before
the encoder's downsampling and after the decoder's upsampling. The module tree gives the reference's state-dict
keys: `layers.<i>` for the stem, the levels and the head; inside a level `layers.<j>`, where the transformer stack
is one list whose first and last entries are the (parameter-free) transposes.

Shapes: the encoder maps audio `[B, in_channels, T]` to `[B, latent_dim, T / prod(strides)]`; the decoder back.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from audiodiff.nn.codec_layers import SnakeBeta, WNConv1d, WNConvTranspose1d
from audiodiff.nn.oobleck import OobleckResidualUnit
from audiodiff.nn.transformer import AttentionOptions, FeedForwardOptions, NormOptions, TransformerBlock

HEAD_WIDTH = 128  # the reference fixes the blocks' head width (heads = width // 128, at least one)


class Transpose(nn.Module):
    """Swaps the last two axes: `[B, C, T] <-> [B, T, C]` around the transformer stack."""

    def forward(self, x: Tensor) -> Tensor:
        return x.transpose(-1, -2)


def _activation(channels: int, use_snake: bool) -> nn.Module:
    # levels use SnakeBeta or nothing (the residual units, as in Oobleck, use SnakeBeta or ELU)
    return SnakeBeta(channels) if use_snake else nn.Identity()


class TAAELevel(nn.Module):
    """One resolution level: strided conv and transformer stack (encoder order), or the reverse (decoder)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        stride: int,
        decoder: bool,
        depth: int,
        use_snake: bool,
        sliding_window: Sequence[int],
        conformer: bool,
        layer_scale: bool,
        use_dilated_conv: bool,
        checkpointing: bool,
    ) -> None:
        super().__init__()
        self.checkpointing = checkpointing
        self.sliding_window = tuple(sliding_window)
        width = in_channels if decoder else out_channels  # the transformers run at the lower resolution's width
        stack: list[nn.Module] = [Transpose()]
        for _ in range(depth):
            stack.append(
                TransformerBlock(
                    width,
                    dim_heads=HEAD_WIDTH,
                    zero_init_branch_outputs=not layer_scale,
                    conformer=conformer,
                    add_rope=True,
                    layer_scale=layer_scale,
                    attn=AttentionOptions(qk_norm="ln"),
                    ff=FeedForwardOptions(mult=4, no_bias=False),
                    norm=NormOptions(eps=1e-2),
                )
            )
        stack.append(Transpose())
        transformers = nn.ModuleList(stack)
        residual_width = out_channels if decoder else in_channels
        residuals = (
            [
                OobleckResidualUnit(residual_width, dilation=d, use_snake=use_snake, checkpointing=checkpointing)
                for d in (1, 3, 9)
            ]
            if use_dilated_conv
            else []
        )
        padding = math.ceil(stride / 2)
        if decoder:
            resample: nn.Module = (
                WNConvTranspose1d(in_channels, out_channels, 2 * stride, stride=stride, padding=padding)
                if stride > 1
                else nn.Identity()
            )
            layers = [transformers, _activation(out_channels, use_snake), resample, *residuals]
        else:
            resample = (
                WNConv1d(in_channels, out_channels, 2 * stride, stride=stride, padding=padding)
                if stride > 1
                else nn.Identity()
            )
            layers = [*residuals, _activation(in_channels, use_snake), resample, transformers]
        self.layers = nn.ModuleList(layers)

    def _transformers(self, stack: nn.ModuleList, x: Tensor) -> Tensor:
        # the sliding window is honoured where flash-attn runs; elsewhere attention is global, as upstream
        for layer in stack:
            if isinstance(layer, TransformerBlock):
                if self.training and self.checkpointing:
                    x = checkpoint(layer, x, None, None, None, self.sliding_window, use_reentrant=False)
                else:
                    x = layer(x, sliding_window=self.sliding_window)
            else:
                x = layer(x)
        return x

    def forward(self, x: Tensor) -> Tensor:  # [B, C_in, T] -> [B, C_out, T'] (channels-first throughout)
        for layer in self.layers:
            if isinstance(layer, nn.ModuleList):
                x = self._transformers(layer, x)
            elif self.training and self.checkpointing:
                x = checkpoint(layer, x, use_reentrant=False)
            else:
                x = layer(x)
        return x


def _widths(channels: int, c_mults: Sequence[int]) -> list[int]:
    widths = [c * channels for c in c_mults]
    return [widths[0], *widths]


def _check(c_mults: Sequence[int], strides: Sequence[int], depths: Sequence[int]) -> None:
    if not (len(c_mults) == len(strides) == len(depths)) or not c_mults:
        raise ValueError(
            f"`taae` needs as many `strides` ({len(strides)}) and `transformer_depths` ({len(depths)}) "
            f"as `c_mults` ({len(c_mults)}), at least one"
        )


class TAAEEncoder(nn.Module):
    def __init__(
        self,
        *,
        in_channels: int = 2,
        channels: int = 128,
        latent_dim: int = 32,
        c_mults: Sequence[int] = (1, 2, 4, 8),
        strides: Sequence[int] = (2, 4, 8, 8),
        transformer_depths: Sequence[int] = (3, 3, 3, 3),
        use_snake: bool = False,
        sliding_window: Sequence[int] = (63, 64),
        checkpointing: bool = False,
        conformer: bool = False,
        layer_scale: bool = True,
        use_dilated_conv: bool = False,
    ) -> None:
        super().__init__()
        _check(c_mults, strides, transformer_depths)
        widths = _widths(channels, c_mults)
        layers: list[nn.Module] = [WNConv1d(in_channels, widths[0], 7, padding=3)]
        for i in range(len(c_mults)):
            layers.append(
                TAAELevel(
                    widths[i],
                    widths[i + 1],
                    stride=strides[i],
                    decoder=False,
                    depth=transformer_depths[i],
                    use_snake=use_snake,
                    sliding_window=sliding_window,
                    conformer=conformer,
                    layer_scale=layer_scale,
                    use_dilated_conv=use_dilated_conv,
                    checkpointing=checkpointing,
                )
            )
        layers += [_activation(widths[-1], use_snake), WNConv1d(widths[-1], latent_dim, 3, padding=1)]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:  # [B, in_channels, T] -> [B, latent_dim, T / prod(strides)]
        return self.layers(x)


class TAAEDecoder(nn.Module):
    def __init__(
        self,
        *,
        out_channels: int = 2,
        channels: int = 128,
        latent_dim: int = 32,
        c_mults: Sequence[int] = (1, 2, 4, 8),
        strides: Sequence[int] = (2, 4, 8, 8),
        transformer_depths: Sequence[int] = (3, 3, 3, 3),
        use_snake: bool = False,
        sliding_window: Sequence[int] = (63, 64),
        checkpointing: bool = False,
        conformer: bool = False,
        layer_scale: bool = True,
        use_dilated_conv: bool = False,
    ) -> None:
        super().__init__()
        _check(c_mults, strides, transformer_depths)
        widths = _widths(channels, c_mults)
        layers: list[nn.Module] = [WNConv1d(latent_dim, widths[-1], 3, padding=1)]
        for i in range(len(c_mults), 0, -1):
            layers.append(
                TAAELevel(
                    widths[i],
                    widths[i - 1],
                    stride=strides[i - 1],
                    decoder=True,
                    depth=transformer_depths[i - 1],
                    use_snake=use_snake,
                    sliding_window=sliding_window,
                    conformer=conformer,
                    layer_scale=layer_scale,
                    use_dilated_conv=use_dilated_conv,
                    checkpointing=checkpointing,
                )
            )
        layers += [_activation(widths[0], use_snake), WNConv1d(widths[0], out_channels, 7, padding=3, bias=False)]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:  # [B, latent_dim, L] -> [B, out_channels, L * prod(strides)]
        return self.layers(x)
