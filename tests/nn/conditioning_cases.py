"""Test support: golden fixture lookup and a test-local mapping from reference conditioning configs to modules."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import pytest
from safetensors.torch import load_file
from shared_paths import GOLDEN
from torch import Tensor

from audiodiff.nn.conditioners import (
    Conditioner,
    IntConditioner,
    ListConditioner,
    MultiConditioner,
    NumberConditioner,
)
from audiodiff.nn.diffusion import Routing


def golden_root() -> Path:
    return GOLDEN


@dataclass(frozen=True)
class GoldenCase:
    name: str
    config: dict[str, Any]
    case: dict[str, Any]
    weights: dict[str, Tensor]
    io: dict[str, Tensor]


def load_case(name: str) -> GoldenCase:
    """A golden fixture folder, or a clean skip when the shared fixtures are not on this machine."""
    folder = golden_root() / name
    if not (folder / "case.json").exists():
        pytest.skip(f"golden fixture `{name}` not available under {golden_root()}")
    return GoldenCase(
        name=name,
        config=json.loads((folder / "config.json").read_text()),
        case=json.loads((folder / "case.json").read_text()),
        weights=load_file(folder / "weights.safetensors"),
        io=load_file(folder / "io.safetensors"),
    )


def build_conditioner(entry: dict[str, Any], cond_dim: int) -> Conditioner:
    """One `configs[]` entry -> module; `output_dim` defaults to `cond_dim` as in the reference factory."""
    options = dict(entry["config"])
    output_dim = options.pop("output_dim", cond_dim)
    kind = entry["type"]
    if kind == "number":
        return NumberConditioner(output_dim=output_dim, **options)
    if kind == "int":
        return IntConditioner(output_dim=output_dim, **options)
    if kind == "list":
        return ListConditioner(output_dim=output_dim, **options)
    raise NotImplementedError(f"no test mapping for conditioner type `{kind}`")


def build_multi_conditioner(conditioning: dict[str, Any]) -> MultiConditioner:
    cond_dim = conditioning["cond_dim"]
    modules = {entry["id"]: build_conditioner(entry, cond_dim) for entry in conditioning["configs"]}
    return MultiConditioner(
        modules,
        default_keys=conditioning.get("default_keys", {}),
        pre_encoded_keys=conditioning.get("pre_encoded_keys", []),
    )


def routing_of(diffusion: dict[str, Any]) -> Routing:
    return Routing(**{field.name: diffusion.get(field.name, []) for field in fields(Routing)})


def strip_prefix(weights: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    return {key[len(prefix) :]: value for key, value in weights.items() if key.startswith(prefix)}
