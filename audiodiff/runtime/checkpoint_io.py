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
from audiodiff.runtime.outputs import (
    NonFiniteOutput,
    non_finite_parameters,
    write_failure,
)
from audiodiff.runtime.run_folder import (  # noqa: F401 (part of this module's interface)
    CHECKPOINT_PATTERN,
    checkpoint_path,
    exported_path,
    latest_checkpoint,
    list_checkpoints,
)

_EXPORTED_PATTERN = re.compile(r"^step_(\d+)\.safetensors$")
_TEMPORARY_PATTERN = re.compile(r"^\.step_\d+\.(ckpt|safetensors)\..*\.tmp$")


def remove_temporaries(folder: Path) -> list[Path]:
    """Delete the temporary files of writes that never finished (a killed run), and the exported weights whose
    checkpoint pruning had already deleted when the run was killed; returns what was removed."""
    folder = Path(folder)
    removed = []
    if folder.is_dir():
        for path in folder.iterdir():
            if _TEMPORARY_PATTERN.match(path.name):
                path.unlink(missing_ok=True)
                removed.append(path)
        removed.extend(_remove_orphans(folder))
    return removed


def _remove_orphans(folder: Path) -> list[Path]:
    """`step_<N>.safetensors` without its `step_<N>.ckpt`, older than the newest checkpoint: only pruning leaves
    that (a newer export without its checkpoint cannot happen: the checkpoint is written first)."""
    steps = {step for step, _ in list_checkpoints(folder)}
    if not steps:
        return []
    removed = []
    for path in folder.iterdir():
        match = _EXPORTED_PATTERN.match(path.name)
        if match and int(match.group(1)) not in steps and int(match.group(1)) < max(steps) and path.is_file():
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

    def load_checkpoint(
        self, path: Any, map_location: Any | None = None, weights_only: bool | None = None
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

    def __init__(
        self,
        folder: Path,
        *,
        every: int,
        keep: int,
        embed: dict[str, Any],
        export: Exporter | None = None,
        stop: StopRequest | None = None,
        accumulate_grad_batches: int = 1,
    ) -> None:
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
        # weights that went non-finite are never written as a result (every rank decides together)
        bad = non_finite_parameters(pl_module)
        if agree(trainer, bool(bad)):
            shown = ", ".join(f"`{name}`" for name in bad[:5]) or "another process's weights"
            raise NonFiniteOutput(
                f"the weights hold NaN or infinite values at step {step} ({shown}); "
                "no checkpoint was written for this step"
            )
        target = path
        try:
            trainer.save_checkpoint(path, weights_only=False)  # every rank takes part; global rank 0 writes
            self.last_saved = step
            if trainer.is_global_zero:
                if self.export is not None:
                    target = exported_path(self.folder, step)
                    self.export(pl_module, target)
                self.saved.append(path)
                self.prune()
        except (OSError, RuntimeError) as error:
            failure = write_failure(error, target)
            if failure is None:
                raise
            raise failure from error
        return path

    def prune(self) -> None:
        # the export goes first: a kill between the two leaves a checkpoint that the next prune removes, not an
        # orphaned export (which `remove_temporaries` also clears at the next start)
        for step, path in list_checkpoints(self.folder)[: -self.keep]:
            exported_path(self.folder, step).unlink(missing_ok=True)
            path.unlink(missing_ok=True)
