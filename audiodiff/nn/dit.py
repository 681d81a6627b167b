"""The diffusion transformer backbone (`dit`) of stable-audio-tools 0.0.19 (`models/dit.py`, spec §2.2.1).

Inputs are `[B, C, L]` latent sequences; `patch_size` time steps fold into one token. Conditioning arrives as
cross-attention tokens, a global vector (one extra leading token, or adaLN modulation), prepend tokens and
input-concat channels. Classifier-free guidance runs inside, on one doubled batch, with zero tokens as the null.
Attention masks are accepted and ignored, exactly as the reference does (spec §3.4, C54).
"""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from audiodiff.nn.blocks import FourierFeatures
from audiodiff.nn.legacy_xtransformers import LegacyXTransformer, XTransformerOptions
from audiodiff.nn.objectives import OBJECTIVES, Objective
from audiodiff.nn.routing import NO_GUIDANCE, NO_INPUTS, BackboneInputs, Guidance
from audiodiff.nn.transformer import ContinuousTransformer, TransformerOptions

TIMESTEP_FEATURES = 256  # width of the Fourier timestep features (fixed upstream)


def _mlp(dim_in: int, dim_out: int, *, bias: bool) -> nn.Sequential:
    """Linear, SiLU, Linear: the reference's embedding MLP (keys `.0.*` and `.2.*`)."""
    return nn.Sequential(nn.Linear(dim_in, dim_out, bias=bias), nn.SiLU(), nn.Linear(dim_out, dim_out, bias=bias))


