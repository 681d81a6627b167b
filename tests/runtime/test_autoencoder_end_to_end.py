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

STEPS = 200
# measured: in a plain two-optimizer loop (no Lightning) this recipe takes the held-back tones from about -35 dB to
# +7..+10 dB by step 200 (seeds 1, 2); through `run` it gains +6 to +36 dB (see the xfail reason). Before it, the
# phase-blind STFT distance dominated and SI-SDR never left the -30s, with or without the discriminator.
SISDR_GAIN_DB = 20.0  # to be confirmed over seeds once the recipe is reliable

# The reference's recipe (spectral loss, adversarial 0.1, feature matching, KL 1e-4, AdamW betas (0.8, 0.99))
# scaled to a few hundred CPU steps: a SnakeBeta model 8 channels wide (tones are periodic; ELU at width 4 does not
# lock onto the phase in this budget), the time-domain L1 weighted 1.0 and the STFT distance 0.1, because only the
# L1 term sees phase, and SI-SDR measures phase; learning rates far above the reference's 1e-4.
VAE_PATCH = {
    "model": {
        "encoder": {"config": {"channels": 8, "use_snake": True}},
        "decoder": {"config": {"channels": 8, "use_snake": True}},
    },
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
        "loss_configs": {
            "spectral": {"weights": {"mrstft": 0.1}},
            "time": {"type": "l1", "weights": {"l1": 1.0}},
        },
        "demo": {"demo_every": 50},
    },
}


def _column(rows: list[dict[str, str]], name: str) -> list[float]:
    return [float(row[name]) for row in rows if row.get(name) not in (None, "")]


def _toy_dataset(tmp_path: Path, clips_per_class: int = 4) -> Path:
    data = tmp_path / "toy"
    subprocess.run(
        [
            sys.executable,
            str(REPO / "examples" / "make_toy_dataset.py"),
            str(data),
            "--clips-per-class",
            str(clips_per_class),
        ],
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
    reason="not met reliably yet (issue 17 stays open): with this recipe the held-back tones' SI-SDR rises by "
    "+25, +36, +35 and +6 dB over seeds 1, 2, 3 and 7 (run(), 200 steps), but the multi-resolution STFT distance "
    "ends above its first value in all four; the earlier recipe (width 4, ELU, STFT weight 1, L1 0.1) never left "
    "-30 dB, with or without the discriminator",
)
def test_a_tiny_vae_learns_with_the_adversarial_loss(tmp_path: Path):
    """A few hundred steps (about a minute on an idle CPU core); 48 clips, so the four held back (the last tones)
    give the metric."""
    dataset = _toy_dataset(tmp_path, clips_per_class=16)
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


def _train_diffusion_on(vae: dict, exported: Path, dataset: Path, output: Path) -> None:
    """A few steps of a tiny DiT whose pretransform is the exported autoencoder."""
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
    diffusion_path = output / "dit.json"
    diffusion_path.write_text(json.dumps(diffusion))
    trained = run(
        options(
            diffusion_path,
            dataset,
            output / "dit",
            max_steps=3,
            checkpoint_every=3,
            pretransform_ckpt=exported,
        ),
        echo=lambda text: None,
    )
    assert trained.steps == 3 and trained.final_loss is not None and math.isfinite(trained.final_loss)


@pytest.mark.slow
def test_the_export_is_the_pretransform_of_a_diffusion_run(tmp_path: Path):
    dataset = _toy_dataset(tmp_path)
    vae = merge(TINY_VAE, VAE_PATCH)
    model = tmp_path / "vae.json"
    model.write_text(json.dumps(vae))
    outcome = run(options(model, dataset, tmp_path / "vae", max_steps=4, checkpoint_every=4), echo=lambda text: None)
    assert outcome.exported is not None
    _train_diffusion_on(vae, outcome.exported, dataset, tmp_path)
