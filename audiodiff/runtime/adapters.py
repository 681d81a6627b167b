"""LoRA adapters at run time: attaching them for training, the base model's fingerprint, adapter-only files, and
applying or folding them for sampling and export.

An adapter file is a safetensors file of the adapter matrices alone, in the released layout
(`model.model.<layer>.lora_A` [r, in], `.lora_B` [out, r]), whose metadata says `format: audiodiff-lora` and
carries the scale, the target patterns, the model config and the fingerprint of the base backbone it was trained
on. The fingerprint is a SHA-256 over the backbone's tensors (`model.*` of the released layout, adapters left out)
by sorted name, each as its name, shape and float32 (or integer) bytes: a file stored in float16 and the float32
model loaded from it give the same fingerprint, while any changed weight gives another.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from audiodiff.nn.lora import LoRALinear, adapters, attach, freeze_all_but_adapters, is_adapter_key
from audiodiff.runtime.atomic import atomic_output
from audiodiff.runtime.checkpoint_header import HeaderError, embedded_config, read_safetensors_header
from audiodiff.runtime.outputs import check_finite_tensors
from audiodiff.schema.v1.root import ModelConfig

ADAPTER_FORMAT = "audiodiff-lora"
BACKBONE_PREFIX = "model."  # the backbone wrapper in the released layout
LAYER_PREFIX = "model.model."  # adapted layers are named below the DiT itself
FORMAT_KEY = "format"
FINGERPRINT_KEY = "base_fingerprint"
SCALE_KEY = "lora_scale"
RANK_KEY = "lora_rank"
TARGETS_KEY = "lora_target_modules"
CONFIG_KEY = "model_config"
VERSION_KEY = "schema_version"


class AdapterFileError(Exception):
    """An adapter file that cannot be used; `str()` is one sentence, `mismatch` tells a wrong base apart."""

    def __init__(self, message: str, *, mismatch: bool = False) -> None:
        super().__init__(message)
        self.mismatch = mismatch


# --- training ------------------------------------------------------------------------------------------------------


def attach_for_training(model: nn.Module, spec: ModelConfig) -> list[str]:
    """Attach the adapters `spec.training.lora` asks for to the model's DiT and freeze everything else; returns the
    adapted layer names (empty when the config has no `lora`). The rules (AD530, AD531) ran before this."""
    from audiodiff.compiler.lora import lora_of, lora_sites

    lora = lora_of(spec)
    if lora is None:
        return []
    names = [site.name for site in lora_sites(spec)]
    attached = attach(backbone_module(model), names, rank=lora.rank, scale=lora.scale, dropout=lora.dropout)
    freeze_all_but_adapters(model)
    return attached


def backbone_module(model: nn.Module) -> nn.Module:
    """The DiT inside a diffusion model (`model.model.model`, released names `model.model.*`)."""
    return model.get_submodule("model.model")


def has_adapters(model: nn.Module) -> bool:
    return bool(adapters(model))


# --- fingerprints --------------------------------------------------------------------------------------------------


def fingerprint(state_dict: Mapping[str, Tensor]) -> str:
    """SHA-256 of the backbone tensors of a released-layout state dict (see the module docstring)."""
    digest = hashlib.sha256()
    keys = sorted(key for key in state_dict if key.startswith(BACKBONE_PREFIX) and not is_adapter_key(key))
    for key in keys:
        tensor = state_dict[key].detach()
        if tensor.is_floating_point():
            tensor = tensor.to(torch.float32)
        tensor = tensor.cpu().contiguous()
        digest.update(f"{key}|{tuple(tensor.shape)}|{tensor.dtype}\n".encode())
        digest.update(tensor.view(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def model_fingerprint(model: nn.Module) -> str:
    """The fingerprint of a built diffusion model's base backbone (adapters left out)."""
    state = {f"{BACKBONE_PREFIX}{key}": value for key, value in model.get_submodule("model").state_dict().items()}
    return fingerprint(state)


def short(fingerprint_hex: str) -> str:
    return f"{fingerprint_hex[:8]}…{fingerprint_hex[-4:]}"


# --- adapter files -------------------------------------------------------------------------------------------------


