"""`training.lora` rules: the backbone must be a continuous-transformer `dit`, and every target pattern must select
at least one of its Linear layers (found statically from the spec, `schema/lora_sites.py`)."""

from __future__ import annotations

from audiodiff.diagnostics import codes
from audiodiff.diagnostics.bounds import echo
from audiodiff.schema.lora_sites import dit_linear_sites, pattern_matches, summarize_names
from audiodiff.schema.rules.report import RuleReport, at
from audiodiff.schema.v1.backbones import DiTSpec, DiTUncondSpec
from audiodiff.schema.v1.root import AutoencoderConfig, ModelConfig
from audiodiff.schema.views import backbone_of


def check(spec: ModelConfig, report: RuleReport) -> None:
    if isinstance(spec, AutoencoderConfig) or spec.training is None or spec.training.lora is None:
        return
    lora = spec.training.lora
    where = at("training", "lora")
    backbone = backbone_of(spec)
    if backbone is None:
        return
    config = backbone.config
    if not isinstance(config, (DiTSpec, DiTUncondSpec)) or config.transformer_type != "continuous_transformer":
        what = f"`{backbone.type}`" if not isinstance(config, (DiTSpec, DiTUncondSpec)) else "the `x-transformers` DiT"
        report.add(
            codes.LORA_BACKBONE,
            f"`training.lora` adapts the Linear layers of a continuous-transformer `dit`; {what} has none it adapts",
            where,
            help="remove `training.lora` (a full fine-tune), or use a `dit` backbone with "
            '`"transformer_type": "continuous_transformer"`',
            related=(("the backbone type is set here", backbone.type_pointer),),
        )
        return
    names = [site.name for site in dit_linear_sites(config)]
    for index, pattern in enumerate(lora.target_modules):
        if any(pattern_matches(pattern, name) for name in names):
            continue
        report.add(
            codes.LORA_TARGET_UNMATCHED,
            f"`{echo(pattern)}` matches no Linear layer of the backbone; it has {summarize_names(names, limit=40)}",
            at("training", "lora", "target_modules", index),
            help="a pattern is a glob over these names that matches whole or at a dot boundary, e.g. "
            "`self_attn.to_qkv` or `*attn.to_*`",
            related=(("the backbone is configured here", backbone.pointer),),
        )
