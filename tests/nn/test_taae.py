"""`taae` encoder and decoder: the reference's state-dict layout (keys and shapes dumped from stable-audio-tools
50049e3 for a small config, tests/nn/data/taae_layout.json), the compiler's counts, and shapes through a round trip.
Their numbers against the reference are compared by the differential tester (tests/parity, `autoencoder=taae`)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import torch

from audiodiff.compiler.materialize import build_model
from audiodiff.compiler.params import count_model
from audiodiff.schema.validate import validate_data

LAYOUT = json.loads((Path(__file__).parent / "data" / "taae_layout.json").read_text())


def _model(config: dict):
    result = validate_data(config)
    assert result.spec is not None, [f"{d.code.id}: {d.message}" for d in result.diagnostics]
    return result.spec, build_model(result.spec).eval()


def test_taae_layout_matches_the_reference() -> None:
    _, model = _model(LAYOUT["config"])
    actual = {key: list(tensor.shape) for key, tensor in model.state_dict().items()}
    assert sorted(set(LAYOUT["state_dict"]) - set(actual)) == []
    assert sorted(set(actual) - set(LAYOUT["state_dict"])) == []
    assert {k: v for k, v in actual.items() if LAYOUT["state_dict"][k] != v} == {}
    assert sum(p.numel() for p in model.parameters()) == LAYOUT["num_parameters"]


def test_compiler_counts_what_is_built() -> None:
    spec, model = _model(LAYOUT["config"])
    counts = count_model(spec)
    for prefix in ("encoder.", "decoder."):
        built = sum(t.numel() for k, t in model.state_dict().items() if k.startswith(prefix))
        trainable = sum(p.numel() for k, p in model.named_parameters() if k.startswith(prefix))
        count = counts.parts[prefix]
        assert (count.params, count.params + count.buffers) == (trainable, built), prefix


def test_taae_round_trip_shapes_with_snake_at_equal_widths() -> None:
    config = copy.deepcopy(LAYOUT["config"])
    for stage in ("encoder", "decoder"):
        config["model"][stage]["config"].update(
            use_snake=True, c_mults=[1, 1], use_dilated_conv=False, conformer=False, layer_scale=False
        )
    _, model = _model(config)
    audio = torch.randn(2, 1, 32)
    with torch.no_grad():
        latents = model.encode(audio)
        assert latents.shape == (2, 4, 8)  # 32 samples / (2 x 2)
        assert model.decode(latents).shape == (2, 1, 32)
