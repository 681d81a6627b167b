"""Spec -> graph: one node per module the config builds, one edge per routed tensor, and the derived quantities.

Lowering never fails on a valid spec; the contracts between nodes are proven afterwards by `checks.py`, which
turns every broken one into a diagnostic naming both sides.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Protocol, TypeVar

from audiodiff.compiler import checks, lowering, params
from audiodiff.compiler.entry import Status
from audiodiff.compiler.facts import (
    BackboneFacts,
    BottleneckShape,
    CodecFacts,
    ConditionerFacts,
    ConditionerShape,
    PretransformShape,
    Shape,
    SignalShape,
    StageShape,
    TokenShape,
)
from audiodiff.compiler.graph import Edge, Graph, Node, Port, PortRef, Quantity
from audiodiff.compiler.lora import lora_nodes, lora_quantities
from audiodiff.compiler.lower_training import training_nodes
from audiodiff.compiler.registry import Entry, lookup
from audiodiff.compiler.trainable import training_split
from audiodiff.diagnostics.model import Diagnostic
from audiodiff.schema.capabilities import PositionBudget
from audiodiff.schema.pointer import join
from audiodiff.schema.routes import CROSS_ATTENTION, GLOBAL, INPAINT_IDS, INPUT_CONCAT, PREPEND, ROUTES, Axis, Route
from audiodiff.schema.v1.backbones import BackboneSpec
from audiodiff.schema.v1.conditioning import ConditionerSpec
from audiodiff.schema.v1.pretransform import AutoencoderModelSpec, AutoencoderPretransformSpec, PretransformSpec
from audiodiff.schema.v1.root import AutoencoderConfig, DiffusionConfig, DiffusionUncondConfig, ModelConfig
from audiodiff.schema.views import (
    BackboneView,
    autoencoder_io_channels,
    backbone_of,
    conditioning_of,
    diffusion_objective_of,
    pretransform_io_channels,
    pretransform_latent_channels,
    pretransform_of,
    pretransform_ratio,
    routes_of,
)

_ShapeT = TypeVar("_ShapeT", bound=Shape)

BACKBONE_ID = "diffusion.backbone"
OBJECTIVE_ID = "diffusion.objective"
PRETRANSFORM_ID = "pretransform"


@dataclass
class LoweredGraph:
    graph: Graph
    diagnostics: list[Diagnostic] = field(default_factory=list)


class _StageParams(Protocol):
    @property
    def encoder(self) -> int | None: ...
    @property
    def bottleneck(self) -> int | None: ...
    @property
    def decoder(self) -> int | None: ...


class _Counter(Protocol):
    """The counts lowering puts on nodes: the `params` module, or `_Uncounted`."""

    def backbone_params(self, config: BackboneSpec) -> int | None: ...
    def conditioner_params(
        self, entry: ConditionerSpec, output_dim: int, *, model_pretransform: PretransformSpec | None = None
    ) -> int | None: ...
    def autoencoder_params(self, model: AutoencoderModelSpec) -> _StageParams: ...
    def pretransform_params(self, pretransform: PretransformSpec) -> int | _StageParams | None: ...


@dataclass(frozen=True)
class _NoStages:
    encoder: None = None
    bottleneck: None = None
    decoder: None = None


class _Uncounted:
    """Stands in for `params` when only the graph's contracts are wanted (validate, lint): every count is None."""

    def backbone_params(self, config: BackboneSpec) -> None:
        return None

    def conditioner_params(
        self, entry: ConditionerSpec, output_dim: int, *, model_pretransform: PretransformSpec | None = None
    ) -> None:
        return None

    def autoencoder_params(self, model: AutoencoderModelSpec) -> _NoStages:
        return _NoStages()

    def pretransform_params(self, pretransform: PretransformSpec) -> None:
        return None


