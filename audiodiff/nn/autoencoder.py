"""The audio autoencoder (stable-audio-tools `AudioAutoencoder`): encoder, optional bottleneck, decoder, optional
nested pretransform, with batch iteration and overlapped chunked encode/decode for long audio.

State-dict keys: `encoder.*`, `decoder.*`, `bottleneck.*` (only when the bottleneck has state), `pretransform.*`
(only for a nested pretransform with state, e.g. wavelet kernels).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from audiodiff.nn.bottleneck import Bottleneck, DiscreteBottleneck

if TYPE_CHECKING:
    from audiodiff.nn.pretransforms import Pretransform


def _per_item(function: Callable[[Tensor], Tensor], x: Tensor, iterate_batch: bool) -> Tensor:
    """Apply `function` to the whole batch, or one item at a time (lower peak memory) when `iterate_batch`."""
    if not iterate_batch:
        return function(x)
    return torch.cat([function(x[i : i + 1]) for i in range(x.shape[0])], dim=0)


def chunk_starts(total: int, chunk_size: int, overlap: int) -> list[int]:
    """Start offsets of overlapped chunks covering `[0, total)`; the last chunk is shifted to end exactly at `total`."""
    hop = chunk_size - overlap
    starts = list(range(0, total - chunk_size + 1, hop))
    if starts[-1] + chunk_size != total:
        starts.append(total - chunk_size)
    return starts


def _check_chunking(chunk_size: int, overlap: int) -> None:
    if chunk_size <= 0:
        raise ValueError(f"`chunk_size` must be positive, got {chunk_size}")
    if not 0 <= overlap < chunk_size:
        raise ValueError(f"`overlap` must lie in [0, chunk_size) = [0, {chunk_size}), got {overlap}")


class AudioAutoencoder(nn.Module):
    """Encoder -> bottleneck -> decoder on channels-first audio `[B, C, T]` and latents `[B, latent_dim, T / ratio]`."""

    def __init__(
        self,
        *,
        encoder: nn.Module,
        decoder: nn.Module,
        latent_dim: int,  # declared bottleneck output width (what the decoder takes, minus noise channels)
        downsampling_ratio: int,  # declared samples per latent frame
        sample_rate: int,
        io_channels: int = 2,
        bottleneck: Bottleneck | None = None,
        pretransform: Pretransform | None = None,  # applied to audio before the encoder / after the decoder
        in_channels: int | None = None,  # overrides io_channels on the encoder side
        out_channels: int | None = None,  # overrides io_channels on the decoder side
        soft_clip: bool = False,  # tanh on the decoded audio
    ) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.downsampling_ratio = downsampling_ratio
        self.sample_rate = sample_rate
        self.io_channels = io_channels
        self.in_channels = io_channels if in_channels is None else in_channels
        self.out_channels = io_channels if out_channels is None else out_channels
        self.min_length = downsampling_ratio
        self.soft_clip = soft_clip
        self.encoder = encoder
        self.decoder = decoder
        self.bottleneck = bottleneck
        self.pretransform = pretransform

    @property
    def is_discrete(self) -> bool:
        return self.bottleneck is not None and self.bottleneck.is_discrete

    @staticmethod
    def _pretransform_call(
        function: Callable[[Tensor], Tensor], x: Tensor, *, enable_grad: bool, iterate_batch: bool
    ) -> Tensor:
        # a frozen nested pretransform never records gradients
        with torch.set_grad_enabled(torch.is_grad_enabled() and enable_grad):
            return _per_item(function, x, iterate_batch)

    def encode(
        self,
        audio: Tensor,
        *,
        skip_bottleneck: bool = False,
        return_info: bool = False,
        skip_pretransform: bool = False,
        iterate_batch: bool = False,
        noise: Tensor | None = None,  # explicit standard-normal draw for a sampling (VAE-style) bottleneck
    ) -> Any:
        """Audio `[B, in_channels, T]` -> latents `[B, latent_dim, T / ratio]` (and an info dict when `return_info`).

        `info["pre_bottleneck_latents"]` is the encoder output; the bottleneck adds its own entries (`kl`, …).
        """
        info: dict[str, Tensor] = {}
        if self.pretransform is not None and not skip_pretransform:
            audio = self._pretransform_call(
                self.pretransform.encode, audio, enable_grad=self.pretransform.enable_grad, iterate_batch=iterate_batch
            )
        latents = _per_item(self.encoder, audio, iterate_batch)  # [B, C_enc, T / ratio]
        info["pre_bottleneck_latents"] = latents
        if self.bottleneck is not None and not skip_bottleneck:
            # like the reference, the bottleneck always sees the whole batch on encode
            latents, bottleneck_info = self.bottleneck.encode(latents, return_info=True, noise=noise)
            info.update(bottleneck_info)
        elif noise is not None:
            raise ValueError("`noise` was given but no bottleneck samples here")
        return (latents, info) if return_info else latents

    def decode(self, latents: Tensor, *, skip_bottleneck: bool = False, iterate_batch: bool = False) -> Tensor:
        """Latents `[B, latent_dim, L]` -> audio `[B, out_channels, L·ratio]`."""
        if self.bottleneck is not None and not skip_bottleneck:
            latents = _per_item(self.bottleneck.decode, latents, iterate_batch)
        decoded = _per_item(self.decoder, latents, iterate_batch)
        if self.pretransform is not None:
            decoded = self._pretransform_call(
                self.pretransform.decode,
                decoded,
                enable_grad=self.pretransform.enable_grad,
                iterate_batch=iterate_batch,
            )
        if self.soft_clip:
            decoded = torch.tanh(decoded)
        return decoded

    def decode_tokens(self, tokens: Tensor) -> Tensor:
        """Discrete tokens -> audio; only for discrete bottlenecks."""
        if not isinstance(self.bottleneck, DiscreteBottleneck):
            raise ValueError("decode_tokens needs a discrete bottleneck (rvq, dac_rvq, fsq, …)")
        return self.decode(self.bottleneck.decode_tokens(tokens), skip_bottleneck=True)

    def encode_audio(
        self,
        audio: Tensor,
        *,
        chunked: bool = False,
        chunk_size: int = 128,  # in latent frames
        overlap: int = 32,  # in latent frames; half of it is discarded on each inner chunk edge
        iterate_batch: bool = False,
        noise: Tensor | None = None,
    ) -> Tensor:
        """Encode, optionally in overlapped chunks so that long audio encodes in bounded memory.

        The audio length should be a multiple of `downsampling_ratio`. Inputs no longer than one chunk are encoded
        in one pass (the reference fails on them). Chunked encoding draws VAE noise per chunk, so `noise` is only
        accepted unchunked.
        """
        total = audio.shape[-1]
        ratio = int(self.downsampling_ratio)
        if not chunked or total <= chunk_size * ratio:
            return self.encode(audio, iterate_batch=iterate_batch, noise=noise)
        if noise is not None:
            raise ValueError("explicit VAE `noise` is not supported with chunked encoding")
        _check_chunking(chunk_size, overlap)
        frames = total // ratio
        trim = overlap // 2  # latent frames dropped at each inner chunk edge
        starts = chunk_starts(total, chunk_size * ratio, overlap * ratio)
        latents: Tensor | None = None
        for index, start in enumerate(starts):
            chunk_latents = self.encode(audio[..., start : start + chunk_size * ratio], iterate_batch=iterate_batch)
            if latents is None:
                latents = chunk_latents.new_zeros(audio.shape[0], chunk_latents.shape[1], frames)
            width = chunk_latents.shape[-1]
            # the last chunk is aligned to the end of the output; the others start at their hop offset
            t_start = frames - width if index == len(starts) - 1 else start // ratio
            t_end = t_start + width
            c_start, c_end = 0, width
            if index > 0:
                t_start, c_start = t_start + trim, c_start + trim
            if index < len(starts) - 1:
                t_end, c_end = t_end - trim, c_end - trim
            latents[..., t_start:t_end] = chunk_latents[..., c_start:c_end]
        assert latents is not None  # starts is never empty
        return latents

    def decode_audio(
        self,
        latents: Tensor,
        *,
        chunked: bool = False,
        chunk_size: int = 128,  # in latent frames
        overlap: int = 32,  # in latent frames; half of it is discarded on each inner chunk edge
        iterate_batch: bool = False,
    ) -> Tensor:
        """Decode, optionally in overlapped chunks of latents so that minutes of audio decode in bounded memory.

        Only one chunk's activations exist at a time; the output buffer is written in place. `overlap` should cover
        the decoder's receptive field (in latent frames) for seamless output.
        """
        total = latents.shape[-1]
        if not chunked or total <= chunk_size:
            return self.decode(latents, iterate_batch=iterate_batch)
        _check_chunking(chunk_size, overlap)
        ratio = int(self.downsampling_ratio)
        samples = total * ratio
        trim = (overlap // 2) * ratio  # samples dropped at each inner chunk edge
        starts = chunk_starts(total, chunk_size, overlap)
        audio: Tensor | None = None
        for index, start in enumerate(starts):
            chunk_audio = self.decode(latents[..., start : start + chunk_size], iterate_batch=iterate_batch)
            if audio is None:
                audio = chunk_audio.new_zeros(latents.shape[0], chunk_audio.shape[1], samples)
            width = chunk_audio.shape[-1]
            t_start = samples - width if index == len(starts) - 1 else start * ratio
            t_end = t_start + width
            c_start, c_end = 0, width
            if index > 0:
                t_start, c_start = t_start + trim, c_start + trim
            if index < len(starts) - 1:
                t_end, c_end = t_end - trim, c_end - trim
            audio[..., t_start:t_end] = chunk_audio[..., c_start:c_end]
            del chunk_audio
        assert audio is not None  # starts is never empty
        return audio
