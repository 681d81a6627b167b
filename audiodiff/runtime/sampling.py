"""Samplers with one calling convention, their noise schedules, and the distribution shift.

Every sampler is `sampler(denoiser, x, schedule, *, generator=None, callback=None) -> Tensor`. The objective wraps
the prediction model `model(x, t)` (times `t` [B] in [0, 1], classifier-free guidance already folded in as one
doubled batch inside the backbone) in its denoiser once, in `sample`; `denoiser(x, level)` estimates clean data,
`denoiser.model` is the raw prediction. Objectives of the `sigma` family (`v`) are integrated in k-diffusion's
sigma space; the `flow` family on a log-SNR time grid. Deterministic samplers depend on nothing but their inputs;
stochastic ones draw fresh noise from `generator`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from audiodiff.nn.diffusion import DistributionShift
from audiodiff.nn.objectives import Denoiser, Objective, SamplerFamily
from audiodiff.runtime import ksamplers

Model = Callable[[Tensor, Tensor], Tensor]  # (x [B, C, L], t [B]) -> prediction [B, C, L]
Callback = Callable[[int, int, Tensor], None]  # (step, steps, current x)


# --- schedules ----------------------------------------------------------------------------------------------------


def polyexponential_sigmas(steps: int, sigma_min: float, sigma_max: float, rho: float = 1.0) -> Tensor:
    """sigma_i = exp(r_i^rho (ln sigma_max - ln sigma_min) + ln sigma_min), r = linspace(1, 0, steps), then 0."""
    ramp = torch.linspace(1, 0, steps) ** rho  # float32, as the reference computes it
    sigmas = torch.exp(ramp * (math.log(sigma_max) - math.log(sigma_min)) + math.log(sigma_min))
    return torch.cat([sigmas, sigmas.new_zeros([1])])


def karras_sigmas(steps: int, sigma_min: float, sigma_max: float, rho: float = 7.0) -> Tensor:
    """Karras et al. (2022), eq. 5: uniform steps in sigma^(1/rho), then 0."""
    ramp = torch.linspace(0, 1, steps)
    low, high = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    sigmas = (high + ramp * (low - high)) ** rho
    return torch.cat([sigmas, sigmas.new_zeros([1])])


def rectified_flow_times(
    steps: int, sigma_max: float = 1.0, shift: DistributionShift | None = None, length: int | None = None
) -> Tensor:
    """t_i = sigmoid(-linspace(lambda_max, 2, steps + 1)) (a log-SNR grid), optionally shifted, with the endpoints
    pinned to sigma_max and 0: the first time must be the noise level the start was noised to."""
    sigma_max = min(sigma_max, 1.0)
    lambda_max = -6.0 if sigma_max >= 1 else math.log((1 - sigma_max) / sigma_max + 1e-6)
    times = torch.sigmoid(-torch.linspace(lambda_max, 2, steps + 1))
    if shift is not None and length is not None:
        times = shift(times, length)
    times[0] = sigma_max
    times[-1] = 0
    return times


def ddim_times(
    steps: int, sigma_max: float = 1.0, shift: DistributionShift | None = None, length: int | None = None
) -> Tensor:
    """t_i = linspace(min(sigma_max, 1), 0, steps + 1) for the v-DDIM sampler."""
    times = torch.linspace(min(sigma_max, 1.0), 0, steps + 1)
    if shift is not None and length is not None:
        times = shift(times, length)
    return times


def _noise_like(x: Tensor, generator: torch.Generator | None) -> Tensor:
    return torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)


# --- v samplers (sigma space) -------------------------------------------------------------------------------------


def sample_euler(
    denoise: Denoiser, x: Tensor, sigmas: Tensor, *, generator=None, callback: Callback | None = None
) -> Tensor:
    """Euler's method on the probability-flow ODE (Karras et al. 2022, Alg. 1 without churn)."""
    for i in range(len(sigmas) - 1):
        denoised = denoise(x, sigmas[i])
        derivative = (x - denoised) / sigmas[i]
        x = x + derivative * (sigmas[i + 1] - sigmas[i])
        _report(callback, i, len(sigmas) - 1, x)
    return x


