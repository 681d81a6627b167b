"""Bottlenecks: VAE statistics and KL, FSQ grids, L2 norm, Wasserstein, DAC RVQ, vector-quantize-pytorch RVQ."""

from __future__ import annotations

import sys

import pytest
import torch
from torch.nn import functional as F

from audiodiff.nn.bottleneck import (
    DACRVQBottleneck,
    DACRVQVAEBottleneck,
    DitheredFSQBottleneck,
    FSQBottleneck,
    L2Bottleneck,
    RVQBottleneck,
    RVQVAEBottleneck,
    TanhBottleneck,
    VAEBottleneck,
    WassersteinBottleneck,
    vae_distribution,
)
from audiodiff.nn.errors import MissingExtraError


def test_vae_statistics_sample_and_kl() -> None:
    torch.manual_seed(0)
    x = torch.randn(3, 8, 5)
    noise = torch.randn(3, 4, 5)
    bottleneck = VAEBottleneck().eval()
    sample, info = bottleneck.encode(x, return_info=True, noise=noise)
    mean, std = vae_distribution(x)
    assert torch.equal(mean, x[:, :4])
    assert torch.allclose(std, F.softplus(x[:, 4:]) + 1e-4)
    assert torch.allclose(sample, mean + std * noise)
    # KL(N(mean, std²) || N(0, 1)) summed over channels, averaged over batch and time; the reference's form is 2x this
    posterior = torch.distributions.Normal(mean, std)
    prior = torch.distributions.Normal(torch.zeros_like(mean), torch.ones_like(std))
    expected = 2 * torch.distributions.kl_divergence(posterior, prior).sum(1).mean()
    assert torch.allclose(info["kl"], expected, rtol=1e-5)
    # it samples even in eval mode, and decode is the identity
    assert not torch.equal(bottleneck.encode(x), bottleneck.encode(x))
    assert torch.equal(bottleneck.decode(sample), sample)
    assert not bottleneck.is_discrete


def test_vae_rejects_odd_widths_and_misshaped_noise() -> None:
    with pytest.raises(ValueError, match="even number"):
        VAEBottleneck().encode(torch.randn(1, 5, 3))
    with pytest.raises(ValueError, match="noise must have shape"):
        VAEBottleneck().encode(torch.randn(1, 4, 3), noise=torch.randn(1, 4, 3))


def test_tanh_and_l2_norm() -> None:
    x = torch.randn(2, 6, 7) * 10
    clipped, info = TanhBottleneck(scale=2.0).encode(x, return_info=True)
    assert info == {} and torch.allclose(clipped, 2.0 * torch.tanh(x / 2.0)) and clipped.abs().max() <= 2.0
    normed = L2Bottleneck().encode(x)
    assert torch.allclose(normed.norm(dim=1), torch.ones(2, 7))
    assert torch.allclose(L2Bottleneck().decode(x * 3), normed, atol=1e-6)
    with pytest.raises(ValueError, match="does not sample"):
        L2Bottleneck().encode(x, noise=torch.randn_like(x))


def test_wasserstein_shapes_mmd_and_noise_channels() -> None:
    torch.manual_seed(0)
    bottleneck = WassersteinBottleneck(noise_augment_dim=3, use_tanh=True, tanh_scale=1.5)
    x = torch.randn(2, 6, 9) * 4
    latents, info = bottleneck.train().encode(x, return_info=True)
    assert latents.shape == (2, 6, 9) and latents.abs().max() <= 1.5
    assert info["mmd"].dim() == 0 and info["mmd"] > 0
    _, eval_info = bottleneck.eval().encode(x, return_info=True)
    assert "mmd" not in eval_info
    decoded = bottleneck.decode(latents)
    assert decoded.shape == (2, 9, 9) and torch.equal(decoded[:, :6], latents)
    # standard-normal latents are closer to the prior than shifted ones
    near = WassersteinBottleneck().train().encode(torch.randn(1, 4, 64), return_info=True)[1]["mmd"]
    far = WassersteinBottleneck().train().encode(torch.randn(1, 4, 64) + 3, return_info=True)[1]["mmd"]
    assert near < far
    bypassed = WassersteinBottleneck(bypass_mmd=True).train().encode(x, return_info=True)[1]["mmd"]
    assert bypassed.item() == 0.0


def test_fsq_quantises_to_its_levels_and_tokens_round_trip() -> None:
    torch.manual_seed(0)
    levels = [5, 4, 3]
    bottleneck = FSQBottleneck(levels=levels)
    assert bottleneck.is_discrete and bottleneck.codebook_size == 60 and bottleneck.num_quantizers == 1
    x = torch.randn(2, 3, 400) * 3
    quantized, info = bottleneck.encode(x, return_info=True)
    for channel, count in enumerate(levels):
        half = count // 2
        grid = {(k - half) / half for k in range(count)}  # even counts lose the top value: {-1, -0.5, 0, 0.5}
        values = set(quantized[:, channel].unique().tolist())
        assert len(values) == count, (channel, values)
        assert all(min(abs(v - g) for g in grid) < 1e-6 for v in values)
    indices = info["quantizer_indices"]
    assert indices.shape == (2, 1, 400) and indices.min() >= 0 and indices.max() < 60
    assert len(indices.unique()) > 30
    assert torch.allclose(bottleneck.decode_tokens(indices), quantized)


