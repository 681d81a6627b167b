"""Synthesise the toy dataset of `examples/toy_dataset.json`: short tones, chirps and noise bursts, and a
`metadata.jsonl` manifest giving each clip's `class` (the conditioning value of `examples/toy_dit.json`).

(A `<name>.json` beside each clip would work as well; the manifest keeps `audiodiff validate examples/` from
reading dozens of small metadata files as configs.)

Clip lengths vary around one second, so training sees both random crops and padded ones; a few clips are written
at 22.05 kHz in stereo to exercise resampling and down-mixing. Deterministic: the same seed writes the same files.

    python examples/make_toy_dataset.py examples/data/toy [--clips-per-class 16] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import soundfile

CLASSES = ("tone", "chirp", "noise")


def envelope(length: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    """A short attack, a sustain and an exponential release."""
    attack = max(1, min(length // 2, int(rate * rng.uniform(0.005, 0.03))))
    t = np.arange(length) / rate
    shape = np.exp(-t * rng.uniform(1.0, 4.0))
    shape[:attack] *= np.linspace(0, 1, attack)
    shape[-attack:] *= np.linspace(1, 0, attack)
    return shape


def tone(length: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    frequency = rng.uniform(220, 880)
    t = np.arange(length) / rate
    signal = np.sin(2 * np.pi * frequency * t) + 0.3 * np.sin(4 * np.pi * frequency * t)  # a note with an octave
    return signal * envelope(length, rate, rng)


def chirp(length: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    # 2 to 3.6 octaves over the clip, so any one-second crop sweeps well over an octave
    start, end = rng.uniform(150, 300), rng.uniform(1200, 1800)
    if rng.random() < 0.5:
        start, end = end, start  # down-sweeps too
    duration = length / rate
    t = np.arange(length) / rate
    # exponential sweep: phase = 2 pi f0 T / ln(f1/f0) (exp(t ln(f1/f0) / T) - 1)
    k = np.log(end / start) / duration
    phase = 2 * np.pi * start * (np.exp(k * t) - 1) / k
    return np.sin(phase) * envelope(length, rate, rng)


def noise(length: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    white = rng.standard_normal(length)
    # a one-pole low-pass of random brightness, then short bursts
    alpha = rng.uniform(0.05, 0.6)
    filtered = np.empty_like(white)
    state = 0.0
    for index, value in enumerate(white):
        state += alpha * (value - state)
        filtered[index] = state
    filtered /= np.abs(filtered).max() + 1e-9
    bursts = np.zeros(length)
    position = 0
    while position < length:
        size = int(rate * rng.uniform(0.08, 0.25))
        bursts[position : position + size] = envelope(min(size, length - position), rate, rng)[: length - position]
        position += size + int(rate * rng.uniform(0.05, 0.2))
    return filtered * bursts


MAKERS = {"tone": tone, "chirp": chirp, "noise": noise}


def write_dataset(folder: Path, *, clips_per_class: int = 16, seed: int = 0, rate: int = 16000) -> list[Path]:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    manifest = []
    for name in CLASSES:
        for index in range(clips_per_class):
            seconds = rng.uniform(0.6, 1.6)
            resampled = index % 5 == 4  # every fifth clip at 22.05 kHz stereo
            clip_rate = 22050 if resampled else rate
            signal = MAKERS[name](int(seconds * clip_rate), clip_rate, rng)
            signal = 0.8 * signal / (np.abs(signal).max() + 1e-9)
            audio = np.stack([signal, signal * 0.9], axis=1) if resampled else signal[:, None]
            path = folder / f"{name}_{index:02d}.wav"
            soundfile.write(path, audio.astype(np.float32), clip_rate, subtype="PCM_16")
            manifest.append(json.dumps({"path": path.name, "class": name}))
            written.append(path)
    (folder / "metadata.jsonl").write_text("\n".join(manifest) + "\n")
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--clips-per-class", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args()
    written = write_dataset(arguments.folder, clips_per_class=arguments.clips_per_class, seed=arguments.seed)
    print(f"wrote {len(written)} clips and their metadata.jsonl to {arguments.folder}")


if __name__ == "__main__":
    main()
