"""The config tab: validate pasted or uploaded config text and show the `compile --explain` graph, as HTML.

Torch-free, like `validate` and `compile --explain`: the same pipeline runs, and the diagnostics and the
explanation's documented JSON form (docs/explain.md) are rendered here. Everything echoed is HTML-escaped.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

MAX_TEXT_BYTES = 2 * 1024 * 1024  # the loader's own limit is larger; a page need not hold more
MAX_LISTED_LINES = 2000
MAX_LISTED_DIAGNOSTICS = 200


@dataclass(frozen=True)
class ConfigReport:
    errors: int
    warnings: int
    diagnostics: list[dict[str, Any]]  # the json renderer's objects
    explanation: dict[str, Any] | None  # the explain JSON document, when the config lowered to a graph
    lines: list[str]


def check_config(text: str, name: str = "config.json") -> ConfigReport:
    """Validate `text` as a file called `name` (its extension picks JSON or YAML) and explain it if it lowers."""
    from audiodiff.compiler.checks import buildability
    from audiodiff.compiler.pipeline import check_text, locate
    from audiodiff.diagnostics import codes
    from audiodiff.diagnostics.model import Diagnostic
    from audiodiff.diagnostics.render import json as json_renderer

    if len(text.encode("utf-8", errors="replace")) > MAX_TEXT_BYTES:
        too_big = Diagnostic(
            codes.RUN_SETTING,
            f"the text is larger than {MAX_TEXT_BYTES // 1024} KiB",
            "",
            name,
            help="check large files with `audiodiff validate`",
        )
        return ConfigReport(1, 0, [json_renderer.diagnostic_object(too_big, name)], None, [])
    check = check_text(text, name)
    diagnostics = list(check.diagnostics)
    if check.graph is not None and check.model_spec is not None:
        diagnostics.extend(locate(check, buildability(check.graph, strict=False)))
    from audiodiff.diagnostics.render import FileResult

    ordered = FileResult(name, diagnostics, check.line, check.kind).sorted()
    objects = [json_renderer.diagnostic_object(d, name) for d in ordered]
    errors = sum(1 for d in ordered if d.is_error)
    explanation = None
    if check.graph is not None and check.model_spec is not None:
        from audiodiff.compiler.explain import explain, to_json
        from audiodiff.compiler.memory import estimate_for_graph

        memory = estimate_for_graph(check.model_spec, check.graph, batch_size=1, precision="32")
        version = check.schema.version if check.schema is not None else None
        explained = explain(name, check.graph, check.document, version, memory, check.migration)
        explanation = to_json(explained)
    shown = min(text.count("\n") + 1, MAX_LISTED_LINES)
    lines = [check.line(number) or "" for number in range(1, shown + 1)]
    return ConfigReport(errors, len(ordered) - errors, objects, explanation, lines)


# --- HTML -------------------------------------------------------------------------------------------------------


def diagnostics_html(report: ConfigReport) -> str:
    """A summary, each diagnostic as `line:col: severity CODE [name] message` with its help, and the text with the
    lines that have diagnostics highlighted."""
    esc = html.escape
    if not report.diagnostics:
        head = '<p class="ad-ok" id="ad-config-ok">no problems found</p>'
    else:
        head = (
            f'<p class="ad-summary">{report.errors} error(s), {report.warnings} warning(s)</p>'
            '<ol class="ad-diagnostics">'
        )
        for item in report.diagnostics[:MAX_LISTED_DIAGNOSTICS]:
            where = f"{item['line']}:{item['column']}" if item.get("line") else "-"
            hint = f'<div class="ad-help">help: {esc(item["help"])}</div>' if item.get("help") else ""
            head += (
                f'<li class="ad-{esc(item["severity"])}" data-line="{item.get("line") or ""}">'
                f"<code>{esc(where)}</code> {esc(item['severity'])} <b>{esc(item['code'])}</b> "
                f"[{esc(item['name'])}] {esc(item['message'])}"
                f'<div class="ad-pointer">at: <code>{esc(item.get("pointer") or "/")}</code></div>{hint}</li>'
            )
        hidden = len(report.diagnostics) - MAX_LISTED_DIAGNOSTICS
        head += "</ol>" + (f"<p>{hidden} more not shown</p>" if hidden > 0 else "")
    marked: dict[int, str] = {}
    for item in report.diagnostics:
        if item.get("line"):
            severity = item["severity"]
            marked[item["line"]] = "error" if "error" in (severity, marked.get(item["line"])) else severity
    rows = []
    for number, line in enumerate(report.lines, start=1):
        kind = marked.get(number)
        attributes = f' class="ad-mark-{kind}" id="ad-line-{number}"' if kind else ""
        rows.append(f'<tr{attributes}><td class="ad-number">{number}</td><td><pre>{esc(line)}</pre></td></tr>')
    listing = (
        (
            f'<div class="ad-listing-box" style="overflow:auto; max-height:720px">'
            f'<table class="ad-listing">{"".join(rows)}</table></div>'
        )
        if rows
        else ""
    )
    return head + listing


def explanation_html(report: ConfigReport) -> str:
    """The module graph: nodes with shapes and parameter counts, routes with their widths, derived quantities."""
    esc = html.escape
    document = report.explanation
    if document is None:
        return "<p>no graph: fix the errors first</p>"
    total = document.get("total_params")
    title = (
        f'<p class="ad-graph-title">{esc(str(document["model_type"]))}: '
        f"{_count(total)} parameters in {len(document['nodes'])} modules</p>"
    )
    header = (
        '<table class="ad-nodes"><tr><th>module</th><th>kind</th><th>type</th><th>in</th><th>out</th>'
        "<th>params</th><th>line</th></tr>"
    )
    out = [title, header]
    for node in document["nodes"]:
        out.append(
            f"<tr><td><code>{esc(node['id'])}</code></td><td>{esc(node['kind'])}</td>"
            f"<td>{esc(node['type'])}</td><td>{esc(_ports(node['inputs']))}</td>"
            f'<td>{esc(_ports(node["outputs"]))}</td><td class="ad-params">{_count(node.get("params"))}</td>'
            f"<td>{node.get('line') or '-'}</td></tr>"
        )
    out.append("</table>")
    if document["routes"]:
        out.append('<table class="ad-routes"><tr><th>route</th><th>sources (width)</th><th>backbone expects</th></tr>')
        for route in document["routes"]:
            sources = " + ".join(f"{esc(s['id'])} ({esc(str(s['width']))})" for s in route["sources"])
            out.append(
                f"<tr><td>{esc(route['route'])}</td><td>{sources}</td><td>{esc(str(route['backbone_width']))}</td></tr>"
            )
        out.append("</table>")
    out.append('<table class="ad-quantities"><tr><th>derived</th><th>value</th><th>from</th></tr>')
    for quantity in document["quantities"]:
        value = "unbounded" if quantity["value"] is None else f"{quantity['value']} {quantity.get('unit') or ''}"
        out.append(
            f"<tr><td>{esc(quantity['name'])}</td><td>{esc(value.strip())}</td>"
            f"<td>{esc(str(quantity.get('source') or ''))}</td></tr>"
        )
    out.append("</table>")
    return "".join(out)


def _ports(ports: list[dict[str, Any]]) -> str:
    return ", ".join(f"{port['name']} ({', '.join(str(d) for d in port['shape'])})" for port in ports) or "-"


def _count(value: Any) -> str:
    return "?" if value is None else f"{value:,}"
