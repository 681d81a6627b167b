"""What several commands share on the command line: the choice types and the one vocabulary of option names.

Every command spells the same idea the same way: `--output/-o` for what it writes, `--force` to replace what
exists, `--format/-f` for how it reports, `--set PATH=VALUE` for an override of the config. Spellings that
earlier versions accepted (`--out`, `--overwrite`) stay as hidden aliases that still work and warn once.

This module is imported when the command line is assembled, so it imports nothing beyond typer and the
standard library: `audiodiff --help` and the torch-free commands must stay fast.
"""

from __future__ import annotations

import sys
from enum import Enum
from typing import TypeVar

import typer


class OutputFormat(str, Enum):
    text = "text"
    json = "json"
    github = "github"
    sarif = "sarif"
    junit = "junit"


class ExplainFormat(str, Enum):
    text = "text"
    json = "json"
    dot = "dot"


class InspectFormat(str, Enum):
    text = "text"
    json = "json"


class Precision(str, Enum):
    fp32 = "32"
    bf16_mixed = "bf16-mixed"
    fp16_mixed = "16-mixed"


class Strategy(str, Enum):
    auto = "auto"
    ddp = "ddp"
    fsdp = "fsdp"


class LoggerKind(str, Enum):
    tensorboard = "tensorboard"
    csv = "csv"
    wandb = "wandb"


class LatentFormat(str, Enum):
    npy = "npy"
    wds = "wds"


class Accelerator(str, Enum):
    auto = "auto"
    cpu = "cpu"
    gpu = "gpu"


# `--target` of validate, lint and compile (parsed by `audiodiff.diagnostics.target.parse_target`)
TARGET_HELP = (
    "The runtime to judge for: `audiodiff` (default) or `stable-audio-tools[==0.0.19]`, under which "
    "everything the reference refuses is an error. Default: `target` of [tool.audiodiff], else audiodiff."
)

T = TypeVar("T")


def renamed(new_value: T, old_value: T | None, *, old: str, new: str) -> T:
    """The value of an option given under its current name `new` or its retired name `old` (a hidden alias).

    The old spelling keeps working and warns on stderr; giving both is a usage error."""
    if old_value is None or old_value is False:
        return new_value
    if new_value is not None and new_value is not False:
        raise typer.BadParameter(f"give `{new}` only (`{old}` is its old name)", param_hint=f"'{old}'")
    print(f"warning: `{old}` is now spelled `{new}`; the old name will go away", file=sys.stderr)
    return old_value


SET_HELP = (
    "Override a config value (repeatable): PATH is dotted (model.diffusion.config.depth) or a JSON pointer; "
    "VALUE is JSON, else text. Checked like the file."
)


def parse_overrides(items: list[str]) -> list:
    """The `--set` values as overrides; a malformed one is a usage error (exit 2) naming it."""
    if not items:
        return []
    from audiodiff.schema.overrides import OverrideError, parse

    try:
        return parse(items)
    except OverrideError as error:
        first = error.diagnostics[0]
        hint = f" ({first.help})" if first.help else ""
        raise typer.BadParameter(f"`{first.path}`: {first.message}{hint}", param_hint="'--set'") from None
