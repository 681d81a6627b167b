"""A tiny inpainting model learns, end to end: `run` trains it on the toy tones and noise with the reference's random
masks, and sampled with the middle half of a clip masked it keeps the rest of the clip and fills the gap with the
class asked for.

Measured (400 steps, OMP_NUM_THREADS=1, `pytest tests/runtime/test_inpainting_training.py -m slow -s` prints them):
kept-region SNR 12 to 21 dB; spectral flatness of the filled gap 0.06 to 0.09 when a tone is asked for and 0.37 to
0.45 when noise is (a pure tone is about 0, white noise about 0.56), whatever the class of the known audio.
The thresholds below leave a few dB and a factor of two of headroom.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from toy_run import INPAINT_PATCH, merge, options, write_configs

from audiodiff.runtime.generate import SampleRequest, generate, plan
from audiodiff.runtime.loading import load_model, resolve_source
from audiodiff.runtime.run import run

RATE, LENGTH = 8000, 1024  # the tiny model's sample_rate and sample_size
GAP = (256, 768)  # samples regenerated: the middle half
MARGIN = 16  # one latent frame each side of the gap is left out of the kept-region measure

# A little more capacity and a rectified-flow objective than the plain tiny model, masks that keep some audio more
# often than the default (which hides everything four times in five), and a constant learning rate.
LEARNING_PATCH = merge(
    INPAINT_PATCH,
    {
        "model": {
            "diffusion": {
                "diffusion_objective": "rectified_flow",
                "config": {"embed_dim": 64, "depth": 2, "num_heads": 2},
            }
        },
        "training": {
            "optimizer_configs": {"diffusion": {"optimizer": {"config": {"lr": 2e-3}}, "scheduler": None}},
            "inpainting": {"mask_kwargs": {"max_mask_segments": 2, "mask_type_probabilities": [0.5, 0.1, 0.4]}},
            "demo": {"demo_every": 100000, "num_demos": 2},
        },
    },
)
MIN_KEPT_SNR_DB = 8.0
TONE_MAX_FLATNESS = 0.2
NOISE_MIN_FLATNESS = 0.25


def spectral_flatness(signal: np.ndarray) -> float:
    """Geometric over arithmetic mean of the power spectrum: about 0 for a tone, about 0.56 for white noise."""
    power = np.abs(np.fft.rfft(signal * np.hanning(len(signal)))) ** 2 + 1e-12
    return float(np.exp(np.mean(np.log(power))) / np.mean(power))


def snr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    return 10 * math.log10(float((reference**2).sum()) / float(((estimate - reference) ** 2).sum()))


@pytest.mark.slow
def test_a_tiny_inpainting_model_keeps_the_known_audio_and_fills_the_gap_with_the_class_asked(tmp_path: Path):
    torch.set_num_threads(1)
    model_path, dataset_path = write_configs(tmp_path, LEARNING_PATCH, clips=16)
    outcome = run(
        options(model_path, dataset_path, tmp_path / "run", max_steps=400, batch_size=8, checkpoint_every=400),
        echo=lambda text: None,
    )
    assert outcome.steps == 400 and outcome.exported is not None
    # the closing demo round inpainted clips of the last batch, with the regenerated part outlined
    demos = tmp_path / "run" / "demos" / "step_0000400"
    assert sorted(p.name for p in demos.glob("*.wav")) == [f"demo_{i}_cfg_{s}.wav" for i in (0, 1) for s in (1, 3)]
    assert (demos / "report.png").read_bytes()[:4] == b"\x89PNG"

    source = resolve_source(outcome.exported, None)
    model = load_model(source, allow_partial=False, t5_path=None)
    t = np.arange(LENGTH) / RATE
    known_clips = {
        "tone": 0.7 * np.sin(2 * np.pi * 440 * t),
        "noise": 0.21 * np.random.default_rng(5).standard_normal(LENGTH),
    }
    kept = np.r_[0 : GAP[0] - MARGIN, GAP[1] + MARGIN : LENGTH]
    for known_class, clip in known_clips.items():
        for asked in ("tone", "noise"):
            request = SampleRequest(
                steps=30,
                cfg_scale=3.0,
                seed=1,
                batch=4,
                cond={"class": asked},
                known_audio=torch.tensor(clip, dtype=torch.float32)[None],
                mask_spans=((GAP[0] / RATE, GAP[1] / RATE),),
            )
            audio = generate(model, source.spec, request, plan(source.spec, request))[:, 0].numpy()  # [4, T]
            snrs = [snr_db(clip[kept], item[kept]) for item in audio]
            flatness = [spectral_flatness(item[GAP[0] : GAP[1]]) for item in audio]
            print(
                f"known {known_class}, asked {asked}: kept SNR {np.round(snrs, 1)} dB, gap flatness {np.round(flatness, 3)}"
            )
            assert min(snrs) >= MIN_KEPT_SNR_DB, (known_class, asked, snrs)
            if asked == "tone":
                assert max(flatness) <= TONE_MAX_FLATNESS, (known_class, asked, flatness)
            else:
                assert min(flatness) >= NOISE_MIN_FLATNESS, (known_class, asked, flatness)
