"""Memory estimates (`audiodiff.compiler.memory`): how they scale and what each option adds, and that the analytic
compiler modules stay torch-free."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from audiodiff.compiler.memory import (
    MemoryEstimate,
    estimate_for_graph,
    estimate_memory,
    format_bytes,
    needs_gradient_checkpointing,
    training_settings,
)
from audiodiff.compiler.params import count_model
from audiodiff.schema.validate import validate_data

CONDITIONING = {
    "cond_dim": 32,
    "configs": [
        {"id": "prompt", "type": "number", "config": {}},
        {"id": "seconds_total", "type": "int", "config": {"min_val": 0, "max_val": 64}},
    ],
}
OOBLECK_VAE = {
    "type": "autoencoder",
    "config": {
        "encoder": {
            "type": "oobleck",
            "config": {
                "in_channels": 2,
                "channels": 8,
                "c_mults": [1, 2],
                "strides": [2, 4],
                "latent_dim": 16,
                "use_snake": True,
            },
        },
        "decoder": {
            "type": "oobleck",
            "config": {"out_channels": 2, "channels": 8, "c_mults": [1, 2], "strides": [2, 4], "latent_dim": 8},
        },
        "bottleneck": {"type": "vae"},
        "latent_dim": 8,
        "downsampling_ratio": 8,
        "io_channels": 2,
    },
}

CONFIGS: dict[str, dict[str, Any]] = {
    "dit": {
        "model_type": "diffusion_cond",
        "sample_rate": 8000,
        "sample_size": 2048,
        "model": {
            "io_channels": 8,
            "conditioning": CONDITIONING,
            "pretransform": OOBLECK_VAE,
            "diffusion": {
                "type": "dit",
                "cross_attention_cond_ids": ["prompt", "seconds_total"],
                "global_cond_ids": ["seconds_total"],
                "config": {
                    "io_channels": 8,
                    "embed_dim": 128,
                    "depth": 3,
                    "num_heads": 2,
                    "cond_token_dim": 32,
                    "global_cond_dim": 32,
                },
            },
        },
    },
    "adp_cfg_1d": {
        "model_type": "diffusion_cond",
        "sample_rate": 8000,
        "sample_size": 256,
        "model": {
            "io_channels": 8,
            "conditioning": CONDITIONING,
            "diffusion": {
                "type": "adp_cfg_1d",
                "cross_attention_cond_ids": ["prompt", "seconds_total"],
                "config": {
                    "in_channels": 8,
                    "channels": 32,
                    "multipliers": [1, 2, 2],
                    "factors": [2, 2],
                    "num_blocks": [1, 1],
                    "attentions": [0, 1, 1],
                    "attention_heads": 2,
                    "attention_multiplier": 2,
                    "context_embedding_features": 32,
                    "context_embedding_max_length": 2,
                },
            },
        },
    },
    "DAU1d": {
        "model_type": "diffusion_uncond",
        "sample_rate": 8000,
        "sample_size": 512,
        "model": {
            "type": "DAU1d",
            "config": {"io_channels": 2, "depth": 4, "n_attn_layers": 2, "channels": [32, 32, 64, 64]},
        },
    },
    "autoencoder": {
        "model_type": "autoencoder",
        "sample_rate": 8000,
        "sample_size": 1024,
        "model": OOBLECK_VAE["config"],
    },
}


def _spec(name: str, **changes: Any) -> Any:
    data = json.loads(json.dumps(CONFIGS[name]))
    data.update(changes)
    result = validate_data(data)
    assert result.spec is not None, [d.message for d in result.diagnostics]
    return result.spec


def _estimate(name: str, **options: Any) -> MemoryEstimate:
    settings = {
        "batch_size": 2,
        "precision": "32",
        "optimizer": "AdamW",
        "use_ema": True,
        "gradient_checkpointing": False,
    }
    settings.update(options)
    return estimate_memory(_spec(name), **settings)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_memory_grows_with_batch_size(name: str) -> None:
    estimates = [_estimate(name, batch_size=batch) for batch in (1, 2, 4, 8)]
    for smaller, larger in zip(estimates, estimates[1:]):
        assert larger.training.total > smaller.training.total
        assert larger.inference.total > smaller.inference.total
        assert larger.training.bytes_of("activations") > smaller.training.bytes_of("activations")
        # parameters, gradients and optimizer state do not depend on the batch
        assert larger.training.resident == smaller.training.resident


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_gradient_checkpointing_reduces_activations(name: str) -> None:
    plain = _estimate(name, batch_size=4)
    checked = _estimate(name, batch_size=4, gradient_checkpointing=True)
    assert checked.training.bytes_of("activations") < plain.training.bytes_of("activations")
    assert checked.training_total_checked == checked.training.total
    assert plain.training_total_unchecked == plain.training.total
    assert checked.training_total_unchecked == plain.training.total


@pytest.mark.parametrize("name", ["dit", "adp_cfg_1d", "DAU1d"])
def test_ema_adds_one_copy_of_the_backbone(name: str) -> None:
    counts = count_model(_spec(name))
    with_ema, without = _estimate(name, use_ema=True), _estimate(name, use_ema=False)
    assert with_ema.training.total - without.training.total == counts.backbone_count.params * 4
    half = _estimate(name, use_ema=True, precision="bf16-true").training.bytes_of("EMA copy")
    assert half == counts.backbone_count.params * 2


def test_autoencoder_models_have_no_ema_line() -> None:
    assert _estimate("autoencoder", use_ema=True).training.bytes_of("EMA copy") == 0


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_optimizer_state_is_per_trainable_parameter(name: str) -> None:
    trainable = count_model(_spec(name)).trainable_count.params
    assert _estimate(name, optimizer="AdamW").training.bytes_of("optimizer state") == 2 * 4 * trainable
    assert _estimate(name, optimizer="Adam").training.bytes_of("optimizer state") == 2 * 4 * trainable
    assert _estimate(name, optimizer="SGD").training.bytes_of("optimizer state") == 4 * trainable
    assert _estimate(name, optimizer="SGD", optimizer_states=0).training.bytes_of("optimizer state") == 0
    assert _estimate(name).training.bytes_of("gradients") == 4 * trainable
    difference = _estimate(name, optimizer="AdamW").training.total - _estimate(name, optimizer="SGD").training.total
    assert difference == 4 * trainable


def test_a_frozen_pretransform_gets_no_gradients_or_optimizer_state() -> None:
    counts = count_model(_spec("dit"))
    pretransform = counts.parts["pretransform."].params
    assert pretransform > 0 and "pretransform." not in counts.trainable
    estimate = _estimate("dit")
    assert estimate.training.bytes_of("parameters") == 4 * (counts.total.params + counts.total.buffers)
    assert estimate.training.bytes_of("gradients") == 4 * (counts.total.params - pretransform)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_bf16_halves_parameter_bytes_for_inference(name: str) -> None:
    full = _estimate(name, precision="32").inference.bytes_of("parameters")
    assert full > 0
    assert _estimate(name, precision="bf16-mixed").inference.bytes_of("parameters") * 2 == full
    assert _estimate(name, precision="16-true").inference.bytes_of("parameters") * 2 == full


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_mixed_precision_keeps_fp32_weights_and_halves_activations(name: str) -> None:
    full, mixed = _estimate(name, precision="32"), _estimate(name, precision="bf16-mixed")
    assert mixed.training.bytes_of("parameters") == full.training.bytes_of("parameters")
    assert mixed.training.bytes_of("activations") * 2 == full.training.bytes_of("activations")
    trainable = count_model(_spec(name)).trainable_count.params
    assert mixed.training.bytes_of("autocast weight copies") == 2 * trainable
    assert full.training.bytes_of("autocast weight copies") == 0


@pytest.mark.parametrize("name", ["dit", "adp_cfg_1d", "DAU1d"])
def test_unfused_attention_adds_a_quadratic_term(name: str) -> None:
    fused = _estimate(name, fused_attention=True).training.bytes_of("activations")
    unfused = _estimate(name, fused_attention=False).training.bytes_of("activations")
    assert unfused > fused
    longer = _spec(name, sample_size=2 * CONFIGS[name]["sample_size"])
    settings = {"batch_size": 2, "precision": "32", "use_ema": False, "optimizer": "AdamW"}

    def activations(spec: Any, fused_kernel: bool) -> int:
        return estimate_memory(spec, fused_attention=fused_kernel, **settings).training.bytes_of("activations")

    growth_fused = activations(longer, True) / fused
    growth_unfused = activations(longer, False) / unfused
    assert growth_fused < 2.1  # linear in length (up to the global token)
    assert growth_unfused > growth_fused


def test_cfg_doubles_the_inference_batch_of_guided_backbones() -> None:
    unguided = json.loads(json.dumps(CONFIGS["dit"]))
    unguided["model"]["diffusion"]["cross_attention_cond_ids"] = []  # no cross-attention or prepend ids: no CFG
    spec = validate_data(unguided).spec
    settings = {"precision": "32", "optimizer": "AdamW", "use_ema": True}
    plain = estimate_memory(spec, batch_size=4, **settings).inference.bytes_of("activations")
    assert _estimate("dit", batch_size=2).inference.bytes_of("activations") == plain
    assert "doubled batch" in " ".join(_estimate("dit").assumptions)
    assert "doubled batch" not in " ".join(_estimate("DAU1d").assumptions)


def test_pre_encoded_training_drops_the_encode_phase() -> None:
    encoding = _estimate("dit")
    assert encoding.training.bytes_of("pretransform encode") > 0
    pre_encoded = _estimate("dit", pre_encoded=True)
    assert pre_encoded.training.bytes_of("pretransform encode") == 0
    from_spec = estimate_memory(_spec("dit", training={"learning_rate": 1e-4, "pre_encoded": True}), batch_size=2)
    assert from_spec.training.bytes_of("pretransform encode") == 0
    assert encoding.inference.bytes_of("pretransform decode") > 0
    # the phases do not overlap: the total adds only the larger of encode and activations
    transient = max(encoding.training.bytes_of("pretransform encode"), encoding.training.bytes_of("activations"))
    assert encoding.training.total == encoding.training.resident + transient


def test_needs_gradient_checkpointing_compares_the_unchecked_total_with_the_budget() -> None:
    estimate = _estimate("dit", batch_size=8)
    assert estimate.training_total_checked < estimate.training_total_unchecked
    between = (estimate.training_total_checked + estimate.training_total_unchecked) // 2
    assert needs_gradient_checkpointing(estimate, between)
    assert not needs_gradient_checkpointing(estimate, estimate.training_total_unchecked)
    checked = _estimate("dit", batch_size=8, gradient_checkpointing=True)
    assert needs_gradient_checkpointing(checked, between)  # the answer does not depend on the estimate's own setting


def test_every_line_explains_itself_and_serialises() -> None:
    estimate = _estimate("dit", precision="bf16-mixed")
    document = json.loads(json.dumps(estimate.to_dict()))
    assert document["training"]["total"] == estimate.training.total
    for line in estimate.training.lines + estimate.inference.lines:
        assert line.bytes >= 0 and "×" in line.derivation
    assert format_bytes(3 * 1024**3) == "3.00 GiB" and format_bytes(12) == "12 B"


def _optimizer(kind: str, **config: Any) -> dict[str, Any]:
    return {"learning_rate": 1e-4, "optimizer_configs": {"diffusion": {"optimizer": {"type": kind, "config": config}}}}


def test_training_settings_follow_the_training_section() -> None:
    assert training_settings(_spec("dit")) == ("Adam", 2, True)  # no training section: Adam, EMA on
    assert training_settings(_spec("autoencoder")) == ("Adam", 2, False)
    assert training_settings(_spec("dit", training={"learning_rate": 1e-4, "use_ema": False})) == ("Adam", 2, False)
    assert training_settings(_spec("dit", training=_optimizer("AdamW", lr=1e-4, amsgrad=True)))[:2] == ("AdamW", 3)
    assert training_settings(_spec("dit", training=_optimizer("SGD", lr=1e-2)))[:2] == ("SGD", 0)
    assert training_settings(_spec("dit", training=_optimizer("SGD", lr=1e-2, momentum=0.9)))[:2] == ("SGD", 1)


def test_the_explain_summary_matches_the_estimate() -> None:
    from audiodiff.compiler.lower import lower_spec

    spec = _spec("dit", training=_optimizer("SGD", lr=1e-2, momentum=0.9))
    graph = lower_spec(spec).graph
    summary = estimate_for_graph(spec, graph, batch_size=3, precision="bf16-mixed")
    estimate = estimate_memory(spec, batch_size=3, precision="bf16-mixed", optimizer="SGD", use_ema=True)
    assert summary["training"]["total"] == estimate.training.total
    assert summary["inference"]["total"] == estimate.inference.total
    assert summary["training"]["optimizer state"] == estimate.training.bytes_of("optimizer state")
    assert summary["training_with_checkpointing"] == estimate.training_total_checked
    assert set(summary["derivations"]["training"]) == {line.name for line in estimate.training.lines}
    json.dumps(summary)
    with pytest.raises(ValueError, match="graph"):
        estimate_for_graph(spec, lower_spec(_spec("adp_cfg_1d")).graph, batch_size=3, precision="32")


def test_bad_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="precision"):
        _estimate("dit", precision="fp8")
    with pytest.raises(ValueError, match="optimizer"):
        _estimate("dit", optimizer="Lion")
    with pytest.raises(ValueError, match="batch_size"):
        _estimate("dit", batch_size=0)


def test_params_and_memory_do_not_import_torch() -> None:
    program = (
        "import sys, json\n"
        "import audiodiff.compiler.params as params, audiodiff.compiler.memory as memory\n"
        "from audiodiff.schema.validate import validate_data\n"
        f"spec = validate_data(json.loads({json.dumps(json.dumps(CONFIGS['dit']))})).spec\n"
        "memory.estimate_memory(spec, batch_size=2, precision='bf16-mixed')\n"
        "params.count_model(spec)\n"
        "print(sorted(name for name in sys.modules if name == 'torch' or name.startswith('torch.')))\n"
    )
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def _saved_bytes(module: Any, *inputs: Any) -> int:
    """Bytes autograd keeps for backward in one forward (distinct storages, via saved-tensor hooks)."""
    torch = pytest.importorskip("torch")
    storages: dict[tuple[int, Any], int] = {}

    def pack(tensor: Any) -> Any:
        storage = tensor.untyped_storage()
        storages[(storage.data_ptr(), tensor.dtype)] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        module(*inputs)
    return sum(storages.values())


UNCOND_BACKBONES = {
    "dit": ({"type": "dit", "config": {"in_channels": 8, "embed_dim": 128, "depth": 3, "num_heads": 2}}, 8),
    "adp_1d": (
        {
            "type": "adp_1d",
            "config": {
                "in_channels": 4,
                "channels": 32,
                "multipliers": [1, 2, 2],
                "factors": [2, 2],
                "num_blocks": [1, 2],
                "attentions": [0, 0, 0],
            },
        },
        4,
    ),
    "DAU1d": (
        {"type": "DAU1d", "config": {"io_channels": 2, "depth": 4, "n_attn_layers": 0, "channels": [32, 32, 64, 64]}},
        2,
    ),
}


@pytest.mark.parametrize("name", sorted(UNCOND_BACKBONES))
def test_activation_model_is_within_a_third_of_what_autograd_saves(name: str) -> None:
    torch = pytest.importorskip("torch")
    model, channels = UNCOND_BACKBONES[name]
    spec = validate_data(
        {"model_type": "diffusion_uncond", "sample_rate": 8000, "sample_size": 1024, "model": model}
    ).spec
    config = spec.model.config
    torch.manual_seed(0)
    if name == "dit":
        module = pytest.importorskip("audiodiff.nn.dit").DiffusionTransformer(
            io_channels=8, embed_dim=128, depth=3, num_heads=2
        )
    elif name == "adp_1d":
        module = pytest.importorskip("audiodiff.nn.unet1d").UNet1d(
            in_channels=4, channels=32, multipliers=(1, 2, 2), factors=(2, 2), num_blocks=(1, 2), attentions=(0, 0, 0)
        )
    else:
        module = pytest.importorskip("audiodiff.nn.dau1d").DAU1d(**config.model_dump(exclude={"global_cond_dim"}))
    measured = _saved_bytes(module, torch.randn(2, channels, 1024), torch.rand(2))
    estimated = estimate_memory(spec, batch_size=2, use_ema=False).training.bytes_of("activations")
    assert 0.7 < estimated / measured < 1.4
