"""The registry is the closed set of buildable things: it must match the schema's tagged unions one to one."""

from __future__ import annotations

import typing
from typing import Literal, get_args, get_origin

from audiodiff.compiler.registry import REGISTRY, lookup
from audiodiff.schema.v1 import conditioning, diffusion, pretransform, training


def _members(union) -> list[type]:
    while get_origin(union) is typing.Annotated:
        union = get_args(union)[0]
    return list(get_args(union))


def _tags(member: type, field: str = "type") -> tuple[str, ...]:
    annotation = member.model_fields[field].annotation
    assert get_origin(annotation) is Literal
    return get_args(annotation)


SCHEMA_UNIONS = {
    "backbone": diffusion.DiffusionSectionSpec,
    "uncond_backbone": diffusion.DiffusionUncondModelSpec,
    "conditioner": conditioning.ConditionerSpec,
    "pretransform": pretransform.PretransformSpec,
    "encoder": pretransform.EncoderStage,
    "decoder": pretransform.DecoderStage,
    "bottleneck": pretransform.Bottleneck,
    "optimizer": training.OptimizerSpec,
    "scheduler": training.SchedulerSpec,
}


def test_registry_is_a_bijection_with_the_schema_unions() -> None:
    from_schema = {(kind, tag): member for kind, union in SCHEMA_UNIONS.items()
                   for member in _members(union) for tag in _tags(member)}
    assert set(from_schema) == set(REGISTRY)
    for key, member in from_schema.items():
        assert REGISTRY[key].spec is member, key


def test_every_buildable_entry_names_a_builder_that_exists() -> None:
    from audiodiff.compiler import materialize
    from audiodiff.runtime import optim

    for entry in REGISTRY.values():
        if entry.status == "unsupported" or entry.status == "needs_download":
            continue
        home = optim if entry.kind in ("optimizer", "scheduler") else materialize
        assert entry.builder is not None, entry
        assert callable(getattr(home, entry.builder, None)), f"{entry.kind} `{entry.tag}`: no `{entry.builder}`"


def test_unbuildable_entries_say_why() -> None:
    for entry in REGISTRY.values():
        status, reason = entry.availability()
        if status != "buildable":
            assert reason, entry


def test_optional_extras_are_found_without_importing_them() -> None:
    import sys

    before = set(sys.modules)
    status, _ = lookup("bottleneck", "rvq").availability()
    assert status == "buildable"  # vector-quantize-pytorch is a dev dependency
    assert "vector_quantize_pytorch" not in set(sys.modules) - before
    status, reason = lookup("conditioner", "clap_text").availability()
    assert status == "needs_extra" and "laion_clap" in reason
