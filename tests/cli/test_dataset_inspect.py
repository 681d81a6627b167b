"""`audiodiff dataset inspect`: counts, durations, rates and channels, unreadable items by name, metadata keys
against a model's conditioners, and the duration histogram, for shards and folders, without torch."""

from __future__ import annotations

import io
import json
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import soundfile
from test_import_guard import run_command

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runtime"))  # the shard and clip makers

from shard_toy import write_shards
from toy_run import TINY_MODEL, write_clips


def _shard_dataset(tmp_path: Path) -> Path:
    folder = tmp_path / "shards"
    write_shards(folder, shards=2, per_shard=3)
    with tarfile.open(folder / "train-0002.tar", "w") as archive:  # one good sample, one corrupt member
        for name, data in (("bad.flac", b"not audio"), ("bad.json", b'{"class": "tone"}')):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    (folder / "train-0003.tar").write_bytes(b"garbage" * 300)  # an unreadable shard
    config = tmp_path / "shards.json"
    config.write_text(json.dumps({"dataset_type": "wds", "datasets": [{"id": "s", "path": "shards"}]}))
    return config


@pytest.mark.slow  # a fresh interpreter, to see what it imports
def test_shards_are_counted_with_broken_members_and_shards_named(tmp_path: Path):
    dataset = _shard_dataset(tmp_path)
    model = tmp_path / "model.json"
    model.write_text(json.dumps(TINY_MODEL))
    plot = tmp_path / "out" / "durations.png"
    code, heavy, stdout = run_command("dataset", "inspect", str(dataset), "--model", str(model), "--plot", str(plot))
    assert code == 0 and heavy == [], stdout
    assert "6 audio items" in stdout
    assert "sample rate  8000 Hz: 6" in stdout and "channels     1 ch: 6" in stdout
    assert "metadata     class (6)" in stdout
    assert "class          list     6 of 6 items (ok)" in stdout
    assert "seconds_total  number   computed by the loader" in stdout
    assert "unreadable   2" in stdout
    assert "train-0002.tar#bad`" in stdout and "train-0003.tar`" in stdout
    from matplotlib.image import imread

    image = imread(plot)
    assert image.shape[:2] == (400, 700)  # 7 x 4 inches at 100 dpi


def test_a_folder_reports_missing_conditioner_values_and_unreadable_files(tmp_path: Path, monkeypatch):
    from audiodiff.cli.dataset import run_inspect

    clips = tmp_path / "clips"
    write_clips(clips, count=4)
    soundfile.write(clips / "stereo.wav", np.zeros((16000, 2), dtype=np.float32) + 0.1, 16000)  # no sidecar
    (clips / "broken.wav").write_bytes(b"RIFF nonsense")
    dataset = tmp_path / "data.json"
    dataset.write_text(json.dumps({"dataset_type": "audio_dir", "datasets": [{"id": "c", "path": "clips"}]}))
    model = tmp_path / "model.json"
    model.write_text(json.dumps(TINY_MODEL))
    monkeypatch.chdir(tmp_path)
    printed: list[str] = []
    monkeypatch.setattr(sys.stdout, "write", lambda text: printed.append(text) or len(text))
    code = run_inspect(dataset, model=model, plot=None, max_items=None)
    text = "".join(printed)
    assert code == 0, text
    assert "5 audio items" in text and "8000 Hz: 4, 16000 Hz: 1" in text and "1 ch: 4, 2 ch: 1" in text
    assert "class          list     4 of 5 items (MISSING in 1)" in text
    assert "unreadable   1" in text and "broken.wav" in text
    assert (tmp_path / "data-durations.png").is_file()  # the default place: the working directory


@pytest.mark.slow  # fresh interpreters, to see what they import
def test_run_check_lists_and_probes_shards_without_torch(tmp_path: Path):
    from toy_run import write_configs

    write_shards(tmp_path / "shards", shards=2, per_shard=2)
    patch = {"dataset_type": "wds", "datasets": [{"id": "s", "path": "shards"}]}
    model, dataset = write_configs(tmp_path, dataset_patch=patch)
    output = str(tmp_path / "run")
    code, heavy, _ = run_command("run", str(model), "--dataset", str(dataset), "--output", output, "--check")
    assert code == 0 and heavy == []
    (tmp_path / "shards" / "train-0000.tar").write_bytes(b"garbage" * 300)  # the first shard, now unreadable
    code, heavy, _ = run_command("run", str(model), "--dataset", str(dataset), "--output", output, "--check")
    assert code == 1 and heavy == []
