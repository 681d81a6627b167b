"""Pydantic validation errors -> diagnostics with pointers into the user's document.

Pydantic's `loc` mixes document keys with synthetic segments (the tag of a discriminated union member, the name of
a union branch). The pointer is built by walking `loc` against the document itself, so only real keys and indices
survive; a parallel walk over the spec classes finds the sibling fields of an unknown key for "did you mean".
"""

from __future__ import annotations

import itertools
import types
import typing
from collections.abc import Iterable
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from audiodiff.diagnostics import codes
from audiodiff.diagnostics.bounds import MAX_DIAGNOSTICS_PER_FILE, echo
from audiodiff.diagnostics.model import Diagnostic
from audiodiff.diagnostics.suggest import did_you_mean
from audiodiff.schema import pointer as jsonpointer

# Keys that users put in the wrong place often enough to deserve their own code or help line.
_MISPLACED_KEYS: dict[tuple[str, str], tuple[codes.Code, str]] = {
    ("DiTSpec", "diffusion_objective"): (
        codes.OBJECTIVE_IN_CONFIG,
        "move `diffusion_objective` up one level, beside `config` (upstream fails with a duplicate keyword)",
    ),
    ("AutoencoderModelSpec", "soft_clip"): (
        codes.SOFT_CLIP_LOCATION,
        "move `soft_clip` into `decoder` (upstream reads it there and ignores it here)",
    ),
    ("CLAPTextConfig", "enable_grad"): (
        codes.UNKNOWN_KEY,
        "the CLAP text conditioner calls this `finetune` (the upstream docs say `enable_grad`, which crashes)",
    ),
}
for _reserved in ("dim", "dim_heads", "dim_in", "dim_out", "cross_attend"):
    for _owner in ("DiTSpec", "DiTUncondSpec"):
        _MISPLACED_KEYS[(_owner, _reserved)] = (
            codes.UNKNOWN_KEY,
            f"the DiT derives `{_reserved}` itself from `embed_dim`, `num_heads` and the conditioning widths",
        )


def _bottleneck_owners() -> frozenset[str]:
    """Names of the bottleneck entry classes and of their `config` classes: a key missing there is C18."""
    from audiodiff.schema.v1.pretransform import Bottleneck

    owners = set()
    for member in get_args(get_args(Bottleneck)[0]):
        owners.add(member.__name__)
        config = member.model_fields["config"].annotation
        if isinstance(config, type):
            owners.add(config.__name__)
    return frozenset(owners)


_BOTTLENECK_OWNERS = _bottleneck_owners()

_TYPE_NAMES = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "`true` or `false`",
    "bool_parsing": "`true` or `false`",
    "string_type": "a string",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
    "tuple_type": "a list",
    "list_type": "a list",
    "none_required": "`null`",
}

_RANGE_WORDS = {
    "greater_than": "greater than",
    "greater_than_equal": "at least",
    "less_than": "less than",
    "less_than_equal": "at most",
}


def describe_value(value: Any) -> str:
    if value is None:
        return "`null`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f'the string `"{shown}"`'
    if isinstance(value, (int, float)):
        return f"`{value}`"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return f"`{value!r}`"


def diagnostics_from_validation_error(
    error: ValidationError, data: Any, root: Any, base_pointer: str = ""
) -> list[Diagnostic]:
    """Map every error of `error` (raised validating `data` against `root`) to a diagnostic."""
    items = error.errors(include_url=False)
    # Converting an error (pointer, siblings, suggestion) is the costly part: a file with 40,000 unknown keys must not
    # pay for 40,000 of them when only the first ones are shown (the rest are counted).
    diagnostics = [_diagnostic(item, data, root, base_pointer) for item in items[:_CONVERTED]]
    diagnostics = _merge_union_branches(diagnostics)
    if len(items) > _CONVERTED:
        diagnostics.append(
            Diagnostic(
                codes.TOO_MANY_DIAGNOSTICS,
                f"{len(items) - _CONVERTED} more schema errors in this file are not shown",
                None,
                help="fix the ones shown first; they usually share one cause",
            )
        )
    return diagnostics


# pydantic errors turned into diagnostics per file: twice what is shown, since union branches merge into one
_CONVERTED = 2 * MAX_DIAGNOSTICS_PER_FILE


