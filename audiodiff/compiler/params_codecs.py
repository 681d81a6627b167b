"""Analytic parameter counts of autoencoders and pretransforms: Oobleck, DAC, SEANet and TAAE stages, the bottlenecks,
and the pretransform types (spec §4, §8.5). Torch-free; the layer arithmetic is in `param_layers.py`.
"""

from __future__ import annotations

from dataclasses import dataclass

from audiodiff.compiler.param_layers import (
    NONE,
    ParamCount,
    conv,
    embedding,
    linear,
    lstm,
    transformer_block,
    wn_conv,
    wn_conv_transpose,
)
from audiodiff.schema.v1 import pretransform as pre
from audiodiff.schema.v1.backbones import AttentionOptionsSpec, FeedForwardOptionsSpec, NormOptionsSpec
from audiodiff.schema.v1.pretransform import AutoencoderModelSpec, AutoencoderPretransformSpec

# what a codec counter is looked up for: each is a `{type, config}` object of the registry's codec kinds
CodecSpec = pre.PretransformSpec | pre.EncoderStage | pre.DecoderStage | pre.Bottleneck
# the stages whose per-level lists follow `c_mults`
_LevelledStage = pre.OobleckEncoderSpec | pre.OobleckDecoderSpec | pre.TAAEEncoderSpec | pre.TAAEDecoderSpec

ANTIALIAS_FILTER_TAPS = 12  # alias-free-torch Activation1d: persistent up- and down-sampling filters [1, 1, 12]
DILATIONS = (1, 3, 9)  # the three residual units of an Oobleck / DAC block
TAAE_HEAD_WIDTH = 128
# filter length of each biorthogonal wavelet once the reference drops the all-zero first tap
WAVELET_TAPS = {"bior2.2": 5, "bior2.4": 9, "bior2.6": 13, "bior2.8": 17, "bior4.4": 9, "bior6.8": 17}


@dataclass(frozen=True)
class StageCounts:
    """Counts of an autoencoder's encoder, bottleneck and decoder (and of a nested pretransform, e.g. a wavelet).

    `encoder`, `bottleneck`, `decoder` are parameter counts (None: unknown); the `*_count` fields keep the buffers.
    """

    encoder_count: ParamCount | None
    bottleneck_count: ParamCount | None
    decoder_count: ParamCount | None
    pretransform_count: ParamCount | None = NONE

    @property
    def encoder(self) -> int | None:
        return None if self.encoder_count is None else self.encoder_count.params

    @property
    def bottleneck(self) -> int | None:
        return None if self.bottleneck_count is None else self.bottleneck_count.params

    @property
    def decoder(self) -> int | None:
        return None if self.decoder_count is None else self.decoder_count.params

    @property
    def count(self) -> ParamCount | None:
        """The whole autoencoder (None when any part is unknown)."""
        total = NONE
        for part in (self.encoder_count, self.bottleneck_count, self.decoder_count, self.pretransform_count):
            if part is None:
                return None
            total += part
        return total

    @property
    def params(self) -> int | None:
        count = self.count
        return None if count is None else count.params


def autoencoder_params(model: AutoencoderModelSpec) -> StageCounts:
    """Stage counts of an `autoencoder` model (or of the `config` of an `autoencoder` pretransform).

    A stage whose config describes no buildable network (too few strides for its levels, ...) counts as unknown.
    """
    nested = NONE if model.pretransform is None else _or_none("pretransform", model.pretransform)
    bottleneck = NONE if model.bottleneck is None else _or_none("bottleneck", model.bottleneck)
    return StageCounts(_or_none("encoder", model.encoder), bottleneck, _or_none("decoder", model.decoder), nested)


def registered_count(kind: str, spec: CodecSpec) -> ParamCount | None:
    """The count of one spec by its registry entry's counter (None when the entry has none: unsizable types)."""
    from audiodiff.compiler.registry import lookup

    counter = lookup(kind, spec.type).counter
    if counter is None:
        return None
    count = counter(spec)
    assert count is None or isinstance(count, ParamCount)  # codec counters return a count or None (unknown)
    return count


def _or_none(kind: str, spec: CodecSpec) -> ParamCount | None:
    try:
        return registered_count(kind, spec)
    except ValueError:
        return None


# --- pretransforms -------------------------------------------------------------------------------------------------


def pretransform_count(pretransform: pre.PretransformSpec) -> ParamCount | None:
    """State-dict elements under `pretransform.` (None for pretransforms that cannot be sized without weights:
    pqmf, unusable upstream, and the downloaded `dac_pretrained` / `audiocraft_pretrained`)."""
    return registered_count("pretransform", pretransform)


