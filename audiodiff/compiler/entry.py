"""One registry entry: everything audiodiff knows about one (kind, type tag), in one place.

An entry owns its type end to end: the spec class the schema parses, the builder that makes its torch module
(a real function whose `audiodiff.nn` import happens inside it, so `validate` and `compile --explain` never import
torch), the torch-free parameter counter `explain` reads, the lowering that gives its graph node's ports, and, for
backbones, the capability record. `materialize`, `params`, `lower` and the contracts call these; nothing else
switches on a type tag. `missing_pieces` names what an entry lacks, so a half-added type fails with a sentence,
not with a traceback at run time.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from audiodiff.schema.capabilities import BackboneCapabilities

Status = Literal["buildable", "needs_extra", "needs_download", "unsupported"]
Kind = Literal[
    "backbone",
    "uncond_backbone",
    "conditioner",
    "pretransform",
    "encoder",
    "decoder",
    "bottleneck",
    "optimizer",
    "scheduler",
    "discriminator",
    "loss",
    "eval_metric",
]

# kinds whose entries make torch modules (and so need a builder, a counter and a lowering when buildable)
MODULE_KINDS: frozenset[str] = frozenset(
    {"backbone", "uncond_backbone", "conditioner", "pretransform", "encoder", "decoder", "bottleneck"}
)
BACKBONE_KINDS: frozenset[str] = frozenset({"backbone", "uncond_backbone"})

# The callables are typed loosely on purpose: each kind has its own argument types (a conditioner builder takes a
# conditioner entry and a `ConditionerBuild`, a backbone builder a backbone config and a `BackboneBuild`, ...),
# documented beside the functions that call them (`materialize`, `params`, `lower`).
Builder = Callable[..., object]
Counter = Callable[..., object]
Lowering = Callable[..., object]


@dataclass(frozen=True)
class Entry:
    kind: Kind
    tag: str
    spec: type
    builder: Builder | None = None  # makes the module; for optimizers and schedulers, a `module:function` path
    counter: Counter | None = None  # torch-free state-dict count of the module
    lowering: Lowering | None = None  # (spec, context) -> Lowered: the node's ports and facts
    capabilities: BackboneCapabilities | None = None  # backbones: what they consume and support
    builder_path: str | None = None  # `module:function` of a builder in the runtime layer (optimizers, losses)
    status: Status = "buildable"
    extra: str | None = None  # the pyproject extra that provides it
    module: str | None = None  # the importable module the extra installs
    reason: str | None = None
    weights: tuple[str, ...] = ()  # the weights a loss or discriminator entry takes (`weights.<name>`)

    def availability(self) -> tuple[Status, str | None]:
        """("buildable", None), or the status with a one-sentence reason, checked without importing anything."""
        if self.status == "needs_extra" and self.module is not None:
            if _installed(self.module):
                return "buildable", None
            return "needs_extra", self.reason or f"needs the optional package `{self.module}`"
        return self.status, self.reason

    def missing_pieces(self) -> list[str]:
        """What this entry lacks to be used by every stage: empty when it is complete."""
        missing = []
        if not isinstance(self.spec, type):
            missing.append("spec class")
        builds = self.status != "unsupported" and self.status != "needs_download"
        if self.kind in MODULE_KINDS:
            if builds and self.builder is None:
                missing.append("builder")
            if self.status == "buildable" and self.counter is None:
                missing.append("parameter counter")
            if self.lowering is None:
                missing.append("lowering")
        elif builds and self.builder is None and self.builder_path is None:
            missing.append("builder")
        if self.kind in BACKBONE_KINDS and self.capabilities is None:
            missing.append("capability record")
        return missing

    def resolve_builder(self) -> Builder:
        """The builder, importing its module now for a `builder_path` (never at registry import)."""
        if self.builder is not None:
            return self.builder
        if self.builder_path is None:
            raise RegistryError(f"{self.kind} `{self.tag}` has no builder")
        module, _, name = self.builder_path.partition(":")
        function = getattr(importlib.import_module(module), name, None)
        if not callable(function):
            raise RegistryError(f"{self.kind} `{self.tag}`: builder `{self.builder_path}` does not exist")
        return function


class RegistryError(Exception):
    """A registry entry that cannot serve: names the entry and the missing piece."""


@functools.cache
def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None
