"""Renderings of a compiled graph for `audiodiff compile --explain`: text for people, json for tools, dot for
Graphviz. All three carry the same facts: nodes with shapes and parameter counts, routes with their widths,
derived quantities, where each setting came from, and the memory estimate.

The json document is a stable interface (documented in docs/explain.md): `total_params` (int or null), `nodes`
(objects with `id`, `kind`, `type`, `params`, `inputs`, `outputs`, `origin`, `line`), `routes`, `quantities`,
`settings`, `memory`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from audiodiff.compiler.facts import AdapterFacts, BackboneFacts, ConditionerFacts, LossFacts
from audiodiff.compiler.graph import Graph, Port
from audiodiff.schema.migrate import ReadResult
from audiodiff.schema.overrides import ORIGIN, OverriddenDocument, Override
from audiodiff.schema.routes import ROUTES
from audiodiff.schema.source import SourceDocument
from audiodiff.schema.versions import LATEST_VERSION


@dataclass(frozen=True)
class Setting:
    pointer: str
    value: Any
    # "line 12", "default of version 2", "migration 1->2 (the default of version 1)", "command line (--set ...)"
    source: str


@dataclass
class Explanation:
    path: str
    graph: Graph
    schema_version: int | None
    settings: list[Setting] = field(default_factory=list)
    lines: dict[str, int | None] = field(default_factory=dict)  # node id -> origin line
    memory: dict[str, Any] | None = None


def explain(
    path: str,
    graph: Graph,
    document: SourceDocument | None,
    schema_version: int | None,
    memory: dict[str, Any] | None = None,
    migration: ReadResult | None = None,
) -> Explanation:
    """`migration` is the in-memory migration the spec was read from (FileCheck.migration): its changes say which
    values a migration supplied."""
    lines = {}
    for node in graph.nodes:
        span = document.span(node.origin) if document is not None else None
        lines[node.id] = span.line if span is not None else None
    settings = []
    for node in graph.nodes:
        if isinstance(node.spec, BaseModel):
            settings.extend(_settings(node.spec, node.origin, document, migration))
    return Explanation(path, graph, schema_version, settings, lines, memory)


def _settings(
    spec: BaseModel, pointer: str, document: SourceDocument | None, migration: ReadResult | None = None
) -> list[Setting]:
    """Every scalar field of a spec (one level of nesting into `config`), with where its value came from: the
    file's line, a migration, or a default of the newest schema version (what every file is read as)."""
    found: list[Setting] = []
    for name in type(spec).model_fields:
        value = getattr(spec, name)
        child = f"{pointer}/{name}"
        if isinstance(value, BaseModel):
            if name == "config":
                found.extend(_settings(value, child, document, migration))
            continue
        if isinstance(value, dict):
            continue
        change = migration.change_at(child) if migration is not None else None
        override = _override_at(document, child)
        if override is not None:
            source = f"{ORIGIN} ({override.label})"
        elif change is not None:
            source = change.provenance()
        elif name in spec.model_fields_set:
            span = document.span(child) if document is not None else None
            source = f"line {span.line}" if span is not None else "file"
        else:
            source = f"default of version {LATEST_VERSION}"
        found.append(Setting(child, list(value) if isinstance(value, tuple) else value, source))
    return found


def _override_at(document: SourceDocument | None, pointer: str) -> Override | None:
    return document.override_at(pointer) if isinstance(document, OverriddenDocument) else None


# --- json ---------------------------------------------------------------------------------------------------------


