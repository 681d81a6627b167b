"""One file, end to end without torch: read -> schema and rules -> graph and its contracts -> located diagnostics.

`validate`, `lint` and `compile --explain` all start here, so a config means the same thing to each of them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audiodiff.compiler.graph import Graph
from audiodiff.diagnostics import codes
from audiodiff.diagnostics.bounds import cap_diagnostics
from audiodiff.diagnostics.model import Diagnostic, Related
from audiodiff.diagnostics.render import FileResult
from audiodiff.diagnostics.target import DEFAULT_TARGET, Target, judge
from audiodiff.schema.migrate import ReadResult, read_document
from audiodiff.schema.source import LoadResult, SourceDocument, load_file, load_text
from audiodiff.schema.v1.base import Spec
from audiodiff.schema.v1.dataset import DatasetConfigSpec
from audiodiff.schema.v1.root import ModelConfig
from audiodiff.schema.validate import SchemaResult, validate_data

if TYPE_CHECKING:
    from audiodiff.schema.overrides import Override

# codes whose natural anchor is the key itself rather than its value
_KEY_ANCHORED = frozenset(
    {
        codes.UNKNOWN_KEY.id,
        codes.DUPLICATE_KEY.id,
        codes.OBJECTIVE_IN_CONFIG.id,
        codes.SOFT_CLIP_LOCATION.id,
        codes.DEMO_COND_UNKNOWN_KEY.id,
        codes.MIGRATED_KEY.id,
    }
)


@dataclass
class FileCheck:
    """Everything the torch-free stages learned about one file."""

    path: str
    document: SourceDocument | None
    schema: SchemaResult | None
    graph: Graph | None = None  # once lowering succeeded
    diagnostics: list[Diagnostic] = field(default_factory=list)
    migration: ReadResult | None = None  # the document migrated in memory to the newest schema version
    raw_lines: list[str] | None = None  # the text's lines when it did not parse (for snippets)
    target: Target = DEFAULT_TARGET  # the runtime the findings were judged for

    @property
    def spec(self) -> ModelConfig | DatasetConfigSpec | None:
        return self.schema.spec if self.schema is not None else None

    @property
    def model_spec(self) -> ModelConfig | None:
        """The spec when the file is a valid model config."""
        return self.schema.model_spec if self.schema is not None else None

    @property
    def dataset_spec(self) -> DatasetConfigSpec | None:
        """The spec when the file is a valid dataset config."""
        return self.schema.dataset_spec if self.schema is not None else None

    @property
    def kind(self) -> str | None:
        return self.schema.kind if self.schema is not None else None

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self.diagnostics)

    def result(self) -> FileResult:
        return FileResult(path=self.path, diagnostics=self.diagnostics, line=self.line, kind=self.kind)

    def line(self, number: int) -> str | None:
        if self.document is not None:
            return self.document.line(number)
        if self.raw_lines is not None and 1 <= number <= len(self.raw_lines):
            return self.raw_lines[number - 1]
        return None


def check_file(
    path: str | os.PathLike,
    *,
    lower: bool = True,
    check_paths: bool = True,
    advice: bool = False,
    count_params: bool = True,
    target: Target = DEFAULT_TARGET,
    overrides: Sequence[Override] = (),
) -> FileCheck:
    """`advice`: also report lint-only migration notices (keys written out or respelled in memory).
    `count_params`: put analytic parameter counts on the graph's nodes (`compile`); validate and lint skip it.
    `target`: the runtime findings are judged for (`audiodiff.diagnostics.target`).
    `overrides`: `--set PATH=VALUE` values applied to the file's data before it is checked."""
    loaded = load_file(path)
    if overrides:
        from audiodiff.schema.overrides import override_load

        loaded = override_load(loaded, overrides)
    check = check_loaded(
        str(path), loaded, lower=lower, check_paths=check_paths, advice=advice, count_params=count_params, target=target
    )
    if check.document is None:
        check.raw_lines = _raw_lines(path)
    return check


