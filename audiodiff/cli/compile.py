"""`audiodiff compile CONFIG --explain`: the typed module graph with shapes, parameter counts, derived quantities,
provenance and a memory estimate, computed without torch (unless `--params` asks for the meta-device cross-check)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from audiodiff.cli.options import SET_HELP, TARGET_HELP, ExplainFormat, Precision, parse_overrides


def command(
    config: Path = typer.Argument(..., help="A model config (JSON or YAML)."),
    explain: bool = typer.Option(False, "--explain", help="Print the graph, routes, derived quantities and memory."),
    format: ExplainFormat = typer.Option(ExplainFormat.text, "--format", "-f", help="Output format."),
    params: bool = typer.Option(False, "--params", help="Cross-check parameter counts on torch's meta device."),
    batch: int = typer.Option(8, "--batch", min=1, max=1_000_000, help="Batch size for the memory estimate."),
    precision: Precision = typer.Option(Precision.bf16_mixed, "--precision", help="Precision for the estimate."),
    strict: bool = typer.Option(False, "--strict", help="Treat warnings as errors for the exit code."),
    target: str | None = typer.Option(None, "--target", help=TARGET_HELP),
    overrides: list[str] = typer.Option([], "--set", metavar="PATH=VALUE", help=SET_HELP),
) -> None:
    """Lower a config into a typed graph of modules with static shape checks, without allocating weights.

    Examples:

      audiodiff compile model_config.json --explain

      audiodiff compile model_config.json --explain --format json --batch 4 --precision 32

      audiodiff compile model_config.json --explain --format dot | dot -Tsvg > graph.svg

      audiodiff compile examples/toy_dit.json --explain --set model.diffusion.config.depth=8
    """
    raise typer.Exit(
        run_compile(
            config,
            explain=explain,
            format=format.value,
            params=params,
            batch=batch,
            precision=precision.value,
            strict=strict,
            target=target,
            overrides=parse_overrides(overrides),
        )
    )


def run_compile(
    path: Path,
    *,
    explain: bool,
    format: str,
    params: bool,
    batch: int,
    precision: str,
    strict: bool,
    target: str | None = None,
    overrides: list | None = None,
) -> int:
    from audiodiff.cli.files import resolve_target
    from audiodiff.compiler.checks import buildability
    from audiodiff.compiler.pipeline import check_file, locate
    from audiodiff.diagnostics import codes
    from audiodiff.diagnostics.model import Diagnostic
    from audiodiff.diagnostics.render import FileResult
    from audiodiff.diagnostics.render import json as json_renderer
    from audiodiff.diagnostics.render import text as text_renderer
    from audiodiff.lint.settings import SettingsError

    try:
        judged_for = resolve_target([path], target)
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    check = check_file(path, target=judged_for, overrides=overrides or ())
    diagnostics = list(check.diagnostics)
    if check.graph is not None:
        diagnostics.extend(locate(check, buildability(check.graph, strict=False)))
    model_spec = check.model_spec
    if check.graph is not None and model_spec is not None and params:
        from audiodiff.compiler.estimate import cross_check_params

        found = cross_check_params(model_spec, check.graph)
        diagnostics.extend(locate(check, found))
        if not found:  # say that the check ran: silence would look the same as `--params` being ignored
            compared = [n for n in check.graph.nodes if n.params is not None and n.kind != "objective"]
            print(
                f"--params: built on torch's meta device; the parameters of {len(compared)} modules match the "
                "analytic counts",
                file=sys.stderr,
            )
    if check.kind == "dataset":
        diagnostics.append(
            Diagnostic(
                codes.RUN_SETTING,
                "a dataset config has no module graph",
                "",
                check.path,
                help="compile a model config; check dataset configs with `audiodiff validate`",
            )
        )
    result = FileResult(check.path, diagnostics, check.result().line, check.kind)
    failed = not result.valid or (strict and bool(diagnostics))
    if result.valid and failed:
        print(f"exit 1: --strict counts the {len(diagnostics)} warning(s) as errors", file=sys.stderr)

    from audiodiff.compiler.explain import (
        empty_json,
        render_dot,
        render_json,
        render_text,
    )
    from audiodiff.compiler.explain import explain as build_explanation

    objects = [json_renderer.diagnostic_object(d, check.path) for d in result.sorted()]
    if check.graph is None or model_spec is None:
        if format == "json":
            sys.stdout.write(empty_json(check.path, objects))  # the documented shape, without a graph
        else:
            sys.stderr.write(text_renderer.render([result]))
        return 1

    from audiodiff.compiler.memory import estimate_for_graph

    memory = estimate_for_graph(model_spec, check.graph, batch_size=batch, precision=precision)
    version = check.schema.version if check.schema is not None else None
    explanation = build_explanation(check.path, check.graph, check.document, version, memory, check.migration)
    if format == "json":
        sys.stdout.write(render_json(explanation, objects))
        return 1 if failed else 0
    if diagnostics:
        sys.stderr.write(text_renderer.render([result], summary=False))
    if format == "dot":
        sys.stdout.write(render_dot(explanation))
    elif explain:
        sys.stdout.write(render_text(explanation))
    else:
        total = check.graph.total_params
        count = "?" if total is None else f"{total:,}"
        print(f"{check.path}: {len(check.graph.nodes)} nodes, {count} parameters")
    return 1 if failed else 0
