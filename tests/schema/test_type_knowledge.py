"""What each type knows about itself (issue 11): the facts and methods on the spec classes and capability records
that replaced `if x.type == ...` branches in the rules, views, compiler and runtime."""

from __future__ import annotations

import typing

import pytest

from audiodiff.compiler import registry
from audiodiff.diagnostics import codes
from audiodiff.schema.capabilities import BACKBONES
from audiodiff.schema.rules import upstream
from audiodiff.schema.v1 import backbones as bb
from audiodiff.schema.v1 import conditioning as cond
from audiodiff.schema.v1 import pretransform as pre
from audiodiff.schema.v1.training import OptimizerSpec
from audiodiff.schema.validate import validate_data
from audiodiff.schema.views import backbone_of


def _members(union: object) -> tuple[type, ...]:
    """The classes of an `Annotated[A | B | ..., Field(discriminator=...)]` tagged union."""
    return typing.get_args(typing.get_args(union)[0])


@pytest.mark.parametrize(
    ("union", "base"),
    [
        (cond.ConditionerSpec, cond.ConditionerEntrySpec),
        (pre.PretransformSpec, pre._Pretransform),
        (pre.Bottleneck, pre._Bottleneck),
    ],
)
def test_every_tagged_type_inherits_the_facts_the_rules_ask(union: object, base: type) -> None:
    members = _members(union)
    assert members and all(issubclass(member, base) for member in members)


def test_every_optimizer_says_how_many_state_tensors_it_keeps() -> None:
    for member in _members(OptimizerSpec):
        assert isinstance(member.__dict__.get("state_tensors"), property), member.__name__


def _dit(model_type: str, **config: object) -> dict[str, object]:
    backbone = {"type": "dit", "config": {"embed_dim": 64, "num_heads": 2, "depth": 1, **config}}
    if model_type == "diffusion_uncond":
        return {
            "model_type": model_type,
            "sample_size": 64,
            "sample_rate": 8000,
            "audio_channels": 4,
            "model": backbone,
        }
    return {
        "model_type": model_type,
        "sample_size": 64,
        "sample_rate": 8000,
        "audio_channels": 4,
        "model": {"io_channels": 4, "diffusion": backbone},
    }


def test_an_unconditioned_dit_denoises_its_in_channels() -> None:
    """DiT configs name their channel count `io_channels` (conditioned) or `in_channels` (unconditioned); the view
    reads the field the class names, which `DiTOptionsSpec` itself never declared (it was read through `Any`)."""
    spec = validate_data(_dit("diffusion_uncond", in_channels=4, patch_size=2)).spec
    view = backbone_of(spec)
    assert view is not None and isinstance(view.config, bb.DiTUncondSpec)
    assert (view.channels, view.channels_key, view.length_multiple) == (4, "in_channels", 2)
    spec = validate_data(_dit("diffusion_cond", io_channels=4)).spec
    view = backbone_of(spec)
    assert view is not None and (view.channels, view.channels_key, view.length_multiple) == (4, "io_channels", 1)


def test_backbone_channel_fields_are_fields_of_each_class() -> None:
    for config in (bb.DiTSpec, bb.DiTUncondSpec, bb.UNet1dSpec, bb.UNetCFG1dSpec, bb.DAU1dSpec):
        assert config.channels_key in config.model_fields, config.__name__
    # `channels` of the U-Nets is a level width, not what they denoise
    assert bb.UNet1dSpec.channels_key == "in_channels" and bb.DAU1dSpec.channels_key == "io_channels"


def test_the_reference_backbone_table_comes_from_the_capability_records() -> None:
    assert upstream._upstream_backbones("diffusion_cond") == ("dit", "adp_cfg_1d", "adp_1d")
    assert upstream._upstream_backbones("diffusion_cond_inpaint") == ("dit", "adp_cfg_1d", "adp_1d")
    assert upstream._upstream_backbones("diffusion_uncond") == ("dit", "adp_uncond_1d", "DAU1d")
    assert [tag for tag, record in BACKBONES.items() if record.upstream_refusal] == ["DAU1d"]


