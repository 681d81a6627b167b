"""Training batches streamed from WebDataset shards, through the `webdataset` library's tar reader.

The stream is cut into *slots*: data-loader worker k of K on rank r of W feeds slot r K + k of W K. Without
`resampled_shards`, each epoch deals a fresh permutation of all shards (seeded by the run seed and the epoch) to
the slots, shard i to slot i mod W K, so no item is seen twice in an epoch and every node, rank and worker reads
its own shards; a shuffle buffer (`shuffle_buffer` samples, seeded per slot and epoch) mixes items across the
slot's shards. With `resampled_shards` (upstream's default) each slot draws shards at random with replacement,
as upstream's `ResampledShards` does, so there is no epoch to speak of.

Batch n of a rank comes from slot n mod K (PyTorch hands batches out round-robin over its workers), as the
(n div K)-th batch of that slot. Resuming at batch S therefore restarts each slot at its own batch and skips the
raw samples it had consumed, reading but not decoding them: the resumed stream is the uninterrupted one exactly,
provided the number of workers and processes is unchanged and no member was skipped as unreadable before the
resume point (each such member shifts that slot's stream by one item). `resume_note` says so in the run summary.

Audio comes from the first member whose name ends in an audio kind upstream reads (flac, wav, mp3, m4a, ogg,
opus); metadata from the `json` member (a `text` value also becomes `prompt`, as upstream does). Pre-encoded
shards hold `npy` latents [C, N] and a `json` with their `padding_mask`, as `audiodiff encode --format wds`
writes them. A member that cannot be decoded is skipped and reported by name; a shard that cannot be opened or
read is reported, and the run stops once more than `BAD_SHARD_FRACTION` of the shards a worker opened failed (at
least `BAD_SHARD_MINIMUM` of them); silent clips (peak below -60 dBFS) and items whose metadata says
`__reject__` are dropped, as upstream drops them.
"""

from __future__ import annotations

import itertools
import json
import random
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from audiodiff.runtime.data import TrainingBatch, ignore_interrupts
from audiodiff.runtime.scan import MetadataModule
from audiodiff.runtime.shard_decode import AudioCrop, LatentCrop, crop_audio, crop_latents
from audiodiff.runtime.shards import ShardSource, open_shard
from audiodiff.schema.v1.dataset import WebDatasetSpec
from audiodiff.schema.v1.root import ModelConfig

if TYPE_CHECKING:
    from audiodiff.runtime.preflight import Preflight

BAD_SHARD_FRACTION = 0.1
BAD_SHARD_MINIMUM = 3
SILENCE_PEAK = 1e-3  # -60 dBFS: upstream's `is_silence` threshold


class ShardFailure(RuntimeError):
    """Too many shards could not be read: the data, not the model, is broken."""


class SkippedSample(Exception):
    """A sample that is dropped on purpose (silence, `__reject__`): not a fault, not reported."""


@dataclass(frozen=True)
class StreamSettings:
    batch_size: int
    seed: int
    shuffle_buffer: int = 256
    resampled: bool = False


@dataclass
class ShardReport:
    """What the main process learnt of unreadable data: (name, reason) of skipped members and failed shards."""

    members: dict[str, str] = field(default_factory=dict)
    shards: dict[str, str] = field(default_factory=dict)

    def add(self, entries: tuple[tuple[str, str], ...]) -> None:
        for name, reason in entries:
            (self.shards if "#" not in name else self.members)[name] = reason

    def describe(self, shown: int = 5) -> str:
        parts = []
        for label, found in (("unreadable shard(s)", self.shards), ("skipped member(s)", self.members)):
            if found:
                listed = "; ".join(f"`{name}` ({reason})" for name, reason in list(found.items())[:shown])
                more = f"; and {len(found) - shown} more" if len(found) > shown else ""
                parts.append(f"{len(found)} {label}: {listed}{more}")
        return " | ".join(parts)


def slot_of(batch: int, worker: int, workers: int) -> tuple[int, int]:
    """(slot, the slot's batch index) of the first batch that worker `worker` of `workers` yields when the loader
    starts at rank batch `batch`."""
    return (batch + worker) % workers, (batch + worker) // workers


