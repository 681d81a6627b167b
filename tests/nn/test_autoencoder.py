"""Autoencoder family: golden parity with stable-audio-tools, layouts, parameter counts, chunking, training."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file
from shared_paths import CORPUS as SHARED_CORPUS
from shared_paths import GOLDEN as SHARED_GOLDEN
from torch import nn
from torch.profiler import ProfilerActivity, profile

from audiodiff.nn.autoencoder import AudioAutoencoder, chunk_starts
from audiodiff.nn.bottleneck import Bottleneck, RVQBottleneck, VAEBottleneck, vae_distribution
from audiodiff.nn.codec_layers import WNConv1d, WNConvTranspose1d
from audiodiff.nn.dac import DACDecoder, DACEncoder
from audiodiff.nn.oobleck import OobleckDecoder, OobleckEncoder
from audiodiff.nn.pretransforms import AutoencoderPretransform
from audiodiff.nn.seanet import SEANetDecoder, SEANetEncoder

REPO_ROOT = Path(__file__).resolve().parents[2]


GOLDEN = SHARED_GOLDEN
CORPUS = SHARED_CORPUS


@pytest.fixture
def single_thread() -> Iterator[None]:
    """Run torch on one thread: on a small, busy CPU, OpenMP workers waiting on each other dominate tiny ops."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _golden_case(name: str) -> Path:
    root = GOLDEN / name
    if not (root / "weights.safetensors").is_file():
        pytest.skip(f"golden fixture `{name}` not available under {GOLDEN}")
    return root


# ---------------------------------------------------------------------------------------------------------------
# A small test-local mapping from stable-audio-tools config dicts to the constructors (the real one is the
# compiler's job). It mirrors the reference factories, including SEANet's ratio reversal on a first build.


def build_encoder(spec: dict[str, Any]) -> nn.Module:
    config = dict(spec["config"])
    if spec["type"] == "oobleck":
        return OobleckEncoder(**config)
    if spec["type"] == "dac":
        return DACEncoder(**config)
    if spec["type"] == "seanet":
        # the factory reverses `ratios` and EnCodec reverses them back: the encoder applies them as written
        config["downsampling_ratios"] = config.pop("ratios", [2, 2, 2, 2, 2])
        return SEANetEncoder(**config)
    raise NotImplementedError(spec["type"])


def build_decoder(spec: dict[str, Any]) -> nn.Module:
    config = dict(spec["config"])
    if spec["type"] == "oobleck":
        return OobleckDecoder(**config)
    if spec["type"] == "dac":
        return DACDecoder(**config)
    if spec["type"] == "seanet":
        config["upsampling_ratios"] = config.pop("ratios", [8, 5, 4, 2])
        return SEANetDecoder(**config)
    raise NotImplementedError(spec["type"])


def build_bottleneck(spec: dict[str, Any] | None) -> Bottleneck | None:
    if spec is None:
        return None
    if spec["type"] == "vae":
        return VAEBottleneck()
    if spec["type"] == "rvq":
        pytest.importorskip("vector_quantize_pytorch")
        return RVQBottleneck(**spec["config"])
    raise NotImplementedError(spec["type"])


def build_autoencoder(model: dict[str, Any], sample_rate: int) -> AudioAutoencoder:
    return AudioAutoencoder(
        encoder=build_encoder(model["encoder"]),
        decoder=build_decoder(model["decoder"]),
        latent_dim=model["latent_dim"],
        downsampling_ratio=model["downsampling_ratio"],
        sample_rate=sample_rate,
        io_channels=model["io_channels"],
        bottleneck=build_bottleneck(model.get("bottleneck")),
        in_channels=model.get("in_channels"),
        out_channels=model.get("out_channels"),
        soft_clip=model["decoder"].get("soft_clip", False),
    )


