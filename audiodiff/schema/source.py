"""Read a JSON or YAML config file into plain data plus a source map (JSON pointer -> line:column).

Every problem with the bytes becomes a diagnostic, never an exception: a missing or unreadable file, a file over the
size limit (checked before reading it), bytes that are not UTF-8, syntax errors (with the parser's line:column),
duplicate keys, NaN and infinite numbers, a top level that is not an object, nesting deeper than the limit, YAML
alias bombs, YAML tags that would construct objects, empty files and multi-document YAML streams.

`LoadResult.document` is None when no usable object came out (non-finite numbers included: no later stage should
see a NaN). It is present, *alongside* errors, when the file parsed into an object but broke a rule that has an
obvious best-effort reading: duplicate keys (the last one wins, as `json.load` does), a YAML key that is not a
string (kept as its source text; a list or object key drops its entry), a disallowed or ill-fitting YAML tag (the
node read as if untagged), a `<<` merge value that is not an object (ignored). That lets later stages report their
own problems in the same pass; callers that need clean data check the diagnostics for errors first.

Speed: JSON goes through the C decoder and one walk of the result; its source map is built only when a problem
needs positions or a caller reads `SourceDocument.source_map`. YAML is composed from parser events (see
`source_yaml.py`); its map is derived from the composed nodes on first use.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from audiodiff.diagnostics import codes
from audiodiff.diagnostics.model import Diagnostic, Span
from audiodiff.schema.pointer import parent
from audiodiff.schema.reading import FileRefused, check_regular, read_regular
from audiodiff.schema.source_json import parse_json, scan_json
from audiodiff.schema.source_map import JSON_LINE_BREAK, YAML_LINE_BREAK, LineIndex, Position, SourceMap
from audiodiff.schema.source_yaml import parse_yaml, yaml_source_map

__all__ = [
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_YAML_NODES",
    "LoadResult",
    "Position",
    "SourceDocument",
    "SourceMap",
    "build_source_map",
    "detect_format",
    "load_file",
    "load_text",
]

MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_DEPTH = 64  # nested objects/lists, the top-level object counting as 1
MAX_YAML_NODES = 200_000  # nodes after alias expansion (checked at each alias)

Format = Literal["json", "yaml"]
_EXTENSIONS: dict[str, Format] = {".json": "json", ".yaml": "yaml", ".yml": "yaml"}
_UTF8_BOM = b"\xef\xbb\xbf"


def build_source_map(text: str, format: Format) -> SourceMap:
    """The source map of a config text, computed from scratch; empty when the text does not parse."""
    try:
        if format == "json":
            return scan_json(text).source_map
        outcome = parse_yaml(text, "", max_depth=MAX_DEPTH, max_nodes=MAX_YAML_NODES)
        return yaml_source_map(outcome.root) if outcome.root is not None else SourceMap()
    except (RecursionError, MemoryError):
        return SourceMap()


@dataclass(frozen=True)
class SourceDocument:
    """A parsed config file: its text, its plain data and (lazily) where each pointer sits in the text."""

    path: str
    text: str
    format: Format
    data: dict[str, Any]
    _map_factory: Callable[[], SourceMap] | None = field(default=None, repr=False, compare=False)
    _source_map: SourceMap | None = field(default=None, repr=False, compare=False)
    _lines: list[str] | None = field(default=None, repr=False, compare=False)

    @property
    def source_map(self) -> SourceMap:
        """Pointer -> key/value spans; built on first access (for JSON by scanning `text`)."""
        source_map = self._source_map
        if source_map is None:
            factory = self._map_factory
            source_map = factory() if factory is not None else build_source_map(self.text, self.format)
            object.__setattr__(self, "_source_map", source_map)  # a cache, not state: the dataclass stays frozen
        return source_map

    def span(self, pointer: str, *, prefer_key: bool = False) -> Span | None:
        """The value span of `pointer` (its key span with `prefer_key`, when it names an object member); for an
        absent pointer, the span of its nearest existing ancestor (the ancestor's key when it has one)."""
        source_map = self.source_map
        position = source_map.get(pointer)
        if position is not None:
            return position.key if prefer_key and position.key is not None else position.value
        if pointer and not pointer.startswith("/"):
            return None  # not a JSON pointer
        while pointer:
            pointer = parent(pointer)
            position = source_map.get(pointer)
            if position is not None:
                return position.key or position.value
        return None

    def line(self, number: int) -> str:
        """The text of 1-based line `number` without its line break; "" past the end."""
        lines = self._lines
        if lines is None:
            breaks = JSON_LINE_BREAK if self.format == "json" else YAML_LINE_BREAK
            lines = breaks.split(self.text)
            object.__setattr__(self, "_lines", lines)
        return lines[number - 1] if 1 <= number <= len(lines) else ""


@dataclass(frozen=True)
class LoadResult:
    document: SourceDocument | None
    diagnostics: tuple[Diagnostic, ...]

    @property
    def has_errors(self) -> bool:
        return any(diagnostic.is_error for diagnostic in self.diagnostics)


def detect_format(path: str | os.PathLike[str]) -> Format | None:
    """`json` or `yaml` from the file name's extension (any case); None for anything else."""
    name = os.fsdecode(os.fspath(path))
    return _EXTENSIONS.get(os.path.splitext(name)[1].lower())


def _failure(code: codes.Code, message: str, path: str, span: Span | None = None, **extra: Any) -> LoadResult:
    return LoadResult(None, (Diagnostic(code, message, None, path, span, **extra),))


def load_file(
    path: str | os.PathLike[str],
    *,
    max_bytes: int = MAX_FILE_BYTES,
    max_depth: int = MAX_DEPTH,
    max_yaml_nodes: int = MAX_YAML_NODES,
) -> LoadResult:
    """Read and parse one config file; every outcome is a LoadResult, never an exception."""
    name = os.fsdecode(os.fspath(path))
    try:
        check_regular(name)
    except FileRefused as refused:
        code = codes.FILE_NOT_FOUND if refused.reason in ("missing", "not-regular") else codes.UNREADABLE_FILE
        hint = "pass the path of a config file" if refused.reason == "not-regular" else None
        return _failure(code, str(refused), name, help=hint)
    format = detect_format(name)
    if format is None:
        extension = os.path.splitext(name)[1] or "(none)"
        return _failure(
            codes.UNSUPPORTED_FILE_TYPE,
            f"the extension `{extension}` is not read; config files end in `.json`, `.yaml` or `.yml`",
            name,
        )
    try:
        raw = read_regular(name, max_bytes)  # the size is checked before reading anything
    except FileRefused as refused:
        if refused.reason == "too-large":
            return _too_large(name, refused.size, max_bytes)
        code = codes.FILE_NOT_FOUND if refused.reason in ("missing", "not-regular") else codes.UNREADABLE_FILE
        return _failure(code, str(refused), name)
    return load_text(raw, name, format, max_bytes=max_bytes, max_depth=max_depth, max_yaml_nodes=max_yaml_nodes)


def load_text(
    text: str | bytes,
    path: str,
    format: Format | None = None,
    *,
    max_bytes: int = MAX_FILE_BYTES,
    max_depth: int = MAX_DEPTH,
    max_yaml_nodes: int = MAX_YAML_NODES,
) -> LoadResult:
    """Parse config text (bytes must be UTF-8; a UTF-8 BOM is accepted) read from `path`. The format comes from
    `format`, else from the extension of `path`, else from the content (`{` or `[` first: JSON, otherwise YAML).
    Never raises for any input."""
    try:
        return _load_text(text, path, format, max_bytes, max_depth, max_yaml_nodes)
    except RecursionError:
        return _failure(codes.NESTING_TOO_DEEP, "the document nests too deeply to be read", path)
    except MemoryError:
        return _failure(codes.FILE_TOO_LARGE, "the document is too large to be read into memory", path)
    except Exception as error:  # a safety net: a bug here must still not crash a validation run
        return _failure(
            codes.UNREADABLE_FILE,
            f"internal error while reading the file: {type(error).__name__}: {error}",
            path,
            help="please report this as an audiodiff bug, with the file",
        )


def _load_text(
    text: str | bytes, path: str, format: Format | None, max_bytes: int, max_depth: int, max_yaml_nodes: int
) -> LoadResult:
    if isinstance(text, (bytes, bytearray, memoryview)):
        raw = bytes(text)
        if len(raw) > max_bytes:
            return _too_large(path, len(raw), max_bytes)
        raw = raw.removeprefix(_UTF8_BOM)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            return LoadResult(None, (_not_utf8(raw, error.start, path, bom=len(text) - len(raw)),))
    else:
        if len(text) > max_bytes:
            return _too_large(path, None, max_bytes)
        if not text.isascii():
            try:
                size = len(text.encode("utf-8"))
            except UnicodeEncodeError as error:  # lone surrogates
                line, column = LineIndex(text).position(error.start)
                message = f"character `U+{ord(text[error.start]):04X}` at line {line} cannot be encoded as UTF-8"
                return _failure(codes.NOT_UTF8, message, path, Span(line, column))
            if size > max_bytes:
                return _too_large(path, size, max_bytes)
        text = text.removeprefix("\ufeff")

    if format is None:
        format = detect_format(path) or _sniff(text)
    if format == "json":
        json_outcome = parse_json(text, path, max_depth=max_depth)
        if json_outcome.data is None:
            return LoadResult(None, tuple(json_outcome.diagnostics))
        scan = json_outcome.scan
        document = SourceDocument(
            path, text, "json", json_outcome.data, _source_map=scan.source_map if scan is not None else None
        )
        return LoadResult(document, tuple(json_outcome.diagnostics))
    yaml_outcome = parse_yaml(text, path, max_depth=max_depth, max_nodes=max_yaml_nodes)
    if yaml_outcome.data is None or yaml_outcome.root is None:
        return LoadResult(None, tuple(yaml_outcome.diagnostics))
    root = yaml_outcome.root
    document = SourceDocument(path, text, "yaml", yaml_outcome.data, _map_factory=lambda: yaml_source_map(root))
    return LoadResult(document, tuple(yaml_outcome.diagnostics))


def _sniff(text: str) -> Format:
    stripped = text.lstrip(" \t\r\n")
    return "json" if stripped[:1] in ("{", "[") else "yaml"


def _too_large(path: str, size: int | None, max_bytes: int) -> LoadResult:
    held = f"{size} bytes" if size is not None else f"more than {max_bytes} bytes"
    return _failure(
        codes.FILE_TOO_LARGE,
        f"the file holds {held}, over the limit of {max_bytes} bytes ({max_bytes / 2**20:g} MiB)",
        path,
        help="config files are small; check that this is the file you meant",
    )


def _not_utf8(raw: bytes, offset: int, path: str, *, bom: int) -> Diagnostic:
    """The first bad byte: its offset in the file, its line and its column (in characters of the line so far)."""
    before = raw[:offset].decode("utf-8")  # valid up to the bad byte
    line, column = LineIndex(before).position(len(before))
    help_text = "save the file as UTF-8"
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        help_text = "the file looks like UTF-16; save it as UTF-8"
    return Diagnostic(
        codes.NOT_UTF8,
        f"byte `0x{raw[offset]:02x}` at offset {offset + bom} (line {line}) is not valid UTF-8",
        None,
        path,
        Span(line, column, line, column + 1),
        help=help_text,
    )
