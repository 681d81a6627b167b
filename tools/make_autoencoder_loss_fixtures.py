"""Generate the autoencoder-training parity fixtures by running the reference implementation itself.

Runs in the reference's own environment (stable-audio-tools at commit 50049e3, built by
`../shared/tools/reference-env.sh`), never in audiodiff's:

    /path/to/refenv/bin/python tools/make_autoencoder_loss_fixtures.py tests/fixtures/autoencoder_losses

Each case folder holds `case.json` (what to build, with which arguments, and the tolerance), `io.safetensors`
(inputs `input.*` and the reference's outputs `output.*`) and, for small discriminators, `weights.safetensors`
(the reference's state dict). Large discriminators are filled by `fill_parameters` instead, a deterministic rule
that both sides apply, and `case.json` lists every state-dict key with its shape so that names are checked too.
`tests/runtime/test_autoencoder_loss_parity.py` rebuilds every case with audiodiff's modules and compares.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import torch

MAX_STORED_WEIGHTS = 400_000  # parameters; larger discriminators use `fill_parameters`


def fill_parameters(module: torch.nn.Module) -> None:
    """Set every parameter from its name and shape: a scaled sinusoid, so that both implementations get the same
    values without storing them. Scaled by 1/sqrt(fan-in), so activations stay in range through deep stacks."""
    with torch.no_grad():
        for name, parameter in sorted(module.named_parameters()):
            offset = sum(ord(character) for character in name) % 97
            count = parameter.numel()
            fan_in = max(1, count // parameter.shape[0]) if parameter.dim() > 1 else 100
            values = torch.sin(0.37 * torch.arange(count, dtype=torch.float64) + offset) / math.sqrt(fan_in)
            parameter.copy_(values.reshape(parameter.shape).to(parameter.dtype))


def _signals(seed: int, shape: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """A signal with tonal content and a noisy, slightly scaled reconstruction of it."""
    generator = torch.Generator().manual_seed(seed)
    length = shape[-1]
    t = torch.arange(length, dtype=torch.float64) / 16000
    tone = 0.5 * torch.sin(2 * math.pi * 440 * t) + 0.2 * torch.sin(2 * math.pi * 1750 * t)
    reals = tone.expand(shape).clone() + 0.05 * torch.randn(shape, generator=generator, dtype=torch.float64)
    fakes = 0.9 * reals + 0.1 * torch.randn(shape, generator=generator, dtype=torch.float64)
    return reals.float(), fakes.float()


STFT_DEFAULT = {"fft_sizes": [2048, 1024, 512, 256, 128, 64, 32], "hop_sizes": [512, 256, 128, 64, 32, 16, 8],
                    "win_lengths": [2048, 1024, 512, 256, 128, 64, 32]}

CASES: list[dict] = [
    {"name": "mrstft_mono_perceptual", "kind": "mrstft", "shape": [2, 1, 4096],
     "args": dict(STFT_DEFAULT, perceptual_weighting=True, sample_rate=16000)},
    {"name": "mrstft_options", "kind": "mrstft", "shape": [2, 1, 3000],
     "args": {"fft_sizes": [512, 256], "hop_sizes": [128, 50], "win_lengths": [400, 256], "window": "hamming_window",
                  "w_lin_mag": 0.5, "w_phs": 0.1, "mag_distance": "L2", "w_sc": 0.7, "log_eps": 1e-3,
                  "log_fac": 2.0}},
    {"name": "sum_and_difference_stereo", "kind": "sum_and_difference", "shape": [2, 2, 4096],
     "args": dict(STFT_DEFAULT, perceptual_weighting=True, sample_rate=44100)},
    {"name": "sisdr", "kind": "sisdr", "shape": [3, 2, 2000], "args": {}},
    {"name": "encodec_discriminator", "kind": "encodec", "shape": [2, 2, 2048],
     "args": {"filters": 8, "n_ffts": [256, 128, 64], "hop_lengths": [64, 32, 16], "win_lengths": [256, 128, 64],
                  "in_channels": 2}},
    {"name": "encodec_discriminator_options", "kind": "encodec", "shape": [2, 1, 1024],
     "args": {"filters": 4, "n_ffts": [128, 64], "hop_lengths": [32, 16], "win_lengths": [100, 64], "in_channels": 1,
                  "normalize_losses": True, "spec_scale_pow": 0.5, "dilations": [1, 2],
                  "stride": [1, 2], "activation_params": {"negative_slope": 0.3}}},
    {"name": "oobleck_discriminator", "kind": "oobleck", "shape": [2, 1, 1024], "args": {"in_channels": 1}},
    {"name": "dac_discriminator", "kind": "dac", "shape": [2, 1, 2048],
     "args": {"channels": 1, "sample_rate": 16000, "periods": [2, 3], "fft_sizes": [512, 128]}},
    {"name": "generator_terms_stereo_vae", "kind": "generator", "shape": [2, 2, 4096],
     "args": {"sample_rate": 16000, "out_channels": 2, "loss_config": None}},
    {"name": "generator_terms_mono_l1_l2", "kind": "generator", "shape": [2, 1, 2048],
     "args": {"sample_rate": 16000, "out_channels": 1, "loss_config": {
         "spectral": {"type": "mrstft", "config": {"fft_sizes": [256, 64], "hop_sizes": [64, 16],
                                                   "win_lengths": [256, 64]}, "weights": {"mrstft": 2.0}},
         "time": {"type": "l1", "weights": {"l1": 0.5, "l2": 3.0}},
         "bottleneck": {"type": "kl", "weights": {"kl": 0.01}}}}},
]


def _discriminator(case: dict) -> torch.nn.Module:
    from stable_audio_tools.models import discriminators as d

    args = dict(case["args"])
    if case["kind"] == "encodec":
        if "stride" in args:
            args["stride"] = tuple(args["stride"])
        return d.EncodecDiscriminator(**args)
    if case["kind"] == "oobleck":
        return d.OobleckDiscriminator(**args)
    return d.DACGANLoss(**args)


def _generator_losses(case: dict):
    from stable_audio_tools.models.bottleneck import VAEBottleneck
    from stable_audio_tools.training.autoencoders import AutoencoderTrainingWrapper

    class Stub(torch.nn.Module):
        """Just enough of an autoencoder for the wrapper to assemble its generator losses."""

        def __init__(self, channels: int) -> None:
            super().__init__()
            self.out_channels = channels
            self.bottleneck = VAEBottleneck()
            self.dummy = torch.nn.Parameter(torch.zeros(1))

    args = case["args"]
    wrapper = AutoencoderTrainingWrapper(Stub(args["out_channels"]), sample_rate=args["sample_rate"],
                                         loss_config=args["loss_config"], use_ema=False, lr=1e-4)
    return wrapper.losses_gen


def run_case(case: dict, folder: Path) -> None:
    from safetensors.torch import save_file
    from stable_audio_tools.training.losses import auraloss

    torch.manual_seed(0)
    reals, fakes = _signals(len(case["name"]), tuple(case["shape"]))
    io = {"input.reals": reals, "input.fakes": fakes}
    record = {"name": case["name"], "kind": case["kind"], "args": case["args"], "tolerance": {"rtol": 1e-4,
              "atol": 1e-5}, "reference": "stable-audio-tools 50049e3"}
    kind = case["kind"]
    if kind == "mrstft":
        # the wrapper calls the loss as (reals, decoded)
        io["output.loss"] = auraloss.MultiResolutionSTFTLoss(**case["args"])(reals, fakes)
    elif kind == "sum_and_difference":
        io["output.loss"] = auraloss.SumAndDifferenceSTFTLoss(**case["args"])(reals, fakes)
    elif kind == "sisdr":
        io["output.loss"] = auraloss.SISDRLoss()(fakes, reals)  # the negative SI-SDR, as upstream returns it
    elif kind in ("encodec", "oobleck", "dac"):
        module = _discriminator(case)
        count = sum(p.numel() for p in module.parameters())
        if count <= MAX_STORED_WEIGHTS:
            save_file({k: v.contiguous() for k, v in module.state_dict().items()}, str(folder / "weights.safetensors"))
            record["weights"] = "weights.safetensors"
        else:
            fill_parameters(module)
            record["weights"] = "fill_parameters"
        record["state_dict"] = {k: list(v.shape) for k, v in module.state_dict().items()}
        record["parameters"] = count
        dis, adv, matching = module.loss(reals, fakes)
        io.update({"output.discriminator": dis, "output.adversarial": adv, "output.feature_matching": matching})
    elif kind == "generator":
        losses = _generator_losses(case)
        info = {"reals": reals, "decoded": fakes, "kl": torch.tensor(1.25), "loss_adv": torch.tensor(0.3),
                "feature_matching_distance": torch.tensor(0.7)}
        if reals.shape[1] == 2:
            info.update(reals_left=reals[:, :1], reals_right=reals[:, 1:], decoded_left=fakes[:, :1],
                        decoded_right=fakes[:, 1:])
        io.update({"input.kl": info["kl"], "input.loss_adv": info["loss_adv"],
                   "input.feature_matching_distance": info["feature_matching_distance"]})
        total, parts = losses(info)
        io["output.total"] = total
        for name, value in parts.items():
            io[f"output.term.{name}"] = value
        record["terms"] = list(parts)
    else:
        raise ValueError(kind)
    io = {key: value.detach().float().contiguous().reshape(value.shape) for key, value in io.items()}
    save_file(io, str(folder / "io.safetensors"))
    (folder / "case.json").write_text(json.dumps(record, indent=1) + "\n")


def main(argv: list[str]) -> int:
    target = Path(argv[1] if len(argv) > 1 else "tests/fixtures/autoencoder_losses")
    only = set(argv[2:])
    for case in CASES:
        if only and case["name"] not in only:
            continue
        folder = target / case["name"]
        folder.mkdir(parents=True, exist_ok=True)
        run_case(case, folder)
        print(f"wrote {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