def _split_lines(text: str, path: str | os.PathLike) -> list[str]:
    """Lines as the loader counts them (JSON breaks only at CR/LF; YAML also at NEL and the Unicode separators)."""
    from audiodiff.schema.source import detect_format
    from audiodiff.schema.source_map import JSON_LINE_BREAK, YAML_LINE_BREAK

    pattern = YAML_LINE_BREAK if detect_format(path) == "yaml" else JSON_LINE_BREAK
    return pattern.split(text)


def check_text(
    text: str | bytes,
    path: str,
    *,
    lower: bool = True,
    check_paths: bool = False,
    advice: bool = False,
    count_params: bool = True,
    target: Target = DEFAULT_TARGET,
    overrides: Sequence[Override] = (),
) -> FileCheck:
    loaded = load_text(text, path)
    if overrides:
        from audiodiff.schema.overrides import override_load

        loaded = override_load(loaded, overrides)
    check = check_loaded(
        path, loaded, lower=lower, check_paths=check_paths, advice=advice, count_params=count_params, target=target
    )
    if check.document is None:
        raw = text.decode("utf-8", errors="replace") if isinstance(text, bytes) else text
        check.raw_lines = _split_lines(raw, path)
    return check


def check_loaded(
    path: str,
    loaded: LoadResult,
    *,
    lower: bool = True,
    check_paths: bool = True,
    advice: bool = False,
    count_params: bool = True,
    target: Target = DEFAULT_TARGET,
) -> FileCheck:
    """The later stages for a file that is already read (lint reads each file once to tell configs apart)."""
    return _check_loaded(
        path,
        loaded.document,
        list(loaded.diagnostics),
        lower=lower,
        check_paths=check_paths,
        advice=advice,
        count_params=count_params,
        target=target,
    )


def _raw_lines(path: str | os.PathLike) -> list[str] | None:
    """The file's lines for the snippets of parse errors (bytes that are not UTF-8 shown replaced)."""
    from audiodiff.schema.reading import FileRefused, read_regular_text
    from audiodiff.schema.source import MAX_FILE_BYTES

    try:  # never a FIFO or a device: load_file has already said why such a file is not read
        return _split_lines(read_regular_text(path, MAX_FILE_BYTES), path)
    except FileRefused:
        return None


def _check_loaded(
    path: str,
    document: SourceDocument | None,
    diagnostics: list[Diagnostic],
    *,
    lower: bool,
    check_paths: bool,
    advice: bool = False,
    count_params: bool = True,
    target: Target = DEFAULT_TARGET,
) -> FileCheck:
    check = FileCheck(path, document, None, target=target)
    if document is None:
        check.diagnostics = _locate(cap_diagnostics(judge(diagnostics, target)), path, None)
        return check
    migration = read_document(document.data)
    check.migration = migration
    if migration.data is None:
        schema = validate_data(document.data)  # reports the unusable `schema_version`
    else:
        diagnostics.extend(migration.diagnostics)
        if advice:
            diagnostics.extend(migration.advice)
        schema = _validate_migrated(migration.data, migration.version)
    check.schema = schema
    diagnostics.extend(schema.diagnostics)
    model = schema.model_spec
    if model is not None:
        from audiodiff.schema.rules.upstream import check_spelling

        diagnostics.extend(check_spelling(model, document.data, migration.version))
    if schema.ok and model is not None and lower:
        from audiodiff.compiler.lower import lower_spec  # torch-free

        lowered = lower_spec(model, count_params=count_params)
        check.graph = lowered.graph
        diagnostics.extend(lowered.diagnostics)
    if schema.spec is not None and check_paths:
        diagnostics.extend(_missing_paths(schema.spec, Path(path).parent))
    # bounded (after the target has judged severities) before any is located
    check.diagnostics = _locate(cap_diagnostics(judge(diagnostics, target)), path, document)
    return check


