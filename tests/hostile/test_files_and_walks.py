"""Hostile files and folders: a FIFO, a link to /dev/zero, symlink loops, a folder that cannot be listed. Every
command that reads configs (`validate`, `lint`, `migrate`) must answer with a diagnostic, in bounded work, never
a hang or a traceback. Each command runs in a subprocess with a timeout, so a regression fails instead of hanging
the suite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from audiodiff.diagnostics import codes
from audiodiff.lint.discover import walk
from audiodiff.lint.gitignore import IgnoreRules
from audiodiff.schema.reading import FileRefused, read_regular
from audiodiff.schema.source import load_file

REPOSITORY = Path(__file__).resolve().parents[2]
CONFIG = {"model_type": "autoencoder", "sample_rate": 44100, "sample_size": 65536, "audio_channels": 2}


def audiodiff(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(REPOSITORY)}
    return subprocess.run(
        [sys.executable, "-m", "audiodiff", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environment,
        check=False,
    )


needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
needs_dev_zero = pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")


@needs_fifo
def test_the_reader_refuses_a_fifo_without_blocking(tmp_path):
    fifo = tmp_path / "p.json"
    os.mkfifo(fifo)
    with pytest.raises(FileRefused) as refused:
        read_regular(fifo, 1024)  # would block forever in an ordinary open()
    assert refused.value.reason == "not-regular"
    assert "named pipe" in str(refused.value)


@needs_dev_zero
def test_the_reader_refuses_a_link_to_dev_zero(tmp_path):
    link = tmp_path / "z.json"
    link.symlink_to("/dev/zero")
    with pytest.raises(FileRefused, match="character device"):
        read_regular(link, 1024)


def test_the_reader_checks_the_size_before_reading(tmp_path):
    big = tmp_path / "big.json"
    big.write_bytes(b" " * 2048)
    with pytest.raises(FileRefused) as refused:
        read_regular(big, 1024)
    assert refused.value.reason == "too-large" and refused.value.size == 2048
    assert read_regular(big, 4096) == b" " * 2048


@needs_fifo
@needs_dev_zero
@pytest.mark.slow
@pytest.mark.parametrize("command", [["validate", "."], ["lint", "."], ["migrate", "."], ["validate", "p.json"]])
def test_commands_diagnose_a_fifo_and_a_dev_zero_link(tmp_path, command):
    (tmp_path / "good.json").write_text(json.dumps(CONFIG))
    os.mkfifo(tmp_path / "p.json")
    (tmp_path / "z.json").symlink_to("/dev/zero")
    result = audiodiff(*command, cwd=tmp_path, timeout=60)
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert result.returncode == 1, output
    assert "AD001" in output and "named pipe" in output
    if command[1] == ".":
        assert "character device" in output
    assert len(output) < 20_000


def _symlink_loops(root: Path) -> None:
    (root / "l").mkdir()
    (root / "l" / "model.json").write_text(json.dumps(CONFIG))
    (root / "l" / "x").symlink_to(".")
    (root / "l" / "y").symlink_to(".")
    (root / "self").symlink_to("self")  # a link to itself: never a folder


def test_the_walk_enters_each_folder_once(tmp_path):
    _symlink_loops(tmp_path)
    found = [candidate.path for candidate in walk([tmp_path], IgnoreRules(), respect_gitignore=False)]
    assert found == [tmp_path / "l" / "model.json"]


def test_a_link_to_a_folder_outside_is_walked_once(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "a.json").write_text("{}")
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "first").symlink_to(outside)
    (tree / "second").symlink_to(outside)
    found = [candidate.path for candidate in walk([tree], IgnoreRules(), respect_gitignore=False)]
    assert found == [tree / "first" / "a.json"]


@pytest.mark.slow
@pytest.mark.parametrize("command", ["validate", "lint", "migrate"])
def test_symlink_loops_report_the_file_once(tmp_path, command):
    _symlink_loops(tmp_path)
    result = (
        audiodiff(command, ".", "--format", "json", cwd=tmp_path, timeout=60)
        if command != "migrate"
        else audiodiff(command, ".", cwd=tmp_path, timeout=60)
    )
    assert "Traceback" not in result.stderr
    if command == "migrate":
        assert result.stdout.count("+++ b/l/model.json") == 1
    else:
        paths = [entry["path"] for entry in json.loads(result.stdout)["files"]]
        assert paths == [os.path.join("l", "model.json")]


def _deny_listing(monkeypatch, denied: Path) -> None:
    """The suite may run as root, where permissions do not stop `scandir`: the refusal is injected instead."""
    real = os.scandir

    def scandir(path=".", *args, **kwargs):
        if os.path.abspath(path) == str(denied):
            raise PermissionError(13, "Permission denied", str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, "scandir", scandir)


def test_an_unlistable_folder_is_a_diagnostic_in_lint(tmp_path, monkeypatch):
    from audiodiff.lint.runner import lint
    from audiodiff.lint.settings import load_settings

    (tmp_path / "ok").mkdir()
    (tmp_path / "ok" / "model.json").write_text(json.dumps(CONFIG))
    (tmp_path / "private").mkdir()
    _deny_listing(monkeypatch, tmp_path / "private")
    report = lint([tmp_path], load_settings([tmp_path], cwd=tmp_path))
    found = {result.path: [d.code for d in result.diagnostics] for result in report.results}
    assert found[str(tmp_path / "private")] == [codes.UNREADABLE_FOLDER]
    assert str(tmp_path / "ok" / "model.json") in found  # the walk went on past the folder it could not list


def test_an_unlistable_folder_fails_validate(tmp_path, monkeypatch, capsys):
    from audiodiff.cli.validate import run_validate

    (tmp_path / "private").mkdir()
    _deny_listing(monkeypatch, tmp_path / "private")
    monkeypatch.chdir(tmp_path)
    assert run_validate([Path(".")], "text", strict=False, verbose=False) == 1
    output = capsys.readouterr().out
    assert "AD017" in output and "Permission denied" in output
    assert "All checks passed" not in output


def test_load_file_names_what_a_non_regular_path_is(tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("named pipes are POSIX")
    os.mkfifo(tmp_path / "p.yaml")
    (diagnostic,) = load_file(tmp_path / "p.yaml").diagnostics
    assert diagnostic.code is codes.FILE_NOT_FOUND and "named pipe" in diagnostic.message
