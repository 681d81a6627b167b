"""One objective type per `diffusion_objective`: the schema's tags, the module layer's types and the samplers
agree, and the objective alone decides noising, noise level, denoiser and sampler defaults."""

from __future__ import annotations

import math
from typing import get_args

import pytest
import torch

from audiodiff.nn.objectives import OBJECTIVES, FlowDenoiser, VDenoiser, objective_named
from audiodiff.runtime.sampling import SAMPLERS, sampler_names
from audiodiff.schema.v1.diffusion import DiffusionObjective


def test_every_schema_objective_has_exactly_one_type() -> None:
    assert set(get_args(DiffusionObjective)) == set(OBJECTIVES)
    for name, objective in OBJECTIVES.items():
        assert objective.name == name and objective_named(name) is objective


@pytest.mark.parametrize("name", sorted(OBJECTIVES))
def test_default_and_demo_samplers_exist_in_the_objectives_family(name: str) -> None:
    objective = OBJECTIVES[name]
    assert objective.default_sampler in SAMPLERS[objective.family]
    assert objective.demo_sampler in sampler_names(objective)


def test_noise_levels() -> None:
    t = torch.tensor([0.0, 0.5, 1.0])
    torch.testing.assert_close(OBJECTIVES["v"].noise_level(t), torch.sin(t * math.pi / 2))
    torch.testing.assert_close(OBJECTIVES["rectified_flow"].noise_level(t), t)
    torch.testing.assert_close(OBJECTIVES["rf_denoiser"].noise_level(t), t)


def test_denoisers_estimate_clean_data() -> None:
    x0, eps = torch.randn(2, 3, 5), torch.randn(2, 3, 5)
    flow = OBJECTIVES["rectified_flow"]
    level = torch.tensor(0.3)
    noised = flow.noise(x0, eps, level.expand(2))
    denoiser = flow.denoiser(lambda x, t: eps - x0)  # the exact velocity
    assert isinstance(denoiser, FlowDenoiser)
    torch.testing.assert_close(denoiser(noised.x_t, level), x0)
    assert isinstance(OBJECTIVES["v"].denoiser(lambda x, t: x), VDenoiser)


def test_objectives_compare_by_name_and_reject_unknown_tags() -> None:
    assert objective_named("v") == OBJECTIVES["v"] and objective_named("v") != OBJECTIVES["rectified_flow"]
    with pytest.raises(ValueError, match="known objectives"):
        objective_named("eps")
