"""Checkpoints from anywhere: what kind of file it is, which key layout it uses, what config it carries, and
whether it covers the model before a single tensor is copied.

Layouts (spec §8.1):
  released     `model.*` (backbone), `conditioner.conditioners.<id>.*`, `pretransform.*`
  lightning    `diffusion.*` (+ `diffusion_ema.ema_model.*`, `diffusion_ema.initted`, `diffusion_ema.step`)
  autoencoder  `encoder.*`, `decoder.*`, `bottleneck.*` (an autoencoder, or a separate pretransform checkpoint)
Everything is normalised to the released (or bare autoencoder) layout on reading. Pickled files are always read
with `weights_only=True`; safetensors headers are read without loading any tensor.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor, nn

from audiodiff.compiler.estimate import node_of_key
from audiodiff.runtime.atomic import atomic_output
from audiodiff.runtime.checkpoint_header import (
    HeaderError,
    embedded_config,
    read_safetensors_header,
    schema_version_of,
)
from audiodiff.runtime.outputs import check_finite_tensors
from audiodiff.schema.reading import FileRefused, check_regular

FileKind = Literal["lightning", "released", "safetensors", "autoencoder"]
Layout = Literal["released", "lightning", "autoencoder", "unknown"]

CONFIG_KEY = "model_config"
VERSION_KEY = "schema_version"
FORMAT_KEY = "format"
RELEASED_FORMAT = "audiodiff-released"

_LIGHTNING_DROP = re.compile(r"^(diffusion_ema\.(initted|step|online_model\..*)|losses\..*|discriminator\..*)$")


class CheckpointError(Exception):
    """A checkpoint that cannot be read or does not fit; `str()` is one sentence for the user."""


@dataclass
class Checkpoint:
    path: str
    kind: FileKind
    layout: Layout
    state_dict: dict[str, Tensor]  # in the released (or bare autoencoder) layout
    config: dict[str, Any] | None = None
    schema_version: int | None = None
    has_ema: bool = False
    used_ema: bool = False
    dropped: list[str] = field(default_factory=list)  # training-only entries (loss weights, EMA counters)
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. `global_step` of a Lightning checkpoint


# --- reading ------------------------------------------------------------------------------------------------------


def read_checkpoint(path: str | os.PathLike, *, prefer_ema: bool = True, header_only: bool = False) -> Checkpoint:
    """Read any supported checkpoint file into the released layout. With `header_only`, a safetensors file gives
    meta tensors (names, shapes and dtypes, no data): enough to inspect it or to check its coverage of a model.
    Every problem with the file, whatever its bytes, is a CheckpointError."""
    path = Path(path)
    try:
        check_regular(path)  # never a FIFO or a device
    except FileRefused as refused:
        raise CheckpointError(f"`{path}` does not exist or is not a file ({refused})") from None
    try:
        if path.suffix == ".safetensors":
            return _read_safetensors(path, prefer_ema, header_only)
        return _read_pickle(path, prefer_ema)
    except HeaderError as error:
        raise CheckpointError(f"`{path}` cannot be used: {error}") from None
    except RecursionError:
        raise CheckpointError(f"`{path}` nests too deeply to be a checkpoint") from None
    except MemoryError:
        raise CheckpointError(f"`{path}` needs more memory than is available to be read") from None


_SAFETENSORS_DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}


def _read_safetensors(path: Path, prefer_ema: bool, header_only: bool) -> Checkpoint:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        header = read_safetensors_header(path)  # offsets and sizes checked against the file, as for every read
        unsupported = sorted({entry.dtype for entry in header.tensors} - set(_SAFETENSORS_DTYPES))
        if unsupported:
            raise HeaderError(f"tensors of dtype {', '.join(unsupported)} are not read by audiodiff")
        if header_only:
            state = {
                entry.name: torch.empty(entry.shape, dtype=_SAFETENSORS_DTYPES[entry.dtype], device="meta")
                for entry in header.tensors
            }
        else:
            state = load_file(str(path))
    except (SafetensorError, OSError, ValueError, KeyError, TypeError, OverflowError, RuntimeError) as error:
        if isinstance(error, HeaderError):
            raise
        raise CheckpointError(f"`{path}` is not a readable safetensors file: {error}") from error
    metadata = header.metadata
    config = embedded_config(metadata.get(CONFIG_KEY))
    version = schema_version_of(metadata.get(VERSION_KEY))
    checkpoint = _normalise(str(path), "safetensors", state, prefer_ema)
    checkpoint.config, checkpoint.schema_version = config, version
    return checkpoint


def _torch_load(path: Path) -> Any:
    """torch.load, weights only. A zip-format file is memory-mapped (tensors are paged in only when used, so an
    optimizer state of many GB is never read); the legacy non-zip format cannot be mapped and is read whole."""
    import zipfile

    return torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))


def _read_pickle(path: Path, prefer_ema: bool) -> Checkpoint:
    try:
        payload = _torch_load(path)
    except Exception as error:  # a corrupt file or pickled Python objects beyond tensors
        raise CheckpointError(
            f"`{path}` is not a weights-only checkpoint (it is damaged, or it holds pickled Python objects); "
            "audiodiff never unpickles arbitrary objects from a checkpoint file"
        ) from error
    if not isinstance(payload, dict):
        raise CheckpointError(f"`{path}` holds a {type(payload).__name__}, not a state dict")
    if "state_dict" in payload and isinstance(payload["state_dict"], dict):
        state = payload["state_dict"]
    else:
        state = payload
    if not all(isinstance(key, str) for key in state):
        raise CheckpointError(f"`{path}` has a state dict whose keys are not all strings")
    tensors = {key: value for key, value in state.items() if isinstance(value, Tensor)}
    kind: FileKind = "released"
    if state is not payload:
        kind = "lightning" if any(k.startswith("diffusion.") for k in tensors) else "released"
    checkpoint = _normalise(str(path), kind, tensors, prefer_ema)
    checkpoint.config = embedded_config(payload.get(CONFIG_KEY))
    checkpoint.schema_version = schema_version_of(payload.get(VERSION_KEY))
    for key in ("global_step", "epoch"):
        value = payload.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            checkpoint.extra[key] = value
    return checkpoint


def _normalise(path: str, kind: FileKind, state: Mapping[str, Tensor], prefer_ema: bool) -> Checkpoint:
    keys = list(state)
    if any(key.startswith(("diffusion.", "diffusion_ema.")) for key in keys):
        return _from_lightning(path, kind, state, prefer_ema)
    if keys and all(key.startswith(("encoder.", "decoder.", "bottleneck.")) for key in keys):
        return Checkpoint(path, "autoencoder" if kind != "lightning" else kind, "autoencoder", dict(state))
    if any(key.startswith("autoencoder.") for key in keys):  # an autoencoder's Lightning checkpoint
        inner = {
            key.removeprefix("autoencoder."): value for key, value in state.items() if key.startswith("autoencoder.")
        }
        dropped = [key for key in keys if not key.startswith("autoencoder.")]
        return Checkpoint(path, "lightning", "autoencoder", inner, dropped=dropped)
    layout: Layout = (
        "released" if any(key.startswith(("model.", "conditioner.", "pretransform.")) for key in keys) else "unknown"
    )
    return Checkpoint(path, kind, layout, dict(state))


def _from_lightning(path: str, kind: FileKind, state: Mapping[str, Tensor], prefer_ema: bool) -> Checkpoint:
    released: dict[str, Tensor] = {}
    dropped: list[str] = []
    ema = {
        key.removeprefix("diffusion_ema.ema_model."): value
        for key, value in state.items()
        if key.startswith("diffusion_ema.ema_model.")
    }
    for key, value in state.items():
        if key.startswith("diffusion."):
            released[key.removeprefix("diffusion.")] = value
        elif not key.startswith("diffusion_ema.ema_model.") or _LIGHTNING_DROP.match(key):
            dropped.append(key)
    used_ema = bool(ema) and prefer_ema
    if used_ema:  # the EMA copy wraps the backbone wrapper: `ema_model.<rest>` is `model.<rest>`
        for key, value in ema.items():
            released[f"model.{key}"] = value
    return Checkpoint(path, "lightning", "lightning", released, has_ema=bool(ema), used_ema=used_ema, dropped=dropped)


# --- writing ------------------------------------------------------------------------------------------------------


def released_state_dict(model: nn.Module, ema_backbone: nn.Module | None = None) -> dict[str, Tensor]:
    """The released layout of a model: its own state dict, with the backbone taken from the EMA copy when given
    (`ema_backbone` is the EMA twin of `model.model`)."""
    state = {key: value.detach() for key, value in model.state_dict().items()}
    if ema_backbone is not None:
        for key, value in ema_backbone.state_dict().items():
            state[f"model.{key}"] = value.detach()
    return state


def write_released(
    path: str | os.PathLike, state_dict: Mapping[str, Tensor], *, config: dict[str, Any] | None, schema_version: int
) -> None:
    """Write a safetensors file in the released layout, carrying the config (when known) and the schema version.
    Atomic, and streamed to disk rather than built in memory (a 1 B-parameter model is several GB)."""
    from safetensors.torch import save_file

    tensors = {key: value.detach().contiguous().cpu() for key, value in state_dict.items()}
    check_finite_tensors(tensors, f"the weights for `{Path(path).name}`")  # NonFiniteOutput: nothing is written
    metadata = {VERSION_KEY: str(schema_version), FORMAT_KEY: RELEASED_FORMAT}
    if config is not None:
        metadata[CONFIG_KEY] = json.dumps(config)
    with atomic_output(path) as temporary:
        save_file(tensors, str(temporary), metadata=metadata)


# --- coverage -----------------------------------------------------------------------------------------------------


@dataclass
class NodeCoverage:
    node: str
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)  # key, ours, file

    @property
    def complete(self) -> bool:
        return not self.missing and not self.mismatched


@dataclass
class CoverageReport:
    nodes: list[NodeCoverage]
    unexpected: list[str]
    external: list[tuple[str, str]] = field(default_factory=list)  # (node, note) for weights loaded elsewhere

    @property
    def complete(self) -> bool:
        return all(node.complete for node in self.nodes) and not self.unexpected

    @property
    def missing(self) -> list[str]:
        return [key for node in self.nodes for key in node.missing]

    @property
    def mismatched(self) -> list[tuple[str, tuple[int, ...], tuple[int, ...]]]:
        return [item for node in self.nodes for item in node.mismatched]

    def render(self) -> str:
        lines = []
        width = max([len(node.node) for node in self.nodes] + [4])
        for node in self.nodes:
            status = "ok" if node.complete else "INCOMPLETE"
            parts = [f"{len(node.loaded)} loaded"]
            if node.missing:
                parts.append(f"{len(node.missing)} missing")
            if node.mismatched:
                parts.append(f"{len(node.mismatched)} shape mismatch")
            lines.append(f"  {node.node:<{width}}  {status:<10}  {', '.join(parts)}")
            for key in node.missing[:8]:
                lines.append(f"      missing: {key} (stays randomly initialised)")
            if len(node.missing) > 8:
                lines.append(f"      ... and {len(node.missing) - 8} more missing")
            for key, ours, theirs in node.mismatched[:8]:
                lines.append(f"      shape mismatch: {key} model {list(ours)} vs file {list(theirs)}")
        for key in self.unexpected[:12]:
            lines.append(f"  unexpected in the file: {key}")
        if len(self.unexpected) > 12:
            lines.append(f"  ... and {len(self.unexpected) - 12} more unexpected keys")
        for name, note in self.external:
            lines.append(f"  {name:<{width}}  external    {note}")
        return "\n".join(lines)


def coverage(model: nn.Module, state_dict: Mapping[str, Tensor]) -> CoverageReport:
    """Compare the model's expected keys and shapes (works on a meta-device model) with a state dict."""
    expected = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    autoencoder = all(node_of_key(k) in ("encoder", "decoder", "bottleneck") for k in expected) and bool(expected)
    nodes: dict[str, NodeCoverage] = {}
    for key, shape in expected.items():
        node = nodes.setdefault(
            node_of_key(key, autoencoder=autoencoder), NodeCoverage(node_of_key(key, autoencoder=autoencoder))
        )
        if key not in state_dict:
            node.missing.append(key)
        elif tuple(state_dict[key].shape) != shape:
            node.mismatched.append((key, shape, tuple(state_dict[key].shape)))
        else:
            node.loaded.append(key)
    unexpected = sorted(key for key in state_dict if key not in expected)
    report = CoverageReport(sorted(nodes.values(), key=lambda n: n.node), unexpected)
    conditioner = getattr(model, "conditioner", None)
    if conditioner is not None:
        for name, module in conditioner.conditioners.items():
            if not module.is_loaded:
                reason = (
                    "frozen encoder weights are loaded separately, from a local path or the local Hugging Face cache"
                )
                report.external.append((f"conditioning.{name}", reason))
    return report


