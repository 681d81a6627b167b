"""Autoencoders and pretransforms: encoder, decoder and bottleneck configs, and `model.pretransform` (spec §2.4, §4).

An autoencoder's `latent_dim`, `downsampling_ratio` and `io_channels` are declarations that upstream never checks
against what the encoder and decoder really build; the rules and graph checks compare them (C8-C11).
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal, Union

from pydantic import Field

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


class DACDecoderSpec(StageSpec):
    ratio_key: ClassVar[str] = "rates"
    input_key: ClassVar[str] = "latent_dim"
    output_key: ClassVar[str] = "out_channels"

    latent_dim: PositiveInt
    out_channels: PositiveInt = 1
    channels: PositiveInt = 1536
    rates: PositiveIntTuple = (8, 8, 4, 2)


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


class TAAEEncoderSpec(_TAAEStage):
    in_channels: PositiveInt = 2


class TAAEDecoderSpec(_TAAEStage):
    input_key: ClassVar[str] = "latent_dim"
    output_key: ClassVar[str] = "out_channels"

    out_channels: PositiveInt = 2


def _stage(tag: str, spec: type[Spec], *, decoder: bool) -> type[Spec]:
    """`{type, config, requires_grad}` (+ `soft_clip` on decoders, which upstream reads there, C19)."""
    fields = {
        "__annotations__": {"type": Literal[tag], "config": spec, "requires_grad": Bool},
        "requires_grad": True,
        "__doc__": f"`{tag}` {'decoder' if decoder else 'encoder'}.",
    }
    if decoder:
        fields["__annotations__"]["soft_clip"] = Bool
        fields["soft_clip"] = False
    kind = "Decoder" if decoder else "Encoder"
    return type(f"{tag.title().replace('_', '')}{kind}StageSpec", (Spec,), fields)


OobleckEncoderStage = _stage("oobleck", OobleckEncoderSpec, decoder=False)
DACEncoderStage = _stage("dac", DACEncoderSpec, decoder=False)
SEANetEncoderStage = _stage("seanet", SEANetEncoderSpec, decoder=False)
LocalAttentionEncoderStage = _stage("local_attn", LocalAttentionEncoderSpec, decoder=False)
TAAEEncoderStage = _stage("taae", TAAEEncoderSpec, decoder=False)
OobleckDecoderStage = _stage("oobleck", OobleckDecoderSpec, decoder=True)
DACDecoderStage = _stage("dac", DACDecoderSpec, decoder=True)
SEANetDecoderStage = _stage("seanet", SEANetDecoderSpec, decoder=True)
LocalAttentionDecoderStage = _stage("local_attn", LocalAttentionDecoderSpec, decoder=True)
TAAEDecoderStage = _stage("taae", TAAEDecoderSpec, decoder=True)

EncoderStage = Annotated[
    Union[OobleckEncoderStage, DACEncoderStage, SEANetEncoderStage, LocalAttentionEncoderStage, TAAEEncoderStage],
    Field(discriminator="type"),
]
DecoderStage = Annotated[
    Union[OobleckDecoderStage, DACDecoderStage, SEANetDecoderStage, LocalAttentionDecoderStage, TAAEDecoderStage],
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


def _bottleneck(tag: str, config: type[Spec], *, config_required: bool) -> type[Spec]:
    annotations = {"type": Literal[tag], "config": config, "requires_grad": Bool}
    fields: dict = {"__annotations__": annotations, "requires_grad": True, "__doc__": f"`{tag}` bottleneck."}
    if not config_required:
        fields["config"] = Field(default_factory=config)
    return type(f"{tag.title().replace('_', '')}BottleneckSpec", (Spec,), fields)


TanhBottleneck = _bottleneck("tanh", TanhConfig, config_required=False)
VAEBottleneck = _bottleneck("vae", EmptyConfig, config_required=False)
L2NormBottleneck = _bottleneck("l2_norm", EmptyConfig, config_required=False)
RVQBottleneck = _bottleneck("rvq", ResidualVQConfig, config_required=True)
RVQVAEBottleneck = _bottleneck("rvq_vae", ResidualVQConfig, config_required=True)
DACRVQBottleneck = _bottleneck("dac_rvq", DACRVQConfig, config_required=True)
DACRVQVAEBottleneck = _bottleneck("dac_rvq_vae", DACRVQVAEConfig, config_required=True)
WassersteinBottleneck = _bottleneck("wasserstein", WassersteinConfig, config_required=False)
FSQBottleneck = _bottleneck("fsq", FSQConfig, config_required=True)
DitheredFSQBottleneck = _bottleneck("dithered_fsq", DitheredFSQConfig, config_required=True)

Bottleneck = Annotated[
    Union[
        TanhBottleneck,
        VAEBottleneck,
        L2NormBottleneck,
        RVQBottleneck,
        RVQVAEBottleneck,
        DACRVQBottleneck,
        DACRVQVAEBottleneck,
        WassersteinBottleneck,
        FSQBottleneck,
        DitheredFSQBottleneck,
    ],
    Field(discriminator="type"),
]

# Bottlenecks that split their input into mean and scale halves (C10).
HALVING_BOTTLENECKS = frozenset({"vae", "rvq_vae", "dac_rvq_vae"})
DISCRETE_BOTTLENECKS = frozenset({"rvq", "rvq_vae", "dac_rvq", "dac_rvq_vae", "fsq", "dithered_fsq"})

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
    pretransform: "PretransformSpec | None" = None


class AutoencoderPretransformSpec(Spec):
    type: Literal["autoencoder"]
    config: AutoencoderModelSpec
    scale: PositiveFloat = 1.0
    model_half: Bool = False
    iterate_batch: Bool = False
    chunked: Bool = False
    enable_grad: Bool = False


class WaveletConfig(Spec):
    channels: PositiveInt
    levels: PositiveInt
    wavelet: Literal["bior2.2", "bior2.4", "bior2.6", "bior2.8", "bior4.4", "bior6.8"]


class WaveletPretransformSpec(Spec):
    type: Literal["wavelet"]
    config: WaveletConfig
    enable_grad: Bool = False


class PQMFConfig(Spec):
    attenuation: PositiveInt = 100
    num_bands: PositiveInt = 16
    channels: PositiveInt = 1


class PQMFPretransformSpec(Spec):
    type: Literal["pqmf"]
    config: PQMFConfig = Field(default_factory=PQMFConfig)
    enable_grad: Bool = False


class DACPretrainedConfig(Spec):
    model_type: Literal["44khz", "24khz", "16khz"] = "44khz"
    model_bitrate: Literal["8kbps", "16kbps"] = "8kbps"
    scale: PositiveFloat = 1.0
    quantize_on_decode: Bool = True
    chunked: Bool = True


class DACPretrainedPretransformSpec(Spec):
    type: Literal["dac_pretrained"]
    config: DACPretrainedConfig = Field(default_factory=DACPretrainedConfig)
    enable_grad: Bool = False


class AudiocraftPretrainedConfig(Spec):
    model_type: Str = "facebook/encodec_32khz"
    scale: PositiveFloat = 1.0
    quantize_on_decode: Bool = True


class AudiocraftPretrainedPretransformSpec(Spec):
    type: Literal["audiocraft_pretrained"]
    config: AudiocraftPretrainedConfig = Field(default_factory=AudiocraftPretrainedConfig)
    enable_grad: Bool = False


class PatchedConfig(Spec):
    channels: PositiveInt
    patch_size: PositiveInt
    oversampling: PositiveInt = 1


class PatchedPretransformSpec(Spec):
    type: Literal["patched"]
    config: PatchedConfig
    enable_grad: Bool = False


PretransformSpec = Annotated[
    Union[
        AutoencoderPretransformSpec,
        WaveletPretransformSpec,
        PQMFPretransformSpec,
        DACPretrainedPretransformSpec,
        AudiocraftPretrainedPretransformSpec,
        PatchedPretransformSpec,
    ],
    Field(discriminator="type"),
]

AutoencoderModelSpec.model_rebuild()


def _product(values: tuple[int, ...]) -> int:
    product = 1
    for value in values:
        product *= value
    return product