def pretransform_params(pretransform: pre.PretransformSpec) -> int | StageCounts | None:
    """Parameters of a pretransform: one that holds an autoencoder gives its stage counts, the others a number."""
    if isinstance(pretransform, AutoencoderPretransformSpec):
        return autoencoder_params(pretransform.config)
    count = pretransform_count(pretransform)
    return None if count is None else count.params


def count_autoencoder_pretransform(pretransform: pre.AutoencoderPretransformSpec) -> ParamCount | None:
    return autoencoder_params(pretransform.config).count


def count_wavelet_pretransform(pretransform: pre.WaveletPretransformSpec) -> ParamCount:
    """Two persistent `kernel` buffers [2C, C, K]: the analysis and the synthesis bank."""
    config = pretransform.config
    return ParamCount(0, 2 * 2 * config.channels * config.channels * WAVELET_TAPS[config.wavelet])


def count_patched_pretransform(pretransform: pre.PatchedPretransformSpec) -> ParamCount:
    return NONE


# --- encoders and decoders -----------------------------------------------------------------------------------------


def _levels_checked(config: _LevelledStage, per_level: tuple[str, ...]) -> None:
    """Oobleck / TAAE: every per-level list needs an entry for each of the `len(c_mults)` levels."""
    for name in per_level:
        if len(getattr(config, name)) < len(config.c_mults):
            raise ValueError(f"`{name}` needs {len(config.c_mults)} entries, one per `c_mults` level")


def count_oobleck_encoder(stage: pre.OobleckEncoderStage) -> ParamCount:
    _levels_checked(stage.config, ("strides",))
    return _oobleck_encoder(stage.config)


def count_oobleck_decoder(stage: pre.OobleckDecoderStage) -> ParamCount:
    _levels_checked(stage.config, ("strides",))
    return _oobleck_decoder(stage.config)


def count_dac_encoder(stage: pre.DACEncoderStage) -> ParamCount:
    return _dac_encoder(stage.config)


def count_dac_decoder(stage: pre.DACDecoderStage) -> ParamCount:
    return _dac_decoder(stage.config)


def count_seanet_encoder(stage: pre.SEANetEncoderStage) -> ParamCount:
    return _seanet_encoder(stage.config)


def count_seanet_decoder(stage: pre.SEANetDecoderStage) -> ParamCount:
    return _seanet_decoder(stage.config)


def count_taae_encoder(stage: pre.TAAEEncoderStage) -> ParamCount:
    _levels_checked(stage.config, ("strides", "transformer_depths"))
    return _taae(stage.config)


def count_taae_decoder(stage: pre.TAAEDecoderStage) -> ParamCount:
    _levels_checked(stage.config, ("strides", "transformer_depths"))
    return _taae(stage.config)


def _activation(channels: int, *, snake: bool, antialias: bool = False) -> ParamCount:
    """Oobleck `get_activation`: SnakeBeta holds alpha and beta [C]; anti-aliasing adds two filter buffers."""
    count = ParamCount(2 * channels) if snake else NONE
    return count + (ParamCount(0, 2 * ANTIALIAS_FILTER_TAPS) if antialias else NONE)


def _residual_unit(channels: int, snake: bool) -> ParamCount:
    """Oobleck `ResidualUnit`: activation, dilated WN conv k7, activation, WN conv k1 (never anti-aliased)."""
    act = _activation(channels, snake=snake)
    return act * 2 + wn_conv(channels, channels, 7) + wn_conv(channels, channels, 1)


def _oobleck_encoder(config: pre.OobleckEncoderSpec) -> ParamCount:
    widths = [config.channels * m for m in (1, *config.c_mults)]
    count = wn_conv(config.in_channels, widths[0], 7)
    for i, stride in enumerate(config.strides[: len(config.c_mults)]):
        # EncoderBlock: three residual units, activation, strided WN conv (kernel 2·stride); not anti-aliased
        count += _residual_unit(widths[i], config.use_snake) * len(DILATIONS)
        count += _activation(widths[i], snake=config.use_snake) + wn_conv(widths[i], widths[i + 1], 2 * stride)
    count += _activation(widths[-1], snake=config.use_snake, antialias=config.antialias_activation)
    return count + wn_conv(widths[-1], config.latent_dim, 3)