def to_json(explanation: Explanation, diagnostics: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    graph = explanation.graph
    nodes = []
    for node in graph.nodes:
        data = node.to_json()
        data["line"] = explanation.lines.get(node.id)
        nodes.append(data)
    return {
        "path": explanation.path,
        "model_type": graph.model_type,
        "schema_version": explanation.schema_version,
        "total_params": graph.total_params,
        "nodes": nodes,
        "edges": [edge.to_json() for edge in graph.edges],
        "routes": _routes(graph),
        "quantities": [q.to_json() for q in graph.quantities],
        "settings": [{"pointer": s.pointer, "value": s.value, "source": s.source} for s in explanation.settings],
        "memory": explanation.memory,
        "diagnostics": diagnostics or [],
    }


def render_json(explanation: Explanation, diagnostics: list[dict[str, Any]] | None = None) -> str:
    return json.dumps(to_json(explanation, diagnostics), indent=2, ensure_ascii=False) + "\n"


def empty_json(path: str, diagnostics: list[dict[str, Any]]) -> str:
    """The explain document of a file that could not be lowered: no graph, and the reasons why."""
    document = {
        "path": path,
        "model_type": None,
        "schema_version": None,
        "total_params": None,
        "nodes": [],
        "edges": [],
        "routes": [],
        "quantities": [],
        "settings": [],
        "memory": None,
        "diagnostics": diagnostics,
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _routes(graph: Graph) -> list[dict[str, Any]]:
    backbone = graph.node("diffusion.backbone")
    routes = []
    for route in ROUTES:
        edges = graph.route_edges(route)
        if not edges:
            continue
        sources = []
        for edge in edges:
            node = graph.node(edge.source_node)
            facts = node.facts if node is not None else None
            sources.append(
                {
                    "id": edge.source_node.split(".", 1)[-1],
                    "origin": edge.origin,
                    "width": facts.width if isinstance(facts, ConditionerFacts) else None,
                    "tokens": facts.tokens if isinstance(facts, ConditionerFacts) else None,
                }
            )
        expected = (
            backbone.facts.width(route) if backbone is not None and isinstance(backbone.facts, BackboneFacts) else None
        )
        routes.append({"route": route.name, "sources": sources, "backbone_width": expected})
    return routes


# --- text ---------------------------------------------------------------------------------------------------------


def render_text(explanation: Explanation) -> str:
    graph = explanation.graph
    out: list[str] = []
    version = explanation.schema_version
    out.append(f"{explanation.path}: {graph.model_type} (schema version {version})")
    out.append("")
    out.append("nodes")
    rows = [("id", "kind", "type", "in -> out", "params", "line")]
    for node in graph.nodes:
        shapes = f"{_ports(node.inputs)} -> {_ports(node.outputs)}"
        if isinstance(node.facts, LossFacts):  # a weighted training term: its weight is what there is to see
            shapes = f"weight {node.facts.weight:g}"
        elif node.kind == "discriminator":
            shapes = "training only"
        elif isinstance(node.facts, AdapterFacts):  # LoRA: what trains while the model's own weights stay frozen
            shapes = f"rank {node.facts.rank} on {node.facts.layers} layers, training only"
        params = "-" if graph.stages(node.id) else _count(node.params)  # counted on its stages' rows
        line = explanation.lines.get(node.id)
        rows.append((node.id, node.kind, node.type, shapes, params, str(line) if line else "-"))
    rows.append(("total", "", "", "", _count(graph.total_params), ""))
    out.extend(_table(rows, right=(4,)))
    routes = _routes(graph)
    if routes:
        out.append("")
        out.append("routes")
        for route in routes:
            parts = []
            for source in route["sources"]:
                tokens = source["tokens"]
                shape = (
                    f"{tokens}x{source['width']}"
                    if route["route"] in ("cross_attention", "prepend")
                    else (str(source["width"]))
                )
                parts.append(f"{source['id']} ({shape})")
            out.append(f"  {route['route']:<16} {' + '.join(parts)}   backbone expects {route['backbone_width']}")
    out.append("")
    out.append("derived")
    derived = []
    for quantity in graph.quantities:
        shown = "unbounded" if quantity.value is None else f"{_format_value(quantity.value)} {quantity.unit}".strip()
        derived.append((quantity.name, shown, quantity.source))
    out.extend(_table(derived))
    if explanation.memory:
        out.append("")
        out.extend(_memory_lines(explanation.memory))
    out.append("")
    out.append("settings (where each value came from)")
    out.extend(_table([(s.pointer, json.dumps(s.value), s.source) for s in explanation.settings]))
    return "\n".join(out) + "\n"


def _memory_lines(memory: dict[str, Any]) -> list[str]:
    assumptions = memory.get("assumptions")
    lines = [f"memory estimate ({assumptions})" if assumptions else "memory estimate"]
    for phase in ("training", "inference"):
        breakdown = memory.get(phase)
        if not breakdown:
            continue
        parts = ", ".join(f"{name} {_bytes(value)}" for name, value in breakdown.items() if name != "total")
        lines.append(f"  {phase:<10} {_bytes(breakdown.get('total', 0))}  ({parts})")
    checked = memory.get("training_with_checkpointing")
    if checked is not None:
        lines.append(f"  {'':<10} {_bytes(checked)}  training with activation checkpointing")
    return lines


def _ports(ports: tuple[Port, ...]) -> str:
    if not ports:
        return "()"
    return " ".join(port.render() for port in ports[:1]) + (" ..." if len(ports) > 1 else "")


def _count(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


def _bytes(value: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{int(value)} B"
        value /= 1024
    return str(value)


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _table(rows: Sequence[tuple[str, ...]], right: tuple[int, ...] = ()) -> list[str]:
    if not rows:
        return []
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]) for i, cell in enumerate(row)]
        lines.append("  " + "  ".join(cells).rstrip())
    return lines


# --- dot ----------------------------------------------------------------------------------------------------------


def render_dot(explanation: Explanation) -> str:
    graph = explanation.graph
    lines = ["digraph audiodiff {", "  rankdir=LR;", '  node [shape=box, fontname="monospace"];']
    for node in graph.nodes:
        label = f"{node.id}\\n{node.type}\\n{_count(node.params)} params"
        lines.append(f'  "{node.id}" [label="{label}"];')
    for edge in graph.edges:
        label = f' [label="{edge.route.name}"]' if edge.route is not None else ""
        source = edge.source_node
        if graph.node(source) is None:
            lines.append(f'  "{source}" [shape=ellipse];')
        lines.append(f'  "{source}" -> "{edge.target_node}"{label};')
    lines.extend(_codec_chains(graph))
    lines.append("}")
    return "\n".join(lines) + "\n"


def _codec_chains(graph: Graph) -> list[str]:
    """Edges of the data path inside each codec: `X.encoder -> X.bottleneck -> X.decoder` (the graph's edges connect
    whole modules only, which would leave the parts of an autoencoder pretransform floating)."""
    ids = {node.id for node in graph.nodes}
    linked = {(edge.source_node, edge.target_node) for edge in graph.edges}
    lines = []
    for node in graph.nodes:
        parts = [f"{node.id}.{part}" for part in ("encoder", "bottleneck", "decoder") if f"{node.id}.{part}" in ids]
        for source, target in zip(parts, parts[1:], strict=False):
            if (source, target) not in linked:
                lines.append(f'  "{source}" -> "{target}" [label="latent"];')
    return lines
