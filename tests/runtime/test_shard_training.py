"""Training from WebDataset shards end to end: `encode --format wds` writes latent shards that `run` trains on (and
resumes), and two simulated nodes (two processes joined through Lightning's usual environment variables, gloo)
each read their own shards and end with identical weights."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import torch
from toy_run import REPO, cli, options, write_configs

PRE_ENCODED = {"training": {"pre_encoded": True}}


@pytest.mark.slow
def test_encode_to_shards_then_train_and_resume_on_them(tmp_path: Path, monkeypatch):
    model, dataset = write_configs(tmp_path, clips=10)
    latents = tmp_path / "latents"
    encoded = cli("encode", str(model), "--dataset", str(dataset), "--output", str(latents), "--format", "wds",
                  "--shard-size", "4")  # fmt: skip
    assert encoded.returncode == 0, encoded.stdout + encoded.stderr
    shards = sorted((latents / "clips").glob("*.tar"))
    assert [path.name for path in shards] == ["clips-000000.tar", "clips-000001.tar", "clips-000002.tar"]
    with tarfile.open(shards[0]) as archive:
        names = archive.getnames()
        first = json.loads(archive.extractfile(next(n for n in names if n.endswith(".json"))).read())  # type: ignore[union-attr]
    assert len(names) == 8 and sorted({name.rsplit(".", 1)[1] for name in names}) == ["json", "npy"]  # 4 clips
    assert (
        first["class"] in ("tone", "noise") and len(first["padding_mask"]) == 64 and first["relpath"].endswith(".wav")
    )
    config = json.loads((latents / "dataset.json").read_text())
    assert config["dataset_type"] == "wds" and config["pre_encoded"] is True and config["latent_crop_length"] == 64

    from audiodiff.runtime import training
    from audiodiff.runtime.run import run

    seen: list[list[str]] = []
    original = training.DiffusionTrainer.training_step

    def recording(self, batch, batch_idx):
        seen.append([item["path"] for item in batch.metadata])
        return original(self, batch, batch_idx)

    monkeypatch.setattr(training.DiffusionTrainer, "training_step", recording)
    pre_encoded_model, _ = write_configs(tmp_path / "pre", PRE_ENCODED)
    data = latents / "dataset.json"
    output, said = tmp_path / "run", []
    outcome = run(options(pre_encoded_model, data, output, max_steps=2), echo=said.append)
    assert outcome.steps == 2 and outcome.skipped_files == 0
    assert "3 shards dealt to 1 process(es)" in said[0] and "latents, crops of 64" in said[0]
    said.clear()
    resumed = run(options(pre_encoded_model, data, output, max_steps=4, resume=True), echo=said.append)
    assert resumed.steps == 4 and (output / "checkpoints" / "step_0000004.ckpt").is_file()
    assert "resume data" in said[0] and "continue exactly where the checkpoint left them" in said[0]
    interrupted, seen[:] = list(seen), []
    run(options(pre_encoded_model, data, tmp_path / "straight", max_steps=4), echo=lambda text: None)
    assert interrupted == seen  # the resumed run read exactly what an uninterrupted one reads, mid-epoch
    assert len({path for step in seen for path in step}) == 8  # 4 steps x 2 of the 10 clips: no repeat yet


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
def test_two_nodes_train_on_their_own_shards_and_end_identical(tmp_path: Path):
    from shard_toy import write_shards

    write_shards(tmp_path / "shards", shards=8, per_shard=2)
    model, dataset = write_configs(
        tmp_path,
        {"training": {"timestep_sampler": "uniform"}},
        {"dataset_type": "wds", "datasets": [{"id": "s", "path": "shards"}], "resampled_shards": False},
    )
    reports = tmp_path / "reports"
    environment = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    for name in ("LOCAL_RANK", "RANK", "WORLD_SIZE", "NODE_RANK", "MASTER_ADDR", "MASTER_PORT"):
        environment.pop(name, None)
    environment.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(_free_port()), WORLD_SIZE="2", LOCAL_RANK="0")
    driver = Path(__file__).with_name("ddp_driver.py")
    arguments = [str(model), str(dataset), str(tmp_path / "run"), str(reports), "--nodes", "2", "--steps", "4"]
    nodes = [
        subprocess.Popen(
            [sys.executable, str(driver), *arguments, "--workers", "2"],
            cwd=REPO,
            env=dict(environment, NODE_RANK=str(node)),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for node in (0, 1)
    ]
    outputs = [node.communicate(timeout=300)[0] for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], "\n".join(outputs)
    ranks = [torch.load(reports / f"rank{rank}.pt", weights_only=True) for rank in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2] and [r["step"] for r in ranks] == [4, 4]
    # an epoch deals 8 shards to 2 nodes x 2 data-loader workers: 2 shards (4 items, 2 batches) per worker, so the
    # 4 steps of each node are exactly its epoch, read from its own 4 shards
    shards = [{path.split("#")[0] for step in r["paths"] for path in step} for r in ranks]
    assert len(shards[0]) == len(shards[1]) == 4 and not shards[0] & shards[1]
    items = [path for r in ranks for step in r["paths"] for path in step]  # 4 steps x batch 2 x 2 nodes
    assert len(items) == len(set(items)) == 16  # the whole epoch, no item twice
    for key, value in ranks[0]["state"].items():
        assert torch.equal(value, ranks[1]["state"][key]), key


@pytest.mark.slow
def test_a_run_names_the_members_it_skipped(tmp_path: Path):
    from shard_toy import write_shards

    from audiodiff.runtime.run import run

    write_shards(tmp_path / "shards", shards=2, per_shard=3)
    with tarfile.open(tmp_path / "shards" / "train-0001.tar", "a") as archive:  # a corrupt FLAC after the good ones
        for name, data in (("zz.flac", b"not audio at all"), ("zz.json", b'{"class": "tone"}')):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    patch = {"dataset_type": "wds", "datasets": [{"id": "s", "path": "shards"}], "resampled_shards": False}
    model, dataset = write_configs(tmp_path, dataset_patch=patch)
    said: list[str] = []
    with pytest.warns(RuntimeWarning, match="zz"):
        outcome = run(options(model, dataset, tmp_path / "run", max_steps=3), echo=said.append)
    assert outcome.steps == 3 and outcome.skipped_files == 1
    assert any("1 skipped member(s)" in line and "train-0001.tar#zz" in line for line in said)
