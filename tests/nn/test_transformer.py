"""The continuous transformer: attention numerics against a naive implementation, grouped K/V heads, option layouts,
gradient checkpointing, meta-device builds and the small shared blocks."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from audiodiff.nn.attention import Attention, RotaryEmbedding, apply_rotary, flash_attn_available
from audiodiff.nn.blocks import DynamicTanh, FourierFeatures, LayerNorm
from audiodiff.nn.transformer import (
    AttentionOptions,
    ContinuousTransformer,
    FeedForwardOptions,
    NormOptions,
    TransformerOptions,
)


def randomize(module: torch.nn.Module, seed: int = 0) -> None:
    """Give every parameter random values, so zero-initialised output layers do not hide anything."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in module.parameters():
            fan_in = param.shape[-1] if param.ndim > 1 else 1
            param.copy_(torch.randn(param.shape, generator=generator) / math.sqrt(fan_in))


# --------------------------------------------------------------------------------------------------------------
# A naive reference: the textbook formulas, written independently of the module's layout tricks.


def naive_rotate_half(x: Tensor) -> Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def naive_rotary(x: Tensor, inv_freq: Tensor) -> Tensor:
    """x [B, H, N, D]; rotate the first 2*len(inv_freq) features by position * frequency."""
    n = x.shape[-2]
    freqs = torch.arange(n, dtype=torch.float32)[:, None] * inv_freq[None, :]  # [N, r/2]
    freqs = torch.cat((freqs, freqs), dim=-1)  # [N, r]
    r = freqs.shape[-1]
    rot, rest = x[..., :r], x[..., r:]
    return torch.cat((rot * freqs.cos() + naive_rotate_half(rot) * freqs.sin(), rest), dim=-1)


def naive_softmax_attention(q: Tensor, k: Tensor, v: Tensor, causal: bool) -> Tensor:
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])  # [B, H, N, M]
    if causal:
        n, m = scores.shape[-2:]
        scores = scores.masked_fill(~torch.ones(n, m, dtype=torch.bool).tril(), float("-inf"))
    return scores.softmax(dim=-1) @ v