def test_fsq_projection_and_noise_channels() -> None:
    bottleneck = FSQBottleneck(levels=[8, 6], dim=5, num_codebooks=2, noise_augment_dim=2)
    shapes = {k: tuple(v.shape) for k, v in bottleneck.state_dict().items()}
    assert shapes == {
        "quantizer.project_in.weight": (4, 5),
        "quantizer.project_in.bias": (4,),
        "quantizer.project_out.weight": (5, 4),
        "quantizer.project_out.bias": (5,),
    }
    quantized, info = bottleneck.encode(torch.randn(2, 5, 7), return_info=True)
    assert quantized.shape == (2, 5, 7) and info["quantizer_indices"].shape == (2, 2, 7)
    assert torch.allclose(bottleneck.decode_tokens(info["quantizer_indices"])[:, :5], quantized, atol=1e-6)
    assert bottleneck.decode(quantized).shape == (2, 7, 7)


def test_dithered_fsq_eval_grid_training_dither_and_tokens() -> None:
    torch.manual_seed(0)
    bottleneck = DitheredFSQBottleneck(dim=4, levels=5, noise_dropout=0.05).eval()
    assert bottleneck.codebook_size == 5**4 and bottleneck.state_dict() == {}
    x = torch.randn(2, 4, 50) * 2
    quantized, info = bottleneck.encode(x, return_info=True)
    grid = torch.tensor([-1.0, -0.5, 0.0, 0.5, 1.0])
    assert (quantized[..., None] - grid).abs().min(-1).values.max() < 1e-6
    assert torch.allclose(bottleneck.decode_tokens(info["quantizer_indices"]), quantized)
    dithered = bottleneck.train().encode(x)
    assert (dithered[..., None] - grid).abs().min(-1).values.max() > 1e-3  # mostly off-grid while training
    assert (dithered - torch.tanh(x)).abs().max() <= 0.25 + 1e-6  # within half a grid step of tanh(x)
    with pytest.raises(ValueError, match="levels"):
        DitheredFSQBottleneck(dim=3, levels=[3, 3])


def test_dac_rvq_layout_shapes_and_codes() -> None:
    torch.manual_seed(0)
    bottleneck = DACRVQBottleneck(input_dim=6, n_codebooks=3, codebook_size=16, codebook_dim=2, noise_augment_dim=1)
    shapes = {k: tuple(v.shape) for k, v in bottleneck.state_dict().items()}
    expected = {}
    for i in range(3):
        q = f"quantizer.quantizers.{i}"
        expected |= {
            f"{q}.in_proj.weight_g": (2, 1, 1),
            f"{q}.in_proj.weight_v": (2, 6, 1),
            f"{q}.in_proj.bias": (2,),
            f"{q}.out_proj.weight_g": (6, 1, 1),
            f"{q}.out_proj.weight_v": (6, 2, 1),
            f"{q}.out_proj.bias": (6,),
            f"{q}.codebook.weight": (16, 2),
        }
    assert shapes == expected
    bottleneck.eval()
    x = torch.randn(2, 6, 11)
    z, info = bottleneck.encode(x, return_info=True)
    assert z.shape == (2, 6, 11) and torch.equal(info["pre_quantizer"], x)
    assert info["codes"].shape == (2, 3, 11) and info["latents"].shape == (2, 6, 11)
    assert info["codes"].max() < 16 and info["vq/commitment_loss"].dim() == 0
    assert torch.allclose(bottleneck.quantizer.from_codes(info["codes"])[0], z, atol=1e-5)
    assert bottleneck.decode_tokens(info["codes"]).shape == (2, 7, 11)
    assert bottleneck.decode(z).shape == (2, 7, 11)
    fewer = bottleneck.encode(x, return_info=True, n_quantizers=1)[1]["codes"]
    assert fewer.shape == (2, 1, 11) and torch.equal(fewer, info["codes"][:, :1])
    bottleneck.train()
    assert bottleneck.encode(x, return_info=True)[1]["codes"].shape == (2, 3, 11)


def test_dac_rvq_quantize_on_decode_and_vae_variant() -> None:
    torch.manual_seed(0)
    lazy = DACRVQBottleneck(input_dim=4, n_codebooks=2, codebook_size=8, codebook_dim=2, quantize_on_decode=True).eval()
    x = torch.randn(1, 4, 5)
    assert torch.equal(lazy.encode(x), x)
    assert torch.allclose(lazy.decode(x), lazy.quantizer(x)[0])
    vae = DACRVQVAEBottleneck(input_dim=4, n_codebooks=2, codebook_size=8, codebook_dim=2).eval()
    z, info = vae.encode(torch.randn(1, 8, 5), return_info=True, noise=torch.zeros(1, 4, 5))
    assert z.shape == (1, 4, 5) and info["kl"].dim() == 0 and info["codes"].shape == (1, 2, 5)
    assert vae.is_discrete and vae.tokens_id == "codes"


