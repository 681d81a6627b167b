"""The training step: objectives, masks, timestep samplers, reproducible steps, loss bins, a short run end to end,
and the checks that `run` makes before it builds anything."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from audiodiff.compiler.materialize import build_model
from audiodiff.compiler.pipeline import check_file
from audiodiff.runtime import training as training_module
from audiodiff.runtime.data import AudioDataset, StreamBatchSampler, make_loader, scan_audio
from audiodiff.runtime.optim import build_optimizer
from audiodiff.runtime.run import RunError, run
from audiodiff.runtime.timesteps import TimestepSampler
from audiodiff.runtime.training import DiffusionTrainer, TrainingSettings, loss_summary, step_seed
from audiodiff.schema.versions import LATEST_VERSION
from toy_run import options, write_configs


def _trainer_and_batch(tmp_path: Path, patch: dict | None = None, *, seed: int = 7):
    model_path, dataset_path = write_configs(tmp_path, patch)
    spec = check_file(model_path).spec
    torch.manual_seed(0)
    model = build_model(spec)
    settings = TrainingSettings.from_spec(spec, seed=seed)
    trainer = DiffusionTrainer(model, settings, optimizer_factory=lambda p: build_optimizer(spec.training, p))
    files = scan_audio(tmp_path / "clips", "clips").files
    dataset = AudioDataset(files, sample_rate=spec.sample_rate, sample_size=spec.sample_size, channels=1,
                           random_crop=True, seed=seed)
    batch = next(iter(make_loader(dataset, StreamBatchSampler(len(files), 4, seed=seed, start_batch=3),
                                  num_workers=0)))
    return trainer, batch


@pytest.mark.parametrize("objective", ["v", "rectified_flow", "rf_denoiser"])
def test_a_step_is_a_pure_function_of_seed_and_batch_number(tmp_path: Path, objective: str):
    trainer, batch = _trainer_and_batch(tmp_path, {"model": {"diffusion": {"diffusion_objective": objective}}})
    losses = []
    for _ in range(2):
        torch.manual_seed(step_seed(7, batch.batch, 0))
        loss, per_item, t = trainer.compute_loss(batch, batch_number=batch.batch)
        losses.append(loss.item())
    assert losses[0] == losses[1] and torch.isfinite(torch.tensor(losses)).all()
    assert per_item.shape == (4,) and t.shape == (4,) and ((t >= 0) & (t <= 1)).all()
    torch.manual_seed(step_seed(7, batch.batch + 1, 0))
    assert trainer.compute_loss(batch, batch_number=batch.batch + 1)[0].item() != losses[0]
    # the optimizer trains the backbone and the conditioners' embeddings (only the backbone is averaged)
    optimizer = trainer.configure_optimizers()["optimizer"]
    optimised = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert id(trainer.diffusion.conditioner.conditioners["class"].embedder.weight) in optimised
    assert all(id(p) in optimised for p in trainer.diffusion.model.parameters())


def test_mask_padding_restricts_the_loss_to_real_audio(tmp_path: Path, monkeypatch):
    trainer, batch = _trainer_and_batch(tmp_path, {"training": {"mask_padding": True}})
    for item in batch.metadata:  # the second half of every item is padding
        item["padding_mask"][batch.data.shape[-1] // 2:] = 0
    targets = {}
    real_noise = training_module.noise

    def recording_noise(*args, **kwargs):
        noised = real_noise(*args, **kwargs)
        targets["target"] = noised.target
        return noised

    monkeypatch.setattr(training_module, "noise", recording_noise)

    def perfect_on_real_audio(x, t, cond, **kwargs):
        wrong = torch.zeros_like(x)
        wrong[..., x.shape[-1] // 2:] = 5.0  # errors only where the mask is 0
        return targets["target"] + wrong

    monkeypatch.setattr(trainer.diffusion, "forward", perfect_on_real_audio)
    masked, _, _ = trainer.compute_loss(batch)
    assert masked.item() == 0
    trainer.settings = TrainingSettings(**{**trainer.settings.__dict__, "mask_padding": False})
    assert trainer.compute_loss(batch)[0].item() == pytest.approx(12.5)  # 25 on half of the positions


def test_p_one_shot_forces_pure_noise(tmp_path: Path):
    trainer, batch = _trainer_and_batch(tmp_path, {"training": {"p_one_shot": 1.0}})
    assert (trainer.compute_loss(batch)[2] == 1).all()


def test_timestep_samplers():
    torch.manual_seed(0)
    for name in ("logit_normal", "trunc_logit_normal", "log_snr", "uniform"):
        t = TimestepSampler(name)(4096, batch_number=0)
        assert t.shape == (4096,) and (t >= 0).all() and (t <= 1).all(), name
    trunc = TimestepSampler("trunc_logit_normal")(20000)
    # sigmoid(N(0, 1)) without its lowest 7.5 %, rescaled and flipped: slightly more mass toward high noise
    assert trunc.max() <= 1 and trunc.min() >= 0 and 0.5 < trunc.mean() < 0.6
    log_snr = TimestepSampler("log_snr", mean_logsnr=-1.2, std_logsnr=2.0)(20000)
    assert log_snr.min() >= 1e-4 and log_snr.max() <= 1 - 1e-4 and log_snr.median() > 0.5  # sigmoid(1.2) = 0.77
    sobol = TimestepSampler("uniform", seed=3)
    sequence = [sobol(8, batch_number=k) for k in range(4)]
    assert torch.equal(TimestepSampler("uniform", seed=3)(8, batch_number=2), sequence[2])  # resumable
    assert abs(float(torch.cat(sequence).mean()) - 0.5) < 0.05
    with pytest.raises(ValueError):
        TimestepSampler("cosine")


def test_loss_summary():
    assert loss_summary([(1, 4.0)]) is None
    assert loss_summary([(i, float(10 - i)) for i in range(10)], window=2) == (9.5, 1.5)


def _metrics(output: Path) -> list[dict[str, str]]:
    with open(output / "logs" / "metrics.csv") as stream:
        return list(csv.DictReader(stream))


def test_a_short_run_trains_logs_loss_bins_and_updates_the_ema(tmp_path: Path):
    model, dataset = write_configs(tmp_path, {"training": {"log_loss_info": True}})
    outcome = run(options(model, dataset, tmp_path / "run", max_steps=4), echo=lambda text: None)
    assert outcome.steps == 4 and outcome.checkpoint.name == "step_0000004.ckpt"
    rows = _metrics(tmp_path / "run")
    assert any(key.startswith("loss_by_noise/") and row[key] for row in rows for key in row)
    assert sum(1 for row in rows if row.get("train/loss")) == 4
    checkpoint = torch.load(outcome.checkpoint, weights_only=True)
    state = checkpoint["state_dict"]
    assert int(state["diffusion_ema.step"].item()) == 4 and state["diffusion_ema.initted"].item() == 1.0
    assert checkpoint["model_config"]["model_type"] == "diffusion_cond"
    assert checkpoint["schema_version"] == checkpoint["model_config"]["schema_version"] == LATEST_VERSION
    key = next(k for k in state if k.startswith("diffusion_ema.ema_model.model."))
    online = state["diffusion." + key[len("diffusion_ema.ema_"):]]
    assert online.shape == state[key].shape and not torch.equal(online, state[key])  # averaged, lagging


def _codes(error: RunError) -> dict[str, list[str]]:
    return {result.path: [d.code.id for d in result.diagnostics] for result in error.results}


def test_everything_is_checked_before_the_model_is_built(tmp_path: Path, monkeypatch):
    import audiodiff.compiler.materialize as materialize

    def no_build(*args, **kwargs):
        raise AssertionError("the model must not be built when a check fails")

    monkeypatch.setattr(materialize, "build_model", no_build)
    model, dataset = write_configs(tmp_path, {"training": {"pre_encoded": True}},
                                   {"datasets": [{"id": "x", "path": str(tmp_path / "nowhere")}]})
    with pytest.raises(RunError) as raised:
        run(options(model, dataset, tmp_path / "run", strategy="fsdp", precision="16-mixed"))
    found = _codes(raised.value)
    assert "AD520" in found[str(dataset)]  # pre_encoded on one side only, reported with the dataset
    assert sorted(found["command line"]) == ["AD807", "AD807"]  # fsdp and 16-mixed on the CPU
    message = next(d for r in raised.value.results for d in r.diagnostics if d.code.id == "AD520")
    assert message.span is not None and message.related[0].path == str(model) and message.related[0].span


def test_empty_or_unconditioned_datasets_fail_before_the_build(tmp_path: Path):
    model, dataset = write_configs(tmp_path)
    for path in (tmp_path / "clips").glob("*.wav"):
        path.write_bytes(b"corrupt")
    with pytest.raises(RunError) as raised:
        run(options(model, dataset, tmp_path / "run"))
    assert _codes(raised.value)[str(dataset)] == ["AD801"]
    assert "8 skipped" in raised.value.results[0].diagnostics[0].message

    other = tmp_path / "other"
    model, dataset = write_configs(other)
    (other / "clips" / "tone_00.json").unlink()
    with pytest.raises(RunError) as raised:
        run(options(model, dataset, other / "run"))
    diagnostic = raised.value.results[0].diagnostics[0]
    assert diagnostic.code.id == "AD809" and "1 of 8" in diagnostic.message and "`class`" in diagnostic.message


def test_models_audiodiff_does_not_train_are_refused_with_a_code(tmp_path: Path):
    model, dataset = write_configs(tmp_path, {"training": None})
    with pytest.raises(RunError) as raised:
        run(options(model, dataset, tmp_path / "run"))
    assert _codes(raised.value)[str(model)] == ["AD812"]


def test_encode_then_train_on_the_latents(tmp_path: Path):
    from audiodiff.runtime.encode import EncodeOptions, encode

    model, dataset = write_configs(tmp_path)
    latents = tmp_path / "latents"
    written, dataset_config = encode(EncodeOptions(config=model, dataset=dataset, output=latents, batch_size=3))
    assert written == 8 and dataset_config == latents / "dataset.json"
    first = sorted(latents.glob("*.npy"))[0]
    array = np.load(first)
    assert array.shape == (16, 64)  # patched x16: 1024 samples -> 64 frames of 16 channels
    metadata = json.loads(first.with_suffix(".json").read_text())
    assert metadata["class"] in ("tone", "noise") and len(metadata["padding_mask"]) == 64

    pre_encoded_model, _ = write_configs(tmp_path / "pre", {"training": {"pre_encoded": True}})
    outcome = run(options(pre_encoded_model, dataset_config, tmp_path / "run", max_steps=2), echo=lambda text: None)
    assert outcome.steps == 2 and outcome.exported.is_file()
    # an audio dataset for a model that expects latents is refused, with both sides named
    with pytest.raises(RunError) as raised:
        run(options(pre_encoded_model, dataset, tmp_path / "again", max_steps=2))
    assert _codes(raised.value)[str(dataset)] == ["AD520"]


METADATA_MODULE = """
import pathlib
pathlib.Path(__file__).with_name("imported").write_text("yes")

