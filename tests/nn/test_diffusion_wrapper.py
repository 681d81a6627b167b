"""ConditionedDiffusionModel / UnconditionedDiffusionModel: routing, golden denoise, key layout, CFG plumbing."""

from __future__ import annotations

import importlib.util
from dataclasses import fields
from typing import Any

import pytest
import torch
from conditioning_cases import GoldenCase, build_multi_conditioner, load_case, routing_of
from torch import Tensor, nn

from audiodiff.nn.conditioners import IntConditioner, MultiConditioner, NumberConditioner
from audiodiff.nn.diffusion import BackboneWrapper, ConditionedDiffusionModel, Routing, UnconditionedDiffusionModel
from audiodiff.nn.objectives import objective_named
from audiodiff.nn.routing import BackboneInputs, Guidance

DENOISE_CASES = ["dit_cond_basic", "dit_cond_prepend_concat", "adp_cfg_1d_cond"]
ROUTED = ("cross_attn_cond", "cross_attn_mask", "global_cond", "input_concat_cond", "prepend_cond", "prepend_cond_mask")


class RecordingBackbone(nn.Module):
    """Fake backbone: records every input and guidance setting it is called with (flat) and returns x + 1."""

    supports_cfg = True

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))
        self.calls: list[dict[str, Any]] = []

    def forward(
        self, x: Tensor, t: Tensor, inputs: BackboneInputs = BackboneInputs(), guidance: Guidance = Guidance()
    ) -> Tensor:
        flat = {field.name: getattr(inputs, field.name) for field in fields(inputs)}
        flat.update({field.name: getattr(guidance, field.name) for field in fields(guidance)})
        self.calls.append({"x": x, "t": t, **flat})
        return x + 1


def model_for(case: GoldenCase, backbone: nn.Module) -> ConditionedDiffusionModel:
    model = case.config["model"]
    return ConditionedDiffusionModel(
        backbone=backbone,
        conditioner=build_multi_conditioner(model["conditioning"]),
        routing=routing_of(model["diffusion"]),
        io_channels=model["io_channels"],
        sample_rate=case.config["sample_rate"],
        diffusion_objective=objective_named(model["diffusion"].get("diffusion_objective", "v")),
    )


def golden_cond(case: GoldenCase, model: ConditionedDiffusionModel) -> dict[str, Any]:
    """Conditioner outputs for the case metadata, plus the injected input-concat tensors (no mask)."""
    cond: dict[str, Any] = dict(model.conditioning_tensors(case.case["metadata"], "cpu"))
    for name, tensor in case.io.items():
        if name.startswith("input.extra."):
            cond[name.removeprefix("input.extra.")] = tensor
    return cond


@pytest.mark.parametrize("name", DENOISE_CASES)
def test_golden_routed_tensors(name: str) -> None:
    case = load_case(name)
    model = model_for(case, RecordingBackbone())
    conditioner_weights = {k: v for k, v in case.weights.items() if k.startswith("conditioner.")}
    missing, unexpected = model.load_state_dict(conditioner_weights, strict=False)
    assert unexpected == [] and missing == ["model.model.weight"]
    routed = model.get_conditioning_inputs(golden_cond(case, model))
    expected = [key for key in case.case["outputs"] if key.startswith("output.routed.")]
    assert expected
    for key in expected:
        torch.testing.assert_close(getattr(routed, key.removeprefix("output.routed.")), case.io[key], atol=0, rtol=0)
    for key in ROUTED:
        if f"output.routed.{key}" not in case.io:
            assert getattr(routed, key) is None


def dit_backbone(case: GoldenCase) -> nn.Module:
    from audiodiff.nn.dit import DiffusionTransformer
    from audiodiff.nn.transformer import TransformerOptions

    diffusion = case.config["model"]["diffusion"]
    options = dict(diffusion["config"])
    if options.pop("transformer_type", "continuous_transformer") != "continuous_transformer":
        raise NotImplementedError("test mapping covers the continuous transformer only")
    return DiffusionTransformer(
        **options,
        diffusion_objective=objective_named(diffusion.get("diffusion_objective", "v")),
        transformer=TransformerOptions(),
    )


