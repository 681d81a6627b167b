"""Text and CLAP conditioners: lazy local loading of a tiny random T5 and tokenizer, LUT, optional extras."""

from __future__ import annotations

import importlib.util
import socket
from pathlib import Path

import pytest
import torch
from torch import nn

import audiodiff.nn.external_weights as external_weights
from audiodiff.nn.clap_conditioners import CLAPAudioConditioner, CLAPTextConditioner
from audiodiff.nn.conditioners import IntConditioner, MultiConditioner
from audiodiff.nn.errors import MissingExtraError, MissingWeightsError
from audiodiff.nn.text_conditioners import (
    G2P_EN_PHONEME_COUNT,
    PhonemeConditioner,
    T5Conditioner,
    TokenizerLUTConditioner,
    tokenizer_vocabulary_size,
)


def shapes(module: nn.Module) -> dict[str, tuple[int, ...]]:
    return {key: tuple(value.shape) for key, value in module.state_dict().items()}


# --- T5 ----------------------------------------------------------------------------------------------------------

T5_WIDTH = 16
VOCAB = {"<pad>": 0, "</s>": 1, "<unk>": 2, "a": 3, "dog": 4, "barks": 5, "cat": 6, "loud": 7, "very": 8}


def save_tiny_tokenizer(folder: Path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.WordLevel(vocab=VOCAB, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="<pad>", unk_token="<unk>", eos_token="</s>"
    )
    tokenizer.save_pretrained(folder)


@pytest.fixture(scope="module")
def tiny_t5(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 1-layer T5 encoder with a word-level tokenizer, saved like a hub snapshot (no network)."""
    from transformers import T5Config, T5EncoderModel

    folder = tmp_path_factory.mktemp("tiny_t5")
    torch.manual_seed(0)
    config = T5Config(
        vocab_size=len(VOCAB), d_model=T5_WIDTH, d_kv=4, d_ff=32, num_layers=1, num_heads=2,
        relative_attention_num_buckets=8, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
    )  # fmt: skip
    T5EncoderModel(config).save_pretrained(folder)
    save_tiny_tokenizer(folder)
    return folder


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a network connection was attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_t5_builds_without_loading(monkeypatch: pytest.MonkeyPatch, tiny_t5: Path) -> None:
    import transformers

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("construction must not load weights")

    monkeypatch.setattr(transformers.T5EncoderModel, "from_pretrained", refuse)
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", refuse)
    conditioner = T5Conditioner(output_dim=8, t5_model_name="t5-small", model_path=tiny_t5, width=T5_WIDTH)
    assert not conditioner.is_loaded
    assert shapes(conditioner) == {"proj_out.weight": (8, T5_WIDTH), "proj_out.bias": (8,)}
    with pytest.raises(RuntimeError, match="load_weights"):
        conditioner(["a dog"], "cpu")


def test_t5_forward_after_lazy_load(tiny_t5: Path, no_network: None) -> None:
    from transformers import T5EncoderModel

    conditioner = T5Conditioner(
        output_dim=T5_WIDTH, t5_model_name="t5-small", model_path=tiny_t5, width=T5_WIDTH, max_length=6
    )
    assert isinstance(conditioner.proj_out, nn.Identity)
    multi = MultiConditioner({"prompt": conditioner, "seconds": IntConditioner(output_dim=T5_WIDTH)})
    assert not multi.is_loaded
    multi.load_weights()  # loads what needs loading, through the container
    assert conditioner.is_loaded and multi.is_loaded
    value, mask = conditioner(["a dog barks", "cat", "very very loud loud dog a cat barks"], "cpu")
    assert value.shape == (3, 6, T5_WIDTH) and value.dtype == torch.float32
    assert mask.dtype == torch.bool and mask.shape == (3, 6)
    assert mask.sum(dim=1).tolist() == [3, 1, 6]  # padded to, and truncated at, max_length
    assert torch.all(value[~mask] == 0) and torch.all(value[mask].abs().sum(-1) > 0)
    # the valid positions are the fp16 encoder's hidden states
    reference = T5EncoderModel.from_pretrained(tiny_t5).half().eval()
    ids = torch.tensor([[3, 4, 5, 0, 0, 0]])
    with torch.no_grad():
        hidden = reference(input_ids=ids, attention_mask=ids != 0)["last_hidden_state"].float()
    torch.testing.assert_close(value[0, :3], hidden[0, :3])
    # frozen: nothing of T5 in the state dict or the parameters
    assert set(conditioner.state_dict()) == set()
    assert list(conditioner.parameters()) == []


def test_t5_projection_and_trainable_encoder(tiny_t5: Path) -> None:
    frozen = T5Conditioner(output_dim=8, t5_model_name="t5-small", model_path=tiny_t5, width=T5_WIDTH, max_length=4)
    frozen.load_weights()
    value, mask = frozen(["cat", "a dog"], "cpu")
    assert value.shape == (2, 4, 8) and torch.all(value[~mask] == 0)
    assert set(frozen.state_dict()) == {"proj_out.weight", "proj_out.bias"}

    trainable = T5Conditioner(
        output_dim=8, t5_model_name="t5-small", model_path=tiny_t5, width=T5_WIDTH, max_length=4, enable_grad=True
    )
    trainable.load_weights()
    keys = set(trainable.state_dict())
    assert {"proj_out.weight", "proj_out.bias"} < keys
    t5_keys = {key for key in keys if key.startswith("model.")}
    assert "model.shared.weight" in t5_keys and len(t5_keys) > 5
    assert all(trainable.state_dict()[key].dtype == torch.float16 for key in t5_keys)
    assert all(p.requires_grad for p in trainable.model.parameters())
    trainable.load_state_dict(trainable.state_dict(), strict=True)


def test_t5_missing_weights_are_a_clear_error(tmp_path: Path, no_network: None) -> None:
    empty_cache = tmp_path / "hf_cache"
    empty_cache.mkdir()
    conditioner = T5Conditioner(output_dim=8, t5_model_name="google/flan-t5-base", cache_dir=empty_cache)
    with pytest.raises(MissingWeightsError, match="google/flan-t5-base") as caught:
        conditioner.load_weights()
    assert caught.value.source == "google/flan-t5-base"
    missing_folder = T5Conditioner(output_dim=8, model_path=tmp_path / "nope")
    with pytest.raises(MissingWeightsError, match="does not exist"):
        missing_folder.load_weights()


def test_t5_checks_names_and_widths(tiny_t5: Path) -> None:
    with pytest.raises(ValueError, match="unknown T5 model `t5-tiny`"):
        T5Conditioner(output_dim=8, t5_model_name="t5-tiny")
    assert T5Conditioner(output_dim=8, t5_model_name="google/t5-v1_1-xxl").dim == 4096
    wrong = T5Conditioner(output_dim=8, t5_model_name="t5-small", model_path=tiny_t5)  # table width 512
    with pytest.raises(ValueError, match="`16` wide"):
        wrong.load_weights()


# --- LUT -------------------------------------------------------------------------------------------------------


def test_lut_conditioner(tmp_path: Path, no_network: None) -> None:
    save_tiny_tokenizer(tmp_path)
    rows = tokenizer_vocabulary_size("tiny", ["<sfx>"], tokenizer_path=tmp_path)
    assert rows == len(VOCAB) + 1
    conditioner = TokenizerLUTConditioner(
        output_dim=6, tokenizer_name="tiny", tokenizer_path=tmp_path, vocab_size=rows, max_length=5,
        use_abs_pos_emb=True, project_out=True, special_tokens=["<sfx>"],
    )  # fmt: skip
    assert shapes(conditioner) == {
        "proj_out.weight": (6, 6),
        "proj_out.bias": (6,),
        "token_embedder.weight": (rows, 6),
        "abs_pos_emb.emb.weight": (5, 6),
    }
    conditioner.load_weights()
    value, mask = conditioner(["a dog", "cat barks loud"], "cpu")
    assert value.shape == (2, 5, 6) and mask.tolist() == [[True] * 2 + [False] * 3, [True] * 3 + [False] * 2]
    positions = conditioner.abs_pos_emb.emb.weight * 6**-0.5
    torch.testing.assert_close(value[0, 2:], positions[2:])  # masked tokens keep only their position
    token = conditioner.proj_out(conditioner.token_embedder.weight[VOCAB["cat"]])
    torch.testing.assert_close(value[1, 0], token + positions[0])

    wrong = TokenizerLUTConditioner(output_dim=6, tokenizer_name="tiny", tokenizer_path=tmp_path, vocab_size=3)
    with pytest.raises(ValueError, match="table has `3` rows"):
        wrong.load_weights()


# --- optional extras -------------------------------------------------------------------------------------------


def pretend_installed(monkeypatch: pytest.MonkeyPatch, installed: bool) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *args: object) -> object:
        if name in ("g2p_en", "laion_clap"):
            return object() if installed else None
        return real(name, *args)

    monkeypatch.setattr(external_weights.importlib.util, "find_spec", find_spec)


def test_missing_extras_raise_when_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The phoneme vocabulary comes from g2p_en, so it is needed to build; CLAP is needed only to load weights."""
    pretend_installed(monkeypatch, installed=False)
    with pytest.raises(MissingExtraError, match=r"audiodiff\[phoneme\]") as phoneme:
        PhonemeConditioner(output_dim=8)
    assert phoneme.value.extra == "phoneme" and "phoneme" in phoneme.value.feature
    for conditioner in (
        CLAPTextConditioner(output_dim=8, clap_ckpt_path="clap.pt"),
        CLAPAudioConditioner(output_dim=8, clap_ckpt_path="clap.pt"),
    ):
        assert set(conditioner.state_dict()) == {"proj_out.weight", "proj_out.bias"}
        with pytest.raises(MissingExtraError, match="laion_clap") as clap:
            conditioner.load_weights()
        assert clap.value.extra == "clap"
        assert isinstance(clap.value, ImportError)


def test_extra_conditioner_layouts_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    pretend_installed(monkeypatch, installed=True)
    phoneme = PhonemeConditioner(output_dim=8, project_out=True)
    assert shapes(phoneme) == {
        "proj_out.weight": (8, 8),
        "proj_out.bias": (8,),
        "phoneme_embedder.weight": (G2P_EN_PHONEME_COUNT + 2, 8),
    }
    assert shapes(CLAPTextConditioner(output_dim=512, clap_ckpt_path="x")) == {}
    assert shapes(CLAPTextConditioner(output_dim=768, clap_ckpt_path="x", use_text_features=True)) == {}
    assert shapes(CLAPTextConditioner(output_dim=64, clap_ckpt_path="x")) == {
        "proj_out.weight": (64, 512),
        "proj_out.bias": (64,),
    }
    assert shapes(CLAPAudioConditioner(output_dim=512, clap_ckpt_path="x", project_out=True))["proj_out.weight"] == (
        512,
        512,
    )
    clap = CLAPTextConditioner(output_dim=512, clap_ckpt_path=str(Path("/nonexistent/clap.pt")))
    with pytest.raises(MissingWeightsError, match="clap.pt"):
        clap.load_weights()
