"""Autoencoder bottlenecks (stable-audio-tools `models/bottleneck.py` semantics): continuous (`tanh`, `vae`,
`l2_norm`, `wasserstein`) and discrete (`rvq`, `rvq_vae`, `dac_rvq`, `dac_rvq_vae`, `fsq`, `dithered_fsq`).

Every bottleneck maps channels-first latents `[B, C, T]`. `encode(x, return_info=True)` returns `(latents, info)`
where `info` holds losses and tokens (`kl`, `mmd`, `quantizer_indices`, `codes`, …); `decode` prepares latents for
the decoder (adding noise channels where `noise_augment_dim > 0`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from audiodiff.nn.errors import MissingExtraError
from audiodiff.nn.quantizers import FSQ, DACResidualVectorQuantize, DitheredFSQ

Info = dict[str, Tensor]


class Bottleneck(nn.Module):
    """Base class: `encode` / `decode` on `[B, C, T]` latents."""

    is_discrete: bool = False
    # whether `encode` draws a VAE sample, and so takes an explicit standard-normal `noise`: callers that hold a
    # noise tensor (fixtures, parity runs) pass it exactly where this is true, and the others reject it
    takes_noise: bool = False

    def encode(self, x: Tensor, return_info: bool = False, *, noise: Tensor | None = None) -> Any:
        """Latents `[B, C_in, T]` -> `[B, C_out, T]` (and the info dict when `return_info`)."""
        raise NotImplementedError

    def decode(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def _reject_noise(self, noise: Tensor | None) -> None:
        if noise is not None:
            raise ValueError(f"the `{type(self).__name__}` bottleneck does not sample, so it takes no `noise`")


class DiscreteBottleneck(Bottleneck):
    """A bottleneck whose latents are also given as integer tokens (`info[tokens_id]`)."""

    is_discrete = True

    def __init__(self, *, num_quantizers: int, codebook_size: int, tokens_id: str) -> None:
        super().__init__()
        self.num_quantizers = num_quantizers
        self.codebook_size = codebook_size
        self.tokens_id = tokens_id

    def decode_tokens(self, tokens: Tensor) -> Tensor:
        raise NotImplementedError


def _augment_with_noise(x: Tensor, noise_augment_dim: int) -> Tensor:
    """Append `noise_augment_dim` standard-normal channels: `[B, C, T] -> [B, C + n, T]`."""
    if noise_augment_dim <= 0:
        return x
    noise = torch.randn(x.shape[0], noise_augment_dim, x.shape[-1], device=x.device, dtype=x.dtype)
    return torch.cat([x, noise], dim=1)


def vae_distribution(x: Tensor) -> tuple[Tensor, Tensor]:
    """Split `[B, 2d, T]` into mean and std = softplus(scale) + 1e-4, each `[B, d, T]`."""
    if x.shape[1] % 2 != 0:
        raise ValueError(f"a VAE bottleneck needs an even number of input channels, got {x.shape[1]}")
    mean, scale = x.chunk(2, dim=1)
    return mean, F.softplus(scale) + 1e-4


def vae_sample(x: Tensor, noise: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Reparameterised sample mean + std·ε (Kingma & Welling, 2014) and a KL term to N(0, I), summed over channels.

    The KL term is the reference's: twice the analytic KL divergence (it omits the factor 1/2)."""
    mean, std = vae_distribution(x)
    if noise is None:
        noise = torch.randn_like(mean)
    elif noise.shape != mean.shape:
        raise ValueError(f"VAE noise must have shape {tuple(mean.shape)}, got {tuple(noise.shape)}")
    var = std * std
    kl = (mean * mean + var - torch.log(var) - 1).sum(1).mean()
    return mean + std * noise, kl


class TanhBottleneck(Bottleneck):
    """Soft clipping: scale·tanh(x / scale)."""

    def __init__(self, *, scale: float = 1.0) -> None:
        super().__init__()
        self.scale = scale

    def encode(self, x: Tensor, return_info: bool = False, *, noise: Tensor | None = None) -> Any:
        self._reject_noise(noise)
        x = torch.tanh(x / self.scale) * self.scale
        return (x, {}) if return_info else x

    def decode(self, x: Tensor) -> Tensor:
        return x


