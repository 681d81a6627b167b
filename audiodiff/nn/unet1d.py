"""adp U-Nets (`adp_1d`, `adp_uncond_1d`, `adp_cfg_1d`): archinetai's audio-diffusion-pytorch v0.0.94 U-Net as
stable-audio-tools 0.0.19 ships it (`models/adp.py`), with the same state-dict keys and the same numbers.

Differences from the reference, all outside the numbers it computes:
- typed keyword arguments instead of prefix-routed `attention_*` / `stft_*` kwargs;
- geometry is checked in the constructor (ValueError), inputs in `forward` (ValueError), instead of asserts;
- the STFT mode (`use_stft`, `use_stft_context`) is not supported (the reference's inverse STFT passes a real
  tensor to `torch.istft`, which current torch rejects);
- `context_channels` may only feed level 0 (the input-concat route); deeper levels could never be fed;
- initialisation: PyTorch defaults, then every parameter halved, exactly what the reference's wrappers
  (`UNetCFG1DWrapper`, `UNet1DCondWrapper`, `UNet1DUncondWrapper`) do at construction.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from audiodiff.nn.routing import NO_GUIDANCE, NO_INPUTS, BackboneInputs, Guidance
from audiodiff.nn.unet1d_layers import (
    AttentionOptions,
    BottleneckBlock1d,
    DownsampleBlock1d,
    Patcher,
    TimePositionalEmbedding,
    Unpatcher,
    UpsampleBlock1d,
)

__all__ = ["AttentionOptions", "UNet1d", "UNetCFG1d"]

# Scale the reference wrappers apply to every U-Net parameter right after construction.
_INIT_PARAMETER_SCALE = 0.5
# `rescale_cfg` blend weight when the caller passes `scale_phi=None` (the reference's default for UNetCFG1d).
DEFAULT_SCALE_PHI = 0.4


def _scale_parameters(module: nn.Module, scale: float) -> None:
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.mul_(scale)


class UNet1d(nn.Module):
    """1-D U-Net with ResNet levels, optional Transformer1d blocks and a time/feature mapping (adp, Schneider 2023)."""

    supports_cfg = False

    def __init__(
        self,
        *,
        in_channels: int,  # channels of x (input-concat channels are extra)
        channels: int,  # base width
        multipliers: Sequence[int],  # width of level i = channels * multipliers[i]
        factors: Sequence[int],  # downsampling factor per level, len(multipliers) - 1
        num_blocks: Sequence[int],  # ResNet blocks per level, len(multipliers) - 1
        attentions: Sequence[int],  # Transformer1d blocks per level; the bottleneck uses the last
        attention: AttentionOptions = AttentionOptions(),  # heads / head width / feed-forward multiplier
        patch_size: int = 1,  # length folded into channels by to_in / to_out
        resnet_groups: int = 8,  # GroupNorm groups of the ResNet blocks
        use_context_time: bool = True,  # diffusion time modulates every ResNet block
        kernel_multiplier_downsample: int = 2,  # downsample kernel = factor * this + 1
        use_nearest_upsample: bool = False,  # nearest + conv instead of a transposed conv
        use_skip_scale: bool = True,  # skips scaled by 2^-1/2
        use_stft: bool = False,  # not supported (ValueError when True)
        use_stft_context: bool = False,  # not supported (ValueError when True)
        out_channels: int | None = None,  # defaults to in_channels
        context_features: int | None = None,  # width of the global vector; None ignores global_cond
        context_features_multiplier: int = 4,  # mapping width = channels * this
        context_channels: Sequence[int] | None = None,  # [input-concat channels] (only level 0 can be fed)
        context_embedding_features: int | None = None,  # cross-attention token width (set by UNetCFG1d)
    ) -> None:
        super().__init__()
        if use_stft or use_stft_context:
            raise ValueError("the STFT mode of the adp U-Net (`use_stft`, `use_stft_context`) is not supported")
        out_channels = in_channels if out_channels is None else out_channels
        context_channels = list(context_channels or [])
        _check_geometry(
            in_channels=in_channels,
            out_channels=out_channels,
            channels=channels,
            multipliers=multipliers,
            factors=factors,
            num_blocks=num_blocks,
            attentions=attentions,
            attention=attention,
            patch_size=patch_size,
            resnet_groups=resnet_groups,
            kernel_multiplier_downsample=kernel_multiplier_downsample,
            context_features=context_features,
            context_features_multiplier=context_features_multiplier,
            context_channels=context_channels,
            context_embedding_features=context_embedding_features,
            needs_even_channels=use_context_time,
        )
        num_levels = len(multipliers) - 1
        widths = [channels * m for m in multipliers]

        self.in_channels = in_channels
        self.out_channels = out_channels
        self.context_features = context_features
        self.input_concat_channels = context_channels[0] if context_channels else 0
        self.context_embedding_features = context_embedding_features
        # x must survive patching and every downsampling exactly, or the skips stop lining up
        self.length_multiple = patch_size * math.prod(factors)
        # the levels' transformers plus the bottleneck's (which reads the last entry)
        used_attentions = [*attentions[:num_levels], attentions[-1]]
        self.uses_cross_attention = bool(context_embedding_features) and any(a > 0 for a in used_attentions)

        mapping_features = None
        if use_context_time or context_features is not None:
            mapping_features = channels * context_features_multiplier
            self.to_mapping = nn.Sequential(
                nn.Linear(mapping_features, mapping_features),
                nn.GELU(),
                nn.Linear(mapping_features, mapping_features),
                nn.GELU(),
            )
        self.to_time = (
            nn.Sequential(TimePositionalEmbedding(channels, mapping_features), nn.GELU())
            if use_context_time and mapping_features is not None
            else None
        )
        self.to_features = (
            nn.Sequential(nn.Linear(context_features, mapping_features), nn.GELU())
            if context_features is not None and mapping_features is not None
            else None
        )

        self.to_in = Patcher(in_channels + self.input_concat_channels, widths[0], patch_size, mapping_features)
        self.downsamples = nn.ModuleList(
            DownsampleBlock1d(
                widths[i],
                widths[i + 1],
                factor=factors[i],
                kernel_multiplier=kernel_multiplier_downsample,
                num_groups=resnet_groups,
                num_layers=num_blocks[i],
                num_transformer_blocks=attentions[i],
                attention=attention,
                mapping_features=mapping_features,
                context_embedding_features=context_embedding_features,
            )
            for i in range(num_levels)
        )
        self.bottleneck = BottleneckBlock1d(
            widths[-1],
            num_groups=resnet_groups,
            num_transformer_blocks=attentions[-1],
            attention=attention,
            mapping_features=mapping_features,
            context_embedding_features=context_embedding_features,
        )
        self.upsamples = nn.ModuleList(
            UpsampleBlock1d(
                widths[i + 1],
                widths[i],
                factor=factors[i],
                num_groups=resnet_groups,
                # one block per skip the matching down level saved (its ResNet blocks, plus its transformer)
                num_layers=num_blocks[i] + (1 if attentions[i] else 0),
                num_transformer_blocks=attentions[i],
                attention=attention,
                use_nearest=use_nearest_upsample,
                skip_scale=2**-0.5 if use_skip_scale else 1.0,
                mapping_features=mapping_features,
                context_embedding_features=context_embedding_features,
            )
            for i in reversed(range(num_levels))
        )
        self.to_out = Unpatcher(widths[0], out_channels, patch_size, mapping_features)
        _scale_parameters(self, _INIT_PARAMETER_SCALE)

    def forward(
        self,
        x: Tensor,  # [B, C_in, L]
        t: Tensor,  # [B]
        inputs: BackboneInputs = NO_INPUTS,
        guidance: Guidance = NO_GUIDANCE,
    ) -> Tensor:  # [B, C_out, L]
        """`adp_1d` / `adp_uncond_1d`: global and input-concat conditioning only; cross-attention, prepend and CFG
        arguments are accepted and ignored, as the reference's wrappers do."""
        global_cond, input_concat_cond = inputs.global_cond, inputs.input_concat_cond
        if input_concat_cond is not None and input_concat_cond.shape[-1] != x.shape[-1]:
            # nearest-neighbour resize to x's length: position i reads floor(i * L' / L)
            input_concat_cond = F.interpolate(input_concat_cond, size=x.shape[-1], mode="nearest")
        return self.run_unet(x, t, features=global_cond, channels=input_concat_cond)

    def run_unet(
        self,
        x: Tensor,  # [B, C_in, L]
        time: Tensor,  # [B]
        *,
        features: Tensor | None = None,  # [B, context_features]
        channels: Tensor | None = None,  # [B, context_channels[0], L]
        embedding: Tensor | None = None,  # [B, N, context_embedding_features]
        embedding_mask: Tensor | None = None,  # [B, N] (1 = keep the token's key and value)
    ) -> Tensor:  # [B, C_out, L]
        """One pass of the U-Net on already-assembled conditioning (no CFG)."""
        self._check_inputs(x, time, features, channels, embedding)
        time = time.to(x.dtype)  # a float32 t must not promote a reduced-precision network
        if self.input_concat_channels > 0 and channels is not None:  # `_check_inputs` requires it when declared
            x = torch.cat([x, channels], dim=1)  # [B, C_in + C_cat, L]
        mapping = self._mapping(time, features)  # [B, M] or None
        x = self.to_in(x, mapping)  # [B, W0, L / patch]
        top = x  # the to_in output skips the whole U-Net
        skips: list[list[Tensor]] = []
        for down in self.downsamples:
            x, level_skips = down(x, mapping=mapping, context=embedding, context_mask=embedding_mask)
            skips.append(level_skips)
        x = self.bottleneck(x, mapping=mapping, context=embedding, context_mask=embedding_mask)
        for up in self.upsamples:
            x = up(x, skips=skips.pop(), mapping=mapping, context=embedding, context_mask=embedding_mask)
        x = x + top
        return self.to_out(x, mapping)  # [B, C_out, L]

    def _mapping(self, time: Tensor, features: Tensor | None) -> Tensor | None:
        """Sum of the time and global-feature embeddings, through the shared mapping MLP."""
        items = []
        if self.to_time is not None:
            items.append(self.to_time(time))  # [B, M]
        if self.to_features is not None:
            items.append(self.to_features(features))  # [B, M]
        if not items:
            return None
        return self.to_mapping(torch.stack(items).sum(dim=0))

    def _check_inputs(
        self,
        x: Tensor,
        time: Tensor,
        features: Tensor | None,
        channels: Tensor | None,
        embedding: Tensor | None,
    ) -> None:
        if x.ndim != 3 or x.shape[1] != self.in_channels:
            raise ValueError(f"x must be [batch, {self.in_channels}, length], got `{list(x.shape)}`")
        if x.shape[-1] % self.length_multiple != 0:
            raise ValueError(
                f"x length `{x.shape[-1]}` must be a multiple of `{self.length_multiple}` "
                "(patch_size times the product of factors)"
            )
        if time.shape != (x.shape[0],):
            raise ValueError(f"t must be [batch] = `[{x.shape[0]}]`, got `{list(time.shape)}`")
        if self.to_features is not None:
            if features is None:
                raise ValueError("this U-Net has `context_features` set, so it needs a global conditioning vector")
            if features.shape != (x.shape[0], self.context_features):
                raise ValueError(
                    f"global conditioning must be `[{x.shape[0]}, {self.context_features}]`, "
                    f"got `{list(features.shape)}`"
                )
        if self.input_concat_channels > 0:
            if channels is None:
                raise ValueError(
                    f"this U-Net has `context_channels[0]` = `{self.input_concat_channels}`, "
                    "so it needs an input-concat tensor"
                )
            if channels.shape != (x.shape[0], self.input_concat_channels, x.shape[-1]):
                raise ValueError(
                    f"input-concat tensor must be `[{x.shape[0]}, {self.input_concat_channels}, {x.shape[-1]}]`, "
                    f"got `{list(channels.shape)}`"
                )
        if self.uses_cross_attention and embedding is None:
            raise ValueError("this U-Net has cross-attention layers (`context_embedding_features`) but got no tokens")


