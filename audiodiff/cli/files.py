"""Turning command-line paths into the files a command reads."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

CONFIG_SUFFIXES = (".json", ".yaml", ".yml")


def expand_paths(paths: Iterable[Path]) -> list[Path]:
    """Files as given; folders expanded to the config files below them (sorted, hidden folders skipped).
    A path that does not exist is kept, so that the loader reports it."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = []
            for root, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found.extend(Path(root) / name for name in names if name.endswith(CONFIG_SUFFIXES))
            files.extend(sorted(found))
        else:
            files.append(path)
    return files
