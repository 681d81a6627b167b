"""The shipped example, end to end: the toy-data recipe, a few training steps of `examples/toy_dit.json` with
demos and checkpoints, and a clip sampled from the exported weights."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
from toy_run import REPO, cli

EXAMPLES = REPO / "examples"


def test_the_examples_validate():
    result = cli("validate", str(EXAMPLES / "toy_dit.json"), str(EXAMPLES / "toy_dataset.json"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_example_dataset_is_found_from_its_config_wherever_the_command_runs():
    config = json.loads((EXAMPLES / "toy_dataset.json").read_text())
    path = Path(config["datasets"][0]["path"])
    assert not path.is_absolute()  # relative to the config's folder, so the example works from any directory
    made = re.search(r"make_toy_dataset\.py (\S+)", (REPO / "Makefile").read_text()).group(1)
    assert (EXAMPLES / path).resolve() == (REPO / made).resolve()  # where `make demo` writes the clips


@pytest.mark.slow
def test_the_shipped_example_trains_demos_checkpoints_and_samples(tmp_path: Path):
    data = tmp_path / "toy"
    made = subprocess.run(
        [sys.executable, str(EXAMPLES / "make_toy_dataset.py"), str(data), "--clips-per-class", "3"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    config = json.loads((EXAMPLES / "toy_dit.json").read_text())
    # demo settings are not training state: made small here so the test renders two rounds quickly
    config["training"]["demo"].update(demo_every=2, demo_steps=3)
    model = tmp_path / "toy_dit.json"
    model.write_text(json.dumps(config))
    dataset_config = json.loads((EXAMPLES / "toy_dataset.json").read_text())
    dataset_config["datasets"][0]["path"] = data.name  # relative: read from the config's folder, not the cwd
    dataset = tmp_path / "toy_dataset.json"
    dataset.write_text(json.dumps(dataset_config))

    output = tmp_path / "run"
    result = cli(
        "run",
        str(model),
        "--dataset",
        str(dataset),
        "--output",
        str(output),
        "--max-steps",
        "3",
        "--batch-size",
        "2",
        "--checkpoint-every",
        "3",
        "--logger",
        "csv",
    )
    assert result.returncode == 0, result.stderr
    assert "trained to step 3" in result.stderr and "9 audio files" in result.stderr

    rounds = sorted(p.name for p in (output / "demos").iterdir() if p.is_dir())
    assert rounds == ["step_0000002", "step_0000003"]  # a multiple of demo_every, the last step; none at step 1
    assert (output / "demos" / "loss.csv").read_text().splitlines()[1:] != []
    scales = config["training"]["demo"]["demo_cfg_scales"]
    for round_folder in (output / "demos" / name for name in rounds):
        assert (round_folder / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        wavs = sorted(round_folder.glob("*.wav"))
        assert len(wavs) == config["training"]["demo"]["num_demos"] * len(scales)
        for wav in wavs:
            info = soundfile.info(wav)
            assert info.samplerate == config["sample_rate"] and info.frames == config["sample_size"]
            audio, _ = soundfile.read(wav)
            assert np.isfinite(audio).all() and np.sqrt(np.mean(audio**2)) > 1e-3  # neither NaN nor silence
            assert wav.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    checkpoints = output / "checkpoints"
    assert (checkpoints / "step_0000003.ckpt").is_file()
    exported = checkpoints / "step_0000003.safetensors"
    assert exported.is_file()

    sample = tmp_path / "sample.wav"
    result = cli(
        "sample",
        str(model),
        "--ckpt",
        str(exported),
        "--seconds",
        "1",
        "--cond",
        "class=tone",
        "--steps",
        "4",
        "--output",
        str(sample),
    )
    assert result.returncode == 0, result.stderr
    assert soundfile.info(sample).samplerate == config["sample_rate"]
    assert soundfile.info(sample).frames == config["sample_rate"]  # one second


def _examples_module(name: str):
    """A script of examples/ imported as a module (examples/ is not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def test_the_demo_measures_tell_tones_chirps_and_noise_bursts_from_noise_and_from_each_other():
    measure = _examples_module("measure_demo")
    toy = _examples_module("make_toy_dataset")
    rate, length = 4000, 4096
    rng = np.random.default_rng(3)
    clips = {name: [toy.MAKERS[name](length, rate, rng) for _ in range(6)] for name in measure.CLASSES}
    measured = {name: [measure.Measures.of(clip, rate) for clip in items] for name, items in clips.items()}
    white = measure.Measures.of(rng.standard_normal(length) * 0.3, rate)
    assert all(m.tone_peak_to_rest_db > 30 for m in measured["tone"]) and white.tone_peak_to_rest_db < 0
    assert all(m.chirp_octaves > 1.2 and abs(m.chirp_rho) > 0.95 for m in measured["chirp"])
    assert all(m.chirp_octaves < 0.1 for m in measured["tone"])  # a steady note does not sweep
    assert all(m.noise_range_db > 40 for m in measured["noise"]) and white.noise_range_db < 6
    assert all(m.meets(name) for name, items in measured.items() for m in items)
    assert not white.meets("tone") and not white.meets("chirp") and not white.meets("noise")
    classify = measure.NearestCentroid({name: items[:3] for name, items in measured.items()})
    assert [classify(m) for name in measure.CLASSES for m in measured[name][3:]] == [
        name for name in measure.CLASSES for _ in range(3)
    ]
    assert classify(white) == "noise"  # flat like the noise bursts, however it is gated
    # a note over a white floor 20 dB down is still a note: its line stands, though its flatness is noise-like
    tone = clips["tone"][3]
    noisy = measure.Measures.of(tone + rng.standard_normal(length) * tone.std() * 0.1, rate)
    assert noisy.flatness_db > -25 and classify(noisy) == "tone"


def test_the_demo_dataset_plays_the_given_notes_and_leaves_gaps_of_100_ms_between_bursts(tmp_path: Path):
    toy = _examples_module("make_toy_dataset")
    measure = _examples_module("measure_demo")
    toy.write_dataset(tmp_path, clips_per_class=6, sustained=True, seconds=0.5, notes=(220.0, 660.0))
    pitches = set()
    for path in sorted(tmp_path.glob("*.wav")):
        audio, rate = soundfile.read(path, always_2d=True)
        mono = audio.mean(1)
        spectrum = np.abs(np.fft.rfft(mono * np.hanning(len(mono))))
        peak = np.fft.rfftfreq(len(mono), 1 / rate)[np.argmax(spectrum)]
        if path.name.startswith("tone"):
            pitches.add(min((220.0, 660.0), key=lambda note: abs(note - peak)))
            assert min(abs(peak - 220.0), abs(peak - 660.0)) <= 2.0, (path.name, peak)  # 2 Hz bins
        if path.name.startswith("noise"):
            assert measure.level_range_db(mono, rate) >= 60.0, path.name  # a whole 50 ms frame of silence
            silent = np.concatenate([[0], (np.abs(mono) < 1e-4).astype(int), [0]])
            starts, ends = np.flatnonzero(np.diff(silent) == 1), np.flatnonzero(np.diff(silent) == -1)  # [start, end)
            gaps = [
                (end - start) / rate
                for start, end in zip(starts, ends, strict=True)
                if start > 0 and end < len(mono) and end - start >= 0.01 * rate  # between bursts, not a zero crossing
            ]
            assert gaps and min(gaps) >= 0.09, (path.name, gaps)  # 100 ms or more, less the bursts' 5 ms edges
    assert pitches == {220.0, 660.0}
    refused = subprocess.run(
        [sys.executable, str(EXAMPLES / "make_toy_dataset.py"), str(tmp_path / "x"), "--notes", "220,loud"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode == 2 and "comma-separated frequencies" in refused.stderr
    assert not (tmp_path / "x").exists()


# The whole `make demo` recipe, shortened: the dataset as the Makefile writes it, the shipped config, `run`, `sample`
# and `examples/measure_demo.py`, with DEMO_TEST_STEPS training steps instead of the Makefile's DEMO_STEPS.
DEMO_TEST_STEPS = 600


@pytest.mark.slow
def test_the_demo_recipe_runs_end_to_end_and_learns_the_toy_spectra(tmp_path: Path):
    makefile = (REPO / "Makefile").read_text()
    dataset_flags = re.search(r"make_toy_dataset\.py examples/data/toy(.*)", makefile).group(1).split()
    data = tmp_path / "toy"
    made = subprocess.run(
        [sys.executable, str(EXAMPLES / "make_toy_dataset.py"), str(data), *dataset_flags],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    dataset_config = json.loads((EXAMPLES / "toy_dataset.json").read_text())
    dataset_config["datasets"][0]["path"] = str(data)
    dataset = tmp_path / "toy_dataset.json"
    dataset.write_text(json.dumps(dataset_config))
    model = EXAMPLES / "toy_dit.json"
    output = tmp_path / "run"
    steps = str(DEMO_TEST_STEPS)
    trained = cli(
        "run", str(model), "--dataset", str(dataset), "--output", str(output), "--max-steps", steps,
        "--batch-size", "8", "--checkpoint-every", steps, "--logger", "csv", timeout=900,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    exported = output / "checkpoints" / f"step_{DEMO_TEST_STEPS:07d}.safetensors"
    sample = output / "sample.wav"
    sampled = cli(
        "sample", str(model), "--ckpt", str(exported), "--cond", "class=tone", "--seconds", "1",
        "--cfg-scale", "4", "--steps", "50", "--seed", "1", "--output", str(sample),
    )  # fmt: skip
    assert sampled.returncode == 0, sampled.stderr
    assert soundfile.info(sample).frames == json.loads(model.read_text())["sample_rate"]

    measure = _examples_module("measure_demo")
    results, lines = measure.check(output, config=model, data=data, seeds=2)
    report = "\n".join(lines)
    assert (output / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    by_class = {result.name: result for result in results}
    # A quarter of the Makefile's DEMO_STEPS, so the thresholds are weaker than the README's targets (which need the
    # whole run), but each is one the untrained model's white-noise clips miss by far (peak-to-rest about -10 dB at
    # 4 kHz, level range about 2 dB, no sweep) and the learned classes pass at 600 steps with a margin (measured
    # here: tones +9.5 and +7.0 dB, chirps 1.73 and 1.49 octaves with rho 1.00 and 0.79, noise 24.2 and 25.4 dB):
    # every clip lands nearest its own class's training clips; every chirp sweeps an octave or more in one
    # direction; every noise clip has a gap 15 dB under its bursts; every tone stands out of the rest by 0 dB or more.
    assert [label for r in results for label in r.labels] == [r.name for r in results for _ in r.labels], report
    for measured in by_class["chirp"].generated:
        assert measured.chirp_octaves >= 1.0 and abs(measured.chirp_rho) >= 0.6, report
    for measured in by_class["noise"].generated:
        assert measured.noise_range_db >= 15.0, report
    for measured in by_class["tone"].generated:
        assert measured.tone_peak_to_rest_db >= 0.0, report
