"""Backbone geometry rules: attention heads, io channels, length divisibility, U-Net lists (C3, C20, C25,
C41-C47, C52, C60, C69)."""

from __future__ import annotations

from audiodiff.diagnostics import codes
from audiodiff.schema.rules.report import RuleReport, at
from audiodiff.schema.v1.backbones import DAU1dSpec, DiTOptionsSpec, UNet1dSpec
from audiodiff.schema.v1.pretransform import PretransformSpec
from audiodiff.schema.v1.root import DiffusionCondConfig, DiffusionCondInpaintConfig, ModelConfig
from audiodiff.schema.views import (
    BackboneView,
    backbone_of,
    pretransform_latent_channels,
    pretransform_of,
    pretransform_ratio,
)


def check(spec: ModelConfig, report: RuleReport) -> None:
    backbone = backbone_of(spec)
    if backbone is None:
        return
    config, where = backbone.config, backbone.pointer
    if isinstance(config, DiTOptionsSpec):
        _check_dit(config, where, report)
    elif isinstance(config, UNet1dSpec):
        _check_unet(config, where, report)
    elif isinstance(config, DAU1dSpec):
        _check_dau1d(config, where, report)
    _check_channels(spec, backbone, report)
    _check_length(spec, backbone, report)
    if isinstance(spec, (DiffusionCondConfig, DiffusionCondInpaintConfig)):
        shift = spec.model.diffusion.distribution_shift_options
        if shift is not None and shift.max_length == shift.min_length:
            report.add(
                codes.DISTRIBUTION_SHIFT_RANGE,
                "`max_length` equals `min_length`: the shift interpolates between them and would divide by zero",
                at("model", "diffusion", "distribution_shift_options", "max_length"),
            )


def _check_dit(config: DiTOptionsSpec, where: str, report: RuleReport) -> None:
    # An omitted `transformer_type` (C25) is reported by the 1 -> 2 migration, which spells the key out.
    if config.embed_dim % config.num_heads:
        report.add(
            codes.HEADS_DO_NOT_DIVIDE,
            f"`embed_dim` ({config.embed_dim}) is not a multiple of `num_heads` ({config.num_heads})",
            where + "/num_heads",
            related=(("`embed_dim` is set here", where + "/embed_dim"),),
        )
    else:  # the head-width rules below only make sense for a whole head width
        _check_dit_heads(config, where, report)
    if not config.project_global_cond and config.global_cond_dim not in (0, config.embed_dim):
        report.add(
            codes.GLOBAL_PROJECTION_WIDTH,
            f"`global_cond_dim` ({config.global_cond_dim}) must equal `embed_dim` ({config.embed_dim}) when "
            "`project_global_cond` is false",
            where + "/global_cond_dim",
            related=(("`project_global_cond` is set here", where + "/project_global_cond"),),
        )
    # Upstream expands the [B, 1, E_t] embedding along its last axis: that broadcasts only a width of 1 (to one
    # channel, at any length); any wider embedding fails at the first forward, by an expand error at most lengths
    # and by a channel mismatch in the input projection where the length happens to equal the width.
    if config.timestep_cond_type == "input_concat" and config.timestep_embed_dim != 1:
        width = config.timestep_embed_dim
        problem = (
            "needs `timestep_embed_dim` upstream"
            if width is None
            else f"with `timestep_embed_dim: {width}` fails at the first forward upstream: it expands the timestep "
            "embedding along the wrong axis, which only a width of 1 survives"
        )
        report.add(
            codes.TIMESTEP_INPUT_CONCAT,
            f"`timestep_cond_type: input_concat` {problem}",
            where + ("/timestep_cond_type" if width is None else "/timestep_embed_dim"),
            help='use `"timestep_embed_dim": 1`, or the default `"timestep_cond_type": "global"`',
        )
    if config.causal:
        report.add(
            codes.CAUSAL_ATTENTION,
            "`causal: true` makes the diffusion transformer's self-attention causal",
            where + "/causal",
            help="remove it unless a causal denoiser is really what you want",
        )


