"""Conditioners: golden numerics, checkpoint key layouts, audio conditioners, MultiConditioner."""

from __future__ import annotations

import importlib.util

import pytest
import torch
from conditioning_cases import build_conditioner, build_multi_conditioner, load_case, strip_prefix
from torch import Tensor, nn

from audiodiff.nn.conditioners import (
    IntConditioner,
    ListConditioner,
    MissingConditionerInputError,
    MultiConditioner,
    NumberConditioner,
    PretransformConditioner,
    SourceMixConditioner,
)
from audiodiff.nn.text_conditioners import T5Conditioner, TokenizerLUTConditioner


def shapes(module: nn.Module) -> dict[str, tuple[int, ...]]:
    return {key: tuple(value.shape) for key, value in module.state_dict().items()}


# --- golden ----------------------------------------------------------------------------------------------------


def test_golden_conditioners_number_int() -> None:
    golden = load_case("conditioners_number_int")
    conditioning = golden.config["model"]["conditioning"]
    multi = build_multi_conditioner(conditioning)
    multi.load_state_dict(strip_prefix(golden.weights, "conditioner."), strict=True)
    metadata = golden.case["metadata"]
    atol, rtol = golden.case["atol"], golden.case["rtol"]
    checked = 0
    for entry in conditioning["configs"]:
        # each conditioner on its own, on `[item[id] for item in metadata]` after one-element unwrapping
        conditioner = build_conditioner(entry, conditioning["cond_dim"])
        prefix = f"conditioner.conditioners.{entry['id']}."
        conditioner.load_state_dict(strip_prefix(golden.weights, prefix), strict=True)
        values = [item[entry["id"]] for item in metadata]
        values = [v[0] if isinstance(v, list) and len(v) == 1 else v for v in values]
        value, mask = conditioner(values, "cpu")
        expected_value = golden.io[f"output.cond.{entry['id']}.value"]
        expected_mask = golden.io[f"output.cond.{entry['id']}.mask"]
        torch.testing.assert_close(value, expected_value, atol=atol, rtol=rtol)
        torch.testing.assert_close(mask, expected_mask, atol=atol, rtol=rtol)
        checked += 2
    # and the same through MultiConditioner, which does the unwrapping itself
    outputs = multi(metadata, "cpu")
    for name in golden.case["outputs"]:
        _, _, conditioner_id, part = name.split(".")
        value, mask = outputs[conditioner_id]
        torch.testing.assert_close(value if part == "value" else mask, golden.io[name], atol=atol, rtol=rtol)
    assert checked == len(golden.case["outputs"])


# --- number / int / list ---------------------------------------------------------------------------------------


def test_number_layout_and_clamping() -> None:
    torch.manual_seed(0)
    conditioner = NumberConditioner(output_dim=12, min_val=-1.0, max_val=3.0)
    assert shapes(conditioner) == {
        "embedder.embedding.0.weights": (128,),
        "embedder.embedding.1.weight": (12, 257),
        "embedder.embedding.1.bias": (12,),
    }
    value, mask = conditioner([3.0, 99, "-1", -7.5], "cpu")
    assert value.shape == (4, 1, 12) and mask.shape == (4, 1)
    torch.testing.assert_close(value[0], value[1])  # both clamp to max_val
    torch.testing.assert_close(value[2], value[3])  # both clamp to min_val
    assert not torch.allclose(value[0], value[2])
    # a normalised value of 0 gives [0, sin 0 ..., cos 0 ...] = [0, 0..., 1...] features before the Linear
    linear = conditioner.embedder.embedding[1]
    features = torch.cat([torch.zeros(129), torch.ones(128)])
    torch.testing.assert_close(value[2, 0], linear(features))


def test_number_rejects_empty_range() -> None:
    with pytest.raises(ValueError, match="min_val < max_val"):
        NumberConditioner(output_dim=4, min_val=2.0, max_val=2.0)


def test_int_reads_the_clamped_value_as_its_row_like_the_reference() -> None:
    conditioner = IntConditioner(output_dim=6, min_val=2, max_val=7)
    assert shapes(conditioner) == {"int_embedder.weight": (6, 6)}
    value, mask = conditioner([2, 0, 4.0, [5][0]], "cpu")
    table = conditioner.int_embedder.weight
    expected = table[torch.tensor([2, 2, 4, 5])].unsqueeze(1)  # clamped, then row = value (no - min_val)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(mask, torch.ones(4, 1))
    with pytest.raises(ValueError, match="has no embedding row"):
        conditioner([6], "cpu")  # clamps to 6, but the table has rows 0..5: upstream fails here too
    with pytest.raises(ValueError, match="has no embedding row"):
        conditioner([12], "cpu")  # clamps to 7
    with pytest.raises(ValueError, match="has no embedding row"):
        IntConditioner(output_dim=2, min_val=-3, max_val=3)([-1], "cpu")
    with pytest.raises(ValueError, match="whole numbers"):
        conditioner([5.5], "cpu")
    with pytest.raises(ValueError, match="min_val <= max_val"):
        IntConditioner(output_dim=6, min_val=3, max_val=2)


