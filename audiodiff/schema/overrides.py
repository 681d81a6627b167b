"""`--set PATH=VALUE`: command-line overrides of a config, applied to its data before anything reads it.

PATH is dotted (`model.diffusion.config.depth`, list indices as numbers: `model.conditioning.configs.0.id`) or a
JSON pointer (`/model/diffusion/config/depth`, for keys that hold a dot). VALUE is parsed as JSON (`12`, `true`,
`[1, 2]`, `"text"`), else taken as text, so `--set model_type=diffusion_cond` needs no quotes.

The overridden config is then validated exactly like the file: a value of the wrong type or out of range gets the
schema's own diagnostic, located at the override instead of at a line of the file. Every level above the last
must exist (a typo there gets a did-you-mean among the keys that do exist); the last key may be new, and the schema
judges it like any key written in the file. The caller's data is never changed: overrides act on a copy.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from audiodiff.diagnostics import codes
from audiodiff.diagnostics.model import Diagnostic, Span
from audiodiff.diagnostics.suggest import did_you_mean
from audiodiff.schema.pointer import join, split
from audiodiff.schema.source import LoadResult, SourceDocument

ORIGIN = "command line"  # how explain names where an overridden value came from


@dataclass(frozen=True)
class Override:
    text: str  # as typed: `model.diffusion.config.depth=12`
    pointer: str  # RFC 6901, into the config
    value: Any

    @property
    def label(self) -> str:
        """Where a diagnostic about this value is located: the override itself."""
        return f"--set {self.text}"

    def covers(self, pointer: str | None) -> bool:
        """Whether `pointer` names this override's value or something inside it."""
        return pointer is not None and (pointer == self.pointer or pointer.startswith(self.pointer + "/"))


class OverrideError(Exception):
    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        super().__init__("; ".join(d.message for d in diagnostics))
        self.diagnostics = diagnostics


def parse_value(text: str) -> Any:
    """JSON when it parses as JSON (NaN and infinities refused, as in a file), else the text itself."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except ValueError:
        return text
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"`{name}` is not a valid config value")


def parse(items: Sequence[str]) -> list[Override]:
    """The overrides as typed; raises OverrideError listing every malformed one."""
    found, problems = [], []
    for item in items:
        path, sep, raw = item.partition("=")
        path = path.strip()
        if not sep or not path:
            problems.append(_problem(item, "an override is PATH=VALUE", "e.g. `--set model.diffusion.config.depth=8`"))
            continue
        try:
            tokens = split(path) if path.startswith("/") else path.split(".")
        except ValueError as error:
            problems.append(_problem(item, str(error)))
            continue
        if any(token == "" for token in tokens):
            problems.append(_problem(item, f"`{path}` has an empty step", "write `a.b.c`, or a JSON pointer `/a/b/c`"))
            continue
        if _non_finite(raw.strip()):
            problems.append(
                _problem(
                    item, f"`{raw.strip()}` is not a valid config value: NaN and infinities are refused, as in a file"
                )
            )
            continue
        found.append(Override(item, join("", *tokens), parse_value(raw)))
    if problems:
        raise OverrideError(problems)
    return found


def _non_finite(raw: str) -> bool:
    try:
        return not math.isfinite(float(raw))
    except ValueError:
        return False


def apply(data: dict[str, Any], overrides: Sequence[Override]) -> dict[str, Any]:
    """A copy of `data` with every override applied in order; raises OverrideError for paths that cannot be set."""
    result = copy.deepcopy(data)
    problems = []
    for override in overrides:
        problem = _set(result, override)
        if problem is not None:
            problems.append(problem)
    if problems:
        raise OverrideError(problems)
    return result


def _set(data: dict[str, Any], override: Override) -> Diagnostic | None:
    tokens = split(override.pointer)
    node: Any = data
    for depth, token in enumerate(tokens):
        last = depth == len(tokens) - 1
        where = join("", *tokens[:depth]) or "the top level"
        if isinstance(node, dict):
            if last:
                node[token] = override.value
                return None
            if token not in node:
                return _problem(
                    override.text,
                    f"`{token}` does not exist in {_where(where)}",
                    did_you_mean(token, [str(key) for key in node]) or _keys(node),
                )
            node = node[token]
        elif isinstance(node, list):
            if not token.isdigit() or int(token) >= len(node):
                return _problem(
                    override.text,
                    f"`{token}` is not an index of the list at {where} (it holds "
                    f"{len(node)} item(s): 0 to {len(node) - 1})"
                    if node
                    else f"the list at {where} is empty: there is no `{token}` to set",
                )
            if last:
                node[int(token)] = override.value
                return None
            node = node[int(token)]
        else:
            return _problem(override.text, f"{where} holds {json.dumps(node)}, which has no `{token}` inside")
    return None  # unreachable: the loop returns at the last token


def _where(pointer: str) -> str:
    return pointer if pointer == "the top level" else f"`{pointer}`"


def _keys(node: dict[str, Any]) -> str | None:
    names = sorted(str(key) for key in node)
    if not names:
        return None
    shown = ", ".join(f"`{name}`" for name in names[:12])
    return f"keys there: {shown}" + (", ..." if len(names) > 12 else "")


def _problem(text: str, message: str, help: str | None = None) -> Diagnostic:
    return Diagnostic(codes.RUN_SETTING, message, None, path=f"--set {text}", help=help)


def relocate(diagnostics: Sequence[Diagnostic], overrides: Sequence[Override]) -> list[Diagnostic]:
    """Diagnostics about an overridden value located at its override (the last one that set it) instead of in
    the file, whose text no longer says what was checked there."""
    moved = []
    for diagnostic in diagnostics:
        owner = next((o for o in reversed(overrides) if o.covers(diagnostic.pointer)), None)
        if owner is None:
            moved.append(diagnostic)
            continue
        moved.append(
            Diagnostic(
                diagnostic.code,
                diagnostic.message,
                diagnostic.pointer,
                owner.label,
                None,
                diagnostic.help,
                diagnostic.related,
                diagnostic.severity,
            )
        )
    return moved


@dataclass(frozen=True)
class OverriddenDocument(SourceDocument):
    """A file's document whose data carries the overrides. Its text is the file's, so a pointer an override set has
    no span in it: diagnostics there are located at the override, and `explain` names the command line."""

    overrides: tuple[Override, ...] = ()

    def span(self, pointer: str, *, prefer_key: bool = False) -> Span | None:
        if self.override_at(pointer) is not None:
            return None
        return super().span(pointer, prefer_key=prefer_key)

    def override_at(self, pointer: str | None) -> Override | None:
        return next((o for o in reversed(self.overrides) if o.covers(pointer)), None)


def override_load(loaded: LoadResult, overrides: Sequence[Override]) -> LoadResult:
    """`loaded` with the overrides applied to its document's data; a path that cannot be set becomes a diagnostic
    (and no document: nothing should be checked as if the override had applied)."""
    if not overrides or loaded.document is None:
        return loaded
    try:
        data = apply(loaded.document.data, overrides)
    except OverrideError as error:
        return LoadResult(None, (*loaded.diagnostics, *error.diagnostics))
    document = loaded.document
    values = {item.name: getattr(document, item.name) for item in fields(document) if item.init}
    return LoadResult(OverriddenDocument(**{**values, "data": data, "overrides": tuple(overrides)}), loaded.diagnostics)
