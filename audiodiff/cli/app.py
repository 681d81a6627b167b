"""The `audiodiff` command line: the root application and the list of its commands, nothing else.

Each command lives in its own module under `audiodiff/cli/`, which declares its options and does its work; this
file only registers them. Command modules import typer and the standard library at the top and everything else
inside the function that needs it, so `audiodiff --help` and `audiodiff validate` never pay for torch or
Lightning (tests/cli/test_cli_layout.py guards this). Adding a command: write `audiodiff/cli/<name>.py` with a
`command` function (or a `group` Typer for a command with subcommands), register it below, and accept the change
to tests/cli/cli_surface.json that the surface snapshot test then asks for.
"""

from __future__ import annotations

import typer

from audiodiff import __version__
from audiodiff.cli import ckpt, compile, dataset, encode, lint, migrate, run, sample, schema, serve, validate

app = typer.Typer(
    name="audiodiff",
    help="Validate, compile, train and sample audio diffusion models from stable-audio-tools configs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"audiodiff {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Validate, compile, train and sample audio diffusion models from stable-audio-tools configs."""


# The order here is the order of `audiodiff --help`: checking configs, then building, then training and sampling.
app.command("validate")(validate.command)
app.command("lint")(lint.command)
app.command("migrate")(migrate.command)
app.command("compile")(compile.command)
app.command("sample")(sample.command)
app.command("serve")(serve.command)
app.add_typer(ckpt.group, name="ckpt")
app.command("run")(run.command)
app.command("encode")(encode.command)
app.add_typer(dataset.group, name="dataset")
app.add_typer(schema.group, name="schema")


def main() -> None:
    app()