def build_autoencoder_pretransform(pretransform: dict[str, Any], sample_rate: int) -> AutoencoderPretransform:
    return AutoencoderPretransform(
        build_autoencoder(pretransform["config"], sample_rate),
        scale=pretransform.get("scale", 1.0),
        model_half=pretransform.get("model_half", False),
        iterate_batch=pretransform.get("iterate_batch", False),
        chunked=pretransform.get("chunked", False),
        enable_grad=pretransform.get("enable_grad", False),
    )


def _assert_close(actual: torch.Tensor, expected: torch.Tensor, atol: float, rtol: float, what: str) -> None:
    assert actual.shape == expected.shape, f"{what}: shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    worst = (actual - expected).abs().max().item()
    assert torch.allclose(actual, expected, atol=atol, rtol=rtol), f"{what}: max abs deviation {worst:.3g}"


# ---------------------------------------------------------------------------------------------------------------
# Golden parity (golden README §4.4 and §4.5 "Decoding")


@pytest.mark.parametrize("case", ["autoencoder_oobleck_vae", "autoencoder_dac_vae"])
def test_golden_autoencoder(case: str) -> None:
    root = _golden_case(case)
    config = json.loads((root / "config.json").read_text())
    meta = json.loads((root / "case.json").read_text())
    model = build_autoencoder(config["model"], config["sample_rate"]).eval()
    model.load_state_dict(load_file(root / "weights.safetensors"), strict=True)
    io = load_file(root / "io.safetensors")
    with torch.no_grad():
        sample, info = model.encode(io["input.audio"], return_info=True, noise=io["input.vae_noise"])
        mean, std = vae_distribution(info["pre_bottleneck_latents"])
        actual = {
            "decoded": model.decode(io["input.latents"]),
            "pre_bottleneck": info["pre_bottleneck_latents"],
            "latent_mean": mean,
            "latent_std": std,
            "latent_sample": sample,
            "reconstruction": model.decode(sample),
        }
    assert sorted(f"output.{name}" for name in actual) == sorted(meta["outputs"])
    for name, value in actual.items():
        _assert_close(value, io[f"output.{name}"], meta["atol"], meta["rtol"], f"{case}/{name}")


def test_golden_pretransform_decode_of_sampled_latents() -> None:
    root = _golden_case("sample_dit_v")
    config = json.loads((root / "config.json").read_text())
    meta = json.loads((root / "case.json").read_text())
    pretransform = build_autoencoder_pretransform(config["model"]["pretransform"], config["sample_rate"])
    weights = load_file(root / "weights.safetensors")
    prefix = "pretransform."
    pretransform.load_state_dict({k[len(prefix) :]: v for k, v in weights.items() if k.startswith(prefix)}, strict=True)
    io = load_file(root / "io.safetensors")
    for decoded_name, latents_name in meta["kwargs"]["decode"].items():
        with torch.no_grad():
            audio = pretransform.decode(io[latents_name])
        _assert_close(audio, io[decoded_name], meta["atol"], meta["rtol"], decoded_name)


def test_stable_audio_2_0_vae_layout_matches_reference() -> None:
    path = GOLDEN / "layouts" / "stable_audio_2_0.json"
    if not path.is_file():
        pytest.skip(f"layout file not available under {GOLDEN}")
    layout = json.loads(path.read_text())
    with torch.device("meta"):
        pretransform = build_autoencoder_pretransform(
            layout["config"]["model"]["pretransform"], layout["config"]["sample_rate"]
        )
    ours = {f"pretransform.{k}": list(v.shape) for k, v in pretransform.state_dict().items()}
    reference = {k: v for k, v in layout["state_dict"].items() if k.startswith("pretransform.")}
    assert len(reference) == 365
    assert sorted(set(ours) ^ set(reference)) == []
    assert {k: v for k, v in ours.items() if reference[k] != v} == {}
    assert not [k for k in layout["buffers"] if k.startswith("pretransform.")]


# ---------------------------------------------------------------------------------------------------------------
# Corpus autoencoders: parameter counts (spec §9) and analytic key layouts

