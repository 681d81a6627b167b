"""EMA with ema-pytorch 0.2.3 semantics: warm-up copies, the inverse-power decay, dtypes, state-dict layout."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from audiodiff.runtime.ema import EMA


def _scalar_model(value: float) -> nn.Module:
    model = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(value)
    return model


def _set(model: nn.Module, value: float) -> None:
    with torch.no_grad():
        model.weight.fill_(value)


def test_first_two_updates_copy_then_decay_follows_the_inverse_power_law():
    online = _scalar_model(0.0)
    ema = EMA(online, beta=0.9999, power=0.75, update_after_step=1)
    expected = 0.0
    for n, value in enumerate([1.0, 2.0, 3.0, 5.0, 8.0, 13.0], start=1):
        _set(online, value)
        ema.update()
        if n <= 3:
            # n <= update_after_step + 1: plain copies; n = 3 initialises (copies) before its first averaging,
            # which then moves nothing
            expected = value
        else:
            decay = min(0.9999, 1 - (n - 1) ** -0.75)
            expected = decay * expected + (1 - decay) * value
        assert ema.ema_model.weight.item() == pytest.approx(expected, rel=1e-6), n
    assert int(ema.step.item()) == 6
    assert ema.initted.item() == 1.0


def test_decay_is_capped_at_beta():
    ema = EMA(_scalar_model(0.0), beta=0.5, power=0.75)
    ema.step.fill_(10_000)
    assert ema.current_decay() == 0.5


def test_update_every_skips_calls():
    online = _scalar_model(0.0)
    ema = EMA(online, update_every=2, update_after_step=0)
    _set(online, 4.0)
    ema.update()  # step 0: copies
    assert ema.ema_model.weight.item() == 4.0
    _set(online, 8.0)
    ema.update()  # step 1: skipped
    assert ema.ema_model.weight.item() == 4.0


def test_state_dict_has_the_upstream_keys_and_not_the_online_model():
    online = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    ema = EMA(online)
    keys = set(ema.state_dict())
    assert {"initted", "step"} <= keys
    assert all(key in ("initted", "step") or key.startswith("ema_model.") for key in keys)
    assert ema.state_dict()["initted"].dtype == torch.float32 and ema.state_dict()["initted"].shape == (1,)
    assert ema.state_dict()["step"].dtype == torch.int64 and ema.state_dict()["step"].shape == (1,)
    assert not any(p.requires_grad for p in ema.ema_model.parameters())


def test_only_float32_and_float16_tensors_are_averaged():
    online = nn.Sequential(nn.Linear(1, 1, bias=False), nn.BatchNorm1d(1))
    online[0].to(torch.bfloat16)
    ema = EMA(online, update_after_step=0)
    with torch.no_grad():
        online[0].weight.fill_(3.0)
        online[1].weight.fill_(3.0)
        online[1].num_batches_tracked.fill_(7)  # int64 buffer: never averaged
    ema.update()
    ema.update()
    assert ema.ema_model[1].weight.item() == 3.0
    assert ema.ema_model[0].weight.item() != 3.0  # bf16: left as constructed, as upstream
    assert ema.ema_model[1].num_batches_tracked.item() == 0


def test_restored_state_continues_exactly():
    values = [0.5, 1.5, -2.0, 4.0, 0.25, 3.0, -1.0]
    online = _scalar_model(0.0)
    straight = EMA(online)
    for value in values:
        _set(online, value)
        straight.update()

    online = _scalar_model(0.0)
    first = EMA(online)
    for value in values[:3]:
        _set(online, value)
        first.update()
    online_again = _scalar_model(values[2])
    resumed = EMA(online_again)
    resumed.load_state_dict(first.state_dict())
    for value in values[3:]:
        _set(online_again, value)
        resumed.update()
    assert resumed.ema_model.weight.item() == straight.ema_model.weight.item()
    assert int(resumed.step.item()) == len(values)


def test_invalid_settings_are_refused():
    with pytest.raises(ValueError):
        EMA(_scalar_model(0.0), beta=1.5)
    with pytest.raises(ValueError):
        EMA(_scalar_model(0.0), update_every=0)


def test_averages_follow_tensors_replaced_after_the_first_update():
    # `.to()` and some loads put new tensor objects in a module's tables; the average must track those, not the
    # tensors it first saw
    online = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    ema = EMA(online, update_after_step=0, power=1.0, inv_gamma=1.0)
    ema.update()  # copies, and finds every tensor's owner
    with torch.no_grad():
        online[0].weight.fill_(0.0)
        ema.ema_model[0].weight.fill_(0.0)
    online[1].register_buffer("running_mean", torch.full((2,), 4.0))  # a new object in the online table
    online[0].weight = nn.Parameter(torch.full((2, 2), 2.0))
    ema.update()  # initialises: copies the current tensors
    assert torch.equal(ema.ema_model[1].running_mean, torch.full((2,), 4.0))
    ema.ema_model[1].running_mean.fill_(0.0)
    ema.update()  # decay 1 - 3^-1: the average moves a third of the way to 4
    assert torch.allclose(ema.ema_model[1].running_mean, torch.full((2,), 4.0 / 3.0))
    assert torch.allclose(ema.ema_model[0].weight, torch.full((2, 2), 2.0))
    moved = ema.to(torch.float64)  # a move finds the owners again
    assert moved is ema and ema.ema_model[0].weight.dtype == torch.float64
