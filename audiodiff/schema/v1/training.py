"""The `training` section: optimisation, EMA, timestep sampling, inpainting and demos (spec §5).

Optimizer and scheduler `type`s form a closed set spelled as upstream spells them (`AdamW`, `InverseLR`,
`CosineAnnealingLR`): config text never names a Python object, it picks a tag from this table.
"""

from __future__ import annotations

from typing import Annotated, Literal

from annotated_types import Gt, Le
from pydantic import Field, Strict

from audiodiff.schema.v1.autoencoder_training import EvalLossConfigsSpec, LossConfigsSpec
from audiodiff.schema.v1.base import (
    Bool,
    Float,
    FloatTuple,
    Int,
    JsonValue,
    NonEmptyStr,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    Probability,
    Spec,
    Str,
    UnitInterval,
)

# --- optimizers -------------------------------------------------------------------------------------------------


Betas = Annotated[tuple[UnitInterval, UnitInterval], Strict(False)]  # Adam's two decay rates, each in [0, 1)


class AdamConfig(Spec):
    lr: PositiveFloat = 1e-3
    betas: Betas = (0.9, 0.999)
    eps: PositiveFloat = 1e-8
    weight_decay: NonNegativeFloat = 0.0
    amsgrad: Bool = False
    fused: Bool | None = None
    foreach: Bool | None = None


class AdamWConfig(AdamConfig):
    weight_decay: NonNegativeFloat = 1e-2


class SGDConfig(Spec):
    lr: PositiveFloat = 1e-3
    momentum: NonNegativeFloat = 0.0
    dampening: NonNegativeFloat = 0.0
    weight_decay: NonNegativeFloat = 0.0
    nesterov: Bool = False


class FusedAdamConfig(Spec):
    lr: PositiveFloat = 1e-3
    betas: Betas = (0.9, 0.999)
    eps: PositiveFloat = 1e-8
    weight_decay: NonNegativeFloat = 0.0
    adam_w_mode: Bool = True


# One class per optimizer type. Upstream indexes `config` (KeyError when absent, C65): it stays required in the
# dialect.


# Each says how many state tensors it keeps per parameter (`state_tensors`), for the memory estimate.


class AdamOptimizerSpec(Spec):
    """`Adam`."""

    type: Literal["Adam"]
    config: AdamConfig

    @property
    def state_tensors(self) -> int:
        return 3 if self.config.amsgrad else 2  # exp_avg, exp_avg_sq (and max_exp_avg_sq with amsgrad)


class AdamWOptimizerSpec(Spec):
    """`AdamW`."""

    type: Literal["AdamW"]
    config: AdamWConfig

    @property
    def state_tensors(self) -> int:
        return 3 if self.config.amsgrad else 2


class SGDOptimizerSpec(Spec):
    """`SGD`."""

    type: Literal["SGD"]
    config: SGDConfig

    @property
    def state_tensors(self) -> int:
        return 1 if self.config.momentum > 0 else 0  # a momentum buffer, none at momentum 0


class FusedAdamOptimizerSpec(Spec):
    """`FusedAdam`."""

    type: Literal["FusedAdam"]
    config: FusedAdamConfig

    @property
    def state_tensors(self) -> int:
        return 2


OptimizerSpec = Annotated[
    AdamOptimizerSpec | AdamWOptimizerSpec | SGDOptimizerSpec | FusedAdamOptimizerSpec,
    Field(discriminator="type"),
]

# --- schedulers -------------------------------------------------------------------------------------------------


class InverseLRConfig(Spec):
    """lr(s) = (1 - warmup^(s+1)) * max(final_lr, base_lr * (1 + s / inv_gamma)^(-power))  (spec §5.2)."""

    inv_gamma: PositiveFloat = 1.0
    power: NonNegativeFloat = 1.0
    warmup: UnitInterval = 0.0
    final_lr: NonNegativeFloat = 0.0


class ExponentialLRConfig(Spec):
    gamma: PositiveFloat


class CosineAnnealingLRConfig(Spec):
    T_max: PositiveInt
    eta_min: NonNegativeFloat = 0.0


class LinearLRConfig(Spec):
    """Linear warm-up (or decay) of the rate by a factor going from `start_factor` to `end_factor`."""

    start_factor: PositiveFloat = 1.0 / 3
    end_factor: PositiveFloat = 1.0
    total_iters: PositiveInt = 5


