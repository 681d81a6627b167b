"""The graph IR: deterministic node order, route order as layout, JSON round trip, and the derived quantities."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from shared_paths import CORPUS as SHARED_CORPUS

from audiodiff.compiler.graph import Graph
from audiodiff.compiler.pipeline import check_file
from audiodiff.schema.routes import CROSS_ATTENTION, GLOBAL

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "toy_dit.json"
VALID = sorted(path for path in (ROOT / "tests" / "corpus" / "valid").glob("*") if "model_type" in path.read_text())


@pytest.mark.parametrize("path", [EXAMPLE, *VALID], ids=lambda p: p.name)
def test_json_round_trip(path: Path) -> None:
    check = check_file(path, check_paths=False)
    assert check.graph is not None, [d.message for d in check.diagnostics]
    data = check.graph.to_json()
    assert Graph.from_json(json.loads(json.dumps(data))).to_json() == data
    assert Graph.from_json(data) == check.graph


def test_node_order_and_routes_follow_the_config() -> None:
    graph = check_file(EXAMPLE, check_paths=False).graph
    assert [node.id for node in graph.nodes] == [
        "pretransform",
        "conditioning.class",
        "conditioning.seconds_start",
        "conditioning.seconds_total",
        "diffusion.backbone",
        "diffusion.objective",
    ]
    cross = [edge.source_node for edge in graph.route_edges(CROSS_ATTENTION)]
    assert cross == ["conditioning.class", "conditioning.seconds_start", "conditioning.seconds_total"]
    assert list(graph.route_edges(GLOBAL)) == []  # the class rides cross-attention only, which guidance drops


def test_routing_order_is_layout(tmp_path: Path) -> None:
    config = json.loads(EXAMPLE.read_text())
    config["model"]["diffusion"]["global_cond_ids"] = ["seconds_total", "seconds_start"]  # the reverse of the usual
    config["model"]["diffusion"]["config"]["global_cond_dim"] = 128
    path = tmp_path / "reversed.json"
    path.write_text(json.dumps(config))
    graph = check_file(path, check_paths=False).graph
    assert [e.source_node for e in graph.route_edges(GLOBAL)] == [
        "conditioning.seconds_total",
        "conditioning.seconds_start",
    ]
    origins = [edge.origin for edge in graph.route_edges(GLOBAL)]
    assert origins == ["/model/diffusion/global_cond_ids/0", "/model/diffusion/global_cond_ids/1"]


def test_derived_quantities_of_the_example() -> None:
    graph = check_file(EXAMPLE, check_paths=False).graph
    values = {q.name: q.value for q in graph.quantities}
    config = json.loads(EXAMPLE.read_text())
    ratio = config["model"]["pretransform"]["config"]["patch_size"]
    assert values["downsampling_ratio"] == ratio
    assert values["latent_length"] == config["sample_size"] // ratio
    assert values["latent_rate"] == config["sample_rate"] / ratio
    demo = config["training"]["demo"]
    expected = demo["num_demos"] * len(demo["demo_cfg_scales"]) * config["sample_size"] / config["sample_rate"]
    assert values["demo_audio_per_round"] == pytest.approx(expected)


def test_symbolic_shapes_of_the_stable_audio_layout() -> None:
    shared = SHARED_CORPUS / "txt2audio__stable_audio_2_0.json"
    if not shared.is_file():
        pytest.skip("shared corpus absent")
    graph = check_file(shared, check_paths=False).graph
    encoder = graph.node("pretransform.encoder")
    assert encoder.inputs[0].shape == ("B", 2, "T") and encoder.outputs[0].shape == ("B", 128, "T/2048")
    backbone = graph.node("diffusion.backbone")
    assert backbone.input("x").shape == ("B", 64, "T/2048")
    assert backbone.input("global_cond").shape == ("B", 1536)
    assert graph.total_params == 1_213_337_602