def unet_cfg_backbone(case: GoldenCase) -> nn.Module:
    from audiodiff.nn.unet1d import AttentionOptions, UNetCFG1d

    options = dict(case.config["model"]["diffusion"]["config"])
    attention = AttentionOptions(
        heads=options.pop("attention_heads", None),
        features=options.pop("attention_features", None),
        multiplier=options.pop("attention_multiplier", None),
    )
    return UNetCFG1d(**options, attention=attention)


BACKBONES = {"dit": ("audiodiff.nn.dit", dit_backbone), "adp_cfg_1d": ("audiodiff.nn.unet1d", unet_cfg_backbone)}


@pytest.mark.parametrize("name", DENOISE_CASES)
def test_golden_denoise(name: str) -> None:
    case = load_case(name)
    module_name, build = BACKBONES[case.config["model"]["diffusion"]["type"]]
    if importlib.util.find_spec(module_name) is None:
        pytest.skip(f"`{module_name}` is not written yet")
    model = model_for(case, build(case)).eval()
    model.load_state_dict(case.weights, strict=True)  # the whole checkpoint: backbone + conditioners
    cond = golden_cond(case, model)
    outputs = [key for key in case.case["outputs"] if not key.startswith("output.routed.")]
    assert outputs
    for key in outputs:
        kwargs = case.case["kwargs"]["per_output"][key]
        with torch.no_grad():
            out = model(
                case.io["input.x"],
                case.io["input.t"],
                cond,
                guidance=Guidance(cfg_scale=kwargs["cfg_scale"], rescale_cfg=kwargs.get("rescale_cfg", False)),
            )
        torch.testing.assert_close(out, case.io[key], atol=case.case["atol"], rtol=case.case["rtol"], msg=key)


# --- routing rules -----------------------------------------------------------------------------------------------


def wrapper(routing: Routing, conditioner: MultiConditioner | None = None) -> ConditionedDiffusionModel:
    return ConditionedDiffusionModel(
        backbone=RecordingBackbone(), conditioner=conditioner, routing=routing, io_channels=4, sample_rate=8000
    )


def test_routing_concatenation_rules() -> None:
    b = 2
    cond = {
        "tokens": (torch.randn(b, 3, 5), torch.ones(b, 3, dtype=torch.bool)),
        "vector": (torch.randn(b, 5), torch.ones(b)),  # 2-D: becomes one token, its mask [B] -> [B, 1]
        "g1": (torch.randn(b, 1, 4), torch.ones(b, 1)),
        "g2": (torch.randn(b, 1, 6), torch.ones(b, 1)),
        "signal": torch.randn(b, 3, 10),  # injected: a bare tensor, no mask
        "other": [torch.randn(b, 1, 10)],  # injected as a one-element list, as the reference does
    }
    model = wrapper(
        Routing(
            cross_attention_cond_ids=["vector", "tokens"],
            global_cond_ids=("g2", "g1"),
            input_concat_ids=("other", "signal"),
        )
    )
    routed = model.get_conditioning_inputs(cond)
    expected_tokens = torch.cat([cond["vector"][0][:, None], cond["tokens"][0]], 1)
    torch.testing.assert_close(routed.cross_attn_cond, expected_tokens)
    # a float mask and a bool mask concatenate to a float mask
    assert routed.cross_attn_mask.dtype == torch.float32
    torch.testing.assert_close(routed.cross_attn_mask, torch.ones(b, 4))
    torch.testing.assert_close(routed.global_cond, torch.cat([cond["g2"][0], cond["g1"][0]], -1)[:, 0])
    torch.testing.assert_close(routed.input_concat_cond, torch.cat([cond["other"][0], cond["signal"]], 1))
    assert routed.prepend_cond is None and routed.prepend_cond_mask is None
    # 2-D global inputs stay 2-D
    flat = wrapper(Routing(global_cond_ids=("a", "b"))).get_conditioning_inputs(
        {"a": (torch.ones(b, 2), None), "b": (torch.zeros(b, 3), None)}
    )
    torch.testing.assert_close(flat.global_cond, torch.tensor([[1.0, 1, 0, 0, 0]] * b))


