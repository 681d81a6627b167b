"""The registry is the closed set of buildable things: it must match the schema's tagged unions one to one."""

from __future__ import annotations

import typing
from typing import Literal, get_args, get_origin

from audiodiff.compiler.registry import REGISTRY, lookup
from audiodiff.schema.v1 import autoencoder_training, conditioning, diffusion, pretransform, training


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
    "discriminator": autoencoder_training.DiscriminatorSpec,
}
# sections keyed by name rather than tagged by `type`: each key is an entry
SCHEMA_SECTIONS = {
    "loss": autoencoder_training.LossConfigsSpec,
    "eval_metric": autoencoder_training.EvalLossConfigsSpec,
}


def test_registry_is_a_bijection_with_the_schema_unions() -> None:
    from_schema = {
        (kind, tag): member
        for kind, union in SCHEMA_UNIONS.items()
        for member in _members(union)
        for tag in _tags(member)
    }
    for kind, section in SCHEMA_SECTIONS.items():
        for name in section.model_fields:
            if (kind, name) in from_schema or name == "discriminator":
                continue
            from_schema[(kind, name)] = REGISTRY[(kind, name)].spec if (kind, name) in REGISTRY else None
    assert set(from_schema) == set(REGISTRY)
    for key, member in from_schema.items():
        assert REGISTRY[key].spec is member, key


def test_loss_entries_name_the_weights_their_specs_take() -> None:
    for entry in REGISTRY.values():
        if entry.kind in ("discriminator", "loss") and entry.spec is not autoencoder_training.ExternalLossSpec:
            weights = entry.spec.model_fields["weights"].annotation
            assert tuple(weights.model_fields) == entry.weights, entry.tag


def test_every_entry_is_complete_and_every_builder_resolves() -> None:
    for entry in REGISTRY.values():
        assert entry.missing_pieces() == [], entry
        if entry.status in ("unsupported", "needs_download"):
            continue
        assert callable(entry.resolve_builder()), entry  # runtime-layer builders import their module here


def test_backbone_entries_carry_the_schemas_capability_records() -> None:
    from audiodiff.schema.capabilities import BACKBONES

    for (kind, tag), entry in REGISTRY.items():
        if kind in ("backbone", "uncond_backbone"):
            assert entry.capabilities is BACKBONES[tag], (kind, tag)


def test_the_registry_imports_no_torch() -> None:
    import subprocess
    import sys

    code = "import sys, audiodiff.compiler.registry; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


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