def sample_heun(
    denoise: Denoiser, x: Tensor, sigmas: Tensor, *, generator=None, callback: Callback | None = None
) -> Tensor:
    """Heun's second-order method (Karras et al. 2022, Alg. 1); Euler on the last step to sigma = 0."""
    for i in range(len(sigmas) - 1):
        denoised = denoise(x, sigmas[i])
        derivative = (x - denoised) / sigmas[i]
        step = sigmas[i + 1] - sigmas[i]
        if sigmas[i + 1] == 0:
            x = x + derivative * step
        else:
            x_next = x + derivative * step
            derivative_next = (x_next - denoise(x_next, sigmas[i + 1])) / sigmas[i + 1]
            x = x + (derivative + derivative_next) / 2 * step
        _report(callback, i, len(sigmas) - 1, x)
    return x


def sample_dpmpp_2m(
    denoise: Denoiser, x: Tensor, sigmas: Tensor, *, generator=None, callback: Callback | None = None
) -> Tensor:
    """DPM-Solver++(2M) (Lu et al. 2022), multistep second order in lambda = -ln sigma."""
    previous = None
    for i in range(len(sigmas) - 1):
        denoised = denoise(x, sigmas[i])
        lam, lam_next = -torch.log(sigmas[i]), -torch.log(sigmas[i + 1])
        h = lam_next - lam
        if previous is None or sigmas[i + 1] == 0:
            corrected = denoised
        else:
            r = (lam - (-torch.log(sigmas[i - 1]))) / h
            corrected = (1 + 1 / (2 * r)) * denoised - (1 / (2 * r)) * previous
        x = (sigmas[i + 1] / sigmas[i]) * x - torch.expm1(-h) * corrected
        previous = denoised
        _report(callback, i, len(sigmas) - 1, x)
    return x


def sample_dpmpp_2m_sde(
    denoise: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    generator=None,
    callback: Callback | None = None,
    eta: float = 1.0,
    s_noise: float = 1.0,
) -> Tensor:
    """DPM-Solver++(2M) SDE with the midpoint correction (Lu et al. 2022; k-diffusion's variant)."""
    previous: Tensor | None = None
    h_last: Tensor | None = None
    for i in range(len(sigmas) - 1):
        denoised = denoise(x, sigmas[i])
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            h = torch.log(sigmas[i]) - torch.log(sigmas[i + 1])
            eta_h = eta * h
            x = sigmas[i + 1] / sigmas[i] * torch.exp(-eta_h) * x - torch.expm1(-h - eta_h) * denoised
            if previous is not None and h_last is not None:  # set together after the first step
                r = h_last / h
                x = x - 0.5 * torch.expm1(-h - eta_h) * (1 / r) * (denoised - previous)
            if eta:
                x = x + _noise_like(x, generator) * sigmas[i + 1] * torch.sqrt(-torch.expm1(-2 * eta_h)) * s_noise
            h_last = h
        previous = denoised
        _report(callback, i, len(sigmas) - 1, x)
    return x


def sample_dpmpp_3m_sde(
    denoise: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    generator=None,
    callback: Callback | None = None,
    eta: float = 1.0,
    s_noise: float = 1.0,
) -> Tensor:
    """DPM-Solver++(3M) SDE (k-diffusion's third-order multistep variant)."""
    denoised_1: Tensor | None = None
    denoised_2: Tensor | None = None
    h_1: Tensor | None = None
    h_2: Tensor | None = None
    for i in range(len(sigmas) - 1):
        denoised = denoise(x, sigmas[i])
        h: Tensor | None = None
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            h = torch.log(sigmas[i]) - torch.log(sigmas[i + 1])
            h_eta = h * (eta + 1)
            x = torch.exp(-h_eta) * x - torch.expm1(-h_eta) * denoised
            phi_2 = torch.expm1(-h_eta) / h_eta + 1
            # the histories fill together, one step apart (only the last step has no h)
            if h_2 is not None and h_1 is not None and denoised_1 is not None and denoised_2 is not None:
                r0, r1 = h_1 / h, h_2 / h
                d1_0 = (denoised - denoised_1) / r0
                d1_1 = (denoised_1 - denoised_2) / r1
                d1 = d1_0 + (d1_0 - d1_1) * r0 / (r0 + r1)
                d2 = (d1_0 - d1_1) / (r0 + r1)
                phi_3 = phi_2 / h_eta - 0.5
                x = x + phi_2 * d1 - phi_3 * d2
            elif h_1 is not None and denoised_1 is not None:
                x = x + phi_2 * (denoised - denoised_1) / (h_1 / h)
            if eta:
                x = x + _noise_like(x, generator) * sigmas[i + 1] * torch.sqrt(-torch.expm1(-2 * h * eta)) * s_noise
        denoised_1, denoised_2 = denoised, denoised_1
        h_1, h_2 = h, h_1
        _report(callback, i, len(sigmas) - 1, x)
    return x


