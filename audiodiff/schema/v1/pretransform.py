"""Autoencoders and pretransforms: encoder, decoder and bottleneck configs, and `model.pretransform` (spec §2.4, §4).

An autoencoder's `latent_dim`, `downsampling_ratio` and `io_channels` are declarations that upstream never checks
against what the encoder and decoder really build; the rules and graph checks compare them (C8-C11).
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from audiodiff.diagnostics import codes
from audiodiff.schema.findings import Finding
from audiodiff.schema.v1.base import (
    Bool,
    Float,
    NonNegativeInt,
    NonNegativeRepeatCount,
    PositiveFloat,
    PositiveInt,
    PositiveIntTuple,
    Probability,
    RepeatCount,
    RepeatCountTuple,
    Spec,
    Str,
)

# --- encoders and decoders ----------------------------------------------------------------------------------------


class StageSpec(Spec):
    """An encoder or decoder config. Each names, once, the keys its geometry is read from: the factors it resamples
    by (`ratio`), and the channels it reads and writes."""

    ratio_key: ClassVar[str] = "strides"
    input_key: ClassVar[str] = "in_channels"
    output_key: ClassVar[str] = "latent_dim"

    @property
    def ratio(self) -> int:
        return _product(getattr(self, self.ratio_key))

    @property
    def input_channels(self) -> int:
        return getattr(self, self.input_key)

    @property
    def output_channels(self) -> int:
        return getattr(self, self.output_key)

    def level_geometry(self) -> list[tuple[int, int]] | None:
        """(channels, downsampling factor so far) of each level, for activation estimates; None when unknown."""
        return None

    def setting_findings(self) -> list[Finding]:
        """Problems of its own settings, pointers relative to the stage's `config` object."""
        return []


def _cumulative(factors: tuple[int, ...]) -> list[int]:
    products = [1]
    for factor in factors:
        products.append(products[-1] * factor)
    return products


def _multiplier_levels(channels: int, c_mults: tuple[int, ...], strides: tuple[int, ...]) -> list[tuple[int, int]]:
    """Levels of `channels` x each of `c_mults`, one stride each (Oobleck and TAAE stages)."""
    widths = [channels * m for m in (1, *c_mults)]
    return list(zip(widths, _cumulative(strides[: len(c_mults)]), strict=False))


class _OobleckStage(StageSpec):
    channels: PositiveInt = 128
    latent_dim: PositiveInt = 32  # the encoder's OUTPUT width (2 x latent for a VAE), the decoder's INPUT width
    c_mults: PositiveIntTuple = (1, 2, 4, 8)
    strides: PositiveIntTuple = (2, 4, 8, 8)
    use_snake: Bool = False
    antialias_activation: Bool = False

    @property
    def ratio(self) -> int:
        return _product(self.strides[: len(self.c_mults)])  # strides beyond the channel levels go unused

    def level_geometry(self) -> list[tuple[int, int]] | None:
        return _multiplier_levels(self.channels, self.c_mults, self.strides)


class OobleckEncoderSpec(_OobleckStage):
    in_channels: PositiveInt = 2


class OobleckDecoderSpec(_OobleckStage):
    input_key: ClassVar[str] = "latent_dim"
    output_key: ClassVar[str] = "out_channels"

    out_channels: PositiveInt = 2
    use_nearest_upsample: Bool = False
    final_tanh: Bool = True


class DACEncoderSpec(StageSpec):
    in_channels: PositiveInt = 1
    d_model: PositiveInt = 64
    strides: PositiveIntTuple = (2, 4, 8, 8)
    latent_dim: PositiveInt | None = None  # a 1x1 projection of the DAC output when given

    @property
    def output_channels(self) -> int:
        return self.latent_dim if self.latent_dim is not None else self.d_model * 2 ** len(self.strides)

    def level_geometry(self) -> list[tuple[int, int]] | None:
        return [(self.d_model * 2**i, factor) for i, factor in enumerate(_cumulative(self.strides))]


