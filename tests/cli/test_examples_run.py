"""Every example shown in `--help` and in the README runs, against the shipped example in a temporary folder (tiny
step counts), so that examples cannot rot.

Examples are collected from the help text of every command and from the README's backticked `audiodiff ...`
commands (synopses with placeholders such as `CONFIG` or `PATH...` are not examples). Each one must be either run
here (`RUN`: as written, or with the named tiny-step substitution) or skipped with a reason (`SKIP`); a new example
in neither makes the collection test fail.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from audiodiff.cli.app import app

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()

TINY_RUN = "--max-steps 2 --checkpoint-every 2 --batch-size 2 --set training.demo.demo_steps=1"

# example -> the command actually run ("" = as written); in this order, in one folder (later ones use earlier output)
RUN: dict[str, str] = {
    "audiodiff schema export": "",
    "audiodiff schema export -o audiodiff.schema.json": "",
    "audiodiff schema export -o model.schema.json": "",
    "audiodiff validate model_config.json": "",
    "audiodiff validate examples/toy_dit.json examples/toy_dataset.json": "",
    "audiodiff validate configs/ --format json": "",
    "audiodiff validate examples/toy_dit.json --set model.diffusion.config.depth=8": "",
    "audiodiff validate configs/ --target stable-audio-tools": "",
    "audiodiff lint configs/": "",
    "audiodiff lint . --format sarif > audiodiff.sarif": "audiodiff lint . --format sarif",
    "audiodiff lint . --ignore AD703,AD901 --exclude 'legacy/'": "",
    "audiodiff compile model_config.json --explain": "",
    "audiodiff compile model_config.json --explain --format json --batch 4 --precision 32": "",
    "audiodiff compile model_config.json --explain --format dot | dot -Tsvg > graph.svg": "audiodiff compile model_config.json --explain --format dot",
    "audiodiff compile examples/toy_dit.json --explain --set model.diffusion.config.depth=8": "",
    "audiodiff migrate model_config.json": "",
    "audiodiff migrate configs/ --write": "",
    "audiodiff migrate configs/ --check": "",
    "audiodiff run examples/toy_dit.json --dataset examples/toy_dataset.json --check": "",
    "audiodiff run examples/toy_dit.json --dataset examples/toy_dataset.json --output runs/demo --max-steps 500": "audiodiff run examples/toy_dit.json --dataset examples/toy_dataset.json --output runs/demo "
    + TINY_RUN,
    # the run folder a `--resume` continues, and the checkpoint names the help shows
    "audiodiff run model.json -d data.json -o runs/a --resume": "audiodiff run model.json -d data.json -o runs/a "
    "--resume --check",
    "audiodiff run model.json -d data.json --set training.learning_rate=3e-4 --set model.diffusion.config.depth=8": "audiodiff run model.json -d data.json --set training.learning_rate=3e-4 --set "
    "model.diffusion.config.depth=8 --check",
    "audiodiff run model.json -d data.json --devices 4 --strategy ddp --precision bf16-mixed": "audiodiff run model.json -d data.json --devices 4 --strategy ddp --precision bf16-mixed --check",
    "audiodiff ckpt inspect runs/demo/checkpoints/step_0000500.ckpt": "",
    "audiodiff ckpt export runs/demo/checkpoints/step_0000500.ckpt -o model.safetensors": "",
    "audiodiff dataset inspect data.json --model model.json": "",
    "audiodiff run model.json -d data.json -o runs/ft --init model.safetensors --logger wandb --project my-finetune": "audiodiff run model.json -d data.json -o runs/ft --init model.safetensors --logger wandb --project my-finetune --check",
    "audiodiff sample model.safetensors --cond class=chirp --steps 50 --sampler euler --seed 3 -o chirp.wav": "audiodiff sample model.safetensors --cond class=chirp --steps 2 --sampler euler --seed 3 -o chirp.wav",
}

SKIP: dict[str, str] = {
    "audiodiff run sao.json -d data.json --init sao.safetensors --init pretransform=my_vae.ckpt": "needs the Stable Audio Open weights and a VAE checkpoint (tests/runtime/test_sao_recipe.py fine-tunes a tiny one)",
    'audiodiff sample config.json --ckpt model.safetensors --prompt "warm pads" --seconds 10 -o pads.wav': "needs a model with a `prompt` (T5) conditioner and its weights; the shipped example has class labels",
    "audiodiff encode model.json --dataset data.json --output latents/ --pretransform-ckpt ae.ckpt": "needs an `autoencoder` pretransform and its weights; the shipped example's pretransform is `patched`",
    "audiodiff serve examples/toy_dit.json --ckpt runs/demo/checkpoints/last.safetensors": "starts a web server (tests/serve covers it)",
    "audiodiff serve model.safetensors --port 7861": "starts a web server (tests/serve covers it)",
    "audiodiff serve examples/toy_dit.json --ckpt runs/demo/checkpoints/<step>.safetensors": "starts a web server (tests/serve covers it)",
    'audiodiff sample inpaint.ckpt --prompt "rain" --inpaint take.wav --mask 1.5:2.5 -o fixed.wav': "needs an inpainting model with a `prompt` conditioner; tests/runtime/test_inpainting.py runs `--inpaint --mask` on a tiny one",
    'audiodiff sample inpaint.ckpt --prompt "rain" --continue intro.wav --seconds 20 -o longer.wav': "needs an inpainting model with a `prompt` conditioner; tests/runtime/test_inpainting.py runs `--continue` on a tiny one",
}

PLACEHOLDER = re.compile(r"\b[A-Z]{3,}\b|\.\.\.")


def _help_texts(command, path: list[str]):
    if hasattr(command, "commands"):
        for name, inner in command.commands.items():
            yield from _help_texts(inner, [*path, name])
    else:
        yield command.help or ""


def collect() -> list[str]:
    found = []
    for text in _help_texts(typer.main.get_command(app), []):
        found += [m.group(1).strip() for m in re.finditer(r"^\s*(?:Example: )?(audiodiff [^\n]+)$", text, re.M)]
    readme = (REPO / "README.md").read_text()
    found += [m.group(1) for m in re.finditer(r"`(audiodiff [^`]+)`", readme)]
    found += [m.group(1) for m in re.finditer(r"^\$ (audiodiff .+)$", readme, re.M)]
    examples = [e for e in found if len(e.split()) > 2 and not PLACEHOLDER.search(e)]
    return list(dict.fromkeys(examples))


def test_every_example_is_run_or_skipped_with_a_reason() -> None:
    examples = collect()
    assert len(examples) >= 20  # the collection itself works
    unknown = [e for e in examples if e not in RUN and e not in SKIP]
    assert not unknown, f"add these examples to RUN (with a tiny substitution if needed) or SKIP: {unknown}"
    stale = [e for e in [*RUN, *SKIP] if e not in examples]
    assert not stale, f"these examples are no longer shown anywhere; remove them: {stale}"


def _workspace(folder: Path) -> None:
    """The shipped example under the names the examples use."""
    examples = folder / "examples"
    examples.mkdir()
    for name in ("toy_dit.json", "toy_dataset.json"):
        shutil.copy(REPO / "examples" / name, examples / name)
    subprocess.run(
        [
            sys.executable,
            str(REPO / "examples" / "make_toy_dataset.py"),
            str(examples / "data" / "toy"),
            "--clips-per-class",
            "2",
        ],
        capture_output=True,
        check=True,
        timeout=120,
    )
    (folder / "data").symlink_to(examples / "data")
    for name in ("model_config.json", "model.json", "config.json"):
        shutil.copy(examples / "toy_dit.json", folder / name)
    shutil.copy(examples / "toy_dataset.json", folder / "data.json")
    (folder / "configs").mkdir()
    shutil.copy(examples / "toy_dit.json", folder / "configs" / "toy_dit.json")


@pytest.mark.slow
def test_every_runnable_example_runs(tmp_path: Path, monkeypatch) -> None:
    _workspace(tmp_path)
    monkeypatch.chdir(tmp_path)
    failures = []
    for example, substitute in RUN.items():
        command = substitute or example
        if "runs/a" in command and not (tmp_path / "runs" / "a").exists():
            shutil.copytree(tmp_path / "runs" / "demo", tmp_path / "runs" / "a")
        if "step_0000500" in command:  # the help shows a step-500 checkpoint; the tiny run stopped at step 2
            folder = tmp_path / "runs" / "demo" / "checkpoints"
            shutil.copy(folder / "step_0000002.ckpt", folder / "step_0000500.ckpt")
        args = shlex.split(command)[1:]
        result = runner.invoke(app, args)
        if result.exit_code != 0 or "Traceback" in result.output:
            failures.append(f"{command}\n  exit {result.exit_code}: {result.output[-800:]}")
    assert not failures, "\n\n".join(failures)
    assert json.loads((tmp_path / "audiodiff.schema.json").read_text())["$schema"]
    assert (tmp_path / "chirp.wav").is_file() and (tmp_path / "model.safetensors").is_file()
