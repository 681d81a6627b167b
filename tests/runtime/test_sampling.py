"""Samplers: one calling convention, schedules, determinism, and convergence on problems with known answers.

A denoiser that knows the clean data exactly lets every sampler be checked against the truth: for a point-mass
data distribution at x0, the ideal v-prediction at (x_t, t) is alpha eps - sigma x0 with eps recovered from x_t,
and every deterministic sampler must land on x0.
"""

from __future__ import annotations

import math

import pytest
import torch

from audiodiff.nn.objectives import OBJECTIVES, alpha_sigma, objective_named, sigma_to_t, t_to_sigma
from audiodiff.runtime import sampling
from audiodiff.runtime.sampling import DistributionShift, SamplerSettings, sample

V, FLOW = OBJECTIVES["v"], OBJECTIVES["rectified_flow"]


def point_mass_v(x0: torch.Tensor):
    """The exact v-prediction when every sample equals x0."""

    def model(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        alpha, sigma = alpha_sigma(t.to(x.dtype))[0][:, None, None], alpha_sigma(t.to(x.dtype))[1][:, None, None]
        eps = (x - alpha * x0) / sigma.clamp_min(1e-8)
        return alpha * eps - sigma * x0

    return model


def point_mass_flow(x0: torch.Tensor):
    """The exact rectified-flow velocity when every sample equals x0."""

    def model(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        t = t.to(x.dtype)[:, None, None]
        eps = (x - (1 - t) * x0) / t.clamp_min(1e-8)
        return eps - x0

    return model


@pytest.mark.parametrize("name", ["euler", "heun", "dpmpp-2m", "dpmpp-2m-sde", "dpmpp-3m-sde", "v-ddim"])
def test_v_samplers_recover_a_point_mass(name: str) -> None:
    generator = torch.Generator().manual_seed(0)
    x0 = torch.randn(2, 3, 8, generator=generator)
    start = torch.randn(2, 3, 8, generator=generator)
    out = sample(
        point_mass_v(x0),
        start,
        objective=V,
        settings=SamplerSettings(name, steps=12),
        generator=torch.Generator().manual_seed(1),
    )
    torch.testing.assert_close(out, x0, atol=2e-3, rtol=1e-3)


@pytest.mark.parametrize("name", ["euler", "heun", "dpmpp", "pingpong"])
def test_flow_samplers_recover_a_point_mass(name: str) -> None:
    generator = torch.Generator().manual_seed(0)
    x0 = torch.randn(2, 3, 8, generator=generator)
    start = torch.randn(2, 3, 8, generator=generator)
    out = sample(
        point_mass_flow(x0),
        start,
        objective=FLOW,
        settings=SamplerSettings(name, steps=10),
        generator=torch.Generator().manual_seed(1),
    )
    torch.testing.assert_close(out, x0, atol=1e-4, rtol=1e-4)


def test_deterministic_samplers_repeat_and_stochastic_ones_follow_the_generator() -> None:
    def model(x, t):  # a smooth, input-dependent stand-in for a network
        return torch.tanh(x) * t[:, None, None]

    start = torch.randn(1, 2, 6, generator=torch.Generator().manual_seed(3))
    run = lambda name, seed: sample(
        model,
        start,
        objective=V,
        settings=SamplerSettings(name, steps=6),  # noqa: E731
        generator=torch.Generator().manual_seed(seed),
    )
    torch.testing.assert_close(run("dpmpp-2m", 0), run("dpmpp-2m", 1), rtol=0, atol=0)
    torch.testing.assert_close(run("dpmpp-2m-sde", 5), run("dpmpp-2m-sde", 5), rtol=0, atol=0)
    assert not torch.allclose(run("dpmpp-2m-sde", 5), run("dpmpp-2m-sde", 6))


def test_polyexponential_schedule_endpoints() -> None:
    sigmas = sampling.polyexponential_sigmas(8, 0.01, 100.0, 1.0)
    assert sigmas.shape == (9,)
    assert math.isclose(sigmas[0].item(), 100.0, rel_tol=1e-5)
    assert math.isclose(sigmas[-2].item(), 0.01, rel_tol=1e-5)
    assert sigmas[-1].item() == 0.0
    assert torch.all(sigmas[:-1][1:] < sigmas[:-1][:-1])


def test_karras_schedule_endpoints() -> None:
    sigmas = sampling.karras_sigmas(10, 0.03, 80.0, 7.0)
    assert math.isclose(sigmas[0].item(), 80.0, rel_tol=1e-5)
    assert math.isclose(sigmas[-2].item(), 0.03, rel_tol=1e-4)
    assert sigmas[-1].item() == 0.0


def test_rectified_flow_times_pin_the_endpoints() -> None:
    times = sampling.rectified_flow_times(8, 1.0)
    assert times[0].item() == 1.0 and times[-1].item() == 0.0
    assert torch.all(times[1:] < times[:-1])
    partial = sampling.rectified_flow_times(8, 0.4)
    assert math.isclose(partial[0].item(), 0.4, rel_tol=1e-6)


def test_distribution_shift_adds_noise_for_longer_sequences() -> None:
    shift = DistributionShift()
    t = torch.tensor([0.2, 0.5, 0.8])
    short, long = shift(t, 256), shift(t, 4096)
    assert torch.all(long > short) and torch.all(short > t)
    assert shift(torch.tensor([0.0, 1.0]), 1000).tolist() == [0.0, 1.0]


def test_sigma_and_time_maps_are_inverse() -> None:
    t = torch.linspace(0.01, 0.99, 9)
    torch.testing.assert_close(sigma_to_t(t_to_sigma(t)), t)


def test_noising_targets() -> None:
    x0, eps, t = torch.randn(3, 2, 4), torch.randn(3, 2, 4), torch.tensor([0.1, 0.5, 0.9])
    v = V.noise(x0, eps, t)
    alpha, sigma = alpha_sigma(t)
    torch.testing.assert_close(v.target, alpha[:, None, None] * eps - sigma[:, None, None] * x0)
    flow = FLOW.noise(x0, eps, t)
    torch.testing.assert_close(flow.x_t, (1 - t)[:, None, None] * x0 + t[:, None, None] * eps)
    torch.testing.assert_close(flow.target, eps - x0)
    with pytest.raises(ValueError, match="objective"):
        objective_named("eps")


def test_init_audio_starts_from_a_partly_noised_signal() -> None:
    x0 = torch.randn(1, 2, 8, generator=torch.Generator().manual_seed(0))
    start = torch.randn(1, 2, 8, generator=torch.Generator().manual_seed(1))
    out = sample(
        point_mass_flow(x0),
        start,
        objective=FLOW,
        settings=SamplerSettings("euler", steps=6, sigma_max=0.3),
        init=x0 + 0.01,
    )
    torch.testing.assert_close(out, x0, atol=1e-4, rtol=1e-4)


def test_unknown_sampler_names_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown"):
        sample(lambda x, t: x, torch.zeros(1, 1, 4), objective=V, settings=SamplerSettings("k-nonesuch", steps=2))
    with pytest.raises(ValueError, match="rectified_flow"):
        sample(lambda x, t: x, torch.zeros(1, 1, 4), objective=FLOW, settings=SamplerSettings("dpmpp-2m", steps=2))


def test_callback_sees_every_step() -> None:
    seen = []
    sample(
        lambda x, t: torch.zeros_like(x),
        torch.randn(1, 1, 4),
        objective=V,
        settings=SamplerSettings("dpmpp-2m", steps=5),
        callback=lambda i, n, x: seen.append((i, n)),
    )
    assert seen == [(i, 5) for i in range(5)]


# --- Gaussian data: the probability-flow ODE has a closed form, so higher-order corrections are exercised -----------

SCALE = 0.5  # the data are N(0, SCALE^2) per element


def gaussian_v(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The exact v-prediction for N(0, SCALE^2) data: E[x0 | x_t] = alpha s^2 x_t / (alpha^2 s^2 + sigma^2)."""
    alpha, sigma = (a[:, None, None] for a in alpha_sigma(t.to(x.dtype)))
    x0 = alpha * SCALE**2 * x / (alpha**2 * SCALE**2 + sigma**2)
    eps = (x - alpha * x0) / sigma.clamp_min(1e-8)
    return alpha * eps - sigma * x0


def gaussian_flow(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The exact rectified-flow velocity for N(0, SCALE^2) data."""
    t = t.to(x.dtype)[:, None, None]
    x0 = (1 - t) * SCALE**2 * x / ((1 - t) ** 2 * SCALE**2 + t**2)
    eps = (x - (1 - t) * x0) / t.clamp_min(1e-8)
    return eps - x0


def _gain(out: torch.Tensor, noise: torch.Tensor) -> float:
    """Every sampler is a linear map on Gaussian data: out = gain x noise, with the same gain for every element."""
    gains = out / noise
    assert gains.std().item() < 1e-9
    return gains.mean().item()


# along the probability-flow ODE, x / sqrt(alpha^2 s^2 + sigma^2) stays constant: from sigma_max = 100 (scaled noise)
# to 0, and for DDIM from t = 1 (pure noise) to 0, the exact gain is s (up to sigma_max's finite size)
V_EXACT = {"euler": 100 * SCALE / math.sqrt(SCALE**2 + 100**2), "v-ddim": SCALE}


@pytest.mark.parametrize("name, tolerance", [("euler", 0.05), ("heun", 0.01), ("dpmpp-2m", 0.005), ("v-ddim", 0.03)])
def test_deterministic_v_samplers_follow_the_gaussian_flow(name: str, tolerance: float) -> None:
    noise = torch.randn(2, 4, 16, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    out = sample(gaussian_v, noise, objective=V, settings=SamplerSettings(name, steps=40))
    assert abs(_gain(out, noise) - V_EXACT.get(name, V_EXACT["euler"])) < tolerance


def test_flow_samplers_follow_the_gaussian_flow() -> None:
    """The log-SNR grid ends at t = sigmoid(-2) and then jumps to 0; every flow sampler's last step returns the
    denoised estimate there, so the exact gain is the ODE's gain to t_last times the posterior-mean shrinkage."""
    t_last = torch.sigmoid(torch.tensor(-2.0, dtype=torch.float64)).item()
    spread = math.sqrt((1 - t_last) ** 2 * SCALE**2 + t_last**2)
    exact = spread * (1 - t_last) * SCALE**2 / spread**2
    noise = torch.randn(2, 4, 16, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for name, tolerance in (("euler", 0.04), ("heun", 0.01), ("dpmpp", 0.01)):
        out = sample(gaussian_flow, noise, objective=FLOW, settings=SamplerSettings(name, steps=40))
        assert abs(_gain(out, noise) - exact) < tolerance, name


@pytest.mark.parametrize("name", ["dpmpp-2m-sde", "dpmpp-3m-sde"])
def test_sde_samplers_reach_the_data_distribution(name: str) -> None:
    noise = torch.randn(8, 8, 256, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    out = sample(
        gaussian_v,
        noise,
        objective=V,
        settings=SamplerSettings(name, steps=30),
        generator=torch.Generator().manual_seed(1),
    )
    assert abs(out.std().item() - SCALE) < 0.03, out.std().item()
    assert abs(out.mean().item()) < 0.02


def test_pingpong_follows_its_variance_recursion() -> None:
    """Ping-pong re-noises the posterior mean at every step, so with an exact denoiser the variance follows
    v' = (1 - t')^2 shrink(t)^2 v + t'^2 rather than staying on the data's; check the recursion's endpoint."""
    steps = 12
    times = sampling.rectified_flow_times(steps).double()
    variance = 1.0
    for t, t_next in zip(times[:-1].tolist(), times[1:].tolist()):
        shrink = (1 - t) * SCALE**2 / ((1 - t) ** 2 * SCALE**2 + t**2)
        variance = (1 - t_next) ** 2 * shrink**2 * variance + t_next**2
    noise = torch.randn(8, 8, 512, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    out = sample(
        gaussian_flow,
        noise,
        objective=FLOW,
        settings=SamplerSettings("pingpong", steps=steps),
        generator=torch.Generator().manual_seed(1),
    )
    assert abs(out.std().item() - math.sqrt(variance)) < 0.01, (out.std().item(), math.sqrt(variance))
