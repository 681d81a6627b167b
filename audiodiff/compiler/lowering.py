"""Per-type lowering: the ports (symbolic shapes) and facts of one node, computed from its spec alone.

Every function has one signature, `lowering(spec, context) -> Lowered`: the typed spec of one config object and
what its shape depends on beyond it (a context per kind). The registry pairs every type tag with one of these;
`lower.py` assembles the nodes into a graph and wires the routes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from audiodiff.compiler.facts import (
    BottleneckShape,
    PretransformShape,
    Shape,
    SignalShape,
    StageShape,
    T5Shape,
    TokenShape,
)
from audiodiff.compiler.graph import Dim, Port
from audiodiff.schema.v1 import conditioning as cond
from audiodiff.schema.v1 import pretransform as pre
from audiodiff.schema.v1.backbones import BackboneSpec
from audiodiff.schema.v1.conditioning import T5_WIDTHS

B = "B"


@dataclass(frozen=True)
class Lowered:
    inputs: tuple[Port, ...]
    outputs: tuple[Port, ...]
    facts: Shape | None = None  # None: the node has no facts of its own (a backbone's come from its capabilities)


@dataclass(frozen=True)
class ConditionerContext:
    """What a conditioner's shape depends on beyond its own entry."""

    output_dim: int  # `output_dim` of the entry, else `cond_dim`
    model_latent_channels: int | None  # the model pretransform's latent width (for use_model_pretransform)
    model_ratio: int | None


# --- conditioners ---------------------------------------------------------------------------------------------------
# Output: `value` [B, N, D] with N tokens of width D (or channels-first [B, C, T] for signal conditioners), `mask`.


def _tokens(tokens: Dim, width: int, *, kind: Literal["vector", "sequence"]) -> Lowered:
    return _with_tokens(TokenShape(width, tokens, kind))


def _with_tokens(shape: TokenShape) -> Lowered:
    tokens, width = shape.tokens, shape.width
    return Lowered(
        inputs=(Port("values", (B,)),),
        outputs=(Port("value", (B, tokens, width)), Port("mask", (B, tokens))),
        facts=shape,
    )


def lower_vector_conditioner(entry: cond.ConditionerSpec, context: ConditionerContext) -> Lowered:
    """`number`, `int`, `list`, `clap_audio`: one token per item."""
    return _tokens(1, context.output_dim, kind="vector")


def lower_t5(entry: cond.T5ConditionerSpec, context: ConditionerContext) -> Lowered:
    encoder_width = T5_WIDTHS.get(entry.config.t5_model_name)
    return _with_tokens(T5Shape(context.output_dim, entry.config.max_length, "sequence", encoder_width))


def lower_clap_text(entry: cond.CLAPTextConditionerSpec, context: ConditionerContext) -> Lowered:
    if entry.config.use_text_features:
        return _tokens(77, context.output_dim, kind="sequence")
    return _tokens(1, context.output_dim, kind="vector")


def lower_lut(entry: cond.LUTConditionerSpec, context: ConditionerContext) -> Lowered:
    return _tokens(entry.config.max_length, context.output_dim, kind="sequence")


def lower_phoneme(entry: cond.PhonemeConditionerSpec, context: ConditionerContext) -> Lowered:
    # the length is the longest item of the batch: a symbol, not a number
    return _tokens(f"N_{entry.id}", context.output_dim, kind="sequence")


def lower_source_mix_conditioner(entry: cond.SourceMixConditionerSpec, context: ConditionerContext) -> Lowered:
    """`source_mix`: like `pretransform`, with per-source heads that map C_enc -> D."""
    return _signal(entry, context, mixed=True)


def lower_signal_conditioner(entry: cond.PretransformConditionerSpec, context: ConditionerContext) -> Lowered:
    """`pretransform`: channels-first latents of audio, [B, C, T/r]."""
    return _signal(entry, context, mixed=False)


