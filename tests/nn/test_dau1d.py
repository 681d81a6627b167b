"""Dance Diffusion U-Net (`DAU1d`): golden parity, layout, geometry errors, conditioning, training."""

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

from audiodiff.nn.dau1d import DAU1d


def golden_root() -> Path:
    return GOLDEN


def test_golden_parity() -> None:
    folder = golden_root() / "dau1d_uncond"
    if not (folder / "case.json").exists():
        pytest.skip("golden fixture dau1d_uncond not available")
    spec = json.loads((folder / "case.json").read_text())
    model = json.loads((folder / "config.json").read_text())["model"]
    assert model["type"] == "DAU1d"
    net = DAU1d(**model["config"])
    prefix = "model."
    weights = load_file(folder / "weights.safetensors")
    net.load_state_dict({k[len(prefix) :]: v for k, v in weights.items() if k.startswith(prefix)}, strict=True)
    net.eval()
    # the fixed resampling kernels are persistent buffers, as the reference stores them
    buffers = {prefix + name for name, _ in net.named_buffers()}
    assert buffers == set(spec["state_dict_buffers"])
    assert set(net.state_dict()) == {k[len(prefix) :] for k in weights}

    io = load_file(folder / "io.safetensors")
    with torch.no_grad():
        out = net(io["input.x"], io["input.t"])
    torch.testing.assert_close(out, io["output.out"], atol=spec["atol"], rtol=spec["rtol"])


def test_dance_diffusion_defaults_on_meta() -> None:
    with torch.device("meta"):
        net = DAU1d(n_attn_layers=5)
    assert sum(p.numel() for p in net.parameters()) == 221_389_322
    state = net.state_dict()
    assert state["timestep_embed.weight"].shape == (8, 1)
    assert state["net.0.main.0.weight"].shape == (128, 2 + 16, 5)
    kernels = [key for key in state if key.endswith(".kernel")]
    assert len(kernels) == 2 * 13 and all(state[key].shape == (8,) for key in kernels)


def tiny(**overrides: Any) -> DAU1d:
    kwargs: dict[str, Any] = dict(io_channels=2, depth=3, n_attn_layers=1, channels=[32, 32, 64])
    kwargs.update(overrides)
    return DAU1d(**kwargs)


GEOMETRY_ERRORS = [
    (dict(depth=1), "depth"),
    (dict(depth=4), "channels"),
    (dict(strides=[4, 2]), "strides"),
    (dict(strides=[2]), "strides"),
    (dict(kernel_size=4), "kernel_size"),
    (dict(channels=[32, 16, 16]), "self-attention"),
    (dict(channels=[32, 32, 100]), "self-attention"),
    (dict(cond_noise_aug=True), "cond_dim"),
]


