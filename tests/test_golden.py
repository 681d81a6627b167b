"""Golden fixtures: reference numerics produced by stable-audio-tools (see `$AUDIODIFF_SHARED/golden/README.md`).

Fixture folders come from two places: the shared set and `tests/golden/` in the repository (small cases made by
`tools/make_golden.py` from the reference, for what the shared set lacks: the non-VAE bottlenecks). Every fixture
folder is run the same way: validate and compile its `config.json`, build the model, load
`weights.safetensors` strictly, perform the folder's `call` (conditioners, denoise, backbone, autoencoder, sample)
on the inputs of `io.safetensors`, and compare every listed output within the case's tolerances. Nothing here
names a case: unseen fixture folders run through the same code. Layout files (`layouts/*.json`) are checked for
exact key names and shapes on the meta device.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file
from shared_paths import GOLDEN

from audiodiff.compiler.materialize import BuildOptions, build_model
from audiodiff.compiler.pipeline import check_file
from audiodiff.nn.bottleneck import vae_distribution
from audiodiff.nn.routing import BackboneInputs, Guidance
from audiodiff.runtime.sampling import SamplerSettings, sample
from audiodiff.schema.validate import validate_data

LOCAL_GOLDEN = Path(__file__).parent / "golden"


def _folder_cases(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(path for path in folder.iterdir() if (path / "case.json").is_file())


def _cases() -> list[Path]:
    return _folder_cases(GOLDEN) + _folder_cases(LOCAL_GOLDEN)


def _layouts() -> list[Path]:
    folder = GOLDEN / "layouts"
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def _require_golden() -> None:
    if not GOLDEN.is_dir():
        pytest.skip(f"golden fixtures not found at {GOLDEN} (set AUDIODIFF_SHARED)")


# --- the calls of README §4 ---------------------------------------------------------------------------------------


def _conditioner_outputs(model, metadata: list[dict]) -> dict[str, Any]:
    return dict(model.conditioning_tensors(metadata, "cpu"))


def _cond_with_extras(model, case: dict, io: dict[str, torch.Tensor]) -> dict[str, Any]:
    cond = _conditioner_outputs(model, case["metadata"]) if case["metadata"] else {}
    for name, tensor in io.items():
        if name.startswith("input.extra."):
            cond[name.removeprefix("input.extra.")] = tensor  # supplied tensors carry no mask
    return cond


def call_conditioners(model, spec, case: dict, io: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    outputs = {}
    for conditioner_id, (value, mask) in _conditioner_outputs(model, case["metadata"]).items():
        outputs[f"output.cond.{conditioner_id}.value"] = value
        outputs[f"output.cond.{conditioner_id}.mask"] = mask.float()
    return outputs


def call_denoise(model, spec, case: dict, io: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    cond = _cond_with_extras(model, case, io)
    outputs = {f"output.routed.{name}": value for name, value in model.get_conditioning_inputs(cond).tensors().items()}
    for name, kwargs in case["kwargs"]["per_output"].items():
        guidance = Guidance(cfg_scale=kwargs.get("cfg_scale", 1.0), rescale_cfg=kwargs.get("rescale_cfg", False))
        outputs[name] = model(io["input.x"], io["input.t"], cond, guidance=guidance)
    return outputs


_BACKBONE_INPUTS = (
    "cross_attn_cond",
    "cross_attn_mask",
    "global_cond",
    "prepend_cond",
    "prepend_cond_mask",
    "input_concat_cond",
)


def call_backbone(model, spec, case: dict, io: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    backbone = model.model  # the module holding the backbone's weights (`model.*`)
    inputs = BackboneInputs(**{name: io[f"input.{name}"] for name in _BACKBONE_INPUTS if f"input.{name}" in io})
    outputs = {}
    for name, kwargs in case["kwargs"]["per_output"].items():
        if getattr(model, "conditioner", None) is None and not inputs.tensors():
            outputs[name] = model(io["input.x"], io["input.t"])
            continue
        guidance = Guidance(cfg_scale=kwargs.get("cfg_scale", 1.0), rescale_cfg=kwargs.get("rescale_cfg", False))
        outputs[name] = backbone(io["input.x"], io["input.t"], inputs, guidance)
    return outputs


def call_autoencoder(model, spec, case: dict, io: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # the noise goes only to a bottleneck that samples (README §4.4); the others are deterministic and take none
    samples = model.bottleneck is not None and model.bottleneck.takes_noise
    noise = io["input.vae_noise"] if samples else None
    sample_latents, info = model.encode(io["input.audio"], return_info=True, noise=noise)
    pre_bottleneck = info["pre_bottleneck_latents"]
    outputs = {
        "output.decoded": model.decode(io["input.latents"]),
        "output.pre_bottleneck": pre_bottleneck,
        "output.latent_sample": sample_latents,
        "output.reconstruction": model.decode(sample_latents),
    }
    if samples:
        outputs["output.latent_mean"], outputs["output.latent_std"] = vae_distribution(pre_bottleneck)
    return outputs


def call_sample(model, spec, case: dict, io: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    kwargs = case["kwargs"]
    cond = _cond_with_extras(model, case, io)

    def denoise(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        guidance = Guidance(cfg_scale=kwargs["cfg_scale"], rescale_cfg=kwargs.get("rescale_cfg", True))
        return model(x, t, cond, guidance=guidance)

    outputs = {}
    for name, settings in kwargs["per_output"].items():
        sampler = SamplerSettings(
            sampler=settings["sampler_type"],
            steps=kwargs["steps"],
            sigma_min=settings.get("sigma_min", 0.01),
            sigma_max=settings.get("sigma_max"),
            rho=settings.get("rho", 1.0),
        )
        outputs[name] = sample(denoise, io["input.noise"], objective=model.diffusion_objective, settings=sampler)
    for decoded, latents in kwargs.get("decode", {}).items():
        outputs[decoded] = model.pretransform.decode(outputs[latents])
    return outputs


CALLS = {
    "conditioners": call_conditioners,
    "denoise": call_denoise,
    "backbone": call_backbone,
    "autoencoder": call_autoencoder,
    "sample": call_sample,
}


# --- the tests ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case_dir", _cases(), ids=lambda path: path.name)
def test_golden_case(case_dir: Path) -> None:
    check = check_file(case_dir / "config.json")
    errors = [d for d in check.diagnostics if d.is_error]
    assert not errors, [f"{d.code.id} {d.pointer}: {d.message}" for d in errors]
    case = json.loads((case_dir / "case.json").read_text())
    assert case["call"] in CALLS, f"unknown call `{case['call']}`"

    model = build_model(check.spec).eval()
    weights = load_file(case_dir / "weights.safetensors")
    model.load_state_dict(weights, strict=True)
    io = load_file(case_dir / "io.safetensors")
    with torch.no_grad():
        actual = CALLS[case["call"]](model, check.spec, case, io)
    for name in case["outputs"]:
        assert name in actual, f"the `{case['call']}` call produced no `{name}`"
        torch.testing.assert_close(
            actual[name].float(),
            io[name],
            atol=case["atol"],
            rtol=case["rtol"],
            msg=lambda m, name=name: f"{case_dir.name} {name}: {m}",
        )


@pytest.mark.parametrize("layout_path", _layouts(), ids=lambda path: path.stem)
def test_layout_keys_and_shapes(layout_path: Path) -> None:
    layout = json.loads(layout_path.read_text())
    result = validate_data(layout["config"])
    # the layouts stand a `number` conditioner in for CLAP, so their text demo prompts break a rule: only the
    # module tree matters here
    assert result.spec is not None, [f"{d.code.id} {d.pointer}: {d.message}" for d in result.diagnostics]
    model = build_model(result.spec, BuildOptions(device="meta"))
    actual = {key: list(tensor.shape) for key, tensor in model.state_dict().items()}
    expected = {key: list(shape) for key, shape in layout["state_dict"].items()}
    assert sorted(set(expected) - set(actual)) == [], "keys the reference has and we lack"
    assert sorted(set(actual) - set(expected)) == [], "keys we have and the reference lacks"
    mismatched = {key: (actual[key], expected[key]) for key in expected if actual[key] != expected[key]}
    assert mismatched == {}
    buffers = set(layout.get("buffers", []))
    parameters = sum(t.numel() for k, t in model.state_dict().items() if k not in buffers)
    assert parameters == layout["num_parameters"]


def test_repository_fixtures_cover_the_deterministic_bottlenecks() -> None:
    bottlenecks = {
        json.loads((case / "config.json").read_text())["model"].get("bottleneck", {}).get("type")
        for case in _folder_cases(LOCAL_GOLDEN)
    }
    assert {"tanh", "l2_norm", "wasserstein", "fsq", "dithered_fsq", "dac_rvq"} <= bottlenecks


def test_golden_folder_is_found_or_skipped() -> None:
    _require_golden()
    assert _cases(), f"{GOLDEN} holds no fixture folders"