class PartialLoadError(CheckpointError):
    def __init__(self, report: CoverageReport):
        super().__init__("the checkpoint does not cover the model")
        self.report = report


def load_checkpoint_into(model: nn.Module, checkpoint: Checkpoint, *, allow_partial: bool = False) -> CoverageReport:
    """Load a checkpoint after checking its coverage; refuse a partial load unless `allow_partial`. With
    `allow_partial`, only keys whose shapes match are copied and the report says what stays random."""
    report = coverage(model, checkpoint.state_dict)
    if not report.complete and not allow_partial:
        raise PartialLoadError(report)
    expected = model.state_dict()
    usable = {
        key: value
        for key, value in checkpoint.state_dict.items()
        if key in expected and tuple(value.shape) == tuple(expected[key].shape)
    }
    model.load_state_dict(usable, strict=report.complete)
    return report


def read_pretransform_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """An autoencoder checkpoint as it is, or the pretransform's weights (`pretransform.model.*`) of a whole
    released model, in the autoencoder layout (`encoder.*`, `decoder.*`, `bottleneck.*`)."""
    checkpoint = read_checkpoint(path)
    if checkpoint.layout == "autoencoder":
        return checkpoint
    prefix = "pretransform.model."
    state = {key[len(prefix) :]: value for key, value in checkpoint.state_dict.items() if key.startswith(prefix)}
    return Checkpoint(str(path), checkpoint.kind, "autoencoder", state)


def load_pretransform_checkpoint(
    model: nn.Module, checkpoint: Checkpoint, *, allow_partial: bool = False
) -> CoverageReport:
    """Load a separate autoencoder checkpoint (`encoder.*`, `decoder.*`) into a diffusion model's pretransform."""
    pretransform = getattr(model, "pretransform", None)
    if pretransform is None or not hasattr(pretransform, "model"):
        raise CheckpointError("the model has no autoencoder pretransform to load a pretransform checkpoint into")
    return load_checkpoint_into(pretransform.model, checkpoint, allow_partial=allow_partial)


def parameter_counts(state_dict: Mapping[str, Tensor]) -> dict[str, int]:
    """Elements per top-level module of a released-layout state dict (`model`, `conditioner`, `pretransform`)."""
    counts: dict[str, int] = {}
    for key, value in state_dict.items():
        top = key.split(".", 1)[0]
        counts[top] = counts.get(top, 0) + value.numel()
    return counts
