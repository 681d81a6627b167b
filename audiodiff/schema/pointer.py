"""JSON pointers (RFC 6901): build, split and follow the addresses that diagnostics carry.

A pointer is `""` for the whole document or a sequence of `/token` parts; in a token `~` is written `~0` and `/` is
written `~1`. List indices are decimal tokens. This module is plain Python: no pydantic, no torch.
"""

from __future__ import annotations

from typing import Any


def escape(token: str) -> str:
    """One reference token, escaped for use inside a pointer (`~` -> `~0`, then `/` -> `~1`)."""
    if "~" in token or "/" in token:
        return token.replace("~", "~0").replace("/", "~1")
    return token


def unescape(token: str) -> str:
    """The key that an escaped token names (`~1` -> `/`, then `~0` -> `~`)."""
    if "~" in token:
        return token.replace("~1", "/").replace("~0", "~")
    return token


def join(pointer: str, *tokens: str | int) -> str:
    """`pointer` extended by keys or list indices: `join("", "model", 0) == "/model/0"`."""
    parts = [pointer]
    for token in tokens:
        parts.append("/")
        parts.append(str(token) if isinstance(token, int) else escape(token))
    return "".join(parts)


def split(pointer: str) -> list[str]:
    """The unescaped tokens of a pointer: `split("/a~1b/0") == ["a/b", "0"]`; raises ValueError when malformed."""
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise ValueError(f"a JSON pointer starts with `/` or is empty, got `{pointer}`")
    return [unescape(token) for token in pointer[1:].split("/")]


def parent(pointer: str) -> str:
    """The pointer one level up; the root (`""`) is its own parent."""
    cut = pointer.rfind("/")
    return pointer[:cut] if cut > 0 else ""


def resolve(data: Any, pointer: str) -> Any:
    """The value that `pointer` names inside `data`; raises KeyError or IndexError when it is absent."""
    node = data
    for token in split(pointer):
        if isinstance(node, dict):
            node = node[token]
        elif isinstance(node, list):
            # RFC 6901 indices are plain decimals: no sign, no leading zeros, no `-` (the past-the-end slot)
            if not token.isdigit() or not token.isascii() or (len(token) > 1 and token[0] == "0"):
                raise IndexError(f"`{token}` is not a list index")
            index = int(token)
            if index >= len(node):
                raise IndexError(f"index {index} is past the end of a list of {len(node)}")
            node = node[index]
        else:
            raise KeyError(token)
    return node
