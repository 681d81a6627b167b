"""Oobleck convolutional audio encoder/decoder (stable-audio-tools `oobleck`; Evans et al., "Stable Audio Open", 2024).

Layout (keys under `encoder.` / `decoder.`), with n = len(c_mults) and widths channels·[1, *c_mults]:

    encoder.layers.0            k7 input conv
    encoder.layers.1..n         EncoderBlock: layers.0-2 residual units (dilations 1, 3, 9), layers.3 activation,
                                layers.4 strided conv (kernel 2·stride)
    encoder.layers.n+1          activation
    encoder.layers.n+2          k3 output conv to `latent_dim`
    decoder.layers.0            k7 input conv from `latent_dim`
    decoder.layers.1..n         DecoderBlock: layers.0 activation, layers.1 transposed conv (or layers.1.1 conv after
                                nearest upsampling), layers.2-4 residual units
    decoder.layers.n+1          activation
    decoder.layers.n+2          k7 output conv, no bias (then tanh when `final_tanh`, which has no state)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from audiodiff.nn.codec_layers import AntiAliasActivation1d, SnakeBeta, WNConv1d, WNConvTranspose1d


def oobleck_activation(channels: int, *, use_snake: bool, antialias: bool) -> nn.Module:
    """SnakeBeta or ELU, optionally wrapped in an anti-aliased (2x oversampled) activation."""
    activation: nn.Module = SnakeBeta(channels) if use_snake else nn.ELU()
    return AntiAliasActivation1d(activation) if antialias else activation


class OobleckResidualUnit(nn.Module):
    """Pre-activation residual unit: act, dilated k7 conv, act, 1x1 conv, plus skip."""

    def __init__(self, channels: int, *, dilation: int, use_snake: bool, checkpointing: bool = True) -> None:
        super().__init__()
        # the reference never anti-aliases the activations inside residual units
        self.checkpointing = checkpointing
        self.layers = nn.Sequential(
            oobleck_activation(channels, use_snake=use_snake, antialias=False),
            WNConv1d(channels, channels, 7, dilation=dilation, padding=(dilation * 6) // 2),
            oobleck_activation(channels, use_snake=use_snake, antialias=False),
            WNConv1d(channels, channels, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        # x: [B, C, T]; activations are recomputed in backward while training, as the reference does
        if self.training and self.checkpointing:
            return x + checkpoint(self.layers, x, use_reentrant=False)
        return x + self.layers(x)


class OobleckEncoderBlock(nn.Module):
    """Three residual units at the input width, then an activation and a strided conv to the output width."""

    def __init__(self, in_channels: int, out_channels: int, *, stride: int, use_snake: bool, antialias: bool) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            OobleckResidualUnit(in_channels, dilation=1, use_snake=use_snake),
            OobleckResidualUnit(in_channels, dilation=3, use_snake=use_snake),
            OobleckResidualUnit(in_channels, dilation=9, use_snake=use_snake),
            oobleck_activation(in_channels, use_snake=use_snake, antialias=antialias),
            WNConv1d(in_channels, out_channels, 2 * stride, stride=stride, padding=math.ceil(stride / 2)),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)  # [B, C_in, T] -> [B, C_out, T / stride]


class OobleckDecoderBlock(nn.Module):
    """An activation, an upsampling layer (transposed conv, or nearest + conv), then three residual units."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        stride: int,
        use_snake: bool,
        antialias: bool,
        use_nearest_upsample: bool,
    ) -> None:
        super().__init__()
        upsample: nn.Module
        if use_nearest_upsample:
            upsample = nn.Sequential(
                nn.Upsample(scale_factor=stride, mode="nearest"),
                WNConv1d(in_channels, out_channels, 2 * stride, padding="same", bias=False),
            )
        else:
            upsample = WNConvTranspose1d(
                in_channels, out_channels, 2 * stride, stride=stride, padding=math.ceil(stride / 2)
            )
        self.layers = nn.Sequential(
            oobleck_activation(in_channels, use_snake=use_snake, antialias=antialias),
            upsample,
            OobleckResidualUnit(out_channels, dilation=1, use_snake=use_snake),
            OobleckResidualUnit(out_channels, dilation=3, use_snake=use_snake),
            OobleckResidualUnit(out_channels, dilation=9, use_snake=use_snake),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)  # [B, C_in, T] -> [B, C_out, T * stride]


