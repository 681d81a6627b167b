"""Decoding one WebDataset sample into a training item, as `audio_dir` and `pre_encoded` items are made: audio from
its audio member, resampled, mixed to the model's channels and cropped (or zero-padded) to `sample_size` with a
padding mask and upstream's `seconds_start` / `seconds_total`; latents from the `npy` member, cropped to the crop
length with the stored padding mask. Only the frames a crop needs are decoded."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from audiodiff.runtime.cropping import latent_window, read_crop
from audiodiff.runtime.shards import LATENT_MEMBER, audio_member


@dataclass(frozen=True)
class AudioCrop:
    sample_rate: int
    sample_size: int
    channels: int
    random_crop: bool


@dataclass(frozen=True)
class LatentCrop:
    crop_length: int
    random_crop: bool


def crop_audio(
    sample: dict[str, Any], metadata: dict[str, Any], crop: AudioCrop, rng: np.random.Generator
) -> tuple[Tensor, dict[str, Any]]:
    import soundfile

    suffix = audio_member(sample)
    if suffix is None:
        raise ValueError("no audio member")
    member = sample[suffix]
    header = soundfile.info(io.BytesIO(member))
    if header.frames <= 0 or header.samplerate <= 0:
        raise ValueError(f"the `{suffix}` member holds no audio frames")
    audio, padding_mask, plan = read_crop(
        io.BytesIO(member),
        header.frames,
        header.samplerate,
        rate=crop.sample_rate,
        size=crop.sample_size,
        channels=crop.channels,
        random_crop=crop.random_crop,
        rng=rng,
        what=f"the `{suffix}` member",
    )  # [C, sample_size], [sample_size]
    info = dict(metadata)
    info.update(plan.metadata(padding_mask))
    return audio, info


def crop_latents(
    sample: dict[str, Any], metadata: dict[str, Any], crop: LatentCrop, rng: np.random.Generator
) -> tuple[Tensor, dict[str, Any]]:
    if LATENT_MEMBER not in sample:
        raise ValueError("no `npy` member")
    array = np.load(io.BytesIO(sample[LATENT_MEMBER]), allow_pickle=False)
    latents = torch.from_numpy(np.array(array, dtype=np.float32))  # [C, N]
    if latents.dim() != 2:
        raise ValueError(f"latents must be [channels, frames], got {list(latents.shape)}")
    if not torch.isfinite(latents).all():
        raise ValueError("the latents hold NaN or infinite values")
    data, padding_mask = latent_window(
        latents, metadata.get("padding_mask"), size=crop.crop_length, random_crop=crop.random_crop, rng=rng
    )  # [C, crop_length], [crop_length]
    info = dict(metadata)
    info["padding_mask"] = padding_mask
    return data, info
