"""`model.conditioning`: the conditioner catalogue (spec §3).

Every entry is `{id, type, config}`; all three are required, `config` even when empty (C27). `output_dim` inside an
entry's `config` overrides `cond_dim` for that conditioner.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from audiodiff.diagnostics import codes
from audiodiff.diagnostics.suggest import did_you_mean
from audiodiff.schema.findings import Finding
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


# What kind of value a conditioner reads, for forms and value checks: text, a number, a whole number, one of a list's
# options, or audio (fed from a signal, which a form does not ask for).
ValueKind = Literal["text", "number", "int", "choice", "audio"]
# What it gives the backbone: one vector per item, a token sequence (C48), or channels-first audio latents, which
# may only feed input-concat (C36).
ConditionerOutput = Literal["vector", "sequence", "signal"]


class ConditionerEntrySpec(Spec):
    """What every conditioner entry is, and what each type says about itself; one subclass per type tag below.

    Rules, `sample`, `run` and the studio ask these class facts and methods instead of switching on `type`."""

    value_kind: ClassVar[ValueKind] = "audio"
    output: ClassVar[ConditionerOutput] = "vector"
    per_source_heads: ClassVar[bool] = False  # signal latents mapped C_enc -> output_dim by a head per source
    # (message, help) when the reference cannot build this type at all
    upstream_refusal: ClassVar[tuple[str, str] | None] = None

    id: NonEmptyStr
    type: str

    def value_problem(self, value: object) -> str | None:
        """Why `value` (one item, already unwrapped) cannot feed this conditioner, or None when it can."""
        if self.value_kind == "text" and not isinstance(value, str):
            return f"`{self.id}` is a `{self.type}` conditioner: it needs text, not {value!r}"
        return None

    def setting_findings(self, *, model_has_pretransform: bool) -> list[Finding]:
        """Problems of this entry's own settings, pointers relative to the entry (C33, C34, C36-C39)."""
        return []

    def choices(self) -> tuple[str, ...] | None:
        """The values it has a row for, when it reads one of a list (any other value reads the `unknown` row)."""
        return None


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _range_findings(config: IntConfig | NumberConfig, help: str | None) -> list[Finding]:
    if config.min_val < config.max_val:
        return []
    return [
        Finding(
            codes.EMPTY_NUMBER_RANGE,
            f"`max_val` ({config.max_val}) must be greater than `min_val` ({config.min_val})",
            "/config/max_val" if config.explicitly_set("max_val") else "/config",
            help=help,
            related=(("`min_val` is set here", "/config/min_val"),),
        )
    ]


def _signal_findings(
    entry: PretransformConditionerSpec | SourceMixConditionerSpec, model_has_pretransform: bool
) -> list[Finding]:
    config, found = entry.config, []
    if config.use_model_pretransform and not model_has_pretransform:
        found.append(
            Finding(
                codes.MODEL_PRETRANSFORM_REQUIRED,
                f"conditioner `{entry.id}` uses the model's pretransform, but the model has none",
                "/config/use_model_pretransform",
                help="add `model.pretransform`, or give this conditioner its own `pretransform_config`",
            )
        )
    if not config.use_model_pretransform and config.pretransform_config is None:
        found.append(
            Finding(
                codes.MISSING_SETTING,
                f"conditioner `{entry.id}` needs `pretransform_config` or `use_model_pretransform: true`",
                "/config",
            )
        )
    return found


# One class per conditioner type, spelled out so that type checkers and readers can follow `entry.config`.


class T5ConditionerSpec(ConditionerEntrySpec):
    """a `t5` conditioner entry."""

    value_kind: ClassVar[ValueKind] = "text"
    output: ClassVar[ConditionerOutput] = "sequence"

    type: Literal["t5"]
    config: T5Config

    def setting_findings(self, *, model_has_pretransform: bool) -> list[Finding]:
        name = self.config.t5_model_name
        if name in T5_WIDTHS:
            return []
        return [
            Finding(
                codes.UNKNOWN_T5_MODEL,
                f"`{name}` is not one of the T5 encoders upstream accepts",
                "/config/t5_model_name",
                help=did_you_mean(name, T5_WIDTHS) or "expected one of " + ", ".join(f"`{n}`" for n in T5_WIDTHS),
            )
        ]


class CLAPTextConditionerSpec(ConditionerEntrySpec):
    """a `clap_text` conditioner entry."""

    value_kind: ClassVar[ValueKind] = "text"

    type: Literal["clap_text"]
    config: CLAPTextConfig


