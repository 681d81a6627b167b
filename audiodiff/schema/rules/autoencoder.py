"""Autoencoder and pretransform rules: declared ratios and widths against what the stages build (C2, C8-C17)."""

from __future__ import annotations

from audiodiff.diagnostics import codes
from audiodiff.schema.rules.report import RuleReport, at
from audiodiff.schema.v1.pretransform import (
    AutoencoderModelSpec,
    Bottleneck,
    PretransformSpec,
)
from audiodiff.schema.v1.root import AutoencoderConfig, ModelConfig
from audiodiff.schema.v1.training import DiffusionTrainingSpec
from audiodiff.schema.views import (
    autoencoder_io_channels,
    backbone_of,
    pretransform_io_channels,
    pretransform_latent_channels,
    pretransform_of,
    pretransform_ratio,
)

# Chunked encoding works in windows of this many latents (upstream default chunk size, C13).
CHUNK_LATENTS = 128


def check(spec: ModelConfig, report: RuleReport) -> None:
    if isinstance(spec, AutoencoderConfig):
        check_autoencoder(spec.model, at("model"), report)
        if spec.audio_channels != autoencoder_io_channels(spec.model):
            _audio_channels_error(
                spec.audio_channels, autoencoder_io_channels(spec.model), at("model", "io_channels"), report
            )
        return
    located = pretransform_of(spec)
    if located is None:
        _check_without_pretransform(spec, report)
        return
    pretransform, pointer = located
    _check_pretransform(spec, pretransform, pointer, report)


def check_autoencoder(model: AutoencoderModelSpec, pointer: str, report: RuleReport) -> None:
    encoder, decoder = model.encoder.config, model.decoder.config
    encoder_pointer, decoder_pointer = pointer + "/encoder/config", pointer + "/decoder/config"

    report.add_findings(encoder.setting_findings(), encoder_pointer)
    report.add_findings(decoder.setting_findings(), decoder_pointer)

    nested_ratio = 1
    if model.pretransform is not None:
        nested_ratio = pretransform_ratio(model.pretransform) or 1
    if encoder.ratio * nested_ratio != model.downsampling_ratio:
        stride_key = encoder.ratio_key
        report.add(
            codes.STRIDE_PRODUCT_MISMATCH,
            f"`downsampling_ratio` is {model.downsampling_ratio}, but the encoder's `{stride_key}` multiply to "
            f"{encoder.ratio}" + (f" (x {nested_ratio} from the nested pretransform)" if nested_ratio > 1 else ""),
            pointer + "/downsampling_ratio",
            help=f"set `downsampling_ratio` to {encoder.ratio * nested_ratio}, or change the strides",
            related=((f"the encoder's `{stride_key}` are set here", f"{encoder_pointer}/{stride_key}"),),
        )
    if decoder.ratio != encoder.ratio:
        encoder_strides = f"{encoder_pointer}/{encoder.ratio_key}"
        decoder_strides = f"{decoder_pointer}/{decoder.ratio_key}"
        if decoder.ratio * nested_ratio == model.downsampling_ratio:
            # the decoder agrees with the declaration: the encoder's strides are the ones to fix
            report.add(
                codes.STRIDE_PRODUCT_MISMATCH,
                f"the encoder downsamples by {encoder.ratio} but the decoder upsamples by {decoder.ratio}, as "
                f"`downsampling_ratio` {model.downsampling_ratio} says",
                encoder_strides,
                related=(
                    ("the decoder's strides are set here", decoder_strides),
                    ("`downsampling_ratio` is set here", pointer + "/downsampling_ratio"),
                ),
            )
        else:
            report.add(
                codes.STRIDE_PRODUCT_MISMATCH,
                f"the decoder upsamples by {decoder.ratio} but the encoder downsamples by {encoder.ratio}",
                decoder_strides,
                related=(("the encoder's strides are set here", encoder_strides),),
            )

    bottleneck = model.bottleneck
    bottleneck_tag = bottleneck.type if bottleneck is not None else None
    halving = bottleneck is not None and bottleneck.halves
    encoder_out = encoder.output_channels
    if halving and encoder_out % 2:
        report.add(
            codes.VAE_ODD_WIDTH,
            f"the `{bottleneck_tag}` bottleneck splits the encoder output in half, but it is {encoder_out} wide",
            f"{encoder_pointer}/{encoder.output_key}",
            related=(("the bottleneck is chosen here", pointer + "/bottleneck/type"),),
        )
    expected_encoder_out = model.latent_dim * 2 if halving else model.latent_dim
    if encoder_out != expected_encoder_out and not (halving and encoder_out % 2):
        reason = f"2 x `latent_dim` for the `{bottleneck_tag}` bottleneck" if halving else "`latent_dim`"
        report.add(
            codes.LATENT_DIM_MISMATCH,
            f"the encoder outputs {encoder_out} channels; expected {expected_encoder_out} ({reason})",
            f"{encoder_pointer}/{encoder.output_key}",
            help=f"set the encoder's output width to {expected_encoder_out}",
            related=(("`latent_dim` is set here", pointer + "/latent_dim"),),
        )
    if bottleneck is not None:
        _check_quantizer_width(bottleneck, model.latent_dim, pointer, report)
    if bottleneck is not None:
        report.add_findings(bottleneck.setting_findings(), f"{pointer}/bottleneck")
    noise_channels = 0
    if bottleneck is not None and hasattr(bottleneck.config, "noise_augment_dim"):
        noise_channels = bottleneck.config.noise_augment_dim
    if decoder.input_channels != model.latent_dim + noise_channels:
        extra = f" + {noise_channels} noise channels" if noise_channels else ""
        report.add(
            codes.LATENT_DIM_MISMATCH,
            f"the decoder reads {decoder.input_channels} channels; expected `latent_dim` ({model.latent_dim}){extra}",
            f"{decoder_pointer}/{decoder.input_key}",
            related=(("`latent_dim` is set here", pointer + "/latent_dim"),),
        )

    io_in = autoencoder_io_channels(model)
    io_out = model.out_channels if model.out_channels is not None else model.io_channels
    declared = "the autoencoder declares"
    # a nested pretransform (e.g. `patched`) sits between the audio and the encoder: the encoder reads, and the
    # decoder writes, the pretransform's encoded channels, not the audio's
    inner = model.pretransform
    nested = pretransform_latent_channels(inner) if inner is not None else None
    if inner is not None and nested is not None:
        io_in = io_out = nested
        declared = f"its `{inner.type}` pretransform encodes to"
    if encoder.input_channels != io_in:
        report.add(
            codes.AUTOENCODER_CHANNELS,
            f"the encoder reads {encoder.input_channels} channels, but {declared} {io_in}",
            f"{encoder_pointer}/{encoder.input_key}",
            related=(("the autoencoder's channels are set here", pointer + "/io_channels"),),
        )
    if decoder.output_channels != io_out:
        report.add(
            codes.AUTOENCODER_CHANNELS,
            f"the decoder writes {decoder.output_channels} channels, but {declared} {io_out}",
            f"{decoder_pointer}/{decoder.output_key}",
            related=(("the autoencoder's channels are set here", pointer + "/io_channels"),),
        )
    if model.pretransform is not None and not model.pretransform.nestable:
        report.add(
            codes.PRETRANSFORM_UNUSABLE,
            f"a `{model.pretransform.type}` pretransform cannot be nested in an autoencoder",
            pointer + "/pretransform/type",
        )


