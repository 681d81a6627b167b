"""The command line's layout: `app.py` only registers commands, one module per command under `audiodiff/cli/`,
and assembling the command line (what `audiodiff --help` costs) loads no heavy library and none of the layers
below the CLI except the diagnostics it reports with."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import typer

from audiodiff.cli.app import app

CLI = Path(__file__).resolve().parents[2] / "audiodiff" / "cli"


def test_app_imports_only_typer_and_cli_modules() -> None:
    tree = ast.parse((CLI / "app.py").read_text())
    imported = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
            imported.add(node.module or "")
    assert imported <= {"typer", "audiodiff", "audiodiff.cli"}, imported
    defined = [node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))]
    assert set(defined) <= {"_version", "_root", "main"}, f"app.py defines {defined}: commands belong in their module"


def test_every_command_comes_from_its_own_module() -> None:
    group = typer.main.get_command(app)
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        callback = command.callback
        if callback is None:  # a group (ckpt, schema): its subcommands live in the group's module
            module = {sub.callback.__module__ for sub in command.commands.values()}
            assert module == {f"audiodiff.cli.{name}"}, (name, module)
        else:
            assert callback.__module__ == f"audiodiff.cli.{name}", (name, callback.__module__)


def test_assembling_the_command_line_stays_light() -> None:
    script = (
        "import json, sys\nimport audiodiff.cli.app\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('audiodiff', 'torch', 'lightning', 'numpy', 'pydantic', 'rich', 'transformers'))))"
    )
    loaded = json.loads(
        subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120).stdout
    )
    allowed = ("audiodiff.cli", "audiodiff.diagnostics", "audiodiff.runtime.atomic")
    heavy = [m for m in loaded if m != "audiodiff" and m != "audiodiff.runtime" and not m.startswith(allowed)]
    assert heavy == [], heavy