def test_list_unknown_option_is_row_zero() -> None:
    conditioner = ListConditioner(output_dim=5, options=["a", "b"])
    assert shapes(conditioner) == {"embedder.weight": (3, 5)}
    value, _ = conditioner(["b", "zzz", "a"], "cpu")
    torch.testing.assert_close(value[:, 0], conditioner.embedder.weight[torch.tensor([2, 0, 1])])


def test_plain_conditioners_build_on_meta() -> None:
    with torch.device("meta"):
        modules = [
            NumberConditioner(output_dim=1536, max_val=512),
            IntConditioner(output_dim=768),
            ListConditioner(output_dim=64, options=["x"]),
            T5Conditioner(output_dim=1536, t5_model_name="t5-base"),
            TokenizerLUTConditioner(output_dim=32, tokenizer_name="gpt2", vocab_size=50257, use_abs_pos_emb=True),
        ]
    for module in modules:
        assert all(p.is_meta for p in module.parameters())
    assert shapes(modules[3]) == {"proj_out.weight": (1536, 768), "proj_out.bias": (1536,)}
    assert not modules[3].is_loaded


# --- audio conditioners ----------------------------------------------------------------------------------------


class FakePretransform(nn.Module):
    """Stand-in with the pretransform interface: a strided conv `encode`, 2 -> 3 channels, ratio 4."""

    def __init__(self) -> None:
        super().__init__()
        self.io_channels = 2
        self.encoded_channels = 3
        self.model = nn.Conv1d(2, 3, kernel_size=4, stride=4)

    def encode(self, audio: Tensor) -> Tensor:
        return self.model(audio)


def test_pretransform_conditioner() -> None:
    torch.manual_seed(0)
    pretransform = FakePretransform()
    conditioner = PretransformConditioner(pretransform=pretransform, output_dim=3)
    assert shapes(conditioner) == {}  # pretransform not saved, no projection
    mono = torch.randn(1, 32)
    stereo = torch.randn(2, 32)
    value, mask = conditioner([mono, stereo], "cpu")
    assert value.shape == (2, 3, 8) and mask.shape == (2, 8)
    torch.testing.assert_close(value[0], pretransform.encode(mono.repeat(2, 1)[None])[0])
    torch.testing.assert_close(value[1], pretransform.encode(stereo[None])[0])

    saved = PretransformConditioner(pretransform=FakePretransform(), output_dim=5, save_pretransform=True)
    assert shapes(saved) == {
        "proj_out.weight": (5, 3),
        "proj_out.bias": (5,),
        "pretransform.model.weight": (3, 2, 4),
        "pretransform.model.bias": (3,),
    }
    value, mask = saved([stereo], "cpu")
    assert value.shape == (1, 5, 8) and mask.shape == (1, 8)  # projected on channels, time kept


def test_source_mix_conditioner() -> None:
    torch.manual_seed(0)
    conditioner = SourceMixConditioner(
        pretransform=FakePretransform(), output_dim=4, source_keys=["drums", "bass"],
        allow_null_source=True, source_length=8,
    )  # fmt: skip
    assert shapes(conditioner) == {
        "proj_out.weight": (4, 3),
        "proj_out.bias": (4,),
        "source_heads.0.weight": (4, 3, 1),
        "source_heads.0.bias": (4,),
        "source_heads.1.weight": (4, 3, 1),
        "source_heads.1.bias": (4,),
        "null_source": (4, 1),
    }
    drums, bass = torch.randn(2, 32), torch.randn(2, 32)
    value, mask = conditioner([{"drums": drums, "bass": bass}, {"other": drums}], "cpu")
    assert value.shape == (2, 4, 8) and mask.shape == (2, 8)
    encode = conditioner.pretransform.encode
    heads = conditioner.source_heads
    expected = heads[0](encode(drums[None])[0]) + heads[1](encode(bass[None])[0])
    torch.testing.assert_close(value[0], expected)
    torch.testing.assert_close(value[1], conditioner.null_source.repeat(1, 8))


# --- MultiConditioner ------------------------------------------------------------------------------------------


def small_multi(default_keys: dict[str, str] | None = None, pre_encoded_keys: tuple[str, ...] = ()) -> MultiConditioner:
    torch.manual_seed(0)
    return MultiConditioner(
        {"seconds": IntConditioner(output_dim=4, max_val=10), "genre": ListConditioner(output_dim=4, options=["a"])},
        default_keys=default_keys,
        pre_encoded_keys=pre_encoded_keys,
    )


