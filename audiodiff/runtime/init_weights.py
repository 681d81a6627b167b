"""`run --init`: a new run that starts from the weights of existing checkpoints, whole or part by part (which
file serves which part: `init_sources.py`).

Every file kind `sample` reads is accepted (released `.ckpt` / `.safetensors`,
Lightning-wrapped `diffusion.*` with its EMA backbone, our own exports, bare autoencoder files), weight-norm layouts
are converted to the model's (`weight_g` / `weight_v`, torch parametrizations, or a folded `weight`), and the whole
fit is checked on a meta-device model before one weight is allocated: a part is initialised only when the file
covers it completely, unless `--allow-partial` says to go on with the rest left random.

Unlike the reference's `--pretrained-ckpt-path`, nothing is skipped in silence: every tensor that stays random is
listed, with the config field that explains a shape mismatch when one does (`runtime/init_explain.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from audiodiff.runtime.checkpoints import Checkpoint, CheckpointError, read_checkpoint
from audiodiff.runtime.init_sources import InitSource, parts_of

_PARAMETRIZED = ".parametrizations.weight.original"  # torch.nn.utils.parametrizations.weight_norm: 0 = g, 1 = v

# --- mapping a checkpoint onto the model's keys --------------------------------------------------------------------


def model_keyed(checkpoint: Checkpoint, *, autoencoder_model: bool) -> dict[str, Tensor]:
    """The checkpoint's tensors under the names the model uses. A bare autoencoder file serves a diffusion model's
    pretransform (`pretransform.model.*`); a released diffusion model serves an autoencoder run with its VAE."""
    state = checkpoint.state_dict
    if autoencoder_model:
        if checkpoint.layout == "autoencoder":
            return dict(state)
        inner = "pretransform.model."
        return {key.removeprefix(inner): value for key, value in state.items() if key.startswith(inner)}
    if checkpoint.layout == "autoencoder":
        return {f"pretransform.model.{key}": value for key, value in state.items()}
    return dict(state)


def _norm_except_dim0(weight: Tensor) -> Tensor:
    """||weight|| over every axis but the first, kept as size-1 axes: `[O, ...] -> [O, 1, ...]` (works on meta)."""
    return torch.linalg.vector_norm(weight.float(), dim=tuple(range(1, weight.dim())), keepdim=True).to(weight.dtype)


def convert_weight_norm(state: Mapping[str, Tensor], expected: Iterable[str]) -> dict[str, Tensor]:
    """Rename weight-norm tensors to the spelling the model expects, both ways: legacy `X.weight_g` / `X.weight_v`
    and torch parametrizations `X.parametrizations.weight.original0` / `original1` hold the same tensors (g is
    `[first axis, 1, ...]`, v the full weight); a folded `X.weight` is split into g = ||weight||, v = weight.
    Every other tensor keeps its name."""
    wanted = set(expected)
    converted: dict[str, Tensor] = {}
    for key, value in state.items():
        target: str | None = key
        if key not in wanted:
            target = _other_spelling(key, wanted)
            if target is None:
                split = _split_folded(key, value, wanted, state)
                if split is not None:
                    converted.update(split)
                    continue
        converted[target or key] = value
    return converted


def _other_spelling(key: str, wanted: set[str]) -> str | None:
    for legacy, index in ((".weight_g", "0"), (".weight_v", "1")):
        if key.endswith(legacy):
            modern = key.removesuffix(legacy) + _PARAMETRIZED + index
            return modern if modern in wanted else None
        if key.endswith(_PARAMETRIZED + index):
            old = key.removesuffix(_PARAMETRIZED + index) + legacy
            return old if old in wanted else None
    return None


def _split_folded(key: str, value: Tensor, wanted: set[str], state: Mapping[str, Tensor]) -> dict[str, Tensor] | None:
    if not key.endswith(".weight") or value.dim() < 2:
        return None
    base = key.removesuffix(".weight")
    for g, v in ((".weight_g", ".weight_v"), (_PARAMETRIZED + "0", _PARAMETRIZED + "1")):
        if base + g in wanted and base + v in wanted and base + g not in state and base + v not in state:
            return {base + g: _norm_except_dim0(value), base + v: value}
    return None


# --- coverage, part by part ------------------------------------------------------------------------------------------


@dataclass
class PartCoverage:
    part: str
    source: InitSource | None  # None: not asked for, starts random as in a run from scratch
    size: int = 0  # tensors the model has in this part
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)  # key, model, file
    unexpected: list[str] = field(default_factory=list)
    converted: int = 0  # weight-norm tensors renamed to the model's layout
    explanations: list[str] = field(default_factory=list)  # config fields that explain the shape mismatches
    note: str | None = None  # e.g. "the EMA backbone"

    @property
    def complete(self) -> bool:
        return self.source is None or (not self.missing and not self.mismatched and not self.unexpected)

    @property
    def random(self) -> list[str]:
        """The model's tensors of this part that a load leaves as they were initialised."""
        return self.missing + [key for key, _, _ in self.mismatched]