# spec §9: trainable parameters (total, encoder, decoder) and persistent RVQ buffer elements
SPEC_COUNTS = {
    "dac_2048_32_vae": (134_592_930, 90_491_200, 44_101_730, 0),
    "stable_audio_1_0_vae": (133_431_300, 89_574_656, 43_856_644, 0),
    "encodec_musicgen_rvq": (53_259_458, 28_792_064, 24_467_394, 2_105_348),
    "stable_audio_2_0_vae": (156_112_514, 77_989_888, 78_122_626, 0),
}


def _corpus_model(name: str) -> dict[str, Any]:
    path = CORPUS / f"autoencoders__{name}.json"
    if not path.is_file():
        pytest.skip(f"stable-audio-tools config corpus not available under {CORPUS}")
    return json.loads(path.read_text())


def _build_on_meta(name: str) -> AudioAutoencoder:
    config = _corpus_model(name)
    with torch.device("meta"):
        return build_autoencoder(config["model"], config["sample_rate"])


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("name", sorted(SPEC_COUNTS))
def test_corpus_autoencoder_parameter_counts(name: str) -> None:
    total, encoder, decoder, buffer_elements = SPEC_COUNTS[name]
    model = _build_on_meta(name)
    assert (_count(model), _count(model.encoder), _count(model.decoder)) == (total, encoder, decoder)
    bottleneck_state = model.bottleneck.state_dict() if model.bottleneck is not None else {}
    assert sum(v.numel() for v in bottleneck_state.values()) == buffer_elements


Shapes = dict[str, tuple[int, ...]]


def _wn_conv(prefix: str, out_ch: int, in_ch: int, kernel: int, bias: bool = True) -> Shapes:
    keys = {f"{prefix}.weight_g": (out_ch, 1, 1), f"{prefix}.weight_v": (out_ch, in_ch, kernel)}
    return keys | ({f"{prefix}.bias": (out_ch,)} if bias else {})


def _wn_conv_transpose(prefix: str, in_ch: int, out_ch: int, kernel: int) -> Shapes:
    # torch's weight_norm normalises over axis 0, which is the *input* axis of a transposed conv
    return {
        f"{prefix}.weight_g": (in_ch, 1, 1),
        f"{prefix}.weight_v": (in_ch, out_ch, kernel),
        f"{prefix}.bias": (out_ch,),
    }


def _dac_residual(prefix: str, dim: int) -> Shapes:
    return (
        {f"{prefix}.block.0.alpha": (1, dim, 1), f"{prefix}.block.2.alpha": (1, dim, 1)}
        | _wn_conv(f"{prefix}.block.1", dim, dim, 7)
        | _wn_conv(f"{prefix}.block.3", dim, dim, 1)
    )


def dac_expected_keys(encoder: dict[str, Any], decoder: dict[str, Any]) -> Shapes:
    """DAC layout (descript-audio-codec `dac/model/dac.py`) as wrapped by stable-audio-tools, derived by hand."""
    keys: Shapes = {}
    width = encoder["d_model"]
    keys |= _wn_conv("encoder.encoder.block.0", width, encoder.get("in_channels", 1), 7)
    for i, stride in enumerate(encoder["strides"], start=1):
        half, width = width, width * 2
        block = f"encoder.encoder.block.{i}.block"
        for r in range(3):
            keys |= _dac_residual(f"{block}.{r}", half)
        keys[f"{block}.3.alpha"] = (1, half, 1)
        keys |= _wn_conv(f"{block}.4", width, half, 2 * stride)
    n = len(encoder["strides"])
    keys[f"encoder.encoder.block.{n + 1}.alpha"] = (1, width, 1)
    keys |= _wn_conv(f"encoder.encoder.block.{n + 2}", width, width, 3)
    if encoder.get("latent_dim") is not None:
        latent = encoder["latent_dim"]
        keys |= {"encoder.proj_out.weight": (latent, width, 1), "encoder.proj_out.bias": (latent,)}
    channels, rates = decoder["channels"], decoder["rates"]
    keys |= _wn_conv("decoder.decoder.model.0", channels, decoder["latent_dim"], 7)
    out_dim = channels
    for i, rate in enumerate(rates):
        in_dim, out_dim = channels // 2**i, channels // 2 ** (i + 1)
        block = f"decoder.decoder.model.{i + 1}.block"
        keys[f"{block}.0.alpha"] = (1, in_dim, 1)
        keys |= _wn_conv_transpose(f"{block}.1", in_dim, out_dim, 2 * rate)
        for r in range(2, 5):
            keys |= _dac_residual(f"{block}.{r}", out_dim)
    keys[f"decoder.decoder.model.{len(rates) + 1}.alpha"] = (1, out_dim, 1)
    keys |= _wn_conv(f"decoder.decoder.model.{len(rates) + 2}", decoder.get("out_channels", 1), out_dim, 7)
    return keys