class DACDecoderSpec(StageSpec):
    ratio_key: ClassVar[str] = "rates"
    input_key: ClassVar[str] = "latent_dim"
    output_key: ClassVar[str] = "out_channels"

    latent_dim: PositiveInt
    out_channels: PositiveInt = 1
    channels: PositiveInt = 1536
    rates: PositiveIntTuple = (8, 8, 4, 2)

    def level_geometry(self) -> list[tuple[int, int]] | None:
        # channels halve while the rates upsample, read from the latent side
        total = _product(self.rates)
        levels, factor = [(self.channels, total)], total
        for i, rate in enumerate(self.rates):
            factor //= rate
            levels.append((self.channels // 2 ** (i + 1), factor))
        return levels


class SEANetActivationParams(Spec):
    alpha: Float = 1.0


class SEANetEncoderSpec(StageSpec):
    """EnCodec's SEANet encoder. Upstream reverses `ratios` before building (and mutates the caller's dict, C12);
    without `ratios` its factory uses five factors of 2, unlike the decoder's default."""

    ratio_key: ClassVar[str] = "ratios"
    input_key: ClassVar[str] = "channels"
    output_key: ClassVar[str] = "dimension"

    channels: PositiveInt = 1
    dimension: PositiveInt = 128
    n_filters: PositiveInt = 32
    n_residual_layers: RepeatCount = 1
    ratios: PositiveIntTuple = (2, 2, 2, 2, 2)
    activation: Literal["ELU", "ReLU", "GELU", "SiLU", "Tanh", "LeakyReLU"] = "ELU"
    activation_params: SEANetActivationParams = Field(default_factory=SEANetActivationParams)
    norm: Literal["none", "weight_norm", "time_group_norm"] = "weight_norm"
    kernel_size: PositiveInt = 7
    last_kernel_size: PositiveInt = 7
    residual_kernel_size: PositiveInt = 3
    dilation_base: PositiveInt = 2
    causal: Bool = False
    pad_mode: Literal["reflect", "constant", "replicate", "circular"] = "reflect"
    true_skip: Bool = False
    compress: PositiveInt = 2
    lstm: NonNegativeRepeatCount = 2

    def level_geometry(self) -> list[tuple[int, int]] | None:
        return [(self.n_filters * 2**i, factor) for i, factor in enumerate(_cumulative(self.ratios))]


class SEANetDecoderSpec(SEANetEncoderSpec):
    input_key: ClassVar[str] = "dimension"
    output_key: ClassVar[str] = "channels"

    ratios: PositiveIntTuple = (8, 5, 4, 2)
    final_activation: Literal["Tanh", "ELU", "ReLU", "Sigmoid"] | None = None
    trim_right_ratio: Probability = 1.0


class LocalAttentionEncoderSpec(StageSpec):
    ratio_key: ClassVar[str] = "ratios"
    output_key: ClassVar[str] = "out_channels"

    in_channels: PositiveInt
    out_channels: PositiveInt
    embed_dims: PositiveIntTuple = (96, 192, 384, 768)
    heads: PositiveIntTuple = (12, 12, 12, 12)
    depths: RepeatCountTuple = (3, 3, 3, 3)
    ratios: PositiveIntTuple = (2, 2, 2, 2)
    local_attn_window_size: PositiveInt = 64


class LocalAttentionDecoderSpec(LocalAttentionEncoderSpec):
    embed_dims: PositiveIntTuple = (768, 384, 192, 96)


class _TAAEStage(StageSpec):
    channels: PositiveInt = 128
    latent_dim: PositiveInt = 32
    c_mults: PositiveIntTuple = (1, 2, 4, 8)
    strides: PositiveIntTuple = (2, 4, 8, 8)
    transformer_depths: RepeatCountTuple = (3, 3, 3, 3)
    use_snake: Bool = False
    sliding_window: PositiveIntTuple = (63, 64)
    checkpointing: Bool = False
    conformer: Bool = False
    layer_scale: Bool = True
    use_dilated_conv: Bool = False

    def level_geometry(self) -> list[tuple[int, int]] | None:
        return _multiplier_levels(self.channels, self.c_mults, self.strides)


class TAAEEncoderSpec(_TAAEStage):
    in_channels: PositiveInt = 2


class TAAEDecoderSpec(_TAAEStage):
    input_key: ClassVar[str] = "latent_dim"
    output_key: ClassVar[str] = "out_channels"

    out_channels: PositiveInt = 2

    def setting_findings(self) -> list[Finding]:
        if not self.use_snake or len(set(self.c_mults)) <= 1:
            return []
        # the decoder's snake sits after the transformers but is sized for the level's output width: the layout
        # (which checkpoints carry) mismatches the features wherever a level changes width, in both runtimes
        return [
            Finding(
                codes.TAAE_SNAKE_WIDTHS,
                "a `taae` decoder with `use_snake` applies each level's snake to the level's input width but sizes "
                f"it for the output width: with `c_mults` {list(self.c_mults)} the widths differ and decoding fails",
                "/use_snake",
                help="turn `use_snake` off, or use one `c_mults` value for every level",
            )
        ]


# One class per encoder and decoder type: `{type, config, requires_grad}`, and on decoders `soft_clip`, which
# upstream reads there (C19).


class OobleckEncoderStage(Spec):
    """`oobleck` encoder."""

    type: Literal["oobleck"]
    config: OobleckEncoderSpec
    requires_grad: Bool = True


class DACEncoderStage(Spec):
    """`dac` encoder."""

    type: Literal["dac"]
    config: DACEncoderSpec
    requires_grad: Bool = True


class SEANetEncoderStage(Spec):
    """`seanet` encoder."""

    type: Literal["seanet"]
    config: SEANetEncoderSpec
    requires_grad: Bool = True


class LocalAttentionEncoderStage(Spec):
    """`local_attn` encoder."""

    type: Literal["local_attn"]
    config: LocalAttentionEncoderSpec
    requires_grad: Bool = True


class TAAEEncoderStage(Spec):
    """`taae` encoder."""

    type: Literal["taae"]
    config: TAAEEncoderSpec
    requires_grad: Bool = True


class OobleckDecoderStage(Spec):
    """`oobleck` decoder."""

    type: Literal["oobleck"]
    config: OobleckDecoderSpec
    requires_grad: Bool = True
    soft_clip: Bool = False


class DACDecoderStage(Spec):
    """`dac` decoder."""

    type: Literal["dac"]
    config: DACDecoderSpec
    requires_grad: Bool = True
    soft_clip: Bool = False


class SEANetDecoderStage(Spec):
    """`seanet` decoder."""

    type: Literal["seanet"]
    config: SEANetDecoderSpec
    requires_grad: Bool = True
    soft_clip: Bool = False


class LocalAttentionDecoderStage(Spec):
    """`local_attn` decoder."""

    type: Literal["local_attn"]
    config: LocalAttentionDecoderSpec
    requires_grad: Bool = True
    soft_clip: Bool = False


class TAAEDecoderStage(Spec):
    """`taae` decoder."""

    type: Literal["taae"]
    config: TAAEDecoderSpec
    requires_grad: Bool = True
    soft_clip: Bool = False


EncoderStage = Annotated[
    (OobleckEncoderStage | DACEncoderStage | SEANetEncoderStage | LocalAttentionEncoderStage | TAAEEncoderStage),
    Field(discriminator="type"),
]
DecoderStage = Annotated[
    (OobleckDecoderStage | DACDecoderStage | SEANetDecoderStage | LocalAttentionDecoderStage | TAAEDecoderStage),
    Field(discriminator="type"),
]

# --- bottlenecks --------------------------------------------------------------------------------------------------


class TanhConfig(Spec):
    scale: PositiveFloat = 1.0


class EmptyConfig(Spec):
    """A `config` that takes no keys."""


class ResidualVQConfig(Spec):
    """vector-quantize-pytorch `ResidualVQ` arguments with the upstream defaults (spec §4.3)."""

    dim: PositiveInt = 128
    codebook_size: PositiveInt = 1024
    num_quantizers: PositiveInt = 8
    decay: Probability = 0.99
    kmeans_init: Bool = True
    kmeans_iters: PositiveInt = 50
    threshold_ema_dead_code: NonNegativeInt = 2
    codebook_dim: PositiveInt | None = None
    shared_codebook: Bool = False
    quantize_dropout: Bool = False
    commitment_weight: Float = 1.0


class DACRVQConfig(Spec):
    """DAC `ResidualVectorQuantize` arguments; `n_codebooks` and `codebook_size` must be explicit (C18)."""

    input_dim: PositiveInt = 512
    n_codebooks: PositiveInt
    codebook_size: PositiveInt
    codebook_dim: PositiveInt = 8
    quantizer_dropout: Probability = 0.0
    quantize_on_decode: Bool = False
    noise_augment_dim: NonNegativeInt = 0


class DACRVQVAEConfig(Spec):
    input_dim: PositiveInt = 512
    n_codebooks: PositiveInt
    codebook_size: PositiveInt
    codebook_dim: PositiveInt = 8
    quantizer_dropout: Probability = 0.0
    quantize_on_decode: Bool = False


class WassersteinConfig(Spec):
    noise_augment_dim: NonNegativeInt = 0
    bypass_mmd: Bool = False
    use_tanh: Bool = False
    tanh_scale: PositiveFloat = 5.0


class FSQConfig(Spec):
    levels: PositiveIntTuple
    dim: PositiveInt | None = None
    num_codebooks: PositiveInt = 1
    keep_num_codebooks_dim: Bool | None = None
    noise_augment_dim: NonNegativeInt = 0


class DitheredFSQConfig(Spec):
    dim: PositiveInt
    levels: PositiveInt | PositiveIntTuple
    num_codebooks: PositiveInt = 1
    dither_inference: Bool = True
    noise_dropout: Probability = 0.05


# One class per bottleneck type: `{type, config, requires_grad}`; `config` may be left out where every key has a
# default.


class _Bottleneck(Spec):
    """What every bottleneck says about itself; one subclass per type tag below."""

    halves: ClassVar[bool] = False  # splits its input into mean and scale halves (C10)
    loss_terms: ClassVar[frozenset[str]] = frozenset()  # the `loss_configs.bottleneck` weights it produces a term for

    def quantizer_width(self) -> tuple[int, str] | None:
        """(the width its quantizer reads, the config key that sets it), or None for a continuous bottleneck (C18)."""
        return None

    def setting_findings(self) -> list[Finding]:
        """Problems of its own settings, pointers relative to the bottleneck object."""
        return []


class TanhBottleneck(_Bottleneck):
    """`tanh` bottleneck."""

    type: Literal["tanh"]
    config: TanhConfig = Field(default_factory=TanhConfig)
    requires_grad: Bool = True


class VAEBottleneck(_Bottleneck):
    """`vae` bottleneck."""

    halves: ClassVar[bool] = True
    loss_terms: ClassVar[frozenset[str]] = frozenset({"kl"})  # its mean/scale split gives a KL term

    type: Literal["vae"]
    config: EmptyConfig = Field(default_factory=EmptyConfig)
    requires_grad: Bool = True


class L2NormBottleneck(_Bottleneck):
    """`l2_norm` bottleneck."""

    type: Literal["l2_norm"]
    config: EmptyConfig = Field(default_factory=EmptyConfig)
    requires_grad: Bool = True


class RVQBottleneck(_Bottleneck):
    """`rvq` bottleneck."""

    type: Literal["rvq"]
    config: ResidualVQConfig
    requires_grad: Bool = True

    def quantizer_width(self) -> tuple[int, str] | None:
        return self.config.dim, "dim"


class RVQVAEBottleneck(_Bottleneck):
    """`rvq_vae` bottleneck."""

    halves: ClassVar[bool] = True
    loss_terms: ClassVar[frozenset[str]] = frozenset({"kl"})  # its mean/scale split gives a KL term

    type: Literal["rvq_vae"]
    config: ResidualVQConfig
    requires_grad: Bool = True

    def quantizer_width(self) -> tuple[int, str] | None:
        return self.config.dim, "dim"


class DACRVQBottleneck(_Bottleneck):
    """`dac_rvq` bottleneck."""

    type: Literal["dac_rvq"]
    config: DACRVQConfig
    requires_grad: Bool = True

    def quantizer_width(self) -> tuple[int, str] | None:
        return self.config.input_dim, "input_dim"


class DACRVQVAEBottleneck(_Bottleneck):
    """`dac_rvq_vae` bottleneck."""

    halves: ClassVar[bool] = True
    loss_terms: ClassVar[frozenset[str]] = frozenset({"kl"})  # its mean/scale split gives a KL term

    type: Literal["dac_rvq_vae"]
    config: DACRVQVAEConfig
    requires_grad: Bool = True

    def quantizer_width(self) -> tuple[int, str] | None:
        return self.config.input_dim, "input_dim"


class WassersteinBottleneck(_Bottleneck):
    """`wasserstein` bottleneck."""

    loss_terms: ClassVar[frozenset[str]] = frozenset({"mmd"})

    type: Literal["wasserstein"]
    config: WassersteinConfig = Field(default_factory=WassersteinConfig)
    requires_grad: Bool = True


class FSQBottleneck(_Bottleneck):
    """`fsq` bottleneck."""

    type: Literal["fsq"]
    config: FSQConfig
    requires_grad: Bool = True

    def quantizer_width(self) -> tuple[int, str] | None:
        if self.config.dim is None:  # FSQ then reads one channel per level
            return len(self.config.levels) * self.config.num_codebooks, "levels"
        return self.config.dim, "dim"

    def setting_findings(self) -> list[Finding]:
        if self.config.num_codebooks != 1:
            return []
        # vector-quantize-pytorch drops the codebook axis of the indices for one codebook, and upstream's
        # bottleneck then rearranges them as if it were there: every encode fails (audiodiff keeps the axis)
        return [
            Finding(
                codes.FSQ_SINGLE_CODEBOOK,
                "with one codebook, upstream's `fsq` bottleneck fails at every encode (its token indices lack the "
                "codebook axis it rearranges); audiodiff runs it",
                "/config/num_codebooks" if self.config.explicitly_set("num_codebooks") else "/config",
                help="for a model the reference must also run, use `num_codebooks` of 2 or more",
            )
        ]


class DitheredFSQBottleneck(_Bottleneck):
    """`dithered_fsq` bottleneck."""

    type: Literal["dithered_fsq"]
    config: DitheredFSQConfig
    requires_grad: Bool = True

    def quantizer_width(self) -> tuple[int, str] | None:
        return self.config.dim, "dim"


Bottleneck = Annotated[
    (
        TanhBottleneck
        | VAEBottleneck
        | L2NormBottleneck
        | RVQBottleneck
        | RVQVAEBottleneck
        | DACRVQBottleneck
        | DACRVQVAEBottleneck
        | WassersteinBottleneck
        | FSQBottleneck
        | DitheredFSQBottleneck
    ),
    Field(discriminator="type"),
]

# --- the autoencoder model and pretransforms ----------------------------------------------------------------------


class AutoencoderModelSpec(Spec):
    """`model` of `model_type: autoencoder`, and `config` of an `autoencoder` pretransform."""

    encoder: EncoderStage
    decoder: DecoderStage
    bottleneck: Bottleneck | None = None
    latent_dim: PositiveInt
    downsampling_ratio: PositiveInt
    io_channels: PositiveInt
    in_channels: PositiveInt | None = None
    out_channels: PositiveInt | None = None
    pretransform: PretransformSpec | None = None

    @property
    def audio_channels(self) -> int:
        """Audio channels the encoder reads (`in_channels` when given, else `io_channels`)."""
        return self.in_channels if self.in_channels is not None else self.io_channels


class _Pretransform(Spec):
    """What every pretransform says about itself; one subclass per type tag below. Rules, the compiler and `run` ask
    these instead of switching on `type`."""

    nestable: ClassVar[bool] = True  # may sit inside an autoencoder (between the audio and its encoder)
    weights_from_checkpoint: ClassVar[bool] = False  # its trained weights come from `--pretransform-ckpt`
    latent_key: ClassVar[str] = "/config"  # where its latent width is set, relative to the pretransform object

    @property
    def ratio(self) -> int | None:
        """Declared downsampling ratio: the factor between audio length and latent length (None when unknown)."""
        return None

    @property
    def latent_channels(self) -> int | None:
        """Channels of the latents it produces (its `encoded_channels`; None when unknown)."""
        return None

    @property
    def io_channels(self) -> int | None:
        """Audio channels it consumes (None when unknown)."""
        return None

    def as_autoencoder(self) -> AutoencoderPretransformSpec | None:
        """This pretransform when it is a trained autoencoder, else None."""
        return None

    def setting_findings(self) -> list[Finding]:
        """Problems of its own settings, pointers relative to the pretransform object (C14, C15)."""
        return []


class AutoencoderPretransformSpec(_Pretransform):
    weights_from_checkpoint: ClassVar[bool] = True
    latent_key: ClassVar[str] = "/config/latent_dim"

    type: Literal["autoencoder"]
    config: AutoencoderModelSpec
    scale: PositiveFloat = 1.0
    model_half: Bool = False
    iterate_batch: Bool = False
    chunked: Bool = False
    enable_grad: Bool = False

    @property
    def ratio(self) -> int | None:
        return self.config.downsampling_ratio

    @property
    def latent_channels(self) -> int | None:
        return self.config.latent_dim

    @property
    def io_channels(self) -> int | None:
        return self.config.audio_channels

    def as_autoencoder(self) -> AutoencoderPretransformSpec | None:
        return self


class WaveletConfig(Spec):
    channels: PositiveInt
    levels: PositiveInt
    wavelet: Literal["bior2.2", "bior2.4", "bior2.6", "bior2.8", "bior4.4", "bior6.8"]


class WaveletPretransformSpec(_Pretransform):
    type: Literal["wavelet"]
    config: WaveletConfig
    enable_grad: Bool = False

    @property
    def ratio(self) -> int | None:
        return 2**self.config.levels

    @property
    def latent_channels(self) -> int | None:
        return self.config.channels * 2**self.config.levels

    @property
    def io_channels(self) -> int | None:
        return self.config.channels


class PQMFConfig(Spec):
    attenuation: PositiveInt = 100
    num_bands: PositiveInt = 16
    channels: PositiveInt = 1


class PQMFPretransformSpec(_Pretransform):
    nestable: ClassVar[bool] = False

    type: Literal["pqmf"]
    config: PQMFConfig = Field(default_factory=PQMFConfig)
    enable_grad: Bool = False

    @property
    def io_channels(self) -> int | None:
        return self.config.channels

    def setting_findings(self) -> list[Finding]:
        return [
            Finding(
                codes.PRETRANSFORM_UNUSABLE,
                "the `pqmf` pretransform reports no downsampling ratio or latent width, so no diffusion model can "
                "use it",
                "/type",
            )
        ]


class DACPretrainedConfig(Spec):
    model_type: Literal["44khz", "24khz", "16khz"] = "44khz"
    model_bitrate: Literal["8kbps", "16kbps"] = "8kbps"
    scale: PositiveFloat = 1.0
    quantize_on_decode: Bool = True
    chunked: Bool = True


class DACPretrainedPretransformSpec(_Pretransform):
    nestable: ClassVar[bool] = False

    type: Literal["dac_pretrained"]
    config: DACPretrainedConfig = Field(default_factory=DACPretrainedConfig)
    enable_grad: Bool = False

    @property
    def ratio(self) -> int | None:
        return 512 if self.config.model_type == "44khz" else 320

    @property
    def latent_channels(self) -> int | None:
        return 1024

    @property
    def io_channels(self) -> int | None:
        return 1


class AudiocraftPretrainedConfig(Spec):
    model_type: Str = "facebook/encodec_32khz"
    scale: PositiveFloat = 1.0
    quantize_on_decode: Bool = True


class AudiocraftPretrainedPretransformSpec(_Pretransform):
    nestable: ClassVar[bool] = False

    type: Literal["audiocraft_pretrained"]
    config: AudiocraftPretrainedConfig = Field(default_factory=AudiocraftPretrainedConfig)
    enable_grad: Bool = False

    def setting_findings(self) -> list[Finding]:
        return [
            Finding(
                codes.PRETRANSFORM_UNUSABLE,
                "the `audiocraft_pretrained` pretransform only tokenizes; it cannot encode or decode continuous "
                "latents",
                "/type",
            )
        ]


class PatchedConfig(Spec):
    channels: PositiveInt
    patch_size: PositiveInt
    oversampling: PositiveInt = 1


class PatchedPretransformSpec(_Pretransform):
    type: Literal["patched"]
    config: PatchedConfig
    enable_grad: Bool = False

    @property
    def ratio(self) -> int | None:
        return self.config.patch_size

    @property
    def latent_channels(self) -> int | None:
        return self.config.channels * self.config.patch_size

    @property
    def io_channels(self) -> int | None:
        return self.config.channels

    def setting_findings(self) -> list[Finding]:
        if self.config.oversampling <= 1:
            return []
        return [
            Finding(
                codes.PATCHED_OVERSAMPLING,
                "`oversampling` > 1 makes the latents longer than `downsampling_ratio` (= `patch_size`) reports",
                "/config/oversampling",
            )
        ]


PretransformSpec = Annotated[
    (
        AutoencoderPretransformSpec
        | WaveletPretransformSpec
        | PQMFPretransformSpec
        | DACPretrainedPretransformSpec
        | AudiocraftPretrainedPretransformSpec
        | PatchedPretransformSpec
    ),
    Field(discriminator="type"),
]

AutoencoderModelSpec.model_rebuild()


def _product(values: tuple[int, ...]) -> int:
    product = 1
    for value in values:
        product *= value
    return product