def _signal(
    entry: cond.PretransformConditionerSpec | cond.SourceMixConditionerSpec, context: ConditionerContext, *, mixed: bool
) -> Lowered:
    config = entry.config
    if config.use_model_pretransform or config.pretransform_config is None:
        channels, ratio = context.model_latent_channels, context.model_ratio
    else:
        from audiodiff.schema.views import pretransform_latent_channels, pretransform_ratio

        channels = pretransform_latent_channels(config.pretransform_config)
        ratio = pretransform_ratio(config.pretransform_config)
    length = f"T_{entry.id}/{ratio}" if ratio and ratio > 1 else f"T_{entry.id}"
    latent = channels  # what the pretransform encodes to
    if mixed:
        channels = context.output_dim  # per-source heads map C_enc -> D
    width = channels if channels is not None else "C"
    return Lowered(
        inputs=(Port("audio", (B, "C_audio", f"T_{entry.id}")),),
        outputs=(Port("value", (B, width, length)), Port("mask", (B, length))),
        facts=SignalShape(channels, length, "signal", channels, latent),
    )


# --- pretransform stages --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StageContext:
    audio_length: str  # the symbolic audio length the stage reads or writes


@dataclass(frozen=True)
class BottleneckContext:
    in_channels: int
    latent_dim: int
    latent_length: Dim


@dataclass(frozen=True)
class PretransformContext:
    audio_channels: int | None
    latent_channels: int | None
    ratio: int | None


@dataclass(frozen=True)
class BackboneContext:
    channels: int
    length: str
    out_channels: int | None = None


def lower_encoder(stage: pre.EncoderStage, context: StageContext) -> Lowered:
    config, audio_length = stage.config, context.audio_length
    return Lowered(
        inputs=(Port("audio", (B, config.input_channels, audio_length)),),
        outputs=(Port("features", (B, config.output_channels, _divide(audio_length, config.ratio))),),
        facts=StageShape(config.ratio),
    )


def lower_decoder(stage: pre.DecoderStage, context: StageContext) -> Lowered:
    config, audio_length = stage.config, context.audio_length
    return Lowered(
        inputs=(Port("latents", (B, config.input_channels, _divide(audio_length, config.ratio))),),
        outputs=(Port("audio", (B, config.output_channels, audio_length)),),
        facts=StageShape(config.ratio),
    )


def _bottleneck(context: BottleneckContext, *, discrete: bool) -> Lowered:
    return Lowered(
        inputs=(Port("features", (B, context.in_channels, context.latent_length)),),
        outputs=(Port("latents", (B, context.latent_dim, context.latent_length)),),
        facts=BottleneckShape(discrete),
    )


def lower_bottleneck(bottleneck: pre.Bottleneck, context: BottleneckContext) -> Lowered:
    """A continuous bottleneck (tanh, vae, l2_norm, wasserstein)."""
    return _bottleneck(context, discrete=False)


def lower_discrete_bottleneck(bottleneck: pre.Bottleneck, context: BottleneckContext) -> Lowered:
    """A quantizing bottleneck (residual VQ, FSQ): its latents are codes."""
    return _bottleneck(context, discrete=True)


def lower_pretransform(pretransform: pre.PretransformSpec, context: PretransformContext) -> Lowered:
    ratio, audio_channels, latent_channels = context.ratio, context.audio_channels, context.latent_channels
    latent_length = _divide("T", ratio) if ratio else "T'"
    return Lowered(
        inputs=(Port("audio", (B, audio_channels if audio_channels is not None else "C", "T")),),
        outputs=(Port("latents", (B, latent_channels if latent_channels is not None else "C", latent_length)),),
        facts=PretransformShape(ratio, latent_channels),
    )


# --- backbones ------------------------------------------------------------------------------------------------------


def lower_backbone(config: BackboneSpec, context: BackboneContext) -> Lowered:
    channels, length = context.channels, context.length
    return Lowered(
        inputs=(Port("x", (B, channels, length)), Port("t", (B,))),
        outputs=(Port("v", (B, context.out_channels or channels, length)),),
    )


def _divide(length: str, ratio: int) -> str:
    if ratio == 1:
        return length
    if "/" in length:
        base, _, divisor = length.partition("/")
        if divisor.isdigit():
            return f"{base}/{int(divisor) * ratio}"
    return f"{length}/{ratio}"