def lower_spec(spec: ModelConfig, *, count_params: bool = True) -> LoweredGraph:
    """Lower a validated model config spec and check the graph's contracts. Without `count_params` the nodes carry
    no parameter counts, which is all `validate` and `lint` need (counting is most of lowering's cost)."""
    counter: _Counter = params if count_params else _Uncounted()
    if isinstance(spec, AutoencoderConfig):
        codec = _autoencoder_nodes(spec.model, "", join("", "model"), "T", counter)
        chain = _chain(codec)
        codec += training_nodes(spec, count_params=count_params)  # training only: outside the model's total
        quantities = _autoencoder_quantities(spec) + (training_split(spec) if count_params else [])
        graph = Graph(spec.model_type, tuple(codec), chain, tuple(quantities))
        return LoweredGraph(graph, checks.check_graph(graph, spec))
    nodes: list[Node] = []
    edges: list[Edge] = []
    located = pretransform_of(spec)
    ratio, latent_channels, latent_length = 1, None, "T"
    if located is not None:
        pretransform, pointer = located
        ratio = pretransform_ratio(pretransform) or 1
        latent_channels = pretransform_latent_channels(pretransform)
        latent_length = lowering._divide("T", ratio)
        nodes.extend(_pretransform_nodes(pretransform, pointer, counter))
    conditioner_nodes = _conditioner_nodes(spec, latent_channels, ratio, counter)
    nodes.extend(conditioner_nodes)

    backbone = backbone_of(spec)
    assert backbone is not None  # a diffusion spec always has one
    kind = "uncond_backbone" if isinstance(spec, DiffusionUncondConfig) else "backbone"
    entry = lookup(kind, spec.model.type if isinstance(spec, DiffusionUncondConfig) else backbone.type)
    shape = _lower(entry, backbone.config, lowering.BackboneContext(backbone.channels, latent_length))
    route_ports, facts = _backbone_route_ports(backbone, latent_length, entry.availability()[0])
    nodes.append(
        Node(
            id=BACKBONE_ID,
            kind="backbone",
            type=backbone.type,
            origin=backbone.pointer,
            inputs=shape.inputs + route_ports,
            outputs=shape.outputs,
            params=counter.backbone_params(backbone.config),
            spec=backbone.config,
            facts=facts,
        )
    )
    objective = diffusion_objective_of(spec)
    nodes.append(
        Node(
            OBJECTIVE_ID,
            "objective",
            objective,
            _objective_pointer(spec),
            inputs=(Port("prediction", (lowering.B, backbone.channels, latent_length)),),
            params=0,
        )
    )
    if located is not None:
        edges.append(Edge(PortRef(PRETRANSFORM_ID, "latents"), PortRef(BACKBONE_ID, "x")))
    edges.extend(_route_edges(spec))
    edges.append(Edge(PortRef(BACKBONE_ID, "v"), PortRef(OBJECTIVE_ID, "prediction")))
    nodes.extend(lora_nodes(spec))  # training-only, like an autoencoder's losses: not in the model's total
    graph = Graph(spec.model_type, tuple(nodes), tuple(edges), tuple(_diffusion_quantities(spec, ratio, backbone)))
    lora = lora_quantities(spec, graph.total_params)
    if lora:
        graph = replace(graph, quantities=graph.quantities + tuple(lora))
    elif count_params:
        graph = replace(graph, quantities=graph.quantities + tuple(training_split(spec)))
    return LoweredGraph(graph, checks.check_graph(graph, spec))


# --- nodes --------------------------------------------------------------------------------------------------------


def _pretransform_nodes(pretransform: PretransformSpec, pointer: str, counter: _Counter) -> list[Node]:
    entry = lookup("pretransform", pretransform.type)
    ratio = pretransform_ratio(pretransform)
    channels = pretransform_io_channels(pretransform)
    latent = pretransform_latent_channels(pretransform)
    shape = _lower(entry, pretransform, lowering.PretransformContext(channels, latent, ratio))
    status, reason = entry.availability()
    nodes = [
        Node(
            PRETRANSFORM_ID,
            "pretransform",
            pretransform.type,
            pointer,
            shape.inputs,
            shape.outputs,
            params=_pretransform_params(pretransform, counter),
            spec=pretransform,
            facts=CodecFacts(_shape(shape, PretransformShape), status, reason),
        )
    ]
    if isinstance(pretransform, AutoencoderPretransformSpec):  # its stages are nodes of their own
        nodes.extend(_autoencoder_nodes(pretransform.config, PRETRANSFORM_ID + ".", pointer + "/config", "T", counter))
    return nodes


def _autoencoder_nodes(
    model: AutoencoderModelSpec, prefix: str, pointer: str, audio_length: str, counter: _Counter
) -> list[Node]:
    stages = counter.autoencoder_params(model)
    counts = (stages.encoder, stages.bottleneck, stages.decoder)
    encoder = lookup("encoder", model.encoder.type)
    decoder = lookup("decoder", model.decoder.type)
    enc_shape = _lower(encoder, model.encoder, lowering.StageContext(audio_length))
    dec_shape = _lower(decoder, model.decoder, lowering.StageContext(audio_length))
    latent_length = enc_shape.outputs[0].shape[-1]
    nodes = [
        Node(
            prefix + "encoder",
            "encoder",
            model.encoder.type,
            pointer + "/encoder",
            enc_shape.inputs,
            enc_shape.outputs,
            counts[0],
            model.encoder,
            CodecFacts(_shape(enc_shape, StageShape), *encoder.availability()),
        )
    ]
    if model.bottleneck is not None:
        bottleneck = lookup("bottleneck", model.bottleneck.type)
        shape = _lower(
            bottleneck,
            model.bottleneck,
            lowering.BottleneckContext(model.encoder.config.output_channels, model.latent_dim, latent_length),
        )
        nodes.append(
            Node(
                prefix + "bottleneck",
                "bottleneck",
                model.bottleneck.type,
                pointer + "/bottleneck",
                shape.inputs,
                shape.outputs,
                counts[1],
                model.bottleneck,
                CodecFacts(_shape(shape, BottleneckShape), *bottleneck.availability()),
            )
        )
    nodes.append(
        Node(
            prefix + "decoder",
            "decoder",
            model.decoder.type,
            pointer + "/decoder",
            dec_shape.inputs,
            dec_shape.outputs,
            counts[2],
            model.decoder,
            CodecFacts(_shape(dec_shape, StageShape), *decoder.availability()),
        )
    )
    return nodes


