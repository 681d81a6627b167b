"""Diffusion objectives: one type per `diffusion_objective` tag, owning everything that depends on it (spec §5.4,
golden README §3).

An objective knows how clean data is noised at time t and what the network regresses (training), the noise level
classifier-free guidance's interval is tested on (the backbones), the denoiser that wraps a prediction model for
its samplers, which sampler family integrates it and its default samplers (`sample`, demos). Nothing else
switches on the objective's name: callers hold an `Objective` and ask it.

`v`:               alpha = cos(pi t / 2), sigma = sin(pi t / 2);  x_t = alpha x0 + sigma eps;  target alpha eps - sigma x0
`rectified_flow`:  x_t = (1 - t) x0 + t eps;                       target eps - x0   (the velocity)
`rf_denoiser`:     the rectified-flow noising and target; only its sampler defaults differ.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
from torch import Tensor

__all__ = [
    "OBJECTIVES",
    "Denoiser",
    "Noised",
    "Objective",
    "RectifiedFlowDenoiserObjective",
    "RectifiedFlowObjective",
    "SamplerFamily",
    "VObjective",
    "alpha_sigma",
    "objective_named",
    "sigma_to_t",
    "t_to_sigma",
]

PredictionModel = Callable[[Tensor, Tensor], Tensor]  # (x [B, C, L], t [B] in [0, 1]) -> prediction [B, C, L]
# "sigma": k-diffusion samplers in sigma space through the v-denoiser (and v-DDIM on a time grid);
# "flow": rectified-flow samplers on a log-SNR time grid, integrating the predicted velocity.
SamplerFamily = Literal["sigma", "flow"]


@dataclass(frozen=True)
class Noised:
    x_t: Tensor  # [B, C, L] the network input
    target: Tensor  # [B, C, L] what the network should predict


def alpha_sigma(t: Tensor) -> tuple[Tensor, Tensor]:
    """The v-objective's signal and noise scales at time t (a variance-preserving cosine schedule)."""
    angle = t * (math.pi / 2)
    return torch.cos(angle), torch.sin(angle)


def sigma_to_t(sigma: Tensor) -> Tensor:
    """k-diffusion's VDenoiser time for a noise level in sigma space: t = (2 / pi) atan(sigma)."""
    return torch.atan(sigma) * (2 / math.pi)


def t_to_sigma(t: Tensor) -> Tensor:
    return torch.tan(t * (math.pi / 2))


class Denoiser:
    """Wraps a prediction model once for its objective's samplers (k-diffusion's Denoiser).

    `denoiser(x, level)` is the estimate of clean data at noise level `level` (a scalar tensor); `model` is the raw
    prediction model, for samplers written in the model's own parameterisation (v-DDIM, the flow samplers).
    """

    def __init__(self, model: PredictionModel) -> None:
        self.model = model

    def __call__(self, x: Tensor, level: Tensor) -> Tensor:  # [B, C, L], [] -> [B, C, L]
        raise NotImplementedError


class VDenoiser(Denoiser):
    """D(x, sigma) = x / (sigma^2 + 1) - sigma / sqrt(sigma^2 + 1) * f(x / sqrt(sigma^2 + 1), t(sigma)), sigma_data = 1."""

    def __call__(self, x: Tensor, level: Tensor) -> Tensor:
        batch_sigma = level.expand(x.shape[0]).to(x.dtype)  # [B]
        s = batch_sigma[:, None, None]
        scale = 1 / torch.sqrt(s**2 + 1)
        prediction = self.model(x * scale, sigma_to_t(batch_sigma))
        return x * scale**2 - s * scale * prediction


class FlowDenoiser(Denoiser):
    """x0 = x - t v(x, t): the clean estimate of a rectified flow at time t."""

    def __call__(self, x: Tensor, level: Tensor) -> Tensor:
        return x - level * self.model(x, level.expand(x.shape[0]).to(x.dtype))


class Objective:
    """What one `diffusion_objective` means, from noising to sampling. Instances are stateless; compare by `name`."""

    name: ClassVar[str]
    family: ClassVar[SamplerFamily]
    default_sampler: ClassVar[str]  # `sample` without `--sampler`
    demo_sampler: ClassVar[str]  # training demos: cheap and deterministic where possible

    def noise(self, x0: Tensor, eps: Tensor, t: Tensor) -> Noised:
        """Noise clean data `x0` [B, C, L] with `eps` at times `t` [B]; the network input and regression target."""
        raise NotImplementedError

    def noise_level(self, t: Tensor) -> Tensor:
        """The noise level of time t, on which guidance's `cfg_interval` is tested and the loss is binned."""
        raise NotImplementedError

    def denoiser(self, model: PredictionModel) -> Denoiser:
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Objective) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return f"<objective {self.name}>"

    def __str__(self) -> str:
        return self.name


class VObjective(Objective):
    name = "v"
    family = "sigma"
    default_sampler = "dpmpp-2m-sde"
    demo_sampler = "v-ddim"

    def noise(self, x0: Tensor, eps: Tensor, t: Tensor) -> Noised:
        alpha, sigma = alpha_sigma(t.to(x0.dtype)[:, None, None])  # [B, 1, 1] each
        return Noised(alpha * x0 + sigma * eps, alpha * eps - sigma * x0)

    def noise_level(self, t: Tensor) -> Tensor:
        return torch.sin(t * (math.pi / 2))

    def denoiser(self, model: PredictionModel) -> Denoiser:
        return VDenoiser(model)


class RectifiedFlowObjective(Objective):
    name = "rectified_flow"
    family = "flow"
    default_sampler = "euler"
    demo_sampler = "euler"

    def noise(self, x0: Tensor, eps: Tensor, t: Tensor) -> Noised:
        t = t.to(x0.dtype)[:, None, None]  # [B, 1, 1]
        return Noised((1 - t) * x0 + t * eps, eps - x0)

    def noise_level(self, t: Tensor) -> Tensor:
        return t

    def denoiser(self, model: PredictionModel) -> Denoiser:
        return FlowDenoiser(model)


class RectifiedFlowDenoiserObjective(RectifiedFlowObjective):
    name = "rf_denoiser"
    default_sampler = "pingpong"
    demo_sampler = "pingpong"


OBJECTIVES: dict[str, Objective] = {
    objective.name: objective
    for objective in (VObjective(), RectifiedFlowObjective(), RectifiedFlowDenoiserObjective())
}


def objective_named(name: str) -> Objective:
    """The objective of a `diffusion_objective` tag: the one place a tag becomes behaviour."""
    try:
        return OBJECTIVES[name]
    except KeyError:
        known = ", ".join(f"`{key}`" for key in OBJECTIVES)
        raise ValueError(f"unknown diffusion objective `{name}`; known objectives: {known}") from None
