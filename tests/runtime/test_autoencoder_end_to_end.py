"""End to end: a tiny Oobleck VAE trained with the adversarial loss on the toy data learns to reconstruct held-back
clips, both players' losses stay finite and move, and its export is the pretransform of a diffusion run."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from autoencoder_toy import TINY_VAE
from toy_run import REPO, TINY_MODEL, merge, options

from audiodiff.runtime.run import run

STEPS = 240
SISDR_GAIN_DB = 3.0  # the held-back clips' SI-SDR must rise by at least this much from the first demo to the last

VAE_PATCH = {
    "training": {
        "warmup_steps": 20,
        "use_ema": False,
        "latent_mask_ratio": 0.0,
        "optimizer_configs": {
            "autoencoder": {
                "optimizer": {"type": "AdamW", "config": {"lr": 3e-3, "betas": [0.8, 0.99]}},
                "scheduler": None,
            },
            "discriminator": {
                "optimizer": {"type": "AdamW", "config": {"lr": 1e-3, "betas": [0.8, 0.99]}},
                "scheduler": None,
            },
        },
        "demo": {"demo_every": 60},
    },
}


def _column(rows: list[dict[str, str]], name: str) -> list[float]:
    return [float(row[name]) for row in rows if row.get(name) not in (None, "")]


def _toy_dataset(tmp_path: Path) -> Path:
    data = tmp_path / "toy"
    subprocess.run(
        [sys.executable, str(REPO / "examples" / "make_toy_dataset.py"), str(data), "--clips-per-class", "4"],
        check=True,
        capture_output=True,
    )
    dataset = tmp_path / "dataset.json"
    dataset.write_text(
        json.dumps(
            {
                "dataset_type": "audio_dir",
                "random_crop": True,
                "datasets": [{"id": "toy", "path": str(data), "manifest": "metadata.jsonl"}],
            }
        )
    )
    return dataset


@pytest.mark.slow
@pytest.mark.xfail(
    strict=False,
    reason="not met yet (issue 17 stays open): measured on an idle core, the held-back "
    "clips' SI-SDR rises from -37.7 dB to -28.1 dB at step 61, then falls back to -35.8 dB by step 240 "
    "once the adversarial terms weigh in (multi-resolution STFT distance 4.46 -> 4.08)",
)
def test_a_tiny_vae_learns_with_the_adversarial_loss(tmp_path: Path):
    """A few hundred steps (a couple of minutes on an idle CPU core)."""
    dataset = _toy_dataset(tmp_path)
    vae = merge(TINY_VAE, VAE_PATCH)
    model = tmp_path / "vae.json"
    model.write_text(json.dumps(vae))
    outcome = run(
        options(model, dataset, tmp_path / "vae", max_steps=STEPS, checkpoint_every=STEPS, batch_size=4),
        echo=lambda text: None,
    )
    assert outcome.steps == STEPS

    metrics = [json.loads(line) for line in (tmp_path / "vae" / "demos" / "metrics.jsonl").read_text().splitlines()]
    first, last = metrics[0], metrics[-1]
    assert first["step"] == 1 and last["step"] == STEPS
    assert last["sisdr"] >= first["sisdr"] + SISDR_GAIN_DB, metrics
    assert last["mrstft"] < first["mrstft"], metrics

    with open(tmp_path / "vae" / "logs" / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    critic = _column(rows, "train/discriminator_loss")
    adversarial = _column(rows, "train/loss_adv")
    assert len(critic) >= STEPS // 2 - 1 and all(math.isfinite(value) for value in critic + adversarial)
    assert max(critic) - min(critic) > 1e-3  # the discriminator's loss moves
    after_warmup = [value for value in adversarial if value != 0.0]
    assert after_warmup and max(after_warmup) - min(after_warmup) > 1e-4  # and so does the generator's


@pytest.mark.slow
def test_the_export_is_the_pretransform_of_a_diffusion_run(tmp_path: Path):
    dataset = _toy_dataset(tmp_path)
    vae = merge(TINY_VAE, VAE_PATCH)
    model = tmp_path / "vae.json"
    model.write_text(json.dumps(vae))
    outcome = run(options(model, dataset, tmp_path / "vae", max_steps=4, checkpoint_every=4), echo=lambda text: None)
    diffusion = merge(
        TINY_MODEL,
        {
            "model": {
                "io_channels": 4,
                "pretransform": {"type": "autoencoder", "config": vae["model"]},
                "diffusion": {"config": {"io_channels": 4}},
            },
            "training": {"demo": {"demo_every": 1000}},
        },
    )
    diffusion["model"]["pretransform"] = {"type": "autoencoder", "config": vae["model"]}
    diffusion_path = tmp_path / "dit.json"
    diffusion_path.write_text(json.dumps(diffusion))
    trained = run(
        options(
            diffusion_path,
            dataset,
            tmp_path / "dit",
            max_steps=3,
            checkpoint_every=3,
            pretransform_ckpt=outcome.exported,
        ),
        echo=lambda text: None,
    )
    assert trained.steps == 3 and trained.final_loss is not None and math.isfinite(trained.final_loss)