def _merge_union_branches(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """A value that fits no branch of a plain union (`int | list`) fails once per branch, at one pointer: say so
    once, listing what each branch expected."""
    merged: list[Diagnostic] = []
    by_pointer: dict[str | None, int] = {}
    for diagnostic in diagnostics:
        if diagnostic.code is not codes.WRONG_TYPE:
            merged.append(diagnostic)
            continue
        index = by_pointer.get(diagnostic.pointer)
        if index is None:
            by_pointer[diagnostic.pointer] = len(merged)
            merged.append(diagnostic)
            continue
        first = merged[index]
        expected, _, got = first.message.partition(", got ")
        extra = diagnostic.message.partition(", got ")[0].removeprefix("expected ")
        if extra not in expected:
            merged[index] = Diagnostic(first.code, f"{expected} or {extra}, got {got}", first.pointer, help=first.help)
    return merged


def _diagnostic(item: ErrorDetails, data: Any, root: Any, base_pointer: str) -> Diagnostic:
    kind = item["type"]
    loc = item["loc"]
    ctx = item.get("ctx") or {}
    keep_last = kind == "missing"
    pointer, value = _pointer_for(loc, data, root, keep_last=keep_last)
    pointer = base_pointer + pointer
    owner, siblings = _owner_at(root, loc[:-1]) if loc else (None, [])
    key = loc[-1] if loc else None

    if kind == "extra_forbidden":
        special = _MISPLACED_KEYS.get((owner or "", str(key)))
        if special is not None:
            code, help_text = special
            return Diagnostic(code, f"`{key}` is not a key of this section", pointer, help=help_text)
        return Diagnostic(
            codes.UNKNOWN_KEY,
            f"unknown key `{echo(str(key))}`",
            pointer,
            help=did_you_mean(str(key), siblings) or _valid_keys_help(siblings),
        )
    if kind == "missing":
        if owner in _BOTTLENECK_OWNERS:
            tag = _bottleneck_tag(loc)
            return Diagnostic(
                codes.BOTTLENECK_CONFIG_REQUIRED,
                f"the `{tag}` bottleneck needs `{key}`" if tag else f"missing required key `{key}`",
                pointer,
                help="upstream indexes this setting when it builds the bottleneck and has no default for it",
            )
        return Diagnostic(codes.MISSING_KEY, f"missing required key `{key}`", pointer)
    if kind == "union_tag_invalid":
        discriminator = str(ctx.get("discriminator", "type")).strip("'")
        tag = ctx.get("tag")
        expected = _split_quoted(str(ctx.get("expected_tags", "")))
        tag_pointer = jsonpointer.join(pointer, discriminator)
        return Diagnostic(
            codes.UNKNOWN_TYPE_TAG,
            f"unknown {discriminator} `{echo(str(tag))}`",
            tag_pointer,
            help=did_you_mean(str(tag), expected) or _one_of_help(expected),
        )
    if kind == "union_tag_not_found":
        discriminator = str(ctx.get("discriminator", "type")).strip("'")
        if not isinstance(value, dict):
            return Diagnostic(codes.WRONG_TYPE, f"expected an object, got {describe_value(value)}", pointer)
        return Diagnostic(codes.MISSING_KEY, f"missing required key `{discriminator}`", pointer)
    if kind == "literal_error":
        expected = _split_quoted(str(ctx.get("expected", "")))
        shown = describe_value(value)
        return Diagnostic(
            codes.INVALID_VALUE,
            f"{shown} is not an allowed value",
            pointer,
            help=(did_you_mean(str(value), expected) if isinstance(value, str) else None) or _one_of_help(expected),
        )
    if kind in _RANGE_WORDS:
        bound = next(iter(ctx.values()), None)
        return Diagnostic(
            codes.OUT_OF_RANGE, f"{describe_value(value)} must be {_RANGE_WORDS[kind]} `{bound}`", pointer
        )
    if kind in ("too_short", "too_long"):
        limit = ctx.get("min_length") if kind == "too_short" else ctx.get("max_length")
        word = "at least" if kind == "too_short" else "at most"
        return Diagnostic(codes.INVALID_LENGTH, f"expected {word} {limit} element(s)", pointer)
    if kind == "string_too_short":
        return Diagnostic(codes.INVALID_VALUE, "the string must not be empty", pointer)
    if kind == "finite_number":
        return Diagnostic(codes.NON_FINITE_NUMBER, "the number must be finite", pointer)
    if kind in _TYPE_NAMES:
        return Diagnostic(codes.WRONG_TYPE, f"expected {_TYPE_NAMES[kind]}, got {describe_value(value)}", pointer)
    return Diagnostic(codes.INVALID_VALUE, _sentence(item.get("msg", "invalid value")), pointer)


def _bottleneck_tag(loc: tuple) -> str | None:
    """The tag segment pydantic puts after `bottleneck` in `loc` (the member of the discriminated union)."""
    for before, segment in itertools.pairwise(loc):
        if before == "bottleneck" and isinstance(segment, str):
            return segment
    return None


def _pointer_for(loc: Iterable[Any], data: Any, root: Any, *, keep_last: bool) -> tuple[str, Any]:
    """Walk `loc` over the document and, in step, over the spec classes: a segment that picks a union branch is
    synthetic and names no place in the document, even when the document happens to hold a key of that name."""
    segments = list(loc)
    pointer = ""
    node = data
    annotation: Any = root
    for position, segment in enumerate(segments):
        branch = _union_branch(annotation, segment)
        if branch is not None:
            annotation = branch
            continue
        annotation = _descend(annotation, segment) if annotation is not None else None
        if isinstance(node, dict) and isinstance(segment, str) and segment in node:
            pointer = jsonpointer.join(pointer, segment)
            node = node[segment]
        elif isinstance(node, list) and isinstance(segment, int) and 0 <= segment < len(node):
            pointer = jsonpointer.join(pointer, segment)
            node = node[segment]
        elif keep_last and position == len(segments) - 1 and isinstance(segment, (str, int)):
            pointer = jsonpointer.join(pointer, segment)
            node = None
        # anything else is a synthetic union segment: it names no place in the document
    return pointer, node


def _union_branch(annotation: Any, segment: Any) -> Any:
    """The union member that `segment` selects when `annotation` is a union of specs, else None."""
    annotation = _strip(annotation)
    if get_origin(annotation) not in (Union, types.UnionType):
        return None
    for member in (_strip(arg) for arg in get_args(annotation) if arg is not type(None)):
        if _matches_branch(member, segment):
            return member
    return None


def _owner_at(root: Any, loc: Iterable[Any]) -> tuple[str | None, list[str]]:
    """The spec class reached by following `loc` from `root`, and its field names."""
    current: Any = root
    for segment in loc:
        current = _descend(current, segment)
        if current is None:
            return None, []
    model = _as_model(current)
    if model is None:
        return None, []
    return model.__name__, list(model.model_fields)


def _descend(annotation: Any, segment: Any) -> Any:
    annotation = _strip(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = annotation.model_fields.get(segment) if isinstance(segment, str) else None
        return field.annotation if field is not None else None
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin in (tuple, list) and args:
        return args[0] if isinstance(segment, int) else None
    if origin is dict and len(args) == 2:
        return args[1]
    if origin in (Union, types.UnionType):
        members = [_strip(arg) for arg in args if arg is not type(None)]
        for member in members:
            if _matches_branch(member, segment):
                return member
        if len(members) == 1:
            return _descend(members[0], segment)
    return None


def _matches_branch(member: Any, segment: Any) -> bool:
    if not isinstance(segment, str):
        return False
    if isinstance(member, type) and issubclass(member, BaseModel):
        if member.__name__ == segment:
            return True
        for name in ("type", "dataset_type", "model_type"):
            field = member.model_fields.get(name)
            if field is not None and get_origin(field.annotation) is Literal and segment in get_args(field.annotation):
                return True
    return False


def _strip(annotation: Any) -> Any:
    while get_origin(annotation) is typing.Annotated:
        annotation = get_args(annotation)[0]
    if isinstance(annotation, str):  # an unresolved forward reference
        return None
    return annotation


def _as_model(annotation: Any) -> type[BaseModel] | None:
    annotation = _strip(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (Union, types.UnionType):
        models = [m for m in (_as_model(a) for a in get_args(annotation)) if m is not None]
        if len(models) == 1:
            return models[0]
    return None


def _split_quoted(text: str) -> list[str]:
    parts = [part.strip().strip("'\"") for part in text.replace(" or ", ", ").split(",")]
    return [part for part in parts if part]


def _one_of_help(options: list[str]) -> str | None:
    if not options:
        return None
    return "expected one of " + ", ".join(f"`{option}`" for option in options)


def _valid_keys_help(keys: list[str]) -> str | None:
    if not keys or len(keys) > 12:
        return None
    return "this section takes " + ", ".join(f"`{key}`" for key in keys)


def _sentence(message: str) -> str:
    message = message.rstrip(".")
    return message[:1].lower() + message[1:]
