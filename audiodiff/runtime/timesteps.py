"""Diffusion-time samplers for training (`training.timestep_sampler`, spec §5.1), t in [0, 1] with 1 = pure noise.

uniform              scrambled one-dimensional Sobol points (low-discrepancy uniform), as upstream draws them
logit_normal         sigmoid of a standard normal (Esser et al. 2024, "Scaling rectified flow transformers")
trunc_logit_normal   a logistic-normal with its lowest 7.5 % of probability cut off, rescaled to [0, 1), then flipped
log_snr              log-SNR lambda ~ N(mean, std), t = sigmoid(-lambda), clamped to [1e-4, 1 - 1e-4]
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.distributions import Normal

TIMESTEP_SAMPLERS = ("uniform", "logit_normal", "trunc_logit_normal", "log_snr")


class TimestepSampler:
    """Draws a batch of training times. `uniform` keeps one Sobol sequence for the whole run, and batch n of rank r
    of W takes its points from the global position (n W + r) B, as the data sampler takes its files: ranks draw
    different times, and the points a batch gets do not depend on whether the run was resumed. The others use
    torch's global RNG (which the training step seeds per batch and rank)."""

    def __init__(
        self,
        name: str,
        *,
        seed: int = 0,
        mean_logsnr: float = -1.2,
        std_logsnr: float = 2.0,
        left_truncation: float = 0.075,
    ) -> None:
        if name not in TIMESTEP_SAMPLERS:
            raise ValueError(f"unknown timestep sampler `{name}`; known: {', '.join(TIMESTEP_SAMPLERS)}")
        self.name = name
        self.seed = seed
        self.mean_logsnr = mean_logsnr
        self.std_logsnr = std_logsnr
        self.left_truncation = left_truncation
        self._sobol: torch.quasirandom.SobolEngine | None = None

    def __call__(
        self,
        batch_size: int,
        *,
        batch_number: int = -1,
        rank: int = 0,
        world_size: int = 1,
        device: torch.device | str = "cpu",
    ) -> Tensor:
        """Times [batch_size] for the `batch_number`-th batch of rank `rank` of `world_size` (-1: continue where the
        last draw left off)."""
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside a world of {world_size}")
        if self.name == "uniform":
            position = (batch_number * world_size + rank) * batch_size if batch_number >= 0 else -1
            t = self._sobol_points(batch_size, position)
        elif self.name == "logit_normal":
            t = torch.sigmoid(torch.randn(batch_size))
        elif self.name == "trunc_logit_normal":
            t = 1 - truncated_logit_normal(batch_size, self.left_truncation)
        else:
            log_snr = torch.randn(batch_size) * self.std_logsnr + self.mean_logsnr
            t = torch.sigmoid(-log_snr).clamp(1e-4, 1 - 1e-4)
        return t.to(device)

    def _sobol_points(self, batch_size: int, position: int) -> Tensor:
        """`batch_size` points of the run's sequence from `position` on (-1: from where the last draw ended)."""
        if self._sobol is None:
            self._sobol = torch.quasirandom.SobolEngine(1, scramble=True, seed=self.seed)
        if position >= 0 and self._sobol.num_generated != position:
            self._sobol.reset()
            if position:
                self._sobol.fast_forward(position)
        return self._sobol.draw(batch_size)[:, 0].float()


def truncated_logit_normal(batch_size: int, left_truncation: float = 0.075) -> Tensor:
    """Samples of sigmoid(z), z ~ N(0, 1), conditioned on sigmoid(z) >= left_truncation, rescaled to [0, 1):
    the normal's CDF is squeezed into [Phi(logit(left)), 1] before inverting it."""
    normal = Normal(0.0, 1.0)
    cdf = normal.cdf(torch.randn(batch_size))
    lower = normal.cdf(torch.logit(torch.tensor(left_truncation)))
    squeezed = (lower + (1 - lower) * cdf).clamp(max=1 - 1e-7)  # the icdf of exactly 1 is infinite
    samples = torch.sigmoid(normal.icdf(squeezed))
    return (samples - left_truncation) / (1 - left_truncation)
