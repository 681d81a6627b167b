"""Figures a person reads at a glance: spectrograms with time (s) and frequency (Hz) axes and a dB colour bar, and
the demo report (per demo: a training example beside the generated clips, plus the loss curve).

matplotlib is optional (the `plots` extra; `make demo` installs it): without it, spectrograms fall back to the
bare image of `demos.spectrogram_image` and no report is drawn.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DYNAMIC_RANGE_DB = 80.0
LOSS_FILE = "loss.csv"


def have_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _mono(audio: object) -> np.ndarray:
    """Any [T], [C, T] tensor or array as a finite float64 mono signal [T]."""
    array = audio.detach().float().cpu().numpy() if hasattr(audio, "detach") else np.asarray(audio)
    array = np.nan_to_num(array.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    return array.reshape(-1, array.shape[-1]).mean(0) if array.ndim > 1 else array


def spectrogram_db(audio: object, sample_rate: int) -> tuple[np.ndarray, float, float]:
    """(levels [F, N] in dB re full scale, duration in s, Nyquist in Hz) from ~32 ms Hann frames, 75 % overlap.
    A full-scale sine reads about 0 dB."""
    mono = _mono(audio)
    n_fft = max(64, 2 ** round(math.log2(0.032 * sample_rate)))
    hop = n_fft // 4
    padded = np.pad(mono, (n_fft // 2, n_fft // 2 + max(0, n_fft - len(mono))))
    count = 1 + (len(padded) - n_fft) // hop
    index = np.arange(n_fft)[None, :] + hop * np.arange(count)[:, None]  # [N, n_fft]
    window = np.hanning(n_fft)
    magnitude = np.abs(np.fft.rfft(padded[index] * window, axis=1)) * (2 / window.sum())  # [N, F]
    return 20 * np.log10(np.maximum(magnitude.T, 1e-10)), len(mono) / sample_rate, sample_rate / 2


def _draw_spectrogram(axes, levels: np.ndarray, duration: float, nyquist: float, top: float):
    return axes.imshow(
        levels,
        origin="lower",
        aspect="auto",
        cmap="magma",
        extent=(0, duration, 0, nyquist),
        vmin=top - DYNAMIC_RANGE_DB,
        vmax=top,
        interpolation="nearest",
    )


def _png(figure) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return buffer.getvalue()


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)  # files only, never a window (and no display needed)
    import matplotlib.pyplot as plt

    return plt


def _mark_spans(axes, spans: Sequence[tuple[float, float]]) -> None:
    """Outline the generated regions of an inpainted clip (start, end in seconds) on a spectrogram."""
    for start, end in spans:
        axes.axvspan(start, end, facecolor="none", edgecolor="cyan", linewidth=1.2, linestyle="--")


def spectrogram_png(
    audio: object, sample_rate: int, *, title: str | None = None, spans: Sequence[tuple[float, float]] = ()
) -> bytes:
    """One spectrogram with labelled axes and a dB colour bar, as PNG bytes (the bare image without matplotlib).
    `spans`: regions the model generated around known audio (inpainting), outlined."""
    if not have_matplotlib():
        import torch

        from audiodiff.runtime.demos import png_bytes, spectrogram_image

        return png_bytes(spectrogram_image(torch.as_tensor(_mono(audio))[None], sample_rate))
    plt = _pyplot()
    levels, duration, nyquist = spectrogram_db(audio, sample_rate)
    figure = plt.figure(figsize=(6, 3.2))
    layout = _Margins(figure, left=0.75, right=1.15, top=0.35 if title else 0.15, bottom=0.5)
    axes = figure.add_axes(layout.box(0.0, 0.0, 1.0, 1.0))
    image = _draw_spectrogram(axes, levels, duration, nyquist, float(levels.max()))
    _mark_spans(axes, spans)
    axes.set_xlabel("time (s)")
    axes.set_ylabel("frequency (Hz)")
    if title:
        axes.set_title(title, fontsize=10)
    figure.colorbar(image, cax=figure.add_axes(layout.colour_bar()), label="level (dB re full scale)")
    return _png(figure)


class _Margins:
    """Axes placed at fixed margins given in inches. matplotlib's constrained layout finds the margins by measuring
    every label, which costs a second full draw: half of each figure's time, on every demo round."""

    def __init__(self, figure, *, left: float, right: float, top: float, bottom: float) -> None:
        self.width, self.height = figure.get_size_inches()
        self.left, self.right, self.top, self.bottom = left, right, top, bottom

    def box(self, x: float, y: float, w: float, h: float) -> tuple[float, float, float, float]:
        """Figure fractions of the rectangle (x, y, w, h) given as fractions of the area inside the margins."""
        inner_w = self.width - self.left - self.right
        inner_h = self.height - self.top - self.bottom
        return (
            (self.left + x * inner_w) / self.width,
            (self.bottom + y * inner_h) / self.height,
            w * inner_w / self.width,
            h * inner_h / self.height,
        )

    def colour_bar(self, y: float = 0.0, h: float = 1.0) -> tuple[float, float, float, float]:
        """A 0.15 in wide bar 0.2 in right of the area inside the margins (its label goes in the right margin)."""
        inner_h = self.height - self.top - self.bottom
        x = self.width - self.right + 0.2
        return x / self.width, (self.bottom + y * inner_h) / self.height, 0.15 / self.width, h * inner_h / self.height


# --- the report -----------------------------------------------------------------------------------------------------


@dataclass
class ReportRow:
    """One line of the report: a training example (None when none was seen) beside generated clips."""

    label: str
    training: object | None
    generated: Sequence[tuple[str, object]] = field(default_factory=list)  # (caption, audio)
    training_caption: str = "training example"
    spans: list[tuple[float, float]] = field(default_factory=list)  # generated regions (inpainting), outlined


