"""The rest of the reference's sampler names: k-diffusion's LMS, DPM-2, DPM-Solver++(2S) ancestral, DPM-Solver fast
and adaptive (for `v` models, in sigma space), v-DDIM with CFG++ and the classic RK4 for rectified flows.

Every sampler here has the calling convention of `audiodiff.runtime.sampling`: `sampler(denoiser, x, grid, *,
generator, callback) -> x`, where `denoiser(x [B, C, L], level) -> clean estimate`, `denoiser.model(x, t [B])` is the
raw prediction, and `grid` is the noise schedule (sigmas, then 0, for the sigma-space samplers; times for the
others). The DPM-Solver pair integrates
between the schedule's first sigma and its last non-zero one, with their own step rule, as the reference does.

The algorithms are the published ones (Karras et al. 2022; Lu et al. 2022a, 2022b; Chung et al. 2024 for CFG++),
written so that the arithmetic order matches the reference's within float32 rounding.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from audiodiff.nn.objectives import Denoiser

Callback = Callable[[int, int, Tensor], None]

# bounded work for the adaptive solver: the reference loops until the end time is reached; a solver that keeps
# rejecting steps on a pathological model stops here with an error instead of spinning
MAX_ADAPTIVE_STEPS = 10_000


def _noise_like(x: Tensor, generator: torch.Generator | None) -> Tensor:
    return torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)


def _report(callback: Callback | None, step: int, steps: int, x: Tensor) -> None:
    if callback is not None:
        callback(step, steps, x)


def ancestral_step(sigma_from: Tensor, sigma_to: Tensor, eta: float = 1.0) -> tuple[Tensor, Tensor]:
    """Split a step sigma_from -> sigma_to into a deterministic step down to sigma_down and fresh noise sigma_up,
    with sigma_down^2 + sigma_up^2 = sigma_to^2 (Song et al. 2021's ancestral sampling, eta-scaled)."""
    if not eta:
        return sigma_to, sigma_to.new_zeros(())
    sigma_up = torch.minimum(sigma_to, eta * (sigma_to**2 * (sigma_from**2 - sigma_to**2) / sigma_from**2) ** 0.5)
    return (sigma_to**2 - sigma_up**2) ** 0.5, sigma_up


# --- linear multistep ---------------------------------------------------------------------------------------------


def _lagrange_integral(nodes: list[float], j: int, start: float, end: float) -> float:
    """Integral over [start, end] of the Lagrange basis polynomial that is 1 at nodes[j] and 0 at the other nodes
    (exact, in float64: the polynomial's coefficients are expanded and integrated term by term)."""
    coefficients = [1.0]  # ascending powers
    for k, node in enumerate(nodes):
        if k == j:
            continue
        scale = 1.0 / (nodes[j] - node)
        shifted = [0.0] * (len(coefficients) + 1)
        for power, c in enumerate(coefficients):  # multiply by (tau - node) * scale
            shifted[power + 1] += c * scale
            shifted[power] -= c * node * scale
        coefficients = shifted
    return sum(c * (end ** (p + 1) - start ** (p + 1)) / (p + 1) for p, c in enumerate(coefficients))


def sample_lms(
    denoise: Denoiser, x: Tensor, sigmas: Tensor, *, generator=None, callback: Callback | None = None, order: int = 4
) -> Tensor:
    """Linear multistep (Adams-Bashforth in sigma) on the probability-flow ODE, up to `order` past derivatives."""
    grid = [float(s) for s in sigmas.double().cpu()]
    derivatives: list[Tensor] = []
    for i in range(len(sigmas) - 1):
        derivatives.append((x - denoise(x, sigmas[i])) / sigmas[i])
        derivatives = derivatives[-order:]
        current = len(derivatives)
        nodes = [grid[i - k] for k in range(current)]  # newest first, as `derivatives` reversed
        for j, derivative in enumerate(reversed(derivatives)):
            x = x + _lagrange_integral(nodes, j, grid[i], grid[i + 1]) * derivative
        _report(callback, i, len(sigmas) - 1, x)
    return x


# --- DPM-2 and DPM-Solver++(2S) ancestral -------------------------------------------------------------------------


def sample_dpm_2(
    denoise: Denoiser, x: Tensor, sigmas: Tensor, *, generator=None, callback: Callback | None = None
) -> Tensor:
    """DPM-Solver-2 in sigma (Karras et al. 2022's variant): the derivative at the geometric midpoint sigma drives
    the whole step; Euler on the last step to sigma = 0."""
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        derivative = (x - denoise(x, sigma)) / sigma
        if sigma_next == 0:
            x = x + derivative * (sigma_next - sigma)
        else:
            sigma_mid = sigma.log().lerp(sigma_next.log(), 0.5).exp()
            x_mid = x + derivative * (sigma_mid - sigma)
            derivative_mid = (x_mid - denoise(x_mid, sigma_mid)) / sigma_mid
            x = x + derivative_mid * (sigma_next - sigma)
        _report(callback, i, len(sigmas) - 1, x)
    return x


def sample_dpmpp_2s_ancestral(
    denoise: Denoiser, x: Tensor, sigmas: Tensor, *, generator=None, callback: Callback | None = None, eta: float = 1.0
) -> Tensor:
    """DPM-Solver++(2S) single-step second order down to sigma_down, then fresh noise sigma_up (stochastic)."""
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = denoise(x, sigma)
        sigma_down, sigma_up = ancestral_step(sigma, sigma_next, eta)
        if sigma_down == 0:
            x = x + (x - denoised) / sigma * (sigma_down - sigma)
        else:
            lam, lam_next = -sigma.log(), -sigma_down.log()  # lambda = -ln sigma
            h = lam_next - lam
            sigma_half, sigma_at = (-(lam + h / 2)).exp(), (-lam).exp()  # sigmas back from lambda, as upstream
            x_half = (sigma_half / sigma_at) * x - torch.expm1(-h / 2) * denoised
            x = ((-lam_next).exp() / sigma_at) * x - torch.expm1(-h) * denoise(x_half, sigma_half)
        if sigma_next > 0:
            x = x + _noise_like(x, generator) * sigma_up
        _report(callback, i, len(sigmas) - 1, x)
    return x


# --- DPM-Solver (Lu et al. 2022a) in t = -ln sigma, on the noise prediction ---------------------------------------


class _DPMSolver:
    """First- to third-order DPM-Solver steps between log-SNR times s -> t (t = -ln sigma), with the noise
    predictions of one step cached so each is evaluated once."""

    def __init__(self, denoise: Denoiser) -> None:
        self.denoise = denoise
        self.evaluations = 0

    @staticmethod
    def sigma(t: Tensor) -> Tensor:
        return (-t).exp()

    def eps(self, cache: dict[str, Tensor], key: str, x: Tensor, t: Tensor) -> Tensor:
        if key not in cache:
            sigma = self.sigma(t)
            cache[key] = (x - self.denoise(x, sigma)) / sigma
            self.evaluations += 1
        return cache[key]

    def step_1(self, x: Tensor, t: Tensor, t_next: Tensor, cache: dict[str, Tensor]) -> Tensor:
        eps = self.eps(cache, "eps", x, t)
        return x - self.sigma(t_next) * torch.expm1(t_next - t) * eps

    def step_2(self, x: Tensor, t: Tensor, t_next: Tensor, cache: dict[str, Tensor], r1: float = 0.5) -> Tensor:
        h = t_next - t
        eps = self.eps(cache, "eps", x, t)
        s1 = t + r1 * h
        u1 = x - self.sigma(s1) * torch.expm1(r1 * h) * eps
        eps_r1 = self.eps(cache, "eps_r1", u1, s1)
        return (
            x
            - self.sigma(t_next) * torch.expm1(h) * eps
            - self.sigma(t_next) / (2 * r1) * torch.expm1(h) * (eps_r1 - eps)
        )

    def step_3(
        self, x: Tensor, t: Tensor, t_next: Tensor, cache: dict[str, Tensor], r1: float = 1 / 3, r2: float = 2 / 3
    ) -> Tensor:
        h = t_next - t
        eps = self.eps(cache, "eps", x, t)
        s1, s2 = t + r1 * h, t + r2 * h
        u1 = x - self.sigma(s1) * torch.expm1(r1 * h) * eps
        eps_r1 = self.eps(cache, "eps_r1", u1, s1)
        u2 = (
            x
            - self.sigma(s2) * torch.expm1(r2 * h) * eps
            - self.sigma(s2) * (r2 / r1) * (torch.expm1(r2 * h) / (r2 * h) - 1) * (eps_r1 - eps)
        )
        eps_r2 = self.eps(cache, "eps_r2", u2, s2)
        return (
            x
            - self.sigma(t_next) * torch.expm1(h) * eps
            - self.sigma(t_next) / r2 * (torch.expm1(h) / h - 1) * (eps_r2 - eps)
        )


def _sigma_range(sigmas: Tensor) -> tuple[Tensor, Tensor]:
    """(sigma_max, sigma_min) of a schedule that ends in 0, as float32 scalars like the reference's tensors."""
    positive = sigmas[sigmas > 0]
    return positive[0].float().cpu(), positive[-1].float().cpu()


def sample_dpm_fast(
    denoise: Denoiser, x: Tensor, sigmas: Tensor, *, generator=None, callback: Callback | None = None
) -> Tensor:
    """DPM-Solver-fast: len(sigmas) - 1 model evaluations spread over uniform steps in t = -ln sigma from sigma_max
    to sigma_min, mostly third order (Lu et al. 2022a, sec. 3.4). Ends at sigma_min, not at 0, as the reference."""
    evaluations = len(sigmas) - 1
    sigma_max, sigma_min = _sigma_range(sigmas)
    solver = _DPMSolver(denoise)
    m = evaluations // 3 + 1
    times = torch.linspace(float(-sigma_max.log()), float(-sigma_min.log()), m + 1).to(x.device)
    orders = [3] * (m - 2) + [2, 1] if evaluations % 3 == 0 else [3] * (m - 1) + [evaluations % 3]
    step = {1: solver.step_1, 2: solver.step_2, 3: solver.step_3}
    for i, order in enumerate(orders):
        x = step[order](x, times[i], times[i + 1], {})
        _report(callback, i, len(orders), x)
    return x


class _StepSizeController:
    """Integral step-size control (the PID controller with only the I term, as the reference configures it)."""

    def __init__(self, h: float, order: float, accept_safety: float = 0.81, eps: float = 1e-8) -> None:
        self.h = h
        self.exponent = 1.0 / order
        self.accept_safety = accept_safety
        self.eps = eps

    def propose(self, error: float) -> bool:
        factor = (1 / (error + self.eps)) ** self.exponent
        factor = 1 + math.atan(factor - 1)  # a smooth limiter: the step grows by at most 1 + pi/2 a time
        self.h *= factor
        return factor >= self.accept_safety


def sample_dpm_adaptive(
    denoise: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    generator=None,
    callback: Callback | None = None,
    rtol: float = 0.01,
    atol: float = 0.01,
    h_init: float = 0.05,
) -> Tensor:
    """Adaptive DPM-Solver-23 (Lu et al. 2022a, sec. 3.3): each step compares a second- and a third-order
    solution and grows or shrinks the step in t = -ln sigma; integrates sigma_max -> sigma_min (the reference's
    tolerances, 0.01 both). The schedule's length does not matter, only its ends."""
    sigma_max, sigma_min = _sigma_range(sigmas)
    solver = _DPMSolver(denoise)
    s, t_end = -sigma_max.log(), -sigma_min.log()
    atol_t, rtol_t = torch.tensor(atol), torch.tensor(rtol)
    controller = _StepSizeController(h_init, order=3)
    x_previous = x
    steps = 0
    while s < t_end - 1e-5:
        if steps >= MAX_ADAPTIVE_STEPS:
            raise RuntimeError(f"the adaptive DPM-Solver took {steps} steps without reaching sigma_min")
        t = torch.minimum(t_end, s + controller.h)
        cache: dict[str, Tensor] = {}
        x_low = solver.step_2(x, s, t, cache, r1=1 / 3)
        x_high = solver.step_3(x, s, t, cache)
        delta = torch.maximum(atol_t, rtol_t * torch.maximum(x_low.abs(), x_previous.abs()))
        error = torch.linalg.norm((x_low - x_high) / delta) / x.numel() ** 0.5
        if controller.propose(float(error)):
            x_previous, x, s = x_low, x_high, t
        steps += 1
        _report(callback, steps - 1, steps, x)
    return x


# --- v-DDIM with CFG++ and the flow RK4 ---------------------------------------------------------------------------


def sample_v_ddim_cfgpp(
    denoiser: Denoiser, x: Tensor, times: Tensor, *, generator=None, callback: Callback | None = None
) -> Tensor:
    """DDIM (eta = 0) for v-prediction with CFG++ (Chung et al. 2024): the data estimate uses the guided v, the
    noise estimate the unguided one. `denoiser.model` may return `(guided, unguided)`; a plain tensor, or an
    unguided part of None (no guidance happened), makes this plain v-DDIM."""
    alphas, sigmas = torch.cos(times * (math.pi / 2)), torch.sin(times * (math.pi / 2))
    steps = len(times) - 1
    prediction = x
    for i in range(steps):
        # the model may also return the unguided prediction (see the docstring): widen what the type says
        output: Tensor | tuple[Tensor, Tensor | None] = denoiser.model(x, times[i].expand(x.shape[0]).to(x.dtype))
        v, v_unguided = output if isinstance(output, tuple) else (output, None)
        v_unguided = v if v_unguided is None else v_unguided
        prediction = alphas[i] * x - sigmas[i] * v
        eps = sigmas[i] * x + alphas[i] * v_unguided
        if i < steps - 1:
            x = alphas[i + 1] * prediction + sigmas[i + 1] * eps
        _report(callback, i, steps, prediction)
    return prediction


def linear_times(steps: int, sigma_max: float = 1.0) -> Tensor:
    """t_i = linspace(min(sigma_max, 1), 0, steps + 1): the reference's RK4 grid (it ignores the log-SNR one)."""
    return torch.linspace(min(sigma_max, 1.0), 0, steps + 1)


def sample_flow_rk4(
    denoiser: Denoiser, x: Tensor, times: Tensor, *, generator=None, callback: Callback | None = None
) -> Tensor:
    """Classic fourth-order Runge-Kutta on the flow ODE dx/dt = v (four evaluations a step)."""
    model, ones = denoiser.model, x.new_ones(x.shape[0])
    for i in range(len(times) - 1):
        t, t_next = times[i], times[i + 1]
        dt = t_next - t
        k1 = model(x, t * ones)
        k2 = model(x + dt / 2 * k1, (t + dt / 2) * ones)
        k3 = model(x + dt / 2 * k2, (t + dt / 2) * ones)
        k4 = model(x + dt * k3, t_next * ones)
        x = x + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        _report(callback, i, len(times) - 1, x)
    return x
