"""The reference's remaining sampler names (k-diffusion's LMS, DPM-2, DPM-Solver++(2S) ancestral, DPM-Solver fast
and adaptive; v-DDIM CFG++; flow RK4): each checked on data with a known answer. Their numbers against the
reference's own k-diffusion are compared by the differential tester (tests/parity)."""

from __future__ import annotations

import math

import pytest
import torch
from test_sampling import FLOW, SCALE, V, gaussian_flow, gaussian_v, point_mass_v

from audiodiff.runtime import ksamplers, sampling
from audiodiff.runtime.sampling import SamplerSettings, sample

REFERENCE_V_NAMES = [
    "k-heun",
    "k-lms",
    "k-dpmpp-2s-ancestral",
    "k-dpm-2",
    "k-dpm-fast",
    "k-dpm-adaptive",
    "dpmpp-2m-sde",
    "dpmpp-3m-sde",
    "dpmpp-2m",
    "v-ddim",
    "v-ddim-cfgpp",
]
REFERENCE_FLOW_NAMES = ["euler", "rk4", "dpmpp", "pingpong"]


def test_every_reference_sampler_name_is_known() -> None:
    v_names = set(sampling.sampler_names(V)) | set(sampling.ALIASES)
    assert set(REFERENCE_V_NAMES) <= v_names
    assert set(REFERENCE_FLOW_NAMES) <= set(sampling.sampler_names(FLOW))


@pytest.mark.parametrize("name", ["k-lms", "k-dpm-2", "k-dpmpp-2s-ancestral", "v-ddim-cfgpp"])
def test_new_v_samplers_recover_a_point_mass(name: str) -> None:
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


def _gain(out: torch.Tensor, noise: torch.Tensor) -> float:
    gains = out / noise
    assert gains.std().item() < 1e-9  # every sampler is a linear map on Gaussian data
    return gains.mean().item()


def _ode_gain(sigma_end: float, sigma_max: float = 100.0) -> float:
    """Along the probability-flow ODE x / sqrt(s^2 + sigma^2) is constant; the start is noise x sigma_max."""
    return sigma_max * math.sqrt(SCALE**2 + sigma_end**2) / math.sqrt(SCALE**2 + sigma_max**2)


