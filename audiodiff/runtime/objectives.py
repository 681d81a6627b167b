"""Diffusion objectives: how clean data is noised at time t, what the network regresses, and the time <-> noise-level
maps that samplers need (spec §5.4, golden README §3).

`v`:               alpha = cos(pi t / 2), sigma = sin(pi t / 2);  x_t = alpha x0 + sigma eps;  target alpha eps - sigma x0
`rectified_flow`:  x_t = (1 - t) x0 + t eps;                       target eps - x0   (the velocity)
`rf_denoiser`:     the rectified-flow noising and target; only its sampler defaults differ.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

RECTIFIED_FLOW_OBJECTIVES = frozenset({"rectified_flow", "rf_denoiser"})


@dataclass(frozen=True)
class Noised:
    x_t: Tensor  # [B, C, L] the network input
    target: Tensor  # [B, C, L] what the network should predict


def alpha_sigma(t: Tensor) -> tuple[Tensor, Tensor]:
    """The v-objective's signal and noise scales at time t (a variance-preserving cosine schedule)."""
    angle = t * (math.pi / 2)
    return torch.cos(angle), torch.sin(angle)


def noise(objective: str, x0: Tensor, eps: Tensor, t: Tensor) -> Noised:
    """Noise clean data `x0` [B, C, L] with `eps` at times `t` [B]; return the input and the regression target."""
    t = t.to(x0.dtype)[:, None, None]  # [B, 1, 1]
    if objective == "v":
        alpha, sigma = alpha_sigma(t)
        return Noised(alpha * x0 + sigma * eps, alpha * eps - sigma * x0)
    if objective in RECTIFIED_FLOW_OBJECTIVES:
        return Noised((1 - t) * x0 + t * eps, eps - x0)
    raise ValueError(f"unknown diffusion objective `{objective}`")


def noise_level(objective: str, t: Tensor) -> Tensor:
    """The noise level the CFG interval is tested on: sin(pi t / 2) for `v`, t itself for rectified flow."""
    if objective == "v":
        return torch.sin(t * (math.pi / 2))
    return t


def sigma_to_t(sigma: Tensor) -> Tensor:
    """k-diffusion's VDenoiser time for a noise level in sigma space: t = (2 / pi) atan(sigma)."""
    return torch.atan(sigma) * (2 / math.pi)


def t_to_sigma(t: Tensor) -> Tensor:
    return torch.tan(t * (math.pi / 2))