class DiffusionTransformer(nn.Module):
    """Diffusion transformer (Peebles & Xie 2023, DiT) for 1-D latents, as in Stable Audio (Evans et al. 2024)."""

    supports_cfg: ClassVar[bool] = True

    def __init__(
        self,
        *,
        io_channels: int = 32,  # channels of x in and out
        patch_size: int = 1,  # time steps folded into one token
        embed_dim: int = 768,  # transformer width E
        depth: int = 12,  # number of blocks
        num_heads: int = 8,  # heads; head width E // num_heads
        cond_token_dim: int = 0,  # width of cross-attention tokens (0: no cross-attention)
        project_cond_tokens: bool = True,  # project tokens to E (else keep their width: grouped K/V heads)
        global_cond_dim: int = 0,  # width of the global vector (0: none)
        project_global_cond: bool = True,  # project the global vector to E (else it must already be E wide)
        input_concat_dim: int = 0,  # channels concatenated to x before the input projection
        prepend_cond_dim: int = 0,  # width of prepend tokens (0: none)
        global_cond_type: Literal["prepend", "adaLN"] = "prepend",  # global vector as a token, or adaLN
        timestep_cond_type: Literal["global", "input_concat"] = "global",  # timestep embedding route
        timestep_embed_dim: int | None = None,  # timestep channels for `input_concat`
        diffusion_objective: Objective = OBJECTIVES["v"],  # only its noise level, tested against `cfg_interval`
        transformer: TransformerOptions | XTransformerOptions = TransformerOptions(),  # which transformer, options
        gradient_checkpointing: bool = False,  # recompute transformer blocks in backward
    ) -> None:
        super().__init__()
        if global_cond_type not in ("prepend", "adaLN"):
            raise ValueError(f"`global_cond_type` must be `prepend` or `adaLN`, got `{global_cond_type}`")
        if timestep_cond_type not in ("global", "input_concat"):
            raise ValueError(f"`timestep_cond_type` must be `global` or `input_concat`, got `{timestep_cond_type}`")
        if not isinstance(diffusion_objective, Objective):
            raise TypeError(f"`diffusion_objective` must be an Objective, got `{diffusion_objective!r}`")
        if embed_dim % num_heads != 0:
            raise ValueError(f"`embed_dim` `{embed_dim}` is not a multiple of `num_heads` `{num_heads}`")
        self.io_channels = io_channels
        self.patch_size = patch_size
        self.cond_token_dim = cond_token_dim
        self.global_cond_type = global_cond_type
        self.timestep_cond_type = timestep_cond_type
        self.diffusion_objective = diffusion_objective

        self.timestep_features = FourierFeatures(1, TIMESTEP_FEATURES)
        if timestep_cond_type == "global":
            timestep_embed_dim = embed_dim
        else:
            if timestep_embed_dim is None:
                raise ValueError("`timestep_cond_type` `input_concat` needs `timestep_embed_dim`")
            input_concat_dim += timestep_embed_dim
        self.to_timestep_embed = _mlp(TIMESTEP_FEATURES, timestep_embed_dim, bias=True)

        cond_embed_dim = 0
        if cond_token_dim > 0:
            cond_embed_dim = embed_dim if project_cond_tokens else cond_token_dim
            self.to_cond_embed = nn.Sequential(
                nn.Linear(cond_token_dim, cond_embed_dim, bias=False),
                nn.SiLU(),
                nn.Linear(cond_embed_dim, cond_embed_dim, bias=False),
            )
        if global_cond_dim > 0:
            global_embed_dim = embed_dim if project_global_cond else global_cond_dim
            if global_embed_dim != embed_dim:
                raise ValueError(
                    f"with `project_global_cond` false, `global_cond_dim` `{global_cond_dim}` must equal "
                    f"`embed_dim` `{embed_dim}`"
                )
            self.to_global_embed = nn.Sequential(
                nn.Linear(global_cond_dim, global_embed_dim, bias=False),
                nn.SiLU(),
                nn.Linear(global_embed_dim, global_embed_dim, bias=False),
            )
        if prepend_cond_dim > 0:
            self.to_prepend_embed = nn.Sequential(
                nn.Linear(prepend_cond_dim, embed_dim, bias=False),
                nn.SiLU(),
                nn.Linear(embed_dim, embed_dim, bias=False),
            )

        self.input_concat_dim = input_concat_dim
        dim_in = io_channels + input_concat_dim
        self.transformer: ContinuousTransformer | LegacyXTransformer
        if isinstance(transformer, XTransformerOptions):
            if global_cond_type == "adaLN":
                raise ValueError("`global_cond_type` `adaLN` needs the `continuous_transformer` transformer")
            if cond_token_dim > 0 and cond_embed_dim != embed_dim:
                raise ValueError(
                    "the `x-transformers` transformer needs cross-attention tokens of width `embed_dim`: set "
                    "`project_cond_tokens` or make `cond_token_dim` equal `embed_dim`"
                )
            self.transformer = LegacyXTransformer(
                embed_dim,
                depth,
                heads=num_heads,
                dim_in=dim_in * patch_size,
                dim_out=io_channels * patch_size,
                cross_attend=cond_token_dim > 0,
                options=transformer,
                gradient_checkpointing=gradient_checkpointing,
            )
        else:
            self.transformer = ContinuousTransformer(
                embed_dim,
                depth,
                dim_in=dim_in * patch_size,
                dim_out=io_channels * patch_size,
                dim_heads=embed_dim // num_heads,
                cross_attend=cond_token_dim > 0,
                cond_token_dim=cond_embed_dim,
                global_cond_dim=embed_dim if global_cond_type == "adaLN" else None,
                options=transformer,
                gradient_checkpointing=gradient_checkpointing,
            )
        # 1x1 convs applied as residuals, zero-initialised so that they start as the identity.
        self.preprocess_conv = nn.Conv1d(dim_in, dim_in, 1, bias=False)
        nn.init.zeros_(self.preprocess_conv.weight)
        self.postprocess_conv = nn.Conv1d(io_channels, io_channels, 1, bias=False)
        nn.init.zeros_(self.postprocess_conv.weight)

    @property
    def gradient_checkpointing(self) -> bool:
        return self.transformer.gradient_checkpointing

    @gradient_checkpointing.setter
    def gradient_checkpointing(self, enabled: bool) -> None:
        self.transformer.gradient_checkpointing = enabled

    def forward(
        self,
        x: Tensor,  # [B, C_io, L]
        t: Tensor,  # [B] diffusion time in [0, 1]
        inputs: BackboneInputs = NO_INPUTS,
        guidance: Guidance = NO_GUIDANCE,
    ) -> Tensor:  # [B, C_io, L]
        return self.forward_with_unguided(x, t, inputs, guidance)[0]

    def forward_with_unguided(
        self,
        x: Tensor,  # [B, C_io, L]
        t: Tensor,  # [B] diffusion time in [0, 1]
        inputs: BackboneInputs = NO_INPUTS,
        guidance: Guidance = NO_GUIDANCE,
    ) -> tuple[Tensor, Tensor | None]:  # the output [B, C_io, L] and its unguided half (None: no guidance ran)
        """The forward, and the unguided prediction of the doubled batch for samplers that read it (CFG++)."""
        # `cross_attn_mask` never reaches attention upstream (C54), and `rescale_cfg` is the U-Net's: both unread
        cross_attn_cond, global_cond = inputs.cross_attn_cond, inputs.global_cond  # [B, M, D_ctx], [B, D_glob]
        input_concat_cond, prepend_cond = inputs.input_concat_cond, inputs.prepend_cond  # [B, C_cat, L'], [B, N, D]
        prepend_cond_mask = inputs.prepend_cond_mask  # used by the x-transformers transformer only
        negative_cross_attn_cond = inputs.negative_cross_attn_cond  # guidance null instead of zeros
        negative_cross_attn_mask = inputs.negative_cross_attn_mask  # masked-out negative tokens become zeros
        cfg_scale, cfg_dropout_prob, cfg_interval = guidance.cfg_scale, guidance.cfg_dropout_prob, guidance.cfg_interval
        scale_phi = guidance.scale_phi
        dtype = next(self.parameters()).dtype
        x, t = x.to(dtype), t.to(dtype)
        cross_attn_cond = cross_attn_cond.to(dtype) if cross_attn_cond is not None else None
        negative_cross_attn_cond = negative_cross_attn_cond.to(dtype) if negative_cross_attn_cond is not None else None
        global_cond = global_cond.to(dtype) if global_cond is not None else None
        input_concat_cond = input_concat_cond.to(dtype) if input_concat_cond is not None else None
        prepend_cond = prepend_cond.to(dtype) if prepend_cond is not None else None
        prepend_mask = prepend_cond_mask.bool() if prepend_cond_mask is not None else None
        scale_phi = 0.0 if scale_phi is None else scale_phi  # CFG rescale blend

        if cfg_dropout_prob > 0.0 and cfg_scale == 1.0:
            # Training-time CFG dropout: per item, the whole token tensor becomes the zero null.
            cross_attn_cond = _drop_to_zeros(cross_attn_cond, cfg_dropout_prob)
            prepend_cond = _drop_to_zeros(prepend_cond, cfg_dropout_prob)

        guided = cfg_scale != 1.0 and (cross_attn_cond is not None or prepend_cond is not None)
        if guided:
            sigma = self.diffusion_objective.noise_level(t[:1])
            guided = bool((cfg_interval[0] <= sigma) & (sigma <= cfg_interval[1]))
        if not guided:
            return self._forward(
                x, t, cross_attn_cond, global_cond, input_concat_cond, prepend_cond, prepend_mask
            ), None

        # One doubled batch [conditional ; unconditional]; global and input-concat are the same in both halves.
        null_cross = None
        if cross_attn_cond is not None:
            null_cross = torch.zeros_like(cross_attn_cond)
            if negative_cross_attn_cond is not None:
                null_cross = negative_cross_attn_cond
                if negative_cross_attn_mask is not None:
                    keep = negative_cross_attn_mask.to(torch.bool).unsqueeze(2)  # [B, M, 1]
                    null_cross = torch.where(keep, negative_cross_attn_cond, torch.zeros_like(cross_attn_cond))
        output = self._forward(
            torch.cat([x, x]),
            torch.cat([t, t]),
            _double(cross_attn_cond, null_cross),
            _double(global_cond, global_cond),
            _double(input_concat_cond, input_concat_cond),
            _double(prepend_cond, torch.zeros_like(prepend_cond) if prepend_cond is not None else None),
            _double(prepend_mask, prepend_mask),
        )
        cond_out, uncond_out = output.chunk(2)
        cfg_out = uncond_out + (cond_out - uncond_out) * cfg_scale
        if scale_phi != 0.0:
            # CFG rescale (Lin et al. 2024): match the per-position std over channels of the conditional output.
            cond_std = cond_out.std(dim=1, keepdim=True)
            cfg_std = cfg_out.std(dim=1, keepdim=True)
            return scale_phi * (cfg_out * (cond_std / cfg_std)) + (1 - scale_phi) * cfg_out, uncond_out
        return cfg_out, uncond_out

    def _forward(
        self,
        x: Tensor,  # [B, C_io, L]
        t: Tensor,  # [B]
        cross_attn_cond: Tensor | None,  # [B, M, cond_token_dim]
        global_cond: Tensor | None,  # [B, global_cond_dim]
        input_concat_cond: Tensor | None,  # [B, C_cat, L']
        prepend_cond: Tensor | None,  # [B, N_pre, prepend_cond_dim]
        prepend_mask: Tensor | None,  # [B, N_pre] bool (x-transformers only)
    ) -> Tensor:  # [B, C_io, L]
        batch, _, length = x.shape
        p = self.patch_size
        if length % p != 0:
            raise ValueError(f"sequence length `{length}` is not a multiple of `patch_size` `{p}`")
        context = self.to_cond_embed(cross_attn_cond) if cross_attn_cond is not None else None  # [B, M, C_e]
        global_embed = self.to_global_embed(global_cond) if global_cond is not None else None  # [B, E]
        prepend = self.to_prepend_embed(prepend_cond) if prepend_cond is not None else None  # [B, N_pre, E]
        if input_concat_cond is not None:
            if input_concat_cond.shape[2] != length:
                input_concat_cond = F.interpolate(input_concat_cond, (length,), mode="nearest")
            x = torch.cat([x, input_concat_cond], dim=1)  # [B, C_io + C_cat, L]

        timestep_embed = self.to_timestep_embed(self.timestep_features(t[:, None]))  # [B, E_t]
        if self.timestep_cond_type == "global":
            global_embed = timestep_embed if global_embed is None else global_embed + timestep_embed
        else:
            # The reference expands along the wrong axis here (works only for width 1, spec C45); this is the
            # intended layout, identical wherever the reference runs.
            x = torch.cat([x, timestep_embed[:, :, None].expand(-1, -1, length)], dim=1)

        if self.global_cond_type == "prepend" and global_embed is not None:
            token = global_embed.unsqueeze(1)  # [B, 1, E]
            prepend = token if prepend is None else torch.cat([prepend, token], dim=1)
            if prepend_mask is not None:
                prepend_mask = torch.cat([prepend_mask, prepend_mask.new_ones(batch, 1)], dim=1)
            elif prepend_cond is None:
                prepend_mask = torch.ones(batch, 1, device=x.device, dtype=torch.bool)
        prepend_length = prepend.shape[1] if prepend is not None else 0

        x = self.preprocess_conv(x) + x  # [B, C_in, L]
        # Fold P steps per token, channel-major: feature index c * P + p.
        tokens = x.view(batch, -1, length // p, p).permute(0, 2, 1, 3).reshape(batch, length // p, -1)  # [B, T, C_in*P]

        if isinstance(self.transformer, LegacyXTransformer):
            if self.cond_token_dim > 0 and context is None:
                raise ValueError("this DiT cross-attends: the `x-transformers` transformer needs `cross_attn_cond`")
            out = self.transformer(tokens, prepend_embeds=prepend, prepend_mask=prepend_mask, context=context)
        else:
            out = self.transformer(
                tokens,
                prepend_embeds=prepend,
                context=context,
                global_cond=global_embed if self.global_cond_type == "adaLN" else None,
            )  # [B, N_pre + T, C_io*P]
        out = out[:, prepend_length:]  # [B, T, C_io*P]
        out = out.view(batch, length // p, self.io_channels, p).permute(0, 2, 1, 3).reshape(batch, -1, length)
        return self.postprocess_conv(out) + out  # [B, C_io, L]


def _double(cond: Tensor | None, uncond: Tensor | None) -> Tensor | None:
    return torch.cat([cond, uncond]) if cond is not None and uncond is not None else None


def _drop_to_zeros(cond: Tensor | None, prob: float) -> Tensor | None:
    if cond is None:
        return None
    drop = torch.bernoulli(torch.full((cond.shape[0], 1, 1), prob, device=cond.device)).to(torch.bool)
    return torch.where(drop, torch.zeros_like(cond), cond)