def _check_geometry(c_mults: Sequence[int], strides: Sequence[int]) -> None:
    if len(c_mults) == 0:
        raise ValueError("oobleck `c_mults` must not be empty")
    if len(strides) < len(c_mults):
        raise ValueError(
            f"oobleck needs one stride per entry of `c_mults`: got {len(strides)} strides for {len(c_mults)} c_mults"
        )


class OobleckEncoder(nn.Module):
    """Oobleck encoder: audio `[B, in_channels, T]` -> `[B, latent_dim, T / prod(strides)]`."""

    def __init__(
        self,
        *,
        in_channels: int = 2,  # audio channels
        channels: int = 128,  # base width; stage i runs at channels·c_mults[i]
        latent_dim: int = 32,  # output channels (2x the latent width when a VAE bottleneck follows)
        c_mults: Sequence[int] = (1, 2, 4, 8),
        strides: Sequence[int] = (2, 4, 8, 8),  # only the first len(c_mults) are used
        use_snake: bool = False,  # SnakeBeta instead of ELU
        antialias_activation: bool = False,  # the reference anti-aliases only the final activation here
    ) -> None:
        super().__init__()
        _check_geometry(c_mults, strides)
        self.in_channels = in_channels
        self.latent_dim = latent_dim
        widths = [channels] + [m * channels for m in c_mults]
        self.downsampling_ratio = math.prod(strides[: len(c_mults)])
        layers: list[nn.Module] = [WNConv1d(in_channels, widths[0], 7, padding=3)]
        for i in range(len(c_mults)):
            # the reference builds encoder blocks without anti-aliasing even when it is requested
            layers.append(
                OobleckEncoderBlock(widths[i], widths[i + 1], stride=strides[i], use_snake=use_snake, antialias=False)
            )
        layers.append(oobleck_activation(widths[-1], use_snake=use_snake, antialias=antialias_activation))
        layers.append(WNConv1d(widths[-1], latent_dim, 3, padding=1))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)  # [B, in_channels, T] -> [B, latent_dim, T / ratio]


class OobleckDecoder(nn.Module):
    """Oobleck decoder: latents `[B, latent_dim, L]` -> audio `[B, out_channels, L·prod(strides)]`."""

    def __init__(
        self,
        *,
        out_channels: int = 2,  # audio channels
        channels: int = 128,
        latent_dim: int = 32,  # input channels
        c_mults: Sequence[int] = (1, 2, 4, 8),
        strides: Sequence[int] = (2, 4, 8, 8),
        use_snake: bool = False,
        antialias_activation: bool = False,  # block input activations and the final activation
        use_nearest_upsample: bool = False,  # nearest upsampling + conv instead of transposed convs
        final_tanh: bool = True,
    ) -> None:
        super().__init__()
        _check_geometry(c_mults, strides)
        self.out_channels = out_channels
        self.latent_dim = latent_dim
        widths = [channels] + [m * channels for m in c_mults]
        self.upsampling_ratio = math.prod(strides[: len(c_mults)])
        layers: list[nn.Module] = [WNConv1d(latent_dim, widths[-1], 7, padding=3)]
        for i in range(len(c_mults), 0, -1):
            layers.append(
                OobleckDecoderBlock(
                    widths[i],
                    widths[i - 1],
                    stride=strides[i - 1],
                    use_snake=use_snake,
                    antialias=antialias_activation,
                    use_nearest_upsample=use_nearest_upsample,
                )
            )
        layers.append(oobleck_activation(widths[0], use_snake=use_snake, antialias=antialias_activation))
        layers.append(WNConv1d(widths[0], out_channels, 7, padding=3, bias=False))
        layers.append(nn.Tanh() if final_tanh else nn.Identity())
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)  # [B, latent_dim, L] -> [B, out_channels, L * ratio]