class FixedEmbedding(nn.Module):
    """Learned table of "null" cross-attention tokens, read by position (the adp CFG unconditional input)."""

    def __init__(self, max_length: int, features: int) -> None:
        super().__init__()
        self.max_length = max_length
        self.embedding = nn.Embedding(max_length, features)

    def forward(self, batch_size: int, length: int) -> Tensor:  # [B, length, features]
        return self.embedding.weight[:length].unsqueeze(0).expand(batch_size, -1, -1)


class UNetCFG1d(UNet1d):
    """adp U-Net with cross-attention and classifier-free guidance against a learned null table (`adp_cfg_1d`)."""

    supports_cfg = True

    def __init__(
        self,
        *,
        context_embedding_max_length: int,  # rows of the null table (+1 with use_xattn_time)
        context_embedding_features: int,  # cross-attention token width
        use_xattn_time: bool = False,  # append a diffusion-time token to the cross-attention tokens
        in_channels: int,
        channels: int,
        multipliers: Sequence[int],
        factors: Sequence[int],
        num_blocks: Sequence[int],
        attentions: Sequence[int],
        attention: AttentionOptions = AttentionOptions(),
        patch_size: int = 1,
        resnet_groups: int = 8,
        use_context_time: bool = True,
        kernel_multiplier_downsample: int = 2,
        use_nearest_upsample: bool = False,
        use_skip_scale: bool = True,
        use_stft: bool = False,
        use_stft_context: bool = False,
        out_channels: int | None = None,
        context_features: int | None = None,
        context_features_multiplier: int = 4,
        context_channels: Sequence[int] | None = None,
    ) -> None:
        if context_embedding_max_length < 1:
            raise ValueError(f"`context_embedding_max_length` must be >= 1, got `{context_embedding_max_length}`")
        if context_embedding_features < 1:
            raise ValueError(f"`context_embedding_features` must be >= 1, got `{context_embedding_features}`")
        if use_xattn_time and channels % 2 != 0:
            raise ValueError(f"`use_xattn_time` needs an even `channels`, got `{channels}`")
        super().__init__(
            in_channels=in_channels,
            channels=channels,
            multipliers=multipliers,
            factors=factors,
            num_blocks=num_blocks,
            attentions=attentions,
            attention=attention,
            patch_size=patch_size,
            resnet_groups=resnet_groups,
            use_context_time=use_context_time,
            kernel_multiplier_downsample=kernel_multiplier_downsample,
            use_nearest_upsample=use_nearest_upsample,
            use_skip_scale=use_skip_scale,
            use_stft=use_stft,
            use_stft_context=use_stft_context,
            out_channels=out_channels,
            context_features=context_features,
            context_features_multiplier=context_features_multiplier,
            context_channels=context_channels,
            context_embedding_features=context_embedding_features,
        )
        self.use_xattn_time = use_xattn_time
        if use_xattn_time:
            self.to_time_embedding = nn.Sequential(
                TimePositionalEmbedding(channels, context_embedding_features), nn.GELU()
            )
            context_embedding_max_length += 1  # one more row for the time token
        self.fixed_embedding = FixedEmbedding(context_embedding_max_length, context_embedding_features)
        # the modules added here are halved too, as the reference wrapper halves the whole network
        _scale_parameters(self.fixed_embedding, _INIT_PARAMETER_SCALE)
        if use_xattn_time:
            _scale_parameters(self.to_time_embedding, _INIT_PARAMETER_SCALE)

    def forward(
        self,
        x: Tensor,  # [B, C_in, L]
        t: Tensor,  # [B]
        inputs: BackboneInputs = NO_INPUTS,
        guidance: Guidance = NO_GUIDANCE,
    ) -> Tensor:  # [B, C_out, L]
        """`adp_cfg_1d`: cross-attention with K/V masking, CFG in one doubled batch against the learned null rows.

        Prepend inputs and `cfg_interval` are ignored (the reference U-Net has neither)."""
        cross_attn_cond, cross_attn_mask = inputs.cross_attn_cond, inputs.cross_attn_mask
        global_cond, input_concat_cond = inputs.global_cond, inputs.input_concat_cond
        negative_cross_attn_cond = inputs.negative_cross_attn_cond  # [B, N, E]
        negative_cross_attn_mask = inputs.negative_cross_attn_mask  # [B, N]
        cfg_scale, cfg_dropout_prob, rescale_cfg = guidance.cfg_scale, guidance.cfg_dropout_prob, guidance.rescale_cfg
        scale_phi = guidance.scale_phi  # the rescale blend (None: the reference default)
        embedding, mask = self._tokens(cross_attn_cond, cross_attn_mask, t)  # [B, N', E], [B, N'] or None
        batch, length = embedding.shape[:2]
        null = self.fixed_embedding(batch, length)  # [B, N', E]
        if cfg_dropout_prob > 0.0:
            # training-time CFG dropout: whole items switch to the null tokens
            dropped = torch.rand(batch, device=embedding.device) < cfg_dropout_prob  # [B]
            embedding = torch.where(dropped[:, None, None], null, embedding)
        if input_concat_cond is not None and input_concat_cond.shape[-1] != x.shape[-1]:
            raise ValueError(
                f"adp_cfg_1d does not resample input-concat conditioning: its length `{input_concat_cond.shape[-1]}` "
                f"must equal x's length `{x.shape[-1]}`"
            )
        if cfg_scale == 1.0:
            return self.run_unet(
                x, t, features=global_cond, channels=input_concat_cond, embedding=embedding, embedding_mask=mask
            )

        uncond = null
        if negative_cross_attn_cond is not None:
            negative, _ = self._tokens(negative_cross_attn_cond, None, t)
            if negative.shape != embedding.shape:
                raise ValueError(
                    f"negative cross-attention tokens `{list(negative_cross_attn_cond.shape)}` must have the shape "
                    f"of the positive ones `{list(embedding.shape if cross_attn_cond is None else cross_attn_cond.shape)}`"
                )
            if negative_cross_attn_mask is not None:
                keep = self._with_time_column(negative_cross_attn_mask).to(torch.bool)  # [B, N']
                negative = torch.where(keep[:, :, None], negative, null)  # masked negative tokens read as null
            uncond = negative

        def doubled(tensor: Tensor | None) -> Tensor | None:
            return None if tensor is None else torch.cat([tensor, tensor], dim=0)

        # one pass over [conditional ; unconditional]; the positive mask is used for both halves, as upstream
        out = self.run_unet(
            torch.cat([x, x], dim=0),
            torch.cat([t, t], dim=0),
            features=doubled(global_cond),
            channels=doubled(input_concat_cond),
            embedding=torch.cat([embedding, uncond], dim=0),
            embedding_mask=doubled(mask),
        )  # [2B, C_out, L]
        cond_out, uncond_out = out.chunk(2, dim=0)
        guided = uncond_out + (cond_out - uncond_out) * cfg_scale
        if not rescale_cfg or guided.shape[1] < 2:
            # one channel has no spread over channels to match: upstream divides 0-sample stds (NaN everywhere)
            return guided
        # CFG rescale (Lin et al. 2024, "Common diffusion noise schedules..."): match the conditional output's
        # per-frame std over channels, blended with weight scale_phi
        phi = DEFAULT_SCALE_PHI if scale_phi is None else scale_phi
        rescaled = guided * (cond_out.std(dim=1, keepdim=True) / guided.std(dim=1, keepdim=True))
        return phi * rescaled + (1.0 - phi) * guided

    def _tokens(self, tokens: Tensor | None, mask: Tensor | None, time: Tensor) -> tuple[Tensor, Tensor | None]:
        """Validate the cross-attention tokens and append the time token when `use_xattn_time`."""
        if tokens is None:
            raise ValueError(
                "adp_cfg_1d needs cross-attention tokens: route at least one conditioner to cross-attention"
            )
        if tokens.ndim != 3 or tokens.shape[-1] != self.context_embedding_features:
            raise ValueError(
                f"cross-attention tokens must be [batch, tokens, {self.context_embedding_features}] "
                f"(`context_embedding_features`), got `{list(tokens.shape)}`"
            )
        max_tokens = self.fixed_embedding.max_length - (1 if self.use_xattn_time else 0)
        if tokens.shape[1] > max_tokens:
            raise ValueError(
                f"got `{tokens.shape[1]}` cross-attention tokens but `context_embedding_max_length` is `{max_tokens}`"
            )
        if mask is not None and mask.shape != tokens.shape[:2]:
            raise ValueError(f"cross-attention mask must be `{list(tokens.shape[:2])}`, got `{list(mask.shape)}`")
        if self.use_xattn_time:
            time = time.to(self.fixed_embedding.embedding.weight.dtype)
            time_token = self.to_time_embedding(time).unsqueeze(1)  # [B, 1, E]
            tokens = torch.cat([tokens, time_token.to(tokens.dtype)], dim=1)
            mask = None if mask is None else self._with_time_column(mask)
        return tokens, mask

    def _with_time_column(self, mask: Tensor) -> Tensor:  # [B, N] -> [B, N + 1] when use_xattn_time
        if not self.use_xattn_time:
            return mask
        ones = torch.ones(mask.shape[0], 1, dtype=torch.float32, device=mask.device)
        return torch.cat([mask.to(torch.float32), ones], dim=1)


