"""SEANet encoder/decoder as in EnCodec (Défossez et al., "High Fidelity Neural Audio Compression", 2022), written
from the layout of `encodec.modules.seanet` so that EnCodec-style checkpoints load with the same key names:

    model.{i}.conv.conv.{weight_g,weight_v,bias}         SConv1d (weight norm; `weight` when norm is "none")
    model.{i}.conv.norm.{weight,bias}                    time_group_norm / layer_norm only
    model.{i}.convtr.convtr.{weight_g,weight_v,bias}     SConvTranspose1d
    model.{i}.block.{1,3}.conv.conv.*                    residual block convs (block.0/2 are activations)
    model.{i}.shortcut.conv.conv.*                       residual shortcut conv (unless true_skip)
    model.{i}.lstm.{weight_ih_l{k},weight_hh_l{k},bias_ih_l{k},bias_hh_l{k}}   SLSTM

Ratios are given in the order the network applies them (see the class docstrings).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal, TypedDict

from torch import Tensor, nn
from torch.nn import functional as F

from audiodiff.nn.codec_layers import WNConv1d, WNConvTranspose1d

ConvNorm = Literal["none", "weight_norm", "time_group_norm", "layer_norm"]
PadMode = Literal["reflect", "constant", "replicate", "circular"]


class _ConvOptions(TypedDict):
    """What every convolution of an encoder or decoder shares."""

    norm: ConvNorm
    causal: bool
    pad_mode: PadMode


def _extra_padding_for_conv1d(length: int, kernel_size: int, stride: int, padding_total: int) -> int:
    """Right padding that makes the last window of a strided conv full, so a transposed conv can restore the length."""
    n_frames = (length - kernel_size + padding_total) / stride + 1
    ideal_length = (math.ceil(n_frames) - 1) * stride + (kernel_size - padding_total)
    return ideal_length - length


def _pad1d(x: Tensor, left: int, right: int, mode: PadMode) -> Tensor:
    """F.pad that also reflect-pads inputs shorter than the padding (zero-extending them first, like EnCodec)."""
    if mode != "reflect":
        return F.pad(x, (left, right), mode)
    length = x.shape[-1]
    max_pad = max(left, right)
    extra = 0
    if length <= max_pad:
        extra = max_pad - length + 1
        x = F.pad(x, (0, extra))
    padded = F.pad(x, (left, right), "reflect")
    return padded[..., : padded.shape[-1] - extra]


class _ChannelsLayerNorm(nn.LayerNorm):
    """LayerNorm over channels of a `[B, C, T]` tensor (EnCodec's ConvLayerNorm)."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


def _norm_module(norm: ConvNorm, channels: int, causal: bool) -> nn.Module:
    if norm == "time_group_norm":
        if causal:
            raise ValueError("seanet `time_group_norm` cannot be used with `causal: true`")
        return nn.GroupNorm(1, channels)
    if norm == "layer_norm":
        return _ChannelsLayerNorm(channels)
    return nn.Identity()


class NormConv1d(nn.Module):
    """A conv (weight-normed or plain) followed by an optional activation-free normalisation."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        *,
        stride: int,
        dilation: int,
        norm: ConvNorm,
        causal: bool,
    ) -> None:
        super().__init__()
        if norm == "weight_norm":
            self.conv: nn.Module = WNConv1d(in_channels, out_channels, kernel_size, stride=stride, dilation=dilation)
        else:
            self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, stride=stride, dilation=dilation)
        self.norm = _norm_module(norm, out_channels, causal)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(self.conv(x))


class NormConvTranspose1d(nn.Module):
    """A transposed conv (weight-normed or plain) followed by an optional normalisation."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, *, stride: int, norm: ConvNorm, causal: bool
    ) -> None:
        super().__init__()
        if norm == "weight_norm":
            self.convtr: nn.Module = WNConvTranspose1d(in_channels, out_channels, kernel_size, stride=stride)
        else:
            self.convtr = nn.ConvTranspose1d(in_channels, out_channels, kernel_size, stride=stride)
        self.norm = _norm_module(norm, out_channels, causal)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(self.convtr(x))


