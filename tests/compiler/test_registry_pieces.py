"""A type added to the registry with a piece missing fails with a sentence naming the piece, before anything runs."""

from __future__ import annotations

from typing import Literal

import pytest

from audiodiff.compiler import lowering
from audiodiff.compiler.entries.conditioners import count_number
from audiodiff.compiler.entry import Entry
from audiodiff.compiler.registry import REGISTRY, RegistryError, register, unregister
from audiodiff.schema.v1.base import Spec
from audiodiff.schema.v1.conditioning import NumberConfig


class HalfConditionerSpec(Spec):
    id: str
    type: Literal["half"]
    config: NumberConfig = NumberConfig()


def _build(entry: HalfConditionerSpec, context: object) -> object:
    raise AssertionError("never built in these tests")


@pytest.mark.parametrize(
    ("pieces", "missing"),
    [
        (dict(counter=count_number, lowering=lowering.lower_vector_conditioner), "builder"),
        (dict(builder=_build, lowering=lowering.lower_vector_conditioner), "parameter counter"),
        (dict(builder=_build, counter=count_number), "lowering"),
    ],
)
def test_a_conditioner_missing_a_piece_is_refused_by_name(pieces: dict, missing: str) -> None:
    entry = Entry("conditioner", "half", HalfConditionerSpec, **pieces)
    assert entry.missing_pieces() == [missing]
    with pytest.raises(RegistryError, match=f"conditioner `half` is missing its {missing}"):
        register(entry)
    assert ("conditioner", "half") not in REGISTRY


def test_a_backbone_without_a_capability_record_is_refused() -> None:
    shipped = REGISTRY[("backbone", "dit")]
    entry = Entry("backbone", "half_dit", shipped.spec, shipped.builder, shipped.counter, shipped.lowering)
    with pytest.raises(RegistryError, match="backbone `half_dit` is missing its capability record"):
        register(entry)


def test_a_complete_entry_registers_and_a_duplicate_is_refused() -> None:
    entry = Entry("conditioner", "half", HalfConditionerSpec, _build, count_number, lowering.lower_vector_conditioner)
    try:
        assert register(entry) is entry and REGISTRY[("conditioner", "half")] is entry
        with pytest.raises(RegistryError, match="registered twice"):
            register(
                Entry(
                    "conditioner", "half", HalfConditionerSpec, _build, count_number, lowering.lower_vector_conditioner
                )
            )
    finally:
        unregister("conditioner", "half")
    assert ("conditioner", "half") not in REGISTRY


def test_unsupported_types_need_no_builder_but_say_why() -> None:
    entry = Entry(
        "conditioner",
        "later",
        HalfConditionerSpec,
        lowering=lowering.lower_vector_conditioner,
        status="unsupported",
        reason="not built yet",
    )
    assert entry.missing_pieces() == []
    assert entry.availability() == ("unsupported", "not built yet")
