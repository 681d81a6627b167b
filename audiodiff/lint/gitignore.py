"""Path patterns in `.gitignore` syntax, for `--exclude`, `[tool.audiodiff] exclude`, per-file settings and the
`.gitignore` files of the linted repository.

Supported, as git defines them: `#` comments, `!` negation (the last matching pattern wins), a trailing `/` for
folders only, patterns with a `/` anchored to the folder they are written in (a leading `/` too) while patterns
without one match a name at any depth, `*` and `?` within one path segment, `[...]` classes, and `**` for any
number of folders (`**/x`, `x/**`, `a/**/b`). A folder that matches excludes everything below it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from audiodiff.schema.reading import FileRefused, read_regular_text
from audiodiff.schema.source import MAX_FILE_BYTES


@dataclass(frozen=True)
class Pattern:
    text: str  # as written
    regex: re.Pattern[str]
    negated: bool
    folders_only: bool

    def matches(self, relative: str, is_dir: bool) -> bool:
        if self.folders_only and not is_dir:
            return False
        return self.regex.match(relative) is not None


def compile_pattern(text: str) -> Pattern | None:
    """One `.gitignore` line as a Pattern; None for blank lines and comments."""
    line = text.rstrip("\r\n")
    # trailing spaces are ignored unless escaped with a backslash
    stripped = line.rstrip(" ")
    if stripped.endswith("\\") and len(stripped) < len(line):
        stripped += " "
    line = stripped
    if not line or line.startswith("#"):
        return None
    negated = line.startswith("!")
    if negated:
        line = line[1:]
    if line.startswith(("\\#", "\\!")):
        line = line[1:]
    folders_only = line.endswith("/")
    line = line.rstrip("/")
    if not line:
        return None
    anchored = "/" in line
    line = line.lstrip("/")
    body = _translate(line)
    prefix = "" if anchored else "(?:.*/)?"
    return Pattern(text, re.compile(prefix + body + r"\Z", re.DOTALL), negated, folders_only)


def _translate(pattern: str) -> str:
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        if pattern.startswith("**/", i) and (i == 0 or pattern[i - 1] == "/"):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i) and i + 2 == n and (i == 0 or pattern[i - 1] == "/"):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[":
            close = pattern.find("]", i + 2 if pattern[i + 1 : i + 2] in ("!", "^", "]") else i + 1)
            if close < 0:
                out.append(re.escape("["))
                i += 1
                continue
            inner = pattern[i + 1 : close]
            if inner[:1] in ("!", "^"):
                inner = "^" + inner[1:]
            out.append("[" + inner.replace("\\", "\\\\") + "]")
            i = close + 1
        elif pattern[i] == "\\" and i + 1 < n:
            out.append(re.escape(pattern[i + 1]))
            i += 2
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)


@dataclass(frozen=True)
class ScopedPatterns:
    """Patterns that apply below one folder (where the `.gitignore` or `pyproject.toml` that holds them is)."""

    base: str  # absolute, normalised
    patterns: tuple[Pattern, ...]

    @property
    def _prefix(self) -> str:
        return self.base if self.base.endswith(os.sep) else self.base + os.sep

    def decide(self, path: str, is_dir: bool) -> bool | None:
        """True: excluded, False: re-included by a `!` pattern, None: no pattern here says anything."""
        prefix = self._prefix
        if not path.startswith(prefix):
            return None
        relative = path[len(prefix) :]
        if not relative:
            return None
        if os.sep != "/":
            relative = relative.replace(os.sep, "/")
        verdict = None
        for pattern in self.patterns:
            if pattern.matches(relative, is_dir):
                verdict = not pattern.negated
        return verdict

    def covers(self, path: str) -> bool:
        """Whether file `path` or one of its folders below `base` is matched (a matched folder covers all
        below it, as in git)."""
        prefix = self._prefix
        if not path.startswith(prefix):
            return False
        parts = path[len(prefix) :].split(os.sep)
        for depth in range(1, len(parts)):
            if self.decide(prefix + os.sep.join(parts[:depth]), True):
                return True
        return bool(self.decide(path, False))


def scoped(base: str | os.PathLike[str], lines: Iterable[str]) -> ScopedPatterns:
    patterns = tuple(p for p in (compile_pattern(line) for line in lines) if p is not None)
    return ScopedPatterns(os.path.abspath(base), patterns)


def read_gitignore(folder: str | os.PathLike[str]) -> ScopedPatterns | None:
    """The `.gitignore` of `folder`, or None when it has none (or it cannot be read)."""
    path = os.path.join(folder, ".gitignore")
    try:
        lines = read_regular_text(path, MAX_FILE_BYTES).splitlines()
    except FileRefused:  # absent, unreadable, a FIFO or device planted under the name, or absurdly large
        return None
    found = scoped(folder, lines)
    return found if found.patterns else None


class IgnoreRules:
    """An ordered set of scoped patterns; later scopes (deeper `.gitignore` files, command-line excludes) win."""

    def __init__(self, scopes: Iterable[ScopedPatterns] = ()) -> None:
        self.scopes: list[ScopedPatterns] = list(scopes)

    def with_scope(self, scope: ScopedPatterns | None) -> IgnoreRules:
        if scope is None:
            return self
        return IgnoreRules([*self.scopes, scope])

    def excluded(self, path: str | os.PathLike[str], is_dir: bool) -> bool:
        """Whether this one path is excluded by the patterns (its folders are not consulted)."""
        absolute = os.path.abspath(path)
        verdict = False
        for scope in self.scopes:
            decision = scope.decide(absolute, is_dir)
            if decision is not None:
                verdict = decision
        return verdict

    def excluded_with_parents(self, path: str | os.PathLike[str], stop: str | os.PathLike[str] | None = None) -> bool:
        """Whether `path` (a file) or one of its folders is excluded; folders above `stop` are not consulted."""
        absolute = Path(os.path.abspath(path))
        limit = os.path.abspath(stop) if stop is not None else None
        for folder in reversed(absolute.parents):
            text = str(folder)
            if limit is not None and not (text + os.sep).startswith(limit.rstrip(os.sep) + os.sep):
                continue
            if self.excluded(text, True):
                return True
        return self.excluded(absolute, False)
