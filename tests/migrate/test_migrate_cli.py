"""`audiodiff migrate`: a diff by default, in-place rewrites with --write, exit codes for CI with --check."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from audiodiff.cli.app import app

runner = CliRunner()

V1_YAML = """# a small VAE
model_type: autoencoder
sample_rate: 16000
training:
  learning_rate: 1.0e-4
"""


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_prints_a_unified_diff_and_changes_nothing(tmp_path):
    path = _write(tmp_path, "vae.yaml", V1_YAML)
    result = runner.invoke(app, ["migrate", str(path)])
    assert result.exit_code == 0, result.output
    name = str(path).replace("\\", "/")
    assert result.stdout.splitlines()[:2] == [f"--- a/{name}", f"+++ b/{name}"]
    assert "+schema_version: 2" in result.stdout
    assert "+  use_ema: false" in result.stdout
    assert path.read_text() == V1_YAML


def test_diff_marks_a_missing_final_newline(tmp_path):
    path = _write(tmp_path, "vae.json", '{"model_type": "autoencoder", "training": {}}')
    result = runner.invoke(app, ["migrate", str(path)])
    assert result.stdout.endswith("\\ No newline at end of file\n")


def test_write_rewrites_in_place_and_check_then_passes(tmp_path):
    path = _write(tmp_path, "configs/vae.yaml", V1_YAML)
    checked = runner.invoke(app, ["migrate", str(tmp_path), "--check"])
    assert checked.exit_code == 1
    assert "AD902 [not-current]" in checked.stdout and "vae.yaml" in checked.stdout

    written = runner.invoke(app, ["migrate", str(tmp_path), "--write"])
    assert written.exit_code == 0, written.output
    assert "schema version 1 -> 2" in written.stderr
    assert path.read_text() == (
        "# a small VAE\nschema_version: 2\nmodel_type: autoencoder\nsample_rate: 16000\ntraining:\n"
        "  learning_rate: 1.0e-4\n  use_ema: false\n"
    )
    assert runner.invoke(app, ["migrate", str(tmp_path), "--check"]).exit_code == 0
    assert runner.invoke(app, ["migrate", str(path)]).stdout == ""  # nothing left to change


def test_to_version_one_downgrades(tmp_path):
    path = _write(
        tmp_path,
        "u.json",
        json.dumps({"schema_version": 2, "model_type": "diffusion_uncond", "model": {"type": "adp_1d"}}, indent=2),
    )
    result = runner.invoke(app, ["migrate", str(path), "--to", "1", "--write"])
    assert result.exit_code == 0, result.output
    data = json.loads(path.read_text())
    assert data["schema_version"] == 1 and data["model"]["type"] == "adp_uncond_1d"
    assert runner.invoke(app, ["migrate", str(path), "--to", "1", "--check"]).exit_code == 0
    assert runner.invoke(app, ["migrate", str(path), "--check"]).exit_code == 1


def test_usage_errors_exit_2(tmp_path):
    path = _write(tmp_path, "vae.yaml", V1_YAML)
    assert runner.invoke(app, ["migrate", str(path), "--to", "5"]).exit_code == 2
    assert runner.invoke(app, ["migrate", str(path), "--write", "--check"]).exit_code == 2


def test_other_files_are_skipped_and_broken_configs_fail(tmp_path):
    other = _write(tmp_path, "package.json", '{"name": "site"}')
    result = runner.invoke(app, ["migrate", str(other), "--check"])
    assert result.exit_code == 0 and "skipped" in result.stderr
    broken = _write(tmp_path, "broken.json", '{"model_type": "autoencoder",')
    result = runner.invoke(app, ["migrate", str(broken)])
    assert result.exit_code == 1 and "AD006" in result.stderr
    bad_version = _write(tmp_path, "v9.json", '{"schema_version": 9, "model_type": "autoencoder"}')
    result = runner.invoke(app, ["migrate", str(bad_version)])
    assert result.exit_code == 1 and "not a version this audiodiff knows" in result.stderr


def test_write_keeps_the_file_mode_the_link_and_the_byte_order_mark(tmp_path):
    real = tmp_path / "real.yaml"
    real.write_bytes(b"\xef\xbb\xbf" + V1_YAML.encode())
    real.chmod(0o640)
    link = tmp_path / "link.yaml"
    link.symlink_to(real)
    result = runner.invoke(app, ["migrate", str(link), "--write"])
    assert result.exit_code == 0, result.output
    assert link.is_symlink()
    data = real.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and b"schema_version: 2" in data
    assert real.stat().st_mode & 0o777 == 0o640


def test_third_party_folders_are_never_rewritten(tmp_path):
    foreign = '{"model_type": "wav2vec2", "sample_rate": 16000}\n'
    for folder in ("node_modules/x", "venv/lib/site-packages/p"):
        _write(tmp_path, f"{folder}/config.json", foreign)
    mine = _write(tmp_path, "configs/vae.yaml", V1_YAML)
    result = runner.invoke(app, ["migrate", str(tmp_path), "--write"])
    assert result.exit_code == 0, result.output
    for folder in ("node_modules/x", "venv/lib/site-packages/p"):
        assert (tmp_path / folder / "config.json").read_text() == foreign
    assert "schema_version: 2" in mine.read_text()


def test_an_unwritable_file_is_reported_without_a_traceback(tmp_path, monkeypatch):
    path = _write(tmp_path, "vae.yaml", V1_YAML)

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("audiodiff.cli.safe_rewrite.write_bytes_atomic", refuse)  # the one writer of --write
    result = runner.invoke(app, ["migrate", str(path), "--write"])
    assert result.exit_code == 1
    assert "cannot be written" in result.stderr and "Traceback" not in result.output
    assert path.read_text() == V1_YAML
