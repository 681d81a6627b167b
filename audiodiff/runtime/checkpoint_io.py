"""Checkpoints during training: atomic Lightning checkpoints for resuming, exported released-layout weights beside
them, the last K of each kept.

Every file is written to a temporary name in the same folder, flushed to disk, and renamed over its final name,
so a crash or SIGKILL at any moment leaves either the old file or the new one, never half of one; temporaries a
killed run left behind are removed when the next run starts. Files are `step_<N>.ckpt` (resume state:
`diffusion.*`, `diffusion_ema.*`, optimizer, scheduler, loop counters, and the config under `model_config`) and
`step_<N>.safetensors` (the model in stable-audio-tools' released layout, EMA backbone when there is one).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from audiodiff.runtime.atomic import atomic_output
from audiodiff.runtime.faults import StopRequest, agree
from audiodiff.runtime.run_folder import (  # noqa: F401 (part of this module's interface)
    CHECKPOINT_PATTERN,
    checkpoint_path,
    exported_path,
    latest_checkpoint,
    list_checkpoints,
)

_TEMPORARY_PATTERN = re.compile(r"^\.step_\d+\.(ckpt|safetensors)\..*\.tmp$")


def remove_temporaries(folder: Path) -> list[Path]:
    """Delete the temporary files of writes that never finished (a killed run); returns what was removed."""
    folder = Path(folder)
    removed = []
    if folder.is_dir():
        for path in folder.iterdir():
            if _TEMPORARY_PATTERN.match(path.name):
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed


def save_atomic(payload: Any, path: Path) -> None:
    """torch.save through `atomic_output`: a temporary file beside `path`, synced, then renamed over it."""
    with atomic_output(path) as temporary:
        torch.save(payload, temporary)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint IO with crash-safe writes, and weights-only reads (a checkpoint is data, not code)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO takes no storage options")
        save_atomic(checkpoint, Path(path))

    def load_checkpoint(self, path: Any, map_location: Any | None = None, weights_only: bool | None = None
                        ) -> dict[str, Any]:
        location = map_location if map_location is not None else "cpu"
        return torch.load(Path(path), map_location=location, weights_only=True)

    def remove_checkpoint(self, path: Any) -> None:
        Path(path).unlink(missing_ok=True)


def read_training_checkpoint(path: Path) -> dict[str, Any]:
    """A Lightning checkpoint as plain data (weights-only); raises OSError / RuntimeError / ValueError when the file
    is unreadable."""
    import zipfile

    from audiodiff.runtime.checkpoint_header import embedded_config

    path = Path(path)
    # memory-mapped when the file is a zip (the format torch.save writes); the legacy format cannot be mapped
    payload = torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    if not isinstance(payload, dict) or not isinstance(payload.get("state_dict"), dict):
        raise ValueError("not a Lightning training checkpoint (no `state_dict`)")
    if not all(isinstance(key, str) for key in payload["state_dict"]):
        raise ValueError("the checkpoint's `state_dict` has keys that are not strings")
    if "model_config" in payload:
        payload["model_config"] = embedded_config(payload["model_config"])  # HeaderError (a ValueError) if unusable
    return payload


Exporter = Callable[[Any, Path], None]  # (LightningModule, path) -> writes released-layout weights


class CheckpointCallback(pl.Callback):
    """Saves every `every` optimizer steps, when a stop is requested (then stops), and after the last step;
    exports the model beside each checkpoint; keeps the newest `keep` of each."""

    def __init__(self, folder: Path, *, every: int, keep: int, embed: dict[str, Any],
                 export: Exporter | None = None, stop: StopRequest | None = None,
                 accumulate_grad_batches: int = 1) -> None:
        if every < 1 or keep < 1:
            raise ValueError("checkpoints need `every` >= 1 and `keep` >= 1")
        self.folder = Path(folder)
        self.every = every
        self.keep = keep
        self.embed = embed  # top-level entries added to every checkpoint (the config, its schema version, ...)
        self.export = export
        self.stop = stop
        self.accumulate = accumulate_grad_batches
        self.last_saved: int | None = None
        self.saved: list[Path] = []

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        if (batch_idx + 1) % self.accumulate != 0:
            return  # between the micro-batches of one optimizer step
        stopping = agree(trainer, self.stop is not None and self.stop.requested)
        step = trainer.global_step
        if stopping or step % self.every == 0:
            self.save(trainer, pl_module)
        if stopping:
            trainer.should_stop = True

    def on_train_end(self, trainer: pl.Trainer, pl_module: Any) -> None:
        if trainer.global_step > 0 and trainer.global_step != self.last_saved:
            self.save(trainer, pl_module)

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module: Any, checkpoint: dict[str, Any]) -> None:
        checkpoint.update(self.embed)

    def save(self, trainer: pl.Trainer, pl_module: Any) -> Path:
        step = trainer.global_step
        path = checkpoint_path(self.folder, step)
        trainer.save_checkpoint(path, weights_only=False)  # every rank takes part; global rank 0 writes
        self.last_saved = step
        if trainer.is_global_zero:
            if self.export is not None:
                self.export(pl_module, exported_path(self.folder, step))
            self.saved.append(path)
            self.prune()
        return path

    def prune(self) -> None:
        for step, path in list_checkpoints(self.folder)[: -self.keep]:
            path.unlink(missing_ok=True)
            exported_path(self.folder, step).unlink(missing_ok=True)
