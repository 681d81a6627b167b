"""Spec -> `nn` options, mechanically: an options dataclass of `audiodiff.nn` is filled field by field from the spec
field of the same name, so each option is named and defaulted once, in the schema.

The `nn` dataclasses keep defaults of their own for building modules directly (tests, the TAAE codec); a test
checks they equal the schema's, so the two cannot drift apart silently.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel

_Options = TypeVar("_Options")


def options_from_spec(
    target: Callable[..., _Options],
    spec: BaseModel,
    *,
    renamed: Mapping[str, str] | None = None,
    converted: Mapping[str, Callable[[Any], object]] | None = None,
) -> _Options:
    """`target` (an options dataclass) with every field read from `spec`.

    `renamed` maps a field to the spec key that spells it (`attn` -> `attn_kwargs`); `converted` turns a spec value
    into the field's type where the two differ (a tuple into a pair). A field that is itself an options dataclass is
    filled the same way from the nested spec. A field the spec lacks raises AttributeError: nothing is defaulted
    here."""
    renamed = renamed or {}
    converted = converted or {}
    hints = typing.get_type_hints(target)
    values: dict[str, object] = {}
    for field in _fields(target):
        value = getattr(spec, renamed.get(field.name, field.name))
        hint = hints[field.name]
        if isinstance(value, BaseModel) and isinstance(hint, type) and dataclasses.is_dataclass(hint):
            value = options_from_spec(hint, value)
        elif field.name in converted:
            value = converted[field.name](value)
        values[field.name] = value
    return target(**values)


def _fields(target: object) -> tuple[dataclasses.Field[Any], ...]:
    if not (isinstance(target, type) and dataclasses.is_dataclass(target)):
        raise TypeError(f"{target!r} is not an options dataclass")
    return dataclasses.fields(target)