def test_routing_prepend_and_negative_names() -> None:
    b = 2
    cond = {
        "a": (torch.randn(b, 1, 4), torch.ones(b, 1)),
        "b": (torch.randn(b, 2, 4), torch.tensor([[1.0, 0.0], [1.0, 1.0]])),
    }
    model = wrapper(Routing(cross_attention_cond_ids=("a",), global_cond_ids=("a",), prepend_cond_ids=("b", "a")))
    routed = model.get_conditioning_inputs(cond)
    assert set(routed.tensors()) == {
        "cross_attn_cond",
        "cross_attn_mask",
        "global_cond",
        "prepend_cond",
        "prepend_cond_mask",
    }
    torch.testing.assert_close(routed.prepend_cond, torch.cat([cond["b"][0], cond["a"][0]], 1))
    torch.testing.assert_close(routed.prepend_cond_mask, torch.tensor([[1.0, 0.0, 1.0], [1.0, 1.0, 1.0]]))
    assert routed.input_concat_cond is None
    # a negative prompt contributes its cross-attention tokens only (the reference's wrappers drop the rest)
    negative = BackboneInputs().with_negative(routed)
    assert set(negative.tensors()) == {"negative_cross_attn_cond", "negative_cross_attn_mask"}
    torch.testing.assert_close(negative.negative_cross_attn_cond, routed.cross_attn_cond)


def test_routing_errors_are_clear() -> None:
    b = 2
    model = wrapper(
        Routing(cross_attention_cond_ids=("a", "b"), global_cond_ids=("a", "v"), input_concat_ids=("s", "u"))
    )
    good = {
        "a": (torch.randn(b, 1, 4), torch.ones(b, 1)),
        "b": (torch.randn(b, 1, 4), torch.ones(b, 1)),
        "v": (torch.randn(b, 1, 3), torch.ones(b, 1)),
        "s": torch.randn(b, 1, 8),
        "u": torch.randn(b, 2, 8),
        "p": (torch.randn(b, 4), torch.ones(b)),
    }
    model.get_conditioning_inputs(good)
    with pytest.raises(ValueError, match="no `b`, which `cross_attention_cond_ids` routes"):
        model.get_conditioning_inputs({k: v for k, v in good.items() if k != "b"})
    with pytest.raises(ValueError, match="`b` has no mask"):  # e.g. a pre-encoded key (C39)
        model.get_conditioning_inputs({**good, "b": (good["b"][0], None)})
    with pytest.raises(ValueError, match="token width: `a` 4, `b` 6"):
        model.get_conditioning_inputs({**good, "b": (torch.randn(b, 1, 6), torch.ones(b, 1))})
    with pytest.raises(ValueError, match="`global_cond_ids` inputs disagree in rank"):
        model.get_conditioning_inputs({**good, "v": (torch.randn(b, 3), torch.ones(b))})
    with pytest.raises(ValueError, match="`input_concat_ids` inputs disagree in length: `s` 8, `u` 6"):
        model.get_conditioning_inputs({**good, "u": torch.randn(b, 2, 6)})
    with pytest.raises(ValueError, match="`prepend_cond_ids` inputs must be"):
        wrapper(Routing(prepend_cond_ids=("a", "p"))).get_conditioning_inputs(good)  # no 2-D promotion for prepend


def test_routing_is_checked_against_conditioners() -> None:
    conditioner = MultiConditioner({"seconds": IntConditioner(output_dim=4, max_val=10)})
    inpaint = ["inpaint_mask", "inpaint_masked_input"]
    wrapper(Routing(cross_attention_cond_ids=["seconds"], input_concat_ids=inpaint), conditioner)  # accepted
    with pytest.raises(ValueError, match="`global_cond_ids` names `secs`.*`seconds`"):
        wrapper(Routing(global_cond_ids=["secs"]), conditioner)
    with pytest.raises(ValueError, match="`prepend_cond_ids` names `inpaint_mask`"):
        wrapper(Routing(prepend_cond_ids=["inpaint_mask"]), conditioner)
    with pytest.raises(ValueError, match="routing `global_cond_ids`"):
        Routing(global_cond_ids="seconds")  # a bare string is not a list of ids
    routing = Routing(cross_attention_cond_ids=["a", "b"])
    assert routing.cross_attention_cond_ids == ("a", "b")
    with pytest.raises(AttributeError):
        routing.global_cond_ids = ("x",)  # type: ignore[misc]
    with pytest.raises(TypeError, match="must be an Objective"):
        ConditionedDiffusionModel(
            backbone=RecordingBackbone(), conditioner=None, routing=Routing(), io_channels=4, sample_rate=1,
            diffusion_objective="eps",  # type: ignore[arg-type]
        )  # fmt: skip