@pytest.mark.parametrize(
    "name, sigma_end, tolerance",
    [
        ("k-lms", 0.0, 0.005),
        ("k-dpm-2", 0.0, 0.01),
        ("k-dpm-fast", 0.01, 0.002),
        # the reference runs the adaptive solver at rtol = atol = 0.01, loose enough to land 3% off the exact gain
        # (its own k-diffusion gives 0.516 here too); the test pins the tolerance-driven accuracy, not more
        ("k-dpm-adaptive", 0.01, 0.03),
    ],
)
def test_deterministic_k_samplers_follow_the_gaussian_flow(name: str, sigma_end: float, tolerance: float) -> None:
    noise = torch.randn(2, 4, 16, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    out = sample(gaussian_v, noise, objective=V, settings=SamplerSettings(name, steps=30))
    assert abs(_gain(out, noise) - _ode_gain(sigma_end)) < tolerance, _gain(out, noise)


def test_rk4_follows_the_gaussian_flow_closely() -> None:
    noise = torch.randn(2, 4, 16, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    out = sample(gaussian_flow, noise, objective=FLOW, settings=SamplerSettings("rk4", steps=10))
    assert abs(_gain(out, noise) - SCALE) < 1e-4  # the exact gain from t = 1 to t = 0 is the data scale
    euler = sample(gaussian_flow, noise, objective=FLOW, settings=SamplerSettings("euler", steps=10))
    assert abs(_gain(euler, noise) - SCALE) > 10 * abs(_gain(out, noise) - SCALE)


def test_dpmpp_2s_ancestral_reaches_the_data_distribution() -> None:
    noise = torch.randn(8, 8, 256, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    out = sample(
        gaussian_v,
        noise,
        objective=V,
        settings=SamplerSettings("k-dpmpp-2s-ancestral", steps=30),
        generator=torch.Generator().manual_seed(1),
    )
    assert abs(out.std().item() - SCALE) < 0.03, out.std().item()
    again = sample(
        gaussian_v,
        noise,
        objective=V,
        settings=SamplerSettings("k-dpmpp-2s-ancestral", steps=30),
        generator=torch.Generator().manual_seed(1),
    )
    torch.testing.assert_close(out, again, rtol=0, atol=0)


@pytest.mark.parametrize("steps, evaluations", [(1, 1), (2, 2), (3, 3), (4, 4), (9, 9), (10, 10)])
def test_dpm_fast_spends_exactly_its_evaluations(steps: int, evaluations: int) -> None:
    calls = []

    def model(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        calls.append(t)
        return gaussian_v(x, t)

    sample(model, torch.randn(1, 2, 4), objective=V, settings=SamplerSettings("k-dpm-fast", steps=steps))
    assert len(calls) == evaluations


def test_lms_coefficients_integrate_the_interpolating_polynomial() -> None:
    nodes = [3.0, 2.0, 1.5]
    # the basis polynomials sum to 1, so their integrals sum to the interval's length
    total = sum(ksamplers._lagrange_integral(nodes, j, 1.5, 1.0) for j in range(3))
    assert abs(total - (1.0 - 1.5)) < 1e-12
    assert abs(ksamplers._lagrange_integral([2.0], 0, 2.0, 1.0) - (-1.0)) < 1e-12  # order 1: Euler


def test_cfgpp_takes_its_noise_estimate_from_the_unguided_prediction() -> None:
    x = torch.randn(1, 2, 4, generator=torch.Generator().manual_seed(0))

    def guided(x: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return 2 * x, -x  # (guided, unguided)

    out = sample(guided, x, objective=V, settings=SamplerSettings("v-ddim-cfgpp", steps=2))
    times = torch.linspace(1, 0, 3)
    alphas, sigmas = torch.cos(times * math.pi / 2), torch.sin(times * math.pi / 2)
    pred = alphas[0] * x - sigmas[0] * 2 * x
    eps = sigmas[0] * x + alphas[0] * -x
    x1 = alphas[1] * pred + sigmas[1] * eps
    torch.testing.assert_close(out, alphas[1] * x1 - sigmas[1] * 2 * x1)
    plain = sample(lambda x, t: 2 * x, x, objective=V, settings=SamplerSettings("v-ddim", steps=2))
    unguided_none = sample(
        lambda x, t: (2 * x, None), x, objective=V, settings=SamplerSettings("v-ddim-cfgpp", steps=2)
    )
    torch.testing.assert_close(unguided_none, plain, rtol=0, atol=0)


def test_adaptive_solver_stops_at_its_step_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ksamplers, "MAX_ADAPTIVE_STEPS", 3)
    with pytest.raises(RuntimeError, match="adaptive"):
        sample(gaussian_v, torch.randn(1, 2, 4), objective=V, settings=SamplerSettings("k-dpm-adaptive", steps=5))


def test_conditioned_dit_reports_its_unguided_half_for_cfgpp() -> None:
    from audiodiff.compiler.materialize import build_model
    from audiodiff.nn.routing import Guidance
    from audiodiff.schema.validate import validate_data

    config = {
        "model_type": "diffusion_cond",
        "sample_rate": 16000,
        "sample_size": 8,
        "audio_channels": 1,
        "model": {
            "io_channels": 4,
            "conditioning": {"cond_dim": 8, "configs": [{"id": "n", "type": "number", "config": {}}]},
            "diffusion": {
                "type": "dit",
                "cross_attention_cond_ids": ["n"],
                "config": {
                    "io_channels": 4,
                    "embed_dim": 64,
                    "depth": 1,
                    "num_heads": 2,
                    "cond_token_dim": 8,
                    "transformer_type": "continuous_transformer",
                },
            },
        },
        "training": {
            "learning_rate": 1e-4,
            "pre_encoded": True,
            "demo": {"num_demos": 1, "demo_cond": [{"n": 0.5}], "demo_cfg_scales": [1]},
        },
    }
    torch.manual_seed(0)
    model = build_model(validate_data(config).spec).eval()
    for parameter in model.parameters():  # the reference zero-initialises output layers: make every path count
        torch.nn.init.normal_(parameter, std=0.2)
    x, t = torch.randn(2, 4, 8), torch.rand(2)
    cond = model.conditioning_tensors([{"n": 0.2}, {"n": 0.9}], "cpu")
    with torch.no_grad():
        guided, unguided = model.forward_with_unguided(x, t, cond, guidance=Guidance(cfg_scale=3.0))
        conditional = model(x, t, cond)
        torch.testing.assert_close(guided, model(x, t, cond, guidance=Guidance(cfg_scale=3.0)))
        torch.testing.assert_close(guided, unguided + (conditional - unguided) * 3.0, atol=1e-5, rtol=1e-5)
        assert model.forward_with_unguided(x, t, cond)[1] is None  # no guidance ran
