"""Pretransforms: wavelet and patched perfect reconstruction, the autoencoder pretransform's contract."""

from __future__ import annotations

import sys

import pytest
import torch
from torch import nn

from audiodiff.nn.autoencoder import AudioAutoencoder
from audiodiff.nn.bottleneck import FSQBottleneck, VAEBottleneck
from audiodiff.nn.oobleck import OobleckDecoder, OobleckEncoder
from audiodiff.nn.pretransforms import AutoencoderPretransform, PatchedPretransform, WaveletPretransform
from audiodiff.nn.wavelets import wavelet_filter_bank

WAVELETS = ["bior2.2", "bior2.4", "bior2.6", "bior2.8", "bior4.4", "bior6.8"]


@pytest.mark.parametrize("wavelet", WAVELETS)
@pytest.mark.parametrize("levels", [1, 3])
def test_wavelet_perfect_reconstruction(wavelet: str, levels: int) -> None:
    torch.manual_seed(levels)
    pretransform = WaveletPretransform(channels=2, levels=levels, wavelet=wavelet)
    audio = torch.randn(3, 2, 40 * 2**levels)
    encoded = pretransform.encode(audio)
    assert encoded.shape == (3, 2 * 2**levels, 40)
    assert (pretransform.downsampling_ratio, pretransform.encoded_channels, pretransform.io_channels) == (
        2**levels,
        2 * 2**levels,
        2,
    )
    assert torch.allclose(pretransform.decode(encoded), audio, atol=1e-5)


def test_wavelet_splits_low_and_high_bands() -> None:
    pretransform = WaveletPretransform(channels=1, levels=1, wavelet="bior4.4")
    t = torch.arange(256, dtype=torch.float32)
    slow = pretransform.encode(torch.sin(2 * torch.pi * t / 64)[None, None])  # [1, 2, 128]
    fast = pretransform.encode(torch.sin(2 * torch.pi * t * 0.45)[None, None])
    # energy of a slow tone lands in the low band (channel 0), of a fast tone in the high band (channel 1)
    assert slow[0, 0].pow(2).sum() > 100 * slow[0, 1].pow(2).sum()
    assert fast[0, 1].pow(2).sum() > 100 * fast[0, 0].pow(2).sum()


def test_wavelet_buffers_match_reference_layout() -> None:
    pretransform = WaveletPretransform(channels=3, levels=2, wavelet="bior2.2")
    state = pretransform.state_dict()
    assert {k: tuple(v.shape) for k, v in state.items()} == {"encoder.kernel": (6, 3, 5), "decoder.kernel": (6, 3, 5)}
    bank = wavelet_filter_bank("bior2.2")  # [4, 5]: dec_lo, dec_hi, rec_lo, rec_hi
    encoder_kernel, decoder_kernel = state["encoder.kernel"], state["decoder.kernel"]
    for band in range(2):
        for channel in range(3):
            row = band * 3 + channel
            assert torch.equal(encoder_kernel[row, channel], bank[band].flip(-1))
            assert torch.equal(decoder_kernel[row, channel], bank[2 + band])
            others = [c for c in range(3) if c != channel]
            assert not encoder_kernel[row, others].any() and not decoder_kernel[row, others].any()
    assert not list(pretransform.parameters())


