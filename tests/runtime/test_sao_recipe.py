"""The Stable Audio Open recipe (examples/stable_audio_open.json): it validates and compiles at full size, and a tiny
model of the same shape (T5 `t5-base` prompt, `seconds_start` / `seconds_total`, oobleck VAE pretransform, DiT)
fine-tunes end to end from a checkpoint in the reference's released layout (weight_g / weight_v in the VAE), with a
local random T5 made here (no download), logging to Weights & Biases offline; `sample` works on the result."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from toy_run import REPO, cli, merge, options

from audiodiff.compiler.materialize import BuildOptions, build_model
from audiodiff.compiler.pipeline import check_file
from audiodiff.runtime.run import run

RECIPE = REPO / "examples" / "stable_audio_open.json"
VOCAB = {"<pad>": 0, "</s>": 1, "<unk>": 2, "warm": 3, "pads": 4, "dry": 5, "snare": 6, "tone": 7, "noise": 8}
T5_BASE_WIDTH = 768  # what `t5-base` names: the tiny encoder must have it, the rest of it is tiny

# the recipe at a size that trains on one CPU thread in seconds: every part kept, every width shrunk
TINY = {
    "sample_rate": 8000,
    "sample_size": 2048,
    "audio_channels": 1,
    "model": {
        "pretransform": {
            "config": {
                "encoder": {
                    "config": {"in_channels": 1, "channels": 4, "c_mults": [1, 2], "strides": [2, 4], "latent_dim": 16}
                },
                "decoder": {
                    "config": {"out_channels": 1, "channels": 4, "c_mults": [1, 2], "strides": [2, 4], "latent_dim": 8}
                },
                "latent_dim": 8,
                "downsampling_ratio": 8,
                "io_channels": 1,
            }
        },
        "conditioning": {
            "configs": [
                {"id": "prompt", "type": "t5", "config": {"t5_model_name": "t5-base", "max_length": 8}},
                {"id": "seconds_start", "type": "number", "config": {"min_val": 0, "max_val": 512}},
                {"id": "seconds_total", "type": "number", "config": {"min_val": 0, "max_val": 512}},
            ],
            "cond_dim": 32,
        },
        "diffusion": {
            "config": {
                "io_channels": 8,
                "embed_dim": 32,
                "depth": 2,
                "num_heads": 1,
                "cond_token_dim": 32,
                "global_cond_dim": 64,
            }
        },
        "io_channels": 8,
    },
    "training": {
        "optimizer_configs": {"diffusion": {"optimizer": {"config": {"lr": 1e-3}}, "scheduler": None}},
        "demo": {
            "demo_every": 1000,
            "demo_steps": 2,
            "num_demos": 2,
            "demo_cond": [
                {"prompt": "warm pads", "seconds_start": 0, "seconds_total": 1},
                {"prompt": "dry snare", "seconds_start": 0, "seconds_total": 1},
            ],
            "demo_cfg_scales": [3],
        },
    },
}


def test_the_recipe_validates_and_compiles_at_full_size() -> None:
    check = check_file(RECIPE)
    assert not [d for d in check.diagnostics if d.is_error], check.diagnostics
    assert check.graph is not None and check.graph.total_params > 1_000_000_000
    ids = [entry.id for entry in check.model_spec.model.conditioning.configs]
    assert ids == ["prompt", "seconds_start", "seconds_total"]


def tiny_t5(folder: Path) -> Path:
    """A random one-layer T5 encoder `t5-base` wide, with a word-level tokenizer, saved like a hub snapshot."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, T5Config, T5EncoderModel

    torch.manual_seed(0)
    config = T5Config(
        vocab_size=len(VOCAB), d_model=T5_BASE_WIDTH, d_kv=4, d_ff=16, num_layers=1, num_heads=2,
        relative_attention_num_buckets=8, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
    )  # fmt: skip
    T5EncoderModel(config).save_pretrained(folder)
    backend = Tokenizer(models.WordLevel(vocab=VOCAB, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="<pad>", unk_token="<unk>", eos_token="</s>"
    ).save_pretrained(folder)
    return folder


def write_data(root: Path) -> Path:
    rng = np.random.default_rng(0)
    clips = root / "clips"
    clips.mkdir(parents=True)
    for index in range(6):
        kind = "tone" if index % 2 == 0 else "noise"
        t = np.arange(3000) / 8000
        signal = np.sin(2 * np.pi * 440 * t) if kind == "tone" else rng.standard_normal(len(t)) * 0.3
        soundfile.write(clips / f"{kind}_{index}.wav", (0.6 * signal).astype(np.float32)[:, None], 8000)
        (clips / f"{kind}_{index}.json").write_text(json.dumps({"prompt": kind}))
    dataset = root / "dataset.json"
    dataset.write_text(
        json.dumps({"schema_version": 1, "dataset_type": "audio_dir", "datasets": [{"id": "c", "path": str(clips)}]})
    )
    return dataset


@pytest.mark.slow
def test_tiny_stable_audio_open_fine_tunes_from_a_released_checkpoint(tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("transformers")
    wandb = pytest.importorskip("wandb")
    assert wandb is not None
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    t5 = tiny_t5(tmp_path / "t5")
    model = tmp_path / "sao_tiny.json"
    model.write_text(json.dumps(merge(json.loads(RECIPE.read_text()), TINY), indent=2))
    dataset = write_data(tmp_path)
    spec = check_file(model).model_spec
    torch.manual_seed(1)
    released = build_model(spec, BuildOptions(t5_model_path=str(t5))).state_dict()
    assert {key.split(".", 1)[0] for key in released} == {"model", "conditioner", "pretransform"}
    assert any(key.endswith(".weight_g") for key in released)
    checkpoint = tmp_path / "model.ckpt"
    torch.save({"state_dict": released}, checkpoint)  # the reference's released layout, no config inside

    lines: list[str] = []
    settings = options(
        model, dataset, tmp_path / "run", max_steps=30, checkpoint_every=30, batch_size=4, init=(str(checkpoint),),
        t5_path=str(t5), logger="wandb", project="sao-tiny", run_name="finetune",
    )  # fmt: skip
    outcome = run(settings, echo=lines.append)
    summary = "\n".join(lines)
    assert "backbone" in summary and "weight-norm" not in summary.split("pretransform")[0]
    assert outcome.steps == 30 and outcome.final_loss < outcome.first_loss, (outcome.first_loss, outcome.final_loss)
    demos = sorted((tmp_path / "run" / "demos").rglob("*.wav"))
    assert len(demos) == 2  # both prompts at the one CFG scale, after the last step
    runs = list((tmp_path / "run" / "logs" / "wandb").glob("offline-run-*"))
    assert runs and (tmp_path / "run" / "logs" / "wandb-run-id").is_file()
    media = list(runs[0].rglob("*.wav")) + list(runs[0].rglob("*.png"))
    assert len(media) >= 4, media  # demo audio and spectrograms went to wandb too

    out = tmp_path / "after.wav"
    sampled = cli(
        "sample", str(model), "--ckpt", str(outcome.exported), "--t5-path", str(t5), "--prompt", "warm pads",
        "--seconds", "0.25", "--steps", "2", "--seed", "1", "-o", str(out), timeout=180,
    )  # fmt: skip
    assert sampled.returncode == 0, sampled.stderr[-2000:]
    audio, rate = soundfile.read(out)
    assert rate == 8000 and len(audio) > 0 and np.isfinite(audio).all()
