"""`audiodiff schema export`: the JSON Schema of model or dataset configs."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

group = typer.Typer(help="Export the config schema for editors and other validators.", no_args_is_help=True)


@group.command("export")
def export_command(
    version: int | None = typer.Option(
        None,
        "--version",
        help="One schema version (default: one schema that "
        "accepts every version, picked by `schema_version`; absent means 1).",
    ),
    kind: str = typer.Option("model", "--kind", help="`model` or `dataset` configs."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to this file instead of stdout."),
) -> None:
    """Write the JSON Schema of model (or dataset) configs, for editors and JSON Schema validators.

    The package also ships it: audiodiff/schema/schemas/model.schema.json (README: the `$schema` line, VS Code).

    Example: audiodiff schema export -o audiodiff.schema.json
    """
    raise typer.Exit(run_export(version, kind, output))


def run_export(version: int | None, kind: str, output: Path | None) -> int:
    from audiodiff.runtime.atomic import write_text_atomic
    from audiodiff.schema.export import export, render

    if kind not in ("model", "dataset"):
        print(f"error: --kind must be `model` or `dataset`, not `{kind}`", file=sys.stderr)
        return 2
    try:
        schema = export(kind, version)  # type: ignore[arg-type]
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    text = render(schema)
    if output is None:
        sys.stdout.write(text)
    else:
        try:
            write_text_atomic(output, text)
        except OSError as error:
            print(f"error: cannot write `{output}`: {error.strerror or error}", file=sys.stderr)
            return 1
    return 0
