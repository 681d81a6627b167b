"""Contracts on the graph: the widths each route delivers against what the backbone declares, token budgets,
position budgets, and whether every node can be built here (spec C35, C36, C44, C46, C49-C51, C56-C59).

Each failure names both sides: the primary pointer is the backbone setting that usually needs the fix, and the
related notes point at the routing entries whose conditioners deliver the other width.
"""

from __future__ import annotations

from audiodiff.compiler.facts import BackboneFacts, ConditionerFacts, Dim, SignalShape
from audiodiff.compiler.graph import Graph, Node
from audiodiff.diagnostics import codes
from audiodiff.diagnostics.model import Diagnostic, Related, Severity
from audiodiff.schema.capabilities import BACKBONES, BackboneCapabilities
from audiodiff.schema.pointer import join
from audiodiff.schema.routes import CROSS_ATTENTION, GLOBAL, INPUT_CONCAT, PREPEND, ROUTES, Route
from audiodiff.schema.v1.conditioning import ConditionerEntrySpec
from audiodiff.schema.v1.diffusion import DiffusionCondModelSpec
from audiodiff.schema.v1.root import ModelConfig

_BACKBONE = "diffusion.backbone"


def _capabilities(backbone: Node) -> BackboneCapabilities:
    return BACKBONES[backbone.type]


def _declared(backbone: Node, route: Route) -> int:
    """The width the backbone's config declares for `route` (0: none)."""
    return backbone.facts.width(route) if isinstance(backbone.facts, BackboneFacts) else 0


def _width_key(backbone: Node, route: Route) -> str | None:
    """The backbone config field that declares the width `route` must deliver (None: it consumes no such route)."""
    consumed = _capabilities(backbone).input(route)
    return consumed.width_field if consumed is not None else None


def check_graph(graph: Graph, spec: ModelConfig) -> list[Diagnostic]:
    findings: list[Diagnostic] = []
    backbone = graph.node(_BACKBONE)
    if backbone is not None:
        routed = {route: _routed(graph, route) for route in ROUTES}
        _check_cross_attention(backbone, routed[CROSS_ATTENTION], findings)
        _check_global(backbone, routed[GLOBAL], findings)
        _check_prepend(backbone, routed[PREPEND], findings)
        _check_input_concat(backbone, routed[INPUT_CONCAT], spec, findings)
        _check_positions(graph, backbone, routed, findings)
    _check_signal_conditioners(graph, findings)
    return findings


def buildability(graph: Graph, *, strict: bool) -> list[Diagnostic]:
    """A diagnostic per node that cannot be built here. `strict` (materialising) makes missing extras errors;
    for `compile --explain` they are warnings, since the graph and its counts do not need the package."""
    findings = []
    for node in graph.nodes:
        status, reason = node.availability
        if status == "buildable":
            continue
        reason = reason or "it cannot be built here"
        if status == "needs_extra":
            findings.append(
                Diagnostic(
                    codes.MISSING_EXTRA,
                    f"`{node.type}` ({node.id}) cannot be built: {reason}",
                    node.origin,
                    severity=None if strict else Severity.WARNING,
                )
            )
        elif status == "needs_download":
            findings.append(
                Diagnostic(
                    codes.NEEDS_DOWNLOAD,
                    f"`{node.type}` ({node.id}) cannot be built: {reason}",
                    node.origin,
                    help="audiodiff never downloads weights at build time",
                )
            )
        else:
            findings.append(
                Diagnostic(codes.NOT_BUILDABLE, f"`{node.type}` ({node.id}) cannot be built: {reason}", node.origin)
            )
    return findings


# --- routes -------------------------------------------------------------------------------------------------------