@dataclass
class InitReport:
    parts: list[PartCoverage]
    external: list[str] = field(default_factory=list)  # weights loaded elsewhere (a frozen T5)
    config_changes: dict[str, list[str]] = field(default_factory=dict)  # path -> fields its embedded config differs in

    @property
    def complete(self) -> bool:
        return all(part.complete for part in self.parts)

    @property
    def requested(self) -> list[PartCoverage]:
        return [part for part in self.parts if part.source is not None]

    def render(self, *, partial: bool = False) -> str:
        lines = []
        width = max(len(part.part) for part in self.parts) if self.parts else 8
        for part in self.parts:
            if part.source is None:
                state = "random init (no --init for this part)" if part.size else "nothing to load"
                lines.append(f"  {part.part:<{width}}  {state}")
                continue
            if not part.size and not part.unexpected:
                lines.append(f"  {part.part:<{width}}  nothing to load (no weights in this part)")
                continue
            status = "ok" if part.complete else ("PARTIAL" if partial else "INCOMPLETE")
            counts = [f"{len(part.loaded)}/{part.size} tensors loaded"]
            if part.missing:
                counts.append(f"{len(part.missing)} missing")
            if part.mismatched:
                counts.append(f"{len(part.mismatched)} shape mismatch")
            if part.unexpected:
                counts.append(f"{len(part.unexpected)} unexpected")
            if part.converted:
                counts.append(f"{part.converted} weight-norm tensors converted")
            origin = f" ({part.note})" if part.note else ""
            lines.append(f"  {part.part:<{width}}  {status:<10}  from {part.source.path}{origin}: {', '.join(counts)}")
            after = " (starts random)" if partial else ""
            for key in part.missing[:8]:
                lines.append(f"      missing: {key}{after}")
            _more(lines, part.missing, 8, "missing")
            for key, ours, theirs in part.mismatched[:8]:
                lines.append(f"      shape mismatch: {key} model {list(ours)} vs file {list(theirs)}{after}")
            _more(lines, part.mismatched, 8, "mismatched")
            for key in part.unexpected[:8]:
                lines.append(f"      unexpected in the file: {key}" + (" (ignored)" if partial else ""))
            _more(lines, part.unexpected, 8, "unexpected")
            for explanation in part.explanations:
                lines.append(f"      explained by {explanation}")
        for note in self.external:
            lines.append(f"  {note}")
        for path, changes in self.config_changes.items():
            lines.append(f"  the config embedded in {path} differs from this run's in {len(changes)} field(s):")
            lines.extend(f"      {change}" for change in changes[:12])
            _more(lines, changes, 12, "differing fields")
        return "\n".join(lines)


def _more(lines: list[str], items: Sequence[Any], shown: int, what: str) -> None:
    if len(items) > shown:
        lines.append(f"      ... and {len(items) - shown} more {what}")