def sample_v_ddim(
    denoiser: Denoiser, x: Tensor, times: Tensor, *, generator=None, callback: Callback | None = None
) -> Tensor:
    """Deterministic DDIM (eta = 0) for v-prediction (Song et al. 2021; Salimans & Ho 2022); returns the last x0."""
    alphas, sigmas = torch.cos(times * (math.pi / 2)), torch.sin(times * (math.pi / 2))
    steps = len(times) - 1
    prediction = x
    for i in range(steps):
        v = denoiser.model(x, times[i].expand(x.shape[0]).to(x.dtype))
        prediction = alphas[i] * x - sigmas[i] * v
        eps = sigmas[i] * x + alphas[i] * v
        if i < steps - 1:
            x = alphas[i + 1] * prediction + sigmas[i + 1] * eps
        _report(callback, i, steps, prediction)
    return prediction


# --- rectified-flow samplers (time space) -------------------------------------------------------------------------


def sample_flow_euler(
    denoiser: Denoiser, x: Tensor, times: Tensor, *, generator=None, callback: Callback | None = None
) -> Tensor:
    """Euler on the flow ODE dx/dt = v."""
    for i in range(len(times) - 1):
        x = x + (times[i + 1] - times[i]) * denoiser.model(x, times[i].expand(x.shape[0]).to(x.dtype))
        _report(callback, i, len(times) - 1, x)
    return x


def sample_flow_heun(
    denoiser: Denoiser, x: Tensor, times: Tensor, *, generator=None, callback: Callback | None = None
) -> Tensor:
    """Heun's second-order method on the flow ODE; Euler on the last step to t = 0."""
    for i in range(len(times) - 1):
        step = times[i + 1] - times[i]
        velocity = denoiser.model(x, times[i].expand(x.shape[0]).to(x.dtype))
        if times[i + 1] == 0:
            x = x + step * velocity
        else:
            x_next = x + step * velocity
            velocity_next = denoiser.model(x_next, times[i + 1].expand(x.shape[0]).to(x.dtype))
            x = x + step * (velocity + velocity_next) / 2
        _report(callback, i, len(times) - 1, x)
    return x


def sample_flow_dpmpp(
    denoiser: Denoiser, x: Tensor, times: Tensor, *, generator=None, callback: Callback | None = None
) -> Tensor:
    """DPM-Solver++(2M) for flows, multistep in lambda = ln((1 - t) / t) (golden README §4.5)."""

    def lam(t: Tensor) -> Tensor:
        return torch.log((1 - t) / t)

    previous = None
    for i in range(len(times) - 1):
        t, t_next = times[i], times[i + 1]
        denoised = denoiser(x, t)  # x - t v
        h = lam(t_next) - lam(t)
        if previous is None or t_next == 0:
            corrected = denoised
        else:
            r = (lam(t) - lam(times[i - 1])) / h
            corrected = (1 + 1 / (2 * r)) * denoised - (1 / (2 * r)) * previous
        x = (t_next / t) * x - (1 - t_next) * torch.expm1(-h) * corrected
        previous = denoised
        _report(callback, i, len(times) - 1, x)
    return x


def sample_flow_pingpong(
    denoiser: Denoiser, x: Tensor, times: Tensor, *, generator=None, callback: Callback | None = None
) -> Tensor:
    """Ping-pong: predict x0 = x - t v, then re-noise to the next time with fresh noise."""
    for i in range(len(times) - 1):
        t, t_next = times[i], times[i + 1]
        denoised = denoiser(x, t)  # x - t v
        x = (1 - t_next) * denoised + t_next * _noise_like(x, generator)
        _report(callback, i, len(times) - 1, x)
    return x


def _report(callback: Callback | None, step: int, steps: int, x: Tensor) -> None:
    if callback is not None:
        callback(step, steps, x)


# --- the catalogue ------------------------------------------------------------------------------------------------