def _check_dit_heads(config: DiTOptionsSpec, where: str, report: RuleReport) -> None:
    """C42, C43: rules on the head width `embed_dim / num_heads`."""
    head = config.head_width
    if config.rotary_pos_emb and config.transformer_type == "continuous_transformer" and head < 32:
        report.add(
            codes.HEAD_WIDTH_TOO_SMALL,
            f"the head width `embed_dim / num_heads` is {head}, but the shared rotary embedding is 32 wide",
            where + "/num_heads",
            help=f"use at most {max(config.embed_dim // 32, 1)} heads, or set `rotary_pos_emb: false`",
            related=(("`embed_dim` is set here", where + "/embed_dim"),),
        )
    if config.cond_token_dim > 0 and not config.project_cond_tokens:
        context = config.cond_token_dim
        if context % head or config.num_heads % (context // head or 1):
            report.add(
                codes.GROUPED_KV_MISMATCH,
                f"unprojected context width `cond_token_dim` ({context}) must be a whole number of heads "
                f"of width {head} that divides `num_heads` ({config.num_heads})",
                where + "/cond_token_dim",
                help="set `project_cond_tokens: true`, or pick widths where the grouped K/V heads fit",
                related=(("`project_cond_tokens` is set here", where + "/project_cond_tokens"),),
            )


def _check_unet(config: UNet1dSpec, where: str, report: RuleReport) -> None:
    if not config.multipliers:
        report.add(
            codes.UNET_GEOMETRY, "`multipliers` needs at least one entry (the input level)", where + "/multipliers"
        )
        return
    levels = config.num_levels
    for key in ("factors", "num_blocks"):
        if len(getattr(config, key)) != levels:
            report.add(
                codes.UNET_GEOMETRY,
                f"`{key}` has {len(getattr(config, key))} entries, but `multipliers` makes {levels} levels",
                where + "/" + key,
                help=f"give `{key}` exactly len(multipliers) - 1 = {levels} entries",
                related=(("`multipliers` is set here", where + "/multipliers"),),
            )
    if len(config.attentions) < levels:
        report.add(
            codes.UNET_GEOMETRY,
            f"`attentions` has {len(config.attentions)} entries, but the U-Net has {levels} levels",
            where + "/attentions",
            related=(("`multipliers` is set here", where + "/multipliers"),),
        )
        return
    for index, multiplier in enumerate(config.multipliers):
        width = config.channels * multiplier
        if width % config.resnet_groups:
            report.add(
                codes.UNET_GEOMETRY,
                f"level {index} is {width} channels wide, which `resnet_groups` ({config.resnet_groups}) "
                "does not divide",
                where + "/resnet_groups",
                related=(("`multipliers` is set here", where + f"/multipliers/{index}"),),
            )
            break
    # level i attends at the width it downsamples to; the bottleneck uses the last entry at the deepest width
    attended = [(i, config.channels * config.multipliers[i + 1]) for i in range(levels) if config.attentions[i] > 0]
    if config.attentions[-1] > 0:
        attended.append((len(config.attentions) - 1, config.channels * config.multipliers[-1]))
    for index, width in attended:
        if width % 32:
            report.add(
                codes.UNET_GEOMETRY,
                f"attention at `attentions[{index}]` runs {width} channels wide; its GroupNorm(32) needs a "
                "multiple of 32",
                where + f"/attentions/{index}",
            )
            break
    if any(count > 0 for count in config.attentions):
        has_width = config.attention_heads is not None or config.attention_features is not None
        if not has_width or config.attention_multiplier is None:
            report.add(
                codes.ATTENTION_SETTINGS_MISSING,
                "attention layers need `attention_heads` or `attention_features`, and `attention_multiplier`",
                where,
                related=(("attention is requested here", where + "/attentions"),),
            )
    if config.use_stft and config.stft_num_fft is None:
        report.add(codes.MISSING_KEY, "`use_stft` needs `stft_num_fft`", where + "/use_stft")


def _check_dau1d(config: DAU1dSpec, where: str, report: RuleReport) -> None:
    if len(config.channels) < config.depth:
        report.add(
            codes.UNET_GEOMETRY,
            f"`channels` has {len(config.channels)} entries, but `depth` is {config.depth}",
            where + "/channels",
            related=(("`depth` is set here", where + "/depth"),),
        )
    if len(config.strides) < config.depth - 1:
        report.add(
            codes.UNET_GEOMETRY,
            f"`strides` has {len(config.strides)} entries, but `depth` {config.depth} needs {config.depth - 1}",
            where + "/strides",
            related=(("`depth` is set here", where + "/depth"),),
        )
    if not config.learned_resample and any(stride > 2 for stride in config.strides[: config.depth - 1]):
        report.add(
            codes.UNET_GEOMETRY,
            "strides above 2 need `learned_resample: true` (the fixed resampling kernels halve only)",
            where + "/strides",
        )


def _check_channels(spec: ModelConfig, backbone: BackboneView, report: RuleReport) -> None:
    """C20: model.io_channels = backbone channels = pretransform latent width."""
    backbone_pointer = f"{backbone.pointer}/{backbone.channels_key}"
    if spec.model_type != "diffusion_uncond" and spec.model.io_channels != backbone.channels:
        report.add(
            codes.IO_CHANNELS_MISMATCH,
            f"`model.io_channels` is {spec.model.io_channels} but the backbone's `{backbone.channels_key}` is "
            f"{backbone.channels}"
            + ("" if backbone.config.explicitly_set(backbone.channels_key) else " (its default)"),
            backbone_pointer,
            related=(("`model.io_channels` is set here", at("model", "io_channels")),),
        )
    located = pretransform_of(spec)
    if located is None:
        return
    pretransform, pretransform_pointer = located
    latent = pretransform_latent_channels(pretransform)
    if latent is not None and latent != backbone.channels:
        report.add(
            codes.LATENT_WIDTH,
            f"the backbone denoises {backbone.channels} channels, but the pretransform produces {latent}",
            backbone_pointer,
            related=(
                (
                    "the pretransform's latent width comes from here",
                    _latent_pointer(pretransform, pretransform_pointer),
                ),
            ),
        )


def _latent_pointer(pretransform: PretransformSpec, pointer: str) -> str:
    return pointer + pretransform.latent_key


def _check_length(spec: ModelConfig, backbone: BackboneView, report: RuleReport) -> None:
    """C3: sample_size must divide into whole latents, patches and U-Net levels."""
    located = pretransform_of(spec)
    ratio = 1
    if located is not None:
        ratio = pretransform_ratio(located[0]) or 1
    multiple = ratio * backbone.length_multiple
    if spec.sample_size % multiple:
        parts = []
        if ratio > 1:
            parts.append(f"the pretransform's downsampling ratio {ratio}")
        if backbone.length_multiple > 1:
            parts.append(f"the backbone's length multiple {backbone.length_multiple}")
        lower = spec.sample_size - spec.sample_size % multiple
        report.add(
            codes.LENGTH_NOT_DIVISIBLE,
            f"`sample_size` {spec.sample_size} is not a multiple of {multiple} ({' x '.join(parts)})",
            at("sample_size"),
            help=f"use {lower} or {lower + multiple}" if lower > 0 else f"use {multiple}",
            related=(("the length multiple comes from here", backbone.pointer),),
        )