class StepLRConfig(Spec):
    step_size: PositiveInt
    gamma: PositiveFloat = 0.1


class ConstantLRConfig(Spec):
    factor: PositiveFloat = 1.0 / 3
    total_iters: PositiveInt = 5


# One class per scheduler type; `config` is required as for optimizers.


class InverseLRSpec(Spec):
    """`InverseLR`."""

    type: Literal["InverseLR"]
    config: InverseLRConfig


class ExponentialLRSpec(Spec):
    """`ExponentialLR`."""

    type: Literal["ExponentialLR"]
    config: ExponentialLRConfig


class CosineAnnealingLRSpec(Spec):
    """`CosineAnnealingLR`."""

    type: Literal["CosineAnnealingLR"]
    config: CosineAnnealingLRConfig


class LinearLRSpec(Spec):
    """`LinearLR`."""

    type: Literal["LinearLR"]
    config: LinearLRConfig


class StepLRSpec(Spec):
    """`StepLR`."""

    type: Literal["StepLR"]
    config: StepLRConfig


class ConstantLRSpec(Spec):
    """`ConstantLR`."""

    type: Literal["ConstantLR"]
    config: ConstantLRConfig


SchedulerSpec = Annotated[
    InverseLRSpec | ExponentialLRSpec | CosineAnnealingLRSpec | LinearLRSpec | StepLRSpec | ConstantLRSpec,
    Field(discriminator="type"),
]


class OptimizerGroupSpec(Spec):
    """One entry of `optimizer_configs` (`diffusion`, `autoencoder`, `discriminator`, `lm`)."""

    optimizer: OptimizerSpec
    scheduler: SchedulerSpec | None = None


OptimizerConfigs = dict[Literal["diffusion", "autoencoder", "discriminator", "lm"], OptimizerGroupSpec]

# --- demos ------------------------------------------------------------------------------------------------------


class CondDisplaySpec(Spec):
    id: NonEmptyStr
    type: Literal["audio", "audio_dict"]
    config: dict[Str, JsonValue] = Field(default_factory=dict)


class DemoSpec(Spec):
    demo_every: PositiveInt = 2000
    demo_steps: PositiveInt = 250
    num_demos: PositiveInt | None = None  # required for diffusion_cond (a rule, C64)
    demo_cond: Annotated[tuple[dict[Str, JsonValue], ...], Field(strict=False)] = ()
    demo_cfg_scales: FloatTuple | None = None  # required and non-empty for conditioned models (a rule)
    demo_cond_from_batch: Bool = False
    display_audio_cond: Bool = False
    cond_display_configs: Annotated[tuple[CondDisplaySpec, ...], Field(strict=False)] | None = None


# --- diffusion training -------------------------------------------------------------------------------------------


class TimestepSamplerOptionsSpec(Spec):
    mean_logsnr: Float = -1.2
    std_logsnr: PositiveFloat = 2.0


class InpaintMaskSpec(Spec):
    max_mask_segments: PositiveInt = 10
    mask_type_probabilities: Annotated[tuple[Probability, Probability, Probability], Strict(False)] | None = None


class InpaintingSpec(Spec):
    mask_kwargs: InpaintMaskSpec = Field(default_factory=InpaintMaskSpec)


class ArcOdeWarmupSpec(Spec):
    warmup_steps: NonNegativeInt = 0
    refresh_rate: PositiveInt = 1
    sampling_steps: PositiveInt = 50
    cfg: Float = 1.0


class ArcDiscriminatorWeightsSpec(Spec):
    generator: Float = 1.0
    discriminator: Float = 1.0
    contrastive: Float = 1.0


class ArcDiscriminatorSpec(Spec):
    dit_hidden_layer: Int
    contrastive: Bool = False
    include_grad_penalties: Bool = False
    type: Literal["convnext", "conv"] = "convnext"
    # forwarded to the discriminator head, which audiodiff does not build: kept as plain JSON
    config: dict[Str, JsonValue] = Field(default_factory=dict)
    weights: ArcDiscriminatorWeightsSpec = Field(default_factory=ArcDiscriminatorWeightsSpec)


