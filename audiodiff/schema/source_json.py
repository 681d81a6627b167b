"""Read JSON config text: the C `json` decoder for the data, and a regex scanner for positions only when needed.

The fast path is one `json` decode (its object hook only counts keys) and one iterative walk of the result that
checks depth and finiteness. Only when that finds a problem, or when a caller asks for the source map, does
`scan_json` tokenise the text to learn where every pointer sits, where each duplicate key is and which literal
overflowed. Valid files never pay for positions.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from typing import Any

from audiodiff.diagnostics import codes
from audiodiff.diagnostics.bounds import MAX_DIAGNOSTICS_PER_FILE, echo
from audiodiff.diagnostics.model import Diagnostic, Related, Span
from audiodiff.schema.pointer import escape
from audiodiff.schema.source_map import LineIndex, Position, SourceMap, describe_kind

_WHITESPACE = " \t\r\n"
_NON_FINITE_LITERALS = frozenset({"NaN", "Infinity", "-Infinity"})

# One token, after optional whitespace: 1 string, 2 opening bracket, 3 closing bracket, 4 `,` or `:`,
# 5 anything else up to a delimiter (numbers and literals; in broken text, junk). Unknown characters are skipped.
_TOKEN = re.compile(
    r'[ \t\r\n]*(?:("[^"\\]*(?:\\.[^"\\]*)*")|([\[{])|([\]}])|([,:])|([^ \t\r\n\[\]{},:"]+))', re.DOTALL
)


class _DuplicateKeys(Exception):
    """Raised from the object hook: the text has a duplicate key somewhere; positions come from the scanner."""


def _pairs_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _DuplicateKeys
    return obj


# Stateless decoders, so one module-level instance serves every thread.
_STRICT_DECODER = json.JSONDecoder(object_pairs_hook=_pairs_without_duplicates)
_LAST_WINS_DECODER = json.JSONDecoder()  # what `json.load` does with duplicates; used once they are reported


@dataclass
class JsonScan:
    """What the scanner learned: every position, plus the duplicates and non-finite numbers, in text order."""

    source_map: SourceMap
    duplicates: list[tuple[str, str, Span, Span]] = field(default_factory=list)  # pointer, key, first, again
    non_finite: list[tuple[str, str, Span]] = field(default_factory=list)  # pointer, literal, span
    too_deep: tuple[str, Span] | None = None  # the first container deeper than the limit


@dataclass
class JsonOutcome:
    data: dict[str, Any] | None
    diagnostics: list[Diagnostic]
    scan: JsonScan | None  # set when the scanner already ran, so the document can reuse its source map


class _Frame:
    __slots__ = ("is_object", "pointer", "key_span", "start", "index", "seen", "pending", "expect_key", "first")

    def __init__(self, is_object: bool, pointer: str, key_span: Span | None, start: int, first: int = 0) -> None:
        self.first = first  # index in the scan's record order of the first position recorded inside this container
        self.is_object = is_object
        self.pointer = pointer
        self.key_span = key_span
        self.start = start
        self.index = 0  # next list index
        self.seen: dict[str, Span] = {}  # key -> span of its first occurrence
        self.pending: tuple[str, Span] | None = None  # pointer and key span of the member whose value comes next
        self.expect_key = True


def _decode_string(raw: str) -> str:
    if "\\" not in raw:
        return raw[1:-1]
    try:
        return json.loads(raw)
    except ValueError:  # only in broken text, where the scanner is locating a depth problem
        return raw[1:-1]


def _overflows(literal: str) -> bool:
    if literal in _NON_FINITE_LITERALS:
        return True
    if "." not in literal and "e" not in literal and "E" not in literal:
        return False  # an integer: JSON integers are exact, never infinite
    try:
        number = float(literal)
    except ValueError:
        return False
    return number - number != 0.0


def scan_json(text: str, *, max_depth: int | None = None, stop_when_too_deep: bool = False) -> JsonScan:
    """Positions of every pointer in JSON `text`, the duplicate keys, the non-finite literals and the first too-deep
    container; tolerant of broken text (it is also used to locate a depth overflow in text the decoder gave up on)."""
    lines = LineIndex(text)
    positions: dict[str, Position] = {}
    # every pointer in the order its position was recorded, and the slice of that order each value covers (itself
    # and everything inside it): a duplicate key forgets exactly the earlier value's slice, so each recorded position
    # is forgotten at most once and the scan stays linear however many keys repeat
    order: list[str] = []
    extent: dict[str, tuple[int, int]] = {}
    scan = JsonScan(SourceMap(positions))
    frames: list[_Frame] = []
    root_seen = False
    for match in _TOKEN.finditer(text):
        group = match.lastindex
        if group is None:
            continue
        start, end = match.span(group)
        top = frames[-1] if frames else None
        if group == 4:
            if top is not None and top.is_object and text[start] == ",":
                top.expect_key = True
            continue
        if group == 3:
            if top is not None:
                frames.pop()
                positions[top.pointer] = Position(top.key_span, lines.span(top.start, end))
                order.append(top.pointer)
                extent[top.pointer] = (top.first, len(order))
            continue
        if group == 1 and top is not None and top.is_object and top.expect_key:
            key = _decode_string(match.group(1))
            pointer = top.pointer + "/" + escape(key)
            key_span = lines.span(start, end)
            first = top.seen.get(key)
            if first is None:
                top.seen[key] = key_span
            else:
                scan.duplicates.append((pointer, key, first, key_span))
                # the later value wins, so forget what the earlier one put under this pointer
                earlier = extent.pop(pointer, None)
                if earlier is not None:
                    for stale in order[earlier[0] : earlier[1]]:
                        positions.pop(stale, None)
            top.pending = (pointer, key_span)
            top.expect_key = False
            continue
        # a value starts here: find the slot it fills
        value_key: Span | None  # the span of its key; None for list items and the root
        if top is None:
            if root_seen:
                continue  # trailing junk in broken text
            root_seen = True
            pointer, value_key = "", None
        elif top.is_object:
            if top.pending is None:
                continue  # broken text: a value without a key
            (pointer, value_key), top.pending = top.pending, None
        else:
            pointer, value_key = top.pointer + "/" + str(top.index), None
            top.index += 1
        if group == 2:
            if max_depth is not None and len(frames) >= max_depth and scan.too_deep is None:
                scan.too_deep = (pointer, lines.span(start, end))
                if stop_when_too_deep:
                    break
            frames.append(_Frame(text[start] == "{", pointer, value_key, start, len(order)))
        else:
            span = lines.span(start, end)
            positions[pointer] = Position(value_key, span)
            extent[pointer] = (len(order), len(order) + 1)
            order.append(pointer)
            if group == 5 and _overflows(match.group(5)):
                scan.non_finite.append((pointer, match.group(5), span))
    return scan


def _inspect(data: Any, max_depth: int) -> tuple[bool, bool]:
    """(deeper than max_depth, holds a NaN or infinity): one iterative walk over the decoded containers."""
    if type(data) is float:
        return False, data - data != 0.0
    if type(data) is not dict and type(data) is not list:
        return False, False
    too_deep = non_finite = False
    stack: list[tuple[Any, int]] = [(data, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        node, depth = pop()
        if depth > max_depth:
            too_deep = True
            continue
        for value in node.values() if type(node) is dict else node:
            kind = type(value)
            if kind is dict or kind is list:
                push((value, depth + 1))
            elif kind is float and value - value != 0.0:  # NaN and +-inf alone give a non-zero (NaN) difference
                non_finite = True
    return too_deep, non_finite


def parse_json(text: str, path: str, *, max_depth: int) -> JsonOutcome:
    """Decode JSON config text into data and diagnostics; never raises for any text."""
    diagnostics: list[Diagnostic] = []
    if not text.strip(_WHITESPACE):
        diagnostics.append(Diagnostic(codes.EMPTY_DOCUMENT, "the file is empty", "", path, Span(1, 1)))
        return JsonOutcome(None, diagnostics, None)
    has_duplicates = False
    try:
        try:
            data = _STRICT_DECODER.decode(text)
        except _DuplicateKeys:
            has_duplicates = True
            data = _LAST_WINS_DECODER.decode(text)
    except json.JSONDecodeError as error:
        diagnostics.append(_syntax_diagnostic(text, path, error.msg, error.pos))
        return JsonOutcome(None, diagnostics, None)
    except RecursionError:
        deep = scan_json(text, max_depth=max_depth, stop_when_too_deep=True)
        pointer, span = deep.too_deep or ("", Span(1, 1))
        diagnostics.append(_too_deep_diagnostic(path, pointer, span, max_depth))
        return JsonOutcome(None, diagnostics, None)
    except ValueError:  # an integer literal longer than Python converts (sys.get_int_max_str_digits)
        diagnostics.append(_long_integer_diagnostic(text, path))
        return JsonOutcome(None, diagnostics, None)

    too_deep, non_finite = _inspect(data, max_depth)
    scan: JsonScan | None = None
    if too_deep or non_finite or has_duplicates:
        scan = scan_json(text, max_depth=max_depth)
        for pointer, key, first, again in scan.duplicates[:MAX_DIAGNOSTICS_PER_FILE]:
            diagnostics.append(duplicate_key_diagnostic(path, pointer, key, first, again))
        if len(scan.duplicates) > MAX_DIAGNOSTICS_PER_FILE:  # counted, not made: each costs spans and a note
            diagnostics.append(
                Diagnostic(
                    codes.TOO_MANY_DIAGNOSTICS,
                    f"{len(scan.duplicates) - MAX_DIAGNOSTICS_PER_FILE} more duplicate keys in this file are not shown",
                    None,
                    path,
                    help="keep one entry per key",
                )
            )
        for pointer, literal, span in scan.non_finite:
            diagnostics.append(non_finite_diagnostic(path, pointer, literal, span))
        if too_deep:
            pointer, span = scan.too_deep or ("", Span(1, 1))
            diagnostics.append(_too_deep_diagnostic(path, pointer, span, max_depth))
    if type(data) is not dict:
        diagnostics.append(_top_level_diagnostic(text, path, data))
        return JsonOutcome(None, diagnostics, scan)
    # a NaN or infinity is not a value any later stage should see: only duplicate keys leave usable data
    return JsonOutcome(None if too_deep or non_finite else data, diagnostics, scan)


def duplicate_key_diagnostic(path: str, pointer: str, key: str, first: Span, again: Span) -> Diagnostic:
    return Diagnostic(
        codes.DUPLICATE_KEY,
        f"key `{echo(key)}` appears more than once in this object",
        pointer,
        path,
        again,
        help="keep one of the entries; a JSON reader silently keeps only the last one",
        related=(Related(f"`{echo(key)}` first appears here", pointer, first, path),),
    )


def non_finite_diagnostic(path: str, pointer: str, literal: str, span: Span) -> Diagnostic:
    what = "is not a finite number" if literal in _NON_FINITE_LITERALS else "overflows to infinity"
    return Diagnostic(
        codes.NON_FINITE_NUMBER, f"`{_shorten(literal)}` {what}", pointer, path, span, help="use a finite number"
    )


def _too_deep_diagnostic(path: str, pointer: str, span: Span, max_depth: int) -> Diagnostic:
    return Diagnostic(
        codes.NESTING_TOO_DEEP,
        f"the document nests deeper than {max_depth} levels",
        pointer,
        path,
        span,
        help="config files nest a few levels deep; check for runaway brackets",
    )


def _top_level_diagnostic(text: str, path: str, data: Any) -> Diagnostic:
    start = len(text) - len(text.lstrip(_WHITESPACE))
    end = len(text.rstrip(_WHITESPACE))
    return Diagnostic(
        codes.TOP_LEVEL_NOT_OBJECT,
        f"the top level is {describe_kind(data)}, but a config must be an object",
        "",
        path,
        LineIndex(text).span(start, end),
        help="wrap the settings in `{ ... }`",
    )


_HINTS = {
    "Expecting property name enclosed in double quotes": (
        "JSON keys need double quotes, and a `,` may not come right before `}`"
    ),
    "Expecting value": "a `,` may not come right before `]` or `}`, and JSON has no comments",
    "Extra data": "a JSON file holds exactly one value; remove what follows it",
    "Invalid control character at": "write line breaks and tabs inside strings as `\\n` and `\\t`",
}


def _syntax_diagnostic(text: str, path: str, message: str, offset: int) -> Diagnostic:
    line, column = LineIndex(text).position(offset)
    return Diagnostic(
        codes.JSON_SYNTAX,
        f"invalid JSON: {message[:1].lower()}{message[1:]}",
        None,
        path,
        Span(line, column),
        help=_HINTS.get(message),
    )


def _long_integer_diagnostic(text: str, path: str) -> Diagnostic:
    """Python refuses to convert integers of more than `sys.get_int_max_str_digits()` digits; find the literal."""
    limit = sys.get_int_max_str_digits()
    lines = LineIndex(text)
    span = None
    for match in _TOKEN.finditer(text):
        literal = match.group(5)
        if literal is not None and len(literal) > limit and literal.lstrip("-").isdigit():
            span = lines.span(*match.span(5))
            break
    pointer = None
    if span is not None:
        pointer = next((p for p, position in scan_json(text).source_map.items() if position.value == span), None)
    return Diagnostic(
        codes.JSON_SYNTAX,
        f"invalid JSON: an integer literal has more than {limit} digits",
        pointer,
        path,
        span,
        help="use a shorter number",
    )


def _shorten(literal: str, limit: int = 40) -> str:
    return literal if len(literal) <= limit else literal[: limit - 3] + "..."