def _validate_migrated(data: dict[str, Any], version: int | None) -> SchemaResult:
    """Validate the in-memory newest-version document. The spec classes describe the body every version shares;
    `schema_version` is the envelope that `read_document` already checked, so it is left out here."""
    body = {key: value for key, value in data.items() if key != "schema_version"}
    return replace(validate_data(body), version=version)


def locate(check: FileCheck, diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """Give diagnostics found after the pipeline ran (lint rules, extra checks) the file's path, line and column,
    judged for the check's target."""
    return _locate(judge(diagnostics, check.target), check.path, check.document)


def _locate(diagnostics: list[Diagnostic], path: str, document: SourceDocument | None) -> list[Diagnostic]:
    overrides = getattr(document, "overrides", ())
    if overrides:  # values the command line set are located at their `--set`, not in the file's text
        from audiodiff.schema.overrides import relocate

        diagnostics = relocate(diagnostics, overrides)
    located = []
    for diagnostic in diagnostics:
        span = diagnostic.span
        if span is None and document is not None and diagnostic.pointer is not None:
            span = document.span(diagnostic.pointer, prefer_key=diagnostic.code.id in _KEY_ANCHORED)
        related = tuple(
            Related(
                note.message,
                note.pointer,
                note.span
                or (document.span(note.pointer) if document is not None and note.pointer is not None else None),
                note.path,
            )
            for note in diagnostic.related
        )
        located.append(
            Diagnostic(
                diagnostic.code,
                diagnostic.message,
                diagnostic.pointer,
                diagnostic.path or path,
                span,
                diagnostic.help,
                related,
                diagnostic.severity,
            )
        )
    return located


# --- file paths inside a config -------------------------------------------------------------------------------------


def referenced_paths(spec: Spec) -> Iterator[tuple[str, str]]:
    """(pointer, path) for every local file path a config names."""
    yield from _walk_paths(spec, "")


_PATH_FIELDS = frozenset(
    {
        "clap_ckpt_path",
        "pretransform_ckpt_path",
        "teacher_model_ckpt",
        "discriminator_base_ckpt",
        "custom_metadata_module",
        "path",
        "manifest",
    }
)


def _walk_paths(node: object, pointer: str) -> Iterator[tuple[str, str]]:
    from pydantic import BaseModel

    # only specs and tuples of specs can hold paths: scalars are never descended into (this runs on every file)
    if isinstance(node, BaseModel):
        for name in type(node).model_fields:
            value = getattr(node, name)
            if name in _PATH_FIELDS and isinstance(value, str):
                yield f"{pointer}/{name}", value
            elif isinstance(value, (BaseModel, tuple)):
                yield from _walk_paths(value, f"{pointer}/{name}")
    elif isinstance(node, tuple):
        for index, item in enumerate(node):
            if isinstance(item, (BaseModel, tuple)):
                yield from _walk_paths(item, f"{pointer}/{index}")


def _missing_paths(spec: Spec, base: Path) -> list[Diagnostic]:
    found = []
    paths = list(referenced_paths(spec))
    by_pointer = dict(paths)
    for pointer, value in paths:
        candidate = Path(value)
        bases = [base, Path()]
        if pointer.endswith("/manifest") and pointer[: -len("manifest")] + "path" in by_pointer:
            # a manifest may also sit in its dataset folder (`run` looks there too), which is itself read from the
            # config's folder or the working folder
            folder = Path(by_pointer[pointer[: -len("manifest")] + "path"])
            bases += [folder, base / folder]
        if candidate.exists() or (not candidate.is_absolute() and any((b / candidate).exists() for b in bases)):
            continue
        found.append(
            Diagnostic(
                codes.REFERENCED_FILE_MISSING,
                f"`{value}` does not exist on this machine",
                pointer,
                help="fine if the config is meant for another machine; `run` and `sample` need the file",
            )
        )
    return found