class _Routed:
    """One routing-list entry: where it is, and what its source delivers."""

    def __init__(self, edge_origin: str, node: Node | None, source_id: str):
        self.pointer = edge_origin
        self.node = node
        self.id = source_id
        self.facts = node.facts if node is not None and isinstance(node.facts, ConditionerFacts) else None

    @property
    def width(self) -> int | None:
        return self.facts.width if self.facts is not None else None

    @property
    def tokens(self) -> Dim | None:
        return self.facts.tokens if self.facts is not None else None

    @property
    def layout(self) -> str | None:
        return self.facts.layout if self.facts is not None else None

    def note(self, what: str) -> tuple[str, str]:
        return (f"`{self.id}` {what}", self.pointer)


def _routed(graph: Graph, route: Route) -> list[_Routed]:
    entries = []
    for edge in graph.route_edges(route):
        source = edge.source_node
        node = graph.node(source)
        entries.append(_Routed(edge.origin or "", node, source.split(".", 1)[-1]))
    return entries


def _width_pointer(backbone: Node, route: Route) -> str:
    key = _width_key(backbone, route)
    return join(backbone.origin, key) if key else backbone.origin


def _error(
    findings: list[Diagnostic],
    code: codes.Code,
    message: str,
    pointer: str,
    notes: list[tuple[str, str]],
    help: str | None = None,
) -> None:
    related = tuple(Related(text, where) for text, where in notes)
    findings.append(Diagnostic(code, message, pointer, help=help, related=related))


def _check_cross_attention(backbone: Node, routed: list[_Routed], findings: list[Diagnostic]) -> None:
    declared = _declared(backbone, CROSS_ATTENTION)
    key = _width_key(backbone, CROSS_ATTENTION)
    if not routed:
        # a backbone that cannot run without cross-attention is reported by the rules (AD2xx) instead
        if declared and CROSS_ATTENTION not in _capabilities(backbone).requires:
            findings.append(
                Diagnostic(
                    codes.UNUSED_WIDTH,
                    f"`{key}` is {declared} but no conditioner is routed to cross-attention: its layers get "
                    "no input, and guidance never engages",
                    _width_pointer(backbone, CROSS_ATTENTION),
                    help="route the text or timing conditioners through `cross_attention_cond_ids`, or set it to 0",
                )
            )
        return
    widths = {entry.width for entry in routed if entry.width is not None}
    if len(widths) > 1:
        first = routed[0]
        odd = next(entry for entry in routed if entry.width != first.width)
        _error(
            findings,
            codes.CROSS_ATTENTION_WIDTH,
            f"cross-attention tokens are concatenated, so they need one width; `{first.id}` gives {first.width} "
            f"and `{odd.id}` gives {odd.width}",
            odd.pointer,
            [first.note(f"gives {first.width}-wide tokens")],
            help="give the conditioners the same `output_dim` (or drop the overrides so `cond_dim` applies)",
        )
        return
    if not widths or key is None:
        return
    width = widths.pop()
    if declared != width:
        what = "is 0, which disables cross-attention," if not declared else f"is {declared}"
        _error(
            findings,
            codes.CROSS_ATTENTION_WIDTH,
            f"`{key}` {what} but the routed conditioners give {width}-wide tokens",
            _width_pointer(backbone, CROSS_ATTENTION),
            [entry.note(f"gives {entry.width}-wide tokens") for entry in routed],
            help=f"set `{key}` to {width}",
        )


def _check_global(backbone: Node, routed: list[_Routed], findings: list[Diagnostic]) -> None:
    declared = _declared(backbone, GLOBAL)
    consumed = _capabilities(backbone).input(GLOBAL)
    key = consumed.width_field if consumed is not None else None
    if not routed:
        if declared and consumed is not None and consumed.required_when_declared:
            _error(
                findings,
                codes.GLOBAL_WIDTH,
                f"`{key}` is {declared} but no conditioner is routed through `global_cond_ids`; "
                "the U-Net requires the features whenever it has that width",
                _width_pointer(backbone, GLOBAL),
                [],
            )
        elif declared:
            findings.append(
                Diagnostic(
                    codes.UNUSED_WIDTH,
                    f"`{key}` is {declared} but no conditioner is routed through `global_cond_ids`",
                    _width_pointer(backbone, GLOBAL),
                )
            )
        return
    widths = [entry.width for entry in routed if entry.layout == "vector"]
    known = [width for width in widths if width is not None]
    if len(known) != len(routed):
        return  # sequence conditioners in the global route are a rule error already (C48)
    total = sum(known)
    if key is None:
        return
    if declared != total:
        parts = " + ".join(str(entry.width) for entry in routed)
        what = "is not set" if not declared else f"is {declared}"
        _error(
            findings,
            codes.GLOBAL_WIDTH,
            f"`{key}` {what}, but the global conditioners concatenate to {total} ({parts})",
            _width_pointer(backbone, GLOBAL),
            [entry.note(f"adds {entry.width}") for entry in routed],
            help=f"set `{key}` to {total}",
        )