def naive_attention(attn: Attention, x: Tensor, context: Tensor | None, inv_freq: Tensor | None) -> Tensor:
    b, n, e = x.shape
    h, d = attn.num_heads, attn.dim_heads

    def heads(t: Tensor, count: int) -> Tensor:  # [B, N, count*D] -> [B, count, N, D]
        return t.reshape(b, t.shape[1], count, d).transpose(1, 2)

    if context is None:
        parts = attn.to_qkv(x).chunk(5 if attn.differential else 3, dim=-1)
        qs = [heads(parts[0], h)] + ([heads(parts[3], h)] if attn.differential else [])
        ks = [heads(parts[1], h)] + ([heads(parts[4], h)] if attn.differential else [])
        v = heads(parts[2], h)
    else:
        kv_h = attn.kv_heads
        qs = [heads(p, h) for p in attn.to_q(x).chunk(2 if attn.differential else 1, dim=-1)]
        kv = attn.to_kv(context).chunk(3 if attn.differential else 2, dim=-1)
        ks = [heads(p, kv_h) for p in kv[:-1]]
        v = heads(kv[-1], kv_h)
        group = h // kv_h
        ks = [k.repeat_interleave(group, dim=1) for k in ks]
        v = v.repeat_interleave(group, dim=1)
    if inv_freq is not None:
        qs = [naive_rotary(q, inv_freq) for q in qs]
        ks = [naive_rotary(k, inv_freq) for k in ks]
    out = naive_softmax_attention(qs[0], ks[0], v, attn.causal)
    if attn.differential:
        out = out - naive_softmax_attention(qs[1], ks[1], v, attn.causal)
    return attn.to_out(out.transpose(1, 2).reshape(b, n, e))


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("differential", [False, True])
def test_self_attention_matches_naive(causal: bool, differential: bool) -> None:
    attn = Attention(128, dim_heads=64, causal=causal, differential=differential)
    randomize(attn)
    rope = RotaryEmbedding(32)  # rotates 32 of the 64 features per head
    x = torch.randn(2, 11, 128)
    out = attn(x, rotary=rope.angles(11))
    torch.testing.assert_close(out, naive_attention(attn, x, None, rope.inv_freq), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("differential", [False, True])
def test_grouped_kv_cross_attention_matches_naive(differential: bool) -> None:
    # 128-wide model with 32-wide heads (4 query heads); 64-wide context -> 2 K/V heads, each shared by 2 queries
    attn = Attention(128, dim_heads=32, dim_context=64, differential=differential)
    assert (attn.num_heads, attn.kv_heads) == (4, 2)
    assert attn.to_kv.weight.shape == ((3 if differential else 2) * 64, 64)
    randomize(attn)
    x, context = torch.randn(3, 9, 128), torch.randn(3, 5, 64)
    out = attn(x, context=context)
    torch.testing.assert_close(out, naive_attention(attn, x, context, None), atol=1e-5, rtol=1e-5)


def test_grouped_kv_head_assignment() -> None:
    """Query head i reads K/V head i // group (repeat-interleave, not tiling): zeroing K/V head 1 changes heads 2, 3."""
    attn = Attention(128, dim_heads=32, dim_context=64)
    randomize(attn)
    x, context = torch.randn(1, 4, 128), torch.randn(1, 6, 64)
    with torch.no_grad():
        base = attn(x, context=context)
        # scale value head 1 (rows 64+32..64+64 of to_kv are the values of K/V head 1)
        attn.to_kv.weight[96:128] *= 2
        changed = attn(x, context=context)
    # to_out mixes heads, so compare before to_out: invert it on the difference
    delta = (changed - base) @ torch.linalg.pinv(attn.to_out.weight).T  # [1, 4, 128] per-head outputs
    per_head = delta.reshape(1, 4, 4, 32).abs().amax(dim=(0, 1, 3))  # [heads]
    assert per_head[:2].max() < 1e-4 < per_head[2:].min()


@pytest.mark.parametrize(
    ("dim_context", "message"),
    [(48, "multiple of the head width"), (96, "cannot share"), (16, "multiple of the head width")],
)
def test_grouped_kv_geometry_errors(dim_context: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Attention(128, dim_heads=32, dim_context=dim_context)


def test_attention_width_must_split_into_heads() -> None:
    with pytest.raises(ValueError, match="not a multiple of the head width"):
        Attention(100, dim_heads=32)


def test_rotary_needs_heads_at_least_32_wide() -> None:
    with pytest.raises(ValueError, match="at least 32 wide"):
        ContinuousTransformer(64, 1, dim_heads=16)
    ContinuousTransformer(64, 1, dim_heads=16, options=TransformerOptions(rotary_pos_emb=False))


def test_rotary_is_rotate_half_and_float32() -> None:
    rope = RotaryEmbedding(32)
    assert rope.inv_freq.shape == (16,)
    torch.testing.assert_close(rope.inv_freq, 1.0 / (10000 ** (torch.arange(0, 32, 2).float() / 32)))
    x = torch.randn(2, 7, 3, 64)  # [B, N, H, D], token-major
    out = apply_rotary(x, rope.angles(7))
    expected = naive_rotary(x.transpose(1, 2), rope.inv_freq).transpose(1, 2)
    torch.testing.assert_close(out, expected)
    assert torch.equal(out[..., 32:], x[..., 32:])
    half = apply_rotary(x.to(torch.bfloat16), rope.angles(7))
    assert half.dtype == torch.bfloat16


def test_qk_norm_rejects_unknown() -> None:
    with pytest.raises(ValueError, match="qk_norm"):
        Attention(64, dim_heads=32, qk_norm="rms")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------------------
# Options: key names and shapes (spec §8.2 "Optional extras") and a forward pass.

E, H, CTX = 64, 32, 32  # width, head width, context width (1 K/V head for 2 query heads)


def build(options: TransformerOptions, *, adaln: bool = False, depth: int = 2) -> ContinuousTransformer:
    return ContinuousTransformer(
        E,
        depth,
        dim_in=10,
        dim_out=6,
        dim_heads=H,
        cross_attend=True,
        cond_token_dim=CTX,
        global_cond_dim=E if adaln else None,
        options=options,
    )


def shapes(module: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {key: tuple(value.shape) for key, value in module.state_dict().items()}


def run_forward(model: ContinuousTransformer, *, adaln: bool = False, prepend: int = 2) -> Tensor:
    randomize(model)
    x = torch.randn(2, 12, 10)
    out = model(
        x,
        prepend_embeds=torch.randn(2, prepend, E),
        context=torch.randn(2, 3, CTX),
        global_cond=torch.randn(2, E) if adaln else None,
    )
    assert out.shape == (2, 12 + prepend, 6)
    assert torch.isfinite(out).all()
    return out


def test_default_layout() -> None:
    model = build(TransformerOptions())
    got = shapes(model)
    expected = {
        "project_in.weight": (E, 10),
        "project_out.weight": (6, E),
        "rotary_pos_emb.inv_freq": (16,),
        "layers.0.pre_norm.gamma": (E,),
        "layers.0.pre_norm.beta": (E,),
        "layers.0.self_attn.to_qkv.weight": (3 * E, E),
        "layers.0.self_attn.to_out.weight": (E, E),
        "layers.0.cross_attend_norm.gamma": (E,),
        "layers.0.cross_attend_norm.beta": (E,),
        "layers.0.cross_attn.to_q.weight": (E, E),
        "layers.0.cross_attn.to_kv.weight": (2 * CTX, CTX),
        "layers.0.cross_attn.to_out.weight": (E, E),
        "layers.0.ff_norm.gamma": (E,),
        "layers.0.ff_norm.beta": (E,),
        "layers.0.ff.ff.0.proj.weight": (8 * E, E),
        "layers.0.ff.ff.0.proj.bias": (8 * E,),
        "layers.0.ff.ff.2.weight": (E, 4 * E),
        "layers.0.ff.ff.2.bias": (E,),
    }
    assert {k: v for k, v in got.items() if not k.startswith("layers.1.")} == expected
    buffers = {name for name, _ in model.named_buffers()}
    assert {"rotary_pos_emb.inv_freq", "layers.0.pre_norm.beta"} <= buffers
    # zero-initialised branch outputs
    assert not model.layers[0].self_attn.to_out.weight.any()
    assert not model.layers[0].ff.ff[2].weight.any()
    run_forward(model)


OPTION_CASES: dict[str, tuple[TransformerOptions, bool, dict[str, tuple[int, ...]], set[str]]] = {
    # name: (options, adaLN, keys that must appear with these shapes, keys that must be absent)
    "adaLN": (
        TransformerOptions(),
        True,
        {
            "global_cond_embedder.0.weight": (E, E),
            "global_cond_embedder.0.bias": (E,),
            "global_cond_embedder.2.weight": (6 * E, E),
            "global_cond_embedder.2.bias": (6 * E,),
            "layers.1.to_scale_shift_gate": (6 * E,),
        },
        set(),
    ),
    "memory_tokens": (TransformerOptions(num_memory_tokens=3), False, {"memory_tokens": (3, E)}, set()),
    "abs_pos_emb": (
        TransformerOptions(use_abs_pos_emb=True, abs_pos_emb_max_length=50, num_memory_tokens=2),
        False,
        {"pos_emb.emb.weight": (52, E)},
        set(),
    ),
    "sinusoidal": (
        TransformerOptions(use_sinusoidal_emb=True),
        False,
        {"pos_emb.scale": (1,)},
        {"pos_emb.inv_freq"},  # not state upstream either (a non-persistent buffer there)
    ),
    "conformer": (
        TransformerOptions(conformer=True),
        False,
        {
            "layers.0.conformer.in_norm.gamma": (E,),
            "layers.0.conformer.in_norm.beta": (E,),
            "layers.0.conformer.pointwise_conv.weight": (E, E, 1),
            "layers.0.conformer.glu.proj.weight": (2 * E, E),
            "layers.0.conformer.glu.proj.bias": (2 * E,),
            "layers.0.conformer.depthwise_conv.weight": (E, 1, 17),
            "layers.0.conformer.mid_norm.gamma": (E,),
            "layers.0.conformer.mid_norm.beta": (E,),
            "layers.0.conformer.pointwise_conv_2.weight": (E, E, 1),
        },
        set(),
    ),
    "layer_scale": (
        TransformerOptions(layer_scale=True, conformer=True),
        False,
        {
            "layers.0.self_attn_scale.scale": (E,),
            "layers.0.cross_attn_scale.scale": (E,),
            "layers.0.ff_scale.scale": (E,),
            "layers.0.conformer_scale.scale": (E,),
        },
        set(),
    ),
    "qk_norm_ln": (
        TransformerOptions(attn=AttentionOptions(qk_norm="ln")),
        False,
        {
            f"layers.0.{attn}.{norm}.{p}": (H,)
            for attn in ("self_attn", "cross_attn")
            for norm in ("q_norm", "k_norm")
            for p in ("weight", "bias")
        },
        set(),
    ),
    "qk_norm_dyt": (
        TransformerOptions(attn=AttentionOptions(qk_norm="dyt")),
        False,
        {
            **{f"layers.0.{a}.{n}.alpha": (1,) for a in ("self_attn", "cross_attn") for n in ("q_norm", "k_norm")},
            **{f"layers.0.{a}.{n}.gamma": (H,) for a in ("self_attn", "cross_attn") for n in ("q_norm", "k_norm")},
            **{f"layers.0.{a}.{n}.beta": (H,) for a in ("self_attn", "cross_attn") for n in ("q_norm", "k_norm")},
        },
        set(),
    ),
    "qk_norm_l2": (TransformerOptions(attn=AttentionOptions(qk_norm="l2")), False, {}, {"layers.0.self_attn.q_norm"}),
    "differential_feat_scale": (
        TransformerOptions(attn=AttentionOptions(differential=True, feat_scale=True)),
        False,
        {
            "layers.0.self_attn.to_qkv.weight": (5 * E, E),
            "layers.0.cross_attn.to_q.weight": (2 * E, E),
            "layers.0.cross_attn.to_kv.weight": (3 * CTX, CTX),
            "layers.0.self_attn.lambda_dc": (E,),
            "layers.0.self_attn.lambda_hf": (E,),
        },
        set(),
    ),
    "remove_norms": (
        TransformerOptions(remove_norms=True),
        False,
        {"layers.0.pre_norm.alpha": (1,), "layers.0.pre_norm.gamma": (E,), "layers.0.ff_norm.beta": (E,)},
        set(),
    ),
    "add_rope": (
        TransformerOptions(add_rope=True, rotary_pos_emb=False),
        False,
        {"layers.0.rope.inv_freq": (H // 4,), "layers.1.rope.inv_freq": (H // 4,)},
        {"rotary_pos_emb.inv_freq"},
    ),
    "no_glu": (
        TransformerOptions(ff=FeedForwardOptions(glu=False, mult=2, no_bias=True)),
        False,
        {"layers.0.ff.ff.0.1.weight": (2 * E, E), "layers.0.ff.ff.2.weight": (E, 2 * E)},
        {"layers.0.ff.ff.2.bias", "layers.0.ff.ff.0.1.bias"},
    ),
    "conv_ff": (
        TransformerOptions(ff=FeedForwardOptions(use_conv=True, conv_kernel_size=5)),
        False,
        {"layers.0.ff.ff.0.proj.weight": (8 * E, E), "layers.0.ff.ff.2.weight": (E, 4 * E, 5)},
        set(),
    ),
    "final_cross_attn_ix": (
        TransformerOptions(final_cross_attn_ix=0),
        False,
        {"layers.0.cross_attn.to_q.weight": (E, E)},
        {"layers.1.cross_attn.to_q.weight", "layers.1.cross_attend_norm.gamma"},
    ),
    "causal": (TransformerOptions(causal=True), False, {}, set()),
    "norm_bias_fixed_scale": (
        TransformerOptions(norm=NormOptions(bias=True, fix_scale=True, force_fp32=True, eps=1e-3)),
        False,
        {"layers.0.pre_norm.gamma": (E,), "layers.0.pre_norm.beta": (E,)},
        set(),
    ),
}


@pytest.mark.parametrize("name", sorted(OPTION_CASES))
def test_option_layout_and_forward(name: str) -> None:
    options, adaln, present, absent = OPTION_CASES[name]
    model = build(options, adaln=adaln)
    got = shapes(model)
    for key, shape in present.items():
        assert got.get(key) == shape, f"{name}: {key} is {got.get(key)}, expected {shape}"
    for key in absent:
        assert not any(k == key or k.startswith(key + ".") for k in got), f"{name}: unexpected {key}"
    with torch.device("meta"):
        assert shapes(build(options, adaln=adaln)) == got
    run_forward(model, adaln=adaln)


def test_remove_norms_are_all_parameters() -> None:
    model = build(TransformerOptions(remove_norms=True))
    params = {name for name, _ in model.named_parameters()}
    assert {"layers.0.pre_norm.alpha", "layers.0.pre_norm.gamma", "layers.0.pre_norm.beta"} <= params


def test_layer_scale_turns_zero_init_off() -> None:
    model = build(TransformerOptions(layer_scale=True))
    assert model.layers[0].self_attn.to_out.weight.abs().sum() > 0
    torch.testing.assert_close(model.layers[0].ff_scale.scale, torch.full((E,), 1e-5))


def test_causal_self_attention_ignores_the_future() -> None:
    model = build(TransformerOptions(causal=True), depth=1)
    randomize(model)
    x = torch.randn(1, 8, 10)
    a = model(x)
    x2 = x.clone()
    x2[:, 5:] += 1.0
    b = model(x2)
    torch.testing.assert_close(a[:, :5], b[:, :5])
    assert not torch.allclose(a[:, 5:], b[:, 5:])


def test_absolute_positions_too_long() -> None:
    model = build(TransformerOptions(use_abs_pos_emb=True, abs_pos_emb_max_length=8))
    with pytest.raises(ValueError, match="longer than the absolute position table"):
        model(torch.randn(1, 9, 10), context=torch.randn(1, 2, CTX))


@pytest.mark.skipif(flash_attn_available(), reason="flash-attn installed: the window is honoured")
def test_sliding_window_warns_without_flash_attn() -> None:
    with pytest.warns(UserWarning, match="sliding_window"):
        build(TransformerOptions(sliding_window=(4, 4)))


def test_memory_tokens_are_dropped_from_the_output() -> None:
    model = build(TransformerOptions(num_memory_tokens=4))
    out = run_forward(model, prepend=0)
    assert out.shape == (2, 12, 6)


# --------------------------------------------------------------------------------------------------------------
# Gradient checkpointing


def test_gradient_checkpointing_same_output_and_gradients() -> None:
    model = build(TransformerOptions(conformer=True), adaln=True)
    randomize(model)
    x = torch.randn(2, 12, 10, requires_grad=True)
    context = torch.randn(2, 3, CTX)
    glob = torch.randn(2, E)
    results = []
    for checkpointing in (False, True):
        model.gradient_checkpointing = checkpointing
        model.zero_grad()
        x.grad = None
        out = model(x, context=context, global_cond=glob)
        out.square().sum().backward()
        grads = {name: p.grad.clone() for name, p in model.named_parameters()}
        results.append((out.detach(), x.grad.clone(), grads))
    (out_a, gx_a, grads_a), (out_b, gx_b, grads_b) = results
    torch.testing.assert_close(out_a, out_b)
    torch.testing.assert_close(gx_a, gx_b)
    for name in grads_a:
        torch.testing.assert_close(grads_a[name], grads_b[name], msg=name)


def test_gradient_checkpointing_is_used_only_with_grad() -> None:
    calls = []
    model = build(TransformerOptions())
    model.gradient_checkpointing = True
    original = torch.utils.checkpoint.checkpoint

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        return original(*args, **kwargs)

    torch.utils.checkpoint.checkpoint = spy
    try:
        with torch.no_grad():
            model(torch.randn(1, 4, 10), context=torch.randn(1, 2, CTX))
        assert not calls
        model(torch.randn(1, 4, 10), context=torch.randn(1, 2, CTX)).sum().backward()
        assert len(calls) == 2
    finally:
        torch.utils.checkpoint.checkpoint = original


# --------------------------------------------------------------------------------------------------------------
# Blocks


def test_fourier_features() -> None:
    ff = FourierFeatures(1, 256)
    assert ff.weight.shape == (128, 1)
    t = torch.rand(5, 1)
    f = 2 * math.pi * t * ff.weight[:, 0]
    torch.testing.assert_close(ff(t), torch.cat([f.cos(), f.sin()], dim=-1))
    with pytest.raises(ValueError, match="even"):
        FourierFeatures(1, 255)


def test_layer_norm_buffers_and_parameters() -> None:
    norm = LayerNorm(8)
    assert [n for n, _ in norm.named_parameters()] == ["gamma"]
    assert set(norm.state_dict()) == {"gamma", "beta"}  # beta persists as a buffer
    fixed = LayerNorm(8, bias=True, fix_scale=True)
    assert [n for n, _ in fixed.named_parameters()] == ["beta"]
    assert set(fixed.state_dict()) == {"gamma", "beta"}
    x = torch.randn(3, 8) * 5 + 2
    torch.testing.assert_close(norm(x), F.layer_norm(x, (8,), eps=1e-5))
    half = LayerNorm(8, force_fp32=True)(x.to(torch.bfloat16))
    assert half.dtype == torch.bfloat16


def test_dynamic_tanh() -> None:
    dyt = DynamicTanh(4)
    x = torch.randn(2, 4)
    torch.testing.assert_close(dyt(x), torch.tanh(10.0 * x))


def test_everything_builds_on_meta() -> None:
    options = TransformerOptions(
        conformer=True,
        layer_scale=True,
        num_memory_tokens=2,
        use_abs_pos_emb=True,
        attn=AttentionOptions(qk_norm="dyt", differential=True, feat_scale=True),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with torch.device("meta"):
            model = build(options, adaln=True)
    assert all(p.is_meta for p in model.parameters())