def _check_quantizer_width(bottleneck: Bottleneck, latent_dim: int, pointer: str, report: RuleReport) -> None:
    """C18: a quantizer's width must be the latent width (its own defaults, 128 or 512, rarely are)."""
    quantizer = bottleneck.quantizer_width()
    if quantizer is None:
        return
    width, key = quantizer
    if width == latent_dim:
        return
    where = f"{pointer}/bottleneck/config"
    explicit = bottleneck.config.explicitly_set(key)
    report.add(
        codes.LATENT_DIM_MISMATCH,
        f"the `{bottleneck.type}` quantizer reads {width} channels"
        + ("" if explicit else f" (its default `{key}`)")
        + f"; the latent is `latent_dim` ({latent_dim}) wide",
        f"{where}/{key}" if explicit else where,
        help=f"set `{key}` to {latent_dim}" if key != "levels" else f"set `dim` to {latent_dim}",
        related=(("`latent_dim` is set here", pointer + "/latent_dim"),),
    )


def _check_pretransform(spec: ModelConfig, pretransform: PretransformSpec, pointer: str, report: RuleReport) -> None:
    autoencoder = pretransform.as_autoencoder()
    if autoencoder is not None:
        check_autoencoder(autoencoder.config, pointer + "/config", report)
        ratio = autoencoder.config.downsampling_ratio
        if autoencoder.chunked and spec.sample_size < CHUNK_LATENTS * ratio:
            report.add(
                codes.CHUNK_TOO_SHORT,
                f"chunked encoding works in windows of {CHUNK_LATENTS} latents ({CHUNK_LATENTS * ratio} samples); "
                f"`sample_size` {spec.sample_size} is shorter, which upstream cannot encode",
                pointer + "/chunked",
                related=(("`sample_size` is set here", at("sample_size")),),
            )
    report.add_findings(pretransform.setting_findings(), pointer)
    consumed = pretransform_io_channels(pretransform)
    if consumed is not None and spec.audio_channels != consumed:
        _audio_channels_error(spec.audio_channels, consumed, pointer, report)


def _check_without_pretransform(spec: ModelConfig, report: RuleReport) -> None:
    """Without a pretransform the backbone sees audio, unless the data are pre-encoded latents."""
    training = spec.training
    if isinstance(training, DiffusionTrainingSpec) and training.pre_encoded:
        return
    backbone = backbone_of(spec)
    if backbone is not None and spec.audio_channels != backbone.channels:
        _audio_channels_error(
            spec.audio_channels, backbone.channels, f"{backbone.pointer}/{backbone.channels_key}", report
        )


def _audio_channels_error(declared: int, consumed: int, consumer_pointer: str, report: RuleReport) -> None:
    report.add(
        codes.AUDIO_CHANNELS_MISMATCH,
        f"`audio_channels` is {declared}, but the first stage consumes {consumed} channel(s)",
        at("audio_channels"),
        help=f"set `audio_channels` to {consumed}",
        related=(("the consuming stage is configured here", consumer_pointer),),
    )
