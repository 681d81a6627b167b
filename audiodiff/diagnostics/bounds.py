"""Keeping reports bounded and inert whatever a file holds.

Three guards, applied where diagnostics are made and where they are printed:
- `cap_diagnostics`: at most `MAX_DIAGNOSTICS_PER_FILE` per file, errors kept before warnings, the rest summed up in
  one AD018 line ("N more"), so 40,000 unknown keys cost as much to report as 100.
- `echo`: a key or value from the file is quoted in a message at most `MAX_ECHO` characters long (a 15 MB string
  value is named, not reprinted).
- `sanitize`: control characters (C0 except tab, DEL, C1) from config text or file names are shown escaped, so a
  config cannot forge an `error:` line, move the cursor or retitle the terminal.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from audiodiff.diagnostics import codes
from audiodiff.diagnostics.model import (
    Diagnostic,
    Severity,
    count_by_severity,
    sort_and_dedupe,
)

MAX_DIAGNOSTICS_PER_FILE = 100
MAX_ECHO = 80  # characters of a key or value quoted in a message

_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


def _escape(match: re.Match[str]) -> str:
    character = match.group()
    return {"\n": "\\n", "\r": "\\r"}.get(
        character, f"\\x{ord(character):02x}" if ord(character) < 0x100 else f"\\u{ord(character):04x}"
    )


def sanitize(text: str) -> str:
    """`text` with every control character written as a visible escape (`\\x1b`, `\\n`); tabs are kept."""
    return _CONTROL.sub(_escape, text) if _CONTROL.search(text) else text


def echo(text: str, limit: int = MAX_ECHO) -> str:
    """A key or value from the file as a message quotes it: at most `limit` characters, then how many more."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters)"


def cap_diagnostics(diagnostics: Iterable[Diagnostic], limit: int = MAX_DIAGNOSTICS_PER_FILE) -> list[Diagnostic]:
    """Sorted and de-duplicated diagnostics of one file, at most `limit` of them plus one AD018 saying how many more
    there were. Errors are kept before warnings, so a file with errors never reports only warnings; AD018 notes that
    earlier stages left (counts they did not expand) are always kept."""
    unique = sort_and_dedupe(diagnostics)
    notes = [d for d in unique if d.code is codes.TOO_MANY_DIAGNOSTICS]
    rest = [d for d in unique if d.code is not codes.TOO_MANY_DIAGNOSTICS]
    if len(rest) <= limit:
        return unique
    ranked = sorted(rest, key=lambda d: d.effective_severity.rank)  # stable: position order within a severity
    kept, dropped = ranked[:limit], ranked[limit:]
    errors, warnings = count_by_severity(dropped)
    others = len(dropped) - errors - warnings
    parts = [f"{errors} error{'s' if errors != 1 else ''}", f"{warnings} warning{'s' if warnings != 1 else ''}"]
    if others:
        parts.append(f"{others} other")
    path = next((d.path for d in dropped if d.path), None)
    summary = Diagnostic(
        codes.TOO_MANY_DIAGNOSTICS,
        f"{len(dropped)} more diagnostics in this file are not shown ({', '.join(parts)})",
        None,
        path,
        help="fix the ones shown first; they usually share one cause",
        severity=Severity.INFO,
    )
    return sort_and_dedupe([*kept, *notes, summary])
