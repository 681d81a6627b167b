"""What a run shows: a one-screen summary before the first step, a progress bar in optimizer steps (loss, steps per
second, time left), and a closing line with the first and final loss."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import TQDMProgressBar


class RunProgressBar(TQDMProgressBar):
    """Counts optimizer steps toward `max_steps` (continuing from the restored step after a resume), shows the loss
    and the learning rate, and leaves out Lightning's epoch number and logger version."""

    @property
    def train_description(self) -> str:
        return "train"

    def init_train_tqdm(self) -> Any:
        bar = super().init_train_tqdm()
        bar.unit = "step"
        if not sys.stderr.isatty():
            bar.mininterval = 15.0  # a log file gets a line every few seconds of training, not every step
        return bar

    def on_train_epoch_start(self, trainer: pl.Trainer, *_: Any) -> None:
        bar = self.train_progress_bar
        bar.reset(total=trainer.max_steps if trainer.max_steps and trainer.max_steps > 0 else None)
        bar.initial = trainer.global_step  # rate and time left count only the steps of this run
        bar.n = trainer.global_step

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        bar = self.train_progress_bar
        if bar is None or bar.disable:
            return
        step = trainer.global_step
        if step != bar.n and (step % max(self.refresh_rate, 1) == 0 or step == bar.total):
            bar.set_postfix(self.get_metrics(trainer, pl_module), refresh=False)
            bar.update(step - bar.n)  # redraws (at most every `mininterval`), postfix included

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: Any) -> None:
        if self.train_progress_bar is not None and not self.train_progress_bar.disable:
            self.train_progress_bar.set_postfix(self.get_metrics(trainer, pl_module))

    def get_metrics(self, trainer: pl.Trainer, pl_module: Any) -> dict[str, Any]:
        metrics = dict(trainer.progress_bar_metrics)
        shown: dict[str, Any] = {}
        if "train/loss" in metrics:
            shown["loss"] = f"{float(metrics['train/loss']):.4f}"
        if trainer.optimizers:
            shown["lr"] = f"{trainer.optimizers[0].param_groups[0]['lr']:.2e}"
        return shown


@dataclass(frozen=True)
class SummaryLine:
    label: str
    text: str


def render_summary(title: str, lines: Sequence[SummaryLine]) -> str:
    width = max(len(line.label) for line in lines) if lines else 0
    body = "\n".join(f"  {line.label:<{width}}  {line.text}" for line in lines)
    return f"{title}\n{body}\n"


def count(value: int) -> str:
    """1234567 -> `1.23M`."""
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if value >= limit:
            return f"{value / limit:.2f}{suffix}"
    return str(value)