class VAEBottleneck(Bottleneck):
    """Diagonal-Gaussian VAE bottleneck: `[B, 2d, T]` -> a sample `[B, d, T]`; always samples, also in eval."""

    takes_noise = True

    def encode(self, x: Tensor, return_info: bool = False, *, noise: Tensor | None = None) -> Any:
        latents, kl = vae_sample(x, noise)
        return (latents, {"kl": kl}) if return_info else latents

    def decode(self, x: Tensor) -> Tensor:
        return x


class L2Bottleneck(Bottleneck):
    """Projects every frame onto the unit sphere over channels (on encode and decode)."""

    def encode(self, x: Tensor, return_info: bool = False, *, noise: Tensor | None = None) -> Any:
        self._reject_noise(noise)
        x = F.normalize(x, dim=1)
        return (x, {}) if return_info else x

    def decode(self, x: Tensor) -> Tensor:
        return F.normalize(x, dim=1)


def _mean_rbf_kernel(x: Tensor, y: Tensor) -> Tensor:
    # x: [N, C], y: [M, C]; exp(-mean squared difference / C), averaged over all pairs
    kernel_input = (x[:, None] - y[None]).pow(2).mean(2) / x.shape[-1]
    return torch.exp(-kernel_input).mean()


def maximum_mean_discrepancy(latents: Tensor) -> Tensor:
    """MMD between the frames of `[B, C, T]` and standard-normal draws (Wasserstein AE; Tolstikhin et al., 2018)."""
    frames = latents.permute(0, 2, 1).reshape(-1, latents.shape[1])  # [B*T, C]
    noise = torch.randn_like(frames)
    return _mean_rbf_kernel(frames, frames) + _mean_rbf_kernel(noise, noise) - 2 * _mean_rbf_kernel(frames, noise)


class WassersteinBottleneck(Bottleneck):
    """Wasserstein-AE bottleneck: MMD to N(0, I) as training loss, optional tanh soft clip and noise channels."""

    def __init__(
        self, *, noise_augment_dim: int = 0, bypass_mmd: bool = False, use_tanh: bool = False, tanh_scale: float = 5.0
    ) -> None:
        super().__init__()
        self.noise_augment_dim = noise_augment_dim
        self.bypass_mmd = bypass_mmd
        self.use_tanh = use_tanh
        self.tanh_scale = tanh_scale

    def encode(self, x: Tensor, return_info: bool = False, *, noise: Tensor | None = None) -> Any:
        self._reject_noise(noise)
        info: Info = {}
        if self.training and return_info:
            info["mmd"] = x.new_zeros(()) if self.bypass_mmd else maximum_mean_discrepancy(x)
        if self.use_tanh:
            x = torch.tanh(x / self.tanh_scale) * self.tanh_scale
        return (x, info) if return_info else x

    def decode(self, x: Tensor) -> Tensor:
        return _augment_with_noise(x, self.noise_augment_dim)


def _residual_vq_class() -> type[nn.Module]:
    try:
        from vector_quantize_pytorch import ResidualVQ
    except ImportError as error:
        raise MissingExtraError(extra="vq", feature="the `rvq` / `rvq_vae` bottlenecks") from error
    return ResidualVQ


def _initted_as_reference(module: nn.Module, state_dict: dict[str, Any], prefix: str, local_metadata: Any) -> None:
    for key, value in state_dict.items():
        if key.startswith(prefix) and key.endswith(".initted") and value.dim() == 0:
            state_dict[key] = value.reshape(1)


