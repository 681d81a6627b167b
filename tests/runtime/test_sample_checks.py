"""Sampling requests checked before anything is allocated (ranges, devices, memory with the longest length that
fits), and the level of what comes out (clipping counted, `--normalize`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from audiodiff.runtime.machine import Machine, device_problem, light_machine
from audiodiff.runtime.sample_checks import (
    clipping,
    memory_check,
    memory_diagnostic,
    normalize_peak,
    option_problems,
    sampling_bytes,
)
from audiodiff.schema.validate import validate_data

ROOT = Path(__file__).resolve().parents[2]
SPEC = validate_data(json.loads((ROOT / "examples" / "toy_dit.json").read_text())).spec
GOOD = dict(steps=10, cfg_scale=4.0, seconds=1.0, batch=1, seed=0, init_noise_level=1.0, cond=["class=tone"])


@pytest.mark.parametrize(
    ("change", "phrase"),
    [
        ({"steps": 0}, "`--steps` must be between 1"),
        ({"steps": 10**6}, "`--steps` must be between 1"),
        ({"cfg_scale": float("nan")}, "`--cfg-scale` must be a finite number"),
        ({"cfg_scale": -1.0}, "`--cfg-scale` must be between 0"),
        ({"seconds": float("inf")}, "`--seconds` must be a finite"),
        ({"seconds": -1.0}, "`--seconds` must be positive"),
        ({"batch": 0}, "`--batch` must be between"),
        ({"seed": -1}, "`--seed` must be between"),
        ({"init_noise_level": 0.0}, "must be positive"),
        ({"cond": ["class=tone", "class=noise"]}, "is given twice"),
        ({"sampler": " "}, "`--sampler` is empty"),
        ({"t5_path": "/nonexistent"}, "is not a folder"),
    ],
)
def test_each_out_of_range_value_is_named(change: dict, phrase: str) -> None:
    assert option_problems(**GOOD) == []
    (problem,) = option_problems(**{**GOOD, **change})
    assert phrase in problem.message and problem.path == "command line"


@pytest.mark.parametrize(
    ("device", "machine", "phrase"),
    [
        ("cuda", Machine(0, False), "torch sees no CUDA device"),
        ("cuda:2", Machine(2, True), "does not exist"),
        ("tpu", Machine(0, False), "is not a device"),
        ("mps", Machine(0, False), "no Apple GPU"),
        ("cpu:1", Machine(0, False), "one CPU device"),
    ],
)
def test_devices_are_checked_against_the_machine(device: str, machine: Machine, phrase: str) -> None:
    problem = device_problem(device, machine)
    assert problem is not None and phrase in problem[0]
    assert device_problem("cpu", machine) is None


def test_the_light_probe_follows_cuda_visible_devices(monkeypatch, tmp_path: Path) -> None:
    gpus = tmp_path / "gpus"
    for index in range(3):
        (gpus / f"0000:0{index}:00.0").mkdir(parents=True)
    monkeypatch.setattr("audiodiff.runtime.machine.NVIDIA_GPUS", gpus)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert light_machine().cuda_devices == 3
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    assert light_machine().cuda_devices == 1
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert light_machine().cuda_devices == 0


def test_a_request_that_does_not_fit_gets_the_longest_length_that_does() -> None:
    one_second = sampling_bytes(SPEC, None, SPEC.sample_rate, 1)
    budget = int(one_second * 10)  # about 9 s fit in 90% of it (the estimate grows about linearly)
    verdict = memory_check(SPEC, 1000 * SPEC.sample_rate, 1, "cpu", available=budget)
    assert verdict.longest_seconds is not None and 1 < verdict.longest_seconds < 1000
    fits = round(verdict.longest_seconds * SPEC.sample_rate)
    assert sampling_bytes(SPEC, None, fits, 1) <= budget * 0.9 < sampling_bytes(SPEC, None, fits + SPEC.sample_rate, 1)
    problem = memory_diagnostic(verdict, 1000.0, 1, "cpu")
    assert problem is not None and problem.code.id == "AD806"
    assert f"ask for at most {verdict.longest_seconds:.2f} seconds" in problem.help
    assert memory_check(SPEC, SPEC.sample_rate, 1, "cpu", available=budget).longest_seconds is None


def test_clipping_is_counted_and_normalize_scales_each_clip_to_peak_one() -> None:
    audio = torch.tensor([[[0.5, -2.0, 1.5, 0.1]], [[0.2, -0.4, 0.0, 0.1]]])  # [B=2, C=1, T=4]
    found = clipping(audio)
    assert (found.clipped, found.total, found.peak) == (2, 8, 2.0)
    scaled = normalize_peak(audio)
    assert torch.allclose(scaled.abs().amax(dim=(1, 2)), torch.ones(2))
    assert torch.equal(normalize_peak(torch.zeros(1, 1, 4)), torch.zeros(1, 1, 4))
