"""Training and demo rules: optimizers, demo counts and demo conditioning (C30, C62, C64-C67, C70, C72)."""

from __future__ import annotations

from audiodiff.diagnostics import codes
from audiodiff.diagnostics.bounds import echo
from audiodiff.schema.pointer import join
from audiodiff.schema.routes import INPAINT_IDS
from audiodiff.schema.rules import autoencoder_training
from audiodiff.schema.rules.report import RuleReport, at
from audiodiff.schema.v1.root import (
    AutoencoderConfig,
    DiffusionCondConfig,
    DiffusionCondInpaintConfig,
    DiffusionUncondConfig,
    ModelConfig,
)
from audiodiff.schema.v1.training import ArcSpec, DemoSpec, DiffusionTrainingSpec
from audiodiff.schema.values import value_problem
from audiodiff.schema.views import backbone_of, conditioning_of

# optimizer_configs group each model type trains (C65)
_REQUIRED_GROUP = {
    "diffusion_cond": "diffusion",
    "diffusion_cond_inpaint": "diffusion",
    "diffusion_uncond": "diffusion",
    "autoencoder": "autoencoder",
}


DiffusionConfig = DiffusionCondConfig | DiffusionCondInpaintConfig | DiffusionUncondConfig


def check(spec: ModelConfig, report: RuleReport) -> None:
    if isinstance(spec, AutoencoderConfig):
        autoencoder_training.check(spec, report)
        return
    training = spec.training
    if training is None:
        return
    _check_optimizers(spec, training, report)
    if training.loss_configs is not None:
        report.add(
            codes.LOSS_CONFIGS_IGNORED,
            "`loss_configs` has no effect on diffusion models: the loss is always the MSE to the objective's target",
            at("training", "loss_configs"),
            help="remove it",
        )
    backbone = backbone_of(spec)
    if training.mask_padding and backbone is not None and not backbone.capabilities.mask_padding:
        report.add(
            codes.MASK_PADDING_UNET,
            f"`mask_padding` passes the padding mask to the backbone, which `{backbone.type}` does not accept",
            at("training", "mask_padding"),
            related=(("the backbone type is set here", backbone.type_pointer),),
        )
    if training.arc is not None:
        _check_arc(spec, training.arc, report)
    if spec.model_type == "diffusion_uncond":
        _check_uncond_ignored(training, report)
    if spec.model_type in ("diffusion_cond", "diffusion_cond_inpaint"):
        _check_demo(spec, training.demo, report)
        _check_inpainting(spec, training, report)


def _check_inpainting(spec: DiffusionConfig, training: DiffusionTrainingSpec, report: RuleReport) -> None:
    """`training.inpainting` against the routing: masks that sum to 1, and settings that something reads (C70)."""
    from audiodiff.schema.views import reads_inpainting

    inpainting = training.inpainting
    routed = reads_inpainting(spec)
    if inpainting is not None:
        probabilities = inpainting.mask_kwargs.mask_type_probabilities
        if probabilities is not None and abs(sum(probabilities) - 1) > 1e-5:
            report.add(
                codes.INPAINT_MASK_PROBABILITIES,
                f"`mask_type_probabilities` sum to {sum(probabilities):g}, not 1 (random segments, whole clip, "
                "causal suffix)",
                at("training", "inpainting", "mask_kwargs", "mask_type_probabilities"),
                help="e.g. `[0.1, 0.8, 0.1]`, the default",
            )
        if not routed:
            report.add(
                codes.SETTING_IGNORED,
                "`training.inpainting` has no effect: the model routes no inpainting ids, so it never sees the masks",
                at("training", "inpainting"),
                help='route them: `"input_concat_ids": ["inpaint_mask", "inpaint_masked_input"]`, or remove it',
            )
    elif spec.model_type == "diffusion_cond_inpaint" and not routed:
        report.add(
            codes.INPAINT_DEMO_SETTINGS,
            "a `diffusion_cond_inpaint` model without `training.inpainting`: the inpainting demo reads its mask "
            "settings; audiodiff trains it as a plain conditioned model",
            at("training"),
            help='add `"inpainting": {"mask_kwargs": {}}` and route the inpainting ids, or use `diffusion_cond`',
        )


def _check_optimizers(spec: DiffusionConfig, training: DiffusionTrainingSpec, report: RuleReport) -> None:
    group = _REQUIRED_GROUP[spec.model_type]
    if training.optimizer_configs is None:
        if training.learning_rate is None:
            report.add(
                codes.NO_OPTIMIZER,
                "neither `learning_rate` nor `optimizer_configs` is set, so there is nothing to train with",
                at("training"),
                help='add `"learning_rate": 1e-4` (plain Adam) or an `optimizer_configs.' + group + "` entry",
            )
        return
    if group not in training.optimizer_configs:
        report.add(
            codes.OPTIMIZER_GROUP,
            f"`optimizer_configs` has no `{group}` entry, which is the group a `{spec.model_type}` model trains",
            at("training", "optimizer_configs"),
            help=f"rename the entry to `{group}`" if len(training.optimizer_configs) == 1 else None,
        )
    if training.learning_rate is not None:
        report.add(
            codes.LEARNING_RATE_OVERRIDDEN,
            "`learning_rate` is ignored because `optimizer_configs` sets the rate",
            at("training", "learning_rate"),
            related=(("the optimizer's rate is set here", at("training", "optimizer_configs")),),
        )


