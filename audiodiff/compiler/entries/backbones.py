"""Backbone types: for each tag its spec, builder, counter, lowering and capability record (`schema.capabilities`).

A builder takes the backbone's config and a `BackboneBuild` and returns the module (importing `audiodiff.nn`
inside itself: this file stays torch-free); the counters' layer arithmetic is in `params_backbones.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from audiodiff.compiler import lowering
from audiodiff.compiler import params_backbones as count
from audiodiff.compiler.entry import Entry
from audiodiff.compiler.nn_options import options_from_spec
from audiodiff.schema import capabilities as caps
from audiodiff.schema.v1 import backbones as bb
from audiodiff.schema.v1 import diffusion as diff

if TYPE_CHECKING:
    from torch import nn

    from audiodiff.nn.objectives import Objective


# `TransformerOptions` fields the DiT config spells differently (upstream's `**kwargs` dictionaries)
TRANSFORMER_KEYS = {"attn": "attn_kwargs", "ff": "ff_kwargs", "norm": "norm_kwargs"}


@dataclass(frozen=True)
class BackboneBuild:
    objective: Objective  # the DiT tests guidance's interval on the objective's noise level
    gradient_checkpointing: bool = False


def build_dit(config: bb.DiTBackboneSpec, context: BackboneBuild) -> nn.Module:
    from audiodiff.nn.dit import DiffusionTransformer
    from audiodiff.nn.legacy_xtransformers import XTransformerOptions
    from audiodiff.nn.transformer import TransformerOptions

    transformer: TransformerOptions | XTransformerOptions
    if config.transformer_type == "x-transformers":
        transformer = XTransformerOptions()
    else:
        transformer = options_from_spec(
            TransformerOptions, config, renamed=TRANSFORMER_KEYS, converted={"sliding_window": _window}
        )
    return DiffusionTransformer(
        io_channels=config.channels,
        patch_size=config.patch_size,
        embed_dim=config.embed_dim,
        depth=config.depth,
        num_heads=config.num_heads,
        cond_token_dim=config.cond_token_dim,
        project_cond_tokens=config.project_cond_tokens,
        global_cond_dim=config.global_cond_dim,
        project_global_cond=config.project_global_cond,
        input_concat_dim=config.input_concat_dim,
        prepend_cond_dim=config.prepend_cond_dim,
        global_cond_type=config.global_cond_type,
        timestep_cond_type=config.timestep_cond_type,
        timestep_embed_dim=config.timestep_embed_dim,
        diffusion_objective=context.objective,
        transformer=transformer,
        gradient_checkpointing=context.gradient_checkpointing,
    )


def _window(window: tuple[int, ...] | None) -> tuple[int, int] | None:
    """`sliding_window` as the (left, right) pair the attention takes."""
    if window is None:
        return None
    if len(window) != 2:
        raise ValueError(f"`sliding_window` is a (left, right) pair, not {len(window)} numbers")
    return window[0], window[1]


def _unet_arguments(config: bb.UNet1dSpec) -> dict[str, Any]:
    from audiodiff.nn.unet1d_layers import AttentionOptions

    return dict(
        in_channels=config.in_channels,
        channels=config.channels,
        multipliers=config.multipliers,
        factors=config.factors,
        num_blocks=config.num_blocks,
        attentions=config.attentions,
        attention=AttentionOptions(
            heads=config.attention_heads, features=config.attention_features, multiplier=config.attention_multiplier
        ),
        patch_size=config.patch_size,
        resnet_groups=config.resnet_groups,
        use_context_time=config.use_context_time,
        kernel_multiplier_downsample=config.kernel_multiplier_downsample,
        use_nearest_upsample=config.use_nearest_upsample,
        use_skip_scale=config.use_skip_scale,
        use_stft=config.use_stft,
        use_stft_context=config.use_stft_context,
        out_channels=config.out_channels,
        context_features=config.context_features,
        context_features_multiplier=config.context_features_multiplier,
        context_channels=config.context_channels,
    )


def build_unet(config: bb.UNet1dSpec, context: BackboneBuild) -> nn.Module:
    from audiodiff.nn.unet1d import UNet1d

    return UNet1d(**_unet_arguments(config), context_embedding_features=config.context_embedding_features)


def build_unet_cfg(config: bb.UNetCFG1dSpec, context: BackboneBuild) -> nn.Module:
    from audiodiff.nn.unet1d import UNetCFG1d

    return UNetCFG1d(
        **_unet_arguments(config),
        context_embedding_max_length=config.context_embedding_max_length,
        context_embedding_features=config.context_embedding_features,
        use_xattn_time=config.use_xattn_time,
    )


def build_dau1d(config: bb.DAU1dSpec, context: BackboneBuild) -> nn.Module:
    from audiodiff.nn.dau1d import DAU1d

    return DAU1d(
        io_channels=config.io_channels,
        depth=config.depth,
        n_attn_layers=config.n_attn_layers,
        channels=config.channels,
        cond_dim=config.cond_dim,
        cond_noise_aug=config.cond_noise_aug,
        kernel_size=config.kernel_size,
        learned_resample=config.learned_resample,
        strides=config.strides,
        conv_bias=config.conv_bias,
        use_snake=config.use_snake,
        global_cond_dim=config.global_cond_dim,
    )


ENTRIES: tuple[Entry, ...] = (
    Entry("backbone", "dit", diff.DiTDiffusionSpec, build_dit, count.count_dit, lowering.lower_backbone, caps.DIT),
    Entry(
        "backbone",
        "adp_cfg_1d",
        diff.UNetCFG1dDiffusionSpec,
        build_unet_cfg,
        count.count_unet,
        lowering.lower_backbone,
        caps.UNET_CFG,
    ),
    Entry(
        "backbone", "adp_1d", diff.UNet1dDiffusionSpec, build_unet, count.count_unet, lowering.lower_backbone, caps.UNET
    ),
    Entry(
        "backbone",
        "DAU1d",
        diff.DAU1dDiffusionSpec,
        build_dau1d,
        count.count_dau1d,
        lowering.lower_backbone,
        caps.DAU1D,
    ),
    Entry(
        "uncond_backbone", "dit", diff.DiTUncondModelSpec, build_dit, count.count_dit, lowering.lower_backbone, caps.DIT
    ),
    Entry(
        "uncond_backbone",
        "DAU1d",
        diff.DAU1dUncondModelSpec,
        build_dau1d,
        count.count_dau1d,
        lowering.lower_backbone,
        caps.DAU1D,
    ),
    Entry(
        "uncond_backbone",
        "adp_1d",
        diff.UNet1dUncondModelSpec,
        build_unet,
        count.count_unet,
        lowering.lower_backbone,
        caps.UNET,
    ),
    Entry(
        "uncond_backbone",
        "adp_uncond_1d",
        diff.UNet1dUncondModelSpec,
        build_unet,
        count.count_unet,
        lowering.lower_backbone,
        caps.UNET_UNCOND,
    ),
)
