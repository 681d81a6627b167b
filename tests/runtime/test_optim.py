"""Optimizers and schedulers from the closed set: InverseLR's formula, precedence of `optimizer_configs`, warm-ups,
and changed hyper-parameters after a resume."""

from __future__ import annotations

import math

import pytest
import torch

from audiodiff.runtime.optim import (
    InverseLR,
    apply_hyperparameters,
    build_optimizer,
    describe,
)
from audiodiff.schema.v1.training import DiffusionTrainingSpec


def _training(**fields) -> DiffusionTrainingSpec:
    return DiffusionTrainingSpec.model_validate(fields)


def _params() -> list[torch.nn.Parameter]:
    return [torch.nn.Parameter(torch.zeros(3))]


def _inverse(step: int, base: float, inv_gamma: float, power: float, warmup: float, final_lr: float = 0.0) -> float:
    return (1 - warmup ** (step + 1)) * max(final_lr, base * (1 + step / inv_gamma) ** -power)


def _rates(optimizer, scheduler, steps: int) -> list[float]:
    rates = []
    for _ in range(steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


def test_inverse_lr_follows_its_formula_with_the_stable_audio_2_settings():
    optimizer = torch.optim.AdamW(_params(), lr=5e-5)
    scheduler = InverseLR(optimizer, inv_gamma=1e6, power=0.5, warmup=0.99)
    rates = _rates(optimizer, scheduler, 500)
    assert rates[0] == pytest.approx(5e-7)  # (1 - 0.99) * 5e-5
    for step in (0, 1, 10, 459, 499):
        assert rates[step] == pytest.approx(_inverse(step, 5e-5, 1e6, 0.5, 0.99), rel=1e-9)
    assert rates[459] == pytest.approx(0.99 * 5e-5, rel=0.01)


def test_inverse_lr_floor_applies_before_the_warmup_factor():
    optimizer = torch.optim.SGD(_params(), lr=1.0)
    scheduler = InverseLR(optimizer, inv_gamma=1.0, power=1.0, warmup=0.5, final_lr=0.25)
    rates = _rates(optimizer, scheduler, 6)
    assert rates[0] == pytest.approx(0.5 * 1.0)
    assert rates[5] == pytest.approx((1 - 0.5**6) * 0.25)  # base / 6 < final_lr


def test_inverse_lr_refuses_a_warmup_of_one():
    with pytest.raises(ValueError, match="warmup"):
        InverseLR(torch.optim.SGD(_params(), lr=1.0), warmup=1.0)


def test_learning_rate_alone_means_constant_adam():
    optimizer, scheduler = build_optimizer(_training(learning_rate=3e-4), _params())
    assert type(optimizer) is torch.optim.Adam
    assert optimizer.param_groups[0]["lr"] == 3e-4
    assert scheduler is None
    assert describe(_training(learning_rate=3e-4)).scheduler is None


def test_optimizer_configs_override_learning_rate_and_pass_their_settings():
    training = _training(
        learning_rate=1.0,
        optimizer_configs={
            "diffusion": {
                "optimizer": {"type": "AdamW", "config": {"lr": 2e-4, "betas": [0.9, 0.95], "weight_decay": 0.05}},
                "scheduler": {"type": "InverseLR", "config": {"inv_gamma": 100.0, "power": 0.5, "warmup": 0.9}},
            }
        },
    )
    optimizer, scheduler = build_optimizer(training, _params())
    assert type(optimizer) is torch.optim.AdamW
    group = optimizer.param_groups[0]
    assert group["initial_lr"] == 2e-4 and group["betas"] == (0.9, 0.95) and group["weight_decay"] == 0.05
    assert isinstance(scheduler, InverseLR)
    assert group["lr"] == pytest.approx(0.1 * 2e-4)  # warm-up factor 1 - 0.9 at step 0
    assert describe(training).optimizer == "AdamW" and describe(training).learning_rate == 2e-4


def test_frozen_parameters_are_not_optimised():
    frozen = torch.nn.Parameter(torch.zeros(2), requires_grad=False)
    optimizer, _ = build_optimizer(_training(learning_rate=1e-3), [frozen, *_params()])
    assert sum(len(group["params"]) for group in optimizer.param_groups) == 1


def test_cosine_and_linear_warmup_schedules():
    cosine = _training(
        optimizer_configs={
            "diffusion": {
                "optimizer": {"type": "SGD", "config": {"lr": 1.0}},
                "scheduler": {"type": "CosineAnnealingLR", "config": {"T_max": 10}},
            }
        }
    )
    optimizer, scheduler = build_optimizer(cosine, _params())
    rates = _rates(optimizer, scheduler, 11)
    assert rates[0] == pytest.approx(1.0) and rates[5] == pytest.approx(0.5) and rates[10] == pytest.approx(0.0)

    warmup = _training(
        optimizer_configs={
            "diffusion": {
                "optimizer": {"type": "Adam", "config": {"lr": 1.0}},
                "scheduler": {"type": "LinearLR", "config": {"start_factor": 0.1, "end_factor": 1.0, "total_iters": 9}},
            }
        }
    )
    optimizer, scheduler = build_optimizer(warmup, _params())
    rates = _rates(optimizer, scheduler, 12)
    assert rates[0] == pytest.approx(0.1) and rates[9] == pytest.approx(1.0) and rates[11] == pytest.approx(1.0)
    assert all(a <= b + 1e-12 for a, b in zip(rates, rates[1:]))


def test_fused_adam_is_the_same_update_as_adamw():
    training = _training(
        optimizer_configs={
            "diffusion": {"optimizer": {"type": "FusedAdam", "config": {"lr": 1e-3, "weight_decay": 0.1}}}
        }
    )
    optimizer, _ = build_optimizer(training, _params())
    assert type(optimizer) is torch.optim.AdamW and optimizer.param_groups[0]["weight_decay"] == 0.1


def test_a_changed_learning_rate_keeps_the_schedule_position_after_restore():
    old = _training(
        optimizer_configs={
            "diffusion": {
                "optimizer": {"type": "AdamW", "config": {"lr": 1e-3}},
                "scheduler": {"type": "InverseLR", "config": {"inv_gamma": 10.0, "power": 1.0}},
            }
        }
    )
    optimizer, scheduler = build_optimizer(old, _params())
    _rates(optimizer, scheduler, 5)
    before = optimizer.param_groups[0]["lr"]
    new = _training(
        optimizer_configs={
            "diffusion": {
                "optimizer": {"type": "AdamW", "config": {"lr": 5e-4, "betas": [0.8, 0.99]}},
                "scheduler": {"type": "InverseLR", "config": {"inv_gamma": 10.0, "power": 1.0}},
            }
        }
    )
    changed = apply_hyperparameters(new, optimizer, scheduler)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(before / 2)
    assert optimizer.param_groups[0]["betas"] == (0.8, 0.99)
    assert any("learning rate" in item for item in changed) and any("betas" in item for item in changed)
    optimizer.step()
    scheduler.step()  # the next rate follows the formula with the new base at the continued step count
    assert optimizer.param_groups[0]["lr"] == pytest.approx(5e-4 * (1 + 6 / 10) ** -1)
    assert math.isfinite(scheduler.get_last_lr()[0])


@pytest.mark.parametrize("kind", ["Adam", "AdamW", "SGD", "FusedAdam"])
def test_a_resume_calls_applied_exactly_the_optimizer_settings_it_applies(kind: str):
    from audiodiff.runtime.resume import classify

    def spec(config: dict) -> DiffusionTrainingSpec:
        return _training(optimizer_configs={"diffusion": {"optimizer": {"type": kind, "config": config}}})

    default = spec({}).optimizer_configs["diffusion"].optimizer.config
    unsafe = set()
    for name, value in default.model_dump().items():
        if isinstance(value, bool) or value is None:
            changed = not value
        elif isinstance(value, (list, tuple)):
            changed = [0.8, 0.95]
        else:
            changed = value * 0.5 + 0.01
        optimizer, _ = build_optimizer(spec({}), _params())
        apply_hyperparameters(spec({name: changed}), optimizer, None)
        group = optimizer.param_groups[0]
        now = group["lr"] if name == "lr" else group.get(name)
        taken = now == (tuple(changed) if isinstance(changed, list) else changed)
        verdict, _ = classify(f"/training/optimizer_configs/diffusion/optimizer/config/{name}")
        # `applied` promises the new value is in effect after a resume; anything else must be refused
        assert verdict == ("applied" if taken else "unsafe"), (name, verdict, now)
        if verdict == "unsafe":
            unsafe.add(name)
    expected = {
        "Adam": {"amsgrad", "fused", "foreach"},
        "AdamW": {"amsgrad", "fused", "foreach"},
        "SGD": {"nesterov"},
        "FusedAdam": {"adam_w_mode"},
    }[kind]
    assert unsafe == expected