def test_multi_conditioner_keys_and_order() -> None:
    multi = small_multi()
    assert list(multi.state_dict()) == [
        "conditioners.seconds.int_embedder.weight",
        "conditioners.genre.embedder.weight",
    ]
    outputs = multi([{"seconds": 3, "genre": "a"}], "cpu")
    assert list(outputs) == ["seconds", "genre"]
    with pytest.raises(ValueError, match="`a.b`"):
        MultiConditioner({"a.b": IntConditioner(output_dim=2)})
    with pytest.raises(ValueError, match="at least one"):
        multi([], "cpu")


def test_multi_conditioner_missing_id_names_id_and_item() -> None:
    multi = small_multi(default_keys={"genre": "style"})
    with pytest.raises(MissingConditionerInputError) as caught:
        multi([{"seconds": 1, "genre": "a"}, {"genre": "a", "bpm": 3}], "cpu")
    error = caught.value
    assert (error.conditioner_id, error.item_index, error.fallback_key) == ("seconds", 1, None)
    assert "`seconds`" in str(error) and "item `1`" in str(error) and "`bpm`" in str(error)
    with pytest.raises(MissingConditionerInputError, match="default key `style`") as fallback:
        multi([{"seconds": 1}], "cpu")
    assert fallback.value.conditioner_id == "genre" and fallback.value.item_index == 0


def test_multi_conditioner_default_keys_and_unwrapping() -> None:
    multi = small_multi(default_keys={"genre": "style"})
    table_s = multi.conditioners["seconds"].int_embedder.weight
    table_g = multi.conditioners["genre"].embedder.weight
    batch = [{"seconds": [7], "style": ("a",)}, {"seconds": (2,), "genre": "b", "style": "a"}]
    outputs = multi(batch, "cpu")
    torch.testing.assert_close(outputs["seconds"][0][:, 0], table_s[torch.tensor([7, 2])])
    # item 0 falls back to `style` ("a" -> row 1); item 1 has `genre` itself, but the fallback sticks as in the
    # reference, so it reads `style` too ("a" -> row 1, not "b" -> row 0)
    torch.testing.assert_close(outputs["genre"][0][:, 0], table_g[torch.tensor([1, 1])])
    with pytest.raises(TypeError):
        multi([{"seconds": [1, 2], "genre": "a"}], "cpu")  # a two-element list is not unwrapped


def test_multi_conditioner_fallback_sticks_for_the_rest_of_the_batch() -> None:
    """As in the reference: once an item falls back to the default key, later items read the default key too."""
    multi = small_multi(default_keys={"genre": "style"})
    table_g = multi.conditioners["genre"].embedder.weight
    batch = [
        {"seconds": 1, "genre": "a", "style": "x"},  # own key: "a" -> row 1
        {"seconds": 1, "style": "x"},  # falls back: "x" is unknown -> row 0
        {"seconds": 1, "genre": "a", "style": "x"},
    ]  # has `genre`, but reads `style` from now on -> row 0
    outputs = multi(batch, "cpu")
    torch.testing.assert_close(outputs["genre"][0][:, 0], table_g[torch.tensor([1, 0, 0])])
    with pytest.raises(MissingConditionerInputError) as caught:
        multi([{"seconds": 1, "style": "a"}, {"seconds": 1, "genre": "a"}], "cpu")  # item 1 lacks `style`
    assert caught.value.item_index == 1 and caught.value.fallback_key == "style"


def test_multi_conditioner_pre_encoded_keys() -> None:
    multi = small_multi(pre_encoded_keys=("seconds",))
    latents = [torch.randn(1, 4), torch.randn(1, 4)]
    outputs = multi([{"seconds": latents[0], "genre": "a"}, {"seconds": [latents[1]], "genre": "a"}], "cpu")
    value, mask = outputs["seconds"]
    assert mask is None
    torch.testing.assert_close(value, torch.stack(latents))
    assert outputs["genre"][1] is not None


def test_pretransform_conditioner_with_a_real_pretransform() -> None:
    if importlib.util.find_spec("audiodiff.nn.pretransforms") is None:
        pytest.skip("`audiodiff.nn.pretransforms` is not written yet")
    from audiodiff.nn.pretransforms import PatchedPretransform

    pretransform = PatchedPretransform(channels=2, patch_size=4)
    conditioner = PretransformConditioner(pretransform=pretransform, output_dim=8)
    assert isinstance(conditioner.proj_out, nn.Identity) and shapes(conditioner) == {}
    audio = torch.randn(2, 32)
    value, mask = conditioner([audio, audio.flip(-1)], "cpu")
    assert value.shape == (2, 8, 8) and mask.shape == (2, 8)
    torch.testing.assert_close(value[0], pretransform.encode(audio[None])[0])
