"""adp U-Nets (`adp_cfg_1d`, `adp_1d`, `adp_uncond_1d`): golden parity, layout, geometry errors, CFG, training."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from backbone_call import keyword_call
from shared_paths import GOLDEN

from audiodiff.nn.unet1d import AttentionOptions, UNet1d, UNetCFG1d


def golden_root() -> Path:
    return GOLDEN


def unet_kwargs(config: dict[str, Any]) -> dict[str, Any]:
    """Reference backbone config (with `attention_*` keys) -> UNet1d / UNetCFG1d keyword arguments."""
    config = dict(config)
    attention = AttentionOptions(
        heads=config.pop("attention_heads", None),
        features=config.pop("attention_features", None),
        multiplier=config.pop("attention_multiplier", None),
    )
    return {**config, "attention": attention}


def build_golden_backbone(config: dict[str, Any]) -> tuple[UNet1d, str]:
    """The backbone of a golden model config and the state-dict prefix its weights live under."""
    model = config["model"]
    if config["model_type"] == "diffusion_uncond":
        assert model["type"] == "adp_uncond_1d"
        return UNet1d(**unet_kwargs(model["config"])), "model.model."
    diffusion = model["diffusion"]
    cls = {"adp_cfg_1d": UNetCFG1d, "adp_1d": UNet1d}[diffusion["type"]]
    return cls(**unet_kwargs(diffusion["config"])), "model.model."


GOLDEN_CASES = ["adp_cfg_1d_backbone", "adp_cfg_1d_cond", "adp_1d_cond", "adp_1d_uncond"]
ROUTED = ["cross_attn_cond", "cross_attn_mask", "global_cond", "input_concat_cond", "prepend_cond", "prepend_cond_mask"]


@pytest.mark.parametrize("case", GOLDEN_CASES)
def test_golden_parity(case: str) -> None:
    folder = golden_root() / case
    if not (folder / "case.json").exists():
        pytest.skip(f"golden fixture {case} not available")
    spec = json.loads((folder / "case.json").read_text())
    net, prefix = build_golden_backbone(json.loads((folder / "config.json").read_text()))
    weights = load_file(folder / "weights.safetensors")
    state = {k[len(prefix) :]: v for k, v in weights.items() if k.startswith(prefix)}
    net.load_state_dict(state, strict=True)
    net.eval()

    io = load_file(folder / "io.safetensors")
    # `backbone` cases give the routed tensors as inputs; `denoise` cases store them as intermediate outputs
    source = "input." if spec["call"] == "backbone" else "output.routed."
    routed = {name: io[source + name] for name in ROUTED if source + name in io}
    outputs = [name for name in spec["outputs"] if not name.startswith("output.routed.")]
    assert outputs
    for name in outputs:
        kwargs = spec["kwargs"]["per_output"][name]
        with torch.no_grad():
            out = keyword_call(
                net,
                io["input.x"],
                io["input.t"],
                cfg_scale=kwargs.get("cfg_scale", 1.0),
                rescale_cfg=kwargs.get("rescale_cfg", False),
                **routed,
            )
        torch.testing.assert_close(out, io[name], atol=spec["atol"], rtol=spec["rtol"], msg=f"{case}: {name}")


SA_1_0_BACKBONE = dict(
    in_channels=64,
    context_embedding_features=768,
    context_embedding_max_length=79,
    channels=256,
    resnet_groups=16,
    kernel_multiplier_downsample=2,
    multipliers=[4, 4, 4, 5, 5],
    factors=[1, 2, 2, 4],
    num_blocks=[2, 2, 2, 2],
    attentions=[1, 3, 3, 3, 3],
    attention_heads=16,
    attention_multiplier=4,
    use_nearest_upsample=False,
    use_skip_scale=True,
    use_context_time=True,
)


def test_stable_audio_1_0_parameter_count_on_meta() -> None:
    with torch.device("meta"):
        net = UNetCFG1d(**unet_kwargs(SA_1_0_BACKBONE))
    assert sum(p.numel() for p in net.parameters()) == 906_679_744


def test_stable_audio_1_0_layout_on_meta() -> None:
    path = golden_root() / "layouts" / "stable_audio_1_0.json"
    if not path.exists():
        pytest.skip("golden layouts not available")
    layout = json.loads(path.read_text())
    prefix = "model.model."
    expected = {k[len(prefix) :]: list(v) for k, v in layout["state_dict"].items() if k.startswith(prefix)}
    with torch.device("meta"):
        net = UNetCFG1d(**unet_kwargs(layout["config"]["model"]["diffusion"]["config"]))
    actual = {k: list(v.shape) for k, v in net.state_dict().items()}
    assert set(actual) == set(expected)
    assert actual == expected


def tiny_cfg(**overrides: Any) -> UNetCFG1d:
    kwargs: dict[str, Any] = dict(
        in_channels=4,
        channels=32,
        multipliers=[1, 2],
        factors=[2],
        num_blocks=[1],
        attentions=[1, 1],
        attention=AttentionOptions(heads=2, multiplier=2),
        context_embedding_features=16,
        context_embedding_max_length=5,
        context_features=8,
        resnet_groups=8,
    )
    kwargs.update(overrides)
    return UNetCFG1d(**kwargs)


def tiny_inputs(batch: int = 2, length: int = 16, tokens: int = 4) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return dict(
        x=torch.randn(batch, 4, length, generator=g),
        t=torch.rand(batch, generator=g),
        cross_attn_cond=torch.randn(batch, tokens, 16, generator=g),
        cross_attn_mask=torch.ones(batch, tokens),
        global_cond=torch.randn(batch, 8, generator=g),
    )


GEOMETRY_ERRORS = [
    (dict(factors=[2, 2]), "len\\(multipliers\\) - 1"),
    (dict(num_blocks=[1, 1]), "len\\(multipliers\\) - 1"),
    (dict(attentions=[]), "attentions"),
    (dict(resnet_groups=5), "resnet_groups"),
    (dict(channels=24, resnet_groups=4), "GroupNorm\\(32\\)"),
    (dict(attention=AttentionOptions(heads=2)), "attention_multiplier"),
    (dict(attention=AttentionOptions(multiplier=2)), "attention_heads"),
    (dict(attention=AttentionOptions(heads=128, multiplier=2)), "heads"),
    (dict(patch_size=3), "patch_size"),
    (dict(kernel_multiplier_downsample=3), "kernel_multiplier_downsample"),
    (dict(channels=33, attentions=[0, 0], resnet_groups=1), "even"),
    (dict(context_channels=[2, 3]), "context_channels"),
    (dict(use_stft=True), "not supported"),
    (dict(context_embedding_max_length=0), "context_embedding_max_length"),
]


@pytest.mark.parametrize(("overrides", "message"), GEOMETRY_ERRORS)
def test_geometry_errors(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        tiny_cfg(**overrides)


def test_attention_width_without_heads_needs_no_heads() -> None:
    # heads derived from the head width: 64 // 32 = 2 heads at the 64-wide level
    net = tiny_cfg(attention=AttentionOptions(features=32, multiplier=2))
    assert net.bottleneck.transformer.blocks[0].attention.attention.num_heads == 2


def test_forward_input_errors() -> None:
    net = tiny_cfg().eval()
    inputs = tiny_inputs()
    with pytest.raises(ValueError, match="cross-attention tokens"):
        keyword_call(net, inputs["x"], inputs["t"], global_cond=inputs["global_cond"])  # C55
    too_many = dict(inputs, cross_attn_cond=torch.randn(2, 6, 16), cross_attn_mask=torch.ones(2, 6))
    with pytest.raises(ValueError, match="context_embedding_max_length"):
        keyword_call(net, **too_many)  # C56
    wrong_width = dict(inputs, cross_attn_cond=torch.randn(2, 4, 12))
    with pytest.raises(ValueError, match="context_embedding_features"):
        keyword_call(net, **wrong_width)  # C57
    with pytest.raises(ValueError, match="context_features"):
        keyword_call(net, **dict(inputs, global_cond=None))  # C58
    with pytest.raises(ValueError, match="multiple of `2`"):
        keyword_call(net, **dict(inputs, x=torch.randn(2, 4, 15)))


def test_input_concat_on_cfg_needs_exact_length() -> None:
    net = tiny_cfg(context_channels=[3]).eval()
    inputs = tiny_inputs()
    with pytest.raises(ValueError, match="does not resample"):
        keyword_call(net, **inputs, input_concat_cond=torch.randn(2, 3, 8))
    with pytest.raises(ValueError, match="input-concat"):
        keyword_call(net, **inputs)
    assert keyword_call(net, **inputs, input_concat_cond=torch.randn(2, 3, 16)).shape == (2, 4, 16)


def test_masked_tokens_do_not_matter() -> None:
    net = tiny_cfg().eval()
    inputs = tiny_inputs()
    inputs["cross_attn_mask"] = torch.tensor([[1.0, 0.0, 1.0, 1.0], [1.0, 1.0, 1.0, 0.0]])
    changed = inputs["cross_attn_cond"].clone()
    # random replacements: a constant shift would vanish in the context LayerNorm
    changed[0, 1] = torch.randn(16) * 3
    changed[1, 3] = torch.randn(16) * 3
    with torch.no_grad():
        for scale in (1.0, 3.0):
            a = keyword_call(net, **inputs, cfg_scale=scale)
            b = keyword_call(net, **dict(inputs, cross_attn_cond=changed), cfg_scale=scale)
            torch.testing.assert_close(a, b)
        # an unmasked token does matter
        changed[0, 0] = torch.randn(16) * 3
        assert not torch.allclose(
            keyword_call(net, **inputs), keyword_call(net, **dict(inputs, cross_attn_cond=changed))
        )


def test_cfg_matches_two_explicit_passes() -> None:
    net = tiny_cfg().eval()
    inputs = tiny_inputs()
    null = net.fixed_embedding.embedding.weight[:4].expand(2, -1, -1)
    mask = inputs["cross_attn_mask"]
    with torch.no_grad():
        cond = net.run_unet(
            inputs["x"],
            inputs["t"],
            features=inputs["global_cond"],
            embedding=inputs["cross_attn_cond"],
            embedding_mask=mask,
        )
        uncond = net.run_unet(
            inputs["x"], inputs["t"], features=inputs["global_cond"], embedding=null, embedding_mask=mask
        )
        guided = uncond + (cond - uncond) * 4.0
        torch.testing.assert_close(keyword_call(net, **inputs), cond)
        torch.testing.assert_close(keyword_call(net, **inputs, cfg_scale=4.0), guided, atol=1e-5, rtol=1e-5)
        rescaled = guided * cond.std(dim=1, keepdim=True) / guided.std(dim=1, keepdim=True)
        torch.testing.assert_close(
            keyword_call(net, **inputs, cfg_scale=4.0, rescale_cfg=True),
            0.4 * rescaled + 0.6 * guided,
            atol=1e-5,
            rtol=1e-5,
        )
        torch.testing.assert_close(
            keyword_call(net, **inputs, cfg_scale=4.0, rescale_cfg=True, scale_phi=1.0), rescaled, atol=1e-5, rtol=1e-5
        )
        # negative tokens replace the null rows; masked-out negative tokens fall back to them
        negative = torch.randn(2, 4, 16)
        neg_out = net.run_unet(
            inputs["x"], inputs["t"], features=inputs["global_cond"], embedding=negative, embedding_mask=mask
        )
        torch.testing.assert_close(
            keyword_call(net, **inputs, cfg_scale=4.0, negative_cross_attn_cond=negative),
            neg_out + (cond - neg_out) * 4.0,
            atol=1e-5,
            rtol=1e-5,
        )
        torch.testing.assert_close(
            keyword_call(
                net,
                **inputs,
                cfg_scale=4.0,
                negative_cross_attn_cond=negative,
                negative_cross_attn_mask=torch.zeros(2, 4),
            ),
            guided,
            atol=1e-5,
            rtol=1e-5,
        )
        # full CFG dropout conditions on the null rows only
        torch.testing.assert_close(keyword_call(net, **inputs, cfg_dropout_prob=1.0), uncond)


def test_xattn_time_token() -> None:
    net = tiny_cfg(use_xattn_time=True, context_embedding_max_length=4).eval()
    state = net.state_dict()
    assert state["fixed_embedding.embedding.weight"].shape == (5, 16)
    assert state["to_time_embedding.0.0.weights"].shape == (16,)
    assert state["to_time_embedding.0.1.weight"].shape == (16, 33)
    inputs = tiny_inputs()
    with torch.no_grad():
        out = keyword_call(
            net,
            **inputs,
            cfg_scale=3.0,
            rescale_cfg=True,
            negative_cross_attn_cond=torch.randn(2, 4, 16),
            negative_cross_attn_mask=torch.tensor([[1, 0, 1, 1], [1, 1, 1, 1]], dtype=torch.bool),
        )
        other_time = keyword_call(net, **dict(inputs, t=inputs["t"] * 0.5), cfg_scale=3.0)
    assert out.shape == (2, 4, 16) and torch.isfinite(out).all()
    assert not torch.allclose(keyword_call(net, **inputs, cfg_scale=3.0), other_time)
    with pytest.raises(ValueError, match="context_embedding_max_length"):
        keyword_call(net, **dict(inputs, cross_attn_cond=torch.randn(2, 5, 16), cross_attn_mask=None))


def tiny_adp_1d(**overrides: Any) -> UNet1d:
    kwargs: dict[str, Any] = dict(
        in_channels=4,
        channels=32,
        multipliers=[1, 2, 2],
        factors=[2, 2],
        num_blocks=[1, 1],
        attentions=[0, 0, 1],
        attention=AttentionOptions(heads=2, multiplier=2),
        context_features=8,
        context_channels=[3],
        use_nearest_upsample=True,
        patch_size=2,
    )
    kwargs.update(overrides)
    return UNet1d(**kwargs)


def test_adp_1d_resamples_input_concat_and_ignores_cross_attention() -> None:
    net = tiny_adp_1d().eval()
    assert not net.supports_cfg and UNetCFG1d.supports_cfg
    assert "upsamples.0.upsample.1.weight" in net.state_dict()  # nearest + conv layout
    g = torch.Generator().manual_seed(1)
    x, t = torch.randn(2, 4, 32, generator=g), torch.rand(2, generator=g)
    features, cond = torch.randn(2, 8, generator=g), torch.randn(2, 3, 16, generator=g)
    with torch.no_grad():
        half = keyword_call(net, x, t, global_cond=features, input_concat_cond=cond)
        full = keyword_call(net, x, t, global_cond=features, input_concat_cond=cond.repeat_interleave(2, dim=-1))
        ignored = keyword_call(
            net,
            x,
            t,
            global_cond=features,
            input_concat_cond=cond,
            cross_attn_cond=torch.randn(2, 3, 16),
            prepend_cond=torch.randn(2, 2, 16),
            cfg_scale=5.0,
            rescale_cfg=True,
        )
    assert half.shape == (2, 4, 32)
    torch.testing.assert_close(half, full)
    torch.testing.assert_close(half, ignored)
    with pytest.raises(ValueError, match="input-concat"):
        keyword_call(net, x, t, global_cond=features)


def test_uncond_builds_without_mapping_and_nearest_matches_reference_rule() -> None:
    net = UNet1d(
        in_channels=2,
        channels=8,
        multipliers=[1, 2],
        factors=[4],
        num_blocks=[1],
        attentions=[0, 0],
        resnet_groups=4,
        use_context_time=False,
    )
    assert not any(key.startswith("to_mapping") for key in net.state_dict())
    assert net(torch.randn(1, 2, 8), torch.rand(1)).shape == (1, 2, 8)
    src = torch.arange(5.0).view(1, 1, 5)
    resized = F.interpolate(src, size=12, mode="nearest")
    assert resized.flatten().tolist() == [float(i * 5 // 12) for i in range(12)]


def test_tiny_cfg_overfits_and_every_parameter_learns() -> None:
    torch.manual_seed(0)
    net = tiny_cfg(use_xattn_time=True, context_channels=[2])
    g = torch.Generator().manual_seed(2)
    inputs = dict(tiny_inputs(batch=4), input_concat_cond=torch.randn(4, 2, 16, generator=g))
    target = torch.randn(4, 4, 16, generator=g)

    # one CFG pass reaches every parameter, the null table included
    F.mse_loss(keyword_call(net, **inputs, cfg_scale=3.0), target).backward()
    no_grad = [name for name, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert no_grad == []

    optimizer = torch.optim.AdamW(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        optimizer.zero_grad()
        loss = F.mse_loss(keyword_call(net, **inputs), target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] / 10, losses


def test_bfloat16_network_takes_float32_time() -> None:
    net = tiny_cfg(use_xattn_time=True).to(torch.bfloat16).eval()
    inputs = {k: v if k == "t" else v.to(torch.bfloat16) for k, v in tiny_inputs().items()}
    with torch.no_grad():
        out = keyword_call(net, **inputs, cfg_scale=3.0, rescale_cfg=True)
    assert out.dtype == torch.bfloat16 and torch.isfinite(out).all()


def test_cfg_rescale_of_a_one_channel_model_is_guidance_alone() -> None:
    """Upstream's rescale divides stds over a single channel (NaN everywhere), so a mono raw-audio U-Net sampled
    with guidance gave all-NaN clips. One channel has no spread to match, so guidance is left as it is."""
    net = tiny_cfg(in_channels=1).eval()
    inputs = tiny_inputs()
    inputs["x"] = inputs["x"][:, :1]
    with torch.no_grad():
        guided = keyword_call(net, **inputs, cfg_scale=4.0)
        rescaled = keyword_call(net, **inputs, cfg_scale=4.0, rescale_cfg=True, scale_phi=1.0)
    assert guided.shape == (2, 1, 16) and bool(torch.isfinite(rescaled).all())
    torch.testing.assert_close(rescaled, guided)