def write_adapters(
    path: str | os.PathLike,
    state_dict: Mapping[str, Tensor],
    *,
    scale: float,
    config: dict[str, Any] | None,
    schema_version: int,
) -> int:
    """Write the adapter matrices of a released-layout state dict that holds them (a LoRA model's), with the
    fingerprint of its base backbone and what applying them needs; returns the file's size in bytes."""
    from safetensors.torch import save_file

    tensors = {key: value.detach().contiguous().cpu() for key, value in state_dict.items() if is_adapter_key(key)}
    if not tensors:
        raise AdapterFileError("the model has no adapters to write")
    check_finite_tensors(tensors, f"the adapters for `{Path(path).name}`")
    rank = next(value.shape[0] for key, value in tensors.items() if key.endswith(".lora_A"))
    lora = ((config or {}).get("training") or {}).get("lora") or {}
    metadata = {
        FORMAT_KEY: ADAPTER_FORMAT,
        FINGERPRINT_KEY: fingerprint(state_dict),
        SCALE_KEY: repr(float(scale)),
        RANK_KEY: str(rank),
        TARGETS_KEY: json.dumps(list(lora.get("target_modules", []))),
        VERSION_KEY: str(schema_version),
    }
    if config is not None:
        metadata[CONFIG_KEY] = json.dumps(config)
    with atomic_output(path) as temporary:
        save_file(tensors, str(temporary), metadata=metadata)
    return Path(path).stat().st_size


def adapter_scale(model: nn.Module) -> float:
    """The scale of a model's adapters (one `training.lora` gives every layer the same)."""
    found = adapters(model)
    if not found:
        raise AdapterFileError("the model has no adapters")
    return next(iter(found.values())).scale


@dataclass
class AdapterFile:
    path: str
    layers: dict[str, tuple[Tensor, Tensor]]  # DiT layer name -> (A [r, in], B [out, r])
    scale: float
    base_fingerprint: str
    config: dict[str, Any] | None

    @property
    def rank(self) -> int:
        return next(iter(self.layers.values()))[0].shape[0]

    @property
    def params(self) -> int:
        return sum(a.numel() + b.numel() for a, b in self.layers.values())


def is_adapter_file(path: str | os.PathLike) -> bool:
    """Whether `path` is a safetensors file that says it holds LoRA adapters (its header alone is read)."""
    if Path(path).suffix != ".safetensors":
        return False
    try:
        return read_safetensors_header(path).metadata.get(FORMAT_KEY) == ADAPTER_FORMAT
    except (HeaderError, OSError):
        return False