class CLAPAudioConditionerSpec(ConditionerEntrySpec):
    """a `clap_audio` conditioner entry."""

    upstream_refusal: ClassVar[tuple[str, str] | None] = (
        "the reference's `clap_audio` conditioner reads an attribute its constructor never sets",
        "train it with audiodiff; the reference builds `clap_text` only",
    )

    type: Literal["clap_audio"]
    config: CLAPAudioConfig


class IntConditionerSpec(ConditionerEntrySpec):
    """a `int` conditioner entry."""

    value_kind: ClassVar[ValueKind] = "int"

    type: Literal["int"]
    config: IntConfig

    def value_problem(self, value: object) -> str | None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not float(value).is_integer():
            return f"`{self.id}` is an `int` conditioner: it needs a whole number, not {value!r}"
        low, high = self.config.min_val, self.config.max_val
        row = min(max(int(value), low), high)  # upstream reads row `clamped value` of a max-min+1 row table
        if not 0 <= row <= high - low:
            return (
                f"`{self.id}` is an `int` conditioner with `min_val` {low}: upstream reads row {row} of its "
                f"{high - low + 1}-row table for {value!r}, which does not exist (AD217)"
            )
        return None

    def setting_findings(self, *, model_has_pretransform: bool) -> list[Finding]:
        config = self.config
        found = _range_findings(config, None)
        if config.min_val != 0 and config.min_val < config.max_val:
            # Upstream embeds row `clamp(value)` of a table with max_val - min_val + 1 rows; weights trained there
            # sit at those rows, so audiodiff reads them the same way and the quirk is reported here instead.
            usable = config.max_val - config.min_val
            found.append(
                Finding(
                    codes.INT_CONDITIONER_OFFSET,
                    f"`{self.id}` looks up row `value` (clamped to [{config.min_val}, {config.max_val}]), not "
                    f"`value - min_val`: values above {usable} have no row and fail at run time"
                    if config.min_val > 0
                    else f"`{self.id}` looks up row `value` (clamped to [{config.min_val}, {config.max_val}]), not "
                    "`value - min_val`: negative values have no row and fail at run time",
                    "/config/min_val",
                    help='use `"min_val": 0` and a `max_val` that covers the values (the table then has a row for each)',
                )
            )
        return found


class NumberConditionerSpec(ConditionerEntrySpec):
    """a `number` conditioner entry."""

    value_kind: ClassVar[ValueKind] = "number"

    type: Literal["number"]
    config: NumberConfig

    def value_problem(self, value: object) -> str | None:
        if not _is_number(value):
            return f"`{self.id}` is a `number` conditioner: it needs a number, not {value!r}"
        return None

    def setting_findings(self, *, model_has_pretransform: bool) -> list[Finding]:
        return _range_findings(
            self.config, "the value is normalised by `max_val - min_val`; an empty range divides by zero"
        )


class ListConditionerSpec(ConditionerEntrySpec):
    """a `list` conditioner entry."""

    value_kind: ClassVar[ValueKind] = "choice"  # any value is legal: one outside `options` reads the "unknown" row

    type: Literal["list"]
    config: ListConfig

    def choices(self) -> tuple[str, ...] | None:
        return self.config.options


class PhonemeConditionerSpec(ConditionerEntrySpec):
    """a `phoneme` conditioner entry."""

    value_kind: ClassVar[ValueKind] = "text"
    output: ClassVar[ConditionerOutput] = "sequence"

    type: Literal["phoneme"]
    config: PhonemeConfig


class LUTConditionerSpec(ConditionerEntrySpec):
    """a `lut` conditioner entry."""

    value_kind: ClassVar[ValueKind] = "text"
    output: ClassVar[ConditionerOutput] = "sequence"

    type: Literal["lut"]
    config: LUTConfig


class PretransformConditionerSpec(ConditionerEntrySpec):
    """a `pretransform` conditioner entry."""

    output: ClassVar[ConditionerOutput] = "signal"

    type: Literal["pretransform"]
    config: PretransformConditionerConfig

    def setting_findings(self, *, model_has_pretransform: bool) -> list[Finding]:
        return _signal_findings(self, model_has_pretransform)


class SourceMixConditionerSpec(ConditionerEntrySpec):
    """a `source_mix` conditioner entry."""

    output: ClassVar[ConditionerOutput] = "signal"
    per_source_heads: ClassVar[bool] = True

    type: Literal["source_mix"]
    config: SourceMixConfig

    def setting_findings(self, *, model_has_pretransform: bool) -> list[Finding]:
        found = _signal_findings(self, model_has_pretransform)
        if self.config.allow_null_source and self.config.source_length is None:
            found.append(
                Finding(
                    codes.MISSING_SETTING,
                    f"conditioner `{self.id}` allows null sources and so needs `source_length`",
                    "/config",
                )
            )
        return found


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