def _check_geometry(
    *,
    in_channels: int,
    out_channels: int,
    channels: int,
    multipliers: Sequence[int],
    factors: Sequence[int],
    num_blocks: Sequence[int],
    attentions: Sequence[int],
    attention: AttentionOptions,
    patch_size: int,
    resnet_groups: int,
    kernel_multiplier_downsample: int,
    context_features: int | None,
    context_features_multiplier: int,
    context_channels: Sequence[int],
    context_embedding_features: int | None,
    needs_even_channels: bool,
) -> None:
    """Reject U-Net geometries the reference would fail on, at build or at the first forward (spec C60)."""
    for name, value in (
        ("in_channels", in_channels),
        ("out_channels", out_channels),
        ("channels", channels),
        ("patch_size", patch_size),
        ("resnet_groups", resnet_groups),
        ("context_features_multiplier", context_features_multiplier),
    ):
        if value < 1:
            raise ValueError(f"`{name}` must be >= 1, got `{value}`")
    if len(multipliers) < 1:
        raise ValueError("`multipliers` must have at least one entry")
    num_levels = len(multipliers) - 1
    if len(factors) != num_levels or len(num_blocks) != num_levels:
        raise ValueError(
            f"`factors` ({len(factors)} entries) and `num_blocks` ({len(num_blocks)}) must have "
            f"len(multipliers) - 1 = `{num_levels}` entries"
        )
    if len(attentions) < max(num_levels, 1):
        raise ValueError(
            f"`attentions` has {len(attentions)} entries but needs at least `{max(num_levels, 1)}` "
            "(one per level; the bottleneck uses the last)"
        )
    if any(m < 1 for m in multipliers) or any(f < 1 for f in factors):
        raise ValueError("`multipliers` and `factors` entries must be >= 1")
    if any(n < 0 for n in num_blocks) or any(a < 0 for a in attentions):
        raise ValueError("`num_blocks` and `attentions` entries must be >= 0")
    if kernel_multiplier_downsample < 2 or kernel_multiplier_downsample % 2 != 0:
        raise ValueError(
            f"`kernel_multiplier_downsample` must be a positive even number, got `{kernel_multiplier_downsample}`"
        )
    if needs_even_channels and channels % 2 != 0:
        raise ValueError(f"`use_context_time` needs an even `channels` (half are frequencies), got `{channels}`")
    if context_features is not None and context_features < 1:
        raise ValueError(f"`context_features` must be >= 1, got `{context_features}`")
    if context_embedding_features is not None and context_embedding_features < 1:
        raise ValueError(f"`context_embedding_features` must be >= 1, got `{context_embedding_features}`")
    if any(c < 0 for c in context_channels):
        raise ValueError("`context_channels` entries must be >= 0")
    if any(c != 0 for c in context_channels[1:]):
        raise ValueError("only `context_channels[0]` (the input-concat channels) can be fed; later entries must be 0")

    widths = [channels * m for m in multipliers]
    if widths[0] % patch_size != 0:
        raise ValueError(
            f"`channels * multipliers[0]` = `{widths[0]}` must be divisible by `patch_size` `{patch_size}`"
        )
    # every ResNet block past to_in normalises a width of some level >= 1 (or the only level)
    for width in widths[1:] or widths:
        if width % resnet_groups != 0:
            raise ValueError(
                f"`resnet_groups` `{resnet_groups}` must divide every level width `channels * multipliers[i]`; "
                f"`{width}` is not divisible"
            )
    attention_widths = [widths[i + 1] for i in range(num_levels) if attentions[i] > 0]
    if attentions[-1] > 0:
        attention_widths.append(widths[-1])
    if not attention_widths:
        return
    if (attention.heads is None and attention.features is None) or attention.multiplier is None:
        raise ValueError(
            "levels with attention need `attention_heads` or `attention_features`, and `attention_multiplier`"
        )
    for width in attention_widths:
        if width % 32 != 0:
            raise ValueError(f"a level with attention has width `{width}`; its GroupNorm(32) needs a multiple of 32")
        heads, head_features = attention.resolve(width)
        if heads < 1 or head_features < 1:
            raise ValueError(
                f"attention at width `{width}` resolves to `{heads}` heads of `{head_features}` features; "
                "both must be >= 1"
            )