def _check_prepend(backbone: Node, routed: list[_Routed], findings: list[Diagnostic]) -> None:
    if not _capabilities(backbone).consumes(PREPEND):
        return  # rule AD204 already reports prepend routes on other backbones
    declared = _declared(backbone, PREPEND)
    key = _width_key(backbone, PREPEND)
    if not routed:
        if declared:
            findings.append(
                Diagnostic(
                    codes.UNUSED_WIDTH,
                    f"`{key}` is {declared} but nothing is routed through `prepend_cond_ids`",
                    _width_pointer(backbone, PREPEND),
                )
            )
        return
    wrong = [entry for entry in routed if entry.width is not None and entry.width != declared]
    if wrong:
        what = "is 0, which disables prepend tokens," if not declared else f"is {declared}"
        _error(
            findings,
            codes.PREPEND_WIDTH,
            f"`{key}` {what} but `{wrong[0].id}` gives {wrong[0].width}-wide tokens",
            _width_pointer(backbone, PREPEND),
            [entry.note(f"gives {entry.width}-wide tokens") for entry in routed],
            help=f"set `{key}` to {wrong[0].width}" if len({e.width for e in routed}) == 1 else None,
        )


def _input_concat_channels(entry: _Routed, spec: ModelConfig) -> int | None:
    if entry.node is None:  # an inpainting tensor supplied by the caller
        if entry.id == "inpaint_mask":
            return 1
        return spec.model.io_channels if isinstance(spec.model, DiffusionCondModelSpec) else None
    if entry.layout == "signal":
        return entry.width
    tokens = entry.tokens
    return tokens if isinstance(tokens, int) else None  # a [B, N, D] tensor concatenates its N axis


def _check_input_concat(backbone: Node, routed: list[_Routed], spec: ModelConfig, findings: list[Diagnostic]) -> None:
    declared = _declared(backbone, INPUT_CONCAT)
    consumed = _capabilities(backbone).input(INPUT_CONCAT)
    key = consumed.width_field if consumed is not None else None
    if not routed:
        if declared:
            findings.append(
                Diagnostic(
                    codes.UNUSED_WIDTH,
                    f"`{key}` declares {declared} input-concat channels but nothing is routed "
                    "through `input_concat_ids`",
                    _width_pointer(backbone, INPUT_CONCAT),
                )
            )
        return
    channels = [_input_concat_channels(entry, spec) for entry in routed]
    known = [c for c in channels if c is not None]
    if len(known) != len(channels) or key is None:
        return
    total = sum(known)
    if consumed is not None and not consumed.resamples:
        unresampled = [entry for entry in routed if entry.node is not None and entry.layout != "signal"]
        if unresampled:
            _error(
                findings,
                codes.INPUT_CONCAT_WIDTH,
                f"`{backbone.type}` concatenates input-concat tensors without resampling, but `{unresampled[0].id}` "
                "is not a signal of the input's length",
                unresampled[0].pointer,
                [],
            )
    if declared != total:
        parts = " + ".join(str(c) for c in channels)
        pointer = _width_pointer(backbone, INPUT_CONCAT)
        listed = isinstance(getattr(backbone.spec, key, None), (list, tuple))  # a list field declares its first item
        if listed:
            pointer = join(pointer, 0) if declared else pointer
        _error(
            findings,
            codes.INPUT_CONCAT_WIDTH,
            f"`{key}` declares {declared} input-concat channels, but the routed tensors concatenate to "
            f"{total} ({parts})",
            pointer,
            [entry.note(f"adds {c} channel(s)") for entry, c in zip(routed, channels, strict=True)],
            help=f"set `{key}` to {'[' + str(total) + ']' if listed else total}",
        )


