"""Typed facts of graph nodes and typed references to their ports.

A lowering (`lowering.py`) gives the *shape* facts of one config object: a conditioner's token layout, a codec
stage's ratio, a bottleneck's discreteness. `lower.py` wraps them into the *node* facts, one record per node kind,
adding what only the assembled graph knows (a conditioner's `output_dim`, whether a type can be built here).

The JSON form (`compile --explain --format json`, `Graph.to_json`) is an object per node, `attrs`, whose keys are
the record's fields in declaration order (a shape's fields first); `Facts.from_json` reads it back by node kind.
Torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal

from audiodiff.compiler.entry import Status
from audiodiff.schema.routes import CROSS_ATTENTION, GLOBAL, INPUT_CONCAT, PREPEND, Route

Dim = int | str  # an int, or a symbol such as "B", "T", "T/2048", "N_prompt"
FactValue = int | float | str | bool | None  # what a fact holds in JSON
FactsJson = dict[str, FactValue]


@dataclass(frozen=True)
class PortRef:
    """One port of one node: `node` is a node id (or `inputs.<id>` for a tensor the caller supplies)."""

    node: str
    port: str

    def __str__(self) -> str:
        return f"{self.node}:{self.port}"

    @classmethod
    def parse(cls, text: str) -> PortRef:
        """`"node_id:port"`, the JSON spelling (node ids hold dots, never colons)."""
        node, _, port = text.rpartition(":")
        return cls(node, port)


# --- shape facts: what one lowering knows ----------------------------------------------------------------------


@dataclass(frozen=True)
class TokenShape:
    """A conditioner that gives `tokens` tokens of `width` features, [B, N, D]."""

    width: int
    tokens: Dim
    layout: Literal["vector", "sequence"]  # one token per item, or a sequence of them


@dataclass(frozen=True)
class T5Shape(TokenShape):
    encoder_width: int | None  # the T5 encoder's hidden width, projected to `width`


@dataclass(frozen=True)
class SignalShape:
    """A channels-first signal conditioner, [B, C, T/r] (latents of audio through a pretransform)."""

    width: int | None  # channels it delivers (None: its pretransform's latent width is unknown)
    tokens: Dim  # its symbolic length
    layout: Literal["signal"]
    encoded_channels: int | None
    latent_channels: int | None  # what the pretransform encodes to (before per-source heads)


@dataclass(frozen=True)
class PretransformShape:
    ratio: int | None  # audio samples per latent frame (None: unknown)
    latent_channels: int | None


@dataclass(frozen=True)
class StageShape:
    ratio: int  # the encoder's or decoder's resampling factor


@dataclass(frozen=True)
class BottleneckShape:
    discrete: bool  # its latents are codes


ConditionerShape = TokenShape | SignalShape
CodecShape = PretransformShape | StageShape | BottleneckShape
Shape = ConditionerShape | CodecShape


# --- node facts: one record per node kind ----------------------------------------------------------------------


@dataclass(frozen=True)
class ConditionerFacts:
    shape: ConditionerShape
    output_dim: int
    status: Status
    reason: str | None

    @property
    def width(self) -> int | None:
        return self.shape.width

    @property
    def tokens(self) -> Dim:
        return self.shape.tokens

    @property
    def layout(self) -> str:
        return self.shape.layout

    def to_json(self) -> FactsJson:
        return {**_fields(self.shape), "output_dim": self.output_dim, "status": self.status, "reason": self.reason}


@dataclass(frozen=True)
class CodecFacts:
    """A pretransform, or one stage of an autoencoder (encoder, bottleneck, decoder)."""

    shape: CodecShape
    status: Status
    reason: str | None

    def to_json(self) -> FactsJson:
        return {**_fields(self.shape), "status": self.status, "reason": self.reason}


# the backbone fact that holds each route's declared width
WIDTH_FACTS: dict[Route, str] = {
    CROSS_ATTENTION: "cross_width",
    GLOBAL: "global_width",
    PREPEND: "prepend_width",
    INPUT_CONCAT: "input_concat_channels",
}


@dataclass(frozen=True)
class BackboneFacts:
    """The widths the backbone's config declares for each route (0: it takes none), and its budgets."""

    cross_width: int
    global_width: int
    prepend_width: int
    input_concat_channels: int
    position_limit: int | None  # absolute positions it can embed (None: unbounded; left out of the JSON)
    token_limit: int | None  # rows of its learned null table (None: no such table; left out of the JSON)
    status: Status

    def width(self, route: Route) -> int:
        value = getattr(self, WIDTH_FACTS[route])
        assert isinstance(value, int)
        return value

    def to_json(self) -> FactsJson:
        data = _fields(self)
        status = data.pop("status")
        for optional in ("position_limit", "token_limit"):
            if data[optional] is None:
                del data[optional]
        return {**data, "status": status}


