"""Quantizers used by the discrete bottlenecks, written in plain torch:

* DAC's factorised, L2-normalised residual vector quantizer (Kumar et al., 2023), key layout
  `quantizers.{i}.in_proj.{weight_g,weight_v,bias}`, `quantizers.{i}.out_proj.*`, `quantizers.{i}.codebook.weight`;
* finite scalar quantization, FSQ (Mentzer et al., 2023), with vector-quantize-pytorch's optional
  `project_in` / `project_out` linear layers;
* stable-audio-tools' dithered FSQ (no state).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from audiodiff.nn.codec_layers import WNConv1d


class DACVectorQuantize(nn.Module):
    """One DAC codebook: project to a low dimension, nearest L2-normalised code (cosine similarity), project back."""

    def __init__(self, input_dim: int, codebook_size: int, codebook_dim: int) -> None:
        super().__init__()
        self.codebook_size = codebook_size
        self.codebook_dim = codebook_dim
        self.in_proj = WNConv1d(input_dim, codebook_dim, 1)
        self.out_proj = WNConv1d(codebook_dim, input_dim, 1)
        self.codebook = nn.Embedding(codebook_size, codebook_dim)

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """Returns (z_q [B, D, T], commitment loss [B], codebook loss [B], indices [B, T], z_e [B, d, T])."""
        z_e = self.in_proj(z)  # [B, d, T]
        z_q, indices = self.decode_latents(z_e)
        commitment_loss = F.mse_loss(z_e, z_q.detach(), reduction="none").mean([1, 2])
        codebook_loss = F.mse_loss(z_q, z_e.detach(), reduction="none").mean([1, 2])
        z_q = z_e + (z_q - z_e).detach()  # straight-through estimator
        return self.out_proj(z_q), commitment_loss, codebook_loss, indices, z_e

    def decode_code(self, indices: Tensor) -> Tensor:
        """Codes `[B, T]` -> codebook vectors `[B, d, T]`."""
        return F.embedding(indices, self.codebook.weight).transpose(1, 2)

    def decode_latents(self, latents: Tensor) -> tuple[Tensor, Tensor]:
        """Nearest code for each frame of `[B, d, T]` by distance between L2-normalised vectors."""
        batch = latents.shape[0]
        encodings = F.normalize(latents.transpose(1, 2).reshape(-1, latents.shape[1]))  # [B*T, d]
        codebook = F.normalize(self.codebook.weight)  # [N, d]
        dist = (
            encodings.pow(2).sum(1, keepdim=True)
            - 2 * encodings @ codebook.t()
            + codebook.pow(2).sum(1, keepdim=True).t()
        )  # [B*T, N]
        indices = (-dist).max(1)[1].reshape(batch, -1)  # [B, T]
        return self.decode_code(indices), indices


class DACResidualVectorQuantize(nn.Module):
    """Residual VQ (SoundStream; Zeghidour et al., 2021) with DAC codebooks and optional quantizer dropout."""

    def __init__(
        self,
        *,
        input_dim: int = 512,
        n_codebooks: int = 9,
        codebook_size: int = 1024,
        codebook_dim: int | Sequence[int] = 8,
        quantizer_dropout: float = 0.0,  # fraction of a training batch that uses a random number of codebooks
    ) -> None:
        super().__init__()
        dims = [codebook_dim] * n_codebooks if isinstance(codebook_dim, int) else list(codebook_dim)
        if len(dims) != n_codebooks:
            raise ValueError(f"dac_rvq `codebook_dim` lists {len(dims)} sizes for {n_codebooks} codebooks")
        self.n_codebooks = n_codebooks
        self.codebook_dim = dims
        self.codebook_size = codebook_size
        self.quantizer_dropout = float(quantizer_dropout)
        self.quantizers = nn.ModuleList(DACVectorQuantize(input_dim, codebook_size, d) for d in dims)

    def forward(self, z: Tensor, n_quantizers: int | None = None) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """z `[B, D, T]` -> (z_q [B, D, T], codes [B, N, T], latents [B, Σd, T], commitment loss, codebook loss)."""
        batch = z.shape[0]
        limit: Tensor | int = self.n_codebooks if n_quantizers is None else n_quantizers
        if self.training:
            # every item uses all codebooks except a `quantizer_dropout` fraction, which uses a random number of them
            limit = torch.full((batch,), self.n_codebooks + 1.0)
            dropout = torch.randint(1, self.n_codebooks + 1, (batch,))
            n_dropout = int(batch * self.quantizer_dropout)
            limit[:n_dropout] = dropout[:n_dropout].float()
            limit = limit.to(z.device)
        z_q: Tensor = torch.zeros_like(z)
        residual = z
        commitment_loss: Tensor = z.new_zeros(())
        codebook_loss: Tensor = z.new_zeros(())
        codes, latents = [], []
        for i, quantizer in enumerate(self.quantizers):
            if not self.training and i >= limit:
                break
            z_q_i, commitment_i, codebook_i, indices_i, z_e_i = quantizer(residual)
            mask = torch.full((batch,), i, device=z.device) < limit  # [B]
            z_q = z_q + z_q_i * mask[:, None, None]
            residual = residual - z_q_i
            commitment_loss = commitment_loss + (commitment_i * mask).mean()
            codebook_loss = codebook_loss + (codebook_i * mask).mean()
            codes.append(indices_i)
            latents.append(z_e_i)
        return z_q, torch.stack(codes, dim=1), torch.cat(latents, dim=1), commitment_loss, codebook_loss

    def from_codes(self, codes: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Codes `[B, N, T]` -> (z_q [B, D, T], codebook vectors [B, Σd, T], codes)."""
        if not 1 <= codes.shape[1] <= self.n_codebooks:
            raise ValueError(f"codes must hold 1 to {self.n_codebooks} codebooks on axis 1, got {codes.shape[1]}")
        used = self.codebooks()[: codes.shape[1]]
        z_p = [quantizer.decode_code(codes[:, i, :]) for i, quantizer in enumerate(used)]  # each [B, d_i, T]
        projected = [quantizer.out_proj(z_p_i) for quantizer, z_p_i in zip(used, z_p, strict=True)]
        z_q = projected[0]
        for term in projected[1:]:  # summed in codebook order, as the reference's `sum`
            z_q = z_q + term
        return z_q, torch.cat(z_p, dim=1), codes

    def codebooks(self) -> list[DACVectorQuantize]:
        """The quantizers in order (the filter tells the type checker what the ModuleList holds)."""
        return [quantizer for quantizer in self.quantizers if isinstance(quantizer, DACVectorQuantize)]


