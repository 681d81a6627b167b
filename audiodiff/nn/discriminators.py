"""Discriminators of adversarial autoencoder training, with the losses each one trains with.

Every discriminator answers `loss(reals, fakes) -> (discriminator loss, adversarial loss, feature matching)` for
audio `[B, C, T]`: the first trains the discriminator, the other two the autoencoder. Pass `fakes.detach()` on
discriminator steps. State-dict names follow stable-audio-tools (weight-normed convolutions keep torch's legacy
`weight_g` / `weight_v`), so its checkpoints load as they are.

- `EncodecDiscriminator`: multi-scale STFT discriminator (Défossez et al., 2022, "High Fidelity Neural Audio
  Compression"), hinge losses per scale.
- `OobleckDiscriminator`: multi-scale waveform plus multi-period discriminators (Kumar et al., 2019; Kong et al.,
  2020) over the concatenated real and fake batch, hinge loss on the summed scores.
- `DACDiscriminator` (in `dac_discriminator.py`): multi-period plus multi-band multi-resolution STFT discriminators
  (Kumar et al., 2023, "High-Fidelity Audio Compression with Improved RVQGAN"), least-squares losses.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict, Unpack

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from audiodiff.nn.codec_layers import _WeightNormed

DiscriminatorLosses = tuple[Tensor, Tensor, Tensor]  # (discriminator, adversarial, feature matching)


class WNConv2d(_WeightNormed):
    """Conv2d with weight normalisation (`weight_g`: `[O, 1, 1, 1]`, `weight_v`: `[O, I, kh, kw]`)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        *,
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1,
    ) -> None:
        super().__init__()
        self.stride, self.padding, self.dilation = stride, padding, dilation
        self._take_weights(nn.Conv2d(in_channels, out_channels, kernel_size), True)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.effective_weight(), self.bias, self.stride, self.padding, self.dilation)