def report_png(
    rows: Sequence[ReportRow], losses: Sequence[tuple[int, float]], sample_rate: int, *, title: str = ""
) -> bytes:
    """Per row a training example and the generated clips as spectrograms on one shared dB scale, then the loss
    curve; PNG bytes. Needs matplotlib."""
    plt = _pyplot()
    columns = 1 + max((len(row.generated) for row in rows), default=1)
    # inches: every spectrogram 2.2 wide and 1.65 high with 0.55 between columns (tick labels) and 0.65 between
    # rows (an x label and the next title); the loss curve 1.6 high below them; the first row's titles and the
    # figure's title in the top margin
    cell_w, cell_h, gap_w, gap_h, loss_h = 2.2, 1.65, 0.55, 0.65, 1.6
    width = columns * cell_w + (columns - 1) * gap_w
    height = len(rows) * (cell_h + gap_h) + loss_h
    margins = {"left": 0.95, "right": 1.15, "top": 0.3 + (0.35 if title else 0.0), "bottom": 0.55}
    figure = plt.figure(
        figsize=(width + margins["left"] + margins["right"], height + margins["top"] + margins["bottom"])
    )
    layout = _Margins(figure, **margins)
    spectra = [
        [
            spectrogram_db(clip, sample_rate) if clip is not None else None
            for clip in [row.training] + [audio for _, audio in row.generated]
        ]
        for row in rows
    ]
    top = max((float(s[0].max()) for line in spectra for s in line if s is not None), default=0.0)
    image = None
    for r, (row, line) in enumerate(zip(rows, spectra, strict=False)):
        captions = [row.training_caption] + [caption for caption, _ in row.generated]
        y = height - r * (cell_h + gap_h) - cell_h  # bottom of this row, inches above the loss curve's
        for c, (caption, found) in enumerate(zip(captions, line, strict=False)):
            axes = figure.add_axes(
                layout.box(c * (cell_w + gap_w) / width, y / height, cell_w / width, cell_h / height)
            )
            if found is None:
                axes.text(0.5, 0.5, "no training example\nseen yet", ha="center", va="center", fontsize=9)
                axes.set_xticks([])
                axes.set_yticks([])
            else:
                image = _draw_spectrogram(axes, *found, top)
                _mark_spans(axes, row.spans)
                axes.set_xlabel("time (s)", fontsize=8, labelpad=1)
                axes.tick_params(labelsize=7)
            axes.set_title(caption, fontsize=8)
            if c == 0:
                axes.set_ylabel(f"{row.label}\nfrequency (Hz)", fontsize=9)
    if image is not None:
        spectrograms = (height - len(rows) * (cell_h + gap_h) + gap_h) / height  # where the spectrograms begin
        bar = figure.add_axes(layout.colour_bar(spectrograms + 0.1 * (1 - spectrograms), 0.8 * (1 - spectrograms)))
        figure.colorbar(image, cax=bar, label="level (dB re full scale)")
    _draw_losses(figure.add_axes(layout.box(0.0, 0.0, 1.0, loss_h / height)), losses)
    if title:
        figure.suptitle(title, fontsize=11, y=1 - 0.06 / figure.get_size_inches()[1], va="top")
    return _png(figure)


def _draw_losses(axes, losses: Sequence[tuple[int, float]]) -> None:
    finite = [(step, value) for step, value in losses if math.isfinite(value) and value > 0]
    axes.set_xlabel("optimizer step")
    axes.set_ylabel("training loss (MSE)")
    if not finite:
        axes.text(0.5, 0.5, "no loss recorded", ha="center", va="center", transform=axes.transAxes)
        return
    steps = np.array([s for s, _ in finite])
    values = np.array([v for _, v in finite])
    axes.plot(steps, values, color="0.75", linewidth=0.8, label="per step")
    width = max(1, len(values) // 30)
    if width > 1:  # a centred moving average shows the trend through the batch-to-batch noise
        smooth = np.convolve(values, np.ones(width) / width, mode="valid")
        axes.plot(steps[width // 2 : width // 2 + len(smooth)], smooth, color="C0", label=f"mean of {width}")
    axes.set_yscale("log")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(loc="upper right", fontsize=8)


# --- the loss history the report draws ------------------------------------------------------------------------------


class LossHistory:
    """(step, loss) pairs in bounded memory: past `limit` pairs, every other one is dropped and only every
    `stride`-th step is kept from then on, so a long run keeps an even sample of its whole curve."""

    def __init__(self, limit: int = 2000) -> None:
        self.limit = limit
        self.stride = 1
        self.pairs: list[tuple[int, float]] = []

    def append(self, step: int, loss: float) -> None:
        if step % self.stride:
            return
        self.pairs.append((step, loss))
        if len(self.pairs) > self.limit:
            self.stride *= 2
            self.pairs = [pair for pair in self.pairs if pair[0] % self.stride == 0]

    def __iter__(self):
        return iter(self.pairs)

    def __len__(self) -> int:
        return len(self.pairs)


def loss_csv(pairs: Iterable[tuple[int, float]]) -> bytes:
    lines = ["step,loss"] + [f"{step},{value:.6g}" for step, value in pairs]
    return ("\n".join(lines) + "\n").encode()


def read_loss_history(folder: Path) -> list[tuple[int, float]]:
    """The (step, loss) pairs the demos wrote to `FOLDER/loss.csv` (empty when there is none)."""
    path = Path(folder) / LOSS_FILE
    if not path.is_file():
        return []
    with path.open() as handle:
        return [(int(row["step"]), float(row["loss"])) for row in csv.DictReader(handle)]
