"""`audiodiff compile CONFIG --explain`: the typed module graph with shapes, parameter counts, derived quantities,
provenance and a memory estimate, computed without torch (unless `--params` asks for the meta-device cross-check)."""

from __future__ import annotations

import sys
from pathlib import Path

from audiodiff.compiler.checks import buildability
from audiodiff.compiler.pipeline import check_file
from audiodiff.diagnostics.render import FileResult
from audiodiff.diagnostics.render import json as json_renderer
from audiodiff.diagnostics.render import text as text_renderer


def run_compile(
    path: Path, *, explain: bool, format: str, params: bool, batch: int, precision: str, strict: bool
) -> int:
    check = check_file(path)
    diagnostics = list(check.diagnostics)
    if check.graph is not None:
        diagnostics.extend(_locate(check, buildability(check.graph, strict=False)))
    if check.graph is not None and params:
        from audiodiff.compiler.estimate import cross_check_params

        diagnostics.extend(_locate(check, cross_check_params(check.spec, check.graph)))
    result = FileResult(check.path, diagnostics, check.result().line, check.kind)
    failed = not result.valid or (strict and bool(diagnostics))

    if check.graph is None:
        if check.kind == "dataset":
            print(f"{check.path}: a dataset config has no module graph; use `audiodiff validate`", file=sys.stderr)
            return 2
        _emit_diagnostics(result, format)
        return 1

    from audiodiff.compiler.explain import explain as build_explanation
    from audiodiff.compiler.explain import render_dot, render_json, render_text

    memory = _memory(check, batch, precision)
    explanation = build_explanation(check.path, check.graph, check.document, check.schema.version, memory)
    if format == "json":
        sys.stdout.write(render_json(explanation, [json_renderer.diagnostic_object(d) for d in result.sorted()]))
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


def _emit_diagnostics(result: FileResult, format: str) -> None:
    if format == "json":
        sys.stdout.write(json_renderer.render([result]))
    else:
        sys.stderr.write(text_renderer.render([result]))


def _locate(check, diagnostics):
    from audiodiff.compiler.pipeline import _locate as locate

    return locate(diagnostics, check.path, check.document)


def _memory(check, batch: int, precision: str):
    try:
        from audiodiff.compiler.memory import estimate_for_graph
    except ImportError:
        return None
    return estimate_for_graph(check.spec, check.graph, batch_size=batch, precision=precision)
