"""`training.loss_configs` and `training.eval_loss_configs` of autoencoder training (spec §5.1, the reference's
`AutoencoderTrainingWrapper`).

Every entry is typed: discriminators are a closed union over `encodec`, `oobleck`, `dac` (and `big_vgan`, which
audiodiff validates but does not build); the spectral loss is `mrstft`; `time` weighs the L1 and L2 distances;
`bottleneck` weighs the KL (VAE bottlenecks) and MMD (Wasserstein) terms. Keys a loss does not take are errors
here, where the reference raises `TypeError` when it builds the loss.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, Strict

from audiodiff.schema.v1.base import (
    Bool,
    Float,
    JsonValue,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    PositiveIntTuple,
    Spec,
    Str,
)

# the reference's default resolutions: windows 2048 .. 32 with 75 % overlap
DEFAULT_SCALES = (2048, 1024, 512, 256, 128, 64, 32)
DEFAULT_HOPS = tuple(scale // 4 for scale in DEFAULT_SCALES)

Window = Literal["hann_window", "hamming_window", "blackman_window", "bartlett_window", "kaiser_window"]
IntPair = Annotated[tuple[PositiveInt, PositiveInt], Strict(False)]

# --- discriminators ------------------------------------------------------------------------------------------------


DEFAULT_ADVERSARIAL = 0.1
DEFAULT_FEATURE_MATCHING = 5.0
DEFAULT_MRSTFT = 1.0


class AdversarialWeightsSpec(Spec):
    """The generator's weights on the adversarial and feature-matching losses. Upstream indexes both (a rule reports
    an absent one, AD509); audiodiff falls back to upstream's default values."""

    adversarial: Float | None = None  # None: 0.1
    feature_matching: Float | None = None  # None: 5.0


class LeakyReLUParams(Spec):
    negative_slope: Float = 0.2


class EncodecDiscriminatorConfig(Spec):
    """Multi-scale STFT discriminator; its input channels are the autoencoder's output channels (not a key)."""

    filters: PositiveInt
    n_ffts: PositiveIntTuple = (1024, 2048, 512)
    hop_lengths: PositiveIntTuple = (256, 512, 128)
    win_lengths: PositiveIntTuple = (1024, 2048, 512)
    out_channels: PositiveInt = 1
    max_filters: PositiveInt = 1024
    filters_scale: Literal[1] = 1  # upstream sizes the second layer as if the first grew too: any other value fails
    kernel_size: IntPair = (3, 9)
    dilations: PositiveIntTuple = (1, 2, 4)
    stride: IntPair = (1, 1)
    normalized: Literal[True] = True
    activation: Literal["LeakyReLU"] = "LeakyReLU"
    activation_params: LeakyReLUParams = Field(default_factory=LeakyReLUParams)
    spec_scale_pow: Float = 0.0
    normalize_losses: Bool = False
    loss_type: Literal["hinge"] = "hinge"  # upstream's `rpgan` calls a function it does not define


class OobleckDiscriminatorConfig(Spec):
    in_channels: PositiveInt = 1  # upstream does not set it from the model: stereo needs `in_channels: 2`


BandEdges = Annotated[tuple[Annotated[tuple[Float, Float], Strict(False)], ...], Strict(False)]


class DACDiscriminatorConfig(Spec):
    """Periods, scale rates and STFT sizes of the DAC discriminator; channels and sample rate come from the model."""

    periods: PositiveIntTuple = (2, 3, 5, 7, 11)
    # upstream's multi-scale sub-discriminators call a name their module never imports: only none works
    rates: Annotated[tuple[()], Strict(False)] = ()
    fft_sizes: PositiveIntTuple = (2048, 1024, 512)
    bands: BandEdges = ((0.0, 0.1), (0.1, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1.0))
    use_hinge: Bool = False


class EncodecDiscriminatorSpec(Spec):
    type: Literal["encodec"]
    config: EncodecDiscriminatorConfig
    weights: AdversarialWeightsSpec = Field(default_factory=AdversarialWeightsSpec)


class OobleckDiscriminatorSpec(Spec):
    type: Literal["oobleck"]
    config: OobleckDiscriminatorConfig = Field(default_factory=OobleckDiscriminatorConfig)
    weights: AdversarialWeightsSpec = Field(default_factory=AdversarialWeightsSpec)


class DACDiscriminatorSpec(Spec):
    type: Literal["dac"]
    config: DACDiscriminatorConfig = Field(default_factory=DACDiscriminatorConfig)
    weights: AdversarialWeightsSpec = Field(default_factory=AdversarialWeightsSpec)


class BigVGANDiscriminatorSpec(Spec):
    """Validated, not built: its CQT sub-discriminators need packages audiodiff does not depend on."""

    type: Literal["big_vgan"]
    config: dict[Str, JsonValue] = Field(default_factory=dict)
    weights: AdversarialWeightsSpec = Field(default_factory=AdversarialWeightsSpec)


DiscriminatorSpec = Annotated[
    EncodecDiscriminatorSpec | OobleckDiscriminatorSpec | DACDiscriminatorSpec | BigVGANDiscriminatorSpec,
    Field(discriminator="type"),
]

# --- reconstruction losses ------------------------------------------------------------------------------------------


