"""Conditioner types: for each tag its spec, builder, parameter counter and lowering (see `compiler/entry.py`).

A builder takes the conditioner entry and a `ConditionerBuild` and returns the module (importing `audiodiff.nn`
inside itself: this file stays torch-free). A counter takes the entry and a `ConditionerCount` and returns the
elements under `conditioner.conditioners.<id>.` (None when they depend on something not in the spec). Adding a
conditioner type is a spec class (schema), a module (nn) and an entry here: docs/extending.md walks through it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from audiodiff.compiler import lowering
from audiodiff.compiler.entry import Entry
from audiodiff.compiler.param_layers import ParamCount, conv, embedding, linear
from audiodiff.schema.v1 import conditioning as cond
from audiodiff.schema.v1.conditioning import T5_WIDTHS
from audiodiff.schema.v1.pretransform import PretransformSpec
from audiodiff.schema.views import pretransform_latent_channels

if TYPE_CHECKING:
    from torch import nn

    from audiodiff.nn.pretransforms import Pretransform

G2P_EN_PHONEME_COUNT = 74  # len(g2p_en.G2p().phonemes): 4 specials + 70 stressed ARPAbet symbols
CLAP_TEXT_WIDTHS = {True: 768, False: 512}  # RoBERTa hidden states (features) vs the CLAP text embedding
CLAP_AUDIO_WIDTH = 512


@dataclass(frozen=True)
class ConditionerBuild:
    """What a conditioner's module depends on beyond its own entry."""

    output_dim: int  # `output_dim` of the entry, else `cond_dim`
    sample_rate: int
    model_pretransform: Pretransform | None = None  # the model's built pretransform (`use_model_pretransform`)
    t5_model_path: str | None = None  # a local T5 folder instead of the Hugging Face cache


@dataclass(frozen=True)
class ConditionerCount:
    output_dim: int
    model_pretransform: PretransformSpec | None = None  # the model's own pretransform spec
    vocab_size: int | None = None  # a loaded `lut` tokenizer's length (special tokens included)


def proj_out(width: int, output_dim: int, project_out: bool) -> ParamCount:
    """The base `Conditioner.proj_out`: Linear(width, D) when the widths differ or `project_out` asks for it."""
    return linear(width, output_dim) if (width != output_dim or project_out) else ParamCount(0)


# --- number, int, list ----------------------------------------------------------------------------------------------


def build_number(entry: cond.NumberConditionerSpec, context: ConditionerBuild) -> nn.Module:
    from audiodiff.nn.conditioners import NumberConditioner

    return NumberConditioner(output_dim=context.output_dim, min_val=entry.config.min_val, max_val=entry.config.max_val)


def count_number(entry: cond.NumberConditionerSpec, context: ConditionerCount) -> ParamCount:
    return ParamCount(128) + linear(257, context.output_dim)  # NumberEmbedder: 128 learned frequencies, Linear(257, D)


def build_int(entry: cond.IntConditionerSpec, context: ConditionerBuild) -> nn.Module:
    from audiodiff.nn.conditioners import IntConditioner

    return IntConditioner(output_dim=context.output_dim, min_val=entry.config.min_val, max_val=entry.config.max_val)


def count_int(entry: cond.IntConditionerSpec, context: ConditionerCount) -> ParamCount:
    return embedding(entry.config.max_val - entry.config.min_val + 1, context.output_dim)


def build_list(entry: cond.ListConditionerSpec, context: ConditionerBuild) -> nn.Module:
    from audiodiff.nn.conditioners import ListConditioner

    return ListConditioner(output_dim=context.output_dim, options=entry.config.options)


def count_list(entry: cond.ListConditionerSpec, context: ConditionerCount) -> ParamCount:
    return embedding(len(entry.config.options) + 1, context.output_dim)


# --- text -----------------------------------------------------------------------------------------------------------


def build_t5(entry: cond.T5ConditionerSpec, context: ConditionerBuild) -> nn.Module:
    from audiodiff.nn.text_conditioners import T5Conditioner

    config = entry.config
    return T5Conditioner(
        output_dim=context.output_dim,
        t5_model_name=config.t5_model_name,
        max_length=config.max_length,
        enable_grad=config.enable_grad,
        project_out=config.project_out,
        model_path=context.t5_model_path,
    )


def count_t5(entry: cond.T5ConditionerSpec, context: ConditionerCount) -> ParamCount | None:
    config = entry.config
    if config.enable_grad:
        return None  # the trained T5 encoder joins the state dict; its size needs its HF config
    width = T5_WIDTHS.get(config.t5_model_name)
    return None if width is None else proj_out(width, context.output_dim, config.project_out)


