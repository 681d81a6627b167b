"""Tiny WebDataset shards made in the tests: FLAC tones and noise bursts with `json` metadata, written with the
`webdataset` library's own writer."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import soundfile


def clip_bytes(kind: str, rng: np.random.Generator, rate: int = 8000, fmt: str = "FLAC") -> bytes:
    length = int(rate * rng.uniform(0.08, 0.3))
    t = np.arange(length) / rate
    signal = np.sin(2 * np.pi * rng.uniform(200, 900) * t) if kind == "tone" else rng.standard_normal(length) * 0.3
    buffer = io.BytesIO()
    soundfile.write(buffer, (0.7 * signal).astype(np.float32)[:, None], rate, format=fmt, subtype="PCM_16")
    return buffer.getvalue()


def write_shards(folder: Path, shards: int = 4, per_shard: int = 3, seed: int = 0, prefix: str = "train") -> list[Path]:
    """`shards` tar files of `per_shard` samples each (keys `s<shard>_<item>`), alternating tone / noise."""
    import webdataset

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for shard in range(shards):
        path = folder / f"{prefix}-{shard:04d}.tar"
        with webdataset.TarWriter(str(path)) as writer:
            for item in range(per_shard):
                kind = "tone" if (shard * per_shard + item) % 2 == 0 else "noise"
                writer.write(
                    {
                        "__key__": f"s{shard}_{item}",
                        "flac": clip_bytes(kind, rng),
                        "json": json.dumps({"class": kind}).encode(),
                    }
                )
        written.append(path)
    return written
