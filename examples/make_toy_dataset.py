"""Synthesise the toy dataset of `examples/toy_dataset.json`: short tones, chirps and noise bursts, and a
`metadata.jsonl` manifest giving each clip's `class` (the conditioning value of `examples/toy_dit.json`).

(A `<name>.json` beside each clip would work as well; the manifest keeps `audiodiff validate examples/` from
reading dozens of small metadata files as configs.)

By default clip lengths vary around one second, so training sees both random crops and padded ones, and the sounds
decay as plucked notes do; a few clips are written at 22.05 kHz in stereo to exercise resampling and down-mixing.
Deterministic: the same seed writes the same files.

`--sustained --seconds 0.5 --notes 220,330,440,660` writes what `make demo` trains on: every clip exactly half a
second (one training example, no padding, and the `seconds_total` the demo samples with), notes from four pitches
that barely fade, and noise bursts saturated to a dense level with silent gaps of 100 ms or more. Those clips' power is within about 6 dB of the unit-variance noise a diffusion
model starts from (the decaying default is 12 dB or more below it, which leaves the classes' structure buried
under the noise for most of the training times).

    python examples/make_toy_dataset.py examples/data/toy [--clips-per-class 16] [--seed 0] [--sustained]
                                                           [--seconds S] [--notes HZ,HZ,...]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile

CLASSES = ("tone", "chirp", "noise")


def envelope(length: int, rate: int, rng: np.random.Generator, *, sustained: bool = False) -> np.ndarray:
    """A short attack, an exponential decay (by 1 to 4 nepers a second, or 0.2 to 1 when `sustained`) and a release
    as short as the attack."""
    attack = max(1, min(length // 2, int(rate * rng.uniform(0.005, 0.03))))
    t = np.arange(length) / rate
    shape = np.exp(-t * (rng.uniform(0.2, 1.0) if sustained else rng.uniform(1.0, 4.0)))
    shape[:attack] *= np.linspace(0, 1, attack)
    shape[-attack:] *= np.linspace(1, 0, attack)
    return shape


def tone(
    length: int, rate: int, rng: np.random.Generator, *, sustained: bool = False, notes: Sequence[float] = ()
) -> np.ndarray:
    """A note with its octave: one of `notes` (Hz) when given, otherwise anywhere from 220 to 880 Hz."""
    frequency = float(notes[rng.integers(len(notes))]) if notes else rng.uniform(220, 880)
    t = np.arange(length) / rate
    signal = np.sin(2 * np.pi * frequency * t) + 0.3 * np.sin(4 * np.pi * frequency * t)  # a note with an octave
    return signal * envelope(length, rate, rng, sustained=sustained)


def chirp(length: int, rate: int, rng: np.random.Generator, *, sustained: bool = False) -> np.ndarray:
    # 2 to 3.6 octaves over the clip, so any one-second crop sweeps well over an octave
    start, end = rng.uniform(150, 300), rng.uniform(1200, 1800)
    if rng.random() < 0.5:
        start, end = end, start  # down-sweeps too
    duration = length / rate
    t = np.arange(length) / rate
    # exponential sweep: phase = 2 pi f0 T / ln(f1/f0) (exp(t ln(f1/f0) / T) - 1)
    k = np.log(end / start) / duration
    phase = 2 * np.pi * start * (np.exp(k * t) - 1) / k
    return np.sin(phase) * envelope(length, rate, rng, sustained=sustained)


def noise(length: int, rate: int, rng: np.random.Generator, *, sustained: bool = False) -> np.ndarray:
    white = rng.standard_normal(length)
    # a one-pole low-pass of random brightness, then short bursts
    alpha = rng.uniform(0.05, 0.6)
    filtered = np.empty_like(white)
    state = 0.0
    for index, value in enumerate(white):
        state += alpha * (value - state)
        filtered[index] = state
    if sustained:
        filtered = np.tanh(1.5 * filtered / (filtered.std() + 1e-9))  # saturated: dense, about -4 dB below its peak
    filtered /= np.abs(filtered).max() + 1e-9
    bursts = np.zeros(length)
    position = 0
    while position < length:
        size = int(rate * rng.uniform(0.08, 0.25))
        if sustained:  # flat bursts with 5 ms edges
            burst = np.ones(min(size, length - position))
            edge = max(1, min(len(burst) // 2, int(rate * 0.005)))
            burst[:edge], burst[-edge:] = np.linspace(0, 1, edge), np.linspace(1, 0, edge)
        else:
            burst = envelope(min(size, length - position), rate, rng)
        bursts[position : position + size] = burst[: length - position]
        # sustained: gaps of 100 ms or more; from gaps down to 50 ms the demo model learned shallower silences
        position += size + int(rate * (rng.uniform(0.1, 0.2) if sustained else rng.uniform(0.05, 0.2)))
    return filtered * bursts


MAKERS = {"tone": tone, "chirp": chirp, "noise": noise}


def write_dataset(
    folder: Path,
    *,
    clips_per_class: int = 16,
    seed: int = 0,
    rate: int = 16000,
    sustained: bool = False,
    seconds: float | None = None,
    notes: Sequence[float] = (),
) -> list[Path]:
    """Write the clips and their manifest; `seconds` fixes every clip's length (default: 0.6 to 1.6 s), `notes`
    the tones' pitches (default: any from 220 to 880 Hz)."""
    rng = np.random.default_rng(seed)
    peak = 0.95 if sustained else 0.8
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    manifest = []
    for name in CLASSES:
        for index in range(clips_per_class):
            length = rng.uniform(0.6, 1.6) if seconds is None else seconds
            resampled = index % 5 == 4  # every fifth clip at 22.05 kHz stereo
            clip_rate = 22050 if resampled else rate
            if name == "tone":
                signal = tone(int(length * clip_rate), clip_rate, rng, sustained=sustained, notes=notes)
            else:
                signal = MAKERS[name](int(length * clip_rate), clip_rate, rng, sustained=sustained)
            signal = peak * signal / (np.abs(signal).max() + 1e-9)
            audio = np.stack([signal, signal * 0.9], axis=1) if resampled else signal[:, None]
            path = folder / f"{name}_{index:02d}.wav"
            soundfile.write(path, audio.astype(np.float32), clip_rate, subtype="PCM_16")
            manifest.append(json.dumps({"path": path.name, "class": name}))
            written.append(path)
    (folder / "metadata.jsonl").write_text("\n".join(manifest) + "\n")
    return written


def _frequencies(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated frequencies in Hz, got {text!r}") from None
    if not values or not all(20 <= value <= 20000 for value in values):
        raise argparse.ArgumentTypeError(f"every note must lie between 20 and 20000 Hz, got {text!r}")
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--clips-per-class", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sustained", action="store_true", help="near full-scale notes and dense noise bursts")
    parser.add_argument("--seconds", type=float, help="every clip this long (default: 0.6 to 1.6 s)")
    parser.add_argument(
        "--notes", type=_frequencies, default=(), help="the tones' pitches, comma-separated Hz (default: 220 to 880 Hz)"
    )
    arguments = parser.parse_args()
    written = write_dataset(
        arguments.folder,
        clips_per_class=arguments.clips_per_class,
        seed=arguments.seed,
        sustained=arguments.sustained,
        seconds=arguments.seconds,
        notes=arguments.notes,
    )
    print(f"wrote {len(written)} clips and their metadata.jsonl to {arguments.folder}")


if __name__ == "__main__":
    main()
