"""LoRA layers, and the static list of a DiT's Linear layers (`schema/lora_sites.py`) against the real module: every
name and shape, for DiT variants that change which layers exist, so the list the rules check patterns against
cannot drift from `nn/`."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from audiodiff.compiler.lora import adapter_params
from audiodiff.compiler.materialize import BuildOptions, build_model
from audiodiff.compiler.pipeline import check_text
from audiodiff.nn.lora import AdapterError, LoRALinear, attach, freeze_all_but_adapters, merge_adapters
from audiodiff.runtime.adapters import attach_for_training
from audiodiff.schema.lora_sites import dit_linear_sites
from audiodiff.schema.views import backbone_of

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runtime"))
from toy_run import TINY_MODEL, merge

# patches of the toy model's DiT config that change which Linear layers exist, and their shapes
VARIANTS = {
    "cross_and_global": {},
    "adaln_differential_partial_cross": {
        "depth": 3,
        "num_heads": 2,
        "embed_dim": 64,
        "global_cond_type": "adaLN",
        "final_cross_attn_ix": 1,
        "attn_kwargs": {"differential": True},
    },
    "conformer_plain_ff_patched": {
        "conformer": True,
        "patch_size": 2,
        "ff_kwargs": {"glu": False, "mult": 2},
    },
    "conv_ff_timestep_concat": {
        "ff_kwargs": {"glu": False, "use_conv": True},
        "timestep_cond_type": "input_concat",
        "timestep_embed_dim": 1,
    },
    "unprojected_tokens": {"project_cond_tokens": False},
}


def _spec(dit_patch: dict, lora: dict | None = None):
    config = merge(TINY_MODEL, {"model": {"diffusion": {"config": dit_patch}}})
    if lora is not None:
        config["training"]["lora"] = lora
    check = check_text(json.dumps(config), "lora.json")
    assert check.spec is not None and not [d for d in check.diagnostics if d.is_error], check.diagnostics
    return check.spec


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_static_sites_are_the_real_linear_layers(variant: str) -> None:
    spec = _spec(VARIANTS[variant])
    model = build_model(spec, BuildOptions(device="meta"))
    dit = model.get_submodule("model.model")
    real = [(name, m.in_features, m.out_features) for name, m in dit.named_modules() if isinstance(m, nn.Linear)]
    static = [(s.name, s.in_features, s.out_features) for s in dit_linear_sites(backbone_of(spec).config)]
    assert static == real


def test_the_analytic_adapter_count_is_the_attached_one() -> None:
    lora = {"rank": 3, "target_modules": ["*attn.to_*", "ff.*", "to_timestep_embed.2"]}
    spec = _spec(VARIANTS["adaln_differential_partial_cross"], lora)
    model = build_model(spec, BuildOptions(device="meta"))
    attached = attach_for_training(model, spec)
    assert len(attached) == 3 * 2 + 2 * 3 + 3 * 2 + 1  # self-attn, cross-attn (blocks 0-1), ff, the timestep layer
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == adapter_params(spec) > 0
    assert all(name.endswith((".lora_A", ".lora_B")) for name, p in model.named_parameters() if p.requires_grad)


def test_an_attached_adapter_starts_as_the_identity_and_merges_exactly() -> None:
    torch.manual_seed(0)
    holder = nn.Sequential(nn.Linear(6, 5), nn.SiLU(), nn.Linear(5, 4, bias=False))
    x = torch.randn(3, 6)  # [B, in]
    before = holder(x)
    attach(holder, ["0", "2"], rank=2, scale=0.5)
    assert isinstance(holder[0], LoRALinear) and holder[0].weight is not None
    assert torch.equal(holder(x), before)  # B is zero: nothing changes until training moves it
    assert sorted(holder.state_dict()) == [
        "0.bias",
        "0.lora_A",
        "0.lora_B",
        "0.weight",
        "2.lora_A",
        "2.lora_B",
        "2.weight",
    ]
    with torch.no_grad():
        for layer in (holder[0], holder[2]):
            layer.lora_B.normal_()
    adapted = holder(x)
    assert not torch.allclose(adapted, before)
    plain = copy.deepcopy(holder)
    assert merge_adapters(plain) == 2 and not any(isinstance(m, LoRALinear) for m in plain.modules())
    assert sorted(plain.state_dict()) == ["0.bias", "0.weight", "2.weight"]
    torch.testing.assert_close(plain(x), adapted, rtol=1e-5, atol=1e-6)


def test_freezing_leaves_only_adapters_trainable_and_bad_names_are_refused() -> None:
    holder = nn.Sequential(nn.Linear(4, 4), nn.Conv1d(4, 4, 1))
    attach(holder, ["0"], rank=1, scale=1.0)
    freeze_all_but_adapters(holder)
    assert [n for n, p in holder.named_parameters() if p.requires_grad] == ["0.lora_A", "0.lora_B"]
    with pytest.raises(AdapterError, match="not a Linear"):
        attach(holder, ["1"], rank=1, scale=1.0)
    with pytest.raises(AdapterError, match="no layer `2`"):
        attach(holder, ["2"], rank=1, scale=1.0)
    with pytest.raises(AdapterError, match="has an adapter already"):
        attach(holder, ["0"], rank=1, scale=1.0)
