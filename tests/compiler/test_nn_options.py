"""The DiT's transformer options come from its spec mechanically, field by field (`compiler/nn_options.py`): an
option is named and defaulted once, in the schema, and the `nn` defaults kept for direct use agree with it."""

from __future__ import annotations

import dataclasses

import pytest

from audiodiff.compiler.entries.backbones import TRANSFORMER_KEYS, _window
from audiodiff.compiler.nn_options import options_from_spec
from audiodiff.nn.transformer import AttentionOptions, FeedForwardOptions, NormOptions, TransformerOptions
from audiodiff.schema.v1.backbones import DiTSpec, NormOptionsSpec


def _options(spec: DiTSpec) -> TransformerOptions:
    return options_from_spec(TransformerOptions, spec, renamed=TRANSFORMER_KEYS, converted={"sliding_window": _window})


def test_the_nn_defaults_are_the_schema_defaults() -> None:
    assert _options(DiTSpec()) == TransformerOptions()


def test_every_option_is_read_from_the_spec() -> None:
    spec = DiTSpec.model_validate(
        {
            "final_cross_attn_ix": 3,
            "causal": True,
            "rotary_pos_emb": False,
            "zero_init_branch_outputs": False,
            "conformer": True,
            "use_sinusoidal_emb": True,
            "use_abs_pos_emb": True,
            "abs_pos_emb_max_length": 77,
            "num_memory_tokens": 2,
            "sliding_window": [16, 0],
            "remove_norms": True,
            "add_rope": True,
            "layer_scale": True,
            "attn_kwargs": {"qk_norm": "ln", "differential": True, "feat_scale": True},
            "ff_kwargs": {"mult": 2.0, "no_bias": True, "glu": False, "use_conv": True, "conv_kernel_size": 5},
            "norm_kwargs": {"bias": True, "fix_scale": True, "force_fp32": True, "eps": 1e-3},
        }
    )
    options = _options(spec)
    assert options == TransformerOptions(
        final_cross_attn_ix=3,
        causal=True,
        rotary_pos_emb=False,
        zero_init_branch_outputs=False,
        conformer=True,
        use_sinusoidal_emb=True,
        use_abs_pos_emb=True,
        abs_pos_emb_max_length=77,
        num_memory_tokens=2,
        sliding_window=(16, 0),
        remove_norms=True,
        add_rope=True,
        layer_scale=True,
        attn=AttentionOptions(qk_norm="ln", differential=True, feat_scale=True),
        ff=FeedForwardOptions(mult=2.0, no_bias=True, glu=False, use_conv=True, conv_kernel_size=5),
        norm=NormOptions(bias=True, fix_scale=True, force_fp32=True, eps=1e-3),
    )
    # no field keeps an nn default: each differs from it above
    defaults = TransformerOptions()
    assert all(getattr(options, f.name) != getattr(defaults, f.name) for f in dataclasses.fields(TransformerOptions))


def test_an_option_the_spec_lacks_is_an_error_not_a_default() -> None:
    @dataclasses.dataclass(frozen=True)
    class WithAnExtraOption:
        bias: bool
        not_in_the_schema: int = 7

    with pytest.raises(AttributeError, match="not_in_the_schema"):
        options_from_spec(WithAnExtraOption, NormOptionsSpec())


def test_a_window_that_is_not_a_pair_is_refused() -> None:
    with pytest.raises(ValueError, match="pair"):
        _options(DiTSpec.model_validate({"sliding_window": [1, 2, 3]}))