def test_conditioner_value_kinds_and_outputs() -> None:
    kinds = {member.model_fields["type"].annotation.__args__[0]: member for member in _members(cond.ConditionerSpec)}
    assert {tag: member.value_kind for tag, member in kinds.items()} == {
        "t5": "text",
        "clap_text": "text",
        "clap_audio": "audio",
        "int": "int",
        "number": "number",
        "list": "choice",
        "phoneme": "text",
        "lut": "text",
        "pretransform": "audio",
        "source_mix": "audio",
    }
    assert {tag for tag, member in kinds.items() if member.output == "sequence"} == {"t5", "lut", "phoneme"}
    assert {tag for tag, member in kinds.items() if member.output == "signal"} == {"pretransform", "source_mix"}
    assert [tag for tag, member in kinds.items() if member.per_source_heads] == ["source_mix"]


def test_a_list_conditioner_reads_any_value_and_names_its_choices() -> None:
    entry = cond.ListConditionerSpec.model_validate({"id": "genre", "type": "list", "config": {"options": ["a", "b"]}})
    assert entry.value_problem(3) is None and entry.choices() == ("a", "b")
    number = cond.NumberConditionerSpec.model_validate({"id": "x", "type": "number", "config": {}})
    assert number.choices() is None and "needs a number" in (number.value_problem("loud") or "")


def test_pretransform_training_status_is_the_registry_status() -> None:
    """`run` refuses the pretransforms audiodiff cannot build: those whose registry entry is not buildable."""
    refused = {
        tag for tag in registry.tags("pretransform") if registry.lookup("pretransform", tag).status != "buildable"
    }
    assert refused == {"pqmf", "dac_pretrained", "audiocraft_pretrained"}
    assert [m for m in _members(pre.PretransformSpec) if m.weights_from_checkpoint] == [pre.AutoencoderPretransformSpec]


def test_pretransform_geometry() -> None:
    dac = pre.DACPretrainedPretransformSpec.model_validate(
        {"type": "dac_pretrained", "config": {"model_type": "24khz"}}
    )
    assert (dac.ratio, dac.latent_channels, dac.io_channels, dac.nestable) == (320, 1024, 1, False)
    pqmf = pre.PQMFPretransformSpec.model_validate({"type": "pqmf", "config": {"channels": 2}})
    assert (pqmf.ratio, pqmf.latent_channels, pqmf.io_channels) == (None, None, 2)
    assert pqmf.as_autoencoder() is None and [f.code.id for f in pqmf.setting_findings()] == [
        codes.PRETRANSFORM_UNUSABLE.id
    ]


def test_bottleneck_loss_terms_name_the_bottlenecks_that_produce_them() -> None:
    from audiodiff.schema.rules.autoencoder_training import _bottlenecks_with

    assert _bottlenecks_with("kl") == ["dac_rvq_vae", "rvq_vae", "vae"]  # the halving ones: their mean/scale split
    assert _bottlenecks_with("mmd") == ["wasserstein"]
    assert all(member.halves == ("kl" in member.loss_terms) for member in _members(pre.Bottleneck))


def test_a_taae_decoder_reports_its_snake_widths_from_its_own_class() -> None:
    """AD414 comes from the decoder config's own `setting_findings`, placed under the decoder's `config`."""
    from audiodiff.schema.rules.autoencoder import check_autoencoder
    from audiodiff.schema.rules.report import RuleReport

    stage = {"channels": 8, "latent_dim": 4, "c_mults": [1, 2], "strides": [2, 2], "transformer_depths": [1, 1]}
    model = pre.AutoencoderModelSpec.model_validate(
        {
            "encoder": {"type": "taae", "config": {**stage, "latent_dim": 4}},
            "decoder": {"type": "taae", "config": {**stage, "use_snake": True}},
            "latent_dim": 4,
            "downsampling_ratio": 4,
            "io_channels": 2,
        }
    )
    report = RuleReport()
    check_autoencoder(model, "/model", report)
    assert [(d.code.id, d.pointer) for d in report.diagnostics] == [
        (codes.TAAE_SNAKE_WIDTHS.id, "/model/decoder/config/use_snake")
    ]
