"""LoRA end to end on the toy model: only adapters train (every other weight bit-identical after several optimizer
steps), a run exports small adapter-only files, merging gives the same samples as applying the adapters, and
adapters are refused on other base weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from toy_run import TINY_MODEL, merge, options, write_configs

from audiodiff.cli.ckpt import run_export, run_inspect
from audiodiff.compiler.materialize import build_model
from audiodiff.compiler.memory import estimate_for_graph
from audiodiff.compiler.pipeline import check_file, check_text
from audiodiff.nn.lora import adapters
from audiodiff.runtime.adapters import (
    attach_for_training,
    fingerprint,
    is_adapter_file,
    model_fingerprint,
    read_adapters,
    write_adapters,
)
from audiodiff.runtime.checkpoints import read_checkpoint, released_state_dict, write_released
from audiodiff.runtime.data import AudioDataset, StreamBatchSampler, make_loader, scan_audio
from audiodiff.runtime.generate import SampleRequest, generate, plan
from audiodiff.runtime.loading import LoadRefused, load_model, resolve_source
from audiodiff.runtime.optim import build_optimizer
from audiodiff.runtime.run import run
from audiodiff.runtime.training import DiffusionTrainer, TrainingSettings
from audiodiff.schema.versions import LATEST_VERSION

LORA = {"rank": 4, "alpha": 8, "target_modules": ["*attn.to_*", "ff.ff.*"]}
PATCH = {"training": {"lora": LORA}}


def _lora_model(tmp_path: Path, seed: int = 0):
    model_path, _ = write_configs(tmp_path, PATCH)
    spec = check_file(model_path).spec
    torch.manual_seed(seed)
    model = build_model(spec)
    attach_for_training(model, spec)
    return spec, model, model_path


def test_only_adapters_train_and_every_other_weight_stays_bit_identical(tmp_path: Path) -> None:
    spec, model, _ = _lora_model(tmp_path)
    before = {name: value.clone() for name, value in model.state_dict().items()}
    trainer = DiffusionTrainer(
        model, TrainingSettings.from_spec(spec, seed=3), optimizer_factory=lambda p: build_optimizer(spec.training, p)
    )
    optimizer, _ = build_optimizer(spec.training, model.parameters())
    optimized = {id(p) for group in optimizer.param_groups for p in group["params"]}
    named = dict(model.named_parameters())
    assert optimized == {id(p) for name, p in named.items() if name.endswith((".lora_A", ".lora_B"))}
    files = scan_audio(tmp_path / "clips", "clips").files
    dataset = AudioDataset(
        files, sample_rate=spec.sample_rate, sample_size=spec.sample_size, channels=1, random_crop=True, seed=3
    )
    loader = make_loader(dataset, StreamBatchSampler(len(files), 4, seed=3), num_workers=0)
    ema = trainer.diffusion_ema
    assert ema is not None  # the toy config keeps an EMA copy: it shares the frozen base and averages the adapters
    for name, parameter in model.model.named_parameters():
        assert (ema.ema_model.get_parameter(name) is parameter) == (not name.endswith((".lora_A", ".lora_B"))), name
    for _, batch in zip(range(3), loader, strict=False):
        loss, _, _ = trainer.compute_loss(batch, batch_number=batch.batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        ema.update()
    after = model.state_dict()
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    adapter_keys = {name for name in before if name.endswith((".lora_A", ".lora_B"))}
    assert changed and changed <= adapter_keys  # nothing else moved by a single bit
    assert any(name.endswith(".lora_B") for name in changed)  # B left zero: the update is live
    assert len(adapters(model)) == 7  # self-attn qkv/out, cross q/kv/out, the two feed-forward layers


@pytest.mark.slow
def test_a_lora_run_exports_small_adapter_files_on_a_frozen_base(tmp_path: Path) -> None:
    model_path, dataset_path = write_configs(tmp_path, PATCH)
    outcome = run(options(model_path, dataset_path, tmp_path / "run", max_steps=4), echo=lambda text: None)
    assert outcome.steps == 4 and outcome.exported is not None and is_adapter_file(outcome.exported)
    adapter = read_adapters(outcome.exported)
    full = read_checkpoint(outcome.checkpoint)  # the Lightning checkpoint: base + adapters (EMA backbone)
    full_bytes = sum(value.numel() * 4 for key, value in full.state_dict.items() if "lora_" not in key)
    assert adapter.rank == 4 and adapter.scale == 2.0 and len(adapter.layers) == 7
    assert outcome.exported.stat().st_size < full_bytes / 3  # small even on a model this tiny
    assert adapter.params * 4 < full_bytes / 10
    # the base is frozen: the step-2 and step-4 checkpoints hold identical non-adapter weights, other adapters
    early = torch.load(outcome.checkpoint.with_name("step_0000002.ckpt"), weights_only=True)["state_dict"]
    late = torch.load(outcome.checkpoint, weights_only=True)["state_dict"]
    online = [key for key in late if key.startswith("diffusion.")]
    assert all(torch.equal(early[key], late[key]) for key in online if "lora_" not in key)
    assert any(not torch.equal(early[key], late[key]) for key in online if key.endswith("lora_B"))
    base = {k: v for k, v in full.state_dict.items() if "lora_" not in k}
    assert adapter.base_fingerprint == fingerprint(base)
    # the run's own checkpoint samples as its base with the exported adapters applied
    base_path = tmp_path / "base.safetensors"
    write_released(base_path, base, config=full.config, schema_version=LATEST_VERSION)
    direct = _sample(model_path, outcome.checkpoint)
    torch.testing.assert_close(direct, _sample(model_path, base_path, lora=outcome.exported), rtol=1e-4, atol=1e-4)
    # a resume restores adapters, optimizer and the EMA that shares the frozen base, which still does not move
    resumed = run(options(model_path, dataset_path, tmp_path / "run", max_steps=6, resume=True), echo=lambda t: None)
    final = torch.load(resumed.checkpoint, weights_only=True)["state_dict"]
    assert resumed.steps == 6 and int(final["diffusion_ema.step"].item()) == 6
    assert all(
        torch.equal(early[key], final[key])
        for key in final
        if key.startswith("diffusion")
        and "lora_" not in key
        and key in early
        and "ema.step" not in key
        and "initted" not in key
    )
    assert read_adapters(resumed.exported).base_fingerprint == adapter.base_fingerprint


def _base_and_adapter(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A base model file (released layout, with its config) and a trained-looking adapter file for it."""
    _, model, model_path = _lora_model(tmp_path)
    config = json.loads(model_path.read_text())
    base_state = {k: v for k, v in released_state_dict(model).items() if "lora_" not in k}
    base_path = tmp_path / "base.safetensors"
    write_released(base_path, base_state, config=config, schema_version=LATEST_VERSION)
    torch.manual_seed(1)
    with torch.no_grad():
        for layer in adapters(model).values():
            layer.lora_B.normal_(std=0.2)  # as if trained
    adapter_path = tmp_path / "adapter.safetensors"
    write_adapters(adapter_path, released_state_dict(model), scale=2.0, config=config, schema_version=LATEST_VERSION)
    return model_path, base_path, adapter_path