class ShardStream(torch.utils.data.IterableDataset):
    """Endless batches (`TrainingBatch`) of one rank, from `sources`, split as the module docstring says."""

    def __init__(
        self,
        sources: list[ShardSource],
        decode: AudioCrop | LatentCrop,
        settings: StreamSettings,
        *,
        rank: int = 0,
        world_size: int = 1,
        start_batch: int = 0,
        metadata_modules: Mapping[str, MetadataModule] | None = None,
    ) -> None:
        self.shards = [(url, source) for source in sources for url in source.urls]  # [(url, its source)]
        if len(self.shards) < world_size:
            raise ValueError(f"{len(self.shards)} shard(s) cannot feed {world_size} processes")
        self.decode = decode
        self.settings = settings
        self.rank = rank
        self.world_size = world_size
        self.start_batch = start_batch
        self.metadata_modules = dict(metadata_modules or {})
        self.workers = 1  # set by `make_shard_loader` before the workers start

    # --- the slot's raw samples -----------------------------------------------------------------------------------

    def _epochs(self, slot: int, slots: int) -> Iterator[Iterable[tuple[str, ShardSource]]]:
        """The slot's shards, epoch by epoch (resampled: one endless epoch of shards drawn at random)."""
        settings = self.settings
        if settings.resampled:
            rng = random.Random(f"{settings.seed}/{slot}")
            yield (rng.choice(self.shards) for _ in itertools.count())
            return
        epoch = 0
        while True:
            order = list(range(len(self.shards)))
            random.Random(f"{settings.seed}/epoch{epoch}").shuffle(order)
            yield [self.shards[i] for i in order[slot::slots]]
            epoch += 1

    def raw_samples(self, slot: int, slots: int, log: _SlotLog) -> Iterator[dict[str, Any]]:
        """The slot's endless stream of undecoded samples (members as bytes, `__url__`, `__key__`)."""
        from webdataset import shuffle
        from webdataset.tariterators import group_by_keys, tar_file_expander

        for epoch, shards in enumerate(self._epochs(slot, slots)):
            samples = group_by_keys(
                tar_file_expander(log.opened(shards), handler=log.shard_failed), handler=log.shard_failed
            )
            if self.settings.shuffle_buffer > 1:
                rng = random.Random(f"{self.settings.seed}/{slot}/{epoch}")
                buffer = self.settings.shuffle_buffer
                samples = shuffle(buffer, initial=max(1, buffer // 4), rng=rng)(samples)
            count = 0
            for sample in samples:
                count += 1
                yield sample
            if count == 0 and not self.settings.resampled:
                raise ShardFailure(f"no shard of slot {slot} could be read: {log.last_failure or 'all were empty'}")

    # --- batches --------------------------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[TrainingBatch]:
        info = torch.utils.data.get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        slot, first = slot_of(self.start_batch, worker, workers)
        slots = self.world_size * workers
        global_slot = self.rank * workers + slot
        log = _SlotLog()
        samples = self.raw_samples(global_slot, slots, log)
        for _ in range(first * self.settings.batch_size):  # resume: read past what this slot had consumed
            next(samples)
        position = first * self.settings.batch_size  # raw position in the slot's stream, seeds the crops
        batch = first
        items: list[tuple[Tensor, dict[str, Any]]] = []
        for sample in samples:
            position += 1
            try:
                items.append(self._decode(sample, np.random.default_rng([self.settings.seed, global_slot, position])))
            except SkippedSample:
                continue
            except Exception as error:  # a broken member, whatever the decoder raised: skipped and named
                name = f"{sample.get('__url__', '?')}#{sample.get('__key__', '?')}"
                log.member_failed(name, error)
                continue
            if len(items) == self.settings.batch_size:
                number = batch * workers + slot
                data = torch.stack([item[0] for item in items])  # [B, C, T] or [B, C, L]
                yield TrainingBatch(data, [item[1] for item in items], number, log.take())
                items = []
                batch += 1

    def _decode(self, sample: dict[str, Any], rng: np.random.Generator) -> tuple[Tensor, dict[str, Any]]:
        url, key = sample["__url__"], sample["__key__"]
        raw = sample.get("json")
        metadata = json.loads(raw) if raw is not None else {}
        if not isinstance(metadata, dict):
            raise ValueError("the `json` member is not a JSON object")
        if "text" in metadata:  # upstream trains `prompt` on a `text` value
            metadata["prompt"] = metadata["text"]
        if isinstance(self.decode, LatentCrop):
            data, info = crop_latents(sample, metadata, self.decode, rng)
        else:
            data, info = crop_audio(sample, metadata, self.decode, rng)
            if float(data.abs().max()) < SILENCE_PEAK:
                raise SkippedSample
        source = next((s for u, s in self.shards if u == url), None)
        module = self.metadata_modules.get(source.dataset_id) if source is not None else None
        if module is not None:
            info.update(module(info, data))
        if info.pop("__reject__", False):
            raise SkippedSample
        info.update(path=f"{url}#{key}", relpath=key, shard=url)
        return data, info


class _SlotLog:
    """One slot's failures: counts shards for the stop threshold, and queues (name, reason) for the next batch."""

    def __init__(self) -> None:
        self.current = ""
        self.opened_count = 0
        self.failed: set[str] = set()
        self.pending: list[tuple[str, str]] = []
        self.last_failure = ""

    def opened(self, shards: Iterable[tuple[str, ShardSource]]) -> Iterator[dict[str, Any]]:
        for url, source in shards:
            self.current = url
            self.opened_count += 1
            try:
                stream = open_shard(url, source.profile)
            except Exception as error:
                self.shard_failed(error)
                continue
            try:
                yield {"url": url, "stream": stream}
            finally:
                stream.close()

    def shard_failed(self, error: BaseException) -> bool:
        reason = _reason(error)
        self.last_failure = f"`{self.current}`: {reason}"
        if self.current not in self.failed:
            self.failed.add(self.current)
            self.pending.append((self.current, reason))
            warnings.warn(f"skipping the unreadable shard `{self.current}`: {reason}", RuntimeWarning, stacklevel=2)
        if len(self.failed) >= BAD_SHARD_MINIMUM and len(self.failed) > BAD_SHARD_FRACTION * self.opened_count:
            raise ShardFailure(
                f"{len(self.failed)} of the {self.opened_count} shards one data-loader worker opened could not be "
                f"read (last: {self.last_failure})"
            )
        return True  # keep going with the next shard

    def member_failed(self, name: str, error: BaseException) -> None:
        reason = _reason(error)
        self.pending.append((name, reason))
        warnings.warn(f"skipping the unreadable sample `{name}`: {reason}", RuntimeWarning, stacklevel=2)

    def take(self) -> tuple[tuple[str, str], ...]:
        taken, self.pending = tuple(self.pending), []
        return taken


def _reason(error: BaseException) -> str:
    # webdataset appends " @ <stream>" and the URL to the message: the URL is named separately
    lines = str(error.args[0] if len(error.args) > 1 else error).split(" @ <")[0].strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


# --- the loader --------------------------------------------------------------------------------------------------


class ShardLoader:
    """The data loader of one rank, and what it learnt of unreadable data (`report`, in the main process)."""

    def __init__(self, loader: torch.utils.data.DataLoader, report: ShardReport) -> None:
        self.loader = loader
        self.report = report

    def __iter__(self) -> Iterator[TrainingBatch]:
        for batch in self.loader:
            if batch.skipped:
                self.report.add(batch.skipped)
            yield batch


def effective_workers(requested: int, shards: int, world_size: int, resampled: bool) -> int:
    """Workers that each get at least one shard per epoch (all of them when shards are drawn at random)."""
    if resampled:
        return requested
    return max(0, min(requested, shards // world_size))


def make_shard_loader(
    stream: ShardStream, *, num_workers: int, report: ShardReport, worker_init: Callable[[int], None] | None = None
) -> ShardLoader:
    stream.workers = max(1, num_workers)
    loader = torch.utils.data.DataLoader(
        stream,
        batch_size=None,  # the stream batches itself, per slot
        num_workers=num_workers,
        worker_init_fn=(worker_init or ignore_interrupts) if num_workers > 0 else None,
        persistent_workers=num_workers > 0,
    )
    return ShardLoader(loader, report)


def resume_note(sources: list[ShardSource], workers: int, world_size: int) -> str:
    """How exactly a resumed run continues the shard streams (for the run summary)."""
    shards = sum(len(source.urls) for source in sources)
    used = max(1, effective_workers(workers, shards, world_size, resampled=False))
    return (
        f"the shard streams continue exactly where the checkpoint left them, provided the run keeps its "
        f"{world_size} process(es) x {used} data-loader worker(s); members skipped as unreadable before the "
        "resume point shift their worker's stream by one item each"
    )


def _shard_dataset(preflight: Preflight) -> WebDatasetSpec:
    data = preflight.dataset_spec
    if not isinstance(data, WebDatasetSpec):
        raise TypeError(f"shards are read from a `wds` / `s3` dataset, not `{data.dataset_type}`")
    return data


def shard_summary(preflight: Preflight, spec: ModelConfig, *, workers: int, world_size: int) -> str:
    """The summary's `data` line for shards."""
    data = _shard_dataset(preflight)
    sources = preflight.shards or []
    shards = sum(len(source.urls) for source in sources)
    used = effective_workers(workers, shards, world_size, data.resampled_shards)
    split = (
        "shards drawn at random with replacement (`resampled_shards`)"
        if data.resampled_shards
        else f"{shards} shards dealt to {world_size} process(es) x "
        + (f"{used} data-loader worker(s)" if used else "the main process (no data-loader workers)")
        + " each epoch"
    )
    if used < workers:
        split += f" ({workers} workers asked; {used} have shards to read)"
    shuffle = f"shuffle buffer {data.shuffle_buffer}" if data.shuffle_buffer > 1 else "no shuffle buffer"
    if data.pre_encoded:
        what = f"latents, crops of {preflight.latent_length}"
    else:
        seconds = spec.sample_size / spec.sample_rate
        what = (
            f"audio, {spec.audio_channels} ch at {spec.sample_rate} Hz, crops of {spec.sample_size} ({seconds:.2f} s)"
        )
    return f"{len(sources)} shard source(s), {split}; {shuffle}; {what}"


class ShardLoaderFactory:
    """`DiffusionTrainer`'s loader factory for shards: (start batch, rank, world size) -> this rank's loader."""

    def __init__(
        self,
        sources: list[ShardSource],
        decode: AudioCrop | LatentCrop,
        settings: StreamSettings,
        *,
        num_workers: int,
        metadata_modules: Mapping[str, MetadataModule] | None = None,
    ) -> None:
        self.sources = sources
        self.decode = decode
        self.settings = settings
        self.num_workers = num_workers
        self.metadata_modules = metadata_modules
        self.report = ShardReport()
        self.workers_used = num_workers

    def __call__(self, start_batch: int, rank: int, world_size: int) -> ShardLoader:
        shards = sum(len(source.urls) for source in self.sources)
        self.workers_used = effective_workers(self.num_workers, shards, world_size, self.settings.resampled)
        stream = ShardStream(
            self.sources,
            self.decode,
            self.settings,
            rank=rank,
            world_size=world_size,
            start_batch=start_batch,
            metadata_modules=self.metadata_modules,
        )
        return make_shard_loader(stream, num_workers=self.workers_used, report=self.report)


def shard_loader_factory(
    spec: ModelConfig, preflight: Preflight, *, batch_size: int, seed: int, num_workers: int
) -> ShardLoaderFactory:
    """The factory for a checked `wds` / `s3` dataset (`preflight.shards` listed, `latent_length` set when the
    shards hold latents)."""
    data = _shard_dataset(preflight)
    decode: AudioCrop | LatentCrop
    if data.pre_encoded:
        if preflight.latent_length is None:
            raise ValueError("the preflight of pre-encoded shards sets their crop length")
        decode = LatentCrop(preflight.latent_length, data.random_crop)
    else:
        decode = AudioCrop(spec.sample_rate, spec.sample_size, spec.audio_channels, data.random_crop)
    settings = StreamSettings(
        batch_size=batch_size, seed=seed, shuffle_buffer=data.shuffle_buffer, resampled=data.resampled_shards
    )
    return ShardLoaderFactory(
        preflight.shards or [], decode, settings, num_workers=num_workers, metadata_modules=preflight.metadata_modules
    )
