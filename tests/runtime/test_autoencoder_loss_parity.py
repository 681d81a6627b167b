"""Parity of audiodiff's reconstruction losses, discriminators and generator terms with the reference.

The fixtures under `tests/fixtures/autoencoder_losses/` were computed by stable-audio-tools itself (commit 50049e3)
with `tools/make_autoencoder_loss_fixtures.py`, run in the reference's own environment. Each case is rebuilt here
from audiodiff's modules, given the same weights and inputs, and must give the same outputs within the case's
tolerance. Absent fixtures skip.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "autoencoder_losses"
TOOL = Path(__file__).resolve().parents[2] / "tools" / "make_autoencoder_loss_fixtures.py"
CASES = sorted(path.parent for path in FIXTURES.glob("*/case.json")) if FIXTURES.is_dir() else []
LARGE = 1_000_000  # parameters: cases with bigger discriminators run with the slow tests


def _param(folder: Path):
    size = json.loads((folder / "case.json").read_text()).get("parameters", 0)
    return pytest.param(folder, id=folder.name, marks=[pytest.mark.slow] if size > LARGE else [])


def _tool():
    spec = importlib.util.spec_from_file_location("make_autoencoder_loss_fixtures", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _load(folder: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    from safetensors.torch import load_file

    return json.loads((folder / "case.json").read_text()), load_file(str(folder / "io.safetensors"))


def _close(ours: torch.Tensor, theirs: torch.Tensor, case: dict, what: str) -> None:
    tolerance = case["tolerance"]
    assert torch.allclose(ours.float(), theirs.float(), rtol=tolerance["rtol"], atol=tolerance["atol"]), (
        f"{case['name']} {what}: audiodiff {ours.tolist()} vs reference {theirs.tolist()}"
    )


def _stft_options(args: dict) -> dict:
    return {key: value for key, value in args.items() if key not in ("fft_sizes", "hop_sizes", "win_lengths")}


def _discriminator(case: dict) -> torch.nn.Module:
    from audiodiff.nn.dac_discriminator import DACDiscriminator
    from audiodiff.nn.discriminators import EncodecDiscriminator, OobleckDiscriminator

    args = dict(case["args"])
    if case["kind"] == "encodec":
        slope = args.pop("activation_params", {}).get("negative_slope", 0.2)
        for key in ("stride", "kernel_size"):
            if key in args:
                args[key] = tuple(args[key])
        return EncodecDiscriminator(args.pop("filters"), negative_slope=slope, **args)
    if case["kind"] == "oobleck":
        return OobleckDiscriminator(**args)
    args.pop("sample_rate")
    return DACDiscriminator(**args)


@pytest.mark.skipif(not CASES, reason="no autoencoder loss fixtures (make them with the reference environment)")
@pytest.mark.parametrize("folder", [_param(folder) for folder in CASES])
def test_matches_the_reference(folder: Path) -> None:
    from audiodiff.nn.reconstruction_losses import (
        MultiResolutionSTFTLoss,
        SumAndDifferenceSTFTLoss,
        si_sdr,
    )

    case, io = _load(folder)
    reals, fakes = io["input.reals"], io["input.fakes"]
    kind, args = case["kind"], case["args"]
    if kind in ("mrstft", "sum_and_difference"):
        cls = MultiResolutionSTFTLoss if kind == "mrstft" else SumAndDifferenceSTFTLoss
        loss = cls(args["fft_sizes"], args["hop_sizes"], args["win_lengths"], **_stft_options(args))
        _close(loss(reals, fakes), io["output.loss"], case, "loss")
    elif kind == "sisdr":
        _close(-si_sdr(fakes, reals).mean(), io["output.loss"], case, "negative SI-SDR")
    elif kind in ("encodec", "oobleck", "dac"):
        module = _discriminator(case)
        ours = {key: list(value.shape) for key, value in module.state_dict().items()}
        assert ours == case["state_dict"], "state-dict names or shapes differ from the reference's"
        if case["weights"] == "fill_parameters":
            _tool().fill_parameters(module)
        else:
            from safetensors.torch import load_file

            module.load_state_dict(load_file(str(folder / case["weights"])), strict=True)
        with torch.no_grad():
            dis, adv, matching = module.loss(reals, fakes)
        _close(dis, io["output.discriminator"], case, "discriminator loss")
        _close(adv, io["output.adversarial"], case, "adversarial loss")
        _close(matching, io["output.feature_matching"], case, "feature matching")
    elif kind == "generator":
        from audiodiff.runtime.autoencoder_losses import AutoencoderLosses
        from audiodiff.schema.v1.autoencoder_training import LossConfigsSpec

        configs = (
            None if args["loss_config"] is None else LossConfigsSpec.model_validate(args["loss_config"], strict=False)
        )
        losses = AutoencoderLosses(
            configs, channels=args["out_channels"], sample_rate=args["sample_rate"], bottleneck_type="vae"
        )
        values = {
            "reals": reals,
            "decoded": fakes,
            "kl": io["input.kl"],
            "loss_adv": io["input.loss_adv"],
            "feature_matching_distance": io["input.feature_matching_distance"],
        }
        total, parts = losses.generator_loss(values)
        assert list(parts) == case["terms"]
        for name, value in parts.items():
            _close(value, io[f"output.term.{name}"], case, name)
        _close(total, io["output.total"], case, "total")
    else:
        pytest.fail(f"unknown fixture kind `{kind}`")


def test_fixtures_are_committed() -> None:
    """The fixtures are data in the repository: a missing folder is a packaging mistake, not a skip."""
    if not (Path(__file__).resolve().parents[2] / ".git").exists():
        pytest.skip("not a checkout")
    assert CASES, f"no fixtures under {FIXTURES}"
