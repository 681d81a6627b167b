"""The whole command-line surface (commands, arguments, options, their types and defaults) is a snapshot, so that
a change to it is a deliberate, reviewed change and never a side effect (torchtitan's "no new CLI options" idea).

When a change is intended: `AUDIODIFF_UPDATE_SNAPSHOTS=1 pytest tests/cli/test_cli_surface.py`, then review the
diff of tests/cli/cli_surface.json in the commit.
"""

from __future__ import annotations

import difflib
import enum
import json
import os
from pathlib import Path
from typing import Any

import pytest
import typer

from audiodiff.cli.app import app

SNAPSHOT = Path(__file__).resolve().parent / "cli_surface.json"


def _default(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [_default(item) for item in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _type(annotation: Any) -> str | list[str]:
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return [str(member.value) for member in annotation]
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("pathlib.", "")


def _param(param: Any) -> dict[str, Any]:
    """One argument or option, read through typer's parameter objects (typer carries its own click)."""
    entry: dict[str, Any] = {"name": param.name, "kind": param.param_type_name}
    if param.param_type_name == "option":
        entry["flags"] = sorted(param.opts) + sorted(param.secondary_opts)
        entry["hidden"] = bool(param.hidden)
        entry["is_flag"] = bool(param.is_flag)
    entry["type"] = _type(param.type_descriptor.annotation)
    for bound in ("min", "max"):
        if getattr(param, bound, None) is not None:
            entry[bound] = getattr(param, bound)
    entry["required"] = bool(param.required)
    entry["multiple"] = bool(param.multiple or param.nargs == -1)
    entry["default"] = None if param.required else _default(param.default)
    return entry


def surface(command: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"params": [_param(p) for p in command.params if p.name != "help"]}
    if hasattr(command, "commands"):
        entry["commands"] = {name: surface(command.commands[name]) for name in sorted(command.commands)}
    return entry


def current() -> str:
    return json.dumps(surface(typer.main.get_command(app)), indent=2) + "\n"


def test_the_command_line_surface_matches_its_snapshot() -> None:
    text = current()
    if os.environ.get("AUDIODIFF_UPDATE_SNAPSHOTS") == "1" or not SNAPSHOT.exists():
        SNAPSHOT.write_text(text)
    expected = SNAPSHOT.read_text()
    if text != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), text.splitlines(True), "snapshot", "now"))
        pytest.fail(
            "the command-line surface changed; if intended, rerun with AUDIODIFF_UPDATE_SNAPSHOTS=1 and "
            f"review tests/cli/cli_surface.json:\n{diff}"
        )


def test_the_snapshot_sees_a_new_option() -> None:
    """The comparison can fail: an option added to a command shows up in the serialised surface."""
    shiny = typer.Typer()
    shiny.command("validate")(lambda: None)
    before = json.dumps(surface(typer.main.get_command(shiny)))

    def validate(shiny: bool = typer.Option(False, "--shiny")) -> None: ...

    shiny.registered_commands.clear()
    shiny.command("validate")(validate)
    shiny.command("other")(lambda: None)  # a group of two, so that typer keeps the names
    after = json.dumps(surface(typer.main.get_command(shiny)))
    assert "--shiny" in after and before != after
