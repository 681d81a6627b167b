"""`run --init`: a new run from released, Lightning-wrapped and exported checkpoints, checked part by part on the
meta device before anything is built; refused unless complete, `--allow-partial` goes on and lists what is random."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from toy_run import TINY_AUTOENCODER, TINY_MODEL, merge, options, write_configs

from audiodiff.compiler.materialize import build_model
from audiodiff.compiler.pipeline import check_file
from audiodiff.runtime.init_weights import convert_weight_norm
from audiodiff.runtime.run import RunError, prepare, run

# the toy model with an oobleck VAE pretransform: all three released prefixes, weight_g / weight_v in the VAE
WITH_VAE = {
    "model": {
        "io_channels": 8,
        "pretransform": {"type": "autoencoder", "config": {**TINY_AUTOENCODER, "channels": None, "patch_size": None}},
        "diffusion": {"config": {"io_channels": 8}},
    }
}


def released_weights(config: Path, seed: int) -> dict[str, torch.Tensor]:
    """A model of `config` with seeded random weights, as the reference's released state dict."""
    torch.manual_seed(seed)
    model = build_model(check_file(config).spec)
    return {key: value.detach().clone() for key, value in model.state_dict().items()}


def lightning_file(path: Path, released: dict[str, torch.Tensor], ema_shift: float) -> None:
    """The reference's training checkpoint: `diffusion.*`, an EMA backbone that differs from the online one, loss
    buffers, counters and an optimizer state that a new run must not take over."""
    state = {f"diffusion.{key}": value for key, value in released.items()}
    for key, value in released.items():
        if key.startswith("model."):
            state[f"diffusion_ema.ema_model.{key.removeprefix('model.')}"] = value + ema_shift
    state["diffusion_ema.initted"] = torch.tensor([1.0])
    state["diffusion_ema.step"] = torch.tensor([77])
    state["losses.losses.0.weight"] = torch.tensor(1.0)
    torch.save({"state_dict": state, "global_step": 77, "optimizer_states": [{"state": {}}]}, path)


def _codes(error: RunError) -> list[str]:
    return [d.code.id for result in error.results for d in result.diagnostics]


def test_weight_norm_layouts_convert_both_ways() -> None:
    legacy = {"conv.weight_g": torch.ones(4, 1, 1), "conv.weight_v": torch.randn(4, 2, 3), "conv.bias": torch.zeros(4)}
    modern_names = ["conv.parametrizations.weight.original0", "conv.parametrizations.weight.original1", "conv.bias"]
    modern = convert_weight_norm(legacy, modern_names)
    assert sorted(modern) == sorted(modern_names)
    assert torch.equal(modern["conv.parametrizations.weight.original1"], legacy["conv.weight_v"])
    back = convert_weight_norm(modern, legacy)
    assert sorted(back) == sorted(legacy) and all(torch.equal(back[k], legacy[k]) for k in legacy)
    # torch's own parametrized conv agrees on names and shapes
    parametrized = torch.nn.utils.parametrizations.weight_norm(torch.nn.Conv1d(2, 4, 3))
    assert {k: tuple(v.shape) for k, v in parametrized.state_dict().items()} == {
        "bias": (4,),
        "parametrizations.weight.original0": (4, 1, 1),
        "parametrizations.weight.original1": (4, 2, 3),
    }
    # a folded weight (`--remove_pretransform_weight_norm`) splits into magnitude and direction
    folded = {"conv.weight": torch.randn(4, 2, 3), "conv.bias": torch.zeros(4)}
    split = convert_weight_norm(folded, legacy)
    assert split["conv.weight_g"].shape == (4, 1, 1) and torch.equal(split["conv.weight_v"], folded["conv.weight"])


@pytest.mark.slow
def test_fine_tune_from_a_released_checkpoint_with_all_three_prefixes(tmp_path: Path) -> None:
    model, dataset = write_configs(tmp_path, WITH_VAE)
    released = released_weights(model, seed=3)
    prefixes = {key.split(".", 1)[0] for key in released}
    assert prefixes == {"model", "conditioner", "pretransform"}
    assert any(key.endswith("weight_g") for key in released)  # the VAE's legacy weight norm
    reference = tmp_path / "released.ckpt"
    torch.save({"state_dict": released}, reference)  # the reference's released .ckpt: no config inside
    lines: list[str] = []
    outcome = run(options(model, dataset, tmp_path / "run", max_steps=2, init=(str(reference),)), echo=lines.append)
    assert outcome.steps == 2
    summary = "\n".join(lines)
    assert "init" in summary and "backbone" in summary and "pretransform" in summary, summary
    exported = _load(outcome.exported)
    for key, value in released.items():
        if key.startswith("pretransform."):
            assert torch.equal(exported[key], value), key  # frozen: exactly the file's
    torch.manual_seed(99)
    scratch = build_model(check_file(model).spec).state_dict()
    backbone = [key for key in released if key.startswith("model.") and released[key].is_floating_point()]
    moved = max(float((exported[key] - released[key]).abs().max()) for key in backbone)
    unrelated = max(float((scratch[key] - released[key]).abs().max()) for key in backbone)
    assert moved < 0.02 < unrelated  # two small steps away from the file's weights, nowhere near a fresh init


