"""Building blocks shared by the codec encoders/decoders: weight-normed convolutions, snake activations, and
anti-aliased (alias-free) activations.

State-dict names follow the reference exactly: weight-normed convolutions store `weight_g` / `weight_v` (+ `bias`)
like torch's legacy `weight_norm`; anti-aliased activations nest as `act.*`, `upsample.filter`,
`downsample.lowpass.filter` like the alias-free-torch package.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.nn import functional as F


def _norm_except_dim0(v: Tensor) -> Tensor:
    """L2 norm over every axis except the first, keeping dims: `[O, ...] -> [O, 1, ...]`."""
    return torch.linalg.vector_norm(v, dim=tuple(range(1, v.dim())), keepdim=True)


def _split_folded_weight(state_dict: dict[str, Any], prefix: str) -> None:
    """Accept a checkpoint whose weight norm was folded into a plain `weight` (stable-audio-tools'
    `--remove_pretransform_weight_norm`): rewrite it as `weight_g` = ‖weight‖ and `weight_v` = weight in place."""
    folded = state_dict.get(f"{prefix}weight")
    if folded is not None and f"{prefix}weight_v" not in state_dict and f"{prefix}weight_g" not in state_dict:
        del state_dict[f"{prefix}weight"]
        state_dict[f"{prefix}weight_g"] = _norm_except_dim0(folded)
        state_dict[f"{prefix}weight_v"] = folded


class _WeightNormed(nn.Module):
    """Weight normalisation (Salimans & Kingma, 2016) in torch's legacy layout: the weight is `weight_g * weight_v /
    ||weight_v||`, the norm over every axis but the first; `bias` as the plain convolution has it."""

    def _take_weights(self, reference: nn.Conv1d | nn.ConvTranspose1d | nn.Conv2d, bias: bool) -> None:
        """Initialise like `reference` (a plain convolution), split into magnitude and direction."""
        weight = reference.weight.detach()
        self.bias = nn.Parameter(reference.bias.detach()) if bias and reference.bias is not None else None
        self.weight_g = nn.Parameter(_norm_except_dim0(weight))  # [first axis, 1, 1]
        self.weight_v = nn.Parameter(weight.clone())

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
        _split_folded_weight(state_dict, prefix)
        super()._load_from_state_dict(state_dict, prefix, *args)

    def effective_weight(self) -> Tensor:
        """The normalised weight, in the plain convolution's shape."""
        return self.weight_v * (self.weight_g / _norm_except_dim0(self.weight_v))


class WNConv1d(_WeightNormed):
    """Conv1d with weight normalisation: `weight_g` is `[O, 1, 1]`, `weight_v` the `[O, I, K]` direction."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        *,
        stride: int = 1,
        padding: int | Literal["same"] = 0,  # "same" needs stride 1; even kernels pad one more on the right
        dilation: int = 1,
        bias: bool = True,
    ) -> None:
        super().__init__()
        if padding == "same" and stride != 1:
            raise ValueError("a `same`-padded convolution needs stride 1")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self._take_weights(nn.Conv1d(in_channels, out_channels, kernel_size, bias=bias), bias)

    def forward(self, x: Tensor) -> Tensor:
        # x: [B, I, T] -> [B, O, T']
        padding = self.padding
        if padding == "same":
            # like torch's "same": the left side gets the smaller half of an odd total
            total = self.dilation * (self.kernel_size - 1)
            x = F.pad(x, (total // 2, total - total // 2))
            padding = 0
        return F.conv1d(x, self.effective_weight(), self.bias, self.stride, padding, self.dilation)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, dilation={self.dilation}, bias={self.bias is not None}"
        )


class WNConvTranspose1d(_WeightNormed):
    """ConvTranspose1d with weight normalisation over axes 1.. of its `[I, O, K]` weight (`weight_g`: `[I, 1, 1]`)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        *,
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        # the transposed weight is [I, O, K], so `weight_g` is [I, 1, 1]
        self._take_weights(nn.ConvTranspose1d(in_channels, out_channels, kernel_size, bias=bias), bias)

    def forward(self, x: Tensor) -> Tensor:
        # x: [B, I, T] -> [B, O, T * stride] (for kernel 2*stride, padding ceil(stride/2), even stride)
        return F.conv_transpose1d(x, self.effective_weight(), self.bias, self.stride, self.padding)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, bias={self.bias is not None}"
        )


class Snake1d(nn.Module):
    """Snake activation x + sin²(αx)/α, per-channel linear-scale α `[1, C, 1]` (Ziyin et al., 2020; DAC layout)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(1, channels, 1))

    def forward(self, x: Tensor) -> Tensor:
        # x: [B, C, T]
        return x + (self.alpha + 1e-9).reciprocal() * torch.sin(self.alpha * x).pow(2)


class SnakeBeta(nn.Module):
    """SnakeBeta activation x + sin²(αx)/β with log-scale per-channel α, β (BigVGAN; Lee et al., 2022)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        # log-scale parameters start at zero, i.e. α = β = 1
        self.alpha = nn.Parameter(torch.zeros(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        # x: [B, C, T]; parameters broadcast as [1, C, 1]
        alpha = torch.exp(self.alpha)[None, :, None]
        beta = torch.exp(self.beta)[None, :, None]
        return x + (1.0 / (beta + 1e-9)) * torch.pow(torch.sin(x * alpha), 2)


def kaiser_sinc_filter1d(cutoff: float, half_width: float, kernel_size: int) -> Tensor:
    """Kaiser-windowed sinc low-pass filter `[1, 1, K]`, normalised to unit DC gain (StyleGAN3 / alias-free-torch)."""
    even = kernel_size % 2 == 0
    half_size = kernel_size // 2
    # Kaiser's empirical formula for the window's beta from the attenuation of a transition band of width 4·half_width
    delta_f = 4 * half_width
    attenuation = 2.285 * (half_size - 1) * math.pi * delta_f + 7.95
    if attenuation > 50.0:
        beta = 0.1102 * (attenuation - 8.7)
    elif attenuation >= 21.0:
        beta = 0.5842 * (attenuation - 21) ** 0.4 + 0.07886 * (attenuation - 21.0)
    else:
        beta = 0.0
    window = torch.kaiser_window(kernel_size, beta=beta, periodic=False)
    if even:
        time = torch.arange(-half_size, half_size) + 0.5
    else:
        time = torch.arange(kernel_size) - half_size
    taps = 2 * cutoff * window * torch.sinc(2 * cutoff * time)
    taps = taps / taps.sum()
    return taps.view(1, 1, kernel_size)


class LowPassFilter1d(nn.Module):
    """Depthwise low-pass filtering with replicate padding and an optional stride (alias-free-torch layout)."""

    filter: Tensor  # [1, 1, K] (a buffer)

    def __init__(self, *, cutoff: float = 0.5, half_width: float = 0.6, stride: int = 1, kernel_size: int = 12) -> None:
        super().__init__()
        if not 0.0 <= cutoff <= 0.5:
            raise ValueError(f"low-pass cutoff must lie in [0, 0.5], got `{cutoff}`")
        even = kernel_size % 2 == 0
        self.pad_left = kernel_size // 2 - int(even)
        self.pad_right = kernel_size // 2
        self.stride = stride
        self.register_buffer("filter", kaiser_sinc_filter1d(cutoff, half_width, kernel_size))

    def forward(self, x: Tensor) -> Tensor:
        channels = x.shape[1]
        x = F.pad(x, (self.pad_left, self.pad_right), mode="replicate")
        return F.conv1d(x, self.filter.expand(channels, -1, -1), stride=self.stride, groups=channels)


class UpSample1d(nn.Module):
    """Band-limited upsampling by zero-stuffing + Kaiser-sinc interpolation (alias-free-torch layout)."""

    filter: Tensor  # [1, 1, K] (a buffer)

    def __init__(self, ratio: int = 2, kernel_size: int = 12) -> None:
        super().__init__()
        self.ratio = ratio
        self.pad = kernel_size // ratio - 1
        self.pad_left = self.pad * ratio + (kernel_size - ratio) // 2
        self.pad_right = self.pad * ratio + (kernel_size - ratio + 1) // 2
        self.register_buffer("filter", kaiser_sinc_filter1d(0.5 / ratio, 0.6 / ratio, kernel_size))

    def forward(self, x: Tensor) -> Tensor:
        # x: [B, C, T] -> [B, C, T * ratio]
        channels = x.shape[1]
        x = F.pad(x, (self.pad, self.pad), mode="replicate")
        x = self.ratio * F.conv_transpose1d(x, self.filter.expand(channels, -1, -1), stride=self.ratio, groups=channels)
        return x[..., self.pad_left : -self.pad_right]


class DownSample1d(nn.Module):
    """Band-limited downsampling: Kaiser-sinc low-pass with stride (alias-free-torch layout)."""

    def __init__(self, ratio: int = 2, kernel_size: int = 12) -> None:
        super().__init__()
        self.lowpass = LowPassFilter1d(
            cutoff=0.5 / ratio, half_width=0.6 / ratio, stride=ratio, kernel_size=kernel_size
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.lowpass(x)


class AntiAliasActivation1d(nn.Module):
    """Pointwise nonlinearity evaluated at twice the rate: upsample, activate, low-pass and decimate (BigVGAN)."""

    def __init__(self, activation: nn.Module, *, ratio: int = 2, kernel_size: int = 12) -> None:
        super().__init__()
        self.act = activation
        self.upsample = UpSample1d(ratio, kernel_size)
        self.downsample = DownSample1d(ratio, kernel_size)

    def forward(self, x: Tensor) -> Tensor:
        return self.downsample(self.act(self.upsample(x)))