def _chain(nodes: list[Node]) -> tuple[Edge, ...]:
    return tuple(
        Edge(PortRef(a.id, a.outputs[0].name), PortRef(b.id, b.inputs[0].name))
        for a, b in zip(nodes, nodes[1:], strict=False)
    )


def _conditioner_nodes(spec: ModelConfig, latent_channels: int | None, ratio: int, counter: _Counter) -> list[Node]:
    conditioning = conditioning_of(spec)
    if conditioning is None:
        return []
    located = pretransform_of(spec)
    model_pretransform = located[0] if located is not None else None
    nodes = []
    for index, entry in enumerate(conditioning.configs):
        registered = lookup("conditioner", entry.type)
        output_dim = conditioning.output_dim(entry)
        context = lowering.ConditionerContext(output_dim, latent_channels, ratio)
        shape = _lower(registered, entry, context)
        status, reason = registered.availability()
        nodes.append(
            Node(
                id=f"conditioning.{entry.id}",
                kind="conditioner",
                type=entry.type,
                origin=join("", "model", "conditioning", "configs", index),
                inputs=shape.inputs,
                outputs=shape.outputs,
                params=counter.conditioner_params(entry, output_dim, model_pretransform=model_pretransform),
                spec=entry,
                facts=ConditionerFacts(_conditioner_shape(shape), output_dim, status, reason),
            )
        )
    return nodes


def _backbone_route_ports(
    backbone: BackboneView, length: str, status: Status
) -> tuple[tuple[Port, ...], BackboneFacts]:
    """The conditioning inputs the backbone's config declares, with the widths it expects (its capability record
    says which routes it consumes and which config field declares each width)."""
    config = backbone.config
    capabilities = backbone.capabilities
    b = lowering.B
    ports: list[Port] = []
    widths: dict[Route, int] = {}
    for route in ROUTES:
        consumed = capabilities.input(route)
        width = consumed.width(config) if consumed is not None else 0
        widths[route] = width
        if not width:
            continue
        if route.axis is Axis.TOKENS:
            ports.append(Port(route.port, (b, route.token_symbol or "N", width)))
        elif route.axis is Axis.FEATURES:
            ports.append(Port(route.port, (b, width)))
        else:
            ports.append(Port(route.port, (b, width, length)))
    budget = capabilities.position_budget(config)
    token_limit = getattr(config, capabilities.token_limit_field) if capabilities.token_limit_field else None
    facts = BackboneFacts(
        cross_width=widths[CROSS_ATTENTION],
        global_width=widths[GLOBAL],
        prepend_width=widths[PREPEND],
        input_concat_channels=widths[INPUT_CONCAT],
        position_limit=budget.positions if budget is not None else None,
        token_limit=token_limit,
        status=status,
    )
    return tuple(ports), facts


def _route_edges(spec: DiffusionConfig) -> list[Edge]:
    edges = []
    routes = routes_of(spec)
    for route in ROUTES:
        for index, conditioner_id in enumerate(routes[route]):
            source = PortRef(
                f"inputs.{conditioner_id}" if conditioner_id in INPAINT_IDS else f"conditioning.{conditioner_id}",
                "value",
            )
            edges.append(
                Edge(source, PortRef(BACKBONE_ID, route.port), route, join("", "model", "diffusion", route.key, index))
            )
    return edges


def _objective_pointer(spec: DiffusionConfig) -> str:
    if isinstance(spec, DiffusionUncondConfig):
        return join("", "model")
    if spec.model.diffusion.explicitly_set("diffusion_objective"):
        return join("", "model", "diffusion", "diffusion_objective")
    return join("", "model", "diffusion")


# --- quantities ---------------------------------------------------------------------------------------------------