def build_lut(entry: cond.LUTConditionerSpec, context: ConditionerBuild) -> nn.Module:
    from audiodiff.nn.text_conditioners import (
        TokenizerLUTConditioner,
        tokenizer_vocabulary_size,
    )

    config = entry.config
    vocab_size = tokenizer_vocabulary_size(config.tokenizer_name, config.special_tokens)
    return TokenizerLUTConditioner(
        output_dim=context.output_dim,
        tokenizer_name=config.tokenizer_name,
        vocab_size=vocab_size,
        max_length=config.max_length,
        use_abs_pos_emb=config.use_abs_pos_emb,
        project_out=config.project_out,
        special_tokens=config.special_tokens,
    )


def count_lut(entry: cond.LUTConditionerSpec, context: ConditionerCount) -> ParamCount | None:
    """token_embedder rows = the tokenizer's vocabulary, known only once it is loaded."""
    if context.vocab_size is None:
        return None
    config, width = entry.config, context.output_dim
    count = embedding(context.vocab_size, width) + proj_out(width, width, config.project_out)
    return count + (embedding(config.max_length, width) if config.use_abs_pos_emb else ParamCount(0))


def build_phoneme(entry: cond.PhonemeConditionerSpec, context: ConditionerBuild) -> nn.Module:
    from audiodiff.nn.text_conditioners import PhonemeConditioner

    return PhonemeConditioner(
        output_dim=context.output_dim, max_length=entry.config.max_length, project_out=entry.config.project_out
    )


def count_phoneme(entry: cond.PhonemeConditionerSpec, context: ConditionerCount) -> ParamCount:
    width = context.output_dim
    return embedding(G2P_EN_PHONEME_COUNT + 2, width) + proj_out(width, width, entry.config.project_out)


# --- CLAP -----------------------------------------------------------------------------------------------------------


def build_clap_text(entry: cond.CLAPTextConditionerSpec, context: ConditionerBuild) -> nn.Module:
    from audiodiff.nn.clap_conditioners import CLAPTextConditioner

    config = entry.config
    return CLAPTextConditioner(
        output_dim=context.output_dim,
        clap_ckpt_path=config.clap_ckpt_path,
        use_text_features=config.use_text_features,
        feature_layer_ix=config.feature_layer_ix,
        audio_model_type=config.audio_model_type,
        enable_fusion=config.enable_fusion,
        project_out=config.project_out,
        finetune=config.finetune,
    )


def count_clap_text(entry: cond.CLAPTextConditionerSpec, context: ConditionerCount) -> ParamCount | None:
    config = entry.config
    if config.finetune:
        return None  # the fine-tuned CLAP model joins the state dict
    return proj_out(CLAP_TEXT_WIDTHS[config.use_text_features], context.output_dim, config.project_out)


def build_clap_audio(entry: cond.CLAPAudioConditionerSpec, context: ConditionerBuild) -> nn.Module:
    from audiodiff.nn.clap_conditioners import CLAPAudioConditioner

    config = entry.config
    return CLAPAudioConditioner(
        output_dim=context.output_dim,
        clap_ckpt_path=config.clap_ckpt_path,
        audio_model_type=config.audio_model_type,
        enable_fusion=config.enable_fusion,
        project_out=config.project_out,
    )


def count_clap_audio(entry: cond.CLAPAudioConditionerSpec, context: ConditionerCount) -> ParamCount:
    return proj_out(CLAP_AUDIO_WIDTH, context.output_dim, entry.config.project_out)


# --- audio through a pretransform -------------------------------------------------------------------------------------


def _conditioner_pretransform(config: cond.PretransformConditionerConfig, context: ConditionerBuild) -> Pretransform:
    """The model's own pretransform, or one built from `pretransform_config`."""
    if config.use_model_pretransform:
        if context.model_pretransform is None:  # the rules require one (C36)
            raise ValueError("`use_model_pretransform` is set but the model has no pretransform")
        return context.model_pretransform
    from audiodiff.compiler.materialize import build_pretransform

    if config.pretransform_config is None:  # the rules require one of the two (C36)
        raise ValueError("a pretransform conditioner needs `pretransform_config` or `use_model_pretransform`")
    return build_pretransform(config.pretransform_config, config.sample_rate)


def build_pretransform_conditioner(entry: cond.PretransformConditionerSpec, context: ConditionerBuild) -> nn.Module:
    from audiodiff.nn.conditioners import PretransformConditioner

    config = entry.config
    return PretransformConditioner(
        pretransform=_conditioner_pretransform(config, context),
        output_dim=context.output_dim,
        save_pretransform=config.save_pretransform,
    )