def _oobleck_decoder(config: pre.OobleckDecoderSpec) -> ParamCount:
    widths = [config.channels * m for m in (1, *config.c_mults)]
    count = wn_conv(config.latent_dim, widths[-1], 7)
    for i in range(len(config.c_mults), 0, -1):
        stride, wide, narrow = config.strides[i - 1], widths[i], widths[i - 1]
        count += _activation(wide, snake=config.use_snake, antialias=config.antialias_activation)
        if config.use_nearest_upsample:  # nearest upsampling, then a bias-free WN conv (kernel 2·stride)
            count += wn_conv(wide, narrow, 2 * stride, bias=False)
        else:
            count += wn_conv_transpose(wide, narrow, 2 * stride)
        count += _residual_unit(narrow, config.use_snake) * len(DILATIONS)
    count += _activation(widths[0], snake=config.use_snake, antialias=config.antialias_activation)
    return count + wn_conv(widths[0], config.out_channels, 7, bias=False)


def _snake1d(channels: int) -> ParamCount:
    """DAC `Snake1d`: alpha [1, C, 1]."""
    return ParamCount(channels)


def _dac_residual_unit(channels: int) -> ParamCount:
    return _snake1d(channels) * 2 + wn_conv(channels, channels, 7) + wn_conv(channels, channels, 1)


def _dac_encoder(config: pre.DACEncoderSpec) -> ParamCount:
    """`DACEncoderWrapper`: DAC encoder with output width d_model·2^n, then a plain 1x1 conv to `latent_dim`."""
    width = config.d_model
    count = wn_conv(config.in_channels, width, 7)  # the wrapper swaps the first conv when in_channels != 1
    for stride in config.strides:
        width *= 2
        half = width // 2
        count += _dac_residual_unit(half) * len(DILATIONS) + _snake1d(half) + wn_conv(half, width, 2 * stride)
    count += _snake1d(width) + wn_conv(width, width, 3)
    if config.latent_dim is not None:
        count += conv(width, config.latent_dim, 1)
    return count


def _dac_decoder(config: pre.DACDecoderSpec) -> ParamCount:
    """`DACDecoderWrapper`: WN conv k7 in, upsampling blocks halving the width, Snake + WN conv k7 out (then tanh)."""
    count = wn_conv(config.latent_dim, config.channels, 7)
    out_width = config.channels
    for i, stride in enumerate(config.rates):
        in_width, out_width = config.channels // 2**i, config.channels // 2 ** (i + 1)
        count += _snake1d(in_width) + wn_conv_transpose(in_width, out_width, 2 * stride)
        count += _dac_residual_unit(out_width) * len(DILATIONS)
    return count + _snake1d(out_width) + wn_conv(out_width, config.out_channels, 7)


def _seanet_conv(
    config: pre.SEANetEncoderSpec, in_channels: int, out_channels: int, kernel: int, *, transpose: bool = False
) -> ParamCount:
    """EnCodec `SConv1d` / `SConvTranspose1d` with the config's norm (weight norm adds `weight_g`, group norm 2C)."""
    count = conv(in_channels, out_channels, kernel)
    if config.norm == "weight_norm":  # weight_g spans dim 0 of the weight: out (conv) or in (transposed conv)
        count += ParamCount(in_channels if transpose else out_channels)
    elif config.norm == "time_group_norm":
        count += ParamCount(2 * out_channels)
    return count


def _seanet_resblocks(config: pre.SEANetEncoderSpec, dim: int) -> ParamCount:
    """`n_residual_layers` SEANet residual blocks: conv k_res dim->dim/compress, conv k1 back, 1x1 shortcut conv."""
    hidden = dim // config.compress
    block = _seanet_conv(config, dim, hidden, config.residual_kernel_size) + _seanet_conv(config, hidden, dim, 1)
    if not config.true_skip:
        block += _seanet_conv(config, dim, dim, 1)
    return block * config.n_residual_layers


def _seanet_encoder(config: pre.SEANetEncoderSpec) -> ParamCount:
    """The SEANet encoder as stable-audio-tools builds it: the config's `ratios` are applied in the order written
    (its factory reverses them and EnCodec reverses them back)."""
    width = config.n_filters
    count = _seanet_conv(config, config.channels, width, config.kernel_size)
    for ratio in config.ratios:
        count += _seanet_resblocks(config, width) + _seanet_conv(config, width, 2 * width, 2 * ratio)
        width *= 2
    if config.lstm:
        count += lstm(width, config.lstm)
    return count + _seanet_conv(config, width, config.dimension, config.last_kernel_size)


