"""Whether a conditioning value (from a demo entry, a dataset's metadata or `sample --cond`) is of the kind its
conditioner reads. One definition for `validate`, `run` and `sample`, so they never disagree about what crashes.

What each conditioner type reads is its spec class's own knowledge (`value_kind`, `value_problem` in
`schema/v1/conditioning.py`); these functions only unwrap the value first."""

from __future__ import annotations

from audiodiff.schema.v1.conditioning import ConditionerSpec, ValueKind


def value_problem(entry: ConditionerSpec, value: object) -> str | None:
    """Why `value` cannot feed the conditioner `entry` (a conditioner spec), or None when it can.

    One-element lists unwrap first, as the conditioners themselves do with collated batches."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    return entry.value_problem(value)


def value_kind(entry: ConditionerSpec) -> ValueKind:
    """What kind of value a conditioner reads, for forms that ask for it: `text`, `number`, `int`, `choice`, or
    `audio` (conditioners fed from a signal, which a form does not ask for)."""
    return entry.value_kind