@pytest.mark.parametrize(("overrides", "message"), GEOMETRY_ERRORS)
def test_geometry_errors(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        tiny(**overrides)


def test_attention_levels_and_resampling_layout() -> None:
    net = tiny(n_attn_layers=0)
    assert not any("qkv_proj" in key for key in net.state_dict())
    # depth 3, n_attn_layers 1: levels i >= 2 get attention, i.e. both inner levels
    assert sum("qkv_proj.weight" in key for key in tiny().state_dict()) == 2 * 6
    learned = tiny(learned_resample=True, strides=[4, 3]).state_dict()
    assert learned["net.3.main.0.weight"].shape == (32, 32, 9)  # strided conv, kernel 2 * 4 + 1
    assert learned["net.3.main.14.weight"].shape == (32, 32, 8)  # transposed conv, kernel 2 * 4
    assert not any(key.endswith(".kernel") for key in learned)
    x = torch.randn(2, 2, 24)
    assert tiny(learned_resample=True, strides=[4, 3])(x, torch.rand(2)).shape == (2, 2, 24)


def test_forward_input_errors() -> None:
    net = tiny()
    with pytest.raises(ValueError, match="multiple of `4`"):
        net(torch.randn(1, 2, 30), torch.rand(1))
    with pytest.raises(ValueError, match="too short"):
        net(torch.randn(1, 2, 8), torch.rand(1))
    with pytest.raises(ValueError, match="cond_dim"):
        keyword_call(net, torch.randn(1, 2, 32), torch.rand(1), input_concat_cond=torch.randn(1, 3, 32))
    with pytest.raises(ValueError, match="input-concat"):
        tiny(cond_dim=3)(torch.randn(1, 2, 32), torch.rand(1))


def test_input_concat_is_linearly_resized_and_other_inputs_ignored() -> None:
    net = tiny(cond_dim=3).eval()
    assert net.state_dict()["net.0.main.0.weight"].shape == (32, 2 + 3 + 16, 5)
    g = torch.Generator().manual_seed(0)
    x, t, cond = torch.randn(2, 2, 32, generator=g), torch.rand(2, generator=g), torch.randn(2, 3, 16, generator=g)
    with torch.no_grad():
        short = keyword_call(
            net,
            x,
            t,
            input_concat_cond=cond,
            cross_attn_cond=torch.randn(2, 4, 8),
            global_cond=torch.randn(2, 8),
            cfg_scale=4.0,
        )
        resized = keyword_call(
            net, x, t, input_concat_cond=F.interpolate(cond, size=32, mode="linear", align_corners=False)
        )
    torch.testing.assert_close(short, resized)


def test_cond_noise_aug_adds_a_second_time_embedding() -> None:
    net = tiny(cond_dim=3, cond_noise_aug=True)
    assert net.state_dict()["net.0.main.0.weight"].shape == (32, 2 + 3 + 32, 5)
    out = keyword_call(net, torch.randn(2, 2, 32), torch.rand(2), input_concat_cond=torch.randn(2, 3, 32))
    assert out.shape == (2, 2, 32) and torch.isfinite(out).all()


def test_global_conditioning_extension() -> None:
    """audiodiff's DAU1d takes a global vector, broadcast over time and concatenated like the time features."""
    net = tiny(global_cond_dim=4).eval()
    assert net.state_dict()["net.0.main.0.weight"].shape == (32, 2 + 16 + 4, 5)
    g = torch.Generator().manual_seed(1)
    x, t = torch.randn(2, 2, 32, generator=g), torch.rand(2, generator=g)
    first, second = torch.randn(2, 4, generator=g), torch.randn(2, 4, generator=g)
    with torch.no_grad():
        assert not torch.allclose(
            keyword_call(net, x, t, global_cond=first), keyword_call(net, x, t, global_cond=second)
        )
    with pytest.raises(ValueError, match="global vector"):
        net(x, t)


def test_snake_activations() -> None:
    gelu, snake = tiny(), tiny(use_snake=True)
    snake_state = snake.state_dict()
    alphas = {key: value for key, value in snake_state.items() if key.endswith("alpha")}
    assert snake_state["net.0.main.2.alpha"].shape == (1, 32, 1)
    assert "net.6.main.5.alpha" not in snake_state  # the last block has no second activation
    assert set(snake_state) - set(alphas) == set(gelu.state_dict())
    # with shared weights the two networks differ only through the activation
    snake.load_state_dict({**gelu.state_dict(), **alphas}, strict=True)
    x, t = torch.randn(1, 2, 32), torch.rand(1)
    assert not torch.allclose(gelu(x, t), snake(x, t))
    block = snake.net[0].main
    h = block[1](block[0](torch.randn(1, 2 + 16, 8)))
    alpha = block[2].alpha
    torch.testing.assert_close(block[2](h), h + torch.sin(alpha * h) ** 2 / (alpha + 1e-9))


@pytest.mark.parametrize("use_snake", [False, True])
def test_tiny_dau1d_overfits_and_every_parameter_learns(use_snake: bool) -> None:
    torch.manual_seed(0)
    net = tiny(use_snake=use_snake)
    g = torch.Generator().manual_seed(1)
    x, t, target = torch.randn(2, 2, 16, generator=g), torch.rand(2, generator=g), torch.randn(2, 2, 16, generator=g)

    F.mse_loss(net(x, t), target).backward()
    no_grad = [name for name, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert no_grad == []

    optimizer = torch.optim.AdamW(net.parameters(), lr=2e-3)
    losses = []
    for _ in range(50):
        optimizer.zero_grad()
        loss = F.mse_loss(net(x, t), target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] / 10, losses


def test_bfloat16_network_takes_float32_time() -> None:
    net = tiny().to(torch.bfloat16).eval()
    with torch.no_grad():
        out = net(torch.randn(2, 2, 16, dtype=torch.bfloat16), torch.rand(2))
    assert out.dtype == torch.bfloat16 and torch.isfinite(out).all()
