"""JSON Schema export of the config specs, for editors (completion, hover docs) and `jsonschema`-based checks.

The schema carries the structure (types, tags, required keys, unknown keys rejected); cross-field rules and graph
contracts cannot be expressed in JSON Schema and stay with `audiodiff validate`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import Field, TypeAdapter

from audiodiff.schema.versions import KNOWN_VERSIONS, LATEST_VERSION

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
        Union[DiffusionCondConfig, DiffusionCondInpaintConfig, DiffusionUncondConfig, AutoencoderConfig],
        Field(discriminator="model_type"),
    ]
    schema = TypeAdapter(roots).json_schema(mode="validation")
    _pin_version(schema, ("DiffusionCondConfig", "DiffusionCondInpaintConfig", "DiffusionUncondConfig",
                          "AutoencoderConfig"), version)
    if version >= 2:
        schema["allOf"] = list(_spelled_out_constraints(version))
    return _finish(schema, f"audiodiff model config, schema version {version}")


def dataset_schema(version: int | None = None) -> dict[str, Any]:
    version = _check_version(version)
    from audiodiff.schema.v1.dataset import DatasetConfigSpec

    schema = TypeAdapter(DatasetConfigSpec).json_schema(mode="validation")
    _pin_version(schema, ("AudioDirDatasetSpec", "PreEncodedDatasetSpec", "WebDatasetSpec"), version)
    return _finish(schema, f"audiodiff dataset config, schema version {version}")


def export(kind: Literal["model", "dataset"] = "model", version: int | None = None) -> dict[str, Any]:
    return model_schema(version) if kind == "model" else dataset_schema(version)


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


def _spelled_out_constraints(version: int):
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
        return LATEST_VERSION
    if version not in KNOWN_VERSIONS:
        raise ValueError(f"unknown schema version {version}; known: {', '.join(map(str, KNOWN_VERSIONS))}")
    return version


def _finish(schema: dict[str, Any], title: str) -> dict[str, Any]:
    return {"$schema": SCHEMA_DIALECT, "title": title, **schema}
