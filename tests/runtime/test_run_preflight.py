"""What `run` checks in the dataset before it builds anything: each dataset's own metadata module, conditioning
values of the wrong kind, the values pre-encoded data must carry, and where relative dataset paths lead."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from toy_run import options, write_clips, write_configs

from audiodiff.runtime.run import RunError, run

QUIET = {"echo": lambda text: None}

LOGGING_MODULE = """
import pathlib

def get_custom_metadata(info, audio):
    with open(pathlib.Path(__file__).with_name("seen.txt"), "a") as log:
        log.write(info["path"] + "\\n")
    return {"class": "tone"}
"""


def _diagnostics(error: RunError) -> list:
    return [d for result in error.results for d in result.diagnostics if d.is_error]


def test_a_metadata_module_serves_only_the_dataset_that_names_it(tmp_path: Path):
    module = tmp_path / "meta.py"
    module.write_text(LOGGING_MODULE)
    other = tmp_path / "other"
    write_clips(other, count=4, seed=1)
    model, dataset = write_configs(
        tmp_path,
        dataset_patch={
            "datasets": [
                {"id": "clips", "path": str(tmp_path / "clips"), "custom_metadata_module": str(module)},
                {"id": "other", "path": str(other)},
            ]
        },
    )
    (other / "tone_00.json").unlink()  # no module serves `other`: its files must carry `class` themselves
    with pytest.raises(RunError) as raised:
        run(options(model, dataset, tmp_path / "refused", max_steps=1, allow_metadata_module=True), **QUIET)
    diagnostic = _diagnostics(raised.value)[0]
    assert diagnostic.code.id == "AD809" and "1 of 4" in diagnostic.message and "tone_00.wav" in diagnostic.message

    (other / "tone_00.json").write_text(json.dumps({"class": "tone"}))
    outcome = run(options(model, dataset, tmp_path / "run", max_steps=3, allow_metadata_module=True), **QUIET)
    assert outcome.steps == 3
    seen = set((tmp_path / "seen.txt").read_text().split())
    assert seen and all(Path(path).parent == tmp_path / "clips" for path in seen), seen


def test_a_conditioning_value_of_the_wrong_kind_is_reported_with_its_file_and_key(tmp_path: Path):
    model, dataset = write_configs(tmp_path)
    (tmp_path / "clips" / "noise_03.json").write_text(json.dumps({"class": "noise", "seconds_start": "fast"}))
    # the audio loader computes `seconds_start` itself, so an audio dataset's sidecar value is never read
    run(options(model, dataset, tmp_path / "audio", max_steps=1), **QUIET)

    model, _ = write_configs(
        tmp_path,
        {
            "model": {
                "conditioning": {
                    "configs": [
                        {"id": "class", "type": "list", "config": {"options": ["tone", "noise"]}},
                        {"id": "seconds_start", "type": "number", "config": {"min_val": 0, "max_val": 8}},
                        {"id": "seconds_total", "type": "number", "config": {"min_val": 0, "max_val": 8}},
                        {"id": "speed", "type": "number", "config": {"min_val": 0, "max_val": 8}},
                        {"id": "count", "type": "int", "config": {"min_val": 0, "max_val": 8}},
                    ]
                },
                "diffusion": {
                    "cross_attention_cond_ids": ["class", "seconds_start", "seconds_total", "speed", "count"]
                },
            },
            "training": {
                "demo": {
                    "demo_cond": [{"class": "tone", "seconds_start": 0, "seconds_total": 1, "speed": 1, "count": 1}] * 2
                }
            },
        },
    )
    for path in (tmp_path / "clips").glob("*.json"):
        metadata = json.loads(path.read_text())
        path.write_text(json.dumps({**metadata, "speed": 1.5, "count": 2}))
    (tmp_path / "clips" / "noise_03.json").write_text(json.dumps({"class": "noise", "speed": "fast", "count": 2.5}))
    with pytest.raises(RunError) as raised:
        run(options(model, dataset, tmp_path / "run", max_steps=1), **QUIET)
    by_key = {d.message.split("`")[1]: d for d in _diagnostics(raised.value)}
    assert set(by_key) == {"speed", "count"}
    for key, diagnostic in by_key.items():
        assert diagnostic.code.id == "AD809" and "1 of 8" in diagnostic.message
        assert "noise_03.wav" in diagnostic.message and diagnostic.span is not None
    assert "'fast'" in by_key["speed"].message and "2.5" in by_key["count"].message


def _latents(folder: Path, metadata: dict) -> None:
    folder.mkdir(parents=True)
    for index in range(3):
        np.save(folder / f"clip_{index}.wav.npy", np.zeros((16, 64), dtype=np.float32))
        (folder / f"clip_{index}.wav.json").write_text(json.dumps(metadata))


def test_pre_encoded_data_must_carry_the_seconds_values_that_only_the_audio_loader_computes(tmp_path: Path):
    model, _ = write_configs(tmp_path, {"training": {"pre_encoded": True}})
    _latents(tmp_path / "latents", {"class": "tone", "padding_mask": [1] * 64})
    dataset = tmp_path / "latents.json"
    dataset.write_text(
        json.dumps(
            {
                "dataset_type": "pre_encoded",
                "datasets": [{"id": "latents", "path": str(tmp_path / "latents")}],
                "latent_crop_length": 64,
            }
        )
    )
    with pytest.raises(RunError) as raised:
        run(options(model, dataset, tmp_path / "run", max_steps=1), **QUIET)
    missing = sorted(d.message.split("`")[1] for d in _diagnostics(raised.value))
    assert missing == ["seconds_start", "seconds_total"]
    assert all(d.code.id == "AD809" and "3 of 3" in d.message for d in _diagnostics(raised.value))


def test_relative_dataset_paths_are_read_from_the_config_folder_first(tmp_path: Path, monkeypatch):
    from audiodiff.runtime.run import prepare

    project, elsewhere = tmp_path / "project", tmp_path / "cwd"
    model, dataset = write_configs(project)
    (project / "meta.py").write_text("def get_custom_metadata(info, audio):\n    return {}\n")
    (project / "list.jsonl").write_text(
        "".join(json.dumps({"path": f"tone_0{i}.wav", "class": "tone"}) + "\n" for i in (0, 2, 4))
    )
    dataset.write_text(
        json.dumps(
            {
                "dataset_type": "audio_dir",
                "datasets": [
                    {"id": "clips", "path": "clips", "manifest": "list.jsonl", "custom_metadata_module": "meta.py"}
                ],
            }
        )
    )
    # the working directory holds the same names: a `clips` folder, a manifest and a module that must not be read
    write_clips(elsewhere / "clips", count=2, seed=3)
    (elsewhere / "list.jsonl").write_text(json.dumps({"path": "tone_00.wav", "class": "tone"}) + "\n")
    (elsewhere / "meta.py").write_text("raise ImportError('the wrong module')\n")
    monkeypatch.chdir(elsewhere)
    settings = {"allow_metadata_module": True}
    preflight = prepare(options(model, dataset, tmp_path / "run", **settings)).preflight
    assert sorted(Path(f.path).relative_to(project).as_posix() for f in preflight.scan.files) == [
        "clips/tone_00.wav",
        "clips/tone_02.wav",
        "clips/tone_04.wav",
    ]
    assert preflight.metadata_modules["clips"].path == str((project / "meta.py").resolve())

    # upstream reads paths from the working directory: what only exists there is still found
    (project / "clips").rename(project / "moved")
    (project / "list.jsonl").unlink()
    preflight = prepare(options(model, dataset, tmp_path / "run", **settings)).preflight
    assert [Path(f.path).parent for f in preflight.scan.files] == [elsewhere / "clips"]
