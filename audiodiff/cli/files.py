"""Turning command-line paths into the files a command reads: the same discovery as `lint` (config suffixes in
any case, hidden and third-party folders skipped, `.gitignore` respected), without lint's settings."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from audiodiff.diagnostics.target import Target


def expand_paths(paths: Iterable[Path]) -> list[Path]:
    """Files as given; folders expanded to the config files below them. A path that does not exist is kept, so
    that the loader reports it."""
    from audiodiff.lint.discover import walk
    from audiodiff.lint.settings import load_settings

    paths = list(paths)
    settings = load_settings(paths)
    return [candidate.path for candidate in walk(paths, settings.ignore_rules(),
                                                 respect_gitignore=settings.respect_gitignore)]


def resolve_target(paths: Iterable[Path], given: str | None) -> Target:
    """The runtime configs are judged for: `given` (from `--target`), else the `target` of the nearest
    `[tool.audiodiff]`, else audiodiff's own. Raises `SettingsError` for a value that names no known target."""
    from audiodiff.lint.settings import load_settings

    return load_settings(list(paths), target=given).target
