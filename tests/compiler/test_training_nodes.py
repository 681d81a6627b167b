"""An autoencoder's graph shows its training: the discriminator with an analytic parameter count equal to the built
module's, and every weighted loss term, the same terms the runtime trains with. The model's total leaves them out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from audiodiff.compiler.facts import LossFacts
from audiodiff.compiler.lower import lower_spec
from audiodiff.compiler.lower_training import loss_terms
from audiodiff.compiler.pipeline import check_text
from audiodiff.compiler.registry import lookup

REPO = Path(__file__).resolve().parents[2]
TOY = json.loads((REPO / "examples" / "toy_vae.json").read_text())


def _spec(patch: dict | None = None, *, stereo: bool = False, bottleneck: str = "vae"):
    document = json.loads(json.dumps(TOY))
    if stereo:
        document["audio_channels"] = document["model"]["io_channels"] = 2
        document["model"]["encoder"]["config"]["in_channels"] = 2
        document["model"]["decoder"]["config"]["out_channels"] = 2
    if bottleneck == "wasserstein":
        document["model"]["bottleneck"] = {"type": "wasserstein"}
        document["model"]["encoder"]["config"]["latent_dim"] = 8
        document["training"]["loss_configs"]["bottleneck"] = {"type": "mmd", "weights": {"mmd": 10.0}}
    for key, value in (patch or {}).items():
        document["training"]["loss_configs"][key] = value
    check = check_text(json.dumps(document), "toy.json")
    assert check.spec is not None, [str(d) for d in check.diagnostics]
    return check.spec


DISCRIMINATORS = {
    "encodec": {
        "type": "encodec",
        "config": {
            "filters": 6,
            "n_ffts": [256, 64],
            "hop_lengths": [64, 16],
            "win_lengths": [256, 64],
            "dilations": [1, 2],
        },
    },
    "oobleck_stereo": {"type": "oobleck", "config": {"in_channels": 2}},
    "dac": {"type": "dac", "config": {"periods": [2, 3], "fft_sizes": [256]}},
}


@pytest.mark.parametrize("name", sorted(DISCRIMINATORS))
def test_discriminator_counts_match_the_built_module(name: str) -> None:
    from audiodiff.runtime.autoencoder_losses import build_discriminator

    stereo = name.endswith("stereo")
    spec = _spec({"discriminator": DISCRIMINATORS[name]}, stereo=stereo)
    discriminator = spec.training.loss_configs.discriminator
    with torch.device("meta"):
        module = build_discriminator(discriminator, channels=2 if stereo else 1)
    assert lookup("discriminator", discriminator.type).counter(discriminator, 2 if stereo else 1) == sum(
        p.numel() for p in module.parameters()
    )


@pytest.mark.parametrize(("stereo", "bottleneck"), [(False, "vae"), (True, "vae"), (False, "wasserstein")])
def test_the_graph_lists_the_terms_the_runtime_trains(stereo: bool, bottleneck: str) -> None:
    from audiodiff.runtime.autoencoder_losses import AutoencoderLosses

    spec = _spec(stereo=stereo, bottleneck=bottleneck)
    losses = AutoencoderLosses(
        spec.training.loss_configs,
        channels=2 if stereo else 1,
        sample_rate=spec.sample_rate,
        bottleneck_type=spec.model.bottleneck.type,
    )
    assert [(name, weight) for name, _, weight, _ in loss_terms(spec)] == [(t.name, t.weight) for t in losses.terms]


def test_training_nodes_stay_out_of_the_model_total() -> None:
    graph = lower_spec(_spec()).graph
    discriminator = graph.node("training.discriminator")
    assert discriminator is not None and discriminator.params and discriminator.params > 0
    model = sum(node.params for node in graph.nodes if node.kind in ("encoder", "bottleneck", "decoder"))
    assert graph.total_params == model
    weights = {node.id: node.facts.weight for node in graph.nodes_of("loss") if isinstance(node.facts, LossFacts)}
    assert weights["training.loss.loss_adv"] == 0.1 and weights["training.loss.kl_loss"] == 1e-4
