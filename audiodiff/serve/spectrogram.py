"""Spectrogram images a person can read: time in seconds, frequency in Hz, a dB colour bar (matplotlib, Agg)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

DYNAMIC_RANGE_DB = 80.0


def magnitude_db(audio: np.ndarray, sample_rate: int, *, window: int = 512) -> tuple[np.ndarray, float, float]:
    """[freq, frames] magnitude in dB re the loudest bin (floored at -80 dB) of mono `audio` [T]; with the clip's
    duration in seconds and the top frequency in Hz."""
    window = max(16, min(window, 1 << int(np.log2(max(len(audio), 16)))))
    hop = window // 4
    padded = np.pad(audio.astype(np.float64), (window // 2, window // 2))
    frames = 1 + max(0, (len(padded) - window) // hop)
    index = np.arange(window)[None, :] + hop * np.arange(frames)[:, None]  # [frames, window]
    spectrum = np.abs(np.fft.rfft(padded[index] * np.hanning(window), axis=1)).T  # [freq, frames]
    level = 20 * np.log10(spectrum + 1e-12)
    level = np.maximum(level - level.max(), -DYNAMIC_RANGE_DB)
    return level, len(audio) / sample_rate, sample_rate / 2


def write_spectrogram(
    path: Path, audio: object, sample_rate: int, *, title: str = "", spans: Sequence[tuple[float, float]] = ()
) -> Path:
    """Write the spectrogram of one clip ([C, T] tensor or array; channels are averaged) as a PNG at `path`;
    `spans` (seconds) are the regions an inpainting take regenerated, outlined."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    samples = np.asarray(audio.detach().cpu() if hasattr(audio, "detach") else audio, dtype=np.float64)
    mono = samples.mean(axis=0) if samples.ndim == 2 else samples
    level, seconds, top = magnitude_db(mono, sample_rate)
    figure = Figure(figsize=(6.4, 3.2), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    image = axes.imshow(
        level, origin="lower", aspect="auto", cmap="magma", extent=(0, seconds, 0, top), vmin=-DYNAMIC_RANGE_DB, vmax=0
    )
    for start, end in spans:
        axes.axvspan(start, min(end, seconds), facecolor="none", edgecolor="cyan", linewidth=1.2, linestyle="--")
    axes.set_xlabel("time (s)")
    axes.set_ylabel("frequency (Hz)")
    if title:
        axes.set_title(title)
    figure.colorbar(image, ax=axes, label="level (dB)")
    figure.savefig(path)
    return path