class RVQBottleneck(DiscreteBottleneck):
    """Residual VQ with EMA codebooks from vector-quantize-pytorch (optional `vq` extra); codebooks are buffers."""

    quantizer: Any  # vector_quantize_pytorch.ResidualVQ (untyped third-party)

    def __init__(
        self,
        *,
        dim: int = 128,
        codebook_size: int = 1024,
        num_quantizers: int = 8,
        decay: float = 0.99,
        kmeans_init: bool = True,
        kmeans_iters: int = 50,
        threshold_ema_dead_code: int = 2,
        codebook_dim: int | None = None,
        shared_codebook: bool = False,
        commitment_weight: float = 1.0,
        use_cosine_sim: bool = False,
        quantize_dropout: bool = False,
    ) -> None:
        super().__init__(num_quantizers=num_quantizers, codebook_size=codebook_size, tokens_id="quantizer_indices")
        residual_vq = _residual_vq_class()
        self.quantizer = residual_vq(
            dim=dim,
            codebook_size=codebook_size,
            num_quantizers=num_quantizers,
            decay=decay,
            kmeans_init=kmeans_init,
            kmeans_iters=kmeans_iters,
            threshold_ema_dead_code=threshold_ema_dead_code,
            codebook_dim=codebook_dim,
            shared_codebook=shared_codebook,
            commitment_weight=commitment_weight,
            use_cosine_sim=use_cosine_sim,
            quantize_dropout=quantize_dropout,
        )
        # Recent vector-quantize-pytorch keeps each codebook's `initted` flag as a 0-d buffer; the reference's pinned
        # release (1.14) stores it as shape [1], and its strict load refuses the 0-d form. Saved state dicts use
        # the reference's layout; loading accepts both (the library reshapes on load).
        self.register_state_dict_post_hook(_initted_as_reference)

    def _quantize(self, x: Tensor, info: Info) -> Tensor:
        quantized, indices, loss = self.quantizer(x.transpose(1, 2))  # [B, T, C], [B, T, Q], [Q]
        info["quantizer_indices"] = indices
        info["quantizer_loss"] = loss.mean()
        return quantized.transpose(1, 2)  # [B, C, T]

    def encode(self, x: Tensor, return_info: bool = False, *, noise: Tensor | None = None) -> Any:
        self._reject_noise(noise)
        info: Info = {}
        x = self._quantize(x, info)
        return (x, info) if return_info else x

    def decode(self, x: Tensor) -> Tensor:
        return x

    def decode_tokens(self, tokens: Tensor) -> Tensor:
        """Indices `[B, T, Q]` -> latents `[B, C, T]`."""
        lookup = getattr(self.quantizer, "get_output_from_indices", None) or self.quantizer.get_outputs_from_indices
        return self.decode(lookup(tokens).transpose(1, 2))


class RVQVAEBottleneck(RVQBottleneck):
    """VAE sample (`[B, 2d, T]` -> `[B, d, T]`) followed by residual VQ."""

    takes_noise = True

    def encode(self, x: Tensor, return_info: bool = False, *, noise: Tensor | None = None) -> Any:
        x, kl = vae_sample(x, noise)
        info: Info = {"kl": kl}
        x = self._quantize(x, info)
        return (x, info) if return_info else x


class DACRVQBottleneck(DiscreteBottleneck):
    """DAC residual VQ (factorised, L2-normalised codes); optionally quantizes on decode instead of encode."""

    def __init__(
        self,
        *,
        n_codebooks: int,
        codebook_size: int,
        input_dim: int = 512,
        codebook_dim: int | Sequence[int] = 8,
        quantizer_dropout: float = 0.0,
        quantize_on_decode: bool = False,
        noise_augment_dim: int = 0,
    ) -> None:
        super().__init__(num_quantizers=n_codebooks, codebook_size=codebook_size, tokens_id="codes")
        self.quantizer = DACResidualVectorQuantize(
            input_dim=input_dim,
            n_codebooks=n_codebooks,
            codebook_size=codebook_size,
            codebook_dim=codebook_dim,
            quantizer_dropout=quantizer_dropout,
        )
        self.quantize_on_decode = quantize_on_decode
        self.noise_augment_dim = noise_augment_dim

    def _quantize(self, x: Tensor, info: Info, n_quantizers: int | None) -> Tensor:
        z, codes, latents, commitment_loss, codebook_loss = self.quantizer(x, n_quantizers)
        info.update(
            {
                "z": z,  # [B, D, T]
                "codes": codes,  # [B, N, T]
                "latents": latents,  # [B, N*d, T]
                "vq/commitment_loss": commitment_loss / self.num_quantizers,
                "vq/codebook_loss": codebook_loss / self.num_quantizers,
            }
        )
        return z

    def encode(
        self, x: Tensor, return_info: bool = False, *, noise: Tensor | None = None, n_quantizers: int | None = None
    ) -> Any:
        self._reject_noise(noise)
        info: Info = {"pre_quantizer": x}
        if not self.quantize_on_decode:
            x = self._quantize(x, info, n_quantizers)
        return (x, info) if return_info else x

    def decode(self, x: Tensor) -> Tensor:
        if self.quantize_on_decode:
            x = self.quantizer(x)[0]
        return _augment_with_noise(x, self.noise_augment_dim)

    def decode_tokens(self, tokens: Tensor) -> Tensor:
        """Codes `[B, N, T]` -> latents `[B, D, T]`."""
        latents, _, _ = self.quantizer.from_codes(tokens)
        return self.decode(latents)