def test_wavelet_taps_without_pywavelets_match_pywavelets(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("pywt")
    from_pywt = {name: wavelet_filter_bank(name) for name in WAVELETS}
    monkeypatch.setitem(sys.modules, "pywt", None)  # force the tabulated fallback
    for name in WAVELETS:
        tabulated = wavelet_filter_bank(name)
        assert tabulated.shape[-1] % 2 == 1
        assert torch.equal(tabulated, from_pywt[name]), name


def test_wavelet_rejects_bad_lengths_and_names() -> None:
    pretransform = WaveletPretransform(channels=1, levels=3, wavelet="bior4.4")
    with pytest.raises(ValueError, match="not divisible"):
        pretransform.encode(torch.randn(1, 1, 100))
    with pytest.raises(ValueError, match="too short"):
        pretransform.encode(torch.randn(1, 1, 8))
    with pytest.raises(ValueError, match="unsupported wavelet"):
        WaveletPretransform(channels=1, levels=1, wavelet="db4")  # type: ignore[arg-type]


def test_patched_reconstruction_layout_and_padding() -> None:
    pretransform = PatchedPretransform(channels=2, patch_size=4)
    audio = torch.randn(2, 2, 32)
    encoded = pretransform.encode(audio)
    assert encoded.shape == (2, 8, 8)
    assert torch.equal(pretransform.decode(encoded), audio)
    # channel-major folding: output channel c·P + h at frame l is input channel c at sample l·P + h
    for c in range(2):
        for h in range(4):
            assert torch.equal(encoded[:, c * 4 + h], audio[:, c, h::4])
    ragged = torch.randn(1, 2, 30)
    padded = pretransform.decode(pretransform.encode(ragged))
    assert padded.shape == (1, 2, 32)
    assert torch.equal(padded[..., :30], ragged) and not padded[..., 30:].any()
    assert (pretransform.downsampling_ratio, pretransform.encoded_channels) == (4, 8)
    assert pretransform.state_dict() == {}
    with pytest.raises(ValueError, match="oversampling"):
        PatchedPretransform(channels=2, patch_size=4, oversampling=2)


def _small_autoencoder(bottleneck: nn.Module | None = None, latent_dim: int = 4) -> AudioAutoencoder:
    encoder_width = 2 * latent_dim if isinstance(bottleneck, VAEBottleneck) else latent_dim
    return AudioAutoencoder(
        encoder=OobleckEncoder(in_channels=2, channels=4, c_mults=[1, 2], strides=[2, 2], latent_dim=encoder_width),
        decoder=OobleckDecoder(out_channels=2, channels=4, c_mults=[1, 2], strides=[2, 2], latent_dim=latent_dim),
        latent_dim=latent_dim,
        downsampling_ratio=4,
        sample_rate=8000,
        io_channels=2,
        bottleneck=bottleneck,  # type: ignore[arg-type]
    )


def test_autoencoder_pretransform_attributes_scale_and_frozen_state() -> None:
    torch.manual_seed(0)
    model = _small_autoencoder(VAEBottleneck())
    pretransform = AutoencoderPretransform(model, scale=2.5)
    assert (pretransform.downsampling_ratio, pretransform.encoded_channels, pretransform.io_channels) == (4, 4, 2)
    assert not pretransform.is_discrete and pretransform.num_quantizers is None
    assert not any(p.requires_grad for p in pretransform.parameters())
    assert not pretransform.training and not model.training
    parent = nn.ModuleDict({"pretransform": pretransform, "other": nn.Linear(2, 2)}).train()
    assert parent["other"].training and not pretransform.training and not model.training
    assert all(key.startswith("model.") for key in pretransform.state_dict())

    audio = torch.randn(2, 2, 64)
    noise = torch.randn(2, 4, 16)
    with torch.no_grad():
        latents = pretransform.encode(audio, noise=noise)
        assert torch.allclose(latents, model.encode(audio, noise=noise) / 2.5)
        assert torch.allclose(pretransform.decode(latents), model.decode(latents * 2.5))


def test_autoencoder_pretransform_with_enable_grad_trains() -> None:
    pretransform = AutoencoderPretransform(_small_autoencoder(), enable_grad=True)
    assert all(p.requires_grad for p in pretransform.parameters())
    pretransform.train()
    assert pretransform.training and pretransform.model.training
    pretransform.decode(torch.randn(1, 4, 8)).sum().backward()
    assert pretransform.model.decoder.layers[0].weight_v.grad is not None


def test_load_autoencoder_state_dict_without_prefix() -> None:
    torch.manual_seed(0)
    source = _small_autoencoder()
    pretransform = AutoencoderPretransform(_small_autoencoder())
    pretransform.load_autoencoder_state_dict(source.state_dict())
    for key, value in source.state_dict().items():
        assert torch.equal(pretransform.state_dict()[f"model.{key}"], value)
    with pytest.raises(RuntimeError, match="Missing key"):
        pretransform.load_autoencoder_state_dict({k: v for k, v in source.state_dict().items() if "decoder" not in k})
    with pytest.raises(RuntimeError, match="Unexpected key"):
        pretransform.load_autoencoder_state_dict({f"model.{k}": v for k, v in source.state_dict().items()})


def test_autoencoder_pretransform_chunked_iterate_batch_and_half() -> None:
    torch.manual_seed(0)
    model = _small_autoencoder()
    plain = AutoencoderPretransform(model)
    latents = torch.randn(2, 4, 300)
    with torch.no_grad():
        reference = plain.decode(latents)
        assert torch.equal(reference, model.decode_audio(latents))
        plain.chunked, plain.iterate_batch = True, True
        chunked = plain.decode(latents)
        # the settings reach the autoencoder (chunks of 128 latents: this small-ratio decoder's receptive field is
        # wider than the 16 latents trimmed per seam, so the output differs, slightly, near the seams)
        assert torch.allclose(chunked, model.decode_audio(latents, chunked=True), atol=1e-6)
        assert not torch.equal(chunked, reference)
        assert torch.allclose(chunked[..., : 100 * 4], reference[..., : 100 * 4], atol=1e-5)
    half = AutoencoderPretransform(_small_autoencoder(), model_half=True)
    assert all(p.dtype == torch.float16 for p in half.parameters())
    with torch.no_grad():
        decoded = half.decode(torch.randn(1, 4, 8))
    assert decoded.dtype == torch.float32 and decoded.shape == (1, 2, 32)


def test_discrete_autoencoder_pretransform_tokenizes() -> None:
    torch.manual_seed(0)
    pretransform = AutoencoderPretransform(_small_autoencoder(FSQBottleneck(levels=[5, 5, 3, 3])))
    assert pretransform.is_discrete
    assert (pretransform.num_quantizers, pretransform.codebook_size) == (1, 225)
    audio = torch.randn(1, 2, 32)
    with torch.no_grad():
        tokens = pretransform.tokenize(audio)
        assert tokens.shape == (1, 1, 8)
        from_tokens = pretransform.decode_tokens(tokens)
        assert torch.allclose(from_tokens, pretransform.decode(pretransform.encode(audio)), atol=1e-5)
    with pytest.raises(ValueError, match="discrete"):
        AutoencoderPretransform(_small_autoencoder()).tokenize(audio)


def test_autoencoder_with_a_nested_wavelet_pretransform() -> None:
    torch.manual_seed(0)
    wavelet = WaveletPretransform(channels=2, levels=2, wavelet="bior2.2")
    model = AudioAutoencoder(
        encoder=OobleckEncoder(in_channels=8, channels=4, c_mults=[1], strides=[2], latent_dim=4),
        decoder=OobleckDecoder(out_channels=8, channels=4, c_mults=[1], strides=[2], latent_dim=4, final_tanh=False),
        latent_dim=4,
        downsampling_ratio=8,
        sample_rate=8000,
        io_channels=2,
        pretransform=wavelet,
    )
    assert {"pretransform.encoder.kernel", "pretransform.decoder.kernel"} <= set(model.state_dict())
    audio = torch.randn(2, 2, 64)
    latents = model.encode(audio)
    assert latents.shape == (2, 4, 8)
    bands = wavelet.encode(audio)  # [2, 8, 16]
    assert torch.allclose(model.encode(bands, skip_pretransform=True, iterate_batch=True), latents, atol=1e-6)
    assert model.decode(latents).shape == (2, 2, 64)


def test_pretransforms_build_on_meta() -> None:
    with torch.device("meta"):
        built = [
            WaveletPretransform(channels=2, levels=3, wavelet="bior6.8"),
            AutoencoderPretransform(_small_autoencoder(VAEBottleneck())),
            PatchedPretransform(channels=1, patch_size=8),
        ]
    for pretransform in built:
        assert all(t.device.type == "meta" for t in pretransform.state_dict().values())