def _check_uncond_ignored(training: DiffusionTrainingSpec, report: RuleReport) -> None:
    """C66: unconditioned training is plain Adam at `learning_rate` with EMA always on and 8 demos per round."""
    if training.optimizer_configs is not None:
        report.add(
            codes.SETTING_IGNORED,
            "`diffusion_uncond` training always uses Adam at `learning_rate` and ignores `optimizer_configs`",
            at("training", "optimizer_configs"),
            help="set `learning_rate` instead",
        )
    if training.explicitly_set("use_ema") and not training.use_ema:
        report.add(
            codes.SETTING_IGNORED,
            "`diffusion_uncond` training always keeps an EMA copy; `use_ema: false` is ignored",
            at("training", "use_ema"),
        )
    demo = training.demo
    for key in ("num_demos", "demo_cond", "demo_cfg_scales", "demo_cond_from_batch"):
        if demo.explicitly_set(key):
            report.add(
                codes.SETTING_IGNORED,
                f"`{key}` has no effect on `diffusion_uncond` demos, which always render 8 unguided samples",
                at("training", "demo", key),
            )


def _check_demo(spec: DiffusionConfig, demo: DemoSpec, report: RuleReport) -> None:
    where = at("training", "demo")
    # Inpainting demos take their audio and conditioning from a training batch (8 items unless `num_demos` says
    # otherwise) and never read `demo_cond`, as `demo_cond_from_batch` does for the other conditioned type.
    from_batch = demo.demo_cond_from_batch or spec.model_type == "diffusion_cond_inpaint"
    if demo.num_demos is None and spec.model_type != "diffusion_cond_inpaint":
        report.add(codes.MISSING_KEY, "missing required key `num_demos`", where + "/num_demos")
    if demo.demo_cfg_scales is None:
        report.add(codes.MISSING_KEY, "missing required key `demo_cfg_scales`", where + "/demo_cfg_scales")
    elif not demo.demo_cfg_scales:
        report.add(
            codes.DEMO_CFG_SCALES_EMPTY,
            "`demo_cfg_scales` is empty, so no demo would ever be rendered",
            where + "/demo_cfg_scales",
            help="list at least one scale, e.g. `[3, 6]`",
        )
    if from_batch:
        return
    if demo.num_demos is not None and len(demo.demo_cond) != demo.num_demos:
        report.add(
            codes.DEMO_COUNT_MISMATCH,
            f"`demo_cond` has {len(demo.demo_cond)} entries but `num_demos` is {demo.num_demos}; the first demo "
            "would fail right after the first training step",
            where + "/demo_cond" if demo.explicitly_set("demo_cond") else where,
            help=f"give exactly {demo.num_demos} demo entries, or set `num_demos` to {len(demo.demo_cond)}",
            related=(("`num_demos` is set here", where + "/num_demos"),),
        )
    conditioning = conditioning_of(spec)
    if conditioning is None:
        return
    ids = [entry.id for entry in conditioning.configs]
    fallbacks = conditioning.default_keys
    known_keys = set(ids) | set(fallbacks.values()) | set(INPAINT_IDS)
    for index, entry in enumerate(demo.demo_cond):
        entry_pointer = at("training", "demo", "demo_cond", index)
        for conditioner in conditioning.configs:
            if conditioner.id in entry and ids.count(conditioner.id) == 1:  # a duplicated id is AD202's
                problem = value_problem(conditioner, entry[conditioner.id])
                if problem is not None:
                    report.add(codes.DEMO_COND_VALUE, f"demo {index}: {problem}", join(entry_pointer, conditioner.id))
        for conditioner_id in ids:
            if conditioner_id in entry:
                continue
            fallback = fallbacks.get(conditioner_id)
            if fallback is not None and fallback in entry:
                continue
            report.add(
                codes.DEMO_COND_MISSING_ID,
                f"demo {index} has no `{conditioner_id}`; every conditioner runs on every demo, routed or not",
                entry_pointer,
                help=f"add a `{conditioner_id}` value to this entry",
            )
        for key in entry:
            if key not in known_keys:
                report.add(
                    codes.DEMO_COND_UNKNOWN_KEY,
                    f"demo {index} sets `{echo(str(key))}`, which no conditioner reads",
                    join(entry_pointer, key),
                )


def _check_arc(spec: DiffusionConfig, arc: ArcSpec, report: RuleReport) -> None:
    where = at("training", "arc")
    backbone = backbone_of(spec)
    if backbone is not None and not backbone.capabilities.adversarial_post_training:
        report.add(
            codes.MISSING_SETTING,
            "adversarial (`arc`) post-training needs a `dit` backbone",
            where,
            related=(("the backbone type is set here", backbone.type_pointer),),
        )
    if arc.discriminator_base_model is None and not arc.use_model_as_discriminator:
        report.add(
            codes.MISSING_SETTING,
            "`arc` needs `discriminator_base_model` or `use_model_as_discriminator: true`",
            where,
        )
    if (arc.teacher_model is not None or arc.use_model_as_teacher) and arc.teacher_model_ckpt is None:
        report.add(
            codes.MISSING_SETTING,
            "a teacher model needs `teacher_model_ckpt`",
            where,
        )