def part_coverage(
    part: str, prefix: str, expected: Mapping[str, tuple[int, ...]], state: Mapping[str, Tensor]
) -> PartCoverage:
    """Coverage of one part: the model's keys under `prefix` against the (converted, model-keyed) file state."""
    coverage = PartCoverage(part, None)
    for key, shape in expected.items():
        if not key.startswith(prefix):
            continue
        coverage.size += 1
        if key not in state:
            coverage.missing.append(key)
        elif tuple(state[key].shape) != shape:
            coverage.mismatched.append((key, shape, tuple(state[key].shape)))
        else:
            coverage.loaded.append(key)
    coverage.unexpected = sorted(key for key in state if key.startswith(prefix) and key not in expected)
    return coverage


def read_source(path: Path, *, header_only: bool, cache: dict[Path, Checkpoint]) -> Checkpoint:
    if path not in cache:
        cache[path] = read_checkpoint(path, header_only=header_only)
    return cache[path]


def check_init(
    skeleton: nn.Module,
    model_type: str,
    assigned: Mapping[str, InitSource],
    *,
    explain: Callable[[PartCoverage, Checkpoint], list[str]] | None = None,
    header_only: bool = True,
    cache: dict[Path, Checkpoint] | None = None,
) -> InitReport:
    """Coverage of every part by its source, on `skeleton` (a meta-device model: nothing is allocated).
    Raises CheckpointError for a file that cannot be read; `explain` names config fields behind shape mismatches."""
    cache = cache if cache is not None else {}
    autoencoder_model = model_type == "autoencoder"
    expected = {key: tuple(value.shape) for key, value in skeleton.state_dict().items()}
    parts = parts_of(model_type)
    report = InitReport([])
    for part, prefix in parts.items():
        source = assigned.get(part)
        if source is None:
            report.parts.append(part_coverage(part, prefix, expected, {}))
            continue
        checkpoint = read_source(source.path, header_only=header_only, cache=cache)
        keyed = model_keyed(checkpoint, autoencoder_model=autoencoder_model)
        coverage = part_coverage(part, prefix, expected, convert_weight_norm(keyed, expected))
        coverage.source = source
        coverage.converted = sum(1 for key in coverage.loaded if key not in keyed)  # renamed or split on the way
        if part == "backbone" and checkpoint.used_ema:
            coverage.note = "its EMA backbone"
        if coverage.mismatched and explain is not None:
            coverage.explanations = explain(coverage, checkpoint)
        report.parts.append(coverage)
    whole = [source for source in assigned.values() if source.part is None]
    if whole:  # keys of a whole-model file that belong to no part at all
        checkpoint = read_source(whole[0].path, header_only=header_only, cache=cache)
        strays = sorted(
            key
            for key in model_keyed(checkpoint, autoencoder_model=autoencoder_model)
            if not key.startswith(tuple(parts.values()))
        )
        for coverage in report.parts:
            if coverage.source is whole[0]:
                coverage.unexpected += strays
                break
    conditioner = getattr(skeleton, "conditioner", None)
    if conditioner is not None:
        for name, module in conditioner.conditioners.items():
            if not module.is_loaded:
                report.external.append(
                    f"conditioner `{name}`: its frozen encoder is loaded from a local folder or the Hugging Face "
                    "cache, never from the checkpoint"
                )
    return report


def apply_init(model: nn.Module, model_type: str, assigned: Mapping[str, InitSource]) -> InitReport:
    """Copy the weights of every assigned part into `model` (built for real), reading each file once. Tensors that
    are missing or do not fit are left as they are (the caller checked that this is allowed)."""
    cache: dict[Path, Checkpoint] = {}
    report = check_init(model, model_type, assigned, header_only=False, cache=cache)
    autoencoder_model = model_type == "autoencoder"
    expected = model.state_dict()
    for coverage in report.requested:
        assert coverage.source is not None
        checkpoint = cache[coverage.source.path]
        state = convert_weight_norm(model_keyed(checkpoint, autoencoder_model=autoencoder_model), expected)
        chosen = {key: state[key] for key in coverage.loaded}
        result = model.load_state_dict(chosen, strict=False)
        if result.unexpected_keys:  # cannot happen: `loaded` holds only keys the model has
            raise CheckpointError(f"`{coverage.source.path}` gave keys the model lacks: {result.unexpected_keys[:3]}")
    return report