class WNConv1dLayer(_WeightNormed):
    """Conv1d with weight normalisation and integer padding (the discriminators' own; `WNConv1d` serves codecs)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        *,
        stride: int = 1,
        padding: int = 0,
        groups: int = 1,
    ) -> None:
        super().__init__()
        self.stride, self.padding, self.groups = stride, padding, groups
        self._take_weights(nn.Conv1d(in_channels, out_channels, kernel_size, groups=groups), True)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv1d(x, self.effective_weight(), self.bias, self.stride, self.padding, groups=self.groups)


def hinge_losses(real_scores: Tensor, fake_scores: Tensor) -> tuple[Tensor, Tensor]:
    """(discriminator, generator) hinge losses (Lim & Ye, 2017)."""
    return F.relu(1 - real_scores).mean() + F.relu(1 + fake_scores).mean(), -fake_scores.mean()


# --- multi-scale STFT (EnCodec) -----------------------------------------------------------------------------------


class _Spectrogram(nn.Module):
    """Complex STFT without centring, scaled by the window's L2 norm; the window is a persistent buffer (as the
    torchaudio transform the reference uses keeps it, so its state dicts carry `spec_transform.window`)."""

    window: Tensor  # [win_length] (a buffer)

    def __init__(self, n_fft: int, hop_length: int, win_length: int) -> None:
        super().__init__()
        self.n_fft, self.hop_length, self.win_length = n_fft, hop_length, win_length
        self.register_buffer("window", torch.hann_window(win_length))

    def forward(self, x: Tensor) -> Tensor:
        # x: [B, C, T] -> complex [B, C, n_fft // 2 + 1, frames]
        spectrum = torch.stft(
            x.reshape(-1, x.shape[-1]),
            self.n_fft,
            self.hop_length,
            self.win_length,
            self.window,
            center=False,
            return_complex=True,
        )
        spectrum = spectrum / self.window.pow(2).sum().sqrt()
        return spectrum.reshape(*x.shape[:-1], *spectrum.shape[-2:])


class _NormConv2d(nn.Module):
    def __init__(self, *args: int | tuple[int, int], **options: int | tuple[int, int]) -> None:
        super().__init__()
        self.conv = WNConv2d(*args, **options)  # type: ignore[arg-type]

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


def _same_padding(kernel: tuple[int, int], dilation: tuple[int, int] = (1, 1)) -> tuple[int, int]:
    return (kernel[0] - 1) * dilation[0] // 2, (kernel[1] - 1) * dilation[1] // 2


class STFTScaleDiscriminator(nn.Module):
    """One scale: 2-D convolutions over the real and imaginary parts of a spectrogram `[B, 2C, frames, bins]`."""

    def __init__(
        self,
        filters: int,
        *,
        in_channels: int,
        out_channels: int = 1,
        n_fft: int = 1024,
        hop_length: int = 256,
        win_length: int = 1024,
        max_filters: int = 1024,
        filters_scale: int = 1,
        kernel_size: tuple[int, int] = (3, 9),
        dilations: Sequence[int] = (1, 2, 4),
        stride: tuple[int, int] = (1, 1),
        negative_slope: float = 0.2,
        spec_scale_pow: float = 0.0,
    ) -> None:
        super().__init__()
        self.spec_transform = _Spectrogram(n_fft, hop_length, win_length)
        self.spec_scale_pow = spec_scale_pow
        self.activation = nn.LeakyReLU(negative_slope)
        self.convs = nn.ModuleList(
            [_NormConv2d(2 * in_channels, filters, kernel_size, padding=_same_padding(kernel_size))]
        )
        width = min(filters_scale * filters, max_filters)
        for index, dilation in enumerate(dilations):
            out = min(filters_scale ** (index + 1) * filters, max_filters)
            self.convs.append(
                _NormConv2d(
                    width,
                    out,
                    kernel_size,
                    stride=stride,
                    dilation=(dilation, 1),
                    padding=_same_padding(kernel_size, (dilation, 1)),
                )
            )
            width = out
        out = min(filters_scale ** (len(dilations) + 1) * filters, max_filters)
        square = (kernel_size[0], kernel_size[0])
        self.convs.append(_NormConv2d(width, out, square, padding=_same_padding(square)))
        self.conv_post = _NormConv2d(out, out_channels, square, padding=_same_padding(square))

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        z = self.spec_transform(x)  # complex [B, C, F, N]
        if self.spec_scale_pow != 0.0:
            z = z * torch.pow(z.abs() + 1e-6, self.spec_scale_pow)
        z = torch.cat([z.real, z.imag], dim=1).transpose(2, 3)  # [B, 2C, N, F]: time on the dilated axis
        features = []
        for conv in self.convs:
            z = self.activation(conv(z))
            features.append(z)
        return self.conv_post(z), features  # logits [B, out, N', F']


class _MultiScaleSTFT(nn.Module):
    def __init__(self, scales: list[STFTScaleDiscriminator]) -> None:
        super().__init__()
        self.discriminators = nn.ModuleList(scales)


class ScaleOptions(TypedDict, total=False):
    """`STFTScaleDiscriminator` options an `EncodecDiscriminator` passes to every scale."""

    out_channels: int
    max_filters: int
    filters_scale: int
    kernel_size: tuple[int, int]
    dilations: Sequence[int]
    stride: tuple[int, int]
    negative_slope: float
    spec_scale_pow: float


class EncodecDiscriminator(nn.Module):
    """Multi-scale STFT discriminator: one `STFTScaleDiscriminator` per (n_fft, hop, window) triple."""

    def __init__(
        self,
        filters: int,
        *,
        in_channels: int,
        n_ffts: Sequence[int] = (1024, 2048, 512),
        hop_lengths: Sequence[int] = (256, 512, 128),
        win_lengths: Sequence[int] = (1024, 2048, 512),
        normalize_losses: bool = False,
        **scale_options: Unpack[ScaleOptions],
    ) -> None:
        super().__init__()
        if not len(n_ffts) == len(hop_lengths) == len(win_lengths):
            raise ValueError("`n_ffts`, `hop_lengths` and `win_lengths` must have the same length")
        self.discriminators = _MultiScaleSTFT(
            [
                STFTScaleDiscriminator(
                    filters, in_channels=in_channels, n_fft=n_fft, hop_length=hop, win_length=win, **scale_options
                )
                for n_fft, hop, win in zip(n_ffts, hop_lengths, win_lengths, strict=True)
            ]
        )
        self.normalize_losses = normalize_losses

    def _distance(self, real: Tensor, fake: Tensor) -> Tensor:
        distance = (real - fake).abs().mean()
        return distance / (real.abs().mean() + 1e-3) if self.normalize_losses else distance

    def loss(self, reals: Tensor, fakes: Tensor) -> DiscriminatorLosses:
        dis, adv, matching = reals.new_zeros(()), reals.new_zeros(()), reals.new_zeros(())
        scales = self.discriminators.discriminators
        for scale in scales:
            real_logits, real_features = scale(reals)
            fake_logits, fake_features = scale(fakes)
            matching = matching + sum(
                self._distance(r, f) for r, f in zip(real_features, fake_features, strict=True)
            ) / len(real_features)
            scale_dis, scale_adv = hinge_losses(real_logits, fake_logits)
            dis, adv = dis + scale_dis, adv + scale_adv
        return dis / len(scales), adv / len(scales), matching / len(scales)


# --- multi-scale and multi-period waveform discriminators (Oobleck) ----------------------------------------------


class SharedConvNet(nn.Module):
    """Strided weight-normed convolutions with SiLU, then a 1x1 projection to a score; `two_d` folds periods
    (kernel and stride apply to both axes, as the reference builds it)."""

    def __init__(
        self,
        in_channels: int,
        *,
        two_d: bool,
        capacity: int = 32,
        n_layers: int = 4,
        kernel_size: int = 15,
        stride: int = 4,
    ) -> None:
        super().__init__()
        widths = [in_channels] + [capacity * 2**i for i in range(n_layers)]
        layers: list[nn.Module] = []
        for index in range(n_layers):
            if two_d:
                layers.append(
                    WNConv2d(widths[index], widths[index + 1], kernel_size, stride=stride, padding=kernel_size // 2)
                )
            else:
                layers.append(
                    WNConv1dLayer(
                        widths[index], widths[index + 1], kernel_size, stride=stride, padding=kernel_size // 2
                    )
                )
            layers.append(nn.SiLU())
        layers.append((nn.Conv2d if two_d else nn.Conv1d)(widths[-1], 1, 1))
        self.net = nn.ModuleList(layers)

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        features = []
        for layer in self.net:
            x = layer(x)
            if not isinstance(layer, nn.SiLU):  # every convolution's output, before its activation
                features.append(x)
        return x.reshape(x.shape[0], -1).mean(-1), features  # score [N]


class _Scales(nn.Module):
    def __init__(self, in_channels: int, n_scales: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(SharedConvNet(in_channels, two_d=False) for _ in range(n_scales))

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        score, features = x.new_zeros(x.shape[0]), []
        for layer in self.layers:
            layer_score, layer_features = layer(x)
            score, x = score + layer_score, F.avg_pool1d(x, 2)  # each scale halves the rate
            features.extend(layer_features)
        return score, features


class _Periods(nn.Module):
    def __init__(self, in_channels: int, periods: Sequence[int]) -> None:
        super().__init__()
        self.periods = tuple(periods)
        self.layers = nn.ModuleList(SharedConvNet(in_channels, two_d=True) for _ in periods)

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        score, features = x.new_zeros(x.shape[0]), []
        for layer, period in zip(self.layers, self.periods, strict=True):
            folded = F.pad(x, (0, -x.shape[-1] % period))  # [N, C, T'] with T' a multiple of the period
            folded = folded.reshape(*x.shape[:2], -1, period)  # [N, C, T' / p, p]
            layer_score, layer_features = layer(folded)
            score = score + layer_score
            features.extend(layer_features)
        return score, features


class _MultiDiscriminator(nn.Module):
    def __init__(self, members: list[nn.Module]) -> None:
        super().__init__()
        self.discriminators = nn.ModuleList(members)


class OobleckDiscriminator(nn.Module):
    """Three waveform scales plus periods 2, 3, 5, 7, 11, run once over reals and fakes stacked on the batch axis."""

    def __init__(self, in_channels: int = 1) -> None:
        super().__init__()
        self.multi_discriminator = _MultiDiscriminator(
            [_Scales(in_channels, 3), _Periods(in_channels, (2, 3, 5, 7, 11))]
        )

    def loss(self, reals: Tensor, fakes: Tensor) -> DiscriminatorLosses:
        size = reals.shape[0]
        both = torch.cat([reals, fakes], 0)  # [2B, C, T]
        score, matching = both.new_zeros(2 * size), both.new_zeros(())
        for member in self.multi_discriminator.discriminators:
            member_score, features = member(both)
            score = score + member_score
            for feature in features:
                matching = matching + (feature[:size] - feature[size:]).abs().mean()
        dis, adv = hinge_losses(score[:size], score[size:])
        return dis, adv, matching
