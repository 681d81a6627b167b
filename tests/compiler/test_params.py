"""Analytic parameter counts (`audiodiff.compiler.params`) against the reference's own numbers: spec §9 for the shipped
configs, the layout files of the two Stable Audio models, the golden weights, and audiodiff's modules on the meta
device for every backbone, conditioner and codec option."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any

import pytest
from shared_paths import CORPUS as SHARED_CORPUS
from shared_paths import GOLDEN as SHARED_GOLDEN

from audiodiff.compiler.params import (
    ParamCount,
    autoencoder_params,
    backbone_count,
    backbone_params,
    conditioner_count,
    conditioner_params,
    count_model,
    pretransform_count,
    pretransform_params,
)
from audiodiff.compiler.params_codecs import bottleneck_count
from audiodiff.schema.v1.backbones import DAU1dSpec, DiTSpec, DiTUncondSpec, UNet1dSpec, UNetCFG1dSpec
from audiodiff.schema.v1.conditioning import ConditioningSpec
from audiodiff.schema.v1.pretransform import AutoencoderModelSpec, PatchedPretransformSpec, WaveletPretransformSpec
from audiodiff.schema.validate import validate_data

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"


def _golden_root() -> Path:
    return SHARED_GOLDEN


def _corpus_root() -> Path:
    return SHARED_CORPUS


def _spec(path: Path) -> Any:
    result = validate_data(json.loads(path.read_text()))
    assert result.spec is not None, [d.message for d in result.diagnostics]
    return result.spec


def _corpus_spec(name: str) -> Any:
    path = _corpus_root() / name
    if not path.is_file():
        pytest.skip(f"shared corpus not present: {path}")
    return _spec(path)


# --- spec §9: the configs shipped with stable-audio-tools ----------------------------------------------------------

# (encoder, bottleneck, decoder) trainable parameters and RVQ buffer elements, as the reference instantiates them
AUTOENCODERS = {
    "autoencoders__dac_2048_32_vae.json": (90_491_200, 0, 44_101_730, 0),
    "autoencoders__encodec_musicgen_rvq.json": (28_792_064, 0, 24_467_394, 2_105_348),
    "autoencoders__stable_audio_1_0_vae.json": (89_574_656, 0, 43_856_644, 0),
    "autoencoders__stable_audio_2_0_vae.json": (77_989_888, 0, 78_122_626, 0),
}


@pytest.mark.parametrize("name", sorted(AUTOENCODERS))
def test_shipped_autoencoders_match_spec_section_9(name: str) -> None:
    encoder, bottleneck, decoder, codebook_buffers = AUTOENCODERS[name]
    stages = autoencoder_params(_corpus_spec(name).model)
    assert (stages.encoder, stages.bottleneck, stages.decoder) == (encoder, bottleneck, decoder)
    assert stages.bottleneck_count.buffers == codebook_buffers
    assert stages.params == encoder + bottleneck + decoder


@pytest.mark.parametrize("name", ["base", "base_16k", "base_44k", "large"])
def test_dance_diffusion_dau1d_matches_spec_section_9(name: str) -> None:
    counts = count_model(_corpus_spec(f"dance_diffusion__dance_diffusion_{name}.json"))
    assert counts.backbone == "model."
    assert counts.parts["model."].params == 221_389_322


def test_stable_audio_1_0_matches_spec_section_9() -> None:
    counts = count_model(_corpus_spec("txt2audio__stable_audio_1_0.json"))
    assert counts.parts["model.model."].params == 906_679_744  # adp_cfg_1d
    timing = counts.parts["conditioner.conditioners.seconds_start."].params
    assert timing + counts.parts["conditioner.conditioners.seconds_total."].params == 787_968
    assert counts.parts["conditioner.conditioners.prompt."] == ParamCount(0)  # CLAP features, 768 = cond_dim
    assert pretransform_count(_corpus_spec("txt2audio__stable_audio_1_0.json").model.pretransform).params == 133_431_300
    assert counts.total.params == 1_040_899_012


def test_stable_audio_2_0_matches_spec_section_9() -> None:
    spec = _corpus_spec("txt2audio__stable_audio_2_0.json")
    counts = count_model(spec)
    assert backbone_params(spec.model.diffusion.config) == 1_056_828_544
    assert counts.parts["conditioner.conditioners.seconds_start."].params * 2 == 396_544
    assert counts.parts["pretransform."].params == 156_112_514
    assert counts.total.params == 1_213_337_602
    assert counts.trainable == {
        "model.model.",
        "conditioner.conditioners.prompt.",
        "conditioner.conditioners.seconds_start.",
        "conditioner.conditioners.seconds_total.",
    }
    assert counts.backbone_count == counts.parts["model.model."]


def test_dit_matches_the_closed_formula_of_spec_section_8_2() -> None:
    # N = 128 + (256·E + E² + 2E) + c·C_e + C_e² + g·E + E² + E·C_in·P + io·P·E + C_in² + io²
    #     + depth·(4E² + 3mE² + 2mE + 3E) + X·(2E² + 2C_e² + E), m = 4, every layer cross-attending
    e, c, g, io, depth, m = 256, 48, 40, 16, 3, 4
    spec = DiTSpec(
        io_channels=io,
        embed_dim=e,
        depth=depth,
        num_heads=4,
        cond_token_dim=c,
        project_cond_tokens=False,
        global_cond_dim=g,
    )
    expected = (
        128
        + 256 * e
        + e * e
        + 2 * e
        + c * c
        + c * c
        + g * e
        + e * e
        + e * io
        + io * e
        + io * io
        + io * io
        + depth * (4 * e * e + 3 * m * e * e + 2 * m * e + 3 * e)
        + depth * (2 * e * e + 2 * c * c + e)
    )
    assert backbone_params(spec) == expected


# --- layout files: exact key -> shape maps of the two Stable Audio models ------------------------------------------


@pytest.mark.parametrize("name", ["stable_audio_1_0", "stable_audio_2_0"])
def test_layout_files_match_per_prefix(name: str) -> None:
    path = _golden_root() / "layouts" / f"{name}.json"
    if not path.is_file():
        pytest.skip(f"layout file not present: {path}")
    layout = json.loads(path.read_text())
    validated = validate_data(layout["config"])
    assert validated.spec is not None
    counts = count_model(validated.spec)
    _assert_prefix_sums(counts.parts, layout["state_dict"], set(layout["buffers"]))
    assert counts.total.params == layout["num_parameters"]


def _assert_prefix_sums(parts: dict[str, ParamCount | None], shapes: dict[str, list[int]], buffers: set[str]) -> None:
    covered: set[str] = set()
    for prefix, count in parts.items():
        keys = [key for key in shapes if key.startswith(prefix)]
        covered.update(keys)
        params = sum(math.prod(shapes[key]) for key in keys if key not in buffers)
        buffer_elements = sum(math.prod(shapes[key]) for key in keys if key in buffers)
        assert count == ParamCount(params, buffer_elements), prefix
    assert covered == set(shapes), sorted(set(shapes) - covered)[:5]


# --- golden weights --------------------------------------------------------------------------------------------------


def _golden_cases() -> list[Path]:
    root = _golden_root()
    return sorted(path.parent for path in root.glob("*/case.json")) if root.is_dir() else []


def _safetensors_shapes(path: Path) -> dict[str, list[int]]:
    """Key -> shape from a safetensors header: 8 bytes little-endian u64 length, then that many bytes of JSON."""
    with path.open("rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(length))
    header.pop("__metadata__", None)
    return {key: entry["shape"] for key, entry in header.items()}


def test_golden_fixtures_are_present_or_skipped() -> None:
    if not _golden_cases():
        pytest.skip("golden fixtures not present")
    assert len(_golden_cases()) >= 1


@pytest.mark.parametrize("case", _golden_cases(), ids=lambda path: path.name)
def test_golden_weights_match_per_prefix(case: Path) -> None:
    counts = count_model(_spec(case / "config.json"))
    buffers = set(json.loads((case / "case.json").read_text())["state_dict_buffers"])
    _assert_prefix_sums(counts.parts, _safetensors_shapes(case / "weights.safetensors"), buffers)


# --- conditioners and pretransforms without modules ------------------------------------------------------------------


def _entry(kind: str, config: dict[str, Any], cond_dim: int = 32) -> tuple[Any, int]:
    conditioning = ConditioningSpec.model_validate(
        {"cond_dim": cond_dim, "configs": [{"id": "c", "type": kind, "config": config}]}
    )
    entry = conditioning.configs[0]
    return entry, conditioning.output_dim(entry)


def test_conditioners_without_loadable_sizes_are_unknown() -> None:
    assert conditioner_params(*_entry("lut", {"tokenizer_name": "gpt2"})) is None
    assert conditioner_params(*_entry("t5", {"enable_grad": True})) is None
    assert conditioner_params(*_entry("clap_text", {"clap_ckpt_path": "x", "finetune": True})) is None
    wavelet = {"type": "wavelet", "config": {"channels": 2, "levels": 3, "wavelet": "bior4.4"}}
    pretransform = _entry("pretransform", {"sample_rate": 8000, "use_model_pretransform": True})
    assert conditioner_params(*pretransform) is None  # the model's pretransform was not supplied
    model_pretransform = WaveletPretransformSpec.model_validate(wavelet)
    assert conditioner_params(*pretransform, model_pretransform=model_pretransform) == 16 * 32 + 32  # proj_out 16->32


def test_t5_and_clap_count_only_their_projection() -> None:
    assert conditioner_params(*_entry("t5", {"t5_model_name": "t5-base"}, 768)) == 0
    assert conditioner_params(*_entry("t5", {"t5_model_name": "t5-base"}, 512)) == 768 * 512 + 512
    assert conditioner_params(*_entry("t5", {"t5_model_name": "t5-small", "project_out": True}, 512)) == 512 * 512 + 512
    assert conditioner_params(*_entry("clap_text", {"clap_ckpt_path": "x"}, 512)) == 0
    assert conditioner_params(*_entry("clap_text", {"clap_ckpt_path": "x", "use_text_features": True}, 512)) == (
        768 * 512 + 512
    )


def test_pretransform_counts() -> None:
    wavelet = WaveletPretransformSpec.model_validate(
        {"type": "wavelet", "config": {"channels": 2, "levels": 3, "wavelet": "bior2.6"}}
    )
    assert pretransform_params(wavelet) == 0
    assert pretransform_count(wavelet) == ParamCount(0, 2 * (4 * 2 * 13))  # two [2C, C, 13] kernels
    patched = PatchedPretransformSpec.model_validate({"type": "patched", "config": {"channels": 2, "patch_size": 4}})
    assert pretransform_count(patched) == ParamCount(0)


def test_dau1d_global_cond_channels_count_like_input_concat_channels() -> None:
    small = {"depth": 3, "n_attn_layers": 1, "channels": (8, 16, 32), "strides": (2, 2)}
    with_global = backbone_count(DAU1dSpec.model_validate({**small, "global_cond_dim": 5}))
    assert with_global == backbone_count(DAU1dSpec.model_validate({**small, "cond_dim": 5}))
    assert with_global.params > backbone_params(DAU1dSpec.model_validate(small))


def test_unbuildable_specs_count_as_unknown() -> None:
    no_heads = UNet1dSpec.model_validate({**UNET_BASE, "attention_heads": None})
    assert backbone_params(no_heads) is None
    with pytest.raises(ValueError, match="attention"):
        backbone_count(no_heads)
    short = {"channels": 4, "c_mults": [1, 2, 4], "strides": [2, 2]}
    model = AutoencoderModelSpec.model_validate(
        {
            "encoder": {"type": "oobleck", "config": short},
            "decoder": {"type": "oobleck", "config": short},
            "latent_dim": 8,
            "downsampling_ratio": 8,
            "io_channels": 2,
        }
    )
    stages = autoencoder_params(model)
    assert stages.encoder is None and stages.decoder is None and stages.count is None


def test_local_attention_codecs_are_unknown() -> None:
    model = AutoencoderModelSpec.model_validate(
        {
            "encoder": {"type": "local_attn", "config": {"in_channels": 2, "out_channels": 8}},
            "decoder": {"type": "oobleck", "config": {"latent_dim": 8, "channels": 4, "c_mults": [1], "strides": [2]}},
            "latent_dim": 8,
            "downsampling_ratio": 16,
            "io_channels": 2,
        }
    )
    stages = autoencoder_params(model)
    assert stages.encoder is None and stages.decoder is not None and stages.params is None


# --- meta-device cross-checks against audiodiff's modules ----------------------------------------------------------


def _meta_count(build: Any) -> ParamCount:
    """Parameters and persistent buffers of the module `build()` makes on the meta device (state-dict semantics)."""
    torch = pytest.importorskip("torch")
    with torch.device("meta"):
        module = build()
    names = {name for name, _ in module.named_parameters(remove_duplicate=False)}
    state = module.state_dict(keep_vars=True)
    params = sum(tensor.numel() for key, tensor in state.items() if key in names)
    return ParamCount(params, sum(tensor.numel() for key, tensor in state.items() if key not in names))


def _nn(module: str) -> Any:
    """An `audiodiff.nn` module, or a skip while it does not exist yet."""
    return pytest.importorskip(f"audiodiff.nn.{module}")


def _build_dit(spec: Any) -> Any:
    dit, transformer = _nn("dit"), _nn("transformer")
    if spec.transformer_type == "x-transformers":
        pytest.importorskip("x_transformers")
        options: Any = _nn("legacy_xtransformers").XTransformerOptions()
    else:
        options = transformer.TransformerOptions(
            **{
                name: getattr(spec, name)
                for name in (
                    "final_cross_attn_ix",
                    "causal",
                    "rotary_pos_emb",
                    "zero_init_branch_outputs",
                    "conformer",
                    "use_sinusoidal_emb",
                    "use_abs_pos_emb",
                    "abs_pos_emb_max_length",
                    "num_memory_tokens",
                    "sliding_window",
                    "remove_norms",
                    "add_rope",
                    "layer_scale",
                )
            },
            attn=transformer.AttentionOptions(**spec.attn_kwargs.model_dump()),
            ff=transformer.FeedForwardOptions(**spec.ff_kwargs.model_dump()),
            norm=transformer.NormOptions(**spec.norm_kwargs.model_dump()),
        )
    keys = (
        "patch_size",
        "embed_dim",
        "depth",
        "num_heads",
        "cond_token_dim",
        "project_cond_tokens",
        "global_cond_dim",
        "project_global_cond",
        "input_concat_dim",
        "prepend_cond_dim",
        "global_cond_type",
        "timestep_cond_type",
        "timestep_embed_dim",
    )
    return lambda: dit.DiffusionTransformer(
        io_channels=spec.channels, transformer=options, **{key: getattr(spec, key) for key in keys}
    )


DIT_BASE = {"io_channels": 8, "embed_dim": 128, "depth": 2, "num_heads": 2, "cond_token_dim": 32, "global_cond_dim": 16}
DIT_OPTIONS = {
    "defaults": {},
    "patching": {"patch_size": 2},
    "unprojected_tokens": {"cond_token_dim": 64, "project_cond_tokens": False},
    "unprojected_global": {"global_cond_dim": 128, "project_global_cond": False},
    "prepend": {"prepend_cond_dim": 24},
    "input_concat": {"input_concat_dim": 3},
    "no_conditioning": {"cond_token_dim": 0, "global_cond_dim": 0},
    "adaLN": {"global_cond_type": "adaLN"},
    "timestep_input_concat": {"timestep_cond_type": "input_concat", "timestep_embed_dim": 12},
    "memory_tokens": {"num_memory_tokens": 3},
    "abs_positions": {"use_abs_pos_emb": True, "abs_pos_emb_max_length": 50, "num_memory_tokens": 2},
    "sinusoidal_positions": {"use_sinusoidal_emb": True},
    "abs_over_sinusoidal": {"use_sinusoidal_emb": True, "use_abs_pos_emb": True, "abs_pos_emb_max_length": 40},
    "conformer": {"conformer": True},
    "layer_scale": {"layer_scale": True, "conformer": True},
    "qk_ln": {"attn_kwargs": {"qk_norm": "ln"}},
    "qk_dyt": {"attn_kwargs": {"qk_norm": "dyt"}},
    "qk_l2": {"attn_kwargs": {"qk_norm": "l2"}},
    "differential": {"attn_kwargs": {"differential": True}},
    "feat_scale": {"attn_kwargs": {"feat_scale": True}},
    "remove_norms": {"remove_norms": True, "conformer": True},
    "no_glu": {"ff_kwargs": {"glu": False}},
    "no_glu_no_bias": {"ff_kwargs": {"glu": False, "no_bias": True}},
    "conv_ff": {"ff_kwargs": {"glu": False, "use_conv": True, "conv_kernel_size": 5}},
    "conv_ff_glu": {"ff_kwargs": {"use_conv": True, "no_bias": True}},
    "ff_mult": {"ff_kwargs": {"mult": 2.5}},
    "final_cross_attn_ix": {"depth": 3, "final_cross_attn_ix": 0},
    "add_rope": {"add_rope": True, "rotary_pos_emb": False},
    "no_rotary": {"rotary_pos_emb": False},
    "norm_bias": {"norm_kwargs": {"bias": True}},
    "norm_fixed_scale": {"norm_kwargs": {"fix_scale": True}, "conformer": True},
    "x_transformers": {"transformer_type": "x-transformers"},
    "x_transformers_uncrossed": {"transformer_type": "x-transformers", "cond_token_dim": 0},
}


@pytest.mark.parametrize("option", sorted(DIT_OPTIONS))
def test_dit_options_match_the_module(option: str) -> None:
    spec = DiTSpec.model_validate({**DIT_BASE, **DIT_OPTIONS[option]})
    assert backbone_count(spec) == _meta_count(_build_dit(spec))


def test_dit_uncond_matches_the_module() -> None:
    spec = DiTUncondSpec.model_validate({"in_channels": 6, "embed_dim": 64, "depth": 2, "num_heads": 1})
    assert backbone_count(spec) == _meta_count(_build_dit(spec))


def _build_unet(spec: UNet1dSpec) -> Any:
    unet1d = _nn("unet1d")
    attention = unet1d.AttentionOptions(
        heads=spec.attention_heads, features=spec.attention_features, multiplier=spec.attention_multiplier
    )
    shared = (
        "in_channels",
        "channels",
        "multipliers",
        "factors",
        "num_blocks",
        "attentions",
        "patch_size",
        "resnet_groups",
        "use_context_time",
        "kernel_multiplier_downsample",
        "use_nearest_upsample",
        "use_skip_scale",
        "out_channels",
        "context_features",
        "context_features_multiplier",
        "context_channels",
    )
    kwargs = {key: getattr(spec, key) for key in shared}
    if isinstance(spec, UNetCFG1dSpec):
        kwargs.update(
            context_embedding_max_length=spec.context_embedding_max_length,
            context_embedding_features=spec.context_embedding_features,
            use_xattn_time=spec.use_xattn_time,
        )
        return lambda: unet1d.UNetCFG1d(attention=attention, **kwargs)
    return lambda: unet1d.UNet1d(
        attention=attention, context_embedding_features=spec.context_embedding_features, **kwargs
    )


UNET_BASE = {
    "in_channels": 4,
    "channels": 32,
    "multipliers": [1, 2, 2],
    "factors": [2, 2],
    "num_blocks": [1, 2],
    "attentions": [0, 1, 1],
    "attention_heads": 2,
    "attention_multiplier": 2,
}
UNET_OPTIONS = {
    "defaults": {},
    "global_and_concat": {"context_features": 12, "context_channels": [3]},
    "patching": {"patch_size": 2},
    "nearest_and_unit_factor": {"use_nearest_upsample": True, "factors": [1, 2]},
    "unit_factor": {"factors": [1, 4], "kernel_multiplier_downsample": 4},
    "head_features": {"attention_heads": None, "attention_features": 16},
    "no_time": {"use_context_time": False},
    "no_mapping": {"use_context_time": False, "context_features": None},
    "out_channels": {"out_channels": 6, "resnet_groups": 4},
    "cross_attention": {"context_embedding_features": 24},
    "no_attention": {"attentions": [0, 0, 0], "attention_heads": None, "attention_multiplier": None},
}


@pytest.mark.parametrize("option", sorted(UNET_OPTIONS))
def test_adp_1d_options_match_the_module(option: str) -> None:
    spec = UNet1dSpec.model_validate({**UNET_BASE, **UNET_OPTIONS[option]})
    assert backbone_count(spec) == _meta_count(_build_unet(spec))


def test_adp_context_channels_below_the_top_widen_that_levels_first_block() -> None:
    # audiodiff's U-Net only feeds context_channels[0]; the reference also builds deeper ones: the first ResNet block
    # of level 1 (width 64) reads 64 + 8 channels: a wider GroupNorm and conv, and a 1x1 skip conv it lacked before
    base = backbone_params(UNet1dSpec.model_validate(UNET_BASE))
    deeper = backbone_params(UNet1dSpec.model_validate({**UNET_BASE, "context_channels": [0, 8]}))
    assert deeper - base == 2 * 8 + 8 * 64 * 3 + (72 * 64 + 64)


@pytest.mark.parametrize("xattn_time", [False, True])
def test_adp_cfg_1d_matches_the_module(xattn_time: bool) -> None:
    spec = UNetCFG1dSpec.model_validate(
        {
            **UNET_BASE,
            "context_embedding_max_length": 7,
            "context_embedding_features": 24,
            "use_xattn_time": xattn_time,
            "context_features": 8,
        }
    )
    assert backbone_count(spec) == _meta_count(_build_unet(spec))


DAU_BASE = {"depth": 4, "n_attn_layers": 2, "channels": [32, 32, 64, 64], "strides": [2, 2, 2]}
DAU_OPTIONS = {
    "defaults": {},
    "cond": {"cond_dim": 3, "cond_noise_aug": True},
    "learned_resample": {"learned_resample": True, "strides": [2, 4, 1]},
    "learned_unit_stride": {"learned_resample": True, "strides": [1, 2, 2]},
    "no_attention": {"n_attn_layers": 0, "channels": [8, 16, 24, 24]},
    "all_attention": {"n_attn_layers": 4, "kernel_size": 3},
    "no_bias_snake": {"conv_bias": False, "use_snake": True},
    "reference_shape": {"depth": 14, "n_attn_layers": 6, "channels": [8, 8, 16, 16] + [32] * 10, "strides": [2] * 13},
}


@pytest.mark.parametrize("option", sorted(DAU_OPTIONS))
def test_dau1d_options_match_the_module(option: str) -> None:
    spec = DAU1dSpec.model_validate({**DAU_BASE, **DAU_OPTIONS[option]})
    dau1d = _nn("dau1d")
    kwargs = spec.model_dump(exclude={"global_cond_dim"})
    assert backbone_count(spec) == _meta_count(lambda: dau1d.DAU1d(**kwargs))


def _build_stage(stage: Any, *, decoder: bool) -> Any:
    config = stage.config.model_dump()
    if stage.type == "oobleck":
        module = _nn("oobleck")
        return lambda: (module.OobleckDecoder if decoder else module.OobleckEncoder)(**config)
    if stage.type == "dac":
        module = _nn("dac")
        return lambda: (module.DACDecoder if decoder else module.DACEncoder)(**config)
    if stage.type == "taae":
        module = _nn("taae")
        return lambda: (module.TAAEDecoder if decoder else module.TAAEEncoder)(**config)
    seanet = _nn("seanet")
    ratios = config.pop("ratios")
    config["activation_alpha"] = config.pop("activation_params")["alpha"]
    if decoder:
        config.pop("final_activation")
        return lambda: seanet.SEANetDecoder(upsampling_ratios=ratios, **config)
    return lambda: seanet.SEANetEncoder(downsampling_ratios=ratios, **config)


# name -> (stage type, encoder config, decoder config); both stages of each pair are compared with the modules
STAGES = {
    "oobleck": (
        "oobleck",
        {"channels": 4, "c_mults": [1, 2, 3], "strides": [2, 3, 4, 5]},
        {"channels": 4, "c_mults": [1, 2, 3], "strides": [2, 3, 4, 5]},
    ),
    "oobleck_snake_antialias": (
        "oobleck",
        {"channels": 4, "c_mults": [1, 2], "strides": [2, 4], "use_snake": True, "antialias_activation": True},
        {"channels": 4, "c_mults": [1, 2], "strides": [2, 4], "use_snake": True, "antialias_activation": True},
    ),
    "oobleck_nearest": (
        "oobleck",
        {"channels": 4, "c_mults": [1, 2], "strides": [2, 3]},
        {"channels": 4, "c_mults": [1, 2], "strides": [2, 3], "use_nearest_upsample": True, "final_tanh": False},
    ),
    "dac": (
        "dac",
        {"d_model": 4, "strides": [2, 4], "in_channels": 2, "latent_dim": 6},
        {"latent_dim": 6, "channels": 24, "rates": [4, 2], "out_channels": 2},
    ),
    "dac_mono_unprojected": (
        "dac",
        {"d_model": 4, "strides": [2, 3, 2]},
        {"latent_dim": 64, "channels": 10, "rates": [3]},
    ),
    "seanet": (
        "seanet",
        {"n_filters": 4, "ratios": [2, 4], "dimension": 12, "lstm": 1},
        {"n_filters": 4, "ratios": [2, 4], "dimension": 12, "lstm": 1},
    ),
    "seanet_no_lstm_true_skip": (
        "seanet",
        {"n_filters": 4, "ratios": [3, 2], "lstm": 0, "true_skip": True, "compress": 1},
        {"n_filters": 4, "ratios": [3, 2], "lstm": 0, "true_skip": True, "compress": 1},
    ),
    "seanet_group_norm": (
        "seanet",
        {"n_filters": 4, "ratios": [2, 2], "norm": "time_group_norm", "n_residual_layers": 2},
        {"n_filters": 4, "ratios": [2, 2], "norm": "time_group_norm", "n_residual_layers": 2},
    ),
    "taae": (
        "taae",
        {"channels": 8, "c_mults": [1, 2], "strides": [2, 4], "transformer_depths": [1, 2]},
        {"channels": 8, "c_mults": [1, 2], "strides": [2, 4], "transformer_depths": [1, 2]},
    ),
    "taae_snake_dilated_conformer": (
        "taae",
        {
            "channels": 8,
            "c_mults": [1, 1],
            "strides": [2, 4],
            "transformer_depths": [1, 1],
            "use_snake": True,
            "use_dilated_conv": True,
            "conformer": True,
            "layer_scale": False,
        },
        {
            "channels": 8,
            "c_mults": [1, 1],
            "strides": [2, 4],
            "transformer_depths": [1, 1],
            "use_snake": True,
            "use_dilated_conv": True,
            "conformer": True,
            "layer_scale": False,
        },
    ),
    "seanet_no_norm": (
        "seanet",
        {
            "n_filters": 4,
            "ratios": [2, 5],
            "norm": "none",
            "residual_kernel_size": 5,
            "kernel_size": 3,
            "last_kernel_size": 5,
        },
        {"n_filters": 4, "ratios": [5, 2], "norm": "none", "kernel_size": 5},
    ),
}


@pytest.mark.parametrize("name", sorted(STAGES))
def test_codec_stages_match_the_modules(name: str) -> None:
    kind, encoder_config, decoder_config = STAGES[name]
    model = AutoencoderModelSpec.model_validate(
        {
            "encoder": {"type": kind, "config": encoder_config},
            "decoder": {"type": kind, "config": decoder_config},
            "latent_dim": 6,
            "downsampling_ratio": 8,
            "io_channels": 2,
        }
    )
    stages = autoencoder_params(model)
    assert stages.encoder_count == _meta_count(_build_stage(model.encoder, decoder=False))
    assert stages.decoder_count == _meta_count(_build_stage(model.decoder, decoder=True))


BOTTLENECKS = {
    "vae": {"type": "vae"},
    "tanh": {"type": "tanh"},
    "rvq": {"type": "rvq", "config": {"dim": 16, "codebook_size": 32, "num_quantizers": 3}},
    "rvq_projected": {
        "type": "rvq_vae",
        "config": {"dim": 16, "codebook_size": 8, "num_quantizers": 2, "codebook_dim": 4},
    },
    "dac_rvq": {
        "type": "dac_rvq",
        "config": {"input_dim": 16, "n_codebooks": 3, "codebook_size": 10, "codebook_dim": 4},
    },
    "fsq_projected": {"type": "fsq", "config": {"levels": [3, 5, 4], "dim": 10, "num_codebooks": 2}},
    "fsq": {"type": "fsq", "config": {"levels": [3, 5]}},
    "dithered_fsq": {"type": "dithered_fsq", "config": {"dim": 4, "levels": 5}},
}


@pytest.mark.parametrize("name", sorted(BOTTLENECKS))
def test_bottlenecks_match_the_modules(name: str) -> None:
    module = _nn("bottleneck")
    model = AutoencoderModelSpec.model_validate(
        {
            "encoder": {"type": "oobleck", "config": {}},
            "decoder": {"type": "oobleck", "config": {}},
            "bottleneck": BOTTLENECKS[name],
            "latent_dim": 6,
            "downsampling_ratio": 8,
            "io_channels": 2,
        }
    )
    spec = model.bottleneck
    classes = {
        "vae": "VAEBottleneck",
        "tanh": "TanhBottleneck",
        "rvq": "RVQBottleneck",
        "rvq_vae": "RVQVAEBottleneck",
        "dac_rvq": "DACRVQBottleneck",
        "fsq": "FSQBottleneck",
        "dithered_fsq": "DitheredFSQBottleneck",
    }
    if spec.type.startswith("rvq"):
        pytest.importorskip("vector_quantize_pytorch")
    kwargs = spec.config.model_dump(exclude={"keep_num_codebooks_dim"}) if spec.type != "vae" else {}
    assert bottleneck_count(spec) == _meta_count(lambda: getattr(module, classes[spec.type])(**kwargs))


CONDITIONERS = {
    "number": ("number", {"min_val": 0.0, "max_val": 512.0}, "NumberConditioner"),
    "int": ("int", {"min_val": 3, "max_val": 40}, "IntConditioner"),
    "list": ("list", {"options": ["a", "b", "c"]}, "ListConditioner"),
    "number_own_width": ("number", {"output_dim": 16}, "NumberConditioner"),
}


@pytest.mark.parametrize("name", sorted(CONDITIONERS))
def test_plain_conditioners_match_the_modules(name: str) -> None:
    kind, config, class_name = CONDITIONERS[name]
    entry, output_dim = _entry(kind, config)
    module = _nn("conditioners")
    kwargs = {key: value for key, value in entry.config.model_dump().items() if key != "output_dim"}
    expected = _meta_count(lambda: getattr(module, class_name)(output_dim=output_dim, **kwargs))
    assert conditioner_count(entry, output_dim) == expected


@pytest.mark.parametrize("project_out", [False, True])
@pytest.mark.parametrize("width", [512, 768])
def test_t5_projection_matches_the_module(width: int, project_out: bool) -> None:
    text = _nn("text_conditioners")
    entry, output_dim = _entry("t5", {"t5_model_name": "t5-base", "project_out": project_out}, width)
    built = _meta_count(
        lambda: text.T5Conditioner(output_dim=output_dim, t5_model_name="t5-base", project_out=project_out)
    )
    assert conditioner_count(entry, output_dim) == built


@pytest.mark.parametrize("positions", [False, True])
def test_lut_with_a_known_vocabulary_matches_the_module(positions: bool) -> None:
    text = _nn("text_conditioners")
    config = {"tokenizer_name": "gpt2", "max_length": 12, "use_abs_pos_emb": positions, "project_out": True}
    entry, output_dim = _entry("lut", config)
    built = _meta_count(lambda: text.TokenizerLUTConditioner(output_dim=output_dim, vocab_size=50, **config))
    assert conditioner_count(entry, output_dim, vocab_size=50) == built


def test_phoneme_matches_the_module(monkeypatch: pytest.MonkeyPatch) -> None:
    # the module's layout needs only the (tabulated) phoneme count: let it believe g2p_en is installed
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object() if name == "g2p_en" else real(name, *a))
    text = _nn("text_conditioners")
    entry, output_dim = _entry("phoneme", {"project_out": True})
    built = _meta_count(lambda: text.PhonemeConditioner(output_dim=output_dim, project_out=True))
    assert conditioner_count(entry, output_dim) == built


@pytest.mark.parametrize("save", [False, True])
def test_source_mix_matches_the_module(save: bool) -> None:
    conditioners, pretransforms = _nn("conditioners"), _nn("pretransforms")
    pytest.importorskip("pywt")
    wavelet = {"type": "wavelet", "config": {"channels": 2, "levels": 2, "wavelet": "bior2.2"}}
    config = {
        "sample_rate": 8000,
        "pretransform_config": wavelet,
        "source_keys": ["bass", "drums"],
        "allow_null_source": True,
        "source_length": 16,
        "save_pretransform": save,
    }
    entry, output_dim = _entry("source_mix", config)

    def build() -> Any:
        pretransform = pretransforms.WaveletPretransform(channels=2, levels=2, wavelet="bior2.2")
        return conditioners.SourceMixConditioner(
            pretransform=pretransform,
            output_dim=output_dim,
            source_keys=("bass", "drums"),
            save_pretransform=save,
            allow_null_source=True,
            source_length=16,
        )

    assert conditioner_count(entry, output_dim) == _meta_count(build)
