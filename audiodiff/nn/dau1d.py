"""Dance Diffusion U-Net (`DAU1d`): stable-audio-tools' `DiffusionAttnUnet1D` with the same state-dict keys
(`net.*`, `timestep_embed.weight`) and the same numbers.

The reference cannot build this network at 0.0.19 (it passes `use_snake` to a block that lost the argument);
this is the network as it was before that, where `use_snake=False` means GELU activations and `use_snake=True`
means DAC's Snake1d (one learned `alpha` per channel).

Initialisation follows the reference: PyTorch defaults, then every parameter of `net` halved (the Fourier time
features are left as drawn).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from audiodiff.nn.blocks import FourierFeatures
from audiodiff.nn.codec_layers import Snake1d
from audiodiff.nn.routing import NO_GUIDANCE, NO_INPUTS, BackboneInputs, Guidance

__all__ = ["DAU1d"]

_DEFAULT_CHANNELS = (128, 128, 256, 256) + (512,) * 10
_DEFAULT_STRIDES = (2,) * 13
_TIME_FEATURES = 16  # width of the Fourier timestep embedding
_ATTENTION_HEAD_WIDTH = 32  # heads = channels // 32
# the fixed "cubic" resampling kernel of Dance Diffusion (Magic Kernel Sharp-like), 8 taps
_CUBIC_KERNEL = (
    -0.01171875,
    -0.03515625,
    0.11328125,
    0.43359375,
    0.43359375,
    0.11328125,
    -0.03515625,
    -0.01171875,
)


class ResConvBlock(nn.Module):
    """Two same-length convs with GroupNorm(1) and GELU (or Snake), plus a 1x1 residual when widths differ."""

    def __init__(
        self,
        c_in: int,
        c_mid: int,
        c_out: int,
        *,
        kernel_size: int,
        conv_bias: bool,
        use_snake: bool,
        is_last: bool = False,
    ) -> None:
        super().__init__()

        def activation(channels: int) -> nn.Module:
            return Snake1d(channels) if use_snake else nn.GELU()

        padding = kernel_size // 2
        self.main = nn.Sequential(
            nn.Conv1d(c_in, c_mid, kernel_size, padding=padding, bias=conv_bias),
            nn.GroupNorm(1, c_mid),
            activation(c_mid),
            nn.Conv1d(c_mid, c_out, kernel_size, padding=padding, bias=conv_bias),
            nn.Identity() if is_last else nn.GroupNorm(1, c_out),
            nn.Identity() if is_last else activation(c_out),
        )
        self.skip = nn.Identity() if c_in == c_out else nn.Conv1d(c_in, c_out, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:  # [B, C_in, L] -> [B, C_out, L]
        return self.main(x) + self.skip(x)


class SelfAttention1d(nn.Module):
    """Multi-head self-attention over time with GroupNorm(1) and 1x1-conv projections, residual."""

    def __init__(self, channels: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.norm = nn.GroupNorm(1, channels)
        self.qkv_proj = nn.Conv1d(channels, channels * 3, 1)
        self.out_proj = nn.Conv1d(channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:  # [B, C, L]
        b, c, length = x.shape
        h = self.num_heads
        qkv = self.qkv_proj(self.norm(x))  # [B, 3C, L]: 3h groups of C/h channels, q heads first
        qkv = qkv.view(b, 3 * h, c // h, length).transpose(2, 3)  # [B, 3h, L, D]
        q, k, v = qkv.chunk(3, dim=1)  # [B, h, L, D] each
        y = F.scaled_dot_product_attention(q, k, v)  # [B, h, L, D]; the reference's D^-1/4 on q and k = D^-1/2
        y = y.transpose(2, 3).reshape(b, c, length)  # [B, C, L]
        return x + self.out_proj(y)


class CubicDownsample1d(nn.Module):
    """Depthwise stride-2 convolution with the fixed cubic kernel after reflect padding (halves L)."""

    kernel: Tensor  # [8] (a buffer)

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("kernel", torch.tensor(_CUBIC_KERNEL))  # [8], persistent as in the reference
        self.pad = len(_CUBIC_KERNEL) // 2 - 1

    def forward(self, x: Tensor) -> Tensor:  # [B, C, L] -> [B, C, L / 2]
        channels = x.shape[1]
        x = F.pad(x, (self.pad, self.pad), mode="reflect")
        weight = self.kernel.to(x.dtype).expand(channels, 1, -1)  # [C, 1, 8]
        return F.conv1d(x, weight, stride=2, groups=channels)


class CubicUpsample1d(nn.Module):
    """Depthwise stride-2 transposed convolution with the fixed cubic kernel (x2) after reflect padding."""

    kernel: Tensor  # [8] (a buffer)

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("kernel", torch.tensor(_CUBIC_KERNEL) * 2)  # [8], persistent as in the reference
        self.pad = len(_CUBIC_KERNEL) // 2 - 1

    def forward(self, x: Tensor) -> Tensor:  # [B, C, L] -> [B, C, 2L]
        channels = x.shape[1]
        edge = (self.pad + 1) // 2
        x = F.pad(x, (edge, edge), mode="reflect")
        weight = self.kernel.to(x.dtype).expand(channels, 1, -1)  # [C, 1, 8]
        return F.conv_transpose1d(x, weight, stride=2, padding=self.pad * 2 + 1, groups=channels)


def learned_downsample(channels: int, factor: int) -> nn.Module:
    return nn.Conv1d(channels, channels, kernel_size=factor * 2 + 1, stride=factor, padding=factor)


def learned_upsample(channels: int, factor: int) -> nn.Module:
    if factor == 1:
        return nn.Conv1d(channels, channels, kernel_size=3, padding=1)
    return nn.ConvTranspose1d(
        channels,
        channels,
        kernel_size=factor * 2,
        stride=factor,
        padding=factor // 2 + factor % 2,
        output_padding=factor % 2,
    )


class SkipBlock(nn.Module):
    """Runs `main` and concatenates its input after its output along channels."""

    def __init__(self, *main: nn.Module) -> None:
        super().__init__()
        self.main = nn.Sequential(*main)

    def forward(self, x: Tensor) -> Tensor:  # [B, C, L] -> [B, C_main + C, L]
        return torch.cat([self.main(x), x], dim=1)


class DAU1d(nn.Module):
    """Dance Diffusion's nested attention U-Net on raw audio, time as Fourier features concatenated to the input."""

    supports_cfg = False

    def __init__(
        self,
        *,
        io_channels: int = 2,  # channels of x and of the output
        depth: int = 14,  # levels, outermost included
        n_attn_layers: int = 6,  # innermost levels (plus one) get self-attention
        channels: Sequence[int] = _DEFAULT_CHANNELS,  # width per level, at least `depth` entries
        cond_dim: int = 0,  # input-concat channels
        cond_noise_aug: bool = False,  # noise-augment the input-concat signal (random level)
        kernel_size: int = 5,  # conv kernel of every ResConvBlock (odd)
        learned_resample: bool = False,  # strided convs instead of the fixed cubic kernel
        strides: Sequence[int] = _DEFAULT_STRIDES,  # resampling factor per level below the top, depth - 1 used
        conv_bias: bool = True,
        use_snake: bool = False,  # Snake instead of GELU in the ResConvBlocks
        global_cond_dim: int = 0,  # audiodiff: global vector width, broadcast over time
    ) -> None:
        super().__init__()
        _check_geometry(
            io_channels=io_channels,
            depth=depth,
            n_attn_layers=n_attn_layers,
            channels=channels,
            cond_dim=cond_dim,
            cond_noise_aug=cond_noise_aug,
            kernel_size=kernel_size,
            learned_resample=learned_resample,
            strides=strides,
        )
        if global_cond_dim < 0:
            raise ValueError(f"`global_cond_dim` must not be negative, got `{global_cond_dim}`")
        self.io_channels = io_channels
        self.cond_dim = cond_dim
        self.global_cond_dim = global_cond_dim
        self.cond_noise_aug = cond_noise_aug
        self.learned_resample = learned_resample
        self.length_multiple = math.prod(strides[: depth - 1])
        self.timestep_embed = FourierFeatures(1, _TIME_FEATURES)

        def conv_block(c_in: int, c_mid: int, c_out: int, is_last: bool = False) -> ResConvBlock:
            return ResConvBlock(
                c_in, c_mid, c_out, kernel_size=kernel_size, conv_bias=conv_bias, use_snake=use_snake, is_last=is_last
            )

        first_attention_level = depth - n_attn_layers
        block: nn.Module = nn.Identity()
        # built from the innermost level out; level i has width channels[i - 1] and wraps level i + 1
        for i in range(depth, 1, -1):
            c, c_prev = channels[i - 1], channels[i - 2]
            stride = strides[i - 2]
            with_attention = n_attn_layers > 0 and i >= first_attention_level

            def attention(width: int, enabled: bool = with_attention) -> nn.Module:
                return SelfAttention1d(width, width // _ATTENTION_HEAD_WIDTH) if enabled else nn.Identity()

            block = SkipBlock(
                learned_downsample(c_prev, stride) if learned_resample else CubicDownsample1d(),
                conv_block(c_prev, c, c),
                attention(c),
                conv_block(c, c, c),
                attention(c),
                conv_block(c, c, c),
                attention(c),
                block,
                conv_block(c * 2 if i != depth else c, c, c),  # the innermost level has no skip to concatenate
                attention(c),
                conv_block(c, c, c),
                attention(c),
                conv_block(c, c, c_prev),
                attention(c_prev),
                learned_upsample(c_prev, stride) if learned_resample else CubicUpsample1d(),
            )
        c = channels[0]
        embed_features = _TIME_FEATURES * (2 if cond_noise_aug else 1)
        # The reference DAU1d has no global conditioning; audiodiff broadcasts a global vector over time and
        # concatenates it to the input, exactly as the timestep features are (so `global_cond_dim` = 0 keeps the
        # reference layout).
        self.net = nn.Sequential(
            conv_block(io_channels + cond_dim + embed_features + global_cond_dim, c, c),
            conv_block(c, c, c),
            conv_block(c, c, c),
            block,
            conv_block(c * 2, c, c),
            conv_block(c, c, c),
            conv_block(c, c, io_channels, is_last=True),
        )
        with torch.no_grad():
            for parameter in self.net.parameters():
                parameter.mul_(0.5)

    def forward(
        self,
        x: Tensor,  # [B, io_channels, L]
        t: Tensor,  # [B]
        inputs: BackboneInputs = NO_INPUTS,
        guidance: Guidance = NO_GUIDANCE,
    ) -> Tensor:  # [B, io_channels, L]
        """x, t, input-concat and (when `global_cond_dim` > 0) global conditioning are used; every other input is
        accepted and ignored."""
        global_cond, input_concat_cond = inputs.global_cond, inputs.input_concat_cond
        self._check_inputs(x, t, input_concat_cond)
        if self.global_cond_dim and (global_cond is None or global_cond.shape != (x.shape[0], self.global_cond_dim)):
            shape = None if global_cond is None else list(global_cond.shape)
            raise ValueError(f"this DAU1d needs a global vector [{x.shape[0]}, {self.global_cond_dim}], got `{shape}`")
        b, _, length = x.shape
        # t in x's dtype: a float32 t must not promote a reduced-precision network
        time_planes = self.timestep_embed(t[:, None].to(x.dtype)).unsqueeze(-1).expand(-1, -1, length)  # [B, 16, L]
        planes = [x, time_planes]
        if input_concat_cond is not None:
            cond = input_concat_cond
            if cond.shape[-1] != length:
                cond = F.interpolate(cond, size=length, mode="linear", align_corners=False)
            if self.cond_noise_aug:
                # the reference draws the level from a scrambled Sobol sequence; a uniform draw has the same law
                aug_level = torch.rand(b, device=cond.device, dtype=cond.dtype)  # [B]
                cond = cond + torch.randn_like(cond) * aug_level[:, None, None]
                aug_planes = self.timestep_embed(aug_level[:, None]).unsqueeze(-1).expand(-1, -1, length)
                planes.append(aug_planes)  # [B, 16, L]
            planes.append(cond)
        if self.global_cond_dim and global_cond is not None:  # `_check_inputs` requires it when declared
            planes.append(global_cond.to(x.dtype).unsqueeze(-1).expand(-1, -1, length))  # [B, G, L]
        return self.net(torch.cat(planes, dim=1))

    def _check_inputs(self, x: Tensor, t: Tensor, cond: Tensor | None) -> None:
        if x.ndim != 3 or x.shape[1] != self.io_channels:
            raise ValueError(f"x must be [batch, {self.io_channels}, length], got `{list(x.shape)}`")
        length = x.shape[-1]
        if length % self.length_multiple != 0:
            raise ValueError(
                f"x length `{length}` must be a multiple of `{self.length_multiple}` (the product of the strides used)"
            )
        if not self.learned_resample and length // self.length_multiple < 3:
            raise ValueError(
                f"x length `{length}` is too short: the innermost level would have "
                f"`{length // self.length_multiple}` samples, and the cubic resampling needs at least 3"
            )
        if t.shape != (x.shape[0],):
            raise ValueError(f"t must be [batch] = `[{x.shape[0]}]`, got `{list(t.shape)}`")
        if self.cond_dim > 0 and cond is None:
            raise ValueError(f"this DAU1d has `cond_dim` = `{self.cond_dim}`, so it needs an input-concat tensor")
        if cond is not None and (cond.ndim != 3 or cond.shape[:2] != (x.shape[0], self.cond_dim)):
            raise ValueError(
                f"input-concat tensor must be [{x.shape[0]}, {self.cond_dim}, length] (`cond_dim`), "
                f"got `{list(cond.shape)}`"
            )


def _check_geometry(
    *,
    io_channels: int,
    depth: int,
    n_attn_layers: int,
    channels: Sequence[int],
    cond_dim: int,
    cond_noise_aug: bool,
    kernel_size: int,
    learned_resample: bool,
    strides: Sequence[int],
) -> None:
    """Reject DAU1d settings the reference would fail on at build or at the first forward."""
    if io_channels < 1:
        raise ValueError(f"`io_channels` must be >= 1, got `{io_channels}`")
    if depth < 2:
        raise ValueError(f"`depth` must be >= 2, got `{depth}`")
    if n_attn_layers < 0:
        raise ValueError(f"`n_attn_layers` must be >= 0, got `{n_attn_layers}`")
    if len(channels) < depth:
        raise ValueError(f"`channels` has {len(channels)} entries but `depth` `{depth}` needs at least `{depth}`")
    if len(strides) < depth - 1:
        raise ValueError(f"`strides` has {len(strides)} entries but `depth` `{depth}` needs at least `{depth - 1}`")
    if any(c < 1 for c in channels[:depth]):
        raise ValueError("`channels` entries must be >= 1")
    if cond_dim < 0:
        raise ValueError(f"`cond_dim` must be >= 0, got `{cond_dim}`")
    if cond_noise_aug and cond_dim == 0:
        raise ValueError("`cond_noise_aug` augments the input-concat signal, so it needs `cond_dim` > 0")
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"`kernel_size` must be odd so convolutions keep the length, got `{kernel_size}`")
    used_strides = strides[: depth - 1]
    if learned_resample:
        if any(s < 1 for s in used_strides):
            raise ValueError("`strides` entries must be >= 1")
    elif any(s != 2 for s in used_strides):
        raise ValueError(f"`strides` must all be 2 without `learned_resample`, got `{list(used_strides)}`")
    if n_attn_layers == 0:
        return
    # attention levels i >= depth - n_attn_layers use widths channels[i - 1] and channels[i - 2]
    levels = range(max(depth - n_attn_layers, 2), depth + 1)
    for width in sorted({channels[i - 1] for i in levels} | {channels[i - 2] for i in levels}):
        heads = width // _ATTENTION_HEAD_WIDTH
        if heads < 1 or width % heads != 0:
            raise ValueError(
                f"a level with self-attention has width `{width}`: it needs at least {_ATTENTION_HEAD_WIDTH} "
                f"channels and a multiple of its head count `{width} // {_ATTENTION_HEAD_WIDTH}`"
            )