@dataclass(frozen=True)
class DiscriminatorFacts:
    status: Status
    reason: str | None
    training_only: bool = True

    def to_json(self) -> FactsJson:
        return _fields(self)


@dataclass(frozen=True)
class LossFacts:
    weight: float  # of this term in the generator loss
    training_only: bool = True

    def to_json(self) -> FactsJson:
        return _fields(self)


@dataclass(frozen=True)
class AdapterFacts:
    """`training.lora`: low-rank adapters on `layers` Linear layers of the DiT."""

    rank: int
    scale: float
    layers: int
    training_only: bool = True

    def to_json(self) -> FactsJson:
        return _fields(self)


@dataclass(frozen=True)
class NoFacts:
    """A node with nothing to add (the objective)."""

    def to_json(self) -> FactsJson:
        return {}


Facts = ConditionerFacts | CodecFacts | BackboneFacts | DiscriminatorFacts | LossFacts | AdapterFacts | NoFacts


def availability(facts: Facts) -> tuple[Status, str | None]:
    """Whether the node's type can be built here, and why not."""
    if isinstance(facts, (ConditionerFacts, CodecFacts, DiscriminatorFacts)):
        return facts.status, facts.reason
    if isinstance(facts, BackboneFacts):
        return facts.status, None
    return "buildable", None


def facts_from_json(kind: str, data: FactsJson) -> Facts:
    """The facts of a node of `kind` from their JSON object (`Node.from_json`)."""
    if kind == "conditioner":
        return ConditionerFacts(
            _conditioner_shape(data), _int(data["output_dim"]), _status(data), _optional_str(data["reason"])
        )
    if kind in ("pretransform", "encoder", "decoder", "bottleneck"):
        return CodecFacts(_codec_shape(kind, data), _status(data), _optional_str(data["reason"]))
    if kind == "backbone":
        return BackboneFacts(
            cross_width=_int(data["cross_width"]),
            global_width=_int(data["global_width"]),
            prepend_width=_int(data["prepend_width"]),
            input_concat_channels=_int(data["input_concat_channels"]),
            position_limit=_optional_int(data.get("position_limit")),
            token_limit=_optional_int(data.get("token_limit")),
            status=_status(data),
        )
    if kind == "discriminator":
        return DiscriminatorFacts(_status(data), _optional_str(data["reason"]))
    if kind == "loss":
        weight = data["weight"]
        assert isinstance(weight, (int, float))
        return LossFacts(float(weight))
    if kind == "adapter":
        scale = data["scale"]
        assert isinstance(scale, (int, float))
        return AdapterFacts(_int(data["rank"]), float(scale), _int(data["layers"]))
    return NoFacts()


def _conditioner_shape(data: FactsJson) -> ConditionerShape:
    tokens = data["tokens"]
    assert isinstance(tokens, (int, str))
    if data["layout"] == "signal":
        return SignalShape(
            _optional_int(data["width"]),
            tokens,
            "signal",
            _optional_int(data["encoded_channels"]),
            _optional_int(data["latent_channels"]),
        )
    layout: Literal["vector", "sequence"] = "vector" if data["layout"] == "vector" else "sequence"
    if "encoder_width" in data:
        return T5Shape(_int(data["width"]), tokens, layout, _optional_int(data["encoder_width"]))
    return TokenShape(_int(data["width"]), tokens, layout)


def _codec_shape(kind: str, data: FactsJson) -> CodecShape:
    if kind == "pretransform":
        return PretransformShape(_optional_int(data["ratio"]), _optional_int(data["latent_channels"]))
    if kind == "bottleneck":
        return BottleneckShape(bool(data["discrete"]))
    return StageShape(_int(data["ratio"]))


def _fields(record: Shape | BackboneFacts | DiscriminatorFacts | LossFacts | AdapterFacts) -> FactsJson:
    return {field.name: getattr(record, field.name) for field in fields(record)}


def _int(value: FactValue) -> int:
    assert isinstance(value, int)
    return value


def _optional_int(value: FactValue) -> int | None:
    return None if value is None else _int(value)


def _optional_str(value: FactValue) -> str | None:
    assert value is None or isinstance(value, str)
    return value


_STATUSES: tuple[Status, ...] = ("buildable", "needs_extra", "needs_download", "unsupported")


def _status(data: FactsJson) -> Status:
    return next(status for status in _STATUSES if status == data["status"])
