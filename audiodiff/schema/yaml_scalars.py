"""YAML scalars and tags as a config reader means them: the YAML 1.2 core schema, JSON-compatible tags only.

PyYAML resolves by YAML 1.1: `1e-5` is a string there and `on`/`yes`/`no` are booleans. Here:
null is `~`, `null`/`Null`/`NULL` or nothing; booleans are `true`/`True`/`TRUE` and `false`/`False`/`FALSE`;
integers are decimal (`-7`, `007` is 7), `0o17` or `0x1F`; floats are `1e-5`, `1E5`, `.5`, `5.`, `+1.0e+3`,
`.inf`/`-.Inf`, `.nan`. Everything else (`on`, `yes`, `1_000`, `2001-12-14`, `1:30`) stays a string.
Accepted tags: `!!str`, `!!int`, `!!float`, `!!bool`, `!!null`, `!!map`, `!!seq` and the non-specific `!`.
"""

from __future__ import annotations

import re
from typing import Any

from audiodiff.diagnostics import codes
from audiodiff.diagnostics.codes import Code

CORE = "tag:yaml.org,2002:"
MAP_TAG, SEQ_TAG, STR_TAG = CORE + "map", CORE + "seq", CORE + "str"
_NOT_JSON_TAGS = frozenset({"binary", "timestamp", "set", "omap", "pairs"})
_TYPED_TAGS = {"int": "an integer", "float": "a number", "bool": "`true` or `false`", "null": "null"}

Problem = tuple[Code, str, str | None]  # code, message, help

_MISSING = object()
_INF = float("inf")
_NAN = float("nan")
_WORDS: dict[str, Any] = {
    "": None, "~": None, "null": None, "Null": None, "NULL": None,
    "true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False,
    ".inf": _INF, ".Inf": _INF, ".INF": _INF, "+.inf": _INF, "+.Inf": _INF, "+.INF": _INF,
    "-.inf": -_INF, "-.Inf": -_INF, "-.INF": -_INF,
    ".nan": _NAN, ".NaN": _NAN, ".NAN": _NAN,
}  # fmt: skip
_NUMBER_START = frozenset("0123456789+-.")
_DECIMAL = re.compile(r"[-+]?[0-9]+")
_OCTAL = re.compile(r"0o[0-7]+")
_HEX = re.compile(r"0x[0-9a-fA-F]+")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")

_LONG_INTEGER: Problem = (
    codes.YAML_SYNTAX,
    "invalid YAML: an integer has more digits than can be read",
    "use a shorter number",
)


def resolve_plain(text: str) -> Any:
    """The value of a plain (unquoted, untagged) scalar; raises ValueError only for an integer longer than Python
    converts (`sys.get_int_max_str_digits`)."""
    word = _WORDS.get(text, _MISSING)
    if word is not _MISSING:
        return word
    if text[0] in _NUMBER_START:
        if _DECIMAL.fullmatch(text):
            return int(text)
        if _FLOAT.fullmatch(text):
            return float(text)
        if _OCTAL.fullmatch(text):
            return int(text[2:], 8)
        if _HEX.fullmatch(text):
            return int(text[2:], 16)
    return text


def tag_name(tag: str) -> str:
    """`!!int` for `tag:yaml.org,2002:int`; other tags as written."""
    return "!!" + tag[len(CORE) :] if tag.startswith(CORE) else tag


def resolve_scalar(text: str, tag: str | None, plain: bool) -> tuple[Any, Problem | None]:
    """A scalar's value and, when its tag is refused or does not fit, the problem. A refused tag's node is read as
    if it were untagged, so later stages still see a value."""
    if tag is None and plain:
        try:
            return resolve_plain(text), None
        except ValueError:
            return text, _LONG_INTEGER
    if tag is None or tag == "!" or tag == STR_TAG:
        return text, None
    try:
        value = resolve_plain(text) if text else None
    except ValueError:
        return text, _LONG_INTEGER
    name = tag[len(CORE) :] if tag.startswith(CORE) else None
    if name in _TYPED_TAGS:
        kind = type(value)
        fits = {"int": kind is int, "float": kind is int or kind is float, "bool": kind is bool, "null": value is None}
        if fits[name]:
            return (float(value) if name == "float" and isinstance(value, int) else value), None
        message = f"`{tag_name(tag)}` value `{text}` is not {_TYPED_TAGS[name]}"
        return text, (codes.WRONG_TYPE, message, "fix the value or remove the tag")
    untagged = value if plain else text
    if name in ("map", "seq"):
        return untagged, (codes.WRONG_TYPE, f"tag `{tag_name(tag)}` does not fit a scalar", "remove the tag")
    return untagged, unsafe_tag_problem(tag)


def collection_tag_problem(tag: str | None, is_map: bool) -> Problem | None:
    """The problem with a mapping's or sequence's tag, if any."""
    if tag is None or tag == "!" or tag == (MAP_TAG if is_map else SEQ_TAG):
        return None
    if tag in (MAP_TAG, SEQ_TAG, STR_TAG) or (tag.startswith(CORE) and tag[len(CORE) :] in _TYPED_TAGS):
        kind = "an object" if is_map else "a list"
        return codes.WRONG_TYPE, f"tag `{tag_name(tag)}` does not fit {kind}", "remove the tag"
    return unsafe_tag_problem(tag)


def unsafe_tag_problem(tag: str) -> Problem:
    name = tag[len(CORE) :] if tag.startswith(CORE) else None
    if name in _NOT_JSON_TAGS:
        message = f"tag `{tag_name(tag)}` makes a value that JSON cannot hold"
    elif name is not None and name.startswith("python/"):
        message = f"tag `{tag_name(tag)}` would construct a Python object"
    else:
        message = f"tag `{tag_name(tag)}` is not allowed"
    help_text = "remove the tag: only plain objects, lists, strings, numbers, booleans and null are read"
    return codes.YAML_UNSAFE_TAG, message, help_text