class SConv1d(nn.Module):
    """Conv1d with "same"-style padding handled outside the conv: asymmetric for odd strides, left-only when causal."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        *,
        stride: int = 1,
        dilation: int = 1,
        norm: ConvNorm = "none",
        causal: bool = False,
        pad_mode: PadMode = "reflect",
    ) -> None:
        super().__init__()
        self.conv = NormConv1d(
            in_channels, out_channels, kernel_size, stride=stride, dilation=dilation, norm=norm, causal=causal
        )
        self.kernel_size = kernel_size
        self.stride = stride
        self.dilation = dilation
        self.causal = causal
        self.pad_mode: PadMode = pad_mode

    def forward(self, x: Tensor) -> Tensor:
        # x: [B, C_in, T] -> [B, C_out, ceil(T / stride)]
        effective_kernel = (self.kernel_size - 1) * self.dilation + 1
        padding_total = effective_kernel - self.stride
        extra = _extra_padding_for_conv1d(x.shape[-1], effective_kernel, self.stride, padding_total)
        if self.causal:
            x = _pad1d(x, padding_total, extra, self.pad_mode)
        else:
            right = padding_total // 2
            x = _pad1d(x, padding_total - right, right + extra, self.pad_mode)
        return self.conv(x)


class SConvTranspose1d(nn.Module):
    """ConvTranspose1d that trims its fixed padding afterwards (right-weighted by `trim_right_ratio` when causal)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        *,
        stride: int = 1,
        norm: ConvNorm = "none",
        causal: bool = False,
        trim_right_ratio: float = 1.0,
    ) -> None:
        super().__init__()
        if not causal and trim_right_ratio != 1.0:
            raise ValueError("seanet `trim_right_ratio` other than 1.0 only applies to causal convolutions")
        if not 0.0 <= trim_right_ratio <= 1.0:
            raise ValueError(f"seanet `trim_right_ratio` must lie in [0, 1], got `{trim_right_ratio}`")
        self.convtr = NormConvTranspose1d(
            in_channels, out_channels, kernel_size, stride=stride, norm=norm, causal=causal
        )
        self.kernel_size = kernel_size
        self.stride = stride
        self.causal = causal
        self.trim_right_ratio = trim_right_ratio

    def forward(self, x: Tensor) -> Tensor:
        y = self.convtr(x)  # [B, C_out, (T - 1) * stride + kernel]
        padding_total = self.kernel_size - self.stride
        if self.causal:
            right = math.ceil(padding_total * self.trim_right_ratio)
        else:
            right = padding_total // 2
        left = padding_total - right
        return y[..., left : y.shape[-1] - right]


class SLSTM(nn.Module):
    """A multi-layer LSTM over the time axis of a `[B, C, T]` tensor, with a skip connection."""

    def __init__(self, dimension: int, *, num_layers: int = 2) -> None:
        super().__init__()
        self.lstm = nn.LSTM(dimension, dimension, num_layers)

    def forward(self, x: Tensor) -> Tensor:
        x = x.permute(2, 0, 1)  # [T, B, C]
        y, _ = self.lstm(x)
        return (y + x).permute(1, 2, 0)  # [B, C, T]


class SEANetResnetBlock(nn.Module):
    """Residual block: (act, conv k) then (act, conv 1) through a `dim // compress` bottleneck, plus a shortcut."""

    def __init__(
        self,
        dim: int,
        *,
        kernel_sizes: Sequence[int],
        dilations: Sequence[int],
        activation_alpha: float,
        norm: ConvNorm,
        causal: bool,
        pad_mode: PadMode,
        compress: int,
        true_skip: bool,
    ) -> None:
        super().__init__()
        hidden = dim // compress
        block: list[nn.Module] = []
        for i, (kernel_size, dilation) in enumerate(zip(kernel_sizes, dilations, strict=True)):
            in_chs = dim if i == 0 else hidden
            out_chs = dim if i == len(kernel_sizes) - 1 else hidden
            block.append(nn.ELU(alpha=activation_alpha))
            block.append(
                SConv1d(in_chs, out_chs, kernel_size, dilation=dilation, norm=norm, causal=causal, pad_mode=pad_mode)
            )
        self.block = nn.Sequential(*block)
        self.shortcut: nn.Module = (
            nn.Identity() if true_skip else SConv1d(dim, dim, 1, norm=norm, causal=causal, pad_mode=pad_mode)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.shortcut(x) + self.block(x)


def _check_activation(activation: str) -> None:
    # EnCodec resolves any torch.nn class by name but passes it `alpha`, which in practice only ELU accepts
    if activation != "ELU":
        raise ValueError(f"seanet `activation` must be `ELU`, got `{activation}`")


class SEANetEncoder(nn.Module):
    """SEANet encoder: audio `[B, channels, T]` -> `[B, dimension, T / prod(downsampling_ratios)]`.

    `downsampling_ratios` are in the order the encoder applies them. EnCodec's own encoder reverses its `ratios`
    argument; the stable-audio-tools factory reverses the config list first, so on a first build the encoder applies
    the config's `ratios` in the order written. Pass the config list unchanged to reproduce that build.
    """

    def __init__(
        self,
        *,
        channels: int = 1,
        dimension: int = 128,  # output channels
        n_filters: int = 32,  # base width; doubles at every stride
        n_residual_layers: int = 1,
        downsampling_ratios: Sequence[int] = (2, 4, 5, 8),
        activation: Literal["ELU"] = "ELU",
        activation_alpha: float = 1.0,
        norm: ConvNorm = "weight_norm",
        kernel_size: int = 7,
        last_kernel_size: int = 7,
        residual_kernel_size: int = 3,
        dilation_base: int = 2,
        causal: bool = False,
        pad_mode: PadMode = "reflect",
        true_skip: bool = False,
        compress: int = 2,
        lstm: int = 2,  # number of LSTM layers before the last conv; 0 for none
    ) -> None:
        super().__init__()
        _check_activation(activation)
        common = _ConvOptions(norm=norm, causal=causal, pad_mode=pad_mode)
        self.channels = channels
        self.dimension = dimension
        self.downsampling_ratio = math.prod(downsampling_ratios)
        mult = 1
        model: list[nn.Module] = [SConv1d(channels, n_filters, kernel_size, **common)]
        for ratio in downsampling_ratios:
            for j in range(n_residual_layers):
                model.append(
                    SEANetResnetBlock(
                        mult * n_filters,
                        kernel_sizes=(residual_kernel_size, 1),
                        dilations=(dilation_base**j, 1),
                        activation_alpha=activation_alpha,
                        compress=compress,
                        true_skip=true_skip,
                        **common,
                    )
                )
            model.append(nn.ELU(alpha=activation_alpha))
            model.append(SConv1d(mult * n_filters, mult * n_filters * 2, ratio * 2, stride=ratio, **common))
            mult *= 2
        if lstm:
            model.append(SLSTM(mult * n_filters, num_layers=lstm))
        model.append(nn.ELU(alpha=activation_alpha))
        model.append(SConv1d(mult * n_filters, dimension, last_kernel_size, **common))
        self.model = nn.Sequential(*model)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)


