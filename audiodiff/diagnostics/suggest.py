"""Did-you-mean suggestions, always drawn from the right candidate set.

Sibling fields for an unknown key, registry tags for an unknown type, declared ids for a routing entry: the caller
passes that set; this module only ranks it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

_LONGEST_WORD = 100


def closest(word: str, candidates: Iterable[str], limit: int = 3, cutoff: float = 0.6) -> list[str]:
    """Up to `limit` candidates close to `word`, best first; case-insensitive ranking, original spelling kept."""
    if len(word) > _LONGEST_WORD:
        return []  # no key or tag is this long, and difflib's cost grows with the product of the lengths
    pool = sorted(set(candidates))
    by_lower: dict[str, str] = {}
    for candidate in pool:
        by_lower.setdefault(candidate.lower(), candidate)
    matches = difflib.get_close_matches(word.lower(), list(by_lower), n=limit, cutoff=cutoff)
    # a candidate that merely differs in case or separators is the best match there is
    normalized = word.lower().replace("-", "_")
    exact = [c for c in pool if c.lower().replace("-", "_") == normalized and c != word]
    ordered = exact + [by_lower[m] for m in matches if by_lower[m] not in exact]
    return ordered[:limit]


def did_you_mean(word: str, candidates: Iterable[str], limit: int = 3) -> str | None:
    """A `help:` line such as "did you mean `prompt`?", or None when nothing is close."""
    matches = closest(word, candidates, limit)
    if not matches:
        return None
    if len(matches) == 1:
        return f"did you mean `{matches[0]}`?"
    quoted = ", ".join(f"`{m}`" for m in matches[:-1]) + f" or `{matches[-1]}`"
    return f"did you mean {quoted}?"