def _sample(config: Path, ckpt: Path, lora: Path | None = None) -> torch.Tensor:
    source = resolve_source(config, ckpt)
    model = load_model(source, allow_partial=False, t5_path=None, lora=lora)
    request = SampleRequest(seconds=0.128, steps=4, cfg_scale=3.0, seed=5, cond={"class": "tone"})
    return generate(model, source.spec, request, plan(source.spec, request))


def test_merged_export_samples_like_the_applied_adapters(tmp_path: Path, capsys) -> None:
    model_path, base_path, adapter_path = _base_and_adapter(tmp_path)
    merged_path = tmp_path / "merged.safetensors"
    assert run_export(base_path, out=merged_path, no_ema=False, force=False, merge=adapter_path) == 0
    assert "7 LoRA adapters" in capsys.readouterr().out
    plain = _sample(model_path, base_path)
    applied = _sample(model_path, base_path, lora=adapter_path)
    merged = _sample(model_path, merged_path)
    assert not torch.allclose(applied, plain, atol=1e-3)  # the adapters do change the output
    torch.testing.assert_close(merged, applied, rtol=1e-4, atol=1e-4)
    assert "lora" not in json.dumps(read_checkpoint(merged_path, header_only=True).config["training"])


def test_adapters_are_refused_on_other_base_weights(tmp_path: Path, capsys) -> None:
    model_path, base_path, adapter_path = _base_and_adapter(tmp_path)
    state = read_checkpoint(base_path).state_dict
    key = next(k for k in state if k.endswith("self_attn.to_qkv.weight"))
    state[key] = state[key] + 1e-3  # another fine-tune of the same architecture
    other = tmp_path / "other.safetensors"
    write_released(other, state, config=json.loads(model_path.read_text()), schema_version=LATEST_VERSION)
    with pytest.raises(LoadRefused) as refused:
        load_model(resolve_source(model_path, other), allow_partial=False, t5_path=None, lora=adapter_path)
    assert [d.code.id for d in refused.value.diagnostics] == ["AD850"]
    assert "fingerprint" in refused.value.diagnostics[0].message
    merged = tmp_path / "m.safetensors"
    assert run_export(other, out=merged, no_ema=False, force=False, merge=adapter_path) == 1
    assert "AD850" in capsys.readouterr().err and not merged.exists()