# --- forward plumbing --------------------------------------------------------------------------------------------


def plumbing_model() -> tuple[ConditionedDiffusionModel, RecordingBackbone]:
    torch.manual_seed(0)
    backbone = RecordingBackbone()
    conditioner = MultiConditioner(
        {"prompt": NumberConditioner(output_dim=8), "seconds": IntConditioner(output_dim=8, max_val=30)}
    )
    model = ConditionedDiffusionModel(
        backbone=backbone,
        conditioner=conditioner,
        routing=Routing(
            cross_attention_cond_ids=("prompt", "seconds"),
            global_cond_ids=("seconds",),
            input_concat_ids=("inpaint_mask",),
        ),
        io_channels=4,
        sample_rate=8000,
    )
    return model, backbone


def test_forward_passes_cfg_settings_and_negative_conditioning() -> None:
    model, backbone = plumbing_model()
    x, t = torch.randn(2, 4, 16), torch.rand(2)
    positive = model.conditioning_tensors([{"prompt": 0.2, "seconds": 3}, {"prompt": 0.9, "seconds": 7}], "cpu")
    negative = model.conditioning_tensors([{"prompt": 0.0, "seconds": 0}, {"prompt": 0.0, "seconds": 0}], "cpu")
    mask = torch.ones(2, 1, 16)
    out = model(
        x, t, {**positive, "inpaint_mask": mask}, negative_cond={**negative, "inpaint_mask": mask * 0},
        guidance=Guidance(cfg_scale=4.5, cfg_dropout_prob=0.25, rescale_cfg=True, scale_phi=0.7,
                          cfg_interval=(0.1, 0.9)),
    )  # fmt: skip
    torch.testing.assert_close(out, x + 1)
    (call,) = backbone.calls
    assert call["x"] is x and call["t"] is t
    settings = (call["cfg_scale"], call["cfg_dropout_prob"], call["rescale_cfg"], call["scale_phi"])
    assert settings == (4.5, 0.25, True, 0.7)
    assert call["cfg_interval"] == (0.1, 0.9)
    routed = model.get_conditioning_inputs({**positive, "inpaint_mask": mask})
    for key in ROUTED:
        if getattr(routed, key) is None:
            assert call[key] is None
        else:
            torch.testing.assert_close(call[key], getattr(routed, key))
    negative_routed = model.get_conditioning_inputs({**negative, "inpaint_mask": mask * 0})
    torch.testing.assert_close(call["negative_cross_attn_cond"], negative_routed.cross_attn_cond)
    torch.testing.assert_close(call["negative_cross_attn_mask"], negative_routed.cross_attn_mask)
    assert not torch.allclose(call["negative_cross_attn_cond"], call["cross_attn_cond"])
    # negative global / input-concat tensors do not reach the backbone (the reference's wrappers drop them)
    assert "negative_global_cond" not in call and "negative_input_concat_cond" not in call


def test_forward_defaults_are_the_eval_settings() -> None:
    model, backbone = plumbing_model()
    cond = model.conditioning_tensors([{"prompt": 0.5, "seconds": 1}], "cpu")
    model(torch.randn(1, 4, 8), torch.rand(1), {**cond, "inpaint_mask": torch.ones(1, 1, 8)})
    (call,) = backbone.calls
    assert call["cfg_scale"] == 1.0 and call["cfg_dropout_prob"] == 0.0 and call["rescale_cfg"] is False
    assert call["scale_phi"] is None and call["cfg_interval"] == (0.0, 1.0)
    assert call["negative_cross_attn_cond"] is None and call["negative_cross_attn_mask"] is None


