"""Data-loader throughput in items/s: the same clips read from WebDataset shards and from an `audio_dir` folder, by
the loaders `audiodiff run` builds, with 0, 2 and 4 data-loader workers, in the same run. The two sides alternate
within each repeat so that the machine's drift hits both; the ratio column is shards / audio_dir (above 1: the
shards are faster). Each measurement starts a fresh loader (workers included) and times `--batches` batches after
the first, so worker start-up is left out; the start-up itself is the last column.

The clips are FLAC, `--seconds` long at 44.1 kHz stereo, cropped to `--crop` samples (as a model's `sample_size`),
with a JSON sidecar (folder) or `json` member (shards, `--per-shard` clips each). The shard side streams through
webdataset with a shuffle buffer of 64; the folder side reads only the frames each crop needs.

    python bench/data_loader_bench.py [--clips 512] [--batches 24] [--batch-size 8] [--workers 0 2 4] [--repeats 3]
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np
import soundfile
import torch

RATE = 44100


def write_data(root: Path, clips: int, seconds: float, per_shard: int) -> tuple[Path, Path]:
    import webdataset

    folder, shards = root / "clips", root / "shards"
    folder.mkdir()
    shards.mkdir()
    rng = np.random.default_rng(0)
    writer = webdataset.ShardWriter(str(shards / "train-%05d.tar"), maxcount=per_shard, verbose=0)
    for index in range(clips):
        frames = int(RATE * seconds * rng.uniform(0.8, 1.2))
        t = np.arange(frames) / RATE
        audio = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 2000) * t)[:, None] + 0.05 * rng.standard_normal((frames, 2))
        buffer = io.BytesIO()
        soundfile.write(buffer, audio.astype(np.float32), RATE, format="FLAC", subtype="PCM_16")
        metadata = {"prompt": f"clip {index}"}
        (folder / f"clip{index:05d}.flac").write_bytes(buffer.getvalue())
        (folder / f"clip{index:05d}.json").write_text(json.dumps(metadata))
        writer.write({"__key__": f"clip{index:05d}", "flac": buffer.getvalue(), "json": json.dumps(metadata).encode()})
    writer.close()
    return folder, shards


def folder_loader(folder: Path, crop: int, batch_size: int, workers: int):
    from audiodiff.runtime.data import AudioDataset, StreamBatchSampler, make_loader
    from audiodiff.runtime.scan import scan_audio

    files = scan_audio(folder, "clips").files
    dataset = AudioDataset(files, sample_rate=RATE, sample_size=crop, channels=2, random_crop=True, seed=1)
    return make_loader(dataset, StreamBatchSampler(len(files), batch_size, seed=1), num_workers=workers)


def shard_loader(shards: Path, crop: int, batch_size: int, workers: int):
    from audiodiff.runtime.shard_data import AudioCrop, ShardLoaderFactory, StreamSettings
    from audiodiff.runtime.shards import list_source

    source = list_source("clips", path=str(shards), s3_path=None, profile=None, config_dir=shards)
    settings = StreamSettings(batch_size=batch_size, seed=1, shuffle_buffer=64)
    factory = ShardLoaderFactory([source], AudioCrop(RATE, crop, 2, True), settings, num_workers=workers)
    return factory(0, 0, 1)


def measure(make, batches: int, batch_size: int) -> tuple[float, float]:
    """(items/s over `batches` batches after the first, seconds to the first batch)."""
    start = time.perf_counter()
    loader = make()
    iterator = iter(loader)
    next(iterator)
    first = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    elapsed = time.perf_counter() - start
    del iterator, loader
    return batches * batch_size / elapsed, first


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=512)
    parser.add_argument("--seconds", type=float, default=4.0, help="mean clip length")
    parser.add_argument("--crop", type=int, default=65536, help="samples per item (a model's sample_size)")
    parser.add_argument("--per-shard", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--batches", type=int, default=24, help="timed batches per measurement")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2, 4])
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args(argv)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as scratch:
        folder, shards = write_data(Path(scratch), arguments.clips, arguments.seconds, arguments.per_shard)
        size = sum(p.stat().st_size for p in folder.glob("*.flac")) / 2**20
        print(
            f"torch {torch.__version__}; {arguments.clips} FLAC clips of ~{arguments.seconds:g} s at {RATE} Hz "
            f"stereo ({size:.0f} MiB), {arguments.clips // arguments.per_shard} shards; crops of {arguments.crop} "
            f"samples, batch {arguments.batch_size}, {arguments.batches} timed batches, median of {arguments.repeats}"
        )
        rows = []
        for workers in arguments.workers:
            results: dict[str, list[tuple[float, float]]] = {"folder": [], "shards": []}
            for _ in range(arguments.repeats):  # alternating sides
                for side, build, where in (("folder", folder_loader, folder), ("shards", shard_loader, shards)):
                    make = partial(build, where, arguments.crop, arguments.batch_size, workers)
                    results[side].append(measure(make, arguments.batches, arguments.batch_size))
            folder_rate = statistics.median(r[0] for r in results["folder"])
            shard_rate = statistics.median(r[0] for r in results["shards"])
            startup = (
                statistics.median(r[1] for r in results["folder"]),
                statistics.median(r[1] for r in results["shards"]),
            )
            rows.append((workers, folder_rate, shard_rate, startup))
    print("\nData-loader throughput (items/s, median of alternating runs)")
    print("| workers | audio_dir items/s | shards items/s | shards / audio_dir | first batch s (audio_dir / shards) |")
    print("|---:|---:|---:|---:|---|")
    for workers, folder_rate, shard_rate, startup in rows:
        print(
            f"| {workers} | {folder_rate:.1f} | {shard_rate:.1f} | {shard_rate / folder_rate:.2f} | "
            f"{startup[0]:.2f} / {startup[1]:.2f} |"
        )


if __name__ == "__main__":
    main()
