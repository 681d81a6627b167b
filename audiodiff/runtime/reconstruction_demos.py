"""Autoencoder demos: reconstructions of held-back clips, written as input / output / difference WAVs with a
spectrogram figure (axes in seconds and Hz, a dB colour bar), and reconstruction metrics (SI-SDR, multi-resolution
STFT distance, configured `eval_loss_configs`) logged and kept in `metrics.jsonl`.

Held-back clips are files the training stream never reads (see `hold_back`), so the metrics measure generalisation.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch import Tensor

from audiodiff.runtime.atomic import write_bytes_atomic
from audiodiff.runtime.demos import png_bytes, spectrogram_image
from audiodiff.runtime.run_folder import step_name

MAX_DEMOS = 8


def hold_back(files: list[Any], *, fraction: float = 0.1, most: int = 4) -> tuple[list[Any], list[Any]]:
    """(training files, held-back files): a tenth of the files (one at least, four at most) is kept out of training
    when there are at least two; a single file serves both (its demos then show training data).

    The held-back files are spread evenly over the dataset's order, the middle file of each of `count` equal runs:
    datasets list their files grouped (by folder, source or class, as a manifest is written), so the last tenth
    would hold back one group only and the demo metrics would measure that group alone."""
    if len(files) < 2:
        return list(files), list(files)
    count = max(1, min(most, int(len(files) * fraction)))
    chosen = {(2 * index + 1) * len(files) // (2 * count) for index in range(count)}
    return (
        [file for index, file in enumerate(files) if index not in chosen],
        [file for index, file in enumerate(files) if index in chosen],
    )


def spectrogram_figure(reals: Tensor, decoded: Tensor, sample_rate: int) -> bytes | None:
    """A PNG with the input's, the output's and the difference's log spectrograms (channel mean) on shared axes,
    or None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot
    except ImportError:
        return None
    import io

    n_fft = 1024 if sample_rate >= 32000 else 512
    window = torch.hann_window(n_fft)
    signals = {"input": reals, "output": decoded, "difference (output - input)": decoded - reals}
    figure, axes = pyplot.subplots(3, 1, figsize=(8, 8), sharex=True, constrained_layout=True)
    top = None
    for axis, (title, audio) in zip(axes, signals.items(), strict=True):
        mono = audio.float().mean(0)
        if mono.numel() < n_fft:
            mono = torch.nn.functional.pad(mono, (0, n_fft - mono.numel()))
        spectrum = torch.stft(mono, n_fft, n_fft // 4, window=window, return_complex=True).abs()  # [F, N]
        decibels = 20 * torch.log10(spectrum.clamp(min=1e-8)).numpy()
        top = float(decibels.max()) if top is None else top  # one scale for all three: the input's peak
        seconds = mono.numel() / sample_rate
        image = axis.imshow(
            decibels,
            origin="lower",
            aspect="auto",
            cmap="magma",
            vmin=top - 80,
            vmax=top,
            extent=(0.0, seconds, 0.0, sample_rate / 2),
        )
        axis.set_title(title)
        axis.set_ylabel("frequency (Hz)")
        figure.colorbar(image, ax=axis, label="dB")
    axes[-1].set_xlabel("time (s)")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    pyplot.close(figure)
    return buffer.getvalue()


class ReconstructionDemos(pl.Callback):
    """Every `every` steps (right after the first, as upstream) and at the end, on global rank 0."""

    def __init__(
        self,
        clips: Tensor,
        folder: Path,
        *,
        every: int,
        sample_rate: int,
        metrics: dict[str, Callable[[Tensor, Tensor], Tensor]],
    ) -> None:
        self.clips = clips[:MAX_DEMOS]  # [N, C, T]
        self.folder = Path(folder)
        self.every = every
        self.sample_rate = sample_rate
        self.metrics = metrics
        self.last_round: int | None = None
        self.history: list[dict[str, float]] = []

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        step = trainer.global_step
        if step == self.last_round or step < 1 or (step - 1) % self.every != 0:
            return
        self.render(trainer, pl_module, step)

    def on_train_end(self, trainer: pl.Trainer, pl_module: Any) -> None:
        if trainer.global_step >= 1 and trainer.global_step != self.last_round:
            self.render(trainer, pl_module, trainer.global_step)

    def render(self, trainer: pl.Trainer, pl_module: Any, step: int) -> dict[str, float]:
        self.last_round = step
        if not trainer.is_global_zero:
            return {}
        was_training = pl_module.training
        pl_module.eval()
        try:
            reals = self.clips.to(pl_module.device)
            decoded = pl_module.reconstruct(reals)  # [N, C, T]
            with torch.no_grad():
                values = {name: float(metric(decoded, reals)) for name, metric in self.metrics.items()}
        finally:
            pl_module.train(was_training)
        folder = self.folder / step_name(step)
        reals, decoded = reals.cpu(), decoded.cpu()
        for index in range(len(reals)):
            stem = folder / f"recon_{index}"
            for suffix, audio in (
                ("input", reals[index]),
                ("output", decoded[index]),
                ("difference", decoded[index] - reals[index]),
            ):
                write_bytes_atomic(folder / f"recon_{index}_{suffix}.wav", _wav(audio, self.sample_rate))
            figure = spectrogram_figure(reals[index], decoded[index], self.sample_rate)
            if figure is None:  # no matplotlib: the plain image, without axes
                figure = png_bytes(spectrogram_image(decoded[index], self.sample_rate))
            write_bytes_atomic(stem.with_suffix(".png"), figure)
        record = {"step": step, **values}
        self.folder.mkdir(parents=True, exist_ok=True)
        self.history.append(record)
        with open(self.folder / "metrics.jsonl", "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
        for logger in trainer.loggers:
            logger.log_metrics({f"demo/{name}": value for name, value in values.items()}, step=step)
        return values


def _wav(audio: Tensor, sample_rate: int) -> bytes:
    """Unnormalised 16-bit audio (input, output and difference keep their relative levels), clipped to [-1, 1]."""
    import io

    import soundfile

    samples = torch.nan_to_num(audio.float()).clamp(-1, 1).numpy().T  # [T, C]
    buffer = io.BytesIO()
    soundfile.write(buffer, np.ascontiguousarray(samples), sample_rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()
