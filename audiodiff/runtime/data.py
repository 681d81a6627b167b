"""Training data: folders of audio files and folders of pre-encoded latents, as stable-audio-tools reads them.

Audio (`audio_dir`): soundfile reads wav / flac / ogg (and what else libsndfile knows); files are resampled to the
model's rate with soxr, mixed to the model's channel count, and randomly cropped or zero-padded to `sample_size`
with a padding mask; `seconds_start` / `seconds_total` describe the crop as upstream's `PadCrop_Normalized_T` does
(spec §6.6). Conditioning values come from a `<name>.json` beside each file or from a JSON Lines manifest, and
optionally from the `custom_metadata_module` of the file's own dataset (only when the run opted in).

Latents (`pre_encoded`): `.npy` arrays [C, N] with their metadata beside each (`a.wav.npy` -> `a.wav.json`: the
latent extension is replaced, as upstream's reader does), as `audiodiff encode` (and upstream's `pre_encode.py`)
write them.

A scan reads only headers; files that cannot be read are skipped and counted, never fatal. Every random choice of
an item (the crop) is a pure function of the run seed and the item's position in the training stream, so a
resumed run sees exactly the data an uninterrupted one would have seen.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from audiodiff.runtime.cropping import latent_window, read_crop
from audiodiff.runtime.scan import (  # noqa: F401 (the scans are part of this module's interface)
    AUDIO_EXTENSIONS,
    METADATA_FUNCTION,
    DataFile,
    DataScan,
    MetadataModule,
    SkippedFile,
    first_line,
    resolve_file,
    resolve_folder,
    scan_audio,
    scan_latents,
)

# --- datasets ------------------------------------------------------------------------------------------------------


class StreamKey(NamedTuple):
    """What the stream sampler hands the dataset: which file, where in the stream, and in which batch."""

    file_index: int  # not `index`: a NamedTuple field of that name hides tuple.index
    position: int
    batch: int


class ItemError(Exception):
    """An item that cannot be used (unreadable data, or a failing metadata module)."""


class NoUsableItem(RuntimeError):
    """Every file near an index failed: the data went bad after the scan (or a metadata module rejects all)."""


class _StreamDataset(torch.utils.data.Dataset):
    """Resolves a key to an item; an unusable file is reported once and replaced by the next usable one."""

    def __init__(
        self, files: list[DataFile], *, seed: int, metadata_modules: Mapping[str, MetadataModule] | None
    ) -> None:
        if not files:
            raise ValueError("a dataset needs at least one file")
        self.files = files
        self.seed = seed
        self.metadata_modules = dict(metadata_modules or {})  # dataset id -> that dataset's module
        self.failures: dict[str, str] = {}  # path -> reason (this process only)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, key: StreamKey | int) -> tuple[Tensor, dict[str, Any], int]:
        if not isinstance(key, StreamKey):
            key = StreamKey(int(key), int(key), -1)
        for attempt in range(min(len(self.files), 64)):
            entry = self.files[(key.file_index + attempt) % len(self.files)]
            try:
                data, info = self.load(entry, np.random.default_rng([self.seed, key.position, attempt]))
                module = self.metadata_modules.get(entry.dataset_id)
                if module is not None:
                    try:
                        info.update(module(info, data))
                    except Exception as error:  # the user's code: a failing item is skipped, not fatal
                        raise ItemError(f"the metadata module failed: {type(error).__name__}: {error}") from error
                    if info.pop("__reject__", False):
                        continue  # a deliberate choice of the module, not a fault: no warning
            except (ItemError, OSError, RuntimeError, ValueError) as error:
                if entry.path not in self.failures:
                    self.failures[entry.path] = first_line(error)
                    warnings.warn(f"skipping `{entry.path}`: {first_line(error)}", RuntimeWarning, stacklevel=2)
                continue
            info["stream_position"] = key.position
            return data, info, key.batch
        raise NoUsableItem(
            f"no usable item near index {key.file_index}: every file tried failed to load "
            f"(first: {next(iter(self.failures.values()), 'rejected by the metadata module')})"
        )

    def load(self, entry: DataFile, rng: np.random.Generator) -> tuple[Tensor, dict[str, Any]]:
        raise NotImplementedError


class AudioDataset(_StreamDataset):
    """Crops of `sample_size` samples at `sample_rate` with `channels` channels, plus their metadata."""

    def __init__(
        self,
        files: list[DataFile],
        *,
        sample_rate: int,
        sample_size: int,
        channels: int,
        random_crop: bool,
        seed: int = 0,
        metadata_modules: Mapping[str, MetadataModule] | None = None,
    ) -> None:
        super().__init__(files, seed=seed, metadata_modules=metadata_modules)
        self.sample_rate = sample_rate
        self.sample_size = sample_size
        self.channels = channels
        self.random_crop = random_crop

    def load(self, entry: DataFile, rng: np.random.Generator) -> tuple[Tensor, dict[str, Any]]:
        audio, padding_mask, plan = read_crop(
            entry.path,
            entry.frames,
            entry.sample_rate,
            rate=self.sample_rate,
            size=self.sample_size,
            channels=self.channels,
            random_crop=self.random_crop,
            rng=rng,
            what="the file",
        )  # [C, sample_size], [sample_size]
        info = dict(entry.metadata)
        info.update(path=entry.path, relpath=entry.relpath, **plan.metadata(padding_mask))
        return audio, info


class LatentDataset(_StreamDataset):
    """Pre-encoded latents [C, crop_length] (cropped or zero-padded), plus their metadata."""

    def __init__(
        self,
        files: list[DataFile],
        *,
        crop_length: int,
        random_crop: bool,
        seed: int = 0,
        metadata_modules: Mapping[str, MetadataModule] | None = None,
    ) -> None:
        super().__init__(files, seed=seed, metadata_modules=metadata_modules)
        self.crop_length = crop_length
        self.random_crop = random_crop

    def load(self, entry: DataFile, rng: np.random.Generator) -> tuple[Tensor, dict[str, Any]]:
        latents = torch.from_numpy(np.array(np.load(entry.path, allow_pickle=False), dtype=np.float32))  # [C, N]
        if latents.dim() != 2:
            raise ItemError(f"latents must be [channels, frames], got {list(latents.shape)}")
        if not torch.isfinite(latents).all():
            raise ItemError("the latents hold NaN or infinite values")
        crop, padding_mask = latent_window(
            latents, entry.metadata.get("padding_mask"), size=self.crop_length, random_crop=self.random_crop, rng=rng
        )  # [C, crop_length], [crop_length]
        info = dict(entry.metadata)
        info.update(path=entry.path, relpath=entry.relpath, padding_mask=padding_mask)
        return crop, info


# --- the training stream -------------------------------------------------------------------------------------------


class StreamBatchSampler(torch.utils.data.Sampler):
    """Endless batches of keys: each epoch is a fresh permutation of the files (seeded by seed and epoch).

    Rank r of W takes global positions [(n W + r) B, (n W + r + 1) B) for its n-th batch, so ranks read disjoint
    shards of one stream, and batch n of a run is the same whether or not the run was resumed before it.
    """

    def __init__(
        self,
        size: int,
        batch_size: int,
        *,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        start_batch: int = 0,
        shuffle: bool = True,
    ) -> None:
        if size < 1 or batch_size < 1:
            raise ValueError("a stream needs at least one file and a positive batch size")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside a world of {world_size}")
        self.size = size
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.start_batch = start_batch
        self.shuffle = shuffle
        self._epoch = -1
        self._permutation: list[int] = []

    def index_at(self, position: int) -> int:
        epoch, slot = divmod(position, self.size)
        if not self.shuffle:
            return slot
        if epoch != self._epoch:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._permutation = torch.randperm(self.size, generator=generator).tolist()
            self._epoch = epoch
        return self._permutation[slot]

    def batch_keys(self, batch: int) -> list[StreamKey]:
        first = (batch * self.world_size + self.rank) * self.batch_size
        return [StreamKey(self.index_at(p), p, batch) for p in range(first, first + self.batch_size)]

    def __iter__(self) -> Iterator[list[StreamKey]]:
        batch = self.start_batch
        while True:
            yield self.batch_keys(batch)
            batch += 1


class TrainingBatch(NamedTuple):
    data: Tensor  # [B, C, T] audio, or [B, C, L] latents
    metadata: list[dict[str, Any]]  # one dict per item: conditioning values, padding_mask, seconds_*, path
    batch: int  # the batch's number in this rank's stream (-1 outside a stream)
    # (name, reason) of what a shard stream skipped as unreadable since its previous batch (shard_data.py)
    skipped: tuple[tuple[str, str], ...] = ()


def collate(items: list[tuple[Tensor, dict[str, Any], int]]) -> TrainingBatch:
    return TrainingBatch(torch.stack([item[0] for item in items]), [item[1] for item in items], items[0][2])


def ignore_interrupts(_worker_id: int) -> None:
    """Data-loader workers leave Ctrl-C to the main process, which stops the run cleanly."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def make_loader(
    dataset: _StreamDataset, sampler: StreamBatchSampler, *, num_workers: int
) -> torch.utils.data.DataLoader:
    return torch.utils.data.DataLoader(
        dataset,
        batch_sampler=sampler,
        collate_fn=collate,
        num_workers=num_workers,
        worker_init_fn=ignore_interrupts if num_workers > 0 else None,
        persistent_workers=num_workers > 0,
        pin_memory=False,
    )
