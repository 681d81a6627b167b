"""`migrate --write` against races and odd filesystems: an edit made between its read and its write is kept (the
write is refused), owner and hard links survive, and a link out of the walked tree is never followed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from audiodiff.cli.app import app
from audiodiff.schema import rewrite as rewrite_module

runner = CliRunner()

V1_YAML = """# a small VAE
model_type: autoencoder
sample_rate: 16000
training:
  learning_rate: 1.0e-4
"""


def _write(path: Path, text: str = V1_YAML) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_an_edit_between_read_and_write_is_never_lost(tmp_path, monkeypatch):
    path = _write(tmp_path / "vae.yaml")
    real = rewrite_module.rewritten_text
    edited = V1_YAML + "# saved by an editor meanwhile\n"

    def racing(*args, **kwargs):
        text = real(*args, **kwargs)
        path.write_text(edited)  # the injected edit lands after the read, before the write
        return text

    monkeypatch.setattr(rewrite_module, "rewritten_text", racing)
    result = runner.invoke(app, ["migrate", "--write", str(path)])
    assert result.exit_code == 1
    assert "changed since it was read" in result.output
    assert path.read_text() == edited


def test_the_write_still_happens_without_a_race(tmp_path):
    path = _write(tmp_path / "vae.yaml")
    result = runner.invoke(app, ["migrate", "--write", str(path)])
    assert result.exit_code == 0, result.output
    assert "schema_version: 2" in path.read_text()


def test_hard_links_are_kept(tmp_path):
    path = _write(tmp_path / "vae.yaml")
    twin = tmp_path / "elsewhere" / "same.yaml"
    twin.parent.mkdir()
    os.link(path, twin)
    inode = path.stat().st_ino
    result = runner.invoke(app, ["migrate", "--write", str(path)])
    assert result.exit_code == 0, result.output
    assert path.stat().st_ino == inode and path.stat().st_nlink == 2
    assert twin.read_text() == path.read_text() and "schema_version: 2" in twin.read_text()
    assert not any(name.endswith(".tmp") for name in os.listdir(tmp_path))


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="changing a file's owner needs root")
def test_another_users_file_keeps_its_owner(tmp_path):
    path = _write(tmp_path / "vae.yaml")
    os.chown(path, 12345, 12345)
    os.chmod(path, 0o640)
    result = runner.invoke(app, ["migrate", "--write", str(path)])
    assert result.exit_code == 0, result.output
    info = path.stat()
    assert (info.st_uid, info.st_gid, info.st_mode & 0o777) == (12345, 12345, 0o640)
    assert "schema_version: 2" in path.read_text()


def test_a_file_link_out_of_the_tree_is_not_followed(tmp_path):
    outside = _write(tmp_path / "outside" / "vae.yaml")
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "linked.yaml").symlink_to(outside)
    _write(tree / "own.yaml")
    result = runner.invoke(app, ["migrate", "--write", str(tree)])
    assert result.exit_code == 1
    assert "outside" in result.output
    assert outside.read_text() == V1_YAML  # the target was not rewritten
    assert (tree / "linked.yaml").is_symlink()
    assert "schema_version: 2" in (tree / "own.yaml").read_text()  # the rest of the tree was migrated


def test_a_folder_link_out_of_the_tree_is_not_followed_for_writing(tmp_path):
    outside = _write(tmp_path / "outside" / "vae.yaml")
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "configs").symlink_to(outside.parent)
    result = runner.invoke(app, ["migrate", "--write", str(tree)])
    assert result.exit_code == 1
    assert outside.read_text() == V1_YAML


def test_a_link_inside_the_tree_rewrites_its_target_once(tmp_path):
    tree = tmp_path / "tree"
    real = _write(tree / "real.yaml")
    (tree / "alias.yaml").symlink_to("real.yaml")
    result = runner.invoke(app, ["migrate", "--write", str(real)])
    assert result.exit_code == 0, result.output
    assert (tree / "alias.yaml").is_symlink() and "schema_version: 2" in real.read_text()