def test_cfg_dropout_reaches_a_real_backbone() -> None:
    """With the real DiT, training-time dropout changes the output only through the routed tokens."""
    if importlib.util.find_spec("audiodiff.nn.dit") is None:
        pytest.skip("`audiodiff.nn.dit` is not written yet")
    from audiodiff.nn.dit import DiffusionTransformer

    torch.manual_seed(0)
    backbone = DiffusionTransformer(io_channels=4, embed_dim=32, depth=1, num_heads=1, cond_token_dim=8)
    for parameter in backbone.parameters():  # the zero-initialised output convs would hide every difference
        nn.init.normal_(parameter, std=0.2)
    conditioner = MultiConditioner({"prompt": NumberConditioner(output_dim=8)})
    model = ConditionedDiffusionModel(
        backbone=backbone, conditioner=conditioner, routing=Routing(cross_attention_cond_ids=("prompt",)),
        io_channels=4, sample_rate=8000,
    )  # fmt: skip
    x, t = torch.randn(4, 4, 8), torch.rand(4)
    cond = model.conditioning_tensors([{"prompt": p} for p in (0.1, 0.4, 0.6, 0.9)], "cpu")
    kept = model(x, t, cond)
    dropped = model(x, t, cond, guidance=Guidance(cfg_dropout_prob=1.0))
    null = model(x, t, {"prompt": (torch.zeros(4, 1, 8), torch.ones(4, 1))})
    torch.testing.assert_close(dropped, null)
    assert not torch.allclose(kept, dropped)


# --- layouts -------------------------------------------------------------------------------------------------------


class FakeAutoencoderPretransform(nn.Module):
    """Holds its autoencoder at `.model`, like the reference AutoencoderPretransform."""

    def __init__(self) -> None:
        super().__init__()
        self.model = nn.Conv1d(2, 4, 4, stride=4)


def test_conditioned_key_layout_and_meta_build() -> None:
    with torch.device("meta"):
        model = ConditionedDiffusionModel(
            backbone=RecordingBackbone(),
            conditioner=MultiConditioner({"seconds_total": NumberConditioner(output_dim=16, max_val=512)}),
            routing=Routing(global_cond_ids=("seconds_total",)),
            io_channels=4,
            sample_rate=44100,
            diffusion_objective=objective_named("rectified_flow"),
            pretransform=FakeAutoencoderPretransform(),
        )
    assert list(model.state_dict()) == [
        "model.model.weight",
        "conditioner.conditioners.seconds_total.embedder.embedding.0.weights",
        "conditioner.conditioners.seconds_total.embedder.embedding.1.weight",
        "conditioner.conditioners.seconds_total.embedder.embedding.1.bias",
        "pretransform.model.weight",
        "pretransform.model.bias",
    ]
    assert all(p.is_meta for p in model.parameters())
    assert isinstance(model.model, BackboneWrapper) and model.supports_cfg
    assert model.diffusion_objective == objective_named("rectified_flow") and model.routing.global_cond_ids == (
        "seconds_total",
    )
    assert wrapper(Routing()).conditioning_tensors([{}], "cpu") == {}


def test_unconditioned_key_layouts() -> None:
    nested = UnconditionedDiffusionModel(
        backbone=RecordingBackbone(), nest_backbone=True, io_channels=2, sample_size=64, sample_rate=16000,
        pretransform=FakeAutoencoderPretransform(),
    )  # fmt: skip
    assert list(nested.state_dict()) == ["model.model.weight", "pretransform.model.weight", "pretransform.model.bias"]
    direct = UnconditionedDiffusionModel(
        backbone=RecordingBackbone(), nest_backbone=False, io_channels=2, sample_size=64, sample_rate=16000
    )
    assert list(direct.state_dict()) == ["model.weight"]
    x = torch.randn(1, 2, 8)
    torch.testing.assert_close(direct(x, torch.rand(1)), x + 1)
    torch.testing.assert_close(nested(x, torch.rand(1)), x + 1)
    assert direct.diffusion_objective.name == "v" and not direct.supports_cfg