def get_custom_metadata(info, audio):
    return {"class": "tone"}
"""


def test_custom_metadata_modules_run_only_when_the_run_opts_in(tmp_path: Path):
    module = tmp_path / "meta.py"
    module.write_text(METADATA_MODULE)
    model, dataset = write_configs(tmp_path, dataset_patch={"datasets": [
        {"id": "clips", "path": str(tmp_path / "clips"), "custom_metadata_module": str(module)}]})
    for sidecar in (tmp_path / "clips").glob("*.json"):
        sidecar.unlink()  # the module is now the only source of `class`
    assert not check_file(dataset).has_errors and not (tmp_path / "imported").exists()  # validate never runs it
    with pytest.raises(RunError) as raised:
        run(options(model, dataset, tmp_path / "run", max_steps=1))
    assert _codes(raised.value)[str(dataset)] == ["AD810"]
    assert not (tmp_path / "imported").exists()
    outcome = run(options(model, dataset, tmp_path / "run", max_steps=1, allow_metadata_module=True),
                  echo=lambda text: None)
    assert outcome.steps == 1 and (tmp_path / "imported").exists()


UNCONDITIONED = {
    "schema_version": 1, "model_type": "diffusion_uncond", "sample_rate": 8000, "sample_size": 1024,
    "audio_channels": 1,
    "model": {"type": "dit", "pretransform": {"type": "patched", "config": {"channels": 1, "patch_size": 16}},
              "config": {"in_channels": 16, "embed_dim": 32, "depth": 1, "num_heads": 1,
                         "transformer_type": "continuous_transformer"}},
    "training": {"learning_rate": 1e-3, "demo": {"demo_every": 2, "demo_steps": 2}},
}


def test_an_unconditioned_model_trains_with_constant_adam_and_demos(tmp_path: Path):
    _, dataset = write_configs(tmp_path)
    model = tmp_path / "uncond.json"
    model.write_text(json.dumps(UNCONDITIONED))
    outcome = run(options(model, dataset, tmp_path / "run", max_steps=3, logger="tensorboard"), echo=lambda text: None)
    assert outcome.steps == 3
    assert list((tmp_path / "run" / "logs").glob("events.out.tfevents.*"))  # scalars, demo audio and images
    checkpoint = torch.load(outcome.checkpoint, weights_only=True)
    assert "lr_schedulers" not in checkpoint or not checkpoint["lr_schedulers"]
    assert checkpoint["optimizer_states"][0]["param_groups"][0]["lr"] == 1e-3
    assert len(list((tmp_path / "run" / "demos" / "step_3").glob("*.wav"))) == 8  # upstream renders 8


def test_demo_spectrograms_are_valid_pngs_that_show_the_sound():
    import math
    import struct
    import zlib

    from audiodiff.runtime.demos import png_bytes, spectrogram_image, wav_bytes

    t = torch.arange(8192) / 8000
    chirp = torch.sin(2 * math.pi * (300 + 1500 * t) * t)[None]  # [1, T], rising from 300 Hz to 3.3 kHz
    image = spectrogram_image(chirp, 8000)
    data = png_bytes(image)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (height, width) == image.shape[:2] == (256, 256)
    idat = data.index(b"IDAT")
    length = struct.unpack(">I", data[idat - 4:idat])[0]
    rows = zlib.decompress(data[idat + 4: idat + 4 + length])
    assert len(rows) == height * (1 + 3 * width)
    brightness = image.astype(float).sum(-1)  # [H, W]; row 0 is the highest frequency
    assert brightness[:, 40].argmax() > brightness[:, 215].argmax()  # the bright line rises over time
    assert wav_bytes(torch.zeros(1, 100), 8000)[:4] == b"RIFF"  # silence stays silence (no division by zero)


AUTOENCODER = {
    "encoder": {"type": "oobleck", "config": {"in_channels": 1, "channels": 8, "c_mults": [1, 2], "strides": [2, 4],
                                              "latent_dim": 16}},
    "decoder": {"type": "oobleck", "config": {"out_channels": 1, "channels": 8, "c_mults": [1, 2], "strides": [2, 4],
                                              "latent_dim": 8}},
    "bottleneck": {"type": "vae"}, "latent_dim": 8, "downsampling_ratio": 8, "io_channels": 1,
}


def test_an_autoencoder_pretransform_needs_and_gets_its_weights(tmp_path: Path):
    from safetensors.torch import load_file, save_file

    from audiodiff.compiler.materialize import build_autoencoder
    from audiodiff.schema.v1.pretransform import AutoencoderModelSpec

    replaced = {**AUTOENCODER, "channels": None, "patch_size": None}  # a merge patch: drop the patched keys
    patch = {"model": {"io_channels": 8, "pretransform": {"type": "autoencoder", "config": replaced},
                       "diffusion": {"config": {"io_channels": 8}}}}
    model, dataset = write_configs(tmp_path, patch)
    with pytest.raises(RunError) as raised:
        run(options(model, dataset, tmp_path / "run", max_steps=1))
    assert _codes(raised.value)[str(model)] == ["AD807"]  # an untrained autoencoder would make the run pointless

    torch.manual_seed(5)
    autoencoder = build_autoencoder(AutoencoderModelSpec.model_validate(AUTOENCODER), 8000)
    weights = tmp_path / "autoencoder.safetensors"
    save_file({key: value.contiguous() for key, value in autoencoder.state_dict().items()}, str(weights))
    outcome = run(options(model, dataset, tmp_path / "run", max_steps=1, pretransform_ckpt=weights),
                  echo=lambda text: None)
    exported = load_file(str(outcome.exported))
    for key, value in autoencoder.state_dict().items():
        assert torch.equal(exported[f"pretransform.model.{key}"], value), key  # frozen: still the loaded weights