def _seanet_conv(prefix: str, in_ch: int, out_ch: int, kernel: int) -> Shapes:
    return _wn_conv(f"{prefix}.conv.conv", out_ch, in_ch, kernel)


def _seanet_resblock(prefix: str, dim: int, config: dict[str, Any]) -> Shapes:
    hidden = dim // config.get("compress", 2)
    keys = _seanet_conv(f"{prefix}.block.1", dim, hidden, config.get("residual_kernel_size", 3))
    keys |= _seanet_conv(f"{prefix}.block.3", hidden, dim, 1)
    if not config.get("true_skip", False):
        keys |= _seanet_conv(f"{prefix}.shortcut", dim, dim, 1)
    return keys


def _lstm(prefix: str, dim: int, layers: int) -> Shapes:
    keys: Shapes = {}
    for layer in range(layers):
        keys |= {
            f"{prefix}.lstm.weight_ih_l{layer}": (4 * dim, dim),
            f"{prefix}.lstm.weight_hh_l{layer}": (4 * dim, dim),
            f"{prefix}.lstm.bias_ih_l{layer}": (4 * dim,),
            f"{prefix}.lstm.bias_hh_l{layer}": (4 * dim,),
        }
    return keys


def seanet_expected_keys(encoder: dict[str, Any], decoder: dict[str, Any]) -> Shapes:
    """EnCodec `SEANetEncoder`/`SEANetDecoder` layout (weight norm), derived by hand. The encoder applies the
    config's ratios in the order written (stable-audio-tools reverses them once, EnCodec once more)."""
    keys: Shapes = {}
    nf = encoder["n_filters"]
    index, mult = 0, 1
    keys |= _seanet_conv(f"encoder.model.{index}", encoder["channels"], nf, encoder.get("kernel_size", 7))
    for ratio in encoder["ratios"]:
        for _ in range(encoder.get("n_residual_layers", 1)):
            index += 1
            keys |= _seanet_resblock(f"encoder.model.{index}", mult * nf, encoder)
        index += 2  # activation, then the strided conv
        keys |= _seanet_conv(f"encoder.model.{index}", mult * nf, 2 * mult * nf, 2 * ratio)
        mult *= 2
    if encoder.get("lstm", 2):
        index += 1
        keys |= _lstm(f"encoder.model.{index}", mult * nf, encoder.get("lstm", 2))
    index += 2
    keys |= _seanet_conv(f"encoder.model.{index}", mult * nf, encoder["dimension"], encoder.get("last_kernel_size", 7))

    nf = decoder["n_filters"]
    mult = 2 ** len(decoder["ratios"])
    index = 0
    keys |= _seanet_conv(f"decoder.model.{index}", decoder["dimension"], mult * nf, decoder.get("kernel_size", 7))
    if decoder.get("lstm", 2):
        index += 1
        keys |= _lstm(f"decoder.model.{index}", mult * nf, decoder.get("lstm", 2))
    for ratio in decoder["ratios"]:
        index += 2
        prefix = f"decoder.model.{index}.convtr.convtr"
        keys |= _wn_conv_transpose(prefix, mult * nf, mult * nf // 2, 2 * ratio)
        for _ in range(decoder.get("n_residual_layers", 1)):
            index += 1
            keys |= _seanet_resblock(f"decoder.model.{index}", mult * nf // 2, decoder)
        mult //= 2
    index += 2
    keys |= _seanet_conv(f"decoder.model.{index}", nf, decoder["channels"], decoder.get("last_kernel_size", 7))
    return keys


@pytest.mark.parametrize("name", ["dac_2048_32_vae", "stable_audio_1_0_vae"])
def test_dac_layout_matches_derivation(name: str) -> None:
    model = _build_on_meta(name)
    spec = _corpus_model(name)["model"]
    expected = dac_expected_keys(spec["encoder"]["config"], spec["decoder"]["config"])
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert sorted(set(ours) ^ set(expected)) == []
    assert {k: v for k, v in ours.items() if expected[k] != v} == {}


def test_seanet_layout_matches_derivation() -> None:
    model = _build_on_meta("encodec_musicgen_rvq")
    spec = _corpus_model("encodec_musicgen_rvq")["model"]
    expected = seanet_expected_keys(spec["encoder"]["config"], spec["decoder"]["config"])
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items() if not k.startswith("bottleneck.")}
    assert sorted(set(ours) ^ set(expected)) == []
    assert {k: v for k, v in ours.items() if expected[k] != v} == {}
    codebooks = {k: tuple(v.shape) for k, v in model.state_dict().items() if k.endswith("_codebook.embed")}
    assert codebooks == {f"bottleneck.quantizer.layers.{i}._codebook.embed": (1, 2048, 128) for i in range(4)}


def test_seanet_round_trip_shapes_and_causal_variant() -> None:
    for causal in (False, True):
        # reflect padding mirrors future samples into the left pad, so strict causality needs zero padding
        pad_mode = "constant" if causal else "reflect"
        encoder = SEANetEncoder(
            channels=1, dimension=8, n_filters=4, downsampling_ratios=(2, 3), causal=causal, pad_mode=pad_mode
        )
        decoder = SEANetDecoder(
            channels=1, dimension=8, n_filters=4, upsampling_ratios=(3, 2), causal=causal, pad_mode=pad_mode
        )
        audio = torch.randn(2, 1, 60)
        with torch.no_grad():
            latents = encoder(audio)
            assert latents.shape == (2, 8, 10)
            assert decoder(latents).shape == (2, 1, 60)
        # a causal encoder's first frames do not depend on later audio (frame 4 ends at sample 29)
        if causal:
            changed = audio.clone()
            changed[..., 30:] += 1.0
            with torch.no_grad():
                moved = encoder(changed)
            assert torch.equal(moved[..., :5], latents[..., :5]) and not torch.equal(moved, latents)


# ---------------------------------------------------------------------------------------------------------------
# Weight norm


def test_weight_norm_convs_match_torch_and_accept_folded_checkpoints() -> None:
    torch.manual_seed(0)
    conv, transposed = WNConv1d(3, 5, 4, stride=2, padding=1), WNConvTranspose1d(5, 3, 4, stride=2, padding=1)
    assert tuple(conv.weight_g.shape) == (5, 1, 1) and tuple(transposed.weight_g.shape) == (5, 1, 1)
    with torch.no_grad():
        conv.weight_g.mul_(torch.rand(5, 1, 1) + 0.5)
        transposed.weight_g.mul_(torch.rand(5, 1, 1) + 0.5)
    pairs = [
        (conv, nn.Conv1d(3, 5, 4, stride=2, padding=1)),
        (transposed, nn.ConvTranspose1d(5, 3, 4, stride=2, padding=1)),
    ]
    for module, reference in pairs:
        v, g = module.weight_v, module.weight_g
        weight = g * v / v.flatten(1).norm(dim=1)[:, None, None]  # g·v/‖v‖, norm over every axis but 0
        assert torch.allclose(module.effective_weight(), weight)
        with torch.no_grad():
            reference.weight.copy_(weight)
            reference.bias.copy_(module.bias)
        x = torch.randn(2, reference.in_channels, 9)
        assert torch.allclose(module(x), reference(x), atol=1e-6)
    # a checkpoint with weight norm folded into `weight` loads strictly and computes the same function
    source = _oobleck()
    modules = dict(source.named_modules())
    folded = {}
    for key, value in source.state_dict().items():
        owner, _, leaf = key.rpartition(".")
        if leaf == "weight_g":
            folded[f"{owner}.weight"] = modules[owner].effective_weight().detach()
        elif leaf != "weight_v":
            folded[key] = value
    target = _oobleck()
    target.load_state_dict(folded, strict=True)
    latents = torch.randn(1, 6, 4)
    with torch.no_grad():
        assert torch.allclose(target.decode(latents), source.decode(latents), atol=1e-6)


# ---------------------------------------------------------------------------------------------------------------
# Oobleck options


def _oobleck(**overrides: Any) -> AudioAutoencoder:
    common = dict(channels=4, c_mults=[1, 2], strides=[2, 4])
    encoder_options = {k: v for k, v in overrides.items() if k in ("use_snake", "antialias_activation")}
    decoder_options = dict(overrides)
    return AudioAutoencoder(
        encoder=OobleckEncoder(in_channels=2, latent_dim=6, **common, **encoder_options),
        decoder=OobleckDecoder(out_channels=2, latent_dim=6, **common, **decoder_options),
        latent_dim=6,
        downsampling_ratio=8,
        sample_rate=16000,
        io_channels=2,
    )


def test_oobleck_antialiased_activation_layout() -> None:
    with torch.device("meta"):
        model = _oobleck(use_snake=True, antialias_activation=True)
    state = model.state_dict()
    buffers = {name for name, _ in model.named_buffers()}
    # only the final encoder activation, the block-input decoder activations and the final decoder activation
    filtered = sorted(k.rsplit(".", 2)[0] for k in state if k.endswith("upsample.filter"))
    assert filtered == [
        "decoder.layers.1.layers.0",
        "decoder.layers.2.layers.0",
        "decoder.layers.3",
        "encoder.layers.3",
    ]
    for owner in filtered:
        assert state[f"{owner}.upsample.filter"].shape == (1, 1, 12)
        assert state[f"{owner}.downsample.lowpass.filter"].shape == (1, 1, 12)
        assert {f"{owner}.act.alpha", f"{owner}.act.beta"} <= set(state)
        assert {f"{owner}.upsample.filter", f"{owner}.downsample.lowpass.filter"} <= buffers


def test_antialiased_activation_filters_and_response() -> None:
    model = _oobleck(use_snake=True, antialias_activation=True)
    activation = model.decoder.layers[3]
    up, down = activation.upsample.filter, activation.downsample.lowpass.filter
    assert torch.allclose(up.sum(), torch.tensor(1.0)) and torch.allclose(up, up.flip(-1))
    assert torch.equal(up, down)
    # a slow sine passes through up- and downsampling essentially unchanged (away from the edges)
    t = torch.arange(256, dtype=torch.float32)
    tone = torch.sin(2 * math.pi * t / 64)[None, None]
    through = activation.downsample(activation.upsample(tone))
    assert through.shape == tone.shape
    assert (through - tone)[..., 16:-16].abs().max() < 0.02
    with torch.no_grad():
        audio = model.decode(torch.randn(1, 6, 5))
    assert audio.shape == (1, 2, 40) and torch.isfinite(audio).all()


def test_oobleck_nearest_upsample_and_final_tanh() -> None:
    model = _oobleck(use_nearest_upsample=True, final_tanh=True)
    keys = set(model.state_dict())
    assert "decoder.layers.1.layers.1.1.weight_v" in keys and "decoder.layers.1.layers.1.1.bias" not in keys
    assert "decoder.layers.4.bias" not in keys  # the output conv has no bias
    with torch.no_grad():
        audio = model.decode(torch.randn(2, 6, 7) * 10)
    assert audio.shape == (2, 2, 56) and audio.abs().max() <= 1.0


def test_oobleck_rejects_too_few_strides() -> None:
    with pytest.raises(ValueError, match="one stride per entry"):
        OobleckEncoder(c_mults=[1, 2, 4], strides=[2, 2])


# ---------------------------------------------------------------------------------------------------------------
# AudioAutoencoder behaviour


def test_iterate_batch_soft_clip_and_channel_overrides() -> None:
    torch.manual_seed(0)
    model = AudioAutoencoder(
        encoder=OobleckEncoder(in_channels=1, channels=4, c_mults=[1], strides=[4], latent_dim=4),
        decoder=OobleckDecoder(out_channels=3, channels=4, c_mults=[1], strides=[4], latent_dim=4, final_tanh=False),
        latent_dim=4,
        downsampling_ratio=4,
        sample_rate=8000,
        io_channels=2,
        in_channels=1,
        out_channels=3,
        soft_clip=True,
    ).eval()
    assert (model.io_channels, model.in_channels, model.out_channels) == (2, 1, 3)
    audio = torch.randn(3, 1, 32)
    with torch.no_grad():
        latents = model.encode(audio)
        assert torch.allclose(model.encode(audio, iterate_batch=True), latents, atol=1e-6)
        decoded = model.decode(latents * 50)
        assert torch.allclose(model.decode(latents * 50, iterate_batch=True), decoded, atol=1e-6)
        raw = model.decoder(latents * 50)
    assert decoded.shape == (3, 3, 32)
    assert torch.allclose(decoded, torch.tanh(raw)) and raw.abs().max() > 1.0


def test_encode_returns_kl_and_rejects_noise_without_sampler() -> None:
    model = _oobleck()
    model.bottleneck = VAEBottleneck()
    with torch.no_grad():
        latents, info = model.encode(torch.randn(1, 2, 64), return_info=True)
        assert latents.shape == (1, 3, 8) and info["kl"].dim() == 0
        assert info["pre_bottleneck_latents"].shape == (1, 6, 8)
        unbottlenecked = model.encode(torch.randn(1, 2, 64), skip_bottleneck=True)
    assert unbottlenecked.shape == (1, 6, 8)
    model.bottleneck = None
    with pytest.raises(ValueError, match="noise"):
        model.encode(torch.randn(1, 2, 64), noise=torch.randn(1, 3, 8))


def test_chunk_starts_cover_the_input() -> None:
    assert chunk_starts(10, 4, 1) == [0, 3, 6]
    assert chunk_starts(11, 4, 1) == [0, 3, 6, 7]
    assert chunk_starts(4, 4, 2) == [0]


def test_chunked_encode_matches_unchunked_for_a_deterministic_encoder() -> None:
    torch.manual_seed(1)
    model = _oobleck().eval()
    audio = torch.randn(2, 2, 8 * 300)
    with torch.no_grad():
        full = model.encode_audio(audio)
        chunked = model.encode_audio(audio, chunked=True, chunk_size=64, overlap=32)
        short = model.encode_audio(audio[..., :512], chunked=True, chunk_size=64)  # one chunk: no chunking
    assert chunked.shape == full.shape == (2, 6, 300)
    assert torch.allclose(chunked, full, atol=1e-5)
    assert torch.equal(short, model.encode(audio[..., :512]))
    with pytest.raises(ValueError, match="overlap"):
        model.decode_audio(torch.randn(1, 6, 300), chunked=True, chunk_size=16, overlap=16)


def _peak_allocated_bytes(function: Any, trace_path: Path) -> tuple[torch.Tensor, int]:
    """Run `function` under the CPU profiler and return its result and the peak of torch's allocated CPU memory."""
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as profiler:
        result = function()
    profiler.export_chrome_trace(str(trace_path))
    events = json.loads(trace_path.read_text())["traceEvents"]
    totals = [event["args"]["Total Allocated"] for event in events if event.get("name") == "[memory]"]
    assert totals, "the profiler recorded no memory events"
    return result, max(totals)


def test_chunked_decode_of_a_minute_matches_in_a_third_of_the_memory(tmp_path: Path, single_thread: None) -> None:
    torch.manual_seed(0)
    sample_rate, ratio = 16000, 256
    model = AudioAutoencoder(
        encoder=nn.Identity(),
        decoder=OobleckDecoder(
            out_channels=1, channels=2, c_mults=[1, 2], strides=[16, 16], latent_dim=8, final_tanh=False
        ),
        latent_dim=8,
        downsampling_ratio=ratio,
        sample_rate=sample_rate,
        io_channels=1,
    ).eval()
    latents = torch.randn(1, 8, 60 * sample_rate // ratio)  # one minute
    with torch.inference_mode():
        full, full_peak = _peak_allocated_bytes(lambda: model.decode_audio(latents), tmp_path / "full.json")
        chunked, chunked_peak = _peak_allocated_bytes(
            lambda: model.decode_audio(latents, chunked=True, chunk_size=128, overlap=32), tmp_path / "chunked.json"
        )
    assert chunked.shape == full.shape == (1, 1, latents.shape[-1] * ratio)
    # chunk edges sit 16 latents from every seam, beyond this decoder's receptive field, so seams match too
    seams = [(start + 16) * ratio for start in chunk_starts(latents.shape[-1], 128, 32)[1:]]
    away = torch.ones(full.shape[-1], dtype=torch.bool)
    for seam in seams:
        away[seam - 4 * ratio : seam + 4 * ratio] = False
    assert torch.allclose(chunked[..., away], full[..., away], atol=1e-5, rtol=1e-4)
    assert torch.allclose(chunked, full, atol=1e-4, rtol=1e-3)
    assert chunked_peak * 3 <= full_peak, f"chunked peak {chunked_peak} B vs unchunked {full_peak} B"


def test_training_a_tiny_oobleck_on_a_tone_cuts_reconstruction_error(single_thread: None) -> None:
    torch.manual_seed(0)
    model = AudioAutoencoder(
        encoder=OobleckEncoder(in_channels=1, channels=4, c_mults=[1, 2], strides=[2, 2], latent_dim=8, use_snake=True),
        decoder=OobleckDecoder(
            out_channels=1, channels=4, c_mults=[1, 2], strides=[2, 2], latent_dim=8, use_snake=True, final_tanh=False
        ),
        latent_dim=8,
        downsampling_ratio=4,
        sample_rate=16000,
        io_channels=1,
    )
    t = torch.arange(512) / 16000
    tone = (0.5 * torch.sin(2 * math.pi * 440 * t))[None, None]  # [1, 1, 512]

    def reconstruction_error() -> float:
        model.eval()
        with torch.no_grad():
            error = (model.decode(model.encode(tone)) - tone).pow(2).mean().item()
        model.train()
        return error

    before = reconstruction_error()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(40):
        loss = (model.decode(model.encode(tone)) - tone).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = reconstruction_error()
    assert after * 5 < before, f"reconstruction MSE went from {before:.3g} to {after:.3g}"


@pytest.mark.parametrize("name", ["Tanh", "ELU", "ReLU", "Sigmoid"])
def test_seanet_decoder_ends_with_the_named_final_activation(name: str) -> None:
    """Every `final_activation` the schema accepts is applied (EnCodec appends `getattr(nn, name)()`); none adds
    parameters, so the analytic counts are unaffected."""
    plain = SEANetDecoder(channels=1, dimension=8, n_filters=4, n_residual_layers=1, upsampling_ratios=(2,), lstm=0)
    decoder = SEANetDecoder(
        channels=1, dimension=8, n_filters=4, n_residual_layers=1, upsampling_ratios=(2,), lstm=0, final_activation=name
    )
    assert type(decoder.model[-1]).__name__ == name
    assert sum(p.numel() for p in decoder.parameters()) == sum(p.numel() for p in plain.parameters())