def test_rvq_via_vector_quantize_pytorch() -> None:
    pytest.importorskip("vector_quantize_pytorch")
    torch.manual_seed(0)
    bottleneck = RVQBottleneck(dim=8, codebook_size=16, num_quantizers=3, kmeans_init=False).eval()
    assert bottleneck.is_discrete and bottleneck.num_quantizers == 3 and bottleneck.codebook_size == 16
    assert not list(bottleneck.parameters())  # EMA codebooks are buffers
    assert tuple(bottleneck.state_dict()["quantizer.layers.2._codebook.embed"].shape) == (1, 16, 8)
    x = torch.randn(2, 8, 10)
    quantized, info = bottleneck.encode(x, return_info=True)
    assert quantized.shape == (2, 8, 10)
    assert info["quantizer_indices"].shape == (2, 10, 3) and info["quantizer_loss"].dim() == 0
    assert torch.allclose(bottleneck.decode_tokens(info["quantizer_indices"]), quantized, atol=1e-5)
    halved = RVQVAEBottleneck(dim=8, codebook_size=16, num_quantizers=2, kmeans_init=False).eval()
    z, vae_info = halved.encode(torch.randn(2, 16, 10), return_info=True)
    assert z.shape == (2, 8, 10) and "kl" in vae_info


def test_rvq_saves_initted_in_the_reference_layout_and_loads_both() -> None:
    pytest.importorskip("vector_quantize_pytorch")
    bottleneck = RVQBottleneck(dim=4, codebook_size=8, num_quantizers=2, kmeans_init=True)
    state = bottleneck.state_dict()
    flags = sorted(key for key in state if key.endswith(".initted"))
    assert flags == ["quantizer.layers.0._codebook.initted", "quantizer.layers.1._codebook.initted"]
    assert all(tuple(state[key].shape) == (1,) for key in flags)  # vector-quantize-pytorch 1.14's layout
    state[flags[0]] = torch.ones(1)
    fresh = RVQBottleneck(dim=4, codebook_size=8, num_quantizers=2, kmeans_init=True)
    fresh.load_state_dict(state, strict=True)
    assert bool(fresh.quantizer.layers[0]._codebook.initted) and not bool(fresh.quantizer.layers[1]._codebook.initted)
    state[flags[1]] = torch.ones(())  # a 0-d flag, as recent releases save it, still loads
    fresh.load_state_dict(state, strict=True)
    assert bool(fresh.quantizer.layers[1]._codebook.initted)


def test_rvq_without_the_extra_raises_missing_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "vector_quantize_pytorch", None)  # makes the import fail
    with pytest.raises(MissingExtraError) as raised:
        RVQBottleneck(dim=8)
    assert raised.value.extra == "vq" and "rvq" in raised.value.feature
    assert isinstance(raised.value, ImportError) and "audiodiff[vq]" in str(raised.value)


def test_discreteness_flags() -> None:
    continuous = [TanhBottleneck(), VAEBottleneck(), L2Bottleneck(), WassersteinBottleneck()]
    discrete = [
        FSQBottleneck(levels=[3]),
        DitheredFSQBottleneck(dim=1, levels=3),
        DACRVQBottleneck(input_dim=2, n_codebooks=1, codebook_size=2, codebook_dim=1),
    ]
    assert [b.is_discrete for b in continuous] == [False] * 4
    assert [b.is_discrete for b in discrete] == [True] * 3


def test_bottlenecks_build_on_meta() -> None:
    with torch.device("meta"):
        built = [
            FSQBottleneck(levels=[4, 4], dim=3),
            DitheredFSQBottleneck(dim=2, levels=[3, 5]),
            DACRVQVAEBottleneck(input_dim=4, n_codebooks=2, codebook_size=8),
        ]
    for bottleneck in built:
        assert all(t.device.type == "meta" for t in bottleneck.state_dict().values())


def test_fsq_matches_vector_quantize_pytorch() -> None:
    vqp = pytest.importorskip("vector_quantize_pytorch")
    torch.manual_seed(0)
    ours = FSQBottleneck(levels=[8, 5, 5, 3], dim=6, num_codebooks=2)
    theirs = vqp.FSQ(levels=[8, 5, 5, 3], dim=6, num_codebooks=2, keep_num_codebooks_dim=True)
    theirs.load_state_dict(ours.quantizer.state_dict())  # the same project_in / project_out keys
    x = torch.randn(3, 6, 20) * 2
    quantized, info = ours.encode(x, return_info=True)
    expected, indices = theirs(x.transpose(1, 2))
    assert torch.allclose(quantized, expected.transpose(1, 2), atol=1e-6)
    assert torch.equal(info["quantizer_indices"], indices.transpose(1, 2).to(info["quantizer_indices"].dtype))
