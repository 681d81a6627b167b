"""Turning command-line paths into the files a command reads: the same discovery as `lint` (config suffixes in
any case, hidden and third-party folders skipped, `.gitignore` respected), without lint's settings."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from audiodiff.diagnostics.model import Diagnostic

if TYPE_CHECKING:
    from audiodiff.diagnostics.target import Target


def expand_paths(paths: Iterable[Path]) -> tuple[list[Path], list[Diagnostic]]:
    """Files as given; folders expanded to the config files below them. A path that does not exist is kept, so
    that the loader reports it. The diagnostics say which folders could not be listed."""
    from audiodiff.lint.discover import walk
    from audiodiff.lint.settings import load_settings

    paths = list(paths)
    settings = load_settings(paths)
    files: list[Path] = []
    problems: list[Diagnostic] = []
    for candidate in walk(paths, settings.ignore_rules(), respect_gitignore=settings.respect_gitignore):
        if candidate.problem is not None:
            problems.append(candidate.diagnostic())
        else:
            files.append(candidate.path)
    return files, problems


def resolve_target(paths: Iterable[Path], given: str | None) -> Target:
    """The runtime configs are judged for: `given` (from `--target`), else the `target` of the nearest
    `[tool.audiodiff]`, else audiodiff's own. Raises `SettingsError` for a value that names no known target."""
    from audiodiff.lint.settings import load_settings

    return load_settings(list(paths), target=given).target
