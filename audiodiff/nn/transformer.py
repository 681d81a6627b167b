"""The continuous transformer of stable-audio-tools' DiT: pre-norm blocks of self-attention, cross-attention,
optional conformer convolution and SwiGLU feed-forward, with optional adaLN modulation.

Parameter names, shapes and numerics follow stable-audio-tools 0.0.19 (`models/transformer.py`, spec §2.2.1 and
§8.2), so released checkpoints load with `strict=True` and give the same outputs.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
import torch.utils.checkpoint
from torch import Tensor, nn

from audiodiff.nn.attention import Attention, QKNorm, RotaryAngles, RotaryEmbedding, flash_attn_available
from audiodiff.nn.blocks import DynamicTanh, LayerNorm, LayerScale


@dataclass(frozen=True)
class NormOptions:
    """Options of every LayerNorm in the transformer (upstream `norm_kwargs`)."""

    bias: bool = False
    fix_scale: bool = False
    force_fp32: bool = False
    eps: float = 1e-5


@dataclass(frozen=True)
class AttentionOptions:
    """Options of every attention layer (upstream `attn_kwargs`)."""

    qk_norm: QKNorm = "none"
    differential: bool = False
    feat_scale: bool = False


@dataclass(frozen=True)
class FeedForwardOptions:
    """Options of every feed-forward layer (upstream `ff_kwargs`)."""

    mult: float = 4
    no_bias: bool = False
    glu: bool = True
    use_conv: bool = False
    conv_kernel_size: int = 3


@dataclass(frozen=True)
class TransformerOptions:
    """Architecture options of the continuous transformer that a DiT config can set (spec §2.2.1)."""

    final_cross_attn_ix: int = -1  # only blocks 0..ix cross-attend (-1: all)
    causal: bool = False  # causal self- (and cross-) attention
    rotary_pos_emb: bool = True  # one shared rotary table of width max(head_width // 2, 32)
    zero_init_branch_outputs: bool = True  # zero-init attention outputs and the last feed-forward layer
    conformer: bool = False  # a conformer convolution module per block
    use_sinusoidal_emb: bool = False  # additive scaled sinusoidal positions
    use_abs_pos_emb: bool = False  # additive learned absolute positions (wins over sinusoidal)
    abs_pos_emb_max_length: int = 10000
    num_memory_tokens: int = 0  # learned tokens placed before everything, dropped before the output
    sliding_window: tuple[int, int] | None = None  # (left, right) self-attention window; flash-attn only
    remove_norms: bool = False  # DynamicTanh instead of every LayerNorm
    add_rope: bool = False  # per-block rotary of width head_width // 2, used when the shared one is off
    layer_scale: bool = False  # learned per-channel branch scales (turns zero-init off)
    attn: AttentionOptions = field(default_factory=AttentionOptions)
    ff: FeedForwardOptions = field(default_factory=FeedForwardOptions)
    norm: NormOptions = field(default_factory=NormOptions)


def _norm(dim: int, remove_norms: bool, options: NormOptions) -> nn.Module:
    if remove_norms:
        return DynamicTanh(dim)
    return LayerNorm(
        dim, bias=options.bias, fix_scale=options.fix_scale, force_fp32=options.force_fp32, eps=options.eps
    )


class GLU(nn.Module):
    """Gated linear unit with a SiLU gate, i.e. SwiGLU (Shazeer 2020); first half value, second half gate."""

    def __init__(self, dim_in: int, dim_out: int) -> None:
        super().__init__()
        self.proj = nn.Linear(dim_in, dim_out * 2)

    def forward(self, x: Tensor) -> Tensor:  # [B, N, dim_in] -> [B, N, dim_out]
        value, gate = self.proj(x).chunk(2, dim=-1)
        return value * F.silu(gate)


class _TokenConv(nn.Conv1d):
    """A 'same'-padded Conv1d applied to token-major input `[B, N, C]`."""

    def __init__(self, dim_in: int, dim_out: int, kernel_size: int, bias: bool) -> None:
        super().__init__(dim_in, dim_out, kernel_size, padding=kernel_size // 2, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


class FeedForward(nn.Module):
    """Position-wise feed-forward: SwiGLU by default, or Linear/Conv + SiLU; output layer zero-initialised.

    Submodules sit at the reference's `nn.Sequential` indices: `ff.0` is the input layer (`ff.0.proj` for GLU,
    `ff.0.1` otherwise) and `ff.2` the output layer; the other slots hold no parameters.
    """

    def __init__(
        self,
        dim: int,
        *,
        mult: float = 4,
        no_bias: bool = False,
        glu: bool = True,
        use_conv: bool = False,
        conv_kernel_size: int = 3,
        zero_init_output: bool = True,
    ) -> None:
        super().__init__()
        inner = int(dim * mult)
        if glu:
            # The reference's GLU input layer is always a Linear (with bias), even when `use_conv` is set.
            linear_in: nn.Module = GLU(dim, inner)
        elif use_conv:
            linear_in = nn.Sequential(nn.Identity(), _TokenConv(dim, inner, conv_kernel_size, bias=not no_bias))
        else:
            linear_in = nn.Sequential(nn.Identity(), nn.Linear(dim, inner, bias=not no_bias))
        if use_conv:
            linear_out: nn.Conv1d | nn.Linear = _TokenConv(inner, dim, conv_kernel_size, bias=not no_bias)
        else:
            linear_out = nn.Linear(inner, dim, bias=not no_bias)
        if zero_init_output:
            nn.init.zeros_(linear_out.weight)
            if linear_out.bias is not None:
                nn.init.zeros_(linear_out.bias)
        self.glu = glu
        self.ff = nn.ModuleList([linear_in, nn.Identity(), linear_out])

    def forward(self, x: Tensor) -> Tensor:  # [B, N, E] -> [B, N, E]
        h = self.ff[0](x)
        if not self.glu:
            h = F.silu(h)
        return self.ff[2](h)


class ConformerModule(nn.Module):
    """Conformer convolution module (Gulati et al. 2020) with LayerNorm in place of BatchNorm."""

    def __init__(self, dim: int, *, norm: NormOptions) -> None:
        super().__init__()
        self.in_norm = _norm(dim, False, norm)
        self.pointwise_conv = nn.Conv1d(dim, dim, kernel_size=1, bias=False)
        self.glu = GLU(dim, dim)
        self.depthwise_conv = nn.Conv1d(dim, dim, kernel_size=17, groups=dim, padding=8, bias=False)
        self.mid_norm = _norm(dim, False, norm)
        self.pointwise_conv_2 = nn.Conv1d(dim, dim, kernel_size=1, bias=False)

    def forward(self, x: Tensor) -> Tensor:  # [B, N, E] -> [B, N, E]
        x = self.in_norm(x)
        x = self.pointwise_conv(x.transpose(1, 2)).transpose(1, 2)
        x = self.glu(x)
        x = self.depthwise_conv(x.transpose(1, 2)).transpose(1, 2)
        x = F.silu(self.mid_norm(x))
        return self.pointwise_conv_2(x.transpose(1, 2)).transpose(1, 2)


class AbsolutePositionalEmbedding(nn.Module):
    """Learned absolute position table, scaled by `1/sqrt(dim)`."""

    def __init__(self, dim: int, max_seq_len: int) -> None:
        super().__init__()
        self.scale = dim**-0.5
        self.max_seq_len = max_seq_len
        self.emb = nn.Embedding(max_seq_len, dim)

    def forward(self, x: Tensor) -> Tensor:  # [B, N, E] -> [N, E]
        length = x.shape[1]
        if length > self.max_seq_len:
            raise ValueError(
                f"sequence of `{length}` tokens is longer than the absolute position table (`{self.max_seq_len}`)"
            )
        return self.emb(torch.arange(length, device=x.device)) * self.scale


class ScaledSinusoidalEmbedding(nn.Module):
    """Sinusoidal positions (Vaswani et al. 2017) times a learned scalar, `[sin, cos]` halves."""

    def __init__(self, dim: int, theta: float = 10000.0) -> None:
        super().__init__()
        if dim % 2 != 0:
            raise ValueError(f"sinusoidal position width must be even, got `{dim}`")
        self.scale = nn.Parameter(torch.ones(1) * dim**-0.5)
        self.half_dim = dim // 2  # not `half`: that would hide nn.Module.half()
        self.theta = theta

    def forward(self, x: Tensor) -> Tensor:  # [B, N, E] -> [N, E]
        # The frequencies are not state (the reference keeps them in a non-persistent buffer): computing them
        # here keeps modules built on the meta device correct once materialised.
        inv_freq = self.theta ** -(torch.arange(self.half_dim, device=x.device).float() / self.half_dim)  # [E/2]
        positions = torch.arange(x.shape[1], device=x.device, dtype=torch.float32)  # [N]
        emb = torch.outer(positions, inv_freq)  # [N, E/2]
        return torch.cat((emb.sin(), emb.cos()), dim=-1) * self.scale


class TransformerBlock(nn.Module):
    """Pre-norm transformer block: self-attention, cross-attention, conformer, feed-forward; adaLN when global."""

    def __init__(
        self,
        dim: int,
        *,
        dim_heads: int = 64,
        cross_attend: bool = False,
        dim_context: int | None = None,  # context width for cross-attention (None: the model width)
        global_cond_dim: int | None = None,  # adaLN: width of the (already embedded) global vector
        causal: bool = False,
        zero_init_branch_outputs: bool = True,
        conformer: bool = False,
        remove_norms: bool = False,
        add_rope: bool = False,
        layer_scale: bool = False,
        attn: AttentionOptions = AttentionOptions(),
        ff: FeedForwardOptions = FeedForwardOptions(),
        norm: NormOptions = NormOptions(),
    ) -> None:
        super().__init__()
        self.dim = dim
        self.dim_heads = min(dim_heads, dim)
        self.cross_attend = cross_attend
        if layer_scale:
            zero_init_branch_outputs = False  # the small layer scale already keeps each branch near zero

        self.pre_norm = _norm(dim, remove_norms, norm)
        self.self_attn = Attention(
            dim,
            dim_heads=self.dim_heads,
            causal=causal,
            zero_init_output=zero_init_branch_outputs,
            qk_norm=attn.qk_norm,
            differential=attn.differential,
            feat_scale=attn.feat_scale,
        )
        self.self_attn_scale = LayerScale(dim) if layer_scale else nn.Identity()
        if cross_attend:
            self.cross_attend_norm = _norm(dim, remove_norms, norm)
            self.cross_attn = Attention(
                dim,
                dim_heads=self.dim_heads,
                dim_context=dim_context if dim_context is not None else dim,
                causal=causal,
                zero_init_output=zero_init_branch_outputs,
                qk_norm=attn.qk_norm,
                differential=attn.differential,
                feat_scale=attn.feat_scale,
            )
            self.cross_attn_scale = LayerScale(dim) if layer_scale else nn.Identity()
        self.ff_norm = _norm(dim, remove_norms, norm)
        self.ff = FeedForward(
            dim,
            mult=ff.mult,
            no_bias=ff.no_bias,
            glu=ff.glu,
            use_conv=ff.use_conv,
            conv_kernel_size=ff.conv_kernel_size,
            zero_init_output=zero_init_branch_outputs,
        )
        self.ff_scale = LayerScale(dim) if layer_scale else nn.Identity()
        self.conformer = ConformerModule(dim, norm=norm) if conformer else None
        if conformer:
            self.conformer_scale = LayerScale(dim) if layer_scale else nn.Identity()
        self.global_cond_dim = global_cond_dim
        if global_cond_dim is not None:
            # Learned base of the six modulation vectors; the per-sample part comes from the global embedder.
            self.to_scale_shift_gate = nn.Parameter(torch.randn(6 * dim) / dim**0.5)  # [6E]
        self.rope = RotaryEmbedding(self.dim_heads // 2) if add_rope else None

    def forward(
        self,
        x: Tensor,  # [B, N, E]
        context: Tensor | None = None,  # [B, M, C_e]
        global_cond: Tensor | None = None,  # [B, 6E] embedded global vector (adaLN)
        rotary: RotaryAngles | None = None,
        sliding_window: tuple[int, int] | None = None,
    ) -> Tensor:  # [B, N, E]
        if rotary is None and self.rope is not None:
            rotary = self.rope.angles(x.shape[1])
        modulation: tuple[Tensor, ...] | None = None
        if self.global_cond_dim is not None and self.global_cond_dim > 0 and global_cond is not None:
            modulation = (self.to_scale_shift_gate + global_cond).unsqueeze(1).chunk(6, dim=-1)  # 6 x [B, 1, E]
            scale_self, shift_self, gate_self = modulation[:3]
            h = self.pre_norm(x) * (1 + scale_self) + shift_self
            h = self.self_attn(h, rotary=rotary, sliding_window=sliding_window)
            x = x + self.self_attn_scale(h * torch.sigmoid(1 - gate_self))
        else:
            x = x + self.self_attn_scale(self.self_attn(self.pre_norm(x), rotary=rotary, sliding_window=sliding_window))
        if context is not None and self.cross_attend:
            x = x + self.cross_attn_scale(self.cross_attn(self.cross_attend_norm(x), context=context))
        if self.conformer is not None:
            x = x + self.conformer_scale(self.conformer(x))
        if modulation is not None:
            scale_ff, shift_ff, gate_ff = modulation[3:]
            h = self.ff(self.ff_norm(x) * (1 + scale_ff) + shift_ff)
            x = x + self.ff_scale(h * torch.sigmoid(1 - gate_ff))
        else:
            x = x + self.ff_scale(self.ff(self.ff_norm(x)))
        return x


class ContinuousTransformer(nn.Module):
    """Transformer over continuous token sequences: project in, [memory][prepend][x] tokens, blocks, project out."""

    def __init__(
        self,
        dim: int,  # model width E
        depth: int,  # number of blocks
        *,
        dim_in: int | None = None,  # input token width (None: E, no projection)
        dim_out: int | None = None,  # output token width (None: E, no projection)
        dim_heads: int = 64,  # head width
        cross_attend: bool = False,
        cond_token_dim: int | None = None,  # context width C_e for cross-attention
        global_cond_dim: int | None = None,  # adaLN: width of the global vector (None: no adaLN)
        options: TransformerOptions = TransformerOptions(),
        gradient_checkpointing: bool = False,  # recompute each block in backward (also settable later)
    ) -> None:
        super().__init__()
        o = options
        self.dim = dim
        self.depth = depth
        self.options = options
        self.gradient_checkpointing = gradient_checkpointing
        self.project_in = nn.Linear(dim_in, dim, bias=False) if dim_in is not None else nn.Identity()
        self.project_out = nn.Linear(dim, dim_out, bias=False) if dim_out is not None else nn.Identity()

        block_heads = min(dim_heads, dim)
        self.rotary_pos_emb = RotaryEmbedding(max(dim_heads // 2, 32)) if o.rotary_pos_emb else None
        if self.rotary_pos_emb is not None and self.rotary_pos_emb.rotary_dim > block_heads:
            raise ValueError(
                f"the shared rotary embedding rotates `{self.rotary_pos_emb.rotary_dim}` features per head, more "
                f"than the head width `{block_heads}`: heads must be at least 32 wide, or turn `rotary_pos_emb` off"
            )
        self.num_memory_tokens = o.num_memory_tokens
        if o.num_memory_tokens > 0:
            self.memory_tokens = nn.Parameter(torch.randn(o.num_memory_tokens, dim))  # [n_mem, E]
        self.pos_emb: nn.Module | None = None
        if o.use_abs_pos_emb:
            self.pos_emb = AbsolutePositionalEmbedding(dim, o.abs_pos_emb_max_length + o.num_memory_tokens)
        elif o.use_sinusoidal_emb:
            self.pos_emb = ScaledSinusoidalEmbedding(dim)
        self.global_cond_embedder = None
        if global_cond_dim is not None:
            self.global_cond_embedder = nn.Sequential(
                nn.Linear(global_cond_dim, dim), nn.SiLU(), nn.Linear(dim, dim * 6)
            )
        self.sliding_window = tuple(o.sliding_window) if o.sliding_window is not None else None
        if self.sliding_window is not None and not flash_attn_available():
            warnings.warn(
                "`sliding_window` takes effect only with the optional `flash` extra (flash-attn), which is not "
                "installed: self-attention will see the whole sequence, as stable-audio-tools does",
                stacklevel=2,
            )
        self.layers = nn.ModuleList(
            TransformerBlock(
                dim,
                dim_heads=dim_heads,
                cross_attend=cross_attend and (o.final_cross_attn_ix == -1 or i <= o.final_cross_attn_ix),
                dim_context=cond_token_dim,
                global_cond_dim=global_cond_dim,
                causal=o.causal,
                zero_init_branch_outputs=o.zero_init_branch_outputs,
                conformer=o.conformer,
                remove_norms=o.remove_norms,
                add_rope=o.add_rope,
                layer_scale=o.layer_scale,
                attn=o.attn,
                ff=o.ff,
                norm=o.norm,
            )
            for i in range(depth)
        )

    def forward(
        self,
        x: Tensor,  # [B, N, dim_in]
        *,
        prepend_embeds: Tensor | None = None,  # [B, N_pre, E]
        context: Tensor | None = None,  # [B, M, C_e]
        global_cond: Tensor | None = None,  # [B, global_cond_dim]
    ) -> Tensor:  # [B, N_pre + N, dim_out]
        batch = x.shape[0]
        x = self.project_in(x)  # [B, N, E]
        if prepend_embeds is not None:
            if prepend_embeds.shape[-1] != x.shape[-1]:
                raise ValueError(
                    f"prepend tokens are `{prepend_embeds.shape[-1]}` wide, the transformer `{x.shape[-1]}`"
                )
            x = torch.cat((prepend_embeds, x), dim=1)  # [B, N_pre + N, E]
        if self.num_memory_tokens > 0:
            x = torch.cat((self.memory_tokens.expand(batch, -1, -1), x), dim=1)  # [B, n_mem + N_pre + N, E]
        rotary = self.rotary_pos_emb.angles(x.shape[1]) if self.rotary_pos_emb is not None else None
        if self.pos_emb is not None:
            x = x + self.pos_emb(x)
        if global_cond is not None and self.global_cond_embedder is not None:
            global_cond = self.global_cond_embedder(global_cond)  # [B, 6E]

        checkpointing = self.gradient_checkpointing and torch.is_grad_enabled()
        for layer in self.layers:
            if checkpointing:
                x = torch.utils.checkpoint.checkpoint(
                    layer, x, context, global_cond, rotary, self.sliding_window, use_reentrant=False
                )
            else:
                x = layer(x, context, global_cond, rotary, self.sliding_window)
        x = x[:, self.num_memory_tokens :]
        return self.project_out(x)