class DACRVQVAEBottleneck(DACRVQBottleneck):
    """VAE sample (`[B, 2d, T]` -> `[B, d, T]`) followed by DAC residual VQ."""

    takes_noise = True

    def __init__(
        self,
        *,
        n_codebooks: int,
        codebook_size: int,
        input_dim: int = 512,
        codebook_dim: int | Sequence[int] = 8,
        quantizer_dropout: float = 0.0,
        quantize_on_decode: bool = False,
    ) -> None:
        super().__init__(
            n_codebooks=n_codebooks,
            codebook_size=codebook_size,
            input_dim=input_dim,
            codebook_dim=codebook_dim,
            quantizer_dropout=quantizer_dropout,
            quantize_on_decode=quantize_on_decode,
        )

    def encode(
        self, x: Tensor, return_info: bool = False, *, noise: Tensor | None = None, n_quantizers: int | None = None
    ) -> Any:
        x, kl = vae_sample(x, noise)
        info: Info = {"pre_quantizer": x, "kl": kl}
        if not self.quantize_on_decode:
            x = self._quantize(x, info, n_quantizers)
        return (x, info) if return_info else x


class FSQBottleneck(DiscreteBottleneck):
    """Finite scalar quantization; tokens `quantizer_indices` are `[B, num_codebooks, T]`."""

    def __init__(
        self, *, levels: Sequence[int], dim: int | None = None, num_codebooks: int = 1, noise_augment_dim: int = 0
    ) -> None:
        quantizer = FSQ(levels=levels, dim=dim, num_codebooks=num_codebooks)
        super().__init__(
            num_quantizers=num_codebooks, codebook_size=quantizer.codebook_size, tokens_id="quantizer_indices"
        )
        self.quantizer = quantizer
        self.noise_augment_dim = noise_augment_dim

    def encode(self, x: Tensor, return_info: bool = False, *, noise: Tensor | None = None) -> Any:
        self._reject_noise(noise)
        orig_dtype = x.dtype
        quantized, indices = self.quantizer(x.float().transpose(1, 2))  # [B, T, C], [B, T, Q]
        x = quantized.transpose(1, 2).to(orig_dtype)
        info: Info = {"quantizer_indices": indices.transpose(1, 2)}  # [B, Q, T]
        return (x, info) if return_info else x

    def decode(self, x: Tensor) -> Tensor:
        return _augment_with_noise(x, self.noise_augment_dim)

    def decode_tokens(self, tokens: Tensor) -> Tensor:
        """Indices `[B, Q, T]` -> latents `[B, C, T]`."""
        return self.decode(self.quantizer.indices_to_codes(tokens.transpose(1, 2)).transpose(1, 2))


class DitheredFSQBottleneck(DiscreteBottleneck):
    """stable-audio-tools' dithered FSQ; `levels` is one count for every channel or one per channel."""

    def __init__(
        self,
        *,
        dim: int,
        levels: int | Sequence[int],
        num_codebooks: int = 1,
        dither_inference: bool = True,
        noise_dropout: float = 0.05,
    ) -> None:
        if isinstance(levels, int):
            level_list = [levels] * dim
        else:
            level_list = list(levels)
            if len(level_list) != dim:
                raise ValueError(f"dithered_fsq `levels` has {len(level_list)} entries but `dim` is {dim}")
        quantizer = DitheredFSQ(
            levels=level_list,
            dither_inference=dither_inference,
            num_codebooks=num_codebooks,
            noise_dropout=noise_dropout,
        )
        super().__init__(
            num_quantizers=num_codebooks, codebook_size=quantizer.codebook_size, tokens_id="quantizer_indices"
        )
        self.quantizer = quantizer

    def encode(self, x: Tensor, return_info: bool = False, *, noise: Tensor | None = None) -> Any:
        self._reject_noise(noise)
        quantized, indices = self.quantizer(x.transpose(1, 2))  # [B, T, C], [B, T, Q]
        x = quantized.transpose(1, 2)
        info: Info = {"quantizer_indices": indices}  # [B, T, Q], as the reference leaves them
        return (x, info) if return_info else x

    def decode(self, x: Tensor) -> Tensor:
        return x

    def decode_tokens(self, tokens: Tensor) -> Tensor:
        """Indices `[B, T, Q]` -> latents `[B, C, T]`."""
        return self.decode(self.quantizer.indices_to_codes(tokens).transpose(1, 2))
