"""The training step: objectives, masks, timestep samplers, reproducible steps, loss bins, a short run end to end,
and the checks that `run` makes before it builds anything."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from toy_run import TINY_AUTOENCODER, options, write_configs

from audiodiff.compiler.materialize import build_model
from audiodiff.compiler.pipeline import check_file
from audiodiff.runtime.data import (
    AudioDataset,
    StreamBatchSampler,
    make_loader,
    scan_audio,
)
from audiodiff.runtime.optim import build_optimizer
from audiodiff.runtime.run import RunError, run
from audiodiff.runtime.timesteps import TimestepSampler
from audiodiff.runtime.training import (
    DiffusionTrainer,
    TrainingSettings,
    loss_summary,
    step_seed,
)
from audiodiff.schema.versions import LATEST_VERSION


def _trainer_and_batch(tmp_path: Path, patch: dict | None = None, *, seed: int = 7):
    model_path, dataset_path = write_configs(tmp_path, patch)
    spec = check_file(model_path).spec
    torch.manual_seed(0)
    model = build_model(spec)
    settings = TrainingSettings.from_spec(spec, seed=seed)
    trainer = DiffusionTrainer(model, settings, optimizer_factory=lambda p: build_optimizer(spec.training, p))
    files = scan_audio(tmp_path / "clips", "clips").files
    dataset = AudioDataset(
        files, sample_rate=spec.sample_rate, sample_size=spec.sample_size, channels=1, random_crop=True, seed=seed
    )
    batch = next(iter(make_loader(dataset, StreamBatchSampler(len(files), 4, seed=seed, start_batch=3), num_workers=0)))
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
        item["padding_mask"][batch.data.shape[-1] // 2 :] = 0
    targets = {}

    class RecordingObjective(type(trainer.settings.objective)):  # type: ignore[misc]
        def noise(self, x0, eps, t):
            noised = super().noise(x0, eps, t)
            targets["target"] = noised.target
            return noised

    trainer.settings = TrainingSettings(**{**trainer.settings.__dict__, "objective": RecordingObjective()})

    def perfect_on_real_audio(x, t, cond, **kwargs):
        wrong = torch.zeros_like(x)
        wrong[..., x.shape[-1] // 2 :] = 5.0  # errors only where the mask is 0
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


def test_uniform_times_differ_between_ranks_and_resume_exactly():
    world, batch = 2, 4
    ranks = [TimestepSampler("uniform", seed=3) for _ in range(world)]
    draws = {(n, r): ranks[r](batch, batch_number=n, rank=r, world_size=world) for n in range(3) for r in range(world)}
    for n in range(3):
        assert not torch.equal(draws[(n, 0)], draws[(n, 1)])  # each rank its own points of the sequence
    # together the ranks walk one run's sequence in global order: batch n of rank r starts at (n W + r) B
    single = TimestepSampler("uniform", seed=3)(batch * world * 3, batch_number=0)
    stitched = torch.cat([draws[(n, r)] for n in range(3) for r in range(world)])
    assert torch.equal(stitched, single)
    resumed = TimestepSampler("uniform", seed=3)(batch, batch_number=2, rank=1, world_size=world)
    assert torch.equal(resumed, draws[(2, 1)])


def test_the_loss_history_keeps_only_the_first_and_last_windows(tmp_path: Path, monkeypatch):
    trainer, batch = _trainer_and_batch(tmp_path)
    values = iter(range(1, 1000))

    def fixed_loss(batch, **kwargs):
        loss = torch.tensor(float(next(values)), requires_grad=True)
        return loss, loss.detach().expand(4), torch.zeros(4)

    monkeypatch.setattr(trainer, "compute_loss", fixed_loss)
    monkeypatch.setattr(trainer, "log", lambda *args, **kwargs: None)
    for _ in range(25):
        trainer.training_step(batch, 0)
    kept = [value for _, value in trainer.losses]
    assert kept == [float(v) for v in [*range(1, 11), *range(16, 26)]]  # memory does not grow with the run
    assert loss_summary(trainer.losses) == (5.5, 20.5)


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
    online = state["diffusion." + key[len("diffusion_ema.ema_") :]]
    assert online.shape == state[key].shape and not torch.equal(online, state[key])  # averaged, lagging


def _codes(error: RunError) -> dict[str, list[str]]:
    return {result.path: [d.code.id for d in result.diagnostics] for result in error.results}


def test_everything_is_checked_before_the_model_is_built(tmp_path: Path, monkeypatch):
    import audiodiff.compiler.materialize as materialize

    def no_build(*args, **kwargs):
        raise AssertionError("the model must not be built when a check fails")

    monkeypatch.setattr(materialize, "build_model", no_build)
    model, dataset = write_configs(
        tmp_path, {"training": {"pre_encoded": True}}, {"datasets": [{"id": "x", "path": str(tmp_path / "nowhere")}]}
    )
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
    first = sorted((latents / "clips").glob("*.npy"))[0]
    assert first.name == "noise_01.wav.npy"  # <dataset id>/<relpath>.npy, the source's suffix kept
    array = np.load(first)
    assert array.shape == (16, 64)  # patched x16: 1024 samples -> 64 frames of 16 channels
    metadata = json.loads((latents / "clips" / "noise_01.wav.json").read_text())
    assert metadata["class"] == "noise" and len(metadata["padding_mask"]) == 64
    assert metadata["seconds_total"] >= 1 and metadata["seconds_start"] == 0

    pre_encoded_model, _ = write_configs(tmp_path / "pre", {"training": {"pre_encoded": True}})
    outcome = run(options(pre_encoded_model, dataset_config, tmp_path / "run", max_steps=2), echo=lambda text: None)
    assert outcome.steps == 2 and outcome.exported.is_file()
    # an audio dataset for a model that expects latents is refused, with both sides named
    with pytest.raises(RunError) as raised:
        run(options(pre_encoded_model, dataset, tmp_path / "again", max_steps=2))
    assert _codes(raised.value)[str(dataset)] == ["AD520"]


def test_encode_keeps_every_file_apart_and_never_overwrites_without_being_asked(tmp_path: Path):
    import soundfile

    from audiodiff.runtime.encode import EncodeOptions, encode
    from audiodiff.runtime.preflight import Findings, Preflight, scan_dataset

    model, dataset = write_configs(tmp_path)
    clips, more = tmp_path / "clips", tmp_path / "more"
    audio, rate = soundfile.read(clips / "tone_00.wav")
    soundfile.write(clips / "tone_00.flac", audio, rate)  # `tone_00.wav` and `tone_00.flac` share a stem
    more.mkdir()
    soundfile.write(more / "tone_00.wav", audio, rate)  # the same relpath in another dataset
    (more / "tone_00.json").write_text(json.dumps({"class": "tone"}))
    sources = [{"id": "clips", "path": str(clips)}, {"id": "more", "path": str(more)}]
    dataset.write_text(json.dumps({"dataset_type": "audio_dir", "datasets": sources}))
    output = tmp_path / "latents"
    written, config_path = encode(EncodeOptions(config=model, dataset=dataset, output=output))
    assert written == 10  # 9 files of `clips`, 1 of `more`: every one its own latents
    assert (output / "clips" / "tone_00.wav.npy").is_file() and (output / "clips" / "tone_00.flac.npy").is_file()
    assert (output / "more" / "tone_00.wav.npy").is_file()
    # the reader of pre-encoded datasets finds exactly what was written, with its metadata
    config = json.loads(config_path.read_text())
    assert [entry["id"] for entry in config["datasets"]] == ["clips", "more"]
    preflight = Preflight(check_file(model), check_file(config_path), Findings())
    scan_dataset(preflight, False, check_values=False)
    assert len(preflight.scan.files) == 10 and not preflight.scan.skipped
    assert all(entry.metadata["class"] in ("tone", "noise") for entry in preflight.scan.files)

    before = (output / "more" / "tone_00.wav.npy").read_bytes()
    with pytest.raises(RunError) as raised:  # a second encode into the same folder
        encode(EncodeOptions(config=model, dataset=dataset, output=output))
    assert _codes(raised.value)["command line"] == ["AD807"]
    assert "--force" in raised.value.results[0].diagnostics[0].help
    assert (output / "more" / "tone_00.wav.npy").read_bytes() == before
    assert encode(EncodeOptions(config=model, dataset=dataset, output=output, overwrite=True))[0] == 10

    # an output inside an input folder would mix latents into the audio (and their metadata into the sidecars)
    with pytest.raises(RunError) as raised:
        encode(EncodeOptions(config=model, dataset=dataset, output=clips / "latents", overwrite=True))
    assert _codes(raised.value)["command line"] == ["AD807"]
    assert not (clips / "latents").exists()

    # two datasets of one id whose files share a relpath would write one target twice
    dataset.write_text(
        json.dumps(
            {
                "dataset_type": "audio_dir",
                "datasets": [{"id": "clips", "path": str(clips)}, {"id": "clips", "path": str(more)}],
            }
        )
    )
    with pytest.raises(RunError) as raised:
        encode(EncodeOptions(config=model, dataset=dataset, output=tmp_path / "elsewhere"))
    diagnostic = raised.value.results[0].diagnostics[0]
    assert diagnostic.code.id == "AD808" and "tone_00.wav" in diagnostic.message
    assert not (tmp_path / "elsewhere").exists()


def test_encode_builds_only_the_pretransform(tmp_path: Path, monkeypatch):
    import audiodiff.compiler.materialize as materialize
    from audiodiff.runtime.encode import EncodeOptions, encode

    def no_build(*args, **kwargs):
        raise AssertionError("encode must not build the diffusion model or its conditioners")

    monkeypatch.setattr(materialize, "build_model", no_build)
    model, dataset = write_configs(tmp_path)
    written, _ = encode(EncodeOptions(config=model, dataset=dataset, output=tmp_path / "latents"))
    assert written == 8


METADATA_MODULE = """
import pathlib
pathlib.Path(__file__).with_name("imported").write_text("yes")

