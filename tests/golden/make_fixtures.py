"""Regenerate the repository's golden fixtures (this folder): autoencoders whose bottleneck is not a VAE, which the
shared set (../shared/golden) lacks. Each is computed by the reference implementation, run in its own environment
through the parity tester's runner, and written in the shared set's format (see its README §2 and §4.4).

    python tests/golden/make_fixtures.py            # AUDIODIFF_REFERENCE_PYTHON, else ../refenv/bin/python

The `autoencoder` call for a deterministic bottleneck has no VAE statistics: its outputs are `pre_bottleneck`
(the encoder output), `latent_sample` (the bottleneck's encode of it), `decoded` (decode of the given latents)
and `reconstruction` (decode of `latent_sample`). Models are tiny (a few thousand parameters).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "parity"))

from harness import RUNNER, reference_python  # noqa: E402

LATENT = 4
RATIO = 4
CHANNELS = 2
LENGTH = 64

# name -> (bottleneck config, encoder output width, decoder input width, description)
BOTTLENECKS: dict[str, tuple[dict | None, int, int, str]] = {
    "tanh": ({"type": "tanh", "config": {"scale": 0.5}}, LATENT, LATENT, "tanh soft clip, scale 0.5"),
    "l2_norm": ({"type": "l2_norm"}, LATENT, LATENT, "L2 normalisation over channels"),
    "wasserstein": (
        {"type": "wasserstein", "config": {"use_tanh": True, "tanh_scale": 2.0}},
        LATENT,
        LATENT,
        "Wasserstein bottleneck with its tanh clip (no noise channels: those are random)",
    ),
    # upstream's FSQ fails at encode with one codebook (AD413): two codebooks of levels [3, 5] read the 4 channels
    "fsq": (
        {"type": "fsq", "config": {"levels": [3, 5], "num_codebooks": 2, "dim": LATENT}},
        LATENT,
        LATENT,
        "FSQ, two codebooks with levels [3, 5]",
    ),
    "dithered_fsq": (
        {"type": "dithered_fsq", "config": {"dim": LATENT, "levels": 7, "dither_inference": False}},
        LATENT,
        LATENT,
        "dithered FSQ, 7 levels, no dither at inference (the dither is random)",
    ),
    "dac_rvq": (
        {"type": "dac_rvq", "config": {"input_dim": LATENT, "n_codebooks": 2, "codebook_size": 16, "codebook_dim": 3}},
        LATENT,
        LATENT,
        "DAC residual VQ, 2 codebooks of 16 codes, 3-wide factorised codes",
    ),
    "rvq": (
        {"type": "rvq", "config": {"dim": LATENT, "codebook_size": 16, "num_quantizers": 2}},
        LATENT,
        LATENT,
        "vector-quantize-pytorch residual VQ, 2 quantizers of 16 codes (codebooks marked initialised)",
    ),
    "none": (None, LATENT, LATENT, "no bottleneck"),
}


def config_for(bottleneck: dict | None, encoder_out: int, decoder_in: int) -> dict:
    model = {
        "encoder": {
            "type": "oobleck",
            "config": {
                "in_channels": CHANNELS,
                "channels": 4,
                "c_mults": [1, 2],
                "strides": [2, 2],
                "latent_dim": encoder_out,
                "use_snake": True,
            },
        },
        "decoder": {
            "type": "oobleck",
            "config": {
                "out_channels": CHANNELS,
                "channels": 4,
                "c_mults": [1, 2],
                "strides": [2, 2],
                "latent_dim": decoder_in,
                "use_snake": True,
                "final_tanh": False,
            },
        },
        "latent_dim": LATENT,
        "downsampling_ratio": RATIO,
        "io_channels": CHANNELS,
    }
    if bottleneck is not None:
        model["bottleneck"] = bottleneck
    return {
        "model_type": "autoencoder",
        "sample_rate": 16000,
        "sample_size": LENGTH,
        "audio_channels": CHANNELS,
        "model": model,
        "training": {"learning_rate": 1e-4, "warmup_steps": 0, "use_ema": False, "demo": {"demo_every": 2000}},
    }


OUTPUTS = {
    "output.decoded": ("decoded", "decode(latents)"),
    "output.pre_bottleneck": ("pre_bottleneck", "the encoder output, before the bottleneck"),
    "output.latent_sample": ("latents", "the bottleneck's encode of pre_bottleneck"),
    "output.reconstruction": ("reconstruction", "decode(latent_sample)"),
}


def main() -> int:
    python = reference_python()
    if python is None:
        print("no reference environment: set AUDIODIFF_REFERENCE_PYTHON", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="audiodiff-golden-"))
    try:
        cases = []
        for index, (name, (bottleneck, encoder_out, decoder_in, _)) in enumerate(BOTTLENECKS.items()):
            seed = 3001 + index
            generator = torch.Generator().manual_seed(seed)
            folder = work / f"autoencoder_oobleck_{name}"
            folder.mkdir()
            save_file(
                {
                    "audio": torch.randn(2, CHANNELS, LENGTH, generator=generator),
                    "latents": torch.randn(2, LATENT, LENGTH // RATIO, generator=generator),
                },
                str(folder / "inputs.safetensors"),
            )
            cases.append(
                {
                    "name": folder.name,
                    "seed": seed,
                    "call": "autoencoder",
                    "kwargs": {"seed": seed},
                    "metadata": [],
                    "config": config_for(bottleneck, encoder_out, decoder_in),
                }
            )
        (work / "cases.json").write_text(json.dumps(cases))
        subprocess.run([str(python), str(RUNNER), str(work)], check=True)
        results = json.loads((work / "results.json").read_text())
        for case, (name, (_, _, _, description)) in zip(cases, BOTTLENECKS.items()):
            record = results[case["name"]]
            if record.get("status") != "ok":
                print(f"{case['name']}: the reference failed: {record.get('error')}", file=sys.stderr)
                continue
            _write(case, record, description, work / case["name"], HERE / case["name"])
            print(f"wrote {case['name']}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def _write(case: dict, record: dict, description: str, source: Path, target: Path) -> None:
    target.mkdir(exist_ok=True)
    inputs, outputs = load_file(source / "inputs.safetensors"), load_file(source / "outputs.safetensors")
    io = {"input.audio": inputs["audio"], "input.latents": inputs["latents"]}
    io.update({name: outputs[key] for name, (key, _) in OUTPUTS.items()})
    save_file({k: v.contiguous() for k, v in io.items()}, str(target / "io.safetensors"))
    shutil.copyfile(source / "weights.safetensors", target / "weights.safetensors")
    (target / "config.json").write_text(json.dumps(case["config"], indent=1) + "\n")
    weights = load_file(source / "weights.safetensors")
    parameters = sum(t.numel() for k, t in weights.items() if k not in set(record["buffers"]))
    meta = {
        "call": "autoencoder",
        "description": f"oobleck encoder/decoder with {description}",
        "inputs": {name: f"float32 {list(io[name].shape)}" for name in ("input.audio", "input.latents")},
        "metadata": [],
        "kwargs": {},
        "outputs": list(OUTPUTS),
        "output_descriptions": {name: f"{text} {list(io[name].shape)}" for name, (_, text) in OUTPUTS.items()},
        "atol": 1e-4,
        "rtol": 1e-4,
        "notes": "Made by tests/golden/make_fixtures.py: the reference built the config, gave every floating "
        "parameter seeded random values at the shared set's scales (EMA codebooks: random codes, marked "
        "initialised) and computed the outputs on CPU in float32. No VAE noise: the bottleneck is "
        f"deterministic. {parameters} parameters.",
        "state_dict_buffers": record["buffers"],
        "seed": case["seed"],
        "reference": "stable-audio-tools commit 50049e3, torch 2.13.0+cpu, CPU, float32",
    }
    (target / "case.json").write_text(json.dumps(meta, indent=1) + "\n")


if __name__ == "__main__":
    sys.exit(main())
