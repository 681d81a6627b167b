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
    return _finish(schema, f"audiodiff model config, schema version {version}")


def dataset_schema(version: int | None = None) -> dict[str, Any]:
    version = _check_version(version)
    from audiodiff.schema.v1.dataset import DatasetConfigSpec

    schema = TypeAdapter(DatasetConfigSpec).json_schema(mode="validation")
    return _finish(schema, f"audiodiff dataset config, schema version {version}")


def export(kind: Literal["model", "dataset"] = "model", version: int | None = None) -> dict[str, Any]:
    return model_schema(version) if kind == "model" else dataset_schema(version)


def _check_version(version: int | None) -> int:
    if version is None:
        return LATEST_VERSION
    if version not in KNOWN_VERSIONS:
        raise ValueError(f"unknown schema version {version}; known: {', '.join(map(str, KNOWN_VERSIONS))}")
    return version


def _finish(schema: dict[str, Any], title: str) -> dict[str, Any]:
    return {"$schema": SCHEMA_DIALECT, "title": title, **schema}
