"""Failures that used to be quiet now say what happened: `--strict` names its reason, `compile --params` says the
cross-check ran, `ckpt inspect` of an audio file says it is not a checkpoint, the dot graph connects a codec's
parts, and skipped dataset files are named."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from audiodiff.cli.app import app
from audiodiff.runtime.scan import SkippedFile, skipped_files

REPO = Path(__file__).resolve().parents[2]
WARNING_CASE = REPO / "tests" / "corpus" / "invalid" / "ad317-causal-attention" / "config.json"  # one warning
runner = CliRunner()


@pytest.mark.parametrize("command", ["validate", "lint"])
def test_strict_says_why_it_exits_1(command: str) -> None:
    result = runner.invoke(app, [command, str(WARNING_CASE), "--strict"])
    assert result.exit_code == 1
    assert "--strict counts the" in result.output and "as errors" in result.output
    assert "--strict counts" not in runner.invoke(app, [command, str(WARNING_CASE)]).output


def test_compile_params_says_the_cross_check_ran() -> None:
    result = runner.invoke(app, ["compile", str(REPO / "examples" / "toy_dit.json"), "--params"])
    assert result.exit_code == 0, result.output
    assert "built on torch's meta device; the parameters of" in result.output and "match" in result.output


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "a WAV (RIFF) audio file"),
        (b"fLaC\x00\x00\x00\x22", "a FLAC audio file"),
        (b'{"model_type": "x"}', "a text file"),
    ],
)
def test_ckpt_inspect_of_another_kind_of_file_says_it_is_not_a_checkpoint(
    tmp_path: Path, content: bytes, kind: str
) -> None:
    path = tmp_path / "song.wav"
    path.write_bytes(content)
    result = runner.invoke(app, ["ckpt", "inspect", str(path)])
    assert result.exit_code == 1 and f"not a checkpoint: this is {kind}" in result.output


def test_the_dot_graph_connects_encoder_bottleneck_and_decoder() -> None:
    config = REPO / "tests" / "corpus" / "valid" / "dit_t5_oobleck_vae.json"
    dot = runner.invoke(app, ["compile", str(config), "--format", "dot"]).stdout
    assert '"pretransform.encoder" -> "pretransform.bottleneck"' in dot
    assert '"pretransform.bottleneck" -> "pretransform.decoder"' in dot


def test_skipped_files_are_named_with_their_reason() -> None:
    skipped = [SkippedFile(f"/d/{index}.wav", "unreadable audio") for index in range(7)]
    text = skipped_files(skipped)
    assert "`/d/0.wav` (unreadable audio)" in text and "`/d/4.wav`" in text and "and 2 more" in text
