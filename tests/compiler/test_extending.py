"""docs/extending.md, followed for real: a `bool` conditioner added in the three documented pieces (spec, module,
registry entry) builds, counts, lowers and validates, with its count equal to the module's on the meta device.

The spec and module are defined here rather than in the package (the walkthrough's steps 1 and 2 put them in
`schema/v1/conditioning.py` and `nn/conditioners.py`); the entry is registered as step 3's `ENTRIES` line would."""

from __future__ import annotations

import copy
from typing import Any, Literal

import pytest
import torch
from torch import Tensor, nn

from audiodiff.compiler import lowering
from audiodiff.compiler.entries.conditioners import ConditionerBuild, ConditionerCount
from audiodiff.compiler.entry import Entry
from audiodiff.compiler.lower import lower_spec
from audiodiff.compiler.materialize import BuildOptions, build_model
from audiodiff.compiler.param_layers import ParamCount, embedding
from audiodiff.compiler.params import count_model
from audiodiff.compiler.registry import REGISTRY, register, unregister
from audiodiff.nn.conditioners import Conditioner
from audiodiff.schema.v1.conditioning import ConditionerEntrySpec, _ConditionerConfig
from audiodiff.schema.validate import validate_data


# --- step 1: the spec ----------------------------------------------------------------------------------------------
class BoolConfig(_ConditionerConfig):
    pass  # only `output_dim`, inherited


class BoolConditionerSpec(ConditionerEntrySpec):
    """a `bool` conditioner entry."""

    type: Literal["bool"]
    config: BoolConfig = BoolConfig()


# --- step 2: the module --------------------------------------------------------------------------------------------
class BoolConditioner(Conditioner):
    """Embeds a yes/no value: row 0 for false, row 1 for true."""

    def __init__(self, *, output_dim: int) -> None:
        super().__init__(dim=output_dim, output_dim=output_dim)
        self.bool_embedder = nn.Embedding(2, output_dim)  # [2, D]

    def forward(self, values: list[Any], device: torch.device | str) -> tuple[Tensor, Tensor]:
        rows = torch.tensor([int(bool(value)) for value in values], device=device)  # [B]
        embeds = self.bool_embedder(rows).unsqueeze(1)  # [B, 1, D]
        return embeds, torch.ones(embeds.shape[0], 1, device=device, dtype=torch.bool)


# --- step 3: the registry entry ------------------------------------------------------------------------------------
def build_bool(entry: BoolConditionerSpec, context: ConditionerBuild) -> nn.Module:
    return BoolConditioner(output_dim=context.output_dim)


def count_bool(entry: BoolConditionerSpec, context: ConditionerCount) -> ParamCount:
    return embedding(2, context.output_dim)


BOOL = Entry("conditioner", "bool", BoolConditionerSpec, build_bool, count_bool, lowering.lower_vector_conditioner)

CONFIG: dict[str, Any] = {
    "model_type": "diffusion_cond",
    "sample_rate": 16000,
    "sample_size": 4096,
    "audio_channels": 1,
    "model": {
        "io_channels": 1,
        "conditioning": {
            "cond_dim": 16,
            "configs": [
                {"id": "seconds_total", "type": "number", "config": {"min_val": 0, "max_val": 60}},
            ],
        },
        "diffusion": {
            "type": "dit",
            "cross_attention_cond_ids": ["seconds_total"],
            "global_cond_ids": ["seconds_total", "is_loop"],
            "config": {
                "io_channels": 1,
                "embed_dim": 64,
                "depth": 1,
                "num_heads": 2,
                "cond_token_dim": 16,
                "global_cond_dim": 32,
            },
        },
    },
}


@pytest.fixture
def registered_bool():
    register(BOOL)
    yield BOOL
    unregister("conditioner", "bool")


def _spec_with_bool() -> Any:
    """A validated model spec whose conditioning also holds a `bool` entry (the union member of step 1 is what
    lets a config file say `"type": "bool"`; here the parsed entry is put in place of that one line)."""
    data = copy.deepcopy(CONFIG)
    data["model"]["diffusion"]["global_cond_ids"] = ["seconds_total"]
    data["model"]["diffusion"]["config"]["global_cond_dim"] = 16
    result = validate_data(data)
    assert result.spec is not None, [d.message for d in result.diagnostics]
    spec = result.spec
    entry = BoolConditionerSpec.model_validate({"id": "is_loop", "type": "bool"})  # the spec validates its entry
    conditioning = spec.model.conditioning.model_copy(update={"configs": (*spec.model.conditioning.configs, entry)})
    diffusion = spec.model.diffusion.model_copy(
        update={
            "global_cond_ids": ("seconds_total", "is_loop"),
            "config": spec.model.diffusion.config.model_copy(update={"global_cond_dim": 32}),
        }
    )
    model = spec.model.model_copy(update={"conditioning": conditioning, "diffusion": diffusion})
    return spec.model_copy(update={"model": model})


def test_the_bool_entry_is_complete(registered_bool: Entry) -> None:
    assert registered_bool.missing_pieces() == []
    assert REGISTRY[("conditioner", "bool")] is registered_bool


def test_the_bool_spec_validates_its_entry() -> None:
    assert BoolConditionerSpec.model_validate({"id": "loop", "type": "bool"}).config.output_dim is None
    with pytest.raises(ValueError):
        BoolConditionerSpec.model_validate({"id": "loop", "type": "bool", "config": {"output_dim": 0}})


def test_a_bool_conditioner_lowers_counts_and_builds(registered_bool: Entry) -> None:
    spec = _spec_with_bool()
    lowered = lower_spec(spec)
    assert not lowered.diagnostics, [d.message for d in lowered.diagnostics]  # global width 16 + 16 = 32
    node = lowered.graph.node("conditioning.is_loop")
    assert node is not None and node.params == 2 * 16
    assert node.outputs[0].shape == ("B", 1, 16)
    counts = count_model(spec)
    assert counts.parts["conditioner.conditioners.is_loop."] == embedding(2, 16)
    model = build_model(spec, BuildOptions(device="meta"))
    built = model.conditioner.conditioners["is_loop"]
    assert isinstance(built, BoolConditioner)
    assert sum(p.numel() for p in built.parameters()) == node.params


def test_a_bool_conditioner_runs(registered_bool: Entry) -> None:
    model = build_model(_spec_with_bool())
    cond = model.conditioning_tensors(
        [{"seconds_total": 3, "is_loop": True}, {"seconds_total": 1, "is_loop": 0}], "cpu"
    )
    value, mask = cond["is_loop"]
    assert value.shape == (2, 1, 16) and mask.all()
    assert not torch.equal(value[0], value[1])
    out = model(torch.randn(2, 1, 64), torch.rand(2), cond)
    assert out.shape == (2, 1, 64)


def test_without_its_entry_the_type_is_not_built() -> None:
    assert ("conditioner", "bool") not in REGISTRY
    with pytest.raises(KeyError):
        build_model(_spec_with_bool(), BuildOptions(device="meta"))
