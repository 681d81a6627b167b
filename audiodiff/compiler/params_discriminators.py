"""Torch-free parameter counts of the discriminators of autoencoder training (the registry's counters for the
`discriminator` kind); `tests/compiler/test_training_nodes.py` checks each against the built module."""

from __future__ import annotations

from audiodiff.schema.v1 import autoencoder_training as ae


def _weight_normed(inputs: int, outputs: int, kernel: int) -> int:
    """weight_v + weight_g + bias of a weight-normed convolution."""
    return inputs * outputs * kernel + 2 * outputs


def encodec_params(spec: ae.EncodecDiscriminatorSpec, channels: int) -> int:
    c = spec.config
    width = min(c.filters, c.max_filters)
    kernel = c.kernel_size[0] * c.kernel_size[1]
    square = c.kernel_size[0] ** 2
    scale = (
        _weight_normed(2 * channels, c.filters, kernel)
        + len(c.dilations) * _weight_normed(width, width, kernel)
        + _weight_normed(width, width, square)
        + _weight_normed(width, c.out_channels, square)
    )
    return len(c.n_ffts) * scale


def oobleck_params(spec: ae.OobleckDiscriminatorSpec, channels: int) -> int:
    """Three waveform scales (kernel 15) and five periods (15 x 15 kernels); the input width is its own setting."""
    widths = [spec.config.in_channels, 32, 64, 128, 256]

    def net(kernel: int) -> int:
        return sum(_weight_normed(widths[i], widths[i + 1], kernel) for i in range(4)) + 256 + 1

    return 3 * net(15) + 5 * net(15 * 15)


def dac_params(spec: ae.DACDiscriminatorSpec, channels: int) -> int:
    c = spec.config
    widths = (channels, 32, 128, 512, 1024, 1024)
    period = sum(_weight_normed(widths[i], widths[i + 1], 5) for i in range(5)) + _weight_normed(1024, 1, 3)
    band = _weight_normed(2, 32, 27) + 3 * _weight_normed(32, 32, 27) + _weight_normed(32, 32, 9)
    resolution = len(c.bands) * band + _weight_normed(32, 1, 9)
    return len(c.periods) * period + len(c.fft_sizes) * resolution