class ArcSpec(Spec):
    """`training.arc`: adversarial post-training of a DiT. audiodiff validates it but does not run it."""

    teacher_model: dict[Str, JsonValue] | None = None
    use_model_as_teacher: Bool = False
    teacher_model_ckpt: NonEmptyStr | None = None
    discriminator_base_model: dict[Str, JsonValue] | None = None
    use_model_as_discriminator: Bool = False
    discriminator_base_ckpt: NonEmptyStr | None = None
    ode_warmup: ArcOdeWarmupSpec | None = None
    sampling: dict[Str, JsonValue] = Field(default_factory=dict)
    noise_dist: dict[Str, JsonValue] = Field(default_factory=dict)
    discriminator: ArcDiscriminatorSpec


MAX_LORA_RANK = 4096  # far above useful ranks; keeps adapter counts bounded for any input


class LoraSpec(Spec):
    """`training.lora`: low-rank adapters (Hu et al. 2021) on Linear layers of a `dit` backbone; the backbone's
    own weights stay frozen and only the adapters train. An audiodiff extension: stable-audio-tools has no such
    key and would train every weight (`rules/upstream.py` says so under `--target stable-audio-tools`).

    `target_modules` are glob patterns over the DiT's Linear layers, named as in its state dict below the backbone
    (`transformer.layers.0.self_attn.to_qkv`); a pattern also matches at any dot boundary, so `self_attn.to_qkv`
    names that layer in every block (`schema/lora_sites.py`)."""

    rank: Annotated[int, Strict(), Gt(0), Le(MAX_LORA_RANK)]
    alpha: PositiveFloat | None = None  # the update is scaled by alpha / rank; None: alpha = rank (scale 1)
    dropout: UnitInterval = 0.0  # dropout on the adapter's input only
    target_modules: Annotated[tuple[NonEmptyStr, ...], Strict(False), Field(min_length=1)]

    @property
    def scale(self) -> float:
        return (self.alpha if self.alpha is not None else float(self.rank)) / self.rank


class DiffusionTrainingSpec(Spec):
    """`training` of diffusion models (`diffusion_cond`, `diffusion_cond_inpaint`, `diffusion_uncond`)."""

    learning_rate: PositiveFloat | None = None
    optimizer_configs: OptimizerConfigs | None = None
    use_ema: Bool = True
    log_loss_info: Bool = False
    pre_encoded: Bool = False
    cfg_dropout_prob: Probability = 0.1
    timestep_sampler: Literal["uniform", "logit_normal", "trunc_logit_normal", "log_snr"] = "uniform"
    timestep_sampler_options: TimestepSamplerOptionsSpec = Field(default_factory=TimestepSamplerOptionsSpec)
    mask_padding: Bool = False
    mask_padding_dropout: Probability = 0.0
    p_one_shot: Probability = 0.0
    inpainting: InpaintingSpec | None = None
    arc: ArcSpec | None = None
    clip_grad_norm: NonNegativeFloat = 0.0
    trim_config: dict[Str, JsonValue] | None = None
    loss_configs: dict[Str, JsonValue] | None = None  # read by nobody for diffusion (C67): a warning
    demo: DemoSpec = Field(default_factory=DemoSpec)
    lora: LoraSpec | None = None  # audiodiff extension: train low-rank adapters of the DiT instead of its weights


# --- autoencoder training -----------------------------------------------------------------------------------------


class AutoencoderDemoSpec(Spec):
    demo_every: PositiveInt = 2000


class AutoencoderTrainingSpec(Spec):
    learning_rate: PositiveFloat | None = None
    warmup_steps: NonNegativeInt = 0
    warmup_mode: Literal["adv", "full"] = "adv"
    encoder_freeze_on_warmup: Bool = False
    loss_configs: LossConfigsSpec | None = None  # None: `default_loss_configs()`
    eval_loss_configs: EvalLossConfigsSpec | None = None
    optimizer_configs: OptimizerConfigs | None = None
    use_ema: Bool = False
    force_input_mono: Bool = False
    latent_mask_ratio: Probability = 0.0
    teacher_model: dict[Str, JsonValue] | None = None
    teacher_model_ckpt: NonEmptyStr | None = None
    clip_grad_norm: NonNegativeFloat = 0.0
    demo: AutoencoderDemoSpec = Field(default_factory=AutoencoderDemoSpec)
