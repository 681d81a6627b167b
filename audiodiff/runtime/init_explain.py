"""Why a checkpoint's tensors do not fit the model: the config fields behind the shape mismatches of `run --init`.

Two ways, best first:
  embedded  the file carries its config (our checkpoints and exports do): the fields of the mismatched part's
            section that differ between it and the run's config are the explanation, exactly.
  searched  the reference's released files carry none: integer fields of that section are tried at the value that
            the mismatched axes' ratios suggest (`embed_dim` 32 with tensors of 64 where 32 is expected suggests
            64), each candidate config is rebuilt on the meta device, and a field is named only when that rebuild
            makes the part's tensors fit the file. A handful of meta builds, only on the way to a refusal.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable, Iterator
from fractions import Fraction
from typing import Any

from audiodiff.runtime.checkpoints import Checkpoint
from audiodiff.runtime.init_weights import PartCoverage
from audiodiff.schema.pointer import join, split

ShapesOf = Callable[[dict[str, Any]], dict[str, tuple[int, ...]] | None]  # config data -> meta state-dict shapes

# the config section (a key on the path to a field) that describes each part
SECTIONS = {
    "backbone": "diffusion",
    "conditioner": "conditioning",
    "pretransform": "pretransform",
    "encoder": "encoder",
    "decoder": "decoder",
    "bottleneck": "bottleneck",
}
MAX_CANDIDATES = 8  # meta rebuilds tried per part


def config_changes(old: dict[str, Any] | None, new: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(pointer, value in the file's config, value here) for every field that differs, defaults filled in on both
    sides; [] when the file carries no config or either side does not validate."""
    from audiodiff.runtime.resume import ABSENT, diff_configs, normalised

    if old is None:
        return []
    old_view, new_view = normalised(old), normalised(new)
    if old_view is None or new_view is None:
        return []
    return [
        (
            change.pointer,
            "(absent)" if change.old is ABSENT else change.old,
            "(absent)" if change.new is ABSENT else change.new,
        )
        for change in diff_configs(old_view, new_view)
    ]


def describe_changes(changes: list[tuple[str, Any, Any]]) -> list[str]:
    return [f"`{pointer}`: {_show(old)} in the file's config, {_show(new)} here" for pointer, old, new in changes]


def make_explainer(config: dict[str, Any], shapes_of: ShapesOf) -> Callable[[PartCoverage, Checkpoint], list[str]]:
    """The `explain` hook of `init_weights.check_init` for a run of `config` (the effective model config data)."""

    def explain(coverage: PartCoverage, checkpoint: Checkpoint) -> list[str]:
        section = SECTIONS.get(coverage.part)
        embedded = [
            (pointer, old, new)
            for pointer, old, new in config_changes(checkpoint.config, config)
            if section is not None and section in split(pointer)
        ]
        if embedded:
            return describe_changes(embedded)
        return search(config, coverage, shapes_of)

    return explain


def search(config: dict[str, Any], coverage: PartCoverage, shapes_of: ShapesOf) -> list[str]:
    """Fields of the part's section whose change (to the value the mismatched axes suggest) makes the part fit."""
    section = SECTIONS.get(coverage.part)
    ratios: Counter[Fraction] = Counter()
    for _, ours, theirs in coverage.mismatched:
        for a, b in zip(ours, theirs, strict=False):
            if a != b and a > 0 and b > 0:
                ratios[Fraction(b, a)] += 1
    votes: Counter[tuple[str, int]] = Counter()
    for pointer, value in integer_fields(config):
        if section is None or section not in split(pointer) or value <= 0:
            continue
        for ratio, count in ratios.items():
            scaled = value * ratio
            if scaled.denominator == 1 and scaled != value:
                votes[(pointer, int(scaled))] += count
    mismatched = {key: theirs for key, _, theirs in coverage.mismatched}
    found: list[tuple[int, str, int, int]] = []
    for (pointer, suggested), _ in votes.most_common(MAX_CANDIDATES):
        candidate = with_value(config, pointer, suggested)
        shapes = shapes_of(candidate)
        if shapes is None:
            continue
        fixed = sum(1 for key, theirs in mismatched.items() if shapes.get(key) == theirs)
        if fixed:
            found.append((fixed, pointer, _value_at(config, pointer), suggested))
    if not found:
        return []
    found.sort(key=lambda item: -item[0])
    best = found[0][0]
    total = len(mismatched)
    return [
        f"`{pointer}`: {current} in this config; the file's tensors fit {suggested}"
        + ("" if fixed == total else f" ({fixed} of the {total} mismatched tensors)")
        for fixed, pointer, current, suggested in found
        if fixed == best
    ]


def integer_fields(data: Any, pointer: str = "") -> Iterator[tuple[str, int]]:
    """(pointer, value) of every integer (not boolean) leaf under `/model`."""
    if isinstance(data, dict):
        for key, value in data.items():
            child = join(pointer, key)
            if pointer == "" and key != "model":
                continue
            yield from integer_fields(value, child)
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from integer_fields(value, join(pointer, index))
    elif isinstance(data, int) and not isinstance(data, bool):
        yield pointer, data


def with_value(data: dict[str, Any], pointer: str, value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(data)
    *path, last = split(pointer)
    node: Any = changed
    for token in path:
        node = node[int(token)] if isinstance(node, list) else node[token]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return changed


def _value_at(data: Any, pointer: str) -> Any:
    for token in split(pointer):
        data = data[int(token)] if isinstance(data, list) else data[token]
    return data


def _show(value: Any) -> str:
    text = value if isinstance(value, str) and value == "(absent)" else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
