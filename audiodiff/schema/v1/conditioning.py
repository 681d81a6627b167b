"""`model.conditioning`: the conditioner catalogue (spec §3).

Every entry is `{id, type, config}`; all three are required, `config` even when empty (C27). `output_dim` inside an
entry's `config` overrides `cond_dim` for that conditioner.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from audiodiff.schema.v1.base import (
    Bool,
    Float,
    Int,
    NonEmptyStr,
    PositiveInt,
    Spec,
    Str,
    StrTuple,
)
from audiodiff.schema.v1.pretransform import PretransformSpec

# Encoder widths of the T5 models upstream accepts (C33); flan-t5 3b/11b have widths but upstream rejects them.
T5_WIDTHS: dict[str, int] = {
    "t5-small": 512,
    "t5-base": 768,
    "t5-large": 1024,
    "t5-3b": 1024,
    "t5-11b": 1024,
    "google/flan-t5-small": 512,
    "google/flan-t5-base": 768,
    "google/flan-t5-large": 1024,
    "google/flan-t5-xl": 2048,
    "google/flan-t5-xxl": 4096,
    "google/t5-v1_1-xl": 2048,
    "google/t5-v1_1-xxl": 4096,
}


class _ConditionerConfig(Spec):
    output_dim: PositiveInt | None = None


class T5Config(_ConditionerConfig):
    t5_model_name: NonEmptyStr = "t5-base"  # checked against T5_WIDTHS by a rule, with did-you-mean
    max_length: PositiveInt = 128
    enable_grad: Bool = False
    project_out: Bool = False


class CLAPTextConfig(_ConditionerConfig):
    clap_ckpt_path: NonEmptyStr
    use_text_features: Bool = False
    feature_layer_ix: Int = -1
    audio_model_type: Literal["HTSAT-tiny", "HTSAT-base", "HTSAT-large", "PANN-6", "PANN-10", "PANN-14"] = "HTSAT-base"
    enable_fusion: Bool = True
    project_out: Bool = False
    finetune: Bool = False


class CLAPAudioConfig(_ConditionerConfig):
    clap_ckpt_path: NonEmptyStr
    audio_model_type: Literal["HTSAT-tiny", "HTSAT-base", "HTSAT-large", "PANN-6", "PANN-10", "PANN-14"] = "HTSAT-base"
    enable_fusion: Bool = True
    project_out: Bool = False


class IntConfig(_ConditionerConfig):
    min_val: Int = 0
    max_val: Int = 512


class NumberConfig(_ConditionerConfig):
    min_val: Float = 0.0
    max_val: Float = 1.0  # upstream default; the docs use 512 (C34)


class ListConfig(_ConditionerConfig):
    options: StrTuple


class PhonemeConfig(_ConditionerConfig):
    max_length: PositiveInt = 1024
    project_out: Bool = False


class LUTConfig(_ConditionerConfig):
    tokenizer_name: NonEmptyStr
    max_length: PositiveInt = 1024
    use_abs_pos_emb: Bool = False
    project_out: Bool = False
    special_tokens: StrTuple = ()


class PretransformConditionerConfig(_ConditionerConfig):
    sample_rate: PositiveInt
    use_model_pretransform: Bool = False
    pretransform_config: PretransformSpec | None = None
    pretransform_ckpt_path: NonEmptyStr | None = None
    save_pretransform: Bool = False


class SourceMixConfig(PretransformConditionerConfig):
    source_keys: StrTuple = ()
    pre_encoded: Bool = False
    allow_null_source: Bool = False
    source_length: PositiveInt | None = None


# One class per conditioner type, spelled out so that type checkers and readers can follow `entry.config`.


class T5ConditionerSpec(Spec):
    """a `t5` conditioner entry."""

    id: NonEmptyStr
    type: Literal["t5"]
    config: T5Config


class CLAPTextConditionerSpec(Spec):
    """a `clap_text` conditioner entry."""

    id: NonEmptyStr
    type: Literal["clap_text"]
    config: CLAPTextConfig


class CLAPAudioConditionerSpec(Spec):
    """a `clap_audio` conditioner entry."""

    id: NonEmptyStr
    type: Literal["clap_audio"]
    config: CLAPAudioConfig


class IntConditionerSpec(Spec):
    """a `int` conditioner entry."""

    id: NonEmptyStr
    type: Literal["int"]
    config: IntConfig


class NumberConditionerSpec(Spec):
    """a `number` conditioner entry."""

    id: NonEmptyStr
    type: Literal["number"]
    config: NumberConfig


class ListConditionerSpec(Spec):
    """a `list` conditioner entry."""

    id: NonEmptyStr
    type: Literal["list"]
    config: ListConfig


class PhonemeConditionerSpec(Spec):
    """a `phoneme` conditioner entry."""

    id: NonEmptyStr
    type: Literal["phoneme"]
    config: PhonemeConfig


class LUTConditionerSpec(Spec):
    """a `lut` conditioner entry."""

    id: NonEmptyStr
    type: Literal["lut"]
    config: LUTConfig


class PretransformConditionerSpec(Spec):
    """a `pretransform` conditioner entry."""

    id: NonEmptyStr
    type: Literal["pretransform"]
    config: PretransformConditionerConfig


class SourceMixConditionerSpec(Spec):
    """a `source_mix` conditioner entry."""

    id: NonEmptyStr
    type: Literal["source_mix"]
    config: SourceMixConfig


ConditionerSpec = Annotated[
    (
        T5ConditionerSpec
        | CLAPTextConditionerSpec
        | CLAPAudioConditionerSpec
        | IntConditionerSpec
        | NumberConditionerSpec
        | ListConditionerSpec
        | PhonemeConditionerSpec
        | LUTConditionerSpec
        | PretransformConditionerSpec
        | SourceMixConditionerSpec
    ),
    Field(discriminator="type"),
]


class ConditioningSpec(Spec):
    cond_dim: PositiveInt
    configs: Annotated[tuple[ConditionerSpec, ...], Field(strict=False)] = ()
    default_keys: dict[Str, Str] = Field(default_factory=dict)
    pre_encoded_keys: StrTuple = ()

    @property
    def ids(self) -> list[str]:
        return [entry.id for entry in self.configs]

    def by_id(self, conditioner_id: str) -> ConditionerSpec | None:
        for entry in self.configs:
            if entry.id == conditioner_id:
                return entry
        return None

    def output_dim(self, entry: ConditionerSpec) -> int:
        return entry.config.output_dim if entry.config.output_dim is not None else self.cond_dim
