"""What `training.lora` adds to a compiled model, torch-free: the adapter node of the graph (excluded from the model's
own total, like other training-only nodes), the derived numbers `explain` prints (adapted layers, trainable and
frozen parameters, the adapter file's size) and the counts the memory estimate trains.

The layers come from `schema/lora_sites.py`, the same static list the rules check the patterns against.
"""

from __future__ import annotations

from dataclasses import replace

from audiodiff.compiler.facts import AdapterFacts
from audiodiff.compiler.graph import Node, Quantity
from audiodiff.compiler.param_layers import ParamCount
from audiodiff.compiler.params import ModelCounts
from audiodiff.schema.lora_sites import LinearSite, dit_linear_sites, select
from audiodiff.schema.v1.backbones import DiTSpec, DiTUncondSpec
from audiodiff.schema.v1.root import AutoencoderConfig, ModelConfig
from audiodiff.schema.v1.training import LoraSpec
from audiodiff.schema.views import backbone_of

LORA_ID = "training.lora"
ADAPTER_KIND = "adapter"
LORA_PREFIX = "lora."  # the adapters' part in ModelCounts (their real names sit beside the layers they adapt)
BYTES_PER_VALUE = 4  # adapters are written in float32
# safetensors header bytes per tensor (its name, dtype, shape and offsets as JSON), for the file-size estimate
HEADER_BYTES_PER_TENSOR = 128


def lora_of(spec: ModelConfig) -> LoraSpec | None:
    """`training.lora` of a diffusion model config (None: absent, or an autoencoder)."""
    if isinstance(spec, AutoencoderConfig) or spec.training is None:
        return None
    return spec.training.lora


def lora_sites(spec: ModelConfig) -> tuple[LinearSite, ...]:
    """The layers `training.lora` adapts (empty without `lora`, or where the rules refuse it)."""
    lora = lora_of(spec)
    if lora is None:
        return ()
    backbone = backbone_of(spec)
    if backbone is None or not isinstance(backbone.config, (DiTSpec, DiTUncondSpec)):
        return ()
    return select(lora.target_modules, dit_linear_sites(backbone.config))


def adapter_params(spec: ModelConfig) -> int:
    lora = lora_of(spec)
    return sum(site.adapter_params(lora.rank) for site in lora_sites(spec)) if lora is not None else 0


def adapter_file_bytes(spec: ModelConfig) -> int:
    """The adapter file's size: float32 matrices plus the header's per-tensor entries (the embedded config adds a
    few KB more)."""
    sites = lora_sites(spec)
    return adapter_params(spec) * BYTES_PER_VALUE + 2 * len(sites) * HEADER_BYTES_PER_TENSOR


def lora_nodes(spec: ModelConfig) -> list[Node]:
    sites = lora_sites(spec)
    lora = lora_of(spec)
    if not sites or lora is None:
        return []
    return [
        Node(
            LORA_ID,
            ADAPTER_KIND,
            "lora",
            "/training/lora",
            params=adapter_params(spec),
            spec=lora,
            facts=AdapterFacts(lora.rank, lora.scale, len(sites)),
        )
    ]


def lora_quantities(spec: ModelConfig, model_params: int | None) -> list[Quantity]:
    """Trainable against frozen parameters with adapters; `model_params` is the model's own total (graph total)."""
    sites = lora_sites(spec)
    if not sites:
        return []
    trainable = adapter_params(spec)
    source = "/training/lora"
    adapted = sum(site.params for site in sites)
    quantities = [
        Quantity("lora_layers", len(sites), "Linear layers", f"{source}/target_modules"),
        Quantity("lora_adapted_weights", adapted, "params", "weights of the adapted layers (frozen)"),
        Quantity("lora_trainable_params", trainable, "params", f"rank x (in + out) per layer, {source}/rank"),
    ]
    if model_params is not None:
        fraction = 100 * trainable / (model_params + trainable)
        quantities.append(Quantity("lora_frozen_params", model_params, "params", "every weight of the model"))
        quantities.append(Quantity("lora_trainable_fraction", round(fraction, 4), "%", "adapters / (model + adapters)"))
    quantities.append(
        Quantity("lora_adapter_file_size", adapter_file_bytes(spec), "bytes", "float32 adapters + header, no config")
    )
    return quantities


def with_adapters(counts: ModelCounts, spec: ModelConfig) -> ModelCounts:
    """The counts a LoRA run trains: the adapters as their own part, the only trainable one."""
    params = adapter_params(spec)
    if not params:
        return counts
    parts = dict(counts.parts)
    parts[LORA_PREFIX] = ParamCount(params)
    # the EMA copy averages the adapters alone (the frozen base is shared with it, `runtime/ema.py`)
    return replace(counts, parts=parts, trainable=frozenset({LORA_PREFIX}), backbone=LORA_PREFIX)
