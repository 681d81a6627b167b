"""DiT backbone: golden parity, the Stable Audio 2.0 layout, CFG and CFG dropout, input handling, training, and the
legacy x-transformers transformer."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file
from backbone_call import keyword_call
from shared_paths import GOLDEN

from audiodiff.nn.dit import DiffusionTransformer
from audiodiff.nn.errors import MissingExtraError
from audiodiff.nn.legacy_xtransformers import XTransformerOptions
from audiodiff.nn.objectives import objective_named
from audiodiff.nn.transformer import TransformerOptions

ROUTED = ["cross_attn_cond", "cross_attn_mask", "global_cond", "input_concat_cond", "prepend_cond", "prepend_cond_mask"]


def golden_root() -> Path:
    return GOLDEN


def dit_kwargs(config: dict[str, Any]) -> dict[str, Any]:
    """A golden model config -> DiffusionTransformer keyword arguments (the DiT keys used by the fixtures)."""
    model = config["model"]
    if config["model_type"] == "diffusion_uncond":
        assert model["type"] == "dit"
        kwargs = dict(model["config"])
        kwargs["io_channels"] = kwargs.pop("in_channels")
        objective = "v"  # the unconditional DiT wrapper fixes the objective
    else:
        assert model["diffusion"]["type"] == "dit"
        kwargs = dict(model["diffusion"]["config"])
        objective = model["diffusion"].get("diffusion_objective", "v")
    assert kwargs.pop("transformer_type", "continuous_transformer") == "continuous_transformer"
    return {**kwargs, "diffusion_objective": objective_named(objective)}


GOLDEN_CASES = ["dit_backbone_explicit", "dit_uncond", "dit_cond_basic", "dit_cond_prepend_concat"]


@pytest.mark.parametrize("case", GOLDEN_CASES)
def test_golden_parity(case: str) -> None:
    folder = golden_root() / case
    if not (folder / "case.json").exists():
        pytest.skip(f"golden fixture {case} not available")
    spec = json.loads((folder / "case.json").read_text())
    model = DiffusionTransformer(**dit_kwargs(json.loads((folder / "config.json").read_text())))
    prefix = "model.model."
    weights = load_file(folder / "weights.safetensors")
    model.load_state_dict({k[len(prefix) :]: v for k, v in weights.items() if k.startswith(prefix)}, strict=True)
    model.eval()
    # persistent buffers of the reference are persistent here too
    buffers = {k[len(prefix) :] for k in spec["state_dict_buffers"] if k.startswith(prefix)}
    assert buffers == {name for name, _ in model.named_buffers() if name in model.state_dict()}

    io = load_file(folder / "io.safetensors")
    # `backbone` cases give the routed tensors as inputs; `denoise` cases store them as intermediate outputs
    source = "input." if spec["call"] == "backbone" else "output.routed."
    routed = {name: io[source + name] for name in ROUTED if source + name in io}
    if "input.extra.inpaint_mask" in io:
        routed["input_concat_cond"] = torch.cat(
            [io["input.extra.inpaint_mask"], io["input.extra.inpaint_masked_input"]], dim=1
        )
    outputs = [name for name in spec["outputs"] if not name.startswith("output.routed.")]
    assert outputs
    for name in outputs:
        kwargs = spec["kwargs"]["per_output"][name]
        with torch.no_grad():
            out = keyword_call(
                model,
                io["input.x"],
                io["input.t"],
                cfg_scale=kwargs.get("cfg_scale", 1.0),
                rescale_cfg=kwargs.get("rescale_cfg", False),
                **routed,
            )
        torch.testing.assert_close(out, io[name], atol=spec["atol"], rtol=spec["rtol"], msg=f"{case}: {name}")


def test_stable_audio_2_0_layout_and_parameter_count() -> None:
    layout_file = golden_root() / "layouts" / "stable_audio_2_0.json"
    if not layout_file.exists():
        pytest.skip("golden layouts not available")
    layout = json.loads(layout_file.read_text())
    diffusion = layout["config"]["model"]["diffusion"]
    kwargs = dict(diffusion["config"])
    assert kwargs.pop("transformer_type") == "continuous_transformer"
    with torch.device("meta"):
        model = DiffusionTransformer(
            **kwargs, diffusion_objective=objective_named(diffusion.get("diffusion_objective", "v"))
        )
    prefix = "model.model."
    expected = {k[len(prefix) :]: tuple(v) for k, v in layout["state_dict"].items() if k.startswith(prefix)}
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == expected
    assert sum(p.numel() for p in model.parameters()) == 1_056_828_544
    buffers = {k[len(prefix) :] for k in layout["buffers"] if k.startswith(prefix)}
    assert buffers == {name for name, _ in model.named_buffers() if name in model.state_dict()}


# --------------------------------------------------------------------------------------------------------------
# A small conditioned DiT with every route, random weights.

IO, L = 8, 16


def small_dit(**overrides: Any) -> DiffusionTransformer:
    kwargs: dict[str, Any] = dict(
        io_channels=IO,
        embed_dim=64,
        depth=2,
        num_heads=2,
        cond_token_dim=16,
        global_cond_dim=12,
        prepend_cond_dim=10,
        input_concat_dim=3,
    )
    kwargs.update(overrides)
    model = DiffusionTransformer(**kwargs)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for param in model.parameters():
            fan_in = param.shape[1] if param.ndim > 1 else 1
            param.copy_(torch.randn(param.shape, generator=generator) / math.sqrt(fan_in))
    return model.eval()


def inputs(batch: int = 3, seed: int = 1) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return dict(
        x=torch.randn(batch, IO, L, generator=g),
        t=torch.rand(batch, generator=g),
        cross_attn_cond=torch.randn(batch, 4, 16, generator=g),
        global_cond=torch.randn(batch, 12, generator=g),
        prepend_cond=torch.randn(batch, 2, 10, generator=g),
        input_concat_cond=torch.randn(batch, 3, L, generator=g),
    )


def call(model: DiffusionTransformer, data: dict[str, torch.Tensor], **kwargs: Any) -> torch.Tensor:
    data = dict(data)
    with torch.no_grad():
        return keyword_call(model, data.pop("x"), data.pop("t"), **data, **kwargs)


def nulled(data: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {
        **data,
        "cross_attn_cond": torch.zeros_like(data["cross_attn_cond"]),
        "prepend_cond": torch.zeros_like(data["prepend_cond"]),
    }


def test_supports_cfg() -> None:
    assert DiffusionTransformer.supports_cfg is True


def test_cfg_scale_one_is_the_conditional_pass() -> None:
    model, data = small_dit(), inputs()
    cond = call(model, data)
    torch.testing.assert_close(call(model, data, cfg_scale=1.0, scale_phi=0.5), cond)
    assert not torch.allclose(cond, call(model, nulled(data)))


def test_cfg_combines_conditional_and_zero_null() -> None:
    model, data = small_dit(), inputs()
    cond, uncond = call(model, data), call(model, nulled(data))
    torch.testing.assert_close(call(model, data, cfg_scale=3.5), uncond + (cond - uncond) * 3.5, atol=1e-4, rtol=1e-4)


def test_cfg_rescale_with_scale_phi() -> None:
    model, data = small_dit(), inputs()
    cond, uncond = call(model, data), call(model, nulled(data))
    cfg = uncond + (cond - uncond) * 4.0
    rescaled = cfg * (cond.std(dim=1, keepdim=True) / cfg.std(dim=1, keepdim=True))
    expected = 0.7 * rescaled + 0.3 * cfg
    torch.testing.assert_close(call(model, data, cfg_scale=4.0, scale_phi=0.7), expected, atol=1e-4, rtol=1e-4)
    # rescale_cfg is the adp flag; the DiT ignores it
    torch.testing.assert_close(call(model, data, cfg_scale=4.0, rescale_cfg=True), cfg, atol=1e-4, rtol=1e-4)


def test_cfg_negative_cross_tokens_replace_the_null() -> None:
    model, data = small_dit(), inputs()
    negative = torch.randn_like(data["cross_attn_cond"])
    mask = torch.ones(3, 4)
    mask[:, 1] = 0
    cond = call(model, data)
    masked_negative = negative.clone()
    masked_negative[:, 1] = 0
    uncond = call(model, {**nulled(data), "cross_attn_cond": masked_negative})
    out = call(model, data, cfg_scale=2.0, negative_cross_attn_cond=negative, negative_cross_attn_mask=mask)
    torch.testing.assert_close(out, uncond + (cond - uncond) * 2.0, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("objective", ["v", "rectified_flow"])
def test_cfg_interval_tests_sigma_of_the_first_item(objective: str) -> None:
    model = small_dit(diffusion_objective=objective_named(objective))
    data = inputs()
    data["t"] = torch.tensor([0.5, 0.9, 0.1])
    sigma = math.sin(0.25 * math.pi) if objective == "v" else 0.5
    cond = call(model, data)
    outside = call(model, data, cfg_scale=3.0, cfg_interval=(sigma + 0.01, 1.0))
    torch.testing.assert_close(outside, cond)
    inside = call(model, data, cfg_scale=3.0, cfg_interval=(sigma - 0.01, sigma + 0.01))
    assert not torch.allclose(inside, cond)


def test_cfg_needs_cross_or_prepend_tokens() -> None:
    model, data = small_dit(), inputs()
    del data["cross_attn_cond"], data["prepend_cond"]
    torch.testing.assert_close(call(model, data, cfg_scale=5.0), call(model, data))


def test_cfg_dropout_replaces_tokens_with_zeros() -> None:
    model, data = small_dit(), inputs(batch=8)
    cond, null = call(model, data), call(model, nulled(data))
    torch.testing.assert_close(call(model, data, cfg_dropout_prob=1.0), null)
    # with cfg_scale != 1 there is no dropout: it is guidance, not training
    guided = call(model, data, cfg_scale=2.0)
    torch.testing.assert_close(call(model, data, cfg_scale=2.0, cfg_dropout_prob=1.0), guided)
    # per item and independently for cross and prepend tokens
    torch.manual_seed(0)
    mixed = call(model, data, cfg_dropout_prob=0.5)
    only_cross = call(model, {**data, "cross_attn_cond": torch.zeros_like(data["cross_attn_cond"])})
    only_prepend = call(model, {**data, "prepend_cond": torch.zeros_like(data["prepend_cond"])})
    kinds = set()
    for i in range(8):
        for kind, candidate in (("kept", cond), ("both", null), ("cross", only_cross), ("prepend", only_prepend)):
            if torch.allclose(mixed[i], candidate[i], atol=1e-5):
                kinds.add(kind)
                break
        else:
            pytest.fail(f"item {i} matches none of the dropout patterns")
    assert len(kinds) >= 2


def test_masks_are_ignored() -> None:
    model, data = small_dit(), inputs()
    masks = dict(cross_attn_mask=torch.zeros(3, 4), prepend_cond_mask=torch.zeros(3, 2))
    torch.testing.assert_close(call(model, {**data, **masks}), call(model, data))
    torch.testing.assert_close(call(model, {**data, **masks}, cfg_scale=2.0), call(model, data, cfg_scale=2.0))


def test_input_concat_is_resized_by_nearest_neighbour() -> None:
    model, data = small_dit(), inputs()
    short = data["input_concat_cond"][:, :, : L // 2]
    stretched = short.repeat_interleave(2, dim=2)
    torch.testing.assert_close(
        call(model, {**data, "input_concat_cond": short}), call(model, {**data, "input_concat_cond": stretched})
    )


def test_patch_size_folds_time_into_tokens() -> None:
    model, data = small_dit(patch_size=4), inputs()
    assert model.transformer.project_in.weight.shape == (64, (IO + 3) * 4)
    assert call(model, data).shape == (3, IO, L)
    with pytest.raises(ValueError, match="multiple of `patch_size`"):
        call(model, {**data, "x": data["x"][:, :, :-1], "input_concat_cond": data["input_concat_cond"][:, :, :-1]})


def test_adaln_and_options_object() -> None:
    options = TransformerOptions(num_memory_tokens=2, conformer=True)
    model = small_dit(global_cond_type="adaLN", transformer=options)
    keys = model.state_dict()
    assert keys["transformer.global_cond_embedder.2.weight"].shape == (6 * 64, 64)
    assert keys["transformer.memory_tokens"].shape == (2, 64)
    data = inputs()
    assert call(model, data).shape == (3, IO, L)
    assert call(model, data, cfg_scale=3.0).shape == (3, IO, L)


def test_unprojected_cross_tokens_use_grouped_kv_heads() -> None:
    # context width 32 (= cond_token_dim) with 32-wide heads: 1 K/V head for 2 query heads (C43)
    model = small_dit(cond_token_dim=32, project_cond_tokens=False)
    keys = model.state_dict()
    assert keys["to_cond_embed.0.weight"].shape == (32, 32)
    assert keys["transformer.layers.0.cross_attn.to_kv.weight"].shape == (64, 32)
    data = {**inputs(), "cross_attn_cond": torch.randn(3, 4, 32)}
    assert call(model, data, cfg_scale=2.0).shape == (3, IO, L)


def test_timestep_input_concat_adds_channels() -> None:
    model = small_dit(timestep_cond_type="input_concat", timestep_embed_dim=4)
    assert model.preprocess_conv.weight.shape == (IO + 3 + 4, IO + 3 + 4, 1)
    assert model.to_timestep_embed[2].weight.shape == (4, 4)
    assert call(model, inputs()).shape == (3, IO, L)
    with pytest.raises(ValueError, match="timestep_embed_dim"):
        DiffusionTransformer(io_channels=IO, embed_dim=64, depth=1, num_heads=2, timestep_cond_type="input_concat")


def test_constructor_errors() -> None:
    with pytest.raises(ValueError, match="multiple of `num_heads`"):
        DiffusionTransformer(embed_dim=100, num_heads=3, depth=1)
    with pytest.raises(ValueError, match="project_global_cond"):
        DiffusionTransformer(embed_dim=64, num_heads=2, depth=1, global_cond_dim=32, project_global_cond=False)
    with pytest.raises(ValueError, match="global_cond_type"):
        DiffusionTransformer(embed_dim=64, num_heads=2, depth=1, global_cond_type="token")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least 32 wide"):
        DiffusionTransformer(embed_dim=64, num_heads=4, depth=1)


def test_unconditional_dit() -> None:
    model = small_dit(cond_token_dim=0, global_cond_dim=0, prepend_cond_dim=0, input_concat_dim=0)
    assert not any(k.startswith(("to_cond_embed", "to_global_embed", "to_prepend_embed")) for k in model.state_dict())
    x, t = torch.randn(2, IO, L), torch.rand(2)
    with torch.no_grad():
        out = model(x, t)
        torch.testing.assert_close(keyword_call(model, x, t, cfg_scale=4.0), out)  # nothing to guide with
    assert out.shape == (2, IO, L)


def test_builds_on_meta() -> None:
    with torch.device("meta"):
        model = DiffusionTransformer(
            io_channels=IO,
            embed_dim=64,
            depth=2,
            num_heads=2,
            cond_token_dim=16,
            global_cond_dim=12,
            prepend_cond_dim=10,
            input_concat_dim=3,
            global_cond_type="adaLN",
        )
    assert all(p.is_meta for p in model.parameters())


# --------------------------------------------------------------------------------------------------------------
# Training


def test_gradient_checkpointing_toggle_gives_same_gradients() -> None:
    model = small_dit().train()
    data = inputs()
    grads = []
    for enabled in (False, True):
        model.gradient_checkpointing = enabled
        assert model.transformer.gradient_checkpointing is enabled
        model.zero_grad()
        d = dict(data)
        keyword_call(model, d.pop("x"), d.pop("t"), **d).square().mean().backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], msg=name)


@pytest.fixture
def one_thread() -> Any:
    """Tiny tensors run fastest on one thread, and OpenMP spin-waits badly when the cores are shared."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_overfits_a_fixed_batch(one_thread: None) -> None:
    torch.manual_seed(0)
    model = DiffusionTransformer(
        io_channels=IO,
        embed_dim=64,
        depth=2,
        num_heads=2,
        cond_token_dim=16,
        global_cond_dim=12,
        prepend_cond_dim=10,
        input_concat_dim=3,
        gradient_checkpointing=True,
    ).train()
    data = inputs(batch=4, seed=5)
    target = torch.randn(4, IO, L, generator=torch.Generator().manual_seed(6))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    losses = []
    for _ in range(60):
        d = dict(data)
        loss = (keyword_call(model, d.pop("x"), d.pop("t"), **d) - target).square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] / 10, losses[::10]
    silent = [name for name, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert not silent, f"parameters without gradient: {silent}"


# --------------------------------------------------------------------------------------------------------------
# x-transformers (removed upstream in 0.0.19; old checkpoints use its layout)


def test_x_transformers_builds_in_the_old_layout() -> None:
    pytest.importorskip("x_transformers")
    model = small_dit(transformer=XTransformerOptions(), cond_token_dim=64, input_concat_dim=0)
    keys = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    expected = {
        "transformer.project_in.weight": (64, IO),
        "transformer.project_in.bias": (64,),
        "transformer.project_out.weight": (IO, 64),
        "transformer.project_out.bias": (IO,),
        "transformer.attn_layers.layers.0.0.0.weight": (64,),  # nn.LayerNorm with bias, as before 1.27
        "transformer.attn_layers.layers.0.0.0.bias": (64,),
        "transformer.attn_layers.layers.0.1.to_q.weight": (128, 64),  # 2 heads x 64 (x-transformers' dim_head)
        "transformer.attn_layers.layers.0.1.to_k.weight": (128, 64),
        "transformer.attn_layers.layers.0.1.to_v.weight": (128, 64),
        "transformer.attn_layers.layers.0.1.to_out.weight": (64, 128),
        "transformer.attn_layers.layers.1.1.to_k.weight": (128, 64),  # cross-attention
        "transformer.attn_layers.layers.2.1.ff.0.proj.weight": (512, 64),
        "transformer.attn_layers.layers.2.1.ff.2.weight": (64, 256),
        "transformer.attn_layers.rotary_pos_emb.inv_freq": (16,),
        "transformer.attn_layers.final_norm.weight": (64,),
        "transformer.attn_layers.final_norm.bias": (64,),
    }
    for key, shape in expected.items():
        assert keys.get(key) == shape, key
    assert len([k for k in keys if k.startswith("transformer.attn_layers.layers.")]) == 6 * 6
    assert not any(k.endswith(".gamma") for k in keys if k.startswith("transformer."))
    data = {**inputs(), "cross_attn_cond": torch.randn(3, 4, 64)}
    del data["input_concat_cond"]
    assert call(model, data).shape == (3, IO, L)
    assert call(model, data, cfg_scale=3.0).shape == (3, IO, L)
    # a state dict round-trips strictly (rotary row order is applied on the fly, not stored)
    clone = small_dit(transformer=XTransformerOptions(), cond_token_dim=64, input_concat_dim=0)
    clone.load_state_dict(model.state_dict(), strict=True)
    torch.testing.assert_close(call(clone, data), call(model, data))
    with torch.device("meta"):
        meta = DiffusionTransformer(
            io_channels=IO,
            embed_dim=64,
            depth=2,
            num_heads=2,
            cond_token_dim=64,
            global_cond_dim=12,
            prepend_cond_dim=10,
            transformer=XTransformerOptions(),
        )
    assert {k: tuple(v.shape) for k, v in meta.state_dict().items()} == keys


def test_x_transformers_rotary_is_rotate_half() -> None:
    """Old x-transformers paired features (i, i + r/2); the attention scores must not depend on the new pairing."""
    pytest.importorskip("x_transformers")
    model = small_dit(transformer=XTransformerOptions(), cond_token_dim=0, prepend_cond_dim=0, input_concat_dim=0)
    attn = model.transformer.attn_layers.layers[0][1]
    x = torch.randn(1, 5, 64)
    q = attn.to_q(x).view(1, 5, 2, 64)  # as the package sees it: interleaved pairs
    stored = torch.nn.functional.linear(x, attn.to_q.weight).view(1, 5, 2, 64)  # stored rotate-half layout
    torch.testing.assert_close(q[..., 0:32:2], stored[..., 0:16])
    torch.testing.assert_close(q[..., 1:32:2], stored[..., 16:32])
    torch.testing.assert_close(q[..., 32:], stored[..., 32:])


def test_x_transformers_rejects_what_it_cannot_do() -> None:
    pytest.importorskip("x_transformers")
    with pytest.raises(ValueError, match="adaLN"):
        small_dit(transformer=XTransformerOptions(), global_cond_type="adaLN")
    with pytest.raises(ValueError, match="embed_dim"):
        small_dit(transformer=XTransformerOptions(), cond_token_dim=16, project_cond_tokens=False)


def test_x_transformers_missing_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "x_transformers", None)  # makes `import x_transformers` fail
    with pytest.raises(MissingExtraError, match="xtransformers") as info:
        DiffusionTransformer(embed_dim=64, num_heads=2, depth=1, transformer=XTransformerOptions())
    assert info.value.extra == "xtransformers"


def test_half_precision_runs() -> None:
    model, data = small_dit(), inputs()
    reference = call(model, data)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        autocast = call(model, data, cfg_scale=2.0)
    assert autocast.shape == reference.shape and torch.isfinite(autocast).all()
    half = call(model.to(torch.bfloat16), data)
    assert half.dtype == torch.bfloat16
    assert (half.float() - reference).abs().max() < 0.1 * reference.abs().max()
