"""Small, generic building blocks shared by several networks (DiT, U-Nets, conditioners)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class FourierFeatures(nn.Module):
    """Random Fourier features with a learned Gaussian frequency table (Tancik et al. 2020), output `[cos, sin]`."""

    def __init__(self, in_features: int, out_features: int, std: float = 1.0) -> None:
        super().__init__()
        if out_features % 2 != 0:
            raise ValueError(f"fourier feature width must be even, got `{out_features}`")
        self.weight = nn.Parameter(torch.randn(out_features // 2, in_features) * std)  # [out/2, in]

    def forward(self, x: Tensor) -> Tensor:
        # Same operation order as the reference ((2 pi x) @ W^T) so float32 rounding agrees bit for bit.
        f = 2 * math.pi * x @ self.weight.T  # [..., out/2]
        return torch.cat([f.cos(), f.sin()], dim=-1)  # [..., out]


class LayerNorm(nn.Module):
    """LayerNorm whose bias is a fixed zero buffer unless asked for (bias-free LayerNorm, as in stable-audio-tools).

    Key names `gamma` / `beta` and their buffer-or-parameter status follow the reference so checkpoints load
    strictly: `beta` is a persistent all-zero buffer without `bias`, `gamma` a persistent all-one buffer with
    `fix_scale`.
    """

    def __init__(
        self,
        dim: int,
        *,
        bias: bool = False,  # learn the shift (`beta` becomes a parameter)
        fix_scale: bool = False,  # freeze the gain at one (`gamma` becomes a buffer)
        force_fp32: bool = False,  # normalise in float32 whatever the input dtype
        eps: float = 1e-5,
    ) -> None:
        super().__init__()
        if fix_scale:
            self.register_buffer("gamma", torch.ones(dim))
        else:
            self.gamma = nn.Parameter(torch.ones(dim))
        if bias:
            self.beta = nn.Parameter(torch.zeros(dim))
        else:
            self.register_buffer("beta", torch.zeros(dim))
        self.eps = eps
        self.force_fp32 = force_fp32

    def forward(self, x: Tensor) -> Tensor:
        if not self.force_fp32:
            return F.layer_norm(x, x.shape[-1:], weight=self.gamma, bias=self.beta, eps=self.eps)
        out = F.layer_norm(x.float(), x.shape[-1:], weight=self.gamma.float(), bias=self.beta.float(), eps=self.eps)
        return out.to(x.dtype)


class DynamicTanh(nn.Module):
    """Normalisation-free replacement for LayerNorm: `gamma * tanh(alpha * x) + beta` (Zhu et al. 2025, DyT)."""

    def __init__(self, dim: int, init_alpha: float = 10.0) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(1) * init_alpha)  # [1]
        self.gamma = nn.Parameter(torch.ones(dim))  # [dim]
        self.beta = nn.Parameter(torch.zeros(dim))  # [dim]

    def forward(self, x: Tensor) -> Tensor:
        return self.gamma * torch.tanh(self.alpha * x) + self.beta


class LayerScale(nn.Module):
    """Learned per-channel scale of a residual branch, initialised small (Touvron et al. 2021, CaiT)."""

    def __init__(self, dim: int, init_value: float = 1e-5) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.full([dim], init_value))  # [dim]

    def forward(self, x: Tensor) -> Tensor:
        return x * self.scale