def get_custom_metadata(info, audio):
    return {"class": "tone"}
"""


def test_custom_metadata_modules_run_only_when_the_run_opts_in(tmp_path: Path):
    module = tmp_path / "meta.py"
    module.write_text(METADATA_MODULE)
    model, dataset = write_configs(
        tmp_path,
        dataset_patch={
            "datasets": [{"id": "clips", "path": str(tmp_path / "clips"), "custom_metadata_module": str(module)}]
        },
    )
    for sidecar in (tmp_path / "clips").glob("*.json"):
        sidecar.unlink()  # the module is now the only source of `class`
    assert not check_file(dataset).has_errors and not (tmp_path / "imported").exists()  # validate never runs it
    with pytest.raises(RunError) as raised:
        run(options(model, dataset, tmp_path / "run", max_steps=1))
    assert _codes(raised.value)[str(dataset)] == ["AD810"]
    assert not (tmp_path / "imported").exists()
    outcome = run(
        options(model, dataset, tmp_path / "run", max_steps=1, allow_metadata_module=True), echo=lambda text: None
    )
    assert outcome.steps == 1 and (tmp_path / "imported").exists()


UNCONDITIONED = {
    "schema_version": 1,
    "model_type": "diffusion_uncond",
    "sample_rate": 8000,
    "sample_size": 1024,
    "audio_channels": 1,
    "model": {
        "type": "dit",
        "pretransform": {"type": "patched", "config": {"channels": 1, "patch_size": 16}},
        "config": {
            "in_channels": 16,
            "embed_dim": 32,
            "depth": 1,
            "num_heads": 1,
            "transformer_type": "continuous_transformer",
        },
    },
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
    assert len(list((tmp_path / "run" / "demos" / "step_0000003").glob("*.wav"))) == 8  # upstream renders 8


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
    length = struct.unpack(">I", data[idat - 4 : idat])[0]
    rows = zlib.decompress(data[idat + 4 : idat + 4 + length])
    assert len(rows) == height * (1 + 3 * width)
    brightness = image.astype(float).sum(-1)  # [H, W]; row 0 is the highest frequency
    assert brightness[:, 40].argmax() > brightness[:, 215].argmax()  # the bright line rises over time
    assert wav_bytes(torch.zeros(1, 100), 8000)[:4] == b"RIFF"  # silence stays silence (no division by zero)


def test_an_autoencoder_pretransform_needs_and_gets_its_weights(tmp_path: Path):
    from safetensors.torch import load_file, save_file

    from audiodiff.compiler.materialize import build_autoencoder
    from audiodiff.schema.v1.pretransform import AutoencoderModelSpec

    replaced = {**TINY_AUTOENCODER, "channels": None, "patch_size": None}  # a merge patch: drop the patched keys
    patch = {
        "model": {
            "io_channels": 8,
            "pretransform": {"type": "autoencoder", "config": replaced},
            "diffusion": {"config": {"io_channels": 8}},
        }
    }
    model, dataset = write_configs(tmp_path, patch)
    with pytest.raises(RunError) as raised:
        run(options(model, dataset, tmp_path / "run", max_steps=1))
    assert _codes(raised.value)[str(model)] == ["AD807"]  # an untrained autoencoder would make the run pointless

    torch.manual_seed(5)
    autoencoder = build_autoencoder(AutoencoderModelSpec.model_validate(TINY_AUTOENCODER), 8000)
    weights = tmp_path / "autoencoder.safetensors"
    save_file({key: value.contiguous() for key, value in autoencoder.state_dict().items()}, str(weights))
    outcome = run(
        options(model, dataset, tmp_path / "run", max_steps=1, pretransform_ckpt=weights), echo=lambda text: None
    )
    exported = load_file(str(outcome.exported))
    for key, value in autoencoder.state_dict().items():
        assert torch.equal(exported[f"pretransform.model.{key}"], value), key  # frozen: still the loaded weights


def test_gradient_checkpointing_is_asked_for_or_decided_from_the_memory_estimate(tmp_path: Path, monkeypatch):
    import audiodiff.compiler.materialize as materialize
    from audiodiff.runtime import launch

    model, dataset = write_configs(tmp_path)
    built = []
    real = materialize.build_model

    def recording(spec, options=materialize.BuildOptions()):
        built.append(options.gradient_checkpointing)
        return real(spec, options)

    monkeypatch.setattr(materialize, "build_model", recording)
    summaries: dict[str, str] = {}
    for name, setting, budget in (
        ("on", "on", None),
        ("auto-small", "auto", 1),
        ("auto-large", "auto", 1 << 40),
        ("off", "off", 1),
    ):
        monkeypatch.setattr(launch, "memory_budget", lambda accelerator, processes=1, budget=budget: budget)
        lines: list[str] = []
        run(options(model, dataset, tmp_path / name, max_steps=1, gradient_checkpointing=setting), echo=lines.append)
        summaries[name] = next(line for line in "\n".join(lines).splitlines() if "gradient checkpointing" in line)
    assert built == [True, True, False, False]
    assert "gradient checkpointing on" in summaries["on"] and "auto" not in summaries["on"]
    assert "gradient checkpointing on (auto: ~" in summaries["auto-small"]  # the estimate exceeds a 1-byte budget
    assert "gradient checkpointing off (auto: ~" in summaries["auto-large"] and "1024.00 GiB" in summaries["auto-large"]
    assert "gradient checkpointing off" in summaries["off"]
    with pytest.raises(RunError) as raised:
        run(options(model, dataset, tmp_path / "bad", gradient_checkpointing="sometimes"))
    assert _codes(raised.value)["command line"] == ["AD807"]


def test_the_command_line_passes_gradient_checkpointing_and_overwrite_on(monkeypatch):
    from typer.testing import CliRunner

    import audiodiff.cli.encode as encode_cli
    import audiodiff.cli.run as run_cli
    from audiodiff.cli.app import app

    received: dict[str, dict] = {}
    monkeypatch.setattr(run_cli, "run_training", lambda config, **kwargs: received.setdefault("run", kwargs) and 0)
    monkeypatch.setattr(encode_cli, "run_encode", lambda config, **kwargs: received.setdefault("encode", kwargs) and 0)
    runner = CliRunner()
    assert runner.invoke(app, ["run", "m.json", "-d", "d.json", "--gradient-checkpointing", "on"]).exit_code == 0
    assert runner.invoke(app, ["encode", "m.json", "-d", "d.json", "-o", "out", "--overwrite"]).exit_code == 0
    assert received["run"]["gradient_checkpointing"] == "on" and received["encode"]["overwrite"] is True


def test_encode_loads_the_pretransform_weights_from_an_autoencoder_or_a_whole_released_model(tmp_path: Path):
    from safetensors.torch import save_file

    from audiodiff.compiler.materialize import build_autoencoder
    from audiodiff.runtime.encode import EncodeOptions, encode
    from audiodiff.schema.v1.pretransform import AutoencoderModelSpec

    replaced = {**TINY_AUTOENCODER, "channels": None, "patch_size": None}
    model, dataset = write_configs(
        tmp_path,
        {
            "model": {
                "io_channels": 8,
                "pretransform": {"type": "autoencoder", "config": replaced},
                "diffusion": {"config": {"io_channels": 8}},
            }
        },
    )
    files = {}
    for seed in (5, 6):
        torch.manual_seed(seed)
        state = {
            key: value.contiguous()
            for key, value in build_autoencoder(AutoencoderModelSpec.model_validate(TINY_AUTOENCODER), 8000)
            .state_dict()
            .items()
        }
        files[seed] = tmp_path / f"autoencoder_{seed}.safetensors"
        save_file(state, str(files[seed]))
    released = tmp_path / "released.safetensors"  # the same weights as seed 5, inside a whole model's layout
    torch.manual_seed(5)
    state = build_autoencoder(AutoencoderModelSpec.model_validate(TINY_AUTOENCODER), 8000).state_dict()
    save_file(
        {
            **{f"pretransform.model.{key}": value.contiguous() for key, value in state.items()},
            "model.unrelated": torch.zeros(2),
        },
        str(released),
    )

    def latents(checkpoint: Path, name: str) -> np.ndarray:
        torch.manual_seed(0)  # the VAE bottleneck samples: the same draws for every encode
        encode(EncodeOptions(config=model, dataset=dataset, output=tmp_path / name, pretransform_ckpt=checkpoint))
        return np.load(tmp_path / name / "clips" / "tone_00.wav.npy")

    first = latents(files[5], "a")
    assert np.array_equal(first, latents(released, "b"))
    assert not np.array_equal(first, latents(files[6], "c"))
