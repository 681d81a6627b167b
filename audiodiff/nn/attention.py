"""Multi-head attention of the continuous transformer, with rotary positions and grouped K/V heads.

Numerics and parameter layout follow stable-audio-tools 0.0.19 (`models/transformer.py`): fused QKV projection
for self-attention, separate Q and KV projections for cross-attention (all bias-free), rotary on the first `r`
features of every head with "rotate-half" pairing, computed in float32, and the default `1/sqrt(d)` scale.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from audiodiff.nn.blocks import DynamicTanh

QKNorm = Literal["none", "l2", "ln", "dyt"]
QK_NORMS: tuple[str, ...] = ("none", "l2", "ln", "dyt")

# (cos, sin) of the rotary angles, each [N, r/2] float32; the same table serves every head and every layer.
RotaryAngles = tuple[Tensor, Tensor]


class RotaryEmbedding(nn.Module):
    """Rotary position embedding (Su et al. 2021, RoFormer): one frequency per pair of rotated features."""

    inv_freq: Tensor  # [ceil(dim/2)] (a buffer)

    def __init__(self, dim: int, base: float = 10000.0) -> None:
        super().__init__()
        # Persistent, like the reference: checkpoints carry `inv_freq` and strict loading expects it.
        inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2).float() / dim))  # [ceil(dim/2)]
        self.register_buffer("inv_freq", inv_freq)

    @property
    def rotary_dim(self) -> int:
        """How many leading features of each head are rotated."""
        return 2 * self.inv_freq.shape[0]

    def angles(self, seq_len: int) -> RotaryAngles:
        """cos and sin of `position * frequency` for positions `0..seq_len-1`, in float32 even under autocast."""
        inv_freq = self.inv_freq.float()
        positions = torch.arange(seq_len, device=inv_freq.device, dtype=torch.float32)  # [N]
        freqs = torch.outer(positions, inv_freq)  # [N, r/2]
        return freqs.cos(), freqs.sin()


def apply_rotary(x: Tensor, angles: RotaryAngles) -> Tensor:
    """Rotate the first `r` features of every head ("rotate-half" pairs `i` and `i + r/2`); the rest pass through.

    `x` is token-major, `[B, N, ..., D]`; the rotation is computed in float32 and cast back to `x.dtype`.
    """
    cos, sin = angles  # [N, r/2]
    half = cos.shape[-1]
    rot = 2 * half
    if rot > x.shape[-1]:
        raise ValueError(f"rotary width `{rot}` is wider than the attention head width `{x.shape[-1]}`")
    shape = (cos.shape[0],) + (1,) * (x.ndim - 3) + (half,)
    cos, sin = cos.view(shape), sin.view(shape)  # broadcast over batch and the head axes
    xr = x[..., :rot].float()
    x1, x2 = xr[..., :half], xr[..., half:]
    rotated = torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1).to(x.dtype)
    if rot == x.shape[-1]:
        return rotated
    return torch.cat((rotated, x[..., rot:]), dim=-1)


@functools.cache
def _flash_attn_func() -> Callable[..., Tensor] | None:
    """`flash_attn.flash_attn_func` when the optional `flash` extra is installed, else None."""
    try:
        from flash_attn import flash_attn_func
    except ImportError:
        return None
    return flash_attn_func


def flash_attn_available() -> bool:
    return _flash_attn_func() is not None


def attend(
    q: Tensor,  # [B, H, N, D]
    k: Tensor,  # [B, H_kv, M, D]
    v: Tensor,  # [B, H_kv, M, D]
    *,
    causal: bool,
    sliding_window: tuple[int, int] | None = None,
) -> Tensor:  # [B, H, N, D]
    """Softmax attention: flash-attn for CUDA half-precision inputs (or a sliding window) when installed, else SDPA."""
    flash = _flash_attn_func()
    use_flash = (
        flash is not None
        and q.is_cuda
        and q.shape[-1] <= 256
        and q.shape[-1] % 8 == 0
        and (q.dtype in (torch.float16, torch.bfloat16) or sliding_window is not None)
    )
    if use_flash and flash is not None:
        dtype = q.dtype
        # flash-attn wants token-major [B, N, H, D] and computes in half precision (fp16 like the reference
        # when given float32); it handles grouped K/V heads itself.
        half = dtype if dtype in (torch.float16, torch.bfloat16) else torch.float16
        q_, k_, v_ = (t.transpose(1, 2).to(half) for t in (q, k, v))
        window = tuple(sliding_window) if sliding_window is not None else (-1, -1)
        out = flash(q_, k_, v_, causal=causal, window_size=window)  # [B, N, H, D]
        return out.to(dtype).transpose(1, 2)
    # grouped K/V heads (query head i reads K/V head i // group): SDPA reads them in place, without copies
    grouped = k.shape[1] != q.shape[1]
    return F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=grouped)


class Attention(nn.Module):
    """Multi-head softmax attention (Vaswani et al. 2017); optional differential attention (Ye et al. 2024)."""

    def __init__(
        self,
        dim: int,  # model width E
        *,
        dim_heads: int = 64,  # head width D; E / D query heads
        dim_context: int | None = None,  # context width C_e for cross-attention (None: self-attention)
        causal: bool = False,  # causal mask (also applied to cross-attention, as the reference does)
        zero_init_output: bool = True,  # zero-initialise `to_out`
        qk_norm: QKNorm = "none",  # normalise queries and keys per head: l2, LayerNorm or DynamicTanh
        differential: bool = False,  # two attention maps, the second subtracted
        feat_scale: bool = False,  # learned re-weighting of the token-mean and the residual of the output
    ) -> None:
        super().__init__()
        if qk_norm not in QK_NORMS:
            raise ValueError(f"`qk_norm` must be one of {', '.join(QK_NORMS)}, got `{qk_norm}`")
        if dim % dim_heads != 0:
            raise ValueError(f"attention width `{dim}` is not a multiple of the head width `{dim_heads}`")
        self.dim = dim
        self.dim_heads = dim_heads
        self.num_heads = dim // dim_heads
        self.is_cross = dim_context is not None
        dim_kv = dim_context if dim_context is not None else dim
        if dim_kv % dim_heads != 0 or dim_kv < dim_heads:
            raise ValueError(
                f"cross-attention context width `{dim_kv}` must be a positive multiple of the head width `{dim_heads}`"
            )
        self.kv_heads = dim_kv // dim_heads
        if self.num_heads % self.kv_heads != 0:
            raise ValueError(
                f"`{self.num_heads}` query heads cannot share `{self.kv_heads}` key/value heads evenly "
                f"(context width `{dim_kv}`, head width `{dim_heads}`)"
            )
        self.differential = differential
        self.causal = causal
        self.qk_norm = qk_norm

        if dim_context is not None:
            self.to_q = nn.Linear(dim, dim * (2 if differential else 1), bias=False)
            self.to_kv = nn.Linear(dim_kv, dim_kv * (3 if differential else 2), bias=False)
        else:
            self.to_qkv = nn.Linear(dim, dim * (5 if differential else 3), bias=False)
        self.to_out = nn.Linear(dim, dim, bias=False)
        if zero_init_output:
            nn.init.zeros_(self.to_out.weight)

        if qk_norm == "ln":
            self.q_norm: nn.Module = nn.LayerNorm(dim_heads, elementwise_affine=True, eps=1.0e-6)
            self.k_norm: nn.Module = nn.LayerNorm(dim_heads, elementwise_affine=True, eps=1.0e-6)
        elif qk_norm == "dyt":
            self.q_norm = DynamicTanh(dim_heads)
            self.k_norm = DynamicTanh(dim_heads)

        self.feat_scale = feat_scale
        if feat_scale:
            self.lambda_dc = nn.Parameter(torch.zeros(dim))  # [E] weight of the token-mean ("DC") component
            self.lambda_hf = nn.Parameter(torch.zeros(dim))  # [E] weight of the rest ("high frequency")

    def _normalize(self, q: Tensor, k: Tensor) -> tuple[Tensor, Tensor]:
        if self.qk_norm == "l2":
            return F.normalize(q, dim=-1), F.normalize(k, dim=-1)
        if self.qk_norm in ("ln", "dyt"):
            return self.q_norm(q).to(q.dtype), self.k_norm(k).to(k.dtype)
        return q, k

    def _project(self, x: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        """Queries `[B, N, S, H, D]`, keys `[B, M, S, H_kv, D]`, values `[B, M, H_kv, D]` (S = 2 if differential)."""
        batch, length, _ = x.shape
        h, d = self.num_heads, self.dim_heads
        if self.is_cross:
            if context is None:
                raise ValueError("cross-attention needs a context")
            s = 2 if self.differential else 1
            q = self.to_q(x).view(batch, length, s, h, d)  # chunks: q (, q_diff)
            kv = self.to_kv(context).view(batch, context.shape[1], s + 1, self.kv_heads, d)  # k (, k_diff), v
            return q, kv[:, :, :s], kv[:, :, s]
        if self.differential:
            qkv = self.to_qkv(x).view(batch, length, 5, h, d)  # chunks: q, k, v, q_diff, k_diff
            return qkv[:, :, 0::3], qkv[:, :, 1::3], qkv[:, :, 2]
        qkv = self.to_qkv(x).view(batch, length, 3, h, d)  # chunks: q, k, v
        return qkv[:, :, 0:1], qkv[:, :, 1:2], qkv[:, :, 2]

    def forward(
        self,
        x: Tensor,  # [B, N, E]
        *,
        context: Tensor | None = None,  # [B, M, C_e] (cross-attention only)
        rotary: RotaryAngles | None = None,  # applied to self-attention queries and keys
        sliding_window: tuple[int, int] | None = None,  # (left, right); honoured by flash-attn only
    ) -> Tensor:  # [B, N, E]
        batch, length, _ = x.shape
        if self.is_cross or self.differential or self.qk_norm in ("ln", "dyt"):
            q, k, v = self._project(x, context)
            q, k = self._normalize(q, k)
            if rotary is not None:
                q, k = apply_rotary(q, rotary), apply_rotary(k, rotary)
        else:
            # Common path: queries and keys are adjacent slices of the fused projection and go through the same
            # per-vector operations, so normalise and rotate them together (half the kernel launches).
            qkv = self.to_qkv(x).view(batch, length, 3, self.num_heads, self.dim_heads)
            qk, v = qkv[:, :, :2], qkv[:, :, 2]  # [B, N, 2, H, D], [B, N, H, D]
            if self.qk_norm == "l2":
                qk = F.normalize(qk, dim=-1)
            if rotary is not None:
                qk = apply_rotary(qk, rotary)
            q, k = qk[:, :, 0:1], qk[:, :, 1:2]
        q = q.permute(2, 0, 3, 1, 4)  # [S, B, H, N, D]
        k = k.permute(2, 0, 3, 1, 4)  # [S, B, H_kv, M, D]
        v = v.transpose(1, 2)  # [B, H_kv, M, D]
        causal = self.causal and length > 1
        out = attend(q[0], k[0], v, causal=causal, sliding_window=sliding_window)  # [B, H, N, D]
        if self.differential:
            out = out - attend(q[1], k[1], v, causal=causal, sliding_window=sliding_window)
        out = self.to_out(out.transpose(1, 2).reshape(batch, length, self.dim))  # [B, N, E]
        if self.feat_scale:
            out_dc = out.mean(dim=-2, keepdim=True)  # [B, 1, E]
            out = out + self.lambda_dc * out_dc + self.lambda_hf * (out - out_dc)
        return out