def _load(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path))


def test_lightning_checkpoint_serves_its_ema_backbone_and_the_ema_starts_from_it(tmp_path: Path) -> None:
    from audiodiff.runtime.launch import build_trainable_model
    from audiodiff.runtime.training import DiffusionTrainer, TrainingSettings

    model, dataset = write_configs(tmp_path, WITH_VAE)
    released = released_weights(model, seed=4)
    wrapped = tmp_path / "last.ckpt"
    lightning_file(wrapped, released, ema_shift=0.5)
    settings = options(model, dataset, tmp_path / "run", max_steps=1, init=(str(wrapped),))
    plan = prepare(settings)
    assert plan.init_report.complete and "EMA backbone" in plan.init_report.render()
    torch.manual_seed(0)
    built = build_trainable_model(
        plan.preflight.spec, settings, plan.preflight, gradient_checkpointing=False, init=plan.init
    )
    trainer = DiffusionTrainer(built, TrainingSettings(), optimizer_factory=lambda p: (torch.optim.Adam(p), None))
    ema = trainer.diffusion_ema.ema_model.state_dict()
    online = built.state_dict()
    for key, value in released.items():
        expected = value + 0.5 if key.startswith("model.") else value
        assert torch.equal(online[key], expected), key
        if key.startswith("model."):
            assert torch.equal(ema[key.removeprefix("model.")], expected), key  # the EMA starts from the loaded weights


@pytest.mark.slow
def test_a_lightning_init_is_a_fresh_run(tmp_path: Path) -> None:
    model, dataset = write_configs(tmp_path)
    released = released_weights(model, seed=5)
    wrapped = tmp_path / "last.ckpt"
    lightning_file(wrapped, released, ema_shift=0.0)
    outcome = run(options(model, dataset, tmp_path / "run", max_steps=1, init=(str(wrapped),)), echo=lambda text: None)
    payload = torch.load(outcome.checkpoint, weights_only=True)
    assert outcome.steps == 1 and payload["global_step"] == 1  # step 0 + 1, not the file's 77 + 1
    assert int(payload["state_dict"]["diffusion_ema.step"]) == 1  # the EMA counters start again too


def test_a_resized_config_is_refused_with_the_tensors_and_the_field(tmp_path: Path, monkeypatch) -> None:
    import audiodiff.runtime.launch as launch

    base, dataset = write_configs(tmp_path / "base")
    reference = tmp_path / "released.safetensors"
    save_file({k: v.contiguous() for k, v in released_weights(base, seed=6).items()}, str(reference))  # no config
    resized, _ = write_configs(tmp_path / "resized", {"model": {"diffusion": {"config": {"embed_dim": 48}}}})

    def no_build(*args, **kwargs):
        raise AssertionError("nothing may be built for real before the check")

    monkeypatch.setattr(launch, "build_trainable_model", no_build)
    with pytest.raises(RunError) as raised:
        run(options(resized, dataset, tmp_path / "run", max_steps=1, init=(str(reference),)))
    assert _codes(raised.value) == ["AD803"]
    message = raised.value.results[0].diagnostics[0].message
    assert "`backbone`" in message and "embed_dim" in message, message
    detail = raised.value.detail
    assert "shape mismatch: model.model.to_timestep_embed.0.weight model [48, 256] vs file [32, 256]" in detail
    assert "`/model/diffusion/config/embed_dim`: 48 in this config; the file's tensors fit 32" in detail, detail
    assert "conditioner" in detail and "pretransform" in detail  # every part is reported
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_an_embedded_config_names_the_fields_that_differ(tmp_path: Path) -> None:
    from audiodiff.runtime.checkpoints import write_released

    base, dataset = write_configs(tmp_path / "base")
    exported = tmp_path / "export.safetensors"
    config = merge(TINY_MODEL, {})
    write_released(exported, released_weights(base, seed=7), config=config, schema_version=1)
    resized, _ = write_configs(tmp_path / "resized", {"model": {"diffusion": {"config": {"embed_dim": 48}}}})
    with pytest.raises(RunError) as raised:
        prepare(options(resized, dataset, tmp_path / "run", max_steps=1, init=(str(exported),)))
    detail = raised.value.detail
    assert "`/model/diffusion/config/embed_dim`: 32 in the file's config, 48 here" in detail, detail
    assert "the config embedded in" in detail and "differs from this run's in 1 field(s)" in detail


