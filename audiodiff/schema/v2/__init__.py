"""Schema version 2: the version-1 spec classes, plus this table of what version 2 writes out and respells.

Version 2 reads the same keys as version 1 (so it reuses `schema/v1`); what differs is that a version-2 file
spells out every default whose meaning changed upstream or differs between model types, and uses one canonical
spelling where upstream accepts two. Each difference is one step of the 1 -> 2 migration below; `schema/migrate.py`
applies the steps in either direction and checks that version-2 files follow them.

Two kinds of step exist:

- `SpellOut`: the newer version writes the value out; the older one leaves it implied. Upgrading adds the key
  with the value an omitted key meant; downgrading keeps it (an explicit value means the same to every reader).
- `Respell`: the newer version accepts only the canonical spelling. Upgrading rewrites the old spelling;
  downgrading writes the spelling that the older readers (stable-audio-tools itself) understand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from audiodiff.diagnostics import codes
from audiodiff.diagnostics.codes import Code

Path = tuple[str, ...]

CONDITIONED_MODEL_TYPES = frozenset({"diffusion_cond", "diffusion_cond_inpaint"})
DIFFUSION_MODEL_TYPES = CONDITIONED_MODEL_TYPES | {"diffusion_uncond"}


@dataclass(frozen=True)
class When:
    """A condition on the document: the value at `path` is one of `values`."""

    path: Path
    values: frozenset

    def holds(self, data: Any) -> bool:
        found, value = lookup(data, self.path)
        return found and _hashable(value) and value in self.values


@dataclass(frozen=True)
class SpellOut:
    """A default that the newer version writes out: `path` names the key, `value` what omitting it meant."""

    path: Path
    value: Any
    when: tuple[When, ...]
    message: str  # the notice when a file leaves it implied (one sentence, no trailing period)
    notice: Code = codes.MIGRATED_KEY
    help: str | None = None
    after: str | None = None  # in rewritten text, place the key after this sibling when it is present

    @property
    def key(self) -> str:
        return self.path[-1]


@dataclass(frozen=True)
class Respell:
    """A string value at `path` that the newer version spells `new` where the older one allowed `old`."""

    path: Path
    old: str
    new: str
    when: tuple[When, ...]
    message: str
    notice: Code = codes.NON_CANONICAL_SPELLING
    help: str | None = None


Step = SpellOut | Respell


@dataclass(frozen=True)
class Migration:
    source: int
    target: int
    steps: tuple[Step, ...]


def _dit_backbone(model_types: frozenset, type_path: Path) -> tuple[When, ...]:
    return (When(("model_type",), model_types), When(type_path, frozenset({"dit"})))


_TRANSFORMER_TYPE_MESSAGE = (
    "`transformer_type` is not set: it means `continuous_transformer` now but meant `x-transformers` before "
    "stable-audio-tools 0.0.19, and the two have different parameter names"
)
_TRANSFORMER_TYPE_HELP = (
    'write `"transformer_type": "continuous_transformer"` (or `"x-transformers"` for old checkpoints)'
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        source=1,
        target=2,
        steps=(
            SpellOut(
                ("model", "diffusion", "config", "transformer_type"),
                "continuous_transformer",
                _dit_backbone(CONDITIONED_MODEL_TYPES, ("model", "diffusion", "type")),
                _TRANSFORMER_TYPE_MESSAGE,
                notice=codes.TRANSFORMER_TYPE_DEFAULT,
                help=_TRANSFORMER_TYPE_HELP,
            ),
            SpellOut(
                ("model", "config", "transformer_type"),
                "continuous_transformer",
                _dit_backbone(frozenset({"diffusion_uncond"}), ("model", "type")),
                _TRANSFORMER_TYPE_MESSAGE,
                notice=codes.TRANSFORMER_TYPE_DEFAULT,
                help=_TRANSFORMER_TYPE_HELP,
            ),
            SpellOut(
                ("model", "diffusion", "diffusion_objective"),
                "v",
                (When(("model_type",), CONDITIONED_MODEL_TYPES),),
                "`diffusion_objective` is not set; it is read as `v`, and schema version 2 names the objective "
                "because training targets, demos and samplers all follow it",
                after="type",
            ),
            SpellOut(
                ("training", "use_ema"),
                True,
                (When(("model_type",), DIFFUSION_MODEL_TYPES),),
                "`use_ema` is not set; diffusion models read it as `true`, autoencoders as `false`, and the upstream "
                "docs disagree with both, so schema version 2 writes it out",
            ),
            SpellOut(
                ("training", "use_ema"),
                False,
                (When(("model_type",), frozenset({"autoencoder"})),),
                "`use_ema` is not set; autoencoders read it as `false`, diffusion models as `true`, so schema "
                "version 2 writes it out",
            ),
            Respell(
                ("model", "type"),
                "adp_uncond_1d",
                "adp_1d",
                (When(("model_type",), frozenset({"diffusion_uncond"})),),
                "`adp_uncond_1d` is the upstream spelling of the plain U-Net `adp_1d`",
                help="schema version 2 spells it `adp_1d` for every model type; version 1 writes `adp_uncond_1d` "
                "back for stable-audio-tools",
            ),
        ),
    ),
)


def lookup(data: Any, path: Path) -> tuple[bool, Any]:
    """(found, value) at `path` (object keys from the root)."""
    node = data
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return False, None
        node = node[key]
    return True, node


def _hashable(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool)) or value is None
