"""`audiodiff dataset inspect DATASET`: counts, durations, rates, channels, metadata and unreadable items."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

group = typer.Typer(help="Look into training datasets.", no_args_is_help=True)


@group.command("inspect")
def inspect_command(
    dataset: Path = typer.Argument(..., help="A dataset config (`audio_dir`, `pre_encoded`, `wds` or `s3`)."),
    model: Path | None = typer.Option(
        None, "--model", "-m", help="A model config: which of its conditioners' values the items carry."
    ),
    plot: Path | None = typer.Option(
        None, "--plot", help="Where to write the duration histogram (PNG); default `<DATASET name>-durations.png`."
    ),
    no_plot: bool = typer.Option(False, "--no-plot", help="Write no histogram."),
    max_items: int | None = typer.Option(None, "--max-items", min=1, max=10**12, help="Stop after this many items."),
    allow_pipe: bool = typer.Option(
        False, "--allow-pipe", help="Run the shell commands of the dataset's `pipe:` shard URLs."
    ),
) -> None:
    """Count a dataset's items and their total duration, histogram their sample rates, channels and durations,
    name every file, shard or member that cannot be read, and list the metadata keys present (with `--model`:
    how many items carry each conditioner's value). Reads the data as `run` does, without torch.

    Example: audiodiff dataset inspect data.json --model model.json
    """
    if plot is not None and (not str(plot).strip() or plot.is_dir()):
        raise typer.BadParameter(f"`{plot}` is a folder: name the PNG file to write", param_hint="--plot")
    raise typer.Exit(run_inspect(dataset, model=model, plot=None if no_plot else plot, max_items=max_items,
                                 default_plot=not no_plot, allow_pipe=allow_pipe))  # fmt: skip


def run_inspect(
    dataset: Path,
    *,
    model: Path | None,
    plot: Path | None,
    max_items: int | None,
    default_plot: bool = True,
    allow_pipe: bool = False,
) -> int:
    from audiodiff.compiler.pipeline import check_file
    from audiodiff.diagnostics.render import text as text_renderer
    from audiodiff.runtime.inventory import conditioner_rows, plot_durations, render, take_inventory

    checks = [check_file(dataset, check_paths=False)] + ([check_file(model)] if model is not None else [])
    problems = [check.result() for check in checks if check.has_errors or check.spec is None]
    if problems:
        sys.stderr.write(text_renderer.render(problems))
        return 1
    if checks[0].kind != "dataset" or (model is not None and checks[1].kind != "model"):
        print("error: `DATASET` must be a dataset config and `--model` a model config", file=sys.stderr)
        return 2
    inventory = take_inventory(checks[0].spec, dataset.parent, max_items=max_items, allow_pipe=allow_pipe)  # type: ignore[arg-type]
    conditioners = conditioner_rows(inventory, checks[1].spec) if model is not None else None
    sys.stdout.write(render(inventory, f"audiodiff dataset inspect {dataset}", conditioners))
    if plot is None and default_plot:
        plot = Path(f"{dataset.stem}-durations.png")
    if plot is not None:
        try:
            plot_durations(inventory, plot, dataset.name)
        except ImportError:
            print("the histogram needs matplotlib: pip install 'audiodiff[plots]'", file=sys.stderr)
        except OSError as error:
            print(f"error: cannot write `{plot}`: {error.strerror or error}", file=sys.stderr)
            return 1
        else:
            print(f"  histogram    {plot}", file=sys.stdout)
    return 1 if inventory.items == 0 else 0