def build_source_mix(entry: cond.SourceMixConditionerSpec, context: ConditionerBuild) -> nn.Module:
    from audiodiff.nn.conditioners import SourceMixConditioner

    config = entry.config
    return SourceMixConditioner(
        pretransform=_conditioner_pretransform(config, context),
        output_dim=context.output_dim,
        source_keys=config.source_keys,
        save_pretransform=config.save_pretransform,
        pre_encoded=config.pre_encoded,
        allow_null_source=config.allow_null_source,
        source_length=config.source_length,
    )


def _encoded(
    config: cond.PretransformConditionerConfig, context: ConditionerCount
) -> tuple[PretransformSpec, int] | None:
    pretransform = context.model_pretransform if config.use_model_pretransform else config.pretransform_config
    if pretransform is None:
        return None
    channels = pretransform_latent_channels(pretransform)
    return None if channels is None else (pretransform, channels)


def _saved_pretransform(
    config: cond.PretransformConditionerConfig, pretransform: PretransformSpec, count: ParamCount
) -> ParamCount | None:
    if not config.save_pretransform:
        return count
    from audiodiff.compiler.params_codecs import pretransform_count

    inner = pretransform_count(pretransform)  # registered as a submodule: `<id>.pretransform.*`
    return None if inner is None else count + inner


def count_pretransform_conditioner(
    entry: cond.PretransformConditionerSpec, context: ConditionerCount
) -> ParamCount | None:
    encoded = _encoded(entry.config, context)
    if encoded is None:
        return None
    pretransform, channels = encoded
    return _saved_pretransform(entry.config, pretransform, proj_out(channels, context.output_dim, False))


def count_source_mix(entry: cond.SourceMixConditionerSpec, context: ConditionerCount) -> ParamCount | None:
    encoded = _encoded(entry.config, context)
    if encoded is None:
        return None
    pretransform, channels = encoded
    config = entry.config
    count = proj_out(channels, context.output_dim, False)
    count += conv(channels, context.output_dim, 1) * len(config.source_keys)  # one 1x1 conv per source key
    if config.allow_null_source:
        count += ParamCount(context.output_dim)  # the learned null source
    return _saved_pretransform(config, pretransform, count)


# --- the entries ----------------------------------------------------------------------------------------------------

_CLAP_REASON = "CLAP conditioners need the optional `laion_clap` package and a local CLAP checkpoint"

ENTRIES: tuple[Entry, ...] = (
    Entry(
        "conditioner",
        "t5",
        cond.T5ConditionerSpec,
        build_t5,
        count_t5,
        lowering.lower_t5,
        status="needs_extra",
        extra="t5",
        module="transformers",
        reason="T5 conditioners need the optional `transformers` package (`pip install audiodiff[t5]`)",
    ),
    Entry(
        "conditioner",
        "clap_text",
        cond.CLAPTextConditionerSpec,
        build_clap_text,
        count_clap_text,
        lowering.lower_clap_text,
        status="needs_extra",
        extra="clap",
        module="laion_clap",
        reason=_CLAP_REASON,
    ),
    Entry(
        "conditioner",
        "clap_audio",
        cond.CLAPAudioConditionerSpec,
        build_clap_audio,
        count_clap_audio,
        lowering.lower_vector_conditioner,
        status="needs_extra",
        extra="clap",
        module="laion_clap",
        reason=_CLAP_REASON,
    ),
    Entry("conditioner", "int", cond.IntConditionerSpec, build_int, count_int, lowering.lower_vector_conditioner),
    Entry(
        "conditioner",
        "number",
        cond.NumberConditionerSpec,
        build_number,
        count_number,
        lowering.lower_vector_conditioner,
    ),
    Entry("conditioner", "list", cond.ListConditionerSpec, build_list, count_list, lowering.lower_vector_conditioner),
    Entry(
        "conditioner",
        "phoneme",
        cond.PhonemeConditionerSpec,
        build_phoneme,
        count_phoneme,
        lowering.lower_phoneme,
        status="needs_extra",
        extra="phoneme",
        module="g2p_en",
        reason="phoneme conditioners need the optional `g2p_en` package and its NLTK data",
    ),
    Entry(
        "conditioner",
        "lut",
        cond.LUTConditionerSpec,
        build_lut,
        count_lut,
        lowering.lower_lut,
        status="needs_extra",
        extra="t5",
        module="transformers",
        reason="LUT conditioners need the optional `transformers` package for their tokenizer",
    ),
    Entry(
        "conditioner",
        "pretransform",
        cond.PretransformConditionerSpec,
        build_pretransform_conditioner,
        count_pretransform_conditioner,
        lowering.lower_signal_conditioner,
    ),
    Entry(
        "conditioner",
        "source_mix",
        cond.SourceMixConditionerSpec,
        build_source_mix,
        count_source_mix,
        lowering.lower_source_mix_conditioner,
    ),
)
