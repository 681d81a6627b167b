"""Autoencoder training through `run`: two optimizers resume exactly, a missing optimizer group is refused before
anything is built, a non-finite loss stops the run before it changes a weight, and exports are autoencoder
checkpoints that a diffusion model's pretransform loads. The Lightning module makes exactly the updates of the
reference's alternation written out as a plain loop, each network's values are logged at its own steps, and demos
hold back clips from across the dataset."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from autoencoder_toy import write_autoencoder_configs
from toy_run import options

from audiodiff.runtime.checkpoint_io import read_training_checkpoint
from audiodiff.runtime.run import RunError, run

QUIET = {"echo": lambda text: None}


def _codes(error: RunError) -> list[str]:
    return [d.code.id for result in error.results for d in result.diagnostics]


@pytest.mark.slow
def test_a_resumed_run_continues_both_optimizers_and_schedulers_exactly(tmp_path: Path):
    model, dataset = write_autoencoder_configs(tmp_path)
    straight = run(options(model, dataset, tmp_path / "straight", max_steps=6, checkpoint_every=3), **QUIET)
    run(options(model, dataset, tmp_path / "split", max_steps=3, checkpoint_every=3), **QUIET)
    resumed = run(options(model, dataset, tmp_path / "split", max_steps=6, checkpoint_every=3, resume=True), **QUIET)
    assert straight.steps == resumed.steps == 6
    a, b = read_training_checkpoint(straight.checkpoint), read_training_checkpoint(resumed.checkpoint)
    assert a["global_step"] == b["global_step"] == 6
    assert any(key.startswith("discriminator.") for key in a["state_dict"])
    assert any(key.startswith("autoencoder_ema.ema_model.") for key in a["state_dict"])
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key  # both networks, EMA, decayed loss weights
    assert float(a["state_dict"]["losses.weight_mrstft_loss"]) == pytest.approx(0.999**3)  # 3 generator steps
    assert len(a["optimizer_states"]) == len(b["optimizer_states"]) == 2
    for optimizer_a, optimizer_b, steps in zip(a["optimizer_states"], b["optimizer_states"], (3, 3), strict=True):
        for index, slot in optimizer_a["state"].items():
            assert int(slot["step"]) == int(optimizer_b["state"][index]["step"]) == steps
            assert torch.equal(slot["exp_avg"], optimizer_b["state"][index]["exp_avg"])
            assert torch.equal(slot["exp_avg_sq"], optimizer_b["state"][index]["exp_avg_sq"])
    assert [s["last_epoch"] for s in a["lr_schedulers"]] == [s["last_epoch"] for s in b["lr_schedulers"]] == [3, 3]
    assert [s["_last_lr"] for s in a["lr_schedulers"]] == [s["_last_lr"] for s in b["lr_schedulers"]]


def test_a_missing_discriminator_optimizer_is_refused_before_the_build(tmp_path: Path, monkeypatch):
    model, dataset = write_autoencoder_configs(tmp_path, {"training": {"optimizer_configs": {"discriminator": None}}})

    def no_build(*args, **kwargs):
        raise AssertionError("the model was built")

    monkeypatch.setattr("audiodiff.compiler.materialize.build_model", no_build)
    with pytest.raises(RunError) as raised:
        run(options(model, dataset, tmp_path / "out", max_steps=2), **QUIET)
    assert "AD506" in _codes(raised.value)
    assert not (tmp_path / "out" / "checkpoints").exists()


@pytest.mark.slow
def test_a_non_finite_loss_stops_before_the_step_changes_weights(tmp_path: Path, monkeypatch):
    from audiodiff.runtime import autoencoder_losses

    original = autoencoder_losses.AutoencoderLosses.generator_loss
    calls = {"n": 0}

    def poisoned(self, values):
        total, parts = original(self, values)
        calls["n"] += 1
        return (total * float("nan") if calls["n"] == 2 else total), parts

    monkeypatch.setattr(autoencoder_losses.AutoencoderLosses, "generator_loss", poisoned)
    model, dataset = write_autoencoder_configs(tmp_path)
    with pytest.raises(RunError) as raised:
        run(options(model, dataset, tmp_path / "out", max_steps=10, checkpoint_every=1), **QUIET)
    assert _codes(raised.value) == ["AD805"]
    # generator steps are the even ones: the second is step 3, so steps 1 and 2 were saved and nothing after
    saved = sorted(path.name for path in (tmp_path / "out" / "checkpoints").glob("*.ckpt"))
    assert saved == ["step_0000001.ckpt", "step_0000002.ckpt"]


@pytest.mark.slow
def test_the_export_is_an_autoencoder_checkpoint_that_encode_reads(tmp_path: Path):
    from audiodiff.runtime.checkpoints import read_pretransform_checkpoint

    model, dataset = write_autoencoder_configs(tmp_path)
    outcome = run(options(model, dataset, tmp_path / "out", max_steps=2, checkpoint_every=2), **QUIET)
    checkpoint = read_pretransform_checkpoint(outcome.exported)
    assert checkpoint.layout == "autoencoder"
    assert {key.split(".")[0] for key in checkpoint.state_dict} == {"encoder", "decoder"}
    demos = tmp_path / "out" / "demos"
    first = demos / "step_0000001"
    assert {p.name for p in first.iterdir()} >= {
        "recon_0_input.wav",
        "recon_0_output.wav",
        "recon_0_difference.wav",
        "recon_0.png",
    }
    lines = (demos / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2 and '"sisdr"' in lines[0] and '"mrstft"' in lines[0]
    # each network's values are logged at its own steps only (Lightning's `self.log` would repeat each at the
    # other's steps): the generator trains at step 0, the discriminator at step 1
    with open(tmp_path / "out" / "logs" / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    logged = {
        name: sorted(int(row["step"]) for row in rows if row.get(name) not in (None, ""))
        for name in ("train/loss", "train/mrstft_loss", "train/gen_lr", "train/discriminator_loss", "train/disc_lr")
    }
    assert logged == {
        "train/loss": [0],
        "train/mrstft_loss": [0],
        "train/gen_lr": [0],
        "train/discriminator_loss": [1],
        "train/disc_lr": [1],
    }


@pytest.mark.slow
def test_sigkill_leaves_only_complete_checkpoints_and_the_run_resumes(tmp_path: Path):
    import signal
    import time

    from toy_run import cli

    from audiodiff.runtime.checkpoint_io import list_checkpoints

    model, dataset = write_autoencoder_configs(tmp_path)
    output = tmp_path / "run"
    folder = output / "checkpoints"
    common = [
        "--dataset",
        str(dataset),
        "--output",
        str(output),
        "--batch-size",
        "2",
        "--logger",
        "csv",
        "--checkpoint-every",
        "2",
        "--keep-checkpoints",
        "2",
        "--seed",
        "5",
    ]
    process = cli("run", str(model), *common, "--max-steps", "100000", wait=False)
    try:
        deadline = time.monotonic() + 600
        while len(list_checkpoints(folder)) < 2:
            assert process.poll() is None, process.stdout.read()
            assert time.monotonic() < deadline, "the run made no checkpoints in time"
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)  # no handler runs: whatever is on disk is what a crash leaves
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    survivors = list_checkpoints(folder)
    for step, path in survivors:
        state = read_training_checkpoint(path)
        assert state["global_step"] == step and len(state["optimizer_states"]) == 2
    target = survivors[-1][0] + 2
    result = cli("run", str(model), *common, "--max-steps", str(target), "--resume", timeout=600)
    assert result.returncode == 0, result.stderr
    final = list_checkpoints(folder)[-1]
    assert final[0] == target and read_training_checkpoint(final[1])["global_step"] == target
    assert (folder / f"step_{target:07d}.safetensors").is_file()
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_held_back_files_are_spread_over_the_dataset_not_its_last_group():
    from audiodiff.runtime.reconstruction_demos import hold_back

    # a manifest lists its files class by class: the last tenth would be noise bursts only
    files = [f"{kind}_{index:02d}" for kind in ("tone", "chirp", "noise") for index in range(16)]
    train, held = hold_back(files)
    assert held == ["tone_06", "chirp_02", "chirp_14", "noise_10"]
    assert {name.split("_")[0] for name in held} == {"tone", "chirp", "noise"}
    assert sorted(train + held) == sorted(files) and not set(train) & set(held)
    assert hold_back(["a", "b", "c"]) == (["a", "c"], ["b"])  # one at least
    assert hold_back(["only"]) == (["only"], ["only"])  # a single file serves both


@pytest.mark.slow
def test_run_makes_the_updates_of_a_plain_two_optimizer_loop(tmp_path: Path, monkeypatch):
    """The Lightning module steps as the reference's wrapper does, written out by hand: odd steps train the
    discriminator on detached reconstructions, even steps the autoencoder, with the adversarial and feature-matching
    terms only from `warmup_steps` on. Same initial weights, same batches, same per-step seeds: same weights."""
    import copy

    from audiodiff.runtime import autoencoder_training
    from audiodiff.runtime.training import step_seed

    steps, warmup, seed = 6, 2, 7
    patch = {
        "training": {
            "warmup_steps": warmup,
            "use_ema": False,
            "latent_mask_ratio": 0.0,
            "optimizer_configs": {"autoencoder": {"scheduler": None}, "discriminator": {"scheduler": None}},
        }
    }
    model, dataset = write_autoencoder_configs(tmp_path, patch)
    seen: dict = {"batches": []}
    trainer_class = autoencoder_training.AutoencoderTrainer
    original_init, original_step = trainer_class.__init__, trainer_class.training_step

    def recording_init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        seen["module"] = self
        seen["initial"] = copy.deepcopy(self.autoencoder), copy.deepcopy(self.discriminator)

    def recording_step(self, batch, batch_idx):
        seen["batches"].append(batch.data.clone())  # [B, C, T]
        return original_step(self, batch, batch_idx)

    monkeypatch.setattr(trainer_class, "__init__", recording_init)
    monkeypatch.setattr(trainer_class, "training_step", recording_step)
    run(options(model, dataset, tmp_path / "out", max_steps=steps, checkpoint_every=steps, seed=seed), **QUIET)

    module = seen["module"]
    autoencoder, discriminator = seen["initial"]
    untrained = copy.deepcopy(autoencoder.state_dict())
    losses = copy.deepcopy(module.losses)
    losses._discriminator = [discriminator]
    for term in losses.terms:  # the decayed weights back to their configured values
        getattr(losses, f"weight_{term.name}").fill_(term.weight)
    generator_opt = torch.optim.AdamW(autoencoder.parameters(), lr=1e-3, betas=(0.8, 0.99))
    critic_opt = torch.optim.AdamW(discriminator.parameters(), lr=1e-3, betas=(0.8, 0.99))
    assert len(seen["batches"]) == steps
    for step, reals in enumerate(seen["batches"]):
        torch.manual_seed(step_seed(seed, step, 0))
        latents, info = autoencoder.encode(reals, return_info=True)
        decoded = autoencoder.decode(latents)[..., : reals.shape[-1]]
        if step % 2 == 1:
            critic_loss, _, _ = discriminator.loss(reals, decoded.detach())
            critic_opt.zero_grad()
            critic_loss.backward()
            critic_opt.step()
            continue
        values = {"reals": reals, "decoded": decoded, **info}
        if step >= warmup:
            _, values["loss_adv"], values["feature_matching_distance"] = discriminator.loss(reals, decoded)
        else:
            values["loss_adv"] = values["feature_matching_distance"] = reals.new_zeros(())
        loss, _ = losses.generator_loss(values)
        generator_opt.zero_grad()
        loss.backward()
        generator_opt.step()
    for ours, theirs in ((autoencoder, module.autoencoder), (discriminator, module.discriminator)):
        for (name, value), other in zip(ours.state_dict().items(), theirs.state_dict().values(), strict=True):
            assert torch.allclose(value, other, rtol=0, atol=1e-6), name
    trained = module.autoencoder.state_dict()
    assert any(not torch.equal(value, trained[name]) for name, value in untrained.items())  # training moved them
