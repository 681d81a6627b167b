"""One training crop of an audio clip (or of stored latents), shared by the folder dataset (`data.py`) and the shard stream
(`shard_decode.py`): which source frames to read for a random (or leading) window at the training rate, how the
frames read become the window, and the timing metadata upstream attaches to it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from audiodiff.runtime.audio import adapt_channels


@dataclass(frozen=True)
class CropPlan:
    rate: int  # the training sample rate
    size: int  # the window, in samples at `rate`
    total: int  # the clip's length after resampling
    offset: int  # where the window starts, in samples at `rate`
    start: int  # the first source frame to read
    frames: int  # how many source frames to read (a few more than the window, for the resampler's edge)

    @property
    def upper_bound(self) -> int:
        return max(0, self.total - self.size)

    def metadata(self, padding_mask: Tensor) -> dict[str, Any]:
        """The crop's timing values (upstream's names), with the window's padding mask [size]."""
        span = self.upper_bound + self.size
        return {
            "seconds_start": math.floor(self.offset / self.rate),
            "seconds_total": math.ceil(self.total / self.rate),
            "padding_mask": padding_mask,
            "timestamps": (self.offset / span, (self.offset + self.size) / span),
        }


def plan_crop(
    source_frames: int, source_rate: int, *, rate: int, size: int, random_crop: bool, rng: np.random.Generator
) -> CropPlan:
    """The window of a clip of `source_frames` at `source_rate`: random when `random_crop` and the clip is longer
    than the window (one draw from `rng`), else from its start."""
    total = max(1, round(source_frames * rate / source_rate))
    upper_bound = max(0, total - size)
    offset = int(rng.integers(0, upper_bound + 1)) if random_crop and upper_bound > 0 else 0
    start = math.floor(offset * source_rate / rate)
    frames = min(source_frames - start, math.ceil(size * source_rate / rate) + 64)
    return CropPlan(rate=rate, size=size, total=total, offset=offset, start=start, frames=frames)


def fit_crop(data: np.ndarray, file_rate: int, plan: CropPlan, channels: int) -> tuple[Tensor, Tensor]:
    """The frames read [T, C_file] as the window: (audio [channels, size] zero-padded, padding mask [size], 1 on
    real audio)."""
    data = adapt_channels(data, channels)  # [T, C]
    if file_rate != plan.rate:
        import soxr

        data = soxr.resample(data, file_rate, plan.rate, quality="HQ")
    length = min(plan.size, data.shape[0], plan.total - plan.offset)
    audio = torch.zeros(channels, plan.size)  # [C, size]
    audio[:, :length] = torch.from_numpy(np.ascontiguousarray(data[:length].T))
    padding_mask = torch.zeros(plan.size)  # [size]
    padding_mask[:length] = 1
    return audio, padding_mask


def read_crop(
    source: Any,
    source_frames: int,
    source_rate: int,
    *,
    rate: int,
    size: int,
    channels: int,
    random_crop: bool,
    rng: np.random.Generator,
    what: str,
) -> tuple[Tensor, Tensor, CropPlan]:
    """Plan the window of an audio file (a path or a file-like object), read just its frames and fit them:
    (audio [channels, size], padding mask [size], the plan). ValueError names `what` when nothing usable was read."""
    import soundfile

    plan = plan_crop(source_frames, source_rate, rate=rate, size=size, random_crop=random_crop, rng=rng)
    data, file_rate = soundfile.read(source, start=plan.start, frames=plan.frames, dtype="float32", always_2d=True)
    if data.shape[0] == 0:
        raise ValueError(f"{what} holds no audio frames")
    if not np.isfinite(data).all():
        raise ValueError(f"{what} holds NaN or infinite samples")
    audio, padding_mask = fit_crop(data, file_rate, plan, channels)  # [C, size], [size]
    return audio, padding_mask, plan


def latent_window(
    latents: Tensor, stored_mask: object, *, size: int, random_crop: bool, rng: np.random.Generator
) -> tuple[Tensor, Tensor]:
    """A window of `size` frames of pre-encoded latents [C, N]: random when `random_crop` and there are more
    frames (one draw from `rng`), else from the start; (latents [C, size] zero-padded, padding mask [size]). The
    mask follows `stored_mask`, the encoder's per-frame mask from the metadata, when it is a list of N values."""
    frames = latents.shape[1]
    mask = torch.tensor(stored_mask, dtype=torch.float32) if isinstance(stored_mask, list) else torch.ones(frames)
    if mask.shape != (frames,):
        mask = torch.ones(frames)
    offset = int(rng.integers(0, frames - size + 1)) if random_crop and frames > size else 0
    length = min(size, frames - offset)
    crop = torch.zeros(latents.shape[0], size)  # [C, size]
    crop[:, :length] = latents[:, offset : offset + length]
    padding_mask = torch.zeros(size)  # [size]
    padding_mask[:length] = mask[offset : offset + length]
    return crop, padding_mask
