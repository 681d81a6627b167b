"""The DiT's removed `x-transformers` transformer (stable-audio-tools <= 0.0.18), rebuilt from the `x_transformers`
package so that checkpoints saved with x-transformers < 1.27 load strictly and compute the same function.

What the old path built (spec §2.2.2): `ContinuousTransformerWrapper(dim_in, dim_out, max_seq_len=0,
attn_layers=Encoder(dim, depth, heads, attn_flash=True, cross_attend, zero_init_branch_output=True,
rotary_pos_emb=True, ff_swish=True, ff_glu=True))`. x-transformers of that era silently ignored the `dim_context`
and `use_abs_pos_emb` keywords stable-audio-tools passed, so the context must be `embed_dim` wide. Newer
x-transformers releases differ from that layout in three ways, each undone here:

- `project_in` / `project_out` had biases: they are passed in as biased `nn.Linear`s;
- norms were `nn.LayerNorm` (`weight`, `bias`): the new bias-free, unit-offset norms are swapped out;
- rotary pairs were "rotate-half" `(i, i + r/2)`, now interleaved `(2i, 2i + 1)`: the rotated rows of every
  `to_q` / `to_k` weight are permuted on the fly (`_RotaryPairPermutedLinear`), so the stored weights keep the old
  layout and the attention scores are unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
import torch.utils.checkpoint
from torch import Tensor, nn

from audiodiff.nn.errors import MissingExtraError


@dataclass(frozen=True)
class XTransformerOptions:
    """Architecture options of the legacy `x-transformers` DiT transformer."""

    dim_head: int = 64  # x-transformers' head width (independent of embed_dim / num_heads)
    ff_mult: int = 4  # feed-forward expansion


class _RotaryPairPermutedLinear(nn.Linear):
    """A bias-free Linear whose rotated output features are reordered, per head, from rotate-half pairs
    `(i, i + r/2)` to interleaved pairs `(2i, 2i + 1)` before use; the stored weight keeps the old order."""

    def __init__(self, in_features: int, out_features: int, dim_head: int, rotary_dim: int) -> None:
        super().__init__(in_features, out_features, bias=False)
        self.heads = out_features // dim_head
        self.dim_head = dim_head
        self.rotary_dim = rotary_dim

    def forward(self, x: Tensor) -> Tensor:
        h, r = self.heads, self.rotary_dim
        w = self.weight.view(h, self.dim_head, self.in_features)  # [H, D, in]
        # [H, 2, r/2, in] -> [H, r/2, 2, in]: new row 2i + s is old row s * r/2 + i
        rotated = w[:, :r].reshape(h, 2, r // 2, self.in_features).transpose(1, 2).reshape(h, r, self.in_features)
        w = torch.cat((rotated, w[:, r:]), dim=1).view(self.out_features, self.in_features)
        return F.linear(x, w)


class LegacyXTransformer(nn.Module):
    """x-transformers `ContinuousTransformerWrapper` + `Encoder` in the pre-1.27 layout (stable-audio-tools 0.0.18)."""

    def __init__(
        self,
        dim: int,  # model width E
        depth: int,
        *,
        heads: int,
        dim_in: int,  # input token width
        dim_out: int,  # output token width
        cross_attend: bool = False,
        options: XTransformerOptions = XTransformerOptions(),
        gradient_checkpointing: bool = False,
    ) -> None:
        super().__init__()
        try:
            from x_transformers import Encoder
        except ImportError as error:
            raise MissingExtraError(
                extra="xtransformers", feature="the DiT `transformer_type` `x-transformers`", detail=str(error)
            ) from error
        self.gradient_checkpointing = gradient_checkpointing
        rotary_dim = max(options.dim_head // 2, 32)  # x-transformers < 1.27 enforced at least 32
        if rotary_dim > options.dim_head:
            raise ValueError(f"x-transformers head width `{options.dim_head}` must be at least 32 for rotary positions")
        self.project_in = nn.Linear(dim_in, dim)
        self.attn_layers = Encoder(
            dim=dim,
            depth=depth,
            heads=heads,
            attn_dim_head=options.dim_head,
            attn_flash=True,
            cross_attend=cross_attend,
            zero_init_branch_output=True,
            rotary_pos_emb=True,
            rotary_emb_dim=rotary_dim,
            ff_swish=True,
            ff_glu=True,
            ff_mult=options.ff_mult,
        )
        self.project_out = nn.Linear(dim, dim_out)
        for norms, block, _residual in self.attn_layers.layers:
            norms[0] = nn.LayerNorm(dim)
            for name in ("to_q", "to_k"):
                old = getattr(block, name, None)
                if isinstance(old, nn.Linear):
                    permuted = _RotaryPairPermutedLinear(
                        old.in_features, old.out_features, options.dim_head, rotary_dim
                    )
                    setattr(block, name, permuted)
        self.attn_layers.final_norm = nn.LayerNorm(dim)

    def forward(
        self,
        x: Tensor,  # [B, N, dim_in]
        *,
        prepend_embeds: Tensor | None = None,  # [B, N_pre, E]
        prepend_mask: Tensor | None = None,  # [B, N_pre] bool, True = attend
        context: Tensor | None = None,  # [B, M, E]
    ) -> Tensor:  # [B, N_pre + N, dim_out]
        batch, length = x.shape[:2]
        x = self.project_in(x)
        mask = None
        if prepend_embeds is not None:
            x = torch.cat((prepend_embeds, x), dim=1)
            if prepend_mask is not None:
                ones = torch.ones(batch, length, device=x.device, dtype=torch.bool)
                mask = torch.cat((prepend_mask.bool(), ones), dim=1)  # [B, N_pre + N]
        if self.gradient_checkpointing and torch.is_grad_enabled():
            x = torch.utils.checkpoint.checkpoint(self._layers, x, mask, context, use_reentrant=False)
        else:
            x = self._layers(x, mask, context)
        return self.project_out(x)

    def _layers(self, x: Tensor, mask: Tensor | None, context: Tensor | None) -> Tensor:
        return self.attn_layers(x, mask=mask, context=context)