def _round_ste(z: Tensor) -> Tensor:
    """Round with a straight-through gradient."""
    return z + (z.round() - z).detach()


class FSQ(nn.Module):
    """Finite scalar quantization (Mentzer et al., 2023): tanh-bounded channels rounded to `levels[i]` values."""

    _levels: Tensor  # [d] (buffers)
    _basis: Tensor

    def __init__(self, *, levels: Sequence[int], dim: int | None = None, num_codebooks: int = 1) -> None:
        super().__init__()
        levels = [int(level) for level in levels]
        if len(levels) == 0 or min(levels) < 2:
            raise ValueError(f"fsq `levels` must be a non-empty list of integers >= 2, got `{levels}`")
        self.levels = levels
        self.num_codebooks = num_codebooks
        self.codebook_dim = len(levels)
        self.codebook_size = math.prod(levels)
        effective_dim = self.codebook_dim * num_codebooks
        self.dim = effective_dim if dim is None else dim
        self.register_buffer("_levels", torch.tensor(levels, dtype=torch.int32), persistent=False)
        basis = torch.cumprod(torch.tensor([1] + levels[:-1]), dim=0, dtype=torch.int32)
        self.register_buffer("_basis", basis, persistent=False)
        has_projections = self.dim != effective_dim
        self.project_in: nn.Module = nn.Linear(self.dim, effective_dim) if has_projections else nn.Identity()
        self.project_out: nn.Module = nn.Linear(effective_dim, self.dim) if has_projections else nn.Identity()

    def bound(self, z: Tensor, eps: float = 1e-3) -> Tensor:
        """Squash each channel into its level range and round; output on the grid {-1, …, 1}·(L//2)/(L//2)."""
        half_l = (self._levels - 1) * (1 + eps) / 2
        offset = torch.where(self._levels % 2 == 0, 0.5, 0.0)
        shift = torch.atanh(offset / half_l)
        bounded = torch.tanh(z + shift) * half_l - offset
        return _round_ste(bounded) / (self._levels // 2)

    def codes_to_indices(self, codes: Tensor) -> Tensor:
        """Codes `[..., d]` on the normalised grid -> flat indices `[...]`."""
        half_width = self._levels // 2
        level_indices = codes * half_width + half_width
        return (level_indices * self._basis).sum(dim=-1).round().to(torch.int32)

    def indices_to_codes(self, indices: Tensor) -> Tensor:
        """Indices `[B, N, num_codebooks]` -> projected codes `[B, N, dim]`."""
        level_indices = (indices[..., None] // self._basis) % self._levels  # [B, N, c, d]
        half_width = self._levels // 2
        codes = (level_indices - half_width) / half_width
        return self.project_out(codes.flatten(-2))

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """z `[B, N, dim]` -> (quantized `[B, N, dim]`, indices `[B, N, num_codebooks]`)."""
        if z.shape[-1] != self.dim:
            raise ValueError(f"fsq expected {self.dim} channels, got {z.shape[-1]}")
        z = self.project_in(z)
        z = z.unflatten(-1, (self.num_codebooks, self.codebook_dim))  # [B, N, c, d]
        orig_dtype = z.dtype
        if z.dtype not in (torch.float32, torch.float64):
            z = z.float()
        codes = self.bound(z)
        indices = self.codes_to_indices(codes)  # [B, N, c]
        codes = codes.flatten(-2).to(orig_dtype)
        return self.project_out(codes), indices


class DitheredFSQ(nn.Module):
    """stable-audio-tools' dithered FSQ: tanh, then rounding (eval) or a random mix of rounding and dither (train)."""

    _levels: Tensor  # [d] (buffers)
    _basis: Tensor
    half_l: Tensor

    def __init__(
        self,
        *,
        levels: Sequence[int],
        dither_inference: bool = False,
        num_codebooks: int = 1,
        noise_dropout: float = 0.5,
    ) -> None:
        super().__init__()
        levels = [int(level) for level in levels]
        self.levels = levels
        self.codebook_dim = len(levels)
        self.codebook_size = math.prod(levels)
        self.num_codebooks = num_codebooks
        self.dim = self.codebook_dim * num_codebooks
        self.dither_inference = dither_inference  # stored for parity; the reference never reads it
        self.noise_dropout = noise_dropout
        level_tensor = torch.tensor(levels, dtype=torch.int64)
        self.register_buffer("_levels", level_tensor, persistent=False)
        self.register_buffer(
            "_basis", torch.cumprod(torch.tensor([1] + levels[:-1]), dim=0, dtype=torch.int64), persistent=False
        )
        self.register_buffer("half_l", 2.0 / (level_tensor - 1), persistent=False)  # grid spacing in [-1, 1]

    def _to_level_indices(self, z: Tensor) -> Tensor:
        return (z + 1) / self.half_l

    def _from_level_indices(self, level_indices: Tensor) -> Tensor:
        return level_indices * self.half_l - 1

    def quantize(self, z: Tensor) -> Tensor:
        z = torch.tanh(z)
        rounded = self._from_level_indices(_round_ste(self._to_level_indices(z)))
        if not self.training:
            return rounded
        # per batch item: with probability noise_dropout skip the rounding; then, unless a second draw with the same
        # probability keeps that result, replace it by z plus uniform dither of one grid step
        shape = (z.shape[0], 1, 1, 1)
        keep = torch.bernoulli(torch.full(shape, self.noise_dropout, device=z.device)).bool().expand_as(z)
        quantized = torch.where(keep, z, rounded)
        dither = torch.bernoulli(torch.full(shape, self.noise_dropout, device=z.device)).bool().expand_as(z)
        return torch.where(dither, quantized, z + (torch.rand_like(z) - 0.5) * self.half_l)

    def indices_to_codes(self, indices: Tensor) -> Tensor:
        """Indices `[B, N, num_codebooks]` -> codes `[B, N, dim]`."""
        if indices.shape[-1] != self.num_codebooks:
            raise ValueError(f"expected {self.num_codebooks} codebooks in the last axis, got {indices.shape[-1]}")
        level_indices = (indices.to(torch.int64)[..., None] // self._basis) % self._levels
        return self._from_level_indices(level_indices).flatten(-2)

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """z `[B, N, dim]` -> (codes `[B, N, dim]`, indices `[B, N, num_codebooks]`)."""
        if z.shape[-1] != self.dim:
            raise ValueError(f"dithered_fsq expected {self.dim} channels, got {z.shape[-1]}")
        orig_dtype = z.dtype
        z = z.unflatten(-1, (self.num_codebooks, self.codebook_dim))
        if z.dtype not in (torch.float32, torch.float64):
            z = z.to(torch.float64)
        codes = self.quantize(z)
        indices = (self._to_level_indices(codes).round().to(torch.int64) * self._basis).sum(dim=-1)
        return codes.flatten(-2).to(orig_dtype), indices
