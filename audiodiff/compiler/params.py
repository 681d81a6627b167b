"""Analytic parameter counts of every node of a model graph, from the typed spec alone (no torch, no numpy).

Each count equals, to the unit, what stable-audio-tools 0.0.19 instantiates for the same config (and what
`audiodiff.nn` builds): the layouts are those of spec §8 and of the upstream modules they were read from. A count
separates `params` (elements of `nn.Parameter`s) from `buffers` (elements of persistent buffers, which the state dict
holds but no optimizer touches: rotary tables, LayerNorm betas without bias, resampling kernels, EMA codebooks).
Non-persistent buffers are never counted. Where a count cannot be known without loading something (a tokenizer's
vocabulary, a frozen text encoder that is trained) the functions return None.

This module is the public surface: conditioners and whole models live here, backbones in `params_backbones.py`,
autoencoders, bottlenecks and pretransforms in `params_codecs.py` (both re-exported here), all written in the same
small layer vocabulary (`param_layers.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from audiodiff.compiler.entries.conditioners import G2P_EN_PHONEME_COUNT
from audiodiff.compiler.param_layers import ParamCount
from audiodiff.compiler.params_backbones import backbone_count, backbone_params
from audiodiff.compiler.params_codecs import StageCounts, autoencoder_params, pretransform_count, pretransform_params
from audiodiff.schema.v1.conditioning import ConditionerSpec
from audiodiff.schema.v1.pretransform import PretransformSpec
from audiodiff.schema.v1.root import AutoencoderConfig, ModelConfig

__all__ = [
    "G2P_EN_PHONEME_COUNT",
    "ModelCounts",
    "ParamCount",
    "StageCounts",
    "autoencoder_params",
    "backbone_count",
    "backbone_params",
    "conditioner_count",
    "conditioner_params",
    "count_model",
    "pretransform_count",
    "pretransform_params",
]

# --- conditioners --------------------------------------------------------------------------------------------------


def conditioner_count(
    entry: ConditionerSpec,
    output_dim: int,
    *,
    model_pretransform: PretransformSpec | None = None,
    vocab_size: int | None = None,
) -> ParamCount | None:
    """State-dict elements under `conditioner.conditioners.<id>.`, by the counter of the entry's registered type;
    None when they depend on something not in the spec.

    `model_pretransform` is the model's own pretransform spec, needed by `pretransform` / `source_mix` conditioners
    with `use_model_pretransform`; `vocab_size` is a loaded `lut` tokenizer's length (special tokens included).
    """
    from audiodiff.compiler.entries.conditioners import ConditionerCount
    from audiodiff.compiler.registry import lookup

    counter = lookup("conditioner", entry.type).counter
    if counter is None:
        return None
    count = counter(entry, ConditionerCount(output_dim, model_pretransform, vocab_size))
    assert count is None or isinstance(count, ParamCount)
    return count


def conditioner_params(
    entry: ConditionerSpec,
    output_dim: int,
    *,
    model_pretransform: PretransformSpec | None = None,
    vocab_size: int | None = None,
) -> int | None:
    """Parameter count of a conditioner entry (None when unknown without loading, or not buildable)."""
    try:
        count = conditioner_count(entry, output_dim, model_pretransform=model_pretransform, vocab_size=vocab_size)
    except ValueError:
        return None
    return None if count is None else count.params


# --- whole models --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelCounts:
    """Counts of every part of a model config, keyed like its state dict.

    `parts` maps a state-dict prefix (`model.model.`, `conditioner.conditioners.<id>.`, `pretransform.`, or for an
    autoencoder model `encoder.`, `bottleneck.`, `decoder.`, `pretransform.`) to its count (None: unknown).
    `trainable` holds the prefixes whose parameters the training step optimises (a frozen pretransform is not one);
    `backbone` is the prefix that EMA averages.
    """

    model_type: str
    parts: Mapping[str, ParamCount | None]
    trainable: frozenset[str] = field(default_factory=frozenset)
    backbone: str | None = None

    def _sum(self, prefixes: Iterable[str]) -> ParamCount:
        total = ParamCount(0)
        for prefix in prefixes:
            count = self.parts.get(prefix)
            total += count if count is not None else ParamCount(0)
        return total

    @property
    def total(self) -> ParamCount:
        """Everything known (unknown parts count as 0: see `unknown`)."""
        return self._sum(self.parts)

    @property
    def trainable_count(self) -> ParamCount:
        return self._sum(self.trainable)

    @property
    def backbone_count(self) -> ParamCount:
        return self._sum([self.backbone] if self.backbone else [])

    @property
    def unknown(self) -> tuple[str, ...]:
        return tuple(prefix for prefix, count in self.parts.items() if count is None)


def count_model(spec: ModelConfig) -> ModelCounts:
    """Counts of a validated root model config (`SchemaResult.spec`)."""
    from audiodiff.schema.views import backbone_of, conditioning_of, pretransform_of

    if isinstance(spec, AutoencoderConfig):
        stages = autoencoder_params(spec.model)
        codec_parts = {
            "encoder.": stages.encoder_count,
            "bottleneck.": stages.bottleneck_count,
            "decoder.": stages.decoder_count,
            "pretransform.": stages.pretransform_count,
        }
        trainable = {"encoder.", "bottleneck.", "decoder."}
        if spec.model.pretransform is not None and spec.model.pretransform.enable_grad:
            trainable.add("pretransform.")
        return ModelCounts(spec.model_type, codec_parts, frozenset(trainable))
    backbone = backbone_of(spec)
    assert backbone is not None  # a diffusion model always has one
    # an unconditioned model keeps a backbone that is not `nested` (DAU1d) directly under `model.`; every other
    # backbone sits in a wrapper's `.model`
    unwrapped = not backbone.capabilities.nested and spec.model_type == "diffusion_uncond"
    prefix = "model." if unwrapped else "model.model."
    parts: dict[str, ParamCount | None] = {prefix: _unless_unbuildable(backbone_count, backbone.config)}
    trainable = {prefix}
    located = pretransform_of(spec)
    model_pretransform = located[0] if located is not None else None
    conditioning = conditioning_of(spec)
    if conditioning is not None:
        for entry in conditioning.configs:
            key = f"conditioner.conditioners.{entry.id}."
            parts[key] = _unless_unbuildable(
                conditioner_count, entry, conditioning.output_dim(entry), model_pretransform=model_pretransform
            )
            trainable.add(key)
    if model_pretransform is not None:
        parts["pretransform."] = pretransform_count(model_pretransform)
        if model_pretransform.enable_grad:
            trainable.add("pretransform.")
    return ModelCounts(spec.model_type, parts, frozenset(trainable), prefix)


def _unless_unbuildable(count: Callable[..., ParamCount | None], *args: object, **kwargs: object) -> ParamCount | None:
    """The count, or None when the spec describes no buildable module (the rules report why)."""
    try:
        return count(*args, **kwargs)
    except ValueError:
        return None