# `final_activation` names a torch activation, built with its default arguments as EnCodec's decoder does
_FINAL_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "Tanh": nn.Tanh,
    "ELU": nn.ELU,
    "ReLU": nn.ReLU,
    "Sigmoid": nn.Sigmoid,
}


class SEANetDecoder(nn.Module):
    """SEANet decoder: latents `[B, dimension, L]` -> audio `[B, channels, L·prod(upsampling_ratios)]`.

    `upsampling_ratios` are in the order the decoder applies them, which is EnCodec's `ratios` order and the
    stable-audio-tools config order.
    """

    def __init__(
        self,
        *,
        channels: int = 1,
        dimension: int = 128,
        n_filters: int = 32,
        n_residual_layers: int = 1,
        upsampling_ratios: Sequence[int] = (8, 5, 4, 2),
        activation: Literal["ELU"] = "ELU",
        activation_alpha: float = 1.0,
        final_activation: Literal["Tanh", "ELU", "ReLU", "Sigmoid"] | None = None,
        norm: ConvNorm = "weight_norm",
        kernel_size: int = 7,
        last_kernel_size: int = 7,
        residual_kernel_size: int = 3,
        dilation_base: int = 2,
        causal: bool = False,
        pad_mode: PadMode = "reflect",
        true_skip: bool = False,
        compress: int = 2,
        lstm: int = 2,  # number of LSTM layers after the first conv; 0 for none
        trim_right_ratio: float = 1.0,
    ) -> None:
        super().__init__()
        _check_activation(activation)
        common = _ConvOptions(norm=norm, causal=causal, pad_mode=pad_mode)
        self.channels = channels
        self.dimension = dimension
        self.upsampling_ratio = math.prod(upsampling_ratios)
        mult = 2 ** len(upsampling_ratios)
        model: list[nn.Module] = [SConv1d(dimension, mult * n_filters, kernel_size, **common)]
        if lstm:
            model.append(SLSTM(mult * n_filters, num_layers=lstm))
        for ratio in upsampling_ratios:
            model.append(nn.ELU(alpha=activation_alpha))
            model.append(
                SConvTranspose1d(
                    mult * n_filters,
                    mult * n_filters // 2,
                    ratio * 2,
                    stride=ratio,
                    norm=norm,
                    causal=causal,
                    trim_right_ratio=trim_right_ratio,
                )
            )
            for j in range(n_residual_layers):
                model.append(
                    SEANetResnetBlock(
                        mult * n_filters // 2,
                        kernel_sizes=(residual_kernel_size, 1),
                        dilations=(dilation_base**j, 1),
                        activation_alpha=activation_alpha,
                        compress=compress,
                        true_skip=true_skip,
                        **common,
                    )
                )
            mult //= 2
        model.append(nn.ELU(alpha=activation_alpha))
        model.append(SConv1d(n_filters, channels, last_kernel_size, **common))
        if final_activation is not None:  # the torch activation of that name, default arguments (parameter-free)
            model.append(_FINAL_ACTIVATIONS[final_activation]())
        self.model = nn.Sequential(*model)

    def forward(self, z: Tensor) -> Tensor:
        return self.model(z)