def read_adapters(path: str | os.PathLike) -> AdapterFile:
    """Read an adapter file; anything that makes it unusable is an AdapterFileError."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    name = str(path)
    if Path(path).suffix != ".safetensors":
        raise AdapterFileError(f"`{name}` is not a LoRA adapter file: adapter files are .safetensors")
    try:
        header = read_safetensors_header(path)
        tensors = load_file(name)
    except (HeaderError, SafetensorError, OSError, ValueError) as error:
        raise AdapterFileError(f"`{name}` cannot be read: {error}") from None
    metadata = header.metadata
    if metadata.get(FORMAT_KEY) != ADAPTER_FORMAT:
        raise AdapterFileError(
            f"`{name}` is not a LoRA adapter file (its metadata does not say `{FORMAT_KEY}: {ADAPTER_FORMAT}`)"
        )
    layers: dict[str, tuple[Tensor, Tensor]] = {}
    for key in sorted(tensors):
        if not key.startswith(LAYER_PREFIX) or not is_adapter_key(key):
            raise AdapterFileError(f"`{name}` holds `{key}`, which is not an adapter matrix of the DiT")
        layer = key[len(LAYER_PREFIX) : -len(".lora_A")]
        if key.endswith(".lora_A"):
            partner = f"{LAYER_PREFIX}{layer}.lora_B"
            if partner not in tensors:
                raise AdapterFileError(f"`{name}` has `{key}` without `{partner}`")
            a, b = tensors[key], tensors[partner]
            if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[1]:
                raise AdapterFileError(
                    f"`{name}`: the matrices of `{layer}` do not multiply ({list(b.shape)} x {list(a.shape)})"
                )
            layers[layer] = (a, b)
        elif f"{LAYER_PREFIX}{layer}.lora_A" not in tensors:
            raise AdapterFileError(f"`{name}` has `{key}` without its `lora_A`")
    if not layers:
        raise AdapterFileError(f"`{name}` holds no adapter matrices")
    try:
        scale = float(metadata[SCALE_KEY])
        base = metadata[FINGERPRINT_KEY]
    except (KeyError, ValueError):
        raise AdapterFileError(f"`{name}` lacks its scale or its base fingerprint") from None
    return AdapterFile(name, layers, scale, base, embedded_config(metadata.get(CONFIG_KEY)))


def check_base(adapter: AdapterFile, base_fingerprint: str, base_name: str) -> None:
    """Refuse adapters trained on other base weights (AD850)."""
    if adapter.base_fingerprint != base_fingerprint:
        raise AdapterFileError(
            f"the adapters were trained on base weights with fingerprint {short(adapter.base_fingerprint)}, but "
            f"{base_name} has {short(base_fingerprint)}",
            mismatch=True,
        )


def apply_adapters(model: nn.Module, adapter: AdapterFile) -> int:
    """Attach the file's adapters to a built (and loaded) diffusion model after checking its base fingerprint;
    returns how many layers were adapted. The base weights are left as they are (the update is applied on the fly)."""
    check_base(adapter, model_fingerprint(model), "the base model")
    backbone = backbone_module(model)
    from audiodiff.nn.lora import AdapterError

    for layer, (a, b) in adapter.layers.items():
        try:
            (name,) = attach(backbone, [layer], rank=a.shape[0], scale=adapter.scale)
        except AdapterError as error:
            raise AdapterFileError(f"`{adapter.path}` does not fit the model: {error}") from None
        wrapped = backbone.get_submodule(name)
        assert isinstance(wrapped, LoRALinear)
        if tuple(wrapped.lora_A.shape) != tuple(a.shape) or tuple(wrapped.lora_B.shape) != tuple(b.shape):
            raise AdapterFileError(
                f"`{adapter.path}` does not fit the model: `{layer}` is [{wrapped.out_features}, "
                f"{wrapped.in_features}], the adapter is {list(b.shape)} x {list(a.shape)}"
            )
        with torch.no_grad():
            wrapped.lora_A.copy_(a)
            wrapped.lora_B.copy_(b)
    return len(adapter.layers)


def merge_into_state_dict(state_dict: Mapping[str, Tensor], adapter: AdapterFile, base_name: str) -> dict[str, Tensor]:
    """A released-layout state dict with the adapters folded into its weights: W + s * B A (in float32, stored in
    W's dtype), after checking the base fingerprint. Adapter keys in `state_dict` itself are refused."""
    if any(is_adapter_key(key) for key in state_dict):
        raise AdapterFileError(f"{base_name} holds adapters already: merge them first or export a plain model")
    check_base(adapter, fingerprint(state_dict), base_name)
    merged = dict(state_dict)
    for layer, (a, b) in adapter.layers.items():
        key = f"{LAYER_PREFIX}{layer}.weight"
        weight = merged.get(key)
        if weight is None:
            raise AdapterFileError(f"`{adapter.path}` adapts `{layer}`, which {base_name} does not have")
        if tuple(weight.shape) != (b.shape[0], a.shape[1]):
            raise AdapterFileError(
                f"`{adapter.path}` does not fit {base_name}: `{layer}` is {list(weight.shape)}, the adapter "
                f"{list(b.shape)} x {list(a.shape)}"
            )
        delta = (b.float() @ a.float()) * adapter.scale  # [out, in]
        merged[key] = (weight.float() + delta).to(weight.dtype)
    return merged


def fold_own_adapters(state_dict: Mapping[str, Tensor], scale: float) -> tuple[dict[str, Tensor], int]:
    """A state dict that carries its own adapters (a LoRA run's checkpoint) with them folded in; returns it and the
    number of layers folded."""
    plain = {key: value for key, value in state_dict.items() if not is_adapter_key(key)}
    folded = 0
    for key in state_dict:
        if key.endswith(".lora_A"):
            layer = key[: -len(".lora_A")]
            a, b = state_dict[key], state_dict[f"{layer}.lora_B"]
            weight = plain[f"{layer}.weight"]
            plain[f"{layer}.weight"] = (weight.float() + (b.float() @ a.float()) * scale).to(weight.dtype)
            folded += 1
    return plain, folded
