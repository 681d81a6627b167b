"""Checking what a checkpoint file says about itself before anything trusts it.

A safetensors file is 8 bytes of header length, a JSON header naming every tensor (dtype, shape, byte offsets into
the data that follows), then the data. Everything in the header is untrusted: `check_safetensors_header` accepts it
only when every entry is well formed, every shape is a list of non-negative integers, every dtype is known, every
pair of offsets lies inside the file and spans exactly shape x dtype bytes, and the metadata is a flat map of
strings. `ckpt inspect` and `sample` both read through it, so a truncated file is refused by both.

Configs embedded in a checkpoint (`model_config`, a JSON string or, in a Lightning checkpoint, an object) are
accepted only as objects no deeper than the config reader's own limit, so no later stage can recurse on them.
Every refusal raises `HeaderError`, whose text is one sentence for the user.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from typing import Any

MAX_HEADER_BYTES = 100 * 1024 * 1024
MAX_CONFIG_DEPTH = 64  # the config reader's limit (schema.source.MAX_DEPTH)

# bytes per element of each safetensors dtype
DTYPE_SIZES = {
    "F64": 8,
    "F32": 4,
    "F16": 2,
    "BF16": 2,
    "I64": 8,
    "I32": 4,
    "I16": 2,
    "I8": 1,
    "U8": 1,
    "BOOL": 1,
    "U16": 2,
    "U32": 4,
    "U64": 8,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
}

_DIGITS = re.compile(r"[0-9]{1,9}")  # ASCII only: `"²".isdigit()` is true, but `int("²")` fails


class HeaderError(ValueError):
    """A checkpoint header or embedded value that cannot be trusted; `str()` says why."""


@dataclass(frozen=True)
class TensorEntry:
    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int


@dataclass(frozen=True)
class SafetensorsHeader:
    tensors: list[TensorEntry]
    metadata: dict[str, str]


def read_safetensors_header(path: str | os.PathLike[str]) -> SafetensorsHeader:
    """The checked header of a safetensors file (no tensor data is read)."""
    with open(path, "rb") as stream:
        size = os.fstat(stream.fileno()).st_size
        prefix = stream.read(8)
        if len(prefix) < 8:
            raise HeaderError("the file is shorter than a safetensors header")
        length = int.from_bytes(prefix, "little")
        if length <= 1 or length > min(MAX_HEADER_BYTES, size - 8):
            raise HeaderError(f"the header claims {length} bytes, which the file of {size} bytes cannot hold")
        raw = stream.read(length)
    return check_safetensors_header(raw, data_bytes=size - 8 - length)


def check_safetensors_header(raw: bytes, *, data_bytes: int) -> SafetensorsHeader:
    """Parse and check a safetensors JSON header whose data section holds `data_bytes` bytes."""
    try:
        header = json.loads(raw)
    except RecursionError:
        raise HeaderError("the header nests too deeply to be a safetensors header") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise HeaderError(f"the header is not valid JSON ({error})") from None
    if not isinstance(header, dict):
        raise HeaderError("the header is not a JSON object")
    metadata = _metadata(header.pop("__metadata__", None))
    tensors = [_entry(name, info, data_bytes) for name, info in header.items()]
    return SafetensorsHeader(tensors, metadata)


def _metadata(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise HeaderError("`__metadata__` must map names to strings")
    return dict(value)


def _entry(name: str, info: Any, data_bytes: int) -> TensorEntry:
    shown = name if len(name) <= 80 else name[:80] + "…"
    if not isinstance(info, dict):
        raise HeaderError(f"the entry of tensor `{shown}` is not an object")
    dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
    if not isinstance(dtype, str) or dtype not in DTYPE_SIZES:
        raise HeaderError(f"tensor `{shown}` has an unknown dtype `{str(dtype)[:20]}`")
    if not isinstance(shape, list) or len(shape) > 16 or not all(_is_count(d) for d in shape):
        raise HeaderError(f"tensor `{shown}` has a shape that is not a list of at most 16 non-negative integers")
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(_is_count(o) for o in offsets)
        or offsets[0] > offsets[1]
    ):
        raise HeaderError(f"tensor `{shown}` has malformed `data_offsets`")
    begin, end = offsets
    if end > data_bytes:
        raise HeaderError(
            f"tensor `{shown}` ends at byte {end} of the data, but the file holds only {data_bytes} (a truncated file?)"
        )
    expected = math.prod(shape) * DTYPE_SIZES[dtype]  # Python integers: a shape of 2**40 x 2**40 cannot overflow
    if end - begin != expected:
        raise HeaderError(f"tensor `{shown}` spans {end - begin} bytes, but its shape and dtype need {expected}")
    return TensorEntry(name, dtype, tuple(shape), begin, end)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def schema_version_of(value: Any) -> int | None:
    """A recorded schema version: an int, or a string of ASCII digits; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value < 10**9 else None
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        return int(value)
    return None


def embedded_config(value: Any) -> dict[str, Any] | None:
    """A config embedded in a checkpoint: a JSON string or an object, holding an object no deeper than the config
    reader's limit. None when there is none; HeaderError when there is one that cannot be used."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except RecursionError:
            raise HeaderError(f"the embedded `model_config` nests deeper than {MAX_CONFIG_DEPTH} levels") from None
        except json.JSONDecodeError:
            raise HeaderError("the embedded `model_config` is not valid JSON") from None
    if not isinstance(value, dict):
        raise HeaderError(f"the embedded `model_config` is {_kind(value)}, not an object")
    if _depth_exceeds(value, MAX_CONFIG_DEPTH):
        raise HeaderError(f"the embedded `model_config` nests deeper than {MAX_CONFIG_DEPTH} levels")
    if not _plain_json(value):
        raise HeaderError(
            "the embedded `model_config` holds values a JSON config cannot (non-string keys, "
            "non-finite numbers or objects)"
        )
    return value


def _kind(value: Any) -> str:
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Whether lists and objects nest deeper than `limit` (iterative: no recursion on hostile data)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(node, dict):
            stack.extend((child, depth + 1) for child in node.values() if isinstance(child, (dict, list)))
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node if isinstance(child, (dict, list)))
    return False


def _plain_json(value: Any) -> bool:
    """Only str keys and JSON scalars (finite numbers) below; called after the depth check."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if not all(isinstance(key, str) for key in node):
                return False
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, float):
            if not math.isfinite(node):
                return False
        elif node is not None and not isinstance(node, (str, int)):
            return False
    return True
