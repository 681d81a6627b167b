"""The four conditioning routes, defined once: the routing list that names them in `model.diffusion`, the graph's
name for them, the backbone input (port) they feed, the axis their tensors are concatenated on, and how messages
call them.

Everything that names a route reads this table: the schema's routing fields and rules, the compiler's graph edges,
ports and contracts, and (through `key` and `port`, which `audiodiff.nn` mirrors as the fields of `Routing` and
`BackboneInputs`, a test keeping them equal) the modules. Which backbone consumes which route, with which width
field, is the backbone's capability record (`audiodiff.schema.capabilities`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Axis(str, Enum):
    """Where the tensors of one route are concatenated, in routing-list order."""

    TOKENS = "tokens"  # [B, N, D] on N: the widths must agree
    FEATURES = "features"  # [B, D] on D: the widths add up
    CHANNELS = "channels"  # [B, C, L] on C: the channels add up


@dataclass(frozen=True)
class Route:
    key: str  # the routing list in `model.diffusion`, e.g. `cross_attention_cond_ids`
    name: str  # the graph's label of its edges (`compile --explain`, JSON)
    port: str  # the backbone input it feeds: a graph port, and the field of `nn.BackboneInputs`
    phrase: str  # how messages say it
    axis: Axis
    masked: bool  # token routes need a mask: pre-encoded tensors, which have none, cannot feed them
    token_symbol: str | None = None  # the symbolic token count of its port's shape (token routes)

    def __str__(self) -> str:
        return self.name


CROSS_ATTENTION = Route(
    "cross_attention_cond_ids",
    "cross_attention",
    "cross_attn_cond",
    "cross-attention",
    Axis.TOKENS,
    masked=True,
    token_symbol="N_cross",
)
GLOBAL = Route("global_cond_ids", "global", "global_cond", "global", Axis.FEATURES, masked=False)
PREPEND = Route(
    "prepend_cond_ids", "prepend", "prepend_cond", "prepend", Axis.TOKENS, masked=True, token_symbol="N_prepend"
)
INPUT_CONCAT = Route(
    "input_concat_ids", "input_concat", "input_concat_cond", "input-concat", Axis.CHANNELS, masked=False
)

ROUTES: tuple[Route, ...] = (CROSS_ATTENTION, GLOBAL, PREPEND, INPUT_CONCAT)  # the order of the graph's edges
ROUTE_KEYS: tuple[str, ...] = tuple(route.key for route in ROUTES)

# Input-concat ids that are not conditioners: the inpainting tensors the training step and sampler supply.
INPAINT_IDS: tuple[str, ...] = ("inpaint_mask", "inpaint_masked_input")


def route_by_key(key: str) -> Route:
    return next(route for route in ROUTES if route.key == key)


def route_named(name: str) -> Route:
    """The route of a graph edge label (JSON round trip)."""
    for route in ROUTES:
        if route.name == name:
            return route
    raise ValueError(f"unknown route `{name}`")