@pytest.mark.slow
def test_allow_partial_goes_on_and_says_what_is_random(tmp_path: Path) -> None:
    base, dataset = write_configs(tmp_path / "base")
    reference = tmp_path / "released.safetensors"
    weights = released_weights(base, seed=8)
    save_file({k: v.contiguous() for k, v in weights.items()}, str(reference))
    resized, _ = write_configs(tmp_path / "resized", {"model": {"diffusion": {"config": {"embed_dim": 48}}}})
    lines: list[str] = []
    outcome = run(
        options(resized, dataset, tmp_path / "run", max_steps=1, init=(str(reference),), allow_partial=True),
        echo=lines.append,
    )
    summary = "\n".join(lines)
    assert outcome.steps == 1
    assert "PARTIAL" in summary and "model.model.to_timestep_embed.0.weight" in summary and "(starts random)" in summary
    exported = _load(outcome.exported)
    key = "conditioner.conditioners.class.embedder.weight"  # a part that fits is loaded all the same
    assert float((exported[key] - weights[key]).abs().max()) < 0.02


def test_init_usage_mistakes_are_reported_on_the_command_line(tmp_path: Path) -> None:
    model, dataset = write_configs(tmp_path)
    weights = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in released_weights(model, seed=9).items()}, str(weights))
    cases = [
        dict(init=(f"encoder={weights}",)),  # an autoencoder part, on a diffusion model
        dict(init=(f"backbone={weights}", f"backbone={weights}")),
        dict(init=(str(tmp_path / "missing.ckpt"),)),
        dict(init=(str(weights),), resume=True),
        dict(allow_partial=True),
    ]
    for case in cases:
        with pytest.raises(RunError) as raised:
            prepare(options(model, dataset, tmp_path / "run", max_steps=1, **case))
        found = _codes(raised.value)
        assert found and set(found) <= {"AD807", "AD802"}, (case, found)


def test_pretransform_ckpt_is_init_pretransform(tmp_path: Path) -> None:
    model, dataset = write_configs(tmp_path, WITH_VAE)
    vae = tmp_path / "vae.safetensors"
    released = released_weights(model, seed=10)
    inner = "pretransform.model."
    save_file({k.removeprefix(inner): v.contiguous() for k, v in released.items() if k.startswith(inner)}, str(vae))
    one = prepare(options(model, dataset, tmp_path / "a", max_steps=1, pretransform_ckpt=vae))
    other = prepare(options(model, dataset, tmp_path / "b", max_steps=1, init=(f"pretransform={vae}",)))
    assert one.init_report.render() == other.init_report.render()
    assert [p.part for p in one.init_report.requested] == ["pretransform"]
    with pytest.raises(RunError):  # the same part twice
        prepare(
            options(model, dataset, tmp_path / "c", max_steps=1, pretransform_ckpt=vae, init=(f"pretransform={vae}",))
        )


def test_ckpt_inspect_names_the_parts_a_file_can_serve(tmp_path: Path, capsys) -> None:
    import json

    from audiodiff.cli.ckpt import run_inspect

    model, _ = write_configs(tmp_path, WITH_VAE)
    released = released_weights(model, seed=11)
    whole = tmp_path / "released.safetensors"
    save_file({k: v.contiguous() for k, v in released.items()}, str(whole))
    inner = "pretransform.model."
    vae = tmp_path / "vae.safetensors"
    save_file({k.removeprefix(inner): v.contiguous() for k, v in released.items() if k.startswith(inner)}, str(vae))
    assert run_inspect(whole, format="json") == 0
    parts = json.loads(capsys.readouterr().out)["init_parts"]
    assert set(parts) == {"backbone", "conditioner", "pretransform", "encoder", "decoder"}
    assert parts["backbone"] == sum(1 for key in released if key.startswith("model."))
    assert run_inspect(vae, format="text") == 0
    text = capsys.readouterr().out
    assert "run --init      pretransform (" in text and "encoder (" in text and "backbone" not in text