class STFTOptions(Spec):
    """Options shared by one STFT distance and the multi-resolution one."""

    window: Window = "hann_window"
    w_sc: Float = 1.0
    w_log_mag: Float = 1.0
    w_lin_mag: Float = 0.0
    w_phs: Float = 0.0
    perceptual_weighting: Bool = False
    scale_invariance: Literal[False] = False  # upstream's rescaling broadcasts wrongly and fails on any batch
    eps: PositiveFloat = 1e-8
    log_eps: NonNegativeFloat = 0.0
    log_fac: PositiveFloat = 1.0
    mag_distance: Literal["L1", "L2"] = "L1"
    reduction: Literal["mean"] = "mean"
    scale: Literal["mel", "chroma"] | None = None  # needs librosa's filter banks: validated, not built
    n_bins: PositiveIntTuple | None = None


class MRSTFTConfig(STFTOptions):
    fft_sizes: PositiveIntTuple = (1024, 2048, 512)
    hop_sizes: PositiveIntTuple = (120, 240, 50)
    win_lengths: PositiveIntTuple = (600, 1200, 240)


class MRSTFTWeightsSpec(Spec):
    mrstft: Float | None = None  # None: 1.0 (upstream indexes it: AD509)


class SpectralLossSpec(Spec):
    """Multi-resolution STFT distance: sum-and-difference plus each channel for stereo models, else per channel."""

    type: Literal["mrstft"]
    config: MRSTFTConfig = Field(default_factory=MRSTFTConfig)
    weights: MRSTFTWeightsSpec = Field(default_factory=MRSTFTWeightsSpec)
    decay: Float = 1.0


class TimeWeightsSpec(Spec):
    l1: Float | None = None  # absent or 0: not computed
    l2: Float | None = None


class TimeLossSpec(Spec):
    """Time-domain distances; upstream reads only the weights (the `type` is a label)."""

    type: Str = "l1"
    config: dict[Str, JsonValue] = Field(default_factory=dict)
    weights: TimeWeightsSpec = Field(default_factory=TimeWeightsSpec)
    decay: Float = 1.0


class BottleneckWeightsSpec(Spec):
    kl: Float | None = None  # VAE bottlenecks; 1e-6 when absent
    mmd: Float | None = None  # Wasserstein bottlenecks; 100 when absent


class BottleneckLossSpec(Spec):
    type: Str = "kl"
    config: dict[Str, JsonValue] = Field(default_factory=dict)
    weights: BottleneckWeightsSpec = Field(default_factory=BottleneckWeightsSpec)


class ExternalLossSpec(Spec):
    """`mrmel` and `hubert`: validated, not built (they need audiotools and a HuBERT download)."""

    type: Str | None = None
    config: dict[Str, JsonValue] = Field(default_factory=dict)
    weights: dict[Str, Float] = Field(default_factory=dict)
    decay: Float = 1.0


class LossConfigsSpec(Spec):
    """`training.loss_configs`. Upstream reads `spectral` and `time` whenever the section is given (AD509 reports an
    absent one); audiodiff trains without the absent entry's terms."""

    discriminator: DiscriminatorSpec | None = None
    spectral: SpectralLossSpec | None = None
    time: TimeLossSpec | None = None
    bottleneck: BottleneckLossSpec | None = None
    mrmel: ExternalLossSpec | None = None
    hubert: ExternalLossSpec | None = None


def default_loss_configs() -> LossConfigsSpec:
    """What upstream trains with when `loss_configs` is absent: an `encodec` discriminator (32 filters) at the seven
    default resolutions, A-weighted multi-resolution STFT, time-domain L1 at weight 0."""
    return LossConfigsSpec(
        discriminator=EncodecDiscriminatorSpec(
            type="encodec",
            config=EncodecDiscriminatorConfig(
                filters=32, n_ffts=DEFAULT_SCALES, hop_lengths=DEFAULT_HOPS, win_lengths=DEFAULT_SCALES
            ),
            weights=AdversarialWeightsSpec(adversarial=0.1, feature_matching=5.0),
        ),
        spectral=SpectralLossSpec(
            type="mrstft",
            config=MRSTFTConfig(
                fft_sizes=DEFAULT_SCALES, hop_sizes=DEFAULT_HOPS, win_lengths=DEFAULT_SCALES, perceptual_weighting=True
            ),
            weights=MRSTFTWeightsSpec(mrstft=1.0),
        ),
        time=TimeLossSpec(type="l1", weights=TimeWeightsSpec(l1=0.0)),
    )


# --- evaluation metrics ----------------------------------------------------------------------------------------------


class STFTEvalConfig(STFTOptions):
    fft_size: PositiveInt = 1024
    hop_size: PositiveInt = 256
    win_length: PositiveInt = 1024


class SISDREvalConfig(Spec):
    zero_mean: Bool = True
    eps: PositiveFloat = 1e-8
    reduction: Literal["mean"] = "mean"


class EvalLossConfigsSpec(Spec):
    """`training.eval_loss_configs`: metrics computed on held-back clips (keyword arguments of each metric)."""

    stft: STFTEvalConfig | None = None
    sisdr: SISDREvalConfig | None = None
    mel: dict[Str, JsonValue] | None = None  # validated, not computed (librosa filter banks)
    pesq: dict[Str, JsonValue] | None = None  # validated, not computed (the `pesq` package)
