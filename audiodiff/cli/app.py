"""The `audiodiff` command line. Each command is a thin signature here; its work lives in its own module, imported
only when that command runs, so `audiodiff validate` never pays for torch or Lightning."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from audiodiff import __version__

app = typer.Typer(
    name="audiodiff",
    help="Validate, compile, train and sample audio diffusion models from stable-audio-tools configs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
schema_app = typer.Typer(help="Export the config schema for editors and other validators.", no_args_is_help=True)
app.add_typer(schema_app, name="schema")


class OutputFormat(str, Enum):
    text = "text"
    json = "json"
    github = "github"
    sarif = "sarif"
    junit = "junit"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"audiodiff {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Validate, compile, train and sample audio diffusion models from stable-audio-tools configs."""


@app.command()
def validate(
    paths: list[Path] = typer.Argument(..., help="Config files (JSON or YAML), or folders to search for them."),
    format: OutputFormat = typer.Option(OutputFormat.text, "--format", "-f", help="Output format."),
    strict: bool = typer.Option(False, "--strict", help="Treat warnings as errors for the exit code."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Add a documentation link to each diagnostic."),
) -> None:
    """Check configs against the schema, every cross-field rule and the graph's width contracts.

    All problems of all files are reported in one pass, each with file:line:col, a JSON pointer, a code and a
    fix hint. Exit code 0: no errors; 1: errors found; 2: usage error.

    Examples:

      audiodiff validate model_config.json

      audiodiff validate configs/ --format json
    """
    from audiodiff.cli.validate import run_validate

    raise typer.Exit(run_validate(paths, format.value, strict=strict, verbose=verbose))


class ExplainFormat(str, Enum):
    text = "text"
    json = "json"
    dot = "dot"


class Precision(str, Enum):
    fp32 = "32"
    bf16_mixed = "bf16-mixed"
    fp16_mixed = "16-mixed"


@app.command()
def compile(
    config: Path = typer.Argument(..., help="A model config (JSON or YAML)."),
    explain: bool = typer.Option(False, "--explain", help="Print the graph, routes, derived quantities and memory."),
    format: ExplainFormat = typer.Option(ExplainFormat.text, "--format", "-f", help="Output format."),
    params: bool = typer.Option(False, "--params", help="Cross-check parameter counts on torch's meta device."),
    batch: int = typer.Option(8, "--batch", min=1, help="Batch size for the memory estimate."),
    precision: Precision = typer.Option(Precision.bf16_mixed, "--precision", help="Precision for the estimate."),
    strict: bool = typer.Option(False, "--strict", help="Treat warnings as errors for the exit code."),
) -> None:
    """Lower a config into a typed graph of modules with static shape checks, without allocating weights.

    Examples:

      audiodiff compile model_config.json --explain

      audiodiff compile model_config.json --explain --format json --batch 4 --precision 32

      audiodiff compile model_config.json --explain --format dot | dot -Tsvg > graph.svg
    """
    from audiodiff.cli.compile import run_compile

    raise typer.Exit(run_compile(config, explain=explain, format=format.value, params=params, batch=batch,
                                 precision=precision.value, strict=strict))


@schema_app.command("export")
def schema_export(
    version: Optional[int] = typer.Option(None, "--version", help="Schema version (default: the newest)."),
    kind: str = typer.Option("model", "--kind", help="`model` or `dataset` configs."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write to this file instead of stdout."),
) -> None:
    """Write the JSON Schema of model (or dataset) configs.

    Example: audiodiff schema export -o audiodiff.schema.json
    """
    from audiodiff.cli.schema import run_export

    raise typer.Exit(run_export(version, kind, output))


def main() -> None:
    app()
