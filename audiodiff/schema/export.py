"""JSON Schema export of the config specs, for editors (completion, hover docs) and `jsonschema`-based checks.

The schema carries the structure (types, tags, required keys, unknown keys rejected); cross-field rules and graph
contracts cannot be expressed in JSON Schema and stay with `audiodiff validate`.

Two choices make validators report the real mistake first:

- Tagged unions are `if`/`then` on the tag, not pydantic's `oneOf` + `discriminator` (an OpenAPI keyword that JSON
  Schema validators ignore). With `oneOf`, a typo in one member's key fails every member and a validator guesses
  which failure to show (check-jsonschema showed a `demo` error for a typo in `embed_dimm`); with `if`/`then`, the
  tag picks exactly one member, whose own error is the only one, and a wrong tag is one `enum` error at the tag.
  Optional sections (`X | None`) are `if null else X` for the same reason: a mistake inside `training` is reported
  where it is, not as "`training` is not null".
- `editor_schema` accepts every schema version in one file, dispatching on `schema_version` (absent: version 1, the
  stable-audio-tools dialect), so one `$schema` line or one editor setting serves every config of a repository.
  `export(kind, version)` still gives one version. The package ships `editor_schema` for both kinds as files
  (`audiodiff/schema/schemas/`); a test keeps them up to date.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter

from audiodiff.schema.versions import DIALECT_VERSION, KNOWN_VERSIONS

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def model_schema(version: int | None = None) -> dict[str, Any]:
    """JSON Schema of model configs (every supported `model_type`) of the given schema version."""
    version = _check_version(version)
    from audiodiff.schema.v1.root import (
        AutoencoderConfig,
        DiffusionCondConfig,
        DiffusionCondInpaintConfig,
        DiffusionUncondConfig,
    )

    roots = Annotated[
        DiffusionCondConfig | DiffusionCondInpaintConfig | DiffusionUncondConfig | AutoencoderConfig,
        Field(discriminator="model_type"),
    ]
    schema = TypeAdapter(roots).json_schema(mode="validation")
    _pin_version(schema, MODEL_ROOTS, version)
    schema = _conditionals(schema)
    if version >= 2:
        schema["allOf"] += list(_spelled_out_constraints(version))
    return _finish(schema, f"audiodiff model config, schema version {version}")


def dataset_schema(version: int | None = None) -> dict[str, Any]:
    version = _check_version(version)
    from audiodiff.schema.v1.dataset import DatasetConfigSpec

    schema = TypeAdapter(DatasetConfigSpec).json_schema(mode="validation")
    _pin_version(schema, DATASET_ROOTS, version)
    return _finish(_conditionals(schema), f"audiodiff dataset config, schema version {version}")


MODEL_ROOTS = ("DiffusionCondConfig", "DiffusionCondInpaintConfig", "DiffusionUncondConfig", "AutoencoderConfig")
DATASET_ROOTS = ("AudioDirDatasetSpec", "PreEncodedDatasetSpec", "WebDatasetSpec")
# the editor schemas the package ships, in audiodiff/schema/schemas/
SHIPPED = {"model": "model.schema.json", "dataset": "dataset.schema.json"}


def export(kind: Literal["model", "dataset"] = "model", version: int | None = None) -> dict[str, Any]:
    """One version's schema, or with `version=None` the schema of every version (`editor_schema`)."""
    if version is None:
        return editor_schema(kind)
    return model_schema(version) if kind == "model" else dataset_schema(version)


def shipped_path(kind: Literal["model", "dataset"] = "model") -> Path:
    """The editor schema of `kind` as installed with the package (kept equal to `editor_schema(kind)` by a test)."""
    return Path(__file__).resolve().parent / "schemas" / SHIPPED[kind]


def render(schema: dict[str, Any]) -> str:
    """The text `schema export` writes and the package ships."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def editor_schema(kind: Literal["model", "dataset"] = "model") -> dict[str, Any]:
    """The schema of configs of every known version: `schema_version` picks one (absent means version 1).

    The definitions every version shares are kept once; each version's top-level classes (whose `schema_version`
    differs) get a per-version name, `<Class>-v<N>`, and each version's root becomes `$defs/version-<N>`."""
    roots = MODEL_ROOTS if kind == "model" else DATASET_ROOTS
    definitions: dict[str, Any] = {}
    dispatch = []
    for version in KNOWN_VERSIONS:
        single = export(kind, version)
        renamed = {f"#/$defs/{name}": f"#/$defs/{name}-v{version}" for name in roots}
        for name, definition in single.pop("$defs").items():
            if name in roots:
                definitions[f"{name}-v{version}"] = _retarget(definition, renamed)
            else:
                definitions.setdefault(name, definition)
        body = {key: value for key, value in single.items() if key not in ("$schema", "title")}
        definitions[f"version-{version}"] = _retarget(body, renamed)
        is_version: dict[str, Any] = {
            "required": ["schema_version"],
            "properties": {"schema_version": {"const": version}},
        }
        if version == DIALECT_VERSION:  # an unversioned file is written in the stable-audio-tools dialect
            is_version = {"anyOf": [{"not": {"required": ["schema_version"]}}, is_version]}
        dispatch.append({"if": is_version, "then": {"$ref": f"#/$defs/version-{version}"}})
    label = "model" if kind == "model" else "dataset"
    return {
        "$schema": SCHEMA_DIALECT,
        "title": f"audiodiff {label} config (every schema version; `schema_version` absent means 1)",
        "type": "object",
        "properties": {"schema_version": {"enum": list(KNOWN_VERSIONS)}},
        "allOf": dispatch,
        "$defs": definitions,
    }


