"""Audio files in and out: soundfile for reading and writing, soxr for resampling, and channel adaptation."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor


def adapt_channels(audio: np.ndarray, channels: int) -> np.ndarray:
    """[T, C_in] -> [T, channels]: mono is a plain mean; mono to many is duplication; otherwise the first channels."""
    have = audio.shape[1]
    if have == channels:
        return audio
    if channels == 1:
        return audio.mean(axis=1, keepdims=True)
    if have == 1:
        return np.repeat(audio, channels, axis=1)
    if have > channels:
        return audio[:, :channels]
    return np.concatenate([audio, np.repeat(audio[:, -1:], channels - have, axis=1)], axis=1)


def read_audio(path: str | os.PathLike[str], *, sample_rate: int, channels: int) -> Tensor:
    """A file as float32 [channels, T] at `sample_rate` (raises OSError / RuntimeError for unreadable files)."""
    import soundfile

    data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)  # [T, C]
    if data.size == 0:
        raise ValueError(f"`{path}` holds no audio")
    if not np.isfinite(data).all():
        raise ValueError(f"`{path}` holds NaN or infinite samples")
    data = adapt_channels(data, channels)
    if rate != sample_rate:
        import soxr

        data = soxr.resample(data, rate, sample_rate, quality="HQ")
    return torch.from_numpy(np.ascontiguousarray(data.T, dtype=np.float32))


def output_paths(path: str | Path, count: int) -> list[Path]:
    """The files a batch of `count` clips is written to: `name.wav` for one clip, `name_1.wav` ... `name_N.wav`
    for several (numbered from 1, as `sample --help` says)."""
    path = Path(path)
    if count <= 1:
        return [path]
    return [path.with_name(f"{path.stem}_{index}{path.suffix}") for index in range(1, count + 1)]


def write_audio(path: str | Path, audio: Tensor, sample_rate: int) -> list[Path]:
    """Write [B, C, T] audio, one file per item (`output_paths`); 16-bit PCM for WAV, clipped to [-1, 1]; FLAC
    when the suffix says so. Each file is written atomically. Audio holding NaN or infinite samples raises
    NonFiniteOutput and writes nothing."""
    import io

    import soundfile

    from audiodiff.runtime.atomic import write_bytes_atomic
    from audiodiff.runtime.outputs import check_finite_audio

    check_finite_audio(audio)  # NonFiniteOutput before any file is written: NaN would become full-scale noise
    path = Path(path)
    file_format = "FLAC" if path.suffix.lower() == ".flac" else "WAV"
    written = []
    for target, item in zip(output_paths(path, len(audio)), audio, strict=True):
        buffer = io.BytesIO()
        samples = item.detach().float().clamp(-1, 1).cpu().numpy().T  # [T, C]
        soundfile.write(buffer, samples, sample_rate, format=file_format, subtype="PCM_16")
        write_bytes_atomic(target, buffer.getvalue())
        written.append(target)
    return written
