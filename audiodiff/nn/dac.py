"""DAC encoder/decoder as stable-audio-tools wraps them (`dac` type; Kumar et al., "High-Fidelity Audio
Compression with Improved RVQGAN", 2023).

Key layout inside an autoencoder:

    encoder.encoder.block.0                  k7 input conv (in_channels -> d_model)
    encoder.encoder.block.1..n               EncoderBlock: block.0-2 residual units (dilations 1, 3, 9),
                                             block.3 Snake, block.4 strided conv (kernel 2·stride), width doubles
    encoder.encoder.block.n+1                Snake
    encoder.encoder.block.n+2                k3 conv to d_model·2^n
    encoder.proj_out.{weight,bias}           plain 1x1 conv to latent_dim (only when latent_dim is given)
    decoder.decoder.model.0                  k7 input conv (latent_dim -> channels)
    decoder.decoder.model.1..n               DecoderBlock: block.0 Snake, block.1 transposed conv,
                                             block.2-4 residual units
    decoder.decoder.model.n+1                Snake
    decoder.decoder.model.n+2                k7 output conv (then tanh)

Residual units are `block.{0: Snake, 1: dilated k7 conv, 2: Snake, 3: 1x1 conv}`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import Tensor, nn

from audiodiff.nn.codec_layers import Snake1d, WNConv1d, WNConvTranspose1d


class DACResidualUnit(nn.Module):
    """Snake, dilated k7 conv, Snake, 1x1 conv, with a (center-cropped) skip connection."""

    def __init__(self, dim: int, *, dilation: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            Snake1d(dim),
            WNConv1d(dim, dim, 7, dilation=dilation, padding=(6 * dilation) // 2),
            Snake1d(dim),
            WNConv1d(dim, dim, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        y = self.block(x)  # [B, C, T']
        crop = (x.shape[-1] - y.shape[-1]) // 2
        if crop > 0:
            x = x[..., crop:-crop]
        return x + y


class DACEncoderBlock(nn.Module):
    """Residual units at dim/2, Snake, then a strided conv to dim."""

    def __init__(self, dim: int, *, stride: int) -> None:
        super().__init__()
        half = dim // 2
        self.block = nn.Sequential(
            DACResidualUnit(half, dilation=1),
            DACResidualUnit(half, dilation=3),
            DACResidualUnit(half, dilation=9),
            Snake1d(half),
            WNConv1d(half, dim, 2 * stride, stride=stride, padding=math.ceil(stride / 2)),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.block(x)  # [B, dim/2, T] -> [B, dim, T / stride]


class DACEncoderCore(nn.Module):
    """DAC `Encoder`: widths double at every stride; output width `d_latent`."""

    def __init__(self, *, in_channels: int, d_model: int, strides: Sequence[int], d_latent: int) -> None:
        super().__init__()
        # the stable-audio-tools wrapper swaps the first conv for an `in_channels`-wide one; same layout
        blocks: list[nn.Module] = [WNConv1d(in_channels, d_model, 7, padding=3)]
        width = d_model
        for stride in strides:
            width *= 2
            blocks.append(DACEncoderBlock(width, stride=stride))
        blocks += [Snake1d(width), WNConv1d(width, d_latent, 3, padding=1)]
        self.block = nn.Sequential(*blocks)
        self.enc_dim = width

    def forward(self, x: Tensor) -> Tensor:
        return self.block(x)


class DACEncoder(nn.Module):
    """stable-audio-tools `DACEncoderWrapper`: DAC encoder to d_model·2^len(strides), then an optional 1x1 conv."""

    def __init__(
        self,
        *,
        in_channels: int = 1,
        d_model: int,  # width after the input conv; doubles at every stride (required, as in the reference)
        strides: Sequence[int],
        latent_dim: int | None = None,  # output channels; None keeps d_model·2^len(strides)
    ) -> None:
        super().__init__()
        if len(strides) == 0:
            raise ValueError("dac encoder `strides` must not be empty")
        enc_dim = d_model * 2 ** len(strides)
        self.in_channels = in_channels
        self.latent_dim = latent_dim if latent_dim is not None else enc_dim
        self.downsampling_ratio = math.prod(strides)
        self.encoder = DACEncoderCore(in_channels=in_channels, d_model=d_model, strides=strides, d_latent=enc_dim)
        self.proj_out: nn.Module = nn.Conv1d(enc_dim, latent_dim, 1) if latent_dim is not None else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.proj_out(self.encoder(x))  # [B, in_channels, T] -> [B, latent_dim, T / ratio]


class DACDecoderBlock(nn.Module):
    """Snake, transposed conv (kernel 2·stride), residual units at the output width."""

    def __init__(self, input_dim: int, output_dim: int, *, stride: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            Snake1d(input_dim),
            WNConvTranspose1d(input_dim, output_dim, 2 * stride, stride=stride, padding=math.ceil(stride / 2)),
            DACResidualUnit(output_dim, dilation=1),
            DACResidualUnit(output_dim, dilation=3),
            DACResidualUnit(output_dim, dilation=9),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.block(x)  # [B, C_in, T] -> [B, C_out, T * stride]


class DACDecoderCore(nn.Module):
    """DAC `Decoder`: width halves at every rate; ends in tanh."""

    def __init__(self, *, input_channel: int, channels: int, rates: Sequence[int], d_out: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [WNConv1d(input_channel, channels, 7, padding=3)]
        output_dim = channels
        for i, stride in enumerate(rates):
            input_dim = channels // 2**i
            output_dim = channels // 2 ** (i + 1)
            layers.append(DACDecoderBlock(input_dim, output_dim, stride=stride))
        layers += [Snake1d(output_dim), WNConv1d(output_dim, d_out, 7, padding=3), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)


class DACDecoder(nn.Module):
    """stable-audio-tools `DACDecoderWrapper`: `[B, latent_dim, L]` -> audio `[B, out_channels, L·prod(rates)]`."""

    def __init__(
        self,
        *,
        latent_dim: int,  # input channels
        out_channels: int = 1,
        channels: int,  # width after the input conv; halves (floor) at every rate (required, as in the reference)
        rates: Sequence[int],
    ) -> None:
        super().__init__()
        if len(rates) == 0:
            raise ValueError("dac decoder `rates` must not be empty")
        self.latent_dim = latent_dim
        self.out_channels = out_channels
        self.upsampling_ratio = math.prod(rates)
        self.decoder = DACDecoderCore(input_channel=latent_dim, channels=channels, rates=rates, d_out=out_channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.decoder(x)
