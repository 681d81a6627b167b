"""The typed module graph: what a config builds, before any weight exists.

Frozen, torch-free and JSON round-trippable. Node order is deterministic: pretransform (and its stages), then the
conditioners in declaration order, then the backbone and the objective. Edge order inside a route is layout: the
concatenation order of the routing list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from audiodiff.compiler.entry import Status
from audiodiff.compiler.facts import Dim, Facts, NoFacts, PortRef, availability, facts_from_json
from audiodiff.schema.routes import Route, route_named
from audiodiff.schema.v1.autoencoder_training import DiscriminatorSpec
from audiodiff.schema.v1.backbones import BackboneSpec
from audiodiff.schema.v1.conditioning import ConditionerSpec
from audiodiff.schema.v1.pretransform import Bottleneck, DecoderStage, EncoderStage, PretransformSpec
from audiodiff.schema.v1.training import LoraSpec

__all__ = ["Dim", "Edge", "Graph", "Node", "NodeSpec", "Port", "PortRef", "Quantity", "Shape"]

Shape = tuple[Dim, ...]
# the typed spec a node was made from
NodeSpec = (
    BackboneSpec
    | ConditionerSpec
    | PretransformSpec
    | EncoderStage
    | DecoderStage
    | Bottleneck
    | DiscriminatorSpec
    | LoraSpec
)
QuantityValue = int | float | None  # None: unbounded or unknown


@dataclass(frozen=True)
class Port:
    name: str
    shape: Shape

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Port:
        return cls(data["name"], tuple(data["shape"]))

    def render(self) -> str:
        return "(" + ", ".join(str(dim) for dim in self.shape) + ")"


@dataclass(frozen=True)
class Node:
    id: str  # dotted path that reads like the config: "pretransform.encoder", "conditioning.prompt"
    kind: str  # "pretransform" | "encoder" | "bottleneck" | "decoder" | "conditioner" | "backbone" | "objective"
    type: str  # the type tag exactly as upstream spells it
    origin: str  # JSON pointer of the config object that made this node
    inputs: tuple[Port, ...] = ()
    outputs: tuple[Port, ...] = ()
    params: int | None = None  # analytic trainable parameter count; None when unknown without loading
    spec: NodeSpec | None = field(default=None, compare=False, repr=False)  # the typed spec (not serialised)
    facts: Facts = field(
        default_factory=NoFacts
    )  # widths, token counts, buildability: a record per node kind (`facts.py`)

    @property
    def availability(self) -> tuple[Status, str | None]:
        """Whether its type can be built here, and the reason when not."""
        return availability(self.facts)

    def output(self, name: str) -> Port | None:
        return next((port for port in self.outputs if port.name == name), None)

    def input(self, name: str) -> Port | None:
        return next((port for port in self.inputs if port.name == name), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "type": self.type,
            "origin": self.origin,
            "params": self.params,
            "inputs": [port.to_json() for port in self.inputs],
            "outputs": [port.to_json() for port in self.outputs],
            "attrs": self.facts.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Node:
        return cls(
            id=data["id"],
            kind=data["kind"],
            type=data["type"],
            origin=data["origin"],
            inputs=tuple(Port.from_json(p) for p in data["inputs"]),
            outputs=tuple(Port.from_json(p) for p in data["outputs"]),
            params=data["params"],
            facts=facts_from_json(data["kind"], data.get("attrs", {})),
        )


@dataclass(frozen=True)
class Edge:
    source: PortRef
    target: PortRef
    route: Route | None = None
    origin: str | None = None  # pointer of the routing-list entry that made this edge

    def to_json(self) -> dict[str, Any]:
        return {
            "source": str(self.source),
            "target": str(self.target),
            "route": self.route.name if self.route is not None else None,
            "origin": self.origin,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Edge:
        route = route_named(data["route"]) if data.get("route") else None
        return cls(PortRef.parse(data["source"]), PortRef.parse(data["target"]), route, data.get("origin"))

    @property
    def source_node(self) -> str:
        return self.source.node

    @property
    def target_node(self) -> str:
        return self.target.node


@dataclass(frozen=True)
class Quantity:
    """A derived number with its unit and where it came from."""

    name: str
    value: QuantityValue
    unit: str = ""
    source: str = ""  # e.g. "/sample_size / /model/pretransform/config/downsampling_ratio"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "unit": self.unit, "source": self.source}


@dataclass(frozen=True)
class Graph:
    model_type: str
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...] = ()
    quantities: tuple[Quantity, ...] = ()

    def node(self, node_id: str) -> Node | None:
        index = self.__dict__.get("_index")
        if index is None:  # built once: checks and renderers look nodes up by id many times
            index = {node.id: node for node in self.nodes}
            object.__setattr__(self, "_index", index)
        return index.get(node_id)

    def stages(self, node_id: str) -> tuple[Node, ...]:
        """The nodes nested in `node_id` (an autoencoder pretransform's encoder, bottleneck and decoder), which hold
        its parameters."""
        prefix = node_id + "."
        return tuple(node for node in self.nodes if node.id.startswith(prefix))

    def nodes_of(self, kind: str) -> tuple[Node, ...]:
        return tuple(node for node in self.nodes if node.kind == kind)

    def route_edges(self, route: Route) -> tuple[Edge, ...]:
        return tuple(edge for edge in self.edges if edge.route == route)

    def quantity(self, name: str) -> Quantity | None:
        return next((q for q in self.quantities if q.name == name), None)

    @property
    def total_params(self) -> int | None:
        # the model's own parameters: not the pretransform wrapper (its stages count), the objective, nor the
        # training-only nodes (an autoencoder's discriminator and losses, LoRA adapters)
        counts = [
            node.params
            for node in self.nodes
            if node.kind not in ("pretransform", "objective", "discriminator", "loss", "adapter")
        ]
        known = [count for count in counts if count is not None]
        return sum(known) if len(known) == len(counts) else None

    def to_json(self) -> dict[str, Any]:
        return {
            "model_type": self.model_type,
            "total_params": self.total_params,
            "nodes": [node.to_json() for node in self.nodes],
            "edges": [edge.to_json() for edge in self.edges],
            "quantities": [q.to_json() for q in self.quantities],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Graph:
        return cls(
            model_type=data["model_type"],
            nodes=tuple(Node.from_json(n) for n in data["nodes"]),
            edges=tuple(Edge.from_json(e) for e in data["edges"]),
            quantities=tuple(
                Quantity(q["name"], q["value"], q.get("unit", ""), q.get("source", ""))
                for q in data.get("quantities", [])
            ),
        )
