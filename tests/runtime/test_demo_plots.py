"""Demo figures: spectrograms with axes and a colour bar, the per-round report, the bounded loss history, and the
demo schedule (no round at step 1, rounds on the multiples of `demo_every` and after the last step)."""

from __future__ import annotations

import struct
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from audiodiff.nn.objectives import objective_named
from audiodiff.runtime.data import TrainingBatch
from audiodiff.runtime.demo_plots import (
    LossHistory,
    ReportRow,
    loss_csv,
    read_loss_history,
    report_png,
    spectrogram_db,
    spectrogram_png,
)
from audiodiff.runtime.demos import DemoCallback, DemoSettings, describe

pytest.importorskip("matplotlib")


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_spectrogram_levels_are_in_db_of_full_scale_at_the_right_frequency():
    rate = 8000
    t = np.arange(rate) / rate
    levels, duration, nyquist = spectrogram_db(0.5 * np.sin(2 * np.pi * 1000 * t), rate)  # [F, N]
    assert duration == pytest.approx(1.0) and nyquist == 4000
    frequencies = np.linspace(0, nyquist, levels.shape[0])
    middle = levels[:, levels.shape[1] // 2]
    assert frequencies[middle.argmax()] == pytest.approx(1000, abs=20)
    assert middle.max() == pytest.approx(20 * np.log10(0.5), abs=1.0)  # -6 dB for half of full scale


def test_a_spectrogram_png_is_a_labelled_figure_not_a_bare_image():
    audio = torch.randn(1, 4000) * 0.1
    width, height = _png_size(spectrogram_png(audio, 4000, title="noise"))
    assert (width, height) == (600, 320)  # 6 x 3.2 inches at 100 dpi: room for axes, labels and the colour bar


def test_the_report_has_a_row_per_demo_and_a_column_per_clip_plus_the_loss_curve():
    rate = 4000
    t = np.arange(rate) / rate
    tone = np.sin(2 * np.pi * 440 * t)
    rows = [
        ReportRow("class=tone", tone, [("cfg 1", tone * 0.5), ("cfg 4", tone)]),
        ReportRow("class=noise", None, [("cfg 1", np.random.default_rng(0).standard_normal(rate) * 0.1)]),
    ]
    losses = [(step, 1.0 / step) for step in range(1, 200)]
    small = _png_size(report_png(rows, losses, rate, title="step 10"))
    wider = _png_size(report_png([ReportRow("a", tone, [("x", tone)] * 4)], [], rate))
    assert small[1] > wider[1]  # two rows are taller than one
    assert wider[0] > small[0]  # five columns are wider than three


def test_the_loss_history_stays_bounded_and_covers_the_whole_run(tmp_path: Path):
    history = LossHistory(limit=100)
    for step in range(1, 10_001):
        history.append(step, 1.0 / step)
    steps = [step for step, _ in history]
    assert len(history) <= 100
    assert steps[0] <= 128 and steps[-1] >= 10_000 - 128  # an even sample from start to end
    assert len(set(np.diff(steps))) == 1
    (tmp_path / "loss.csv").write_bytes(loss_csv(history))
    assert read_loss_history(tmp_path) == [(step, pytest.approx(value, rel=1e-5)) for step, value in history]
    assert read_loss_history(tmp_path / "missing") == []


def _settings(every: int) -> DemoSettings:
    cond = (
        {"class": "tone", "seconds_start": 0, "seconds_total": 1},
        {"class": "noise", "seconds_start": 0, "seconds_total": 1},
    )
    return DemoSettings(
        every=every,
        steps=2,
        num_demos=2,
        cond=cond,
        cfg_scales=(1.0, 3.0),
        sample_size=64,
        sample_rate=4000,
        objective=objective_named("v"),
    )


class _Recording(DemoCallback):
    def __init__(self, settings: DemoSettings, folder: Path) -> None:
        super().__init__(settings, folder)
        self.calls: list[tuple[str, int]] = []

    def smoke_check(self, trainer, pl_module) -> None:
        self.calls.append(("smoke", trainer.global_step))

    def render(self, trainer, pl_module, step: int) -> list[Path]:
        self.last_round = step
        self.calls.append(("round", step))
        return []


def test_demo_rounds_skip_step_one_and_fall_on_multiples_and_the_last_step(tmp_path: Path):
    callback = _Recording(_settings(every=4), tmp_path)
    trainer = SimpleNamespace(global_step=0)
    metadata = [{"class": "noise", "seconds_start": 0, "seconds_total": 1}]
    for step in range(1, 11):
        trainer.global_step = step
        batch = TrainingBatch(torch.full((1, 1, 64), float(step)), metadata, step)
        callback.on_train_batch_end(trainer, None, {"loss": torch.tensor(1.0 / step)}, batch, step)
    callback.on_train_end(trainer, None)
    assert callback.calls == [("smoke", 1), ("round", 4), ("round", 8), ("round", 10)]
    assert [step for step, _ in callback.losses] == list(range(1, 11))
    # the first training clip of the demo's class is kept for the report; no `tone` clip was seen
    assert sorted(callback.examples) == [1] and float(callback.examples[1][0, 0]) == 1.0


def test_report_rows_pair_each_demo_with_its_training_example_and_its_clips(tmp_path: Path):
    settings = _settings(every=2)
    callback = DemoCallback(settings, tmp_path / "demos")
    callback.losses.append(1, 1.0)
    callback.losses.append(2, 0.5)
    callback.examples[0] = torch.randn(1, 64)
    audio = {scale: torch.randn(2, 1, 64) * 0.1 for scale in settings.cfg_scales}
    rows = callback.report_rows(audio)
    assert [row.label for row in rows] == ["class=tone", "class=noise"]
    assert rows[0].training is not None and rows[1].training is None
    assert [caption for caption, _ in rows[0].generated] == ["generated, CFG 1", "generated, CFG 3"]
    assert describe({"class": "tone", "seconds_start": 0, "seconds_total": 1}) == "class=tone"
    assert describe({"seconds_total": 1}) == "unconditional"
