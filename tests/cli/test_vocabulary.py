"""One vocabulary across commands: `--output/-o` and `--force`; the retired spellings (`--out`, `--overwrite`)
still work as hidden aliases, warn, and cannot be combined with the new name."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import audiodiff.cli.ckpt as ckpt_cli
import audiodiff.cli.encode as encode_cli
import audiodiff.cli.sample as sample_cli
from audiodiff.cli.app import app

runner = CliRunner()


@pytest.fixture
def received(monkeypatch) -> dict:
    seen: dict = {}
    monkeypatch.setattr(sample_cli, "run_sample", lambda source, options: seen.setdefault("sample", options) and 0)
    monkeypatch.setattr(ckpt_cli, "run_export", lambda path, **kwargs: seen.setdefault("export", kwargs) and 0)
    monkeypatch.setattr(encode_cli, "run_encode", lambda config, **kwargs: seen.setdefault("encode", kwargs) and 0)
    return seen


@pytest.mark.parametrize("spelling", ["--output", "-o"])
def test_the_current_names_are_silent(received: dict, spelling: str) -> None:
    result = runner.invoke(app, ["sample", "m.json", spelling, "a.wav"])
    assert result.exit_code == 0 and "warning" not in result.output
    assert str(received["sample"].out) == "a.wav"


@pytest.mark.parametrize(
    ("args", "key", "field", "old", "new"),
    [
        (["sample", "m.json", "--out", "a.wav"], "sample", "out", "--out", "--output"),
        (["ckpt", "export", "x.ckpt", "--out", "m.safetensors"], "export", "out", "--out", "--output"),
        (
            ["encode", "m.json", "-d", "d.json", "-o", "latents", "--overwrite"],
            "encode",
            "overwrite",
            "--overwrite",
            "--force",
        ),
    ],
    ids=["sample-out", "export-out", "encode-overwrite"],
)
def test_old_spellings_work_and_warn(received: dict, args, key, field, old, new) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"`{old}` is now spelled `{new}`" in result.output
    value = received[key][field] if isinstance(received[key], dict) else getattr(received[key], field)
    assert value not in (None, False)


def test_old_and_new_names_together_are_a_usage_error(received: dict) -> None:
    result = runner.invoke(app, ["sample", "m.json", "--out", "a.wav", "-o", "b.wav"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "sample" not in received


def test_old_spellings_are_hidden_from_help() -> None:
    for args in (["sample", "--help"], ["ckpt", "export", "--help"], ["encode", "--help"]):
        text = runner.invoke(app, args).output
        assert "--output" in text and "--out " not in text and "--overwrite" not in text


def test_a_missing_output_is_a_usage_error(received: dict) -> None:
    result = runner.invoke(app, ["sample", "m.json"])
    assert result.exit_code == 2 and "--output" in result.output
