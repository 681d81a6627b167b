"""Pretransforms: fixed or frozen maps between audio `[B, io_channels, T]` and the sequence a diffusion model works on
`[B, encoded_channels, T / downsampling_ratio]` (stable-audio-tools `models/pretransforms.py` semantics).

Implemented: `autoencoder` (keys `model.*`), `wavelet` (keys `encoder.kernel`, `decoder.kernel`), `patched` (no
state). Not implemented: `pqmf` (broken in the reference, which never sets its ratio or width), and the
download-based `dac_pretrained` / `audiocraft_pretrained`.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from einops import rearrange
from torch import Tensor, nn

from audiodiff.nn.autoencoder import AudioAutoencoder
from audiodiff.nn.bottleneck import DiscreteBottleneck
from audiodiff.nn.wavelets import BiorthogonalWavelet, WaveletDecode1d, WaveletEncode1d


class Pretransform(nn.Module):
    """Base class. Frozen pretransforms (`enable_grad=False`) hold no trainable parameters and stay in eval mode."""

    def __init__(
        self, *, io_channels: int, encoded_channels: int, downsampling_ratio: int, is_discrete: bool, enable_grad: bool
    ) -> None:
        super().__init__()
        self.io_channels = io_channels
        self.encoded_channels = encoded_channels
        self.downsampling_ratio = downsampling_ratio
        self.is_discrete = is_discrete
        self.enable_grad = enable_grad

    def _freeze_unless_trainable(self) -> None:
        # the reference puts every pretransform in eval mode and sets requires_grad to enable_grad
        self.requires_grad_(self.enable_grad)
        self.eval()

    def train(self, mode: bool = True) -> Pretransform:
        """Frozen pretransforms ignore `train()`: a parent switching to training mode leaves them in eval mode."""
        return super().train(mode and self.enable_grad)

    def encode(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def decode(self, z: Tensor) -> Tensor:
        raise NotImplementedError


class AutoencoderPretransform(Pretransform):
    """A (usually frozen) audio autoencoder used as a latent space; latents are divided by `scale` on encode."""

    def __init__(
        self,
        model: AudioAutoencoder,
        *,
        scale: float = 1.0,  # latents are divided by this on encode and multiplied on decode
        model_half: bool = False,  # run the autoencoder in float16
        iterate_batch: bool = False,  # encode/decode one batch item at a time
        chunked: bool = False,  # overlapped chunked encode/decode (128 latents, overlap 32)
        enable_grad: bool = False,
    ) -> None:
        super().__init__(
            io_channels=model.io_channels,
            encoded_channels=model.latent_dim,
            downsampling_ratio=model.downsampling_ratio,
            is_discrete=model.is_discrete,
            enable_grad=enable_grad,
        )
        self.model = model
        self.scale = scale
        self.model_half = model_half
        self.iterate_batch = iterate_batch
        self.chunked = chunked
        self.sample_rate = model.sample_rate
        bottleneck = model.bottleneck
        self.num_quantizers = bottleneck.num_quantizers if isinstance(bottleneck, DiscreteBottleneck) else None
        self.codebook_size = bottleneck.codebook_size if isinstance(bottleneck, DiscreteBottleneck) else None
        if model_half:
            self.model.half()
        self._freeze_unless_trainable()

    def encode(self, x: Tensor, *, noise: Tensor | None = None) -> Tensor:
        """Audio `[B, io_channels, T]` -> scaled latents `[B, latent_dim, T / ratio]` (VAEs sample every call)."""
        if self.model_half:
            x = x.half()
        encoded = self.model.encode_audio(x, chunked=self.chunked, iterate_batch=self.iterate_batch, noise=noise)
        if self.model_half:
            encoded = encoded.float()
        return encoded / self.scale

    def decode(self, z: Tensor) -> Tensor:
        """Scaled latents `[B, latent_dim, L]` -> audio `[B, io_channels, L·ratio]`."""
        z = z * self.scale
        if self.model_half:
            z = z.half()
        decoded = self.model.decode_audio(z, chunked=self.chunked, iterate_batch=self.iterate_batch)
        if self.model_half:
            decoded = decoded.float()
        return decoded

    def tokenize(self, x: Tensor) -> Tensor:
        """Audio -> discrete tokens (`info[tokens_id]` of the bottleneck)."""
        bottleneck = self.model.bottleneck
        if not isinstance(bottleneck, DiscreteBottleneck):
            raise ValueError("tokenize needs an autoencoder with a discrete bottleneck")
        _, info = self.model.encode(x, return_info=True)
        return info[bottleneck.tokens_id]

    def decode_tokens(self, tokens: Tensor) -> Tensor:
        return self.model.decode_tokens(tokens)

    def load_autoencoder_state_dict(self, state_dict: Mapping[str, Tensor], strict: bool = True) -> object:
        """Load a bare autoencoder checkpoint (`encoder.*`, `decoder.*`, … without the `model.` prefix)."""
        return self.model.load_state_dict(state_dict, strict=strict)


class WaveletPretransform(Pretransform):
    """Multi-level biorthogonal DWT: `[B, C, T]` <-> `[B, C·2^levels, T / 2^levels]`, exactly invertible."""

    def __init__(self, *, channels: int, levels: int, wavelet: BiorthogonalWavelet, enable_grad: bool = False) -> None:
        if levels < 1:
            raise ValueError(f"wavelet `levels` must be at least 1, got {levels}")
        super().__init__(
            io_channels=channels,
            encoded_channels=channels * 2**levels,
            downsampling_ratio=2**levels,
            is_discrete=False,
            enable_grad=enable_grad,
        )
        self.encoder = WaveletEncode1d(channels, levels, wavelet)
        self.decoder = WaveletDecode1d(channels, levels, wavelet)
        self._freeze_unless_trainable()

    def encode(self, x: Tensor) -> Tensor:
        length = x.shape[-1]
        if length % self.downsampling_ratio != 0:
            raise ValueError(f"wavelet input length {length} is not divisible by 2^levels = {self.downsampling_ratio}")
        coarsest = length // (self.downsampling_ratio // 2)  # length of the band the last level filters
        if coarsest <= self.encoder.kernel.shape[-1] // 2:
            raise ValueError(f"wavelet input length {length} is too short for {self.encoder.levels} levels")
        return self.encoder(x)

    def decode(self, z: Tensor) -> Tensor:
        return self.decoder(z)


class PatchedPretransform(Pretransform):
    """Folds `patch_size` consecutive samples into channels, channel-major: `[B, C, T]` -> `[B, C·P, ceil(T/P)]`."""

    def __init__(self, *, channels: int, patch_size: int, oversampling: int = 1, enable_grad: bool = False) -> None:
        if oversampling != 1:
            # the reference resamples with torchaudio here (and then reports a wrong downsampling ratio)
            raise ValueError("patched pretransform `oversampling` other than 1 is not supported")
        super().__init__(
            io_channels=channels,
            encoded_channels=channels * patch_size,
            downsampling_ratio=patch_size,
            is_discrete=False,
            enable_grad=enable_grad,
        )
        self.channels = channels
        self.patch_size = patch_size
        self._freeze_unless_trainable()

    def encode(self, x: Tensor) -> Tensor:
        pad = (-x.shape[-1]) % self.patch_size  # zero-pad the end to a whole number of patches
        if pad:
            x = torch.cat([x, x.new_zeros(*x.shape[:-1], pad)], dim=-1)
        return rearrange(x, "b c (l h) -> b (c h) l", h=self.patch_size)

    def decode(self, z: Tensor) -> Tensor:
        return rearrange(z, "b (c h) l -> b c (l h)", h=self.patch_size)
