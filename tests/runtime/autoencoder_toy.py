"""A tiny autoencoder config for the runtime tests: a mono Oobleck VAE on 8 kHz clips with a small `encodec`
discriminator, small enough that a training step takes a fraction of a second on one CPU thread."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from toy_run import merge, write_clips

TINY_VAE: dict[str, Any] = {
    "model_type": "autoencoder",
    "sample_rate": 8000,
    "sample_size": 1024,
    "audio_channels": 1,
    "model": {
        "encoder": {
            "type": "oobleck",
            "config": {"in_channels": 1, "channels": 4, "c_mults": [1, 2], "strides": [2, 4], "latent_dim": 8},
        },
        "decoder": {
            "type": "oobleck",
            "config": {"out_channels": 1, "channels": 4, "c_mults": [1, 2], "strides": [2, 4], "latent_dim": 4},
        },
        "bottleneck": {"type": "vae"},
        "latent_dim": 4,
        "downsampling_ratio": 8,
        "io_channels": 1,
    },
    "training": {
        "warmup_steps": 2,
        "use_ema": True,
        "latent_mask_ratio": 0.1,
        "optimizer_configs": {
            "autoencoder": {
                "optimizer": {"type": "AdamW", "config": {"lr": 1e-3, "betas": [0.8, 0.99]}},
                "scheduler": {"type": "InverseLR", "config": {"inv_gamma": 100, "power": 0.5, "warmup": 0.5}},
            },
            "discriminator": {
                "optimizer": {"type": "AdamW", "config": {"lr": 1e-3, "betas": [0.8, 0.99]}},
                "scheduler": {"type": "ExponentialLR", "config": {"gamma": 0.99}},
            },
        },
        "loss_configs": {
            "discriminator": {
                "type": "encodec",
                "config": {"filters": 4, "n_ffts": [128, 64], "hop_lengths": [32, 16], "win_lengths": [128, 64]},
                "weights": {"adversarial": 0.1, "feature_matching": 2.0},
            },
            "spectral": {
                "type": "mrstft",
                "config": {
                    "fft_sizes": [256, 64],
                    "hop_sizes": [64, 16],
                    "win_lengths": [256, 64],
                    "perceptual_weighting": True,
                },
                "weights": {"mrstft": 1.0},
                "decay": 0.999,
            },
            "time": {"type": "l1", "weights": {"l1": 0.1}},
            "bottleneck": {"type": "kl", "weights": {"kl": 1e-4}},
        },
        "demo": {"demo_every": 1000},
    },
}


def write_autoencoder_configs(root: Path, model_patch: dict | None = None, clips: int = 6) -> tuple[Path, Path]:
    root.mkdir(parents=True, exist_ok=True)
    data = root / "clips"
    if not data.exists():
        write_clips(data, clips)
    model_path, dataset_path = root / "vae.json", root / "dataset.json"
    model_path.write_text(json.dumps(merge(TINY_VAE, model_patch or {}), indent=2))
    dataset_path.write_text(
        json.dumps(
            {"dataset_type": "audio_dir", "datasets": [{"id": "clips", "path": str(data)}], "random_crop": True},
            indent=2,
        )
    )
    return model_path, dataset_path