def _check_positions(
    graph: Graph, backbone: Node, routed: dict[Route, list[_Routed]], findings: list[Diagnostic]
) -> None:
    capabilities = _capabilities(backbone)
    config = backbone.spec
    token_limit = backbone.facts.token_limit if isinstance(backbone.facts, BackboneFacts) else None
    if token_limit is not None and capabilities.token_limit_field is not None:
        key = capabilities.token_limit_field
        tokens = [entry.tokens for entry in routed[CROSS_ATTENTION] if isinstance(entry.tokens, int)]
        if len(tokens) == len(routed[CROSS_ATTENTION]):
            time_token = 1 if getattr(config, "use_xattn_time", False) else 0  # a time token and its table row
            total, limit = sum(tokens) + time_token, token_limit + time_token
            if total > limit:
                _error(
                    findings,
                    codes.TOKEN_BUDGET,
                    f"the cross-attention sequence has {total} tokens but `{key}` is "
                    f"{token_limit}; the learned null embedding has a row per token",
                    join(backbone.origin, key),
                    [entry.note(f"adds {entry.tokens} token(s)") for entry in routed[CROSS_ATTENTION]],
                    help=f"set `{key}` to at least {total - time_token}",
                )
    budget = capabilities.position_budget(config)
    latent = graph.quantity("latent_length")
    if budget is not None and latent is not None and isinstance(latent.value, int):
        prepend_tokens = [entry.tokens for entry in routed[PREPEND] if isinstance(entry.tokens, int)]
        if len(prepend_tokens) == len(routed[PREPEND]):
            count = budget.tokens(latent.value, sum(prepend_tokens))
            if count > budget.positions:
                parts = "prepend + global" if budget.global_token else "prepend"
                _error(
                    findings,
                    codes.POSITION_BUDGET,
                    f"a training sample is {count} tokens long ({parts} + {latent.value} latent frames / "
                    f"patch {budget.patch_size}), more than `{budget.field}` {budget.positions}",
                    join(backbone.origin, budget.field),
                    [("`sample_size` is set here", "/sample_size")],
                )


def _check_signal_conditioners(graph: Graph, findings: list[Diagnostic]) -> None:
    for node in graph.nodes_of("conditioner"):
        facts = node.facts
        if not isinstance(facts, ConditionerFacts) or not isinstance(facts.shape, SignalShape):
            continue
        channels, output_dim = facts.shape.encoded_channels, facts.output_dim
        if isinstance(node.spec, ConditionerEntrySpec) and node.spec.per_source_heads:
            channels = facts.shape.latent_channels
            if channels is not None and output_dim == channels:
                # upstream's projection is then an identity without parameters, and the first forward takes the
                # dtype of its first parameter (StopIteration); audiodiff needs no parameter there
                findings.append(
                    Diagnostic(
                        codes.SOURCE_MIX_WIDTH,
                        f"`{node.id.split('.', 1)[1]}` encodes to {channels} channels and projects to `output_dim` "
                        f"{output_dim}: the reference's identity projection has no parameter to take a dtype from",
                        join(node.origin, "config"),
                        help="give `output_dim` a width other than the latent width",
                    )
                )
            continue
        if channels is not None and output_dim != channels:
            findings.append(
                Diagnostic(
                    codes.SIGNAL_CONDITIONER_WIDTH,
                    f"`{node.id.split('.', 1)[1]}` encodes to {channels} channels but its `output_dim` is {output_dim}; "
                    "upstream's projection would then act on the time axis",
                    join(node.origin, "config"),
                    help=f'set `"output_dim": {channels}` in this conditioner\'s `config`',
                )
            )
