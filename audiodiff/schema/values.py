"""Whether a conditioning value (from a demo entry, a dataset's metadata or `sample --cond`) is of the kind its
conditioner reads. One definition for `validate`, `run` and `sample`, so they never disagree about what crashes."""

from __future__ import annotations

from typing import Any

from audiodiff.schema.v1.conditioning import ConditionerSpec

TEXT_CONDITIONERS = frozenset({"t5", "lut", "phoneme", "clap_text"})


def value_problem(entry: ConditionerSpec, value: Any) -> str | None:
    """Why `value` cannot feed the conditioner `entry` (a conditioner spec), or None when it can.

    One-element lists unwrap first, as the conditioners themselves do with collated batches."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    if entry.type == "number" and not numeric:
        return f"`{entry.id}` is a `number` conditioner: it needs a number, not {value!r}"
    if entry.type == "int" and not (numeric and float(value).is_integer()):
        return f"`{entry.id}` is an `int` conditioner: it needs a whole number, not {value!r}"
    if entry.type == "int":
        low, high = entry.config.min_val, entry.config.max_val
        row = min(max(int(value), low), high)  # upstream reads row `clamped value` of a max-min+1 row table
        if not 0 <= row <= high - low:
            return (
                f"`{entry.id}` is an `int` conditioner with `min_val` {low}: upstream reads row {row} of its "
                f"{high - low + 1}-row table for {value!r}, which does not exist (AD217)"
            )
    # a `list` value outside `options` is legal: it selects the extra "unknown" row (index 0)
    if entry.type in TEXT_CONDITIONERS and not isinstance(value, str):
        return f"`{entry.id}` is a `{entry.type}` conditioner: it needs text, not {value!r}"
    return None


def value_kind(entry: ConditionerSpec) -> str:
    """What kind of value a conditioner reads, for forms that ask for it: `text`, `number`, `int`, `choice`, or
    `audio` (conditioners fed from a signal, which a form does not ask for)."""
    if entry.type in TEXT_CONDITIONERS:
        return "text"
    if entry.type in ("number", "int"):
        return entry.type
    if entry.type == "list":
        return "choice"
    return "audio"