# Every name the reference's `sample_k` / `sample_rf` accept is here, with the schedule it uses there; `euler` and
# `heun` for `v` models are audiodiff's own additions.
SIGMA_SAMPLERS = {
    "euler": sample_euler,
    "heun": sample_heun,
    "dpmpp-2m": sample_dpmpp_2m,
    "dpmpp-2m-sde": sample_dpmpp_2m_sde,
    "dpmpp-3m-sde": sample_dpmpp_3m_sde,
    "k-lms": ksamplers.sample_lms,
    "k-dpm-2": ksamplers.sample_dpm_2,
    "k-dpmpp-2s-ancestral": ksamplers.sample_dpmpp_2s_ancestral,
    "k-dpm-fast": ksamplers.sample_dpm_fast,
    "k-dpm-adaptive": ksamplers.sample_dpm_adaptive,
    "v-ddim": sample_v_ddim,
    "v-ddim-cfgpp": ksamplers.sample_v_ddim_cfgpp,
}
TIME_SPACE_SIGMA_SAMPLERS = frozenset({"v-ddim", "v-ddim-cfgpp"})  # a t grid in [0, 1], from unscaled noise
FLOW_SAMPLERS = {
    "euler": sample_flow_euler,
    "heun": sample_flow_heun,
    "rk4": ksamplers.sample_flow_rk4,
    "dpmpp": sample_flow_dpmpp,
    "pingpong": sample_flow_pingpong,
}
SAMPLERS: dict[SamplerFamily, dict[str, Callable[..., Tensor]]] = {"sigma": SIGMA_SAMPLERS, "flow": FLOW_SAMPLERS}
V_SAMPLERS = SIGMA_SAMPLERS  # the `v` objective's family, by its older name
ALIASES = {"k-euler": "euler", "k-heun": "heun"}
STOCHASTIC = frozenset({"dpmpp-2m-sde", "dpmpp-3m-sde", "k-dpmpp-2s-ancestral", "pingpong"})
# samplers whose model may return `(guided, unguided)` predictions (see `ksamplers.sample_v_ddim_cfgpp`)
WANTS_UNGUIDED = frozenset({"v-ddim-cfgpp"})


def sampler_names(objective: Objective) -> list[str]:
    return sorted(SAMPLERS[objective.family])


@dataclass(frozen=True)
class SamplerSettings:
    sampler: str
    steps: int
    sigma_min: float = 0.01
    sigma_max: float | None = None  # None: 100 for sigma-space samplers, 1 for time-space ones
    rho: float = 1.0
    schedule: str = "polyexponential"  # or "karras" (sigma-space samplers only)


def sample(
    model: Model,
    noise: Tensor,
    *,
    objective: Objective,
    settings: SamplerSettings,
    generator: torch.Generator | None = None,
    init: Tensor | None = None,
    shift: DistributionShift | None = None,
    callback: Callback | None = None,
) -> Tensor:
    """Integrate from `noise` [B, C, L] (standard normal) to clean latents; `init` starts from partly noised data
    (audio-to-audio) at the noise level `settings.sigma_max`."""
    name = ALIASES.get(settings.sampler, settings.sampler)
    length = noise.shape[-1]
    family = SAMPLERS[objective.family]
    if name not in family:
        raise ValueError(
            f"unknown sampler `{settings.sampler}` for `{objective.name}` models; known: {sampler_names(objective)}"
        )
    denoiser = objective.denoiser(model)  # wrapped once, for every step of every sampler
    if objective.family == "flow":
        sigma_max = min(settings.sigma_max if settings.sigma_max is not None else 1.0, 1.0)
        if name == "rk4":  # the reference integrates RK4 on a linear grid in t, not the log-SNR one
            times = ksamplers.linear_times(settings.steps, sigma_max)
            times = (shift(times, length) if shift is not None else times).to(noise.device)
        else:
            times = rectified_flow_times(settings.steps, sigma_max, shift, length).to(noise.device)
        x = noise if init is None else init * (1 - sigma_max) + noise * sigma_max
        return family[name](denoiser, x, times, generator=generator, callback=callback)
    if name in TIME_SPACE_SIGMA_SAMPLERS:
        sigma_max = min(settings.sigma_max if settings.sigma_max is not None else 1.0, 1.0)
        times = ddim_times(settings.steps, sigma_max, shift, length).to(noise.device)
        if init is None:
            x = noise
        else:
            alpha, sigma = math.cos(sigma_max * math.pi / 2), math.sin(sigma_max * math.pi / 2)
            x = init * alpha + noise * sigma
        return family[name](denoiser, x, times, generator=generator, callback=callback)
    sigma_max = settings.sigma_max if settings.sigma_max is not None else 100.0
    build = karras_sigmas if settings.schedule == "karras" else polyexponential_sigmas
    rho = settings.rho if settings.schedule != "karras" or settings.rho != 1.0 else 7.0
    sigmas = build(settings.steps, settings.sigma_min, sigma_max, rho).to(noise.device)
    x = noise * sigmas[0] if init is None else init + noise * sigmas[0]
    return family[name](denoiser, x, sigmas, generator=generator, callback=callback)
