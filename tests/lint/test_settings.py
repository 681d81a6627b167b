"""`[tool.audiodiff]` discovery and parsing."""

from __future__ import annotations

from pathlib import Path

import pytest

from audiodiff.diagnostics import codes
from audiodiff.lint.settings import SettingsError, find_pyproject, load_settings, parse_selectors


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_nearest_table_wins_and_the_search_stops_at_the_repository_root(tmp_path):
    outer = _write(tmp_path / "pyproject.toml", "[tool.audiodiff]\nstrict = true\n")
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    _write(repo / "pyproject.toml", "[project]\nname = 'x'\n")  # no table: not ours
    configs = repo / "configs" / "models"
    configs.mkdir(parents=True)
    assert find_pyproject([configs]) is None  # the outer file is beyond the repository root
    inner = _write(repo / "configs" / "pyproject.toml", "[tool.audiodiff]\nignore = ['AD703']\n")
    assert find_pyproject([configs / "a.json"]) == inner
    assert find_pyproject([tmp_path / "elsewhere.json"]) == outer


def test_settings_combine_file_and_command_line(tmp_path):
    _write(
        tmp_path / "pyproject.toml", "[tool.audiodiff]\nselect = ['AD2']\nignore = ['AD202']\nmax-demo-seconds = 90\n"
    )
    settings = load_settings([tmp_path], ignore=["AD201"], cwd=tmp_path)
    assert settings.source == str(tmp_path / "pyproject.toml")
    assert settings.max_demo_seconds == 90.0
    path = str(tmp_path / "a.json")
    assert settings.reports(codes.CODES["AD203"], path)
    assert not settings.reports(codes.CODES["AD201"], path) and not settings.reports(codes.CODES["AD202"], path)
    assert not settings.reports(codes.CODES["AD703"], path)  # not selected
    replaced = load_settings([tmp_path], select=["AD7"], cwd=tmp_path)
    assert replaced.reports(codes.CODES["AD703"], path) and not replaced.reports(codes.CODES["AD203"], path)


@pytest.mark.parametrize(
    "text, message",
    [
        ("[tool.audiodiff]\nstrict = 'yes'\n", "`strict` must be true or false"),
        ("[tool.audiodiff]\nignore = 'AD7x'\n", "matches no diagnostic code"),
        ("[tool.audiodiff]\nmax-demo-seconds = -1\n", "positive number"),
        ("[tool.audiodiff]\nper-file-ignores = ['a']\n", "table of pattern"),
        ("[tool.audiodiff\n", "cannot read it"),
    ],
)
def test_bad_settings_are_usage_errors(tmp_path, text, message):
    _write(tmp_path / "pyproject.toml", text)
    with pytest.raises(SettingsError, match=message):
        load_settings([tmp_path], cwd=tmp_path)


def test_selectors_accept_ids_prefixes_and_names():
    selectors = parse_selectors(["AD201, ad7", "unknown-key"], "--select")
    assert [s.text for s in selectors] == ["AD201", "ad7", "unknown-key"]
    assert selectors[1].matches(codes.CODES["AD703"])
    assert selectors[2].matches(codes.CODES["AD101"])
