"""A tiny conditioned model, a few synthetic clips and helpers to train on them, shared by the runtime tests.

The model (a one-block DiT on 16-sample patches of 8 kHz audio) takes tens of milliseconds per step on one CPU
thread, so whole runs (data, training, demos, checkpoints, resume) fit in a test.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import soundfile

REPO = Path(__file__).resolve().parents[2]

TINY_MODEL: dict[str, Any] = {
    "schema_version": 1,
    "model_type": "diffusion_cond",
    "sample_rate": 8000,
    "sample_size": 1024,
    "audio_channels": 1,
    "model": {
        "io_channels": 16,
        "pretransform": {"type": "patched", "config": {"channels": 1, "patch_size": 16}},
        "conditioning": {
            "cond_dim": 32,
            "configs": [
                {"id": "class", "type": "list", "config": {"options": ["tone", "noise"]}},
                {"id": "seconds_start", "type": "number", "config": {"min_val": 0, "max_val": 8}},
                {"id": "seconds_total", "type": "number", "config": {"min_val": 0, "max_val": 8}},
            ],
        },
        "diffusion": {
            "type": "dit",
            "diffusion_objective": "v",
            "cross_attention_cond_ids": ["class", "seconds_start", "seconds_total"],
            "global_cond_ids": ["seconds_start", "seconds_total"],
            "config": {
                "io_channels": 16,
                "embed_dim": 32,
                "depth": 1,
                "num_heads": 1,
                "cond_token_dim": 32,
                "global_cond_dim": 64,
                "transformer_type": "continuous_transformer",
            },
        },
    },
    "training": {
        "use_ema": True,
        "cfg_dropout_prob": 0.1,
        "timestep_sampler": "logit_normal",
        "optimizer_configs": {
            "diffusion": {
                "optimizer": {"type": "AdamW", "config": {"lr": 1e-3}},
                "scheduler": {"type": "InverseLR", "config": {"inv_gamma": 1000, "power": 0.5, "warmup": 0.5}},
            }
        },
        "demo": {
            "demo_every": 1000,
            "demo_steps": 2,
            "num_demos": 2,
            "demo_cfg_scales": [1, 3],
            "demo_cond": [
                {"class": "tone", "seconds_start": 0, "seconds_total": 1},
                {"class": "noise", "seconds_start": 0, "seconds_total": 1},
            ],
        },
    },
}


# TINY_MODEL as an inpainting model: the mask and the masked latents on `input_concat_ids` (16 + 1 channels)
INPAINT_PATCH: dict[str, Any] = {
    "model_type": "diffusion_cond_inpaint",
    "model": {
        "diffusion": {
            "input_concat_ids": ["inpaint_mask", "inpaint_masked_input"],
            "config": {"input_concat_dim": 17},
        }
    },
    "training": {"inpainting": {"mask_kwargs": {"max_mask_segments": 3}}},
}


def merge(base: Any, patch: Any) -> Any:
    """JSON merge patch (RFC 7386): objects merge, None deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    merged = copy.deepcopy(base) if isinstance(base, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge(merged.get(key), value)
    return merged


def write_clips(folder: Path, count: int = 8, rate: int = 8000, seed: int = 0) -> list[Path]:
    """Tones and noise bursts with sidecar metadata; lengths vary around the model's sample_size."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for index in range(count):
        kind = "tone" if index % 2 == 0 else "noise"
        length = int(rate * rng.uniform(0.08, 0.3))
        t = np.arange(length) / rate
        signal = np.sin(2 * np.pi * rng.uniform(200, 900) * t) if kind == "tone" else rng.standard_normal(length) * 0.3
        path = folder / f"{kind}_{index:02d}.wav"
        soundfile.write(path, (0.7 * signal).astype(np.float32)[:, None], rate, subtype="PCM_16")
        path.with_suffix(".json").write_text(json.dumps({"class": kind}))
        written.append(path)
    return written


def write_configs(
    root: Path, model_patch: dict | None = None, dataset_patch: dict | None = None, clips: int = 8
) -> tuple[Path, Path]:
    """A model config, a dataset config and the clips, under `root`."""
    root.mkdir(parents=True, exist_ok=True)
    data = root / "clips"
    if not data.exists():
        write_clips(data, clips)
    model_path, dataset_path = root / "model.json", root / "dataset.json"
    model_path.write_text(json.dumps(merge(TINY_MODEL, model_patch or {}), indent=2))
    dataset = {
        "schema_version": 1,
        "dataset_type": "audio_dir",
        "datasets": [{"id": "clips", "path": str(data)}],
        "random_crop": True,
    }
    dataset_path.write_text(json.dumps(merge(dataset, dataset_patch or {}), indent=2))
    return model_path, dataset_path


def options(model: Path, dataset: Path, output: Path, **settings: Any):
    from audiodiff.runtime.run import RunOptions

    defaults: dict[str, Any] = dict(
        batch_size=2, logger="csv", checkpoint_every=2, keep_checkpoints=2, seed=7, progress=False
    )
    defaults.update(settings)
    return RunOptions(config=model, dataset=dataset, output=output, **defaults)


def cli(
    *args: str, cwd: Path | None = None, timeout: float = 240, env: dict[str, str] | None = None, wait: bool = True
) -> Any:
    """`python -m audiodiff ARGS` in a fresh process (one torch thread, as the suite runs)."""
    environment = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    environment.update(env or {})
    command = [sys.executable, "-m", "audiodiff", *args]
    if not wait:
        return subprocess.Popen(
            command, cwd=cwd or REPO, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
    return subprocess.run(command, cwd=cwd or REPO, env=environment, capture_output=True, text=True, timeout=timeout)


# A tiny oobleck VAE (1 channel, ratio 8, latent width 8): the pretransform the init and training tests load.
TINY_AUTOENCODER = {
    "encoder": {
        "type": "oobleck",
        "config": {"in_channels": 1, "channels": 8, "c_mults": [1, 2], "strides": [2, 4], "latent_dim": 16},
    },
    "decoder": {
        "type": "oobleck",
        "config": {"out_channels": 1, "channels": 8, "c_mults": [1, 2], "strides": [2, 4], "latent_dim": 8},
    },
    "bottleneck": {"type": "vae"},
    "latent_dim": 8,
    "downsampling_ratio": 8,
    "io_channels": 1,
}
