"""Calls a backbone with the flat keywords the reference uses, split into the typed `BackboneInputs` and `Guidance`
that every audiodiff backbone takes: the golden fixtures and many tests are written in those keywords."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from torch import Tensor, nn

from audiodiff.nn.routing import BackboneInputs, Guidance

INPUT_FIELDS = frozenset(field.name for field in fields(BackboneInputs))
GUIDANCE_FIELDS = frozenset(field.name for field in fields(Guidance))


def keyword_call(backbone: nn.Module, x: Tensor, t: Tensor, **keywords: Any) -> Tensor:
    unknown = set(keywords) - INPUT_FIELDS - GUIDANCE_FIELDS
    if unknown:
        raise TypeError(f"not a backbone input or guidance setting: {sorted(unknown)}")
    inputs = BackboneInputs(**{name: value for name, value in keywords.items() if name in INPUT_FIELDS})
    guidance = Guidance(**{name: value for name, value in keywords.items() if name in GUIDANCE_FIELDS})
    return backbone(x, t, inputs, guidance)