def _conditionals(node: Any) -> Any:
    """`node` with every pydantic tagged union (`oneOf` + `discriminator`) rewritten as `if`/`then` on the tag."""
    if isinstance(node, list):
        return [_conditionals(item) for item in node]
    if not isinstance(node, dict):
        return node
    tagged = node.get("discriminator")
    if isinstance(tagged, dict) and "propertyName" in tagged and "oneOf" in node:
        tag, mapping = tagged["propertyName"], tagged["mapping"]
        rest = {key: _conditionals(value) for key, value in node.items() if key not in ("discriminator", "oneOf")}
        return {
            **rest,
            "type": "object",
            "required": [tag],
            "properties": {tag: {"enum": list(mapping)}},
            "allOf": [
                {"if": {"required": [tag], "properties": {tag: {"const": value}}}, "then": {"$ref": ref}}
                for value, ref in mapping.items()
            ],
        }
    options = node.get("anyOf")
    if isinstance(options, list) and len(options) == 2 and {"type": "null"} in options and "if" not in node:
        # `X | None`: null passes, anything else must be X and gets X's own error (not "is not of type 'null'")
        (other,) = [option for option in options if option != {"type": "null"}]
        rest = {key: _conditionals(value) for key, value in node.items() if key != "anyOf"}
        return {**rest, "if": {"type": "null"}, "else": _conditionals(other)}
    return {key: _conditionals(value) for key, value in node.items()}


def _retarget(node: Any, renamed: dict[str, str]) -> Any:
    """`node` with each `$ref` in `renamed` pointing at its new name."""
    if isinstance(node, list):
        return [_retarget(item, renamed) for item in node]
    if not isinstance(node, dict):
        return node
    return {
        key: renamed.get(value, value) if key == "$ref" else _retarget(value, renamed) for key, value in node.items()
    }


def _pin_version(schema: dict[str, Any], roots: tuple[str, ...], version: int) -> None:
    """The spec classes accept every known `schema_version`; an exported schema describes exactly one. Version 1
    files may leave the key out (that is the stable-audio-tools dialect); later versions must state it."""
    for name in roots:
        definition = schema["$defs"][name]
        if version == 1:
            definition["properties"]["schema_version"] = {"anyOf": [{"const": 1}, {"type": "null"}]}
        else:
            definition["properties"]["schema_version"] = {"const": version}
            definition.setdefault("required", []).append("schema_version")


def _spelled_out_constraints(version: int) -> Iterator[dict[str, Any]]:
    """The version's spelled-out and respelled keys (schema/v2) as JSON Schema `if`/`then` pairs."""
    from audiodiff.schema.v2 import MIGRATIONS, Respell

    for migration in MIGRATIONS:
        if migration.target > version:
            continue
        for step in migration.steps:
            condition: dict[str, Any] = {}
            for when in step.when:
                _merge(condition, _nested(when.path, {"enum": sorted(when.values, key=str)}))
            if isinstance(step, Respell):
                then = _nested(step.path, {"not": {"const": step.old}})
            else:
                then = _nested(step.path[:-1], None, required=step.path[-1])
            yield {"if": condition, "then": then}


def _nested(path: tuple[str, ...], leaf: dict[str, Any] | None, *, required: str | None = None) -> dict[str, Any]:
    """{"properties": {a: {"properties": {b: leaf}, "required": [b]}}, "required": [a]} for path (a, b)."""
    if not path:
        return {"required": [required]} if required else (leaf or {})
    inner = _nested(path[1:], leaf, required=required)
    return {"properties": {path[0]: inner}, "required": [path[0]]}


def _merge(target: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if key == "required":
            target.setdefault("required", [])
            target["required"] += [item for item in value if item not in target["required"]]
        elif key == "properties":
            properties = target.setdefault("properties", {})
            for name, schema in value.items():
                _merge(properties.setdefault(name, {}), schema)
        else:
            target[key] = value


def _check_version(version: int | None) -> int:
    if version is None:
        return KNOWN_VERSIONS[-1]
    if version not in KNOWN_VERSIONS:
        raise ValueError(f"unknown schema version {version}; known: {', '.join(map(str, KNOWN_VERSIONS))}")
    return version


def _finish(schema: dict[str, Any], title: str) -> dict[str, Any]:
    return {"$schema": SCHEMA_DIALECT, "title": title, **schema}
