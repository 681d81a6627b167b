"""The meta-device cross-check over every registered type: each entry's builder, run on the meta device, makes a
module whose state dict holds exactly what the entry's torch-free counter says (parameters and persistent buffers).

The samples are generated from the option tables of `test_params.py` (every DiT, U-Net and DAU1d option, every
codec stage and bottleneck case) plus one spec per remaining type; a registered, buildable type without a sample
fails `test_every_buildable_type_has_samples`, so a new type cannot skip the check."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import torch
from test_params import (
    BOTTLENECKS,
    CONDITIONERS,
    DAU_BASE,
    DAU_OPTIONS,
    DIT_BASE,
    DIT_OPTIONS,
    STAGES,
    UNET_BASE,
    UNET_OPTIONS,
)

from audiodiff.compiler.entries.backbones import BackboneBuild
from audiodiff.compiler.entries.conditioners import ConditionerBuild, ConditionerCount
from audiodiff.compiler.entry import MODULE_KINDS, Entry
from audiodiff.compiler.param_layers import ParamCount
from audiodiff.compiler.registry import REGISTRY
from audiodiff.nn.objectives import OBJECTIVES

# Types whose module needs files or packages that are not part of a build (a T5 or CLAP model, a tokenizer, the
# g2p lexicon): their counts are checked against the reference's layouts in `test_params.py` instead.
EXTERNAL = {
    ("conditioner", "t5"),
    ("conditioner", "clap_text"),
    ("conditioner", "clap_audio"),
    ("conditioner", "lut"),
    ("conditioner", "phoneme"),
}

Sample = tuple[str, dict[str, Any]]  # (name, the config object the entry's spec parses)


def _backbone_samples(kind: str, tag: str) -> list[Sample]:
    if tag == "dit":
        samples = [
            (name, {"type": "dit", "config": {**DIT_BASE, **options}})
            for name, options in DIT_OPTIONS.items()
            if "transformer_type" not in options
        ]
        if kind == "uncond_backbone":  # the unconditioned DiT names its width `in_channels`
            for _, data in samples:
                data["config"]["in_channels"] = data["config"].pop("io_channels")
        return samples
    if tag in ("adp_1d", "adp_uncond_1d"):
        return [(name, {"type": tag, "config": {**UNET_BASE, **options}}) for name, options in UNET_OPTIONS.items()]
    if tag == "adp_cfg_1d":
        return [
            (
                f"xattn_time={flag}",
                {
                    "type": tag,
                    "config": {
                        **UNET_BASE,
                        "context_embedding_max_length": 7,
                        "context_embedding_features": 24,
                        "use_xattn_time": flag,
                        "context_features": 8,
                    },
                },
            )
            for flag in (False, True)
        ]
    if tag == "DAU1d":
        return [(name, {"type": tag, "config": {**DAU_BASE, **options}}) for name, options in DAU_OPTIONS.items()]
    return []


_PRETRANSFORMS: dict[str, dict[str, Any]] = {
    "autoencoder": {
        "type": "autoencoder",
        "config": {
            "encoder": {
                "type": "oobleck",
                "config": {"channels": 4, "c_mults": [1, 2], "strides": [2, 2], "latent_dim": 8},
            },
            "decoder": {
                "type": "oobleck",
                "config": {"channels": 4, "c_mults": [1, 2], "strides": [2, 2], "latent_dim": 4},
            },
            "bottleneck": {"type": "vae"},
            "latent_dim": 4,
            "downsampling_ratio": 4,
            "io_channels": 2,
        },
    },
    "wavelet": {"type": "wavelet", "config": {"channels": 2, "levels": 2, "wavelet": "bior4.4"}},
    "patched": {"type": "patched", "config": {"channels": 2, "patch_size": 4}},
}


_MORE_BOTTLENECKS: dict[str, dict[str, Any]] = {
    "l2_norm": {"type": "l2_norm"},
    "wasserstein": {"type": "wasserstein", "config": {"noise_augment_dim": 3}},
    "dac_rvq_vae": {
        "type": "dac_rvq_vae",
        "config": {"input_dim": 16, "n_codebooks": 2, "codebook_size": 8, "codebook_dim": 4},
    },
}


def _samples(entry: Entry) -> list[Sample]:
    kind, tag = entry.kind, entry.tag
    if kind in ("backbone", "uncond_backbone"):
        return _backbone_samples(kind, tag)
    if kind in ("encoder", "decoder"):
        index = 1 if kind == "encoder" else 2
        return [(name, {"type": tag, "config": stage[index]}) for name, stage in STAGES.items() if stage[0] == tag]
    if kind == "bottleneck":
        return [
            (name, sample) for name, sample in {**BOTTLENECKS, **_MORE_BOTTLENECKS}.items() if sample["type"] == tag
        ]
    if kind == "conditioner":
        plain = [
            (name, {"id": "c", "type": tag, "config": config})
            for name, (t, config, _) in CONDITIONERS.items()
            if t == tag
        ]
        if tag == "pretransform":
            return [
                (
                    "own_patched",
                    {
                        "id": "c",
                        "type": tag,
                        "config": {
                            "sample_rate": 16000,
                            "output_dim": 8,
                            "pretransform_config": _PRETRANSFORMS["patched"],
                        },
                    },
                )
            ]
        if tag == "source_mix":
            return [
                (
                    "two_sources",
                    {
                        "id": "c",
                        "type": tag,
                        "config": {
                            "sample_rate": 16000,
                            "output_dim": 8,
                            "source_keys": ["a", "b"],
                            "allow_null_source": True,
                            "source_length": 16,
                            "pretransform_config": _PRETRANSFORMS["patched"],
                        },
                    },
                )
            ]
        return plain
    if kind == "pretransform" and tag in _PRETRANSFORMS:
        return [(tag, _PRETRANSFORMS[tag])]
    return []


def _checked_entries() -> Iterator[Entry]:
    for entry in REGISTRY.values():
        if entry.kind in MODULE_KINDS and entry.builder is not None and (entry.kind, entry.tag) not in EXTERNAL:
            if entry.availability()[0] == "buildable":
                yield entry


def _cases() -> list[Any]:
    return [
        pytest.param(entry, data, id=f"{entry.kind}-{entry.tag}-{name}")
        for entry in _checked_entries()
        for name, data in _samples(entry)
    ]


def _meta_count(build: Callable[[], torch.nn.Module]) -> ParamCount:
    with torch.device("meta"):
        module = build()
    names = {name for name, _ in module.named_parameters(remove_duplicate=False)}
    state = module.state_dict(keep_vars=True)
    params = sum(tensor.numel() for key, tensor in state.items() if key in names)
    return ParamCount(params, sum(tensor.numel() for key, tensor in state.items() if key not in names))


def test_every_buildable_type_has_samples() -> None:
    missing = [f"{entry.kind} `{entry.tag}`" for entry in _checked_entries() if not _samples(entry)]
    assert not missing, "no meta cross-check sample for " + ", ".join(missing)


@pytest.mark.parametrize(("entry", "data"), _cases())
def test_the_counter_matches_the_built_module(entry: Entry, data: dict[str, Any]) -> None:
    assert entry.builder is not None and entry.counter is not None
    spec = entry.spec.model_validate(data)  # type: ignore[attr-defined]
    if entry.kind in ("backbone", "uncond_backbone"):
        config = spec.config
        counted = entry.counter(config)
        built = _meta_count(lambda: entry.builder(config, BackboneBuild(OBJECTIVES["v"])))
    elif entry.kind == "conditioner":
        output_dim = spec.config.output_dim or 16
        counted = entry.counter(spec, ConditionerCount(output_dim))
        built = _meta_count(lambda: entry.builder(spec, ConditionerBuild(output_dim, 16000)))
    elif entry.kind == "pretransform":
        counted = entry.counter(spec)
        built = _meta_count(lambda: entry.builder(spec, 16000))
    else:
        counted = entry.counter(spec)
        built = _meta_count(lambda: entry.builder(spec))
    assert counted == built