def _diffusion_quantities(spec: DiffusionConfig, ratio: int, backbone: BackboneView) -> list[Quantity]:
    rate = spec.sample_rate
    ratio_source = "/model/pretransform" if ratio > 1 else "no pretransform"
    latent_length = spec.sample_size // ratio
    quantities = [
        Quantity("sample_rate", rate, "Hz", "/sample_rate"),
        Quantity("downsampling_ratio", ratio, "", ratio_source),
        Quantity("latent_rate", _number(Fraction(rate, ratio)), "frames/s", f"/sample_rate / {ratio}"),
        Quantity("latent_length", latent_length, "frames", f"/sample_size // {ratio}"),
        Quantity("seconds_per_sample", _number(Fraction(spec.sample_size, rate)), "s", "/sample_size / /sample_rate"),
        Quantity("length_multiple", ratio * backbone.length_multiple, "samples", backbone.pointer),
    ]
    quantities.append(_max_generation(spec, ratio, backbone))
    training = spec.training
    if training is not None and spec.model_type != "diffusion_uncond":
        demo = training.demo
        scales = len(demo.demo_cfg_scales or ())
        demos = demo.num_demos or 0
        seconds = _number(Fraction(demos * scales * spec.sample_size, rate))
        quantities.append(
            Quantity(
                "demo_audio_per_round", seconds, "s", "num_demos x len(demo_cfg_scales) x /sample_size / /sample_rate"
            )
        )
    elif training is not None:
        quantities.append(
            Quantity(
                "demo_audio_per_round",
                _number(Fraction(8 * spec.sample_size, rate)),
                "s",
                "8 unconditional demos x /sample_size / /sample_rate",
            )
        )
    return quantities


def _max_generation(spec: DiffusionConfig, ratio: int, backbone: BackboneView) -> Quantity:
    budget = backbone.capabilities.position_budget(backbone.config)
    if budget is not None:
        seconds = _number(Fraction(max_generation_frames(backbone, budget) * ratio, spec.sample_rate))
        return Quantity("max_generation_length", seconds, "s", f"{backbone.pointer}/{budget.field}")
    return Quantity("max_generation_length", None, "s", "unbounded: no absolute position table")


def max_generation_frames(backbone: BackboneView, budget: PositionBudget) -> int:
    """The longest latent sequence one pass can generate: at least one prepend token when the backbone declares
    prepend conditioning (`explain` and `sample` both read this)."""
    prepend = 1 if backbone.capabilities.consumes(PREPEND) and _declared_width(backbone, PREPEND) else 0
    return budget.max_latent_frames(prepend)


def _declared_width(backbone: BackboneView, route: Route) -> int:
    consumed = backbone.capabilities.input(route)
    return consumed.width(backbone.config) if consumed is not None else 0


def _autoencoder_quantities(spec: AutoencoderConfig) -> list[Quantity]:
    ratio = spec.model.downsampling_ratio
    return [
        Quantity("sample_rate", spec.sample_rate, "Hz", "/sample_rate"),
        Quantity("downsampling_ratio", ratio, "", "/model/downsampling_ratio"),
        Quantity("latent_rate", _number(Fraction(spec.sample_rate, ratio)), "frames/s", f"/sample_rate / {ratio}"),
        Quantity("latent_length", spec.sample_size // ratio, "frames", f"/sample_size // {ratio}"),
        Quantity("latent_channels", spec.model.latent_dim, "", "/model/latent_dim"),
        Quantity("audio_channels", autoencoder_io_channels(spec.model), "", "/model/io_channels"),
        Quantity(
            "seconds_per_sample",
            _number(Fraction(spec.sample_size, spec.sample_rate)),
            "s",
            "/sample_size / /sample_rate",
        ),
    ]


def _number(value: Fraction) -> int | float:
    return int(value) if value.denominator == 1 else round(float(value), 6)


# --- parameter counts (analytic, torch-free) ------------------------------------------------------------------------


def _pretransform_params(pretransform: PretransformSpec, counter: _Counter) -> int | None:
    count = counter.pretransform_params(pretransform)
    return count if isinstance(count, int) else None  # an autoencoder's stage counts sit on its stage nodes


def _shape(lowered: lowering.Lowered, kind: type[_ShapeT]) -> _ShapeT:
    """The lowering's shape facts, checked to be of the kind the node records."""
    if not isinstance(lowered.facts, kind):
        raise TypeError(f"a lowering gave {type(lowered.facts).__name__} facts, not {kind.__name__}")
    return lowered.facts


def _conditioner_shape(lowered: lowering.Lowered) -> ConditionerShape:
    if isinstance(lowered.facts, SignalShape):
        return lowered.facts
    return _shape(lowered, TokenShape)


def _lower(entry: Entry, spec: object, context: object) -> lowering.Lowered:
    """The node shape of `spec` by its entry's lowering (every entry has one: the registry checks it)."""
    assert entry.lowering is not None, entry
    shape = entry.lowering(spec, context)
    assert isinstance(shape, lowering.Lowered)
    return shape