def test_adapter_files_are_told_apart_from_models(tmp_path: Path, capsys) -> None:
    model_path, base_path, adapter_path = _base_and_adapter(tmp_path)
    with pytest.raises(LoadRefused) as refused:
        resolve_source(model_path, adapter_path)
    assert refused.value.diagnostics[0].code.id == "AD851" and "--lora" in (refused.value.diagnostics[0].help or "")
    with pytest.raises(LoadRefused) as refused:
        load_model(resolve_source(model_path, base_path), allow_partial=False, t5_path=None, lora=base_path)
    assert refused.value.diagnostics[0].code.id == "AD851"
    capsys.readouterr()
    assert run_inspect(adapter_path, format="json") == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["kind"] == "lora-adapters" and summary["layers"] == 7 and summary["rank"] == 4
    fingerprint = model_fingerprint(
        load_model(resolve_source(model_path, base_path), allow_partial=False, t5_path=None)
    )
    assert summary["base_fingerprint"] == fingerprint


def test_the_lora_section_compiles_torch_free_with_its_counts() -> None:
    config = merge(TINY_MODEL, PATCH)
    check = check_text(json.dumps(config), "lora.json")
    quantities = {q.name: q.value for q in check.graph.quantities}
    node = check.graph.node("training.lora")
    assert node is not None and node.params == quantities["lora_trainable_params"]
    assert quantities["lora_layers"] == 7 and quantities["lora_frozen_params"] == check.graph.total_params
    assert 0 < quantities["lora_trainable_fraction"] < 100
    memory = estimate_for_graph(check.spec, check.graph, batch_size=2, precision="32")["training"]
    adapter_bytes = 4 * quantities["lora_trainable_params"]  # float32
    assert memory["gradients"] == memory["EMA copy"] == adapter_bytes and memory["optimizer state"] == 2 * adapter_bytes


@pytest.mark.slow
def test_a_lora_run_fine_tunes_the_weights_given_to_init(tmp_path: Path) -> None:
    """`--init BASE` with `training.lora`: adapters train on the loaded base, whose fingerprint the adapter file
    carries, so `sample --lora` accepts it on that base file (and the base weights are those of the file)."""
    model_path, dataset_path = write_configs(tmp_path, PATCH)
    config = json.loads(model_path.read_text())
    torch.manual_seed(11)
    base_model = build_model(check_file(model_path).spec)  # the base: no adapters
    base_state = released_state_dict(base_model)
    base_path = tmp_path / "base.safetensors"
    write_released(base_path, base_state, config=config, schema_version=LATEST_VERSION)
    outcome = run(
        options(model_path, dataset_path, tmp_path / "run", max_steps=2, init=(str(base_path),)), echo=lambda t: None
    )
    assert outcome.steps == 2 and outcome.exported is not None and is_adapter_file(outcome.exported)
    adapter = read_adapters(outcome.exported)
    assert adapter.base_fingerprint == fingerprint(read_checkpoint(base_path).state_dict)
    trained = read_checkpoint(outcome.checkpoint).state_dict
    for key, value in base_state.items():  # the loaded base did not move
        assert torch.equal(trained[key], value), key
    plain = _sample(model_path, base_path)
    applied = _sample(model_path, base_path, lora=outcome.exported)
    assert applied.shape == plain.shape and torch.isfinite(applied).all()
