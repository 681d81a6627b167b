"""Loading a model for sampling: the config checked first (no weights involved), then the checkpoint's coverage of
the model on the meta device, and only then the model built and loaded. Shared by `sample` and `serve`, so the
page refuses exactly what the command line refuses.

Every refusal is a `LoadRefused` carrying coded diagnostics; callers render them (stderr, or the page).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audiodiff.diagnostics import codes
from audiodiff.diagnostics.codes import Code
from audiodiff.diagnostics.model import Diagnostic
from audiodiff.schema.v1.root import ModelConfig

if TYPE_CHECKING:
    from audiodiff.runtime.checkpoints import Checkpoint

if TYPE_CHECKING:  # torch is imported only when a model is built
    from torch import nn

    from audiodiff.runtime.adapters import AdapterFile

CHECKPOINT_SUFFIXES = (".ckpt", ".safetensors", ".pt", ".pth")


class LoadRefused(Exception):
    """The config, the checkpoint or their fit refused; `diagnostics` say why, `detail` adds a coverage report."""

    def __init__(
        self,
        path: str,
        diagnostics: Sequence[Diagnostic],
        *,
        line: Callable[[int], str | None] | None = None,
        detail: str | None = None,
        usage: bool = False,
    ):
        super().__init__("; ".join(d.message for d in diagnostics))
        self.path = path
        self.diagnostics = list(diagnostics)
        self.line = line
        self.detail = detail
        self.usage = usage  # a mistake in how the command was called (exit 2), not in the files

    @classmethod
    def single(
        cls,
        path: str,
        code: Code,
        message: str,
        *,
        help: str | None = None,
        pointer: str | None = None,
        detail: str | None = None,
    ) -> LoadRefused:
        return cls(path, [Diagnostic(code, message, pointer, path=path, help=help)], detail=detail)


@dataclass(frozen=True)
class SamplingSource:
    """A validated model spec and the (header-only) checkpoint that will fill it."""

    spec: ModelConfig
    checkpoint: Checkpoint  # tensors not yet read
    config_path: str  # what diagnostics about the config name


def resolve_source(source: Path, ckpt: Path | None, overrides: Sequence[Any] = ()) -> SamplingSource:
    """Check the config (or the config a checkpoint embeds) and read the checkpoint's header. No model is built.
    `overrides` (`--set`) apply to that config before it is checked."""
    from audiodiff.compiler.checks import buildability
    from audiodiff.compiler.pipeline import check_file, check_text, locate
    from audiodiff.runtime.checkpoints import CheckpointError, read_checkpoint

    from_checkpoint = source.suffix in CHECKPOINT_SUFFIXES
    if from_checkpoint:
        if ckpt is not None:
            raise LoadRefused(
                str(source),
                [Diagnostic(codes.RUN_SETTING, "give a config with `--ckpt`, or a checkpoint alone")],
                usage=True,
            )
        ckpt = source
    if ckpt is None:
        raise LoadRefused.single(
            str(source),
            codes.CHECKPOINT_PARTIAL,
            "no checkpoint given: the model would be random",
            help="pass the trained weights with `--ckpt PATH`",
        )
    from audiodiff.runtime.adapters import is_adapter_file

    if is_adapter_file(ckpt):
        raise LoadRefused.single(
            str(ckpt),
            codes.ADAPTER_UNUSABLE,
            "this is a LoRA adapter file, not a model: it holds the adapter matrices alone",
            help="pass the base model's checkpoint, and this file with `--lora`",
        )
    try:
        checkpoint = read_checkpoint(ckpt, header_only=True)  # names and shapes: tensors are read after the checks
    except CheckpointError as error:
        raise LoadRefused.single(str(ckpt), codes.CHECKPOINT_UNREADABLE, str(error)) from None
    if from_checkpoint:
        if checkpoint.config is None:
            raise LoadRefused.single(
                str(source),
                codes.CHECKPOINT_UNREADABLE,
                "the checkpoint carries no config",
                help="pass the model config first and the checkpoint with `--ckpt`",
            )
        check = check_text(json.dumps(checkpoint.config, indent=2), f"{source} (embedded config)", overrides=overrides)
    else:
        check = check_file(source, overrides=overrides)
    diagnostics = list(check.diagnostics)
    if check.graph is not None:
        diagnostics.extend(locate(check, buildability(check.graph, strict=True)))
    if any(d.is_error for d in diagnostics) or check.spec is None:
        raise LoadRefused(check.path, diagnostics, line=check.result().line)
    spec = check.model_spec
    if spec is None:
        raise LoadRefused.single(
            check.path, codes.RUN_SETTING, "a dataset config cannot be sampled; pass a model config"
        )
    return SamplingSource(spec, checkpoint, check.path)


def load_model(
    source: SamplingSource,
    *,
    allow_partial: bool,
    t5_path: str | None,
    on_partial: Callable[[str], object] | None = None,
    lora: Path | None = None,
) -> Any:
    """The model with the checkpoint's weights, in eval mode, after its coverage was checked on the meta device.
    `on_partial` hears the report of what stays random when `allow_partial` lets an incomplete load through.
    `lora` names an adapter file to apply on top, once its base fingerprint matches the loaded weights."""
    adapter = _read_adapter_file(lora) if lora is not None else None
    from audiodiff.compiler.materialize import BuildError, BuildOptions, build_model
    from audiodiff.nn.errors import MissingExtraError, MissingWeightsError
    from audiodiff.runtime.checkpoints import CheckpointError, coverage, load_checkpoint_into, read_checkpoint

    spec, checkpoint = source.spec, source.checkpoint
    try:
        skeleton = build_model(spec, BuildOptions(device="meta", t5_model_path=t5_path))
    except BuildError as error:
        raise LoadRefused.single(
            str(checkpoint.path), codes.NOT_BUILDABLE, error.message, pointer=error.pointer
        ) from None
    from audiodiff.runtime.adapters import attach_for_training

    # a LoRA run's own checkpoint carries its adapters beside the frozen base: build them in, as training did
    own_adapters = any(key.endswith((".lora_A", ".lora_B")) for key in checkpoint.state_dict)
    if own_adapters:
        attach_for_training(skeleton, spec)
    found = coverage(skeleton, checkpoint.state_dict)
    if not found.complete and not allow_partial:
        raise LoadRefused.single(
            str(checkpoint.path),
            codes.CHECKPOINT_PARTIAL,
            "the checkpoint does not cover the model: a partial load would leave weights random",
            help="fix the config or the checkpoint, or pass `--allow-partial` to sample anyway",
            detail=f"coverage of {checkpoint.path}:\n{found.render()}",
        )
    try:
        full = read_checkpoint(checkpoint.path)
    except CheckpointError as error:
        raise LoadRefused.single(str(checkpoint.path), codes.CHECKPOINT_UNREADABLE, str(error)) from None
    model = build_model(spec, BuildOptions(t5_model_path=t5_path))
    if own_adapters:
        attach_for_training(model, spec)
    loaded = load_checkpoint_into(model, full, allow_partial=allow_partial)
    if not loaded.complete and on_partial is not None:
        on_partial(f"partial load of {full.path}; these stay random:\n{loaded.render()}")
    conditioner = getattr(model, "conditioner", None)
    if conditioner is not None:
        try:
            conditioner.load_weights()
        except (MissingWeightsError, MissingExtraError) as error:
            raise LoadRefused.single(
                str(full.path),
                codes.CHECKPOINT_PARTIAL,
                f"external encoder weights are missing: {error}",
                help="put the encoder in the local Hugging Face cache, or pass `--t5-path DIR`",
            ) from None
    if adapter is not None:
        _apply_adapter_file(model, adapter, str(checkpoint.path))
    model.eval()
    model.requires_grad_(False)  # sampling only; the caller's grad mode is left alone (it is per thread, and global)
    return model


def _read_adapter_file(path: Path) -> AdapterFile:
    """The adapter file, read before any model is built (a wrong file is refused at once)."""
    from audiodiff.runtime.adapters import AdapterFileError, read_adapters

    try:
        return read_adapters(path)
    except AdapterFileError as error:
        raise LoadRefused.single(
            str(path),
            codes.ADAPTER_UNUSABLE,
            str(error),
            help="pass the adapter file a run with `training.lora` wrote (`checkpoints/step_<N>.safetensors`)",
        ) from None


def _apply_adapter_file(model: nn.Module, adapter: AdapterFile, base: str) -> None:
    from audiodiff.runtime.adapters import AdapterFileError, apply_adapters

    try:
        apply_adapters(model, adapter)
    except AdapterFileError as error:
        raise LoadRefused.single(
            adapter.path,
            codes.ADAPTER_BASE_MISMATCH if error.mismatch else codes.ADAPTER_UNUSABLE,
            f"{error} (`{base}`)" if error.mismatch else str(error),
            help="pass the base checkpoint the adapters were trained from (`audiodiff ckpt inspect ADAPTER` "
            "shows its fingerprint)"
            if error.mismatch
            else None,
        ) from None