def _seanet_decoder(config: pre.SEANetDecoderSpec) -> ParamCount:
    width = config.n_filters * 2 ** len(config.ratios)
    count = _seanet_conv(config, config.dimension, width, config.kernel_size)
    if config.lstm:
        count += lstm(width, config.lstm)
    for ratio in config.ratios:
        count += _seanet_conv(config, width, width // 2, 2 * ratio, transpose=True)
        width //= 2
        count += _seanet_resblocks(config, width)
    return count + _seanet_conv(config, config.n_filters, config.channels, config.last_kernel_size)


def _taae(config: pre.TAAEEncoderSpec | pre.TAAEDecoderSpec) -> ParamCount:
    """`TAAEEncoder` / `TAAEDecoder`: convolutional down/upsampling with windowed transformer blocks per level."""
    widths = [config.channels * m for m in config.c_mults]
    widths = [widths[0], *widths]
    snake = config.use_snake
    attn = AttentionOptionsSpec(qk_norm="ln")
    ff = FeedForwardOptionsSpec(mult=4.0, no_bias=False)
    norm = NormOptionsSpec(eps=1e-2)

    def transformers(dim: int, depth: int) -> ParamCount:
        block = transformer_block(
            dim,
            min(TAAE_HEAD_WIDTH, dim),
            context_width=None,
            adaln=False,
            remove_norms=False,
            add_rope=True,
            layer_scale=config.layer_scale,
            conformer=config.conformer,
            attn=attn,
            ff=ff,
            norm=norm,
        )
        return block * depth

    def residual_units(channels: int) -> ParamCount:
        return _residual_unit(channels, snake) * len(DILATIONS) if config.use_dilated_conv else NONE

    count = NONE
    if isinstance(config, pre.TAAEEncoderSpec):
        count += wn_conv(config.in_channels, widths[0], 7)
        for i in range(len(config.c_mults)):
            wide, stride = widths[i + 1], config.strides[i]
            count += residual_units(widths[i]) + _activation(widths[i], snake=snake)
            count += wn_conv(widths[i], wide, 2 * stride) if stride > 1 else NONE
            count += transformers(wide, config.transformer_depths[i])
        return count + _activation(widths[-1], snake=snake) + wn_conv(widths[-1], config.latent_dim, 3)
    count += wn_conv(config.latent_dim, widths[-1], 3)
    for i in range(len(config.c_mults), 0, -1):
        wide, narrow, stride = widths[i], widths[i - 1], config.strides[i - 1]
        count += transformers(wide, config.transformer_depths[i - 1])
        count += _activation(narrow, snake=snake)  # sized by the block's output width, as the reference does
        count += wn_conv_transpose(wide, narrow, 2 * stride) if stride > 1 else NONE
        count += residual_units(narrow)
    return count + _activation(widths[0], snake=snake) + wn_conv(widths[0], config.out_channels, 7, bias=False)


# --- bottlenecks ---------------------------------------------------------------------------------------------------


def bottleneck_count(bottleneck: pre.Bottleneck) -> ParamCount | None:
    """Trainable parameters and persistent buffers of a bottleneck."""
    return registered_count("bottleneck", bottleneck)


def count_stateless_bottleneck(bottleneck: pre.Bottleneck) -> ParamCount:
    return NONE  # tanh, vae, l2_norm, wasserstein, dithered_fsq hold no state


def count_rvq_bottleneck(bottleneck: pre.RVQBottleneck | pre.RVQVAEBottleneck) -> ParamCount:
    """vector-quantize-pytorch ResidualVQ: EMA codebooks are buffers (initted [1], cluster_size [1, N], embed_avg and
    embed [1, N, d] per quantizer); Linear projections when codebook_dim differs from dim."""
    config = bottleneck.config
    width = config.codebook_dim if config.codebook_dim is not None else config.dim
    size = config.codebook_size
    count = ParamCount(0, config.num_quantizers * (1 + size + 2 * size * width))
    if width != config.dim:
        count += linear(config.dim, width) + linear(width, config.dim)
    return count


def count_dac_rvq_bottleneck(bottleneck: pre.DACRVQBottleneck | pre.DACRVQVAEBottleneck) -> ParamCount:
    """DAC ResidualVectorQuantize: per codebook WN 1x1 in/out projections and a trainable codebook."""
    config = bottleneck.config
    width, codes = config.input_dim, config.codebook_dim
    per_codebook = wn_conv(width, codes, 1) + wn_conv(codes, width, 1)
    per_codebook += embedding(config.codebook_size, config.codebook_dim)
    return per_codebook * config.n_codebooks


def count_fsq_bottleneck(bottleneck: pre.FSQBottleneck) -> ParamCount:
    """Linear projections when `dim` differs from len(levels)·num_codebooks."""
    config = bottleneck.config
    effective = len(config.levels) * config.num_codebooks
    dim = config.dim if config.dim is not None else effective
    return linear(dim, effective) + linear(effective, dim) if dim != effective else NONE
