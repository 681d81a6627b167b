"""Reconstruction losses and metrics of autoencoder training: multi-resolution STFT distances (Yamamoto et al.,
2019), their sum-and-difference form for stereo (Steinmetz et al., 2020), an A-weighting pre-filter (Wright &
Välimäki, 2019) and SI-SDR (Le Roux et al., 2018).

The numerics follow the variant stable-audio-tools trains with (its modified auraloss copy): spectral convergence is
a per-signal ratio averaged over signals, magnitudes are `sqrt(max(|X|^2, eps))`, and the A-weighting filter is a
101-tap least-squares FIR fit of the analogue IEC curve at the model's sample rate.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, TypedDict, Unpack

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

Window = Literal["hann_window", "hamming_window", "blackman_window", "bartlett_window", "kaiser_window"]
A_WEIGHTING_TAPS = 101


def a_weighting_taps(sample_rate: int, ntaps: int = A_WEIGHTING_TAPS) -> np.ndarray:
    """Taps `[ntaps]` of a linear-phase FIR filter whose magnitude fits the A-weighting curve (IEC 61672) at
    `sample_rate`: the analogue filter is discretised bilinearly, its response sampled at 512 frequencies, and the
    FIR fitted to it by least squares."""
    from scipy import signal

    f1, f2, f3, f4, gain_1khz_db = 20.598997, 107.65265, 737.86223, 12194.217, 1.9997
    numerator = [(2 * np.pi * f4) ** 2 * (10 ** (gain_1khz_db / 20)), 0, 0, 0, 0]
    denominator = np.polymul([1, 4 * np.pi * f4, (2 * np.pi * f4) ** 2], [1, 4 * np.pi * f1, (2 * np.pi * f1) ** 2])
    denominator = np.polymul(np.polymul(denominator, [1, 2 * np.pi * f3]), [1, 2 * np.pi * f2])
    b, a = signal.bilinear(numerator, denominator, fs=sample_rate)
    frequencies, response = signal.freqz(b, a, worN=512, fs=sample_rate)
    return signal.firls(ntaps, frequencies, np.abs(response), fs=sample_rate).astype(np.float32)


class AWeighting(nn.Module):
    """Filters `[N, 1, T]` signals with the A-weighting FIR (same length out, zero padded)."""

    taps: Tensor  # [1, 1, K] (a buffer)

    def __init__(self, sample_rate: int) -> None:
        super().__init__()
        taps = torch.from_numpy(a_weighting_taps(sample_rate)).view(1, 1, -1)  # [1, 1, 101]
        self.register_buffer("taps", taps, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv1d(x, self.taps.to(x.dtype), padding=self.taps.shape[-1] // 2)


class STFTDistance(nn.Module):
    """The distance between two signals `[B, C, T]` at one STFT resolution: weighted spectral convergence, log- and
    linear-magnitude distances and a normalised complex distance, each averaged."""

    window: Tensor  # [win_length] (a buffer)

    def __init__(
        self,
        fft_size: int,
        hop_size: int,
        win_length: int,
        *,
        window: Window = "hann_window",
        w_sc: float = 1.0,  # spectral convergence ||Y - X||_F / ||Y||_F, per signal
        w_log_mag: float = 1.0,  # mean |log(fac X + eps_log) - log(fac Y + eps_log)|
        w_lin_mag: float = 0.0,  # mean |X - Y|
        w_phs: float = 0.0,  # mean |Zx - Zy| / ((|Zx| + |Zy|) / 2 + 1e-7) on the complex spectra
        sample_rate: int | None = None,
        perceptual_weighting: bool = False,  # A-weighting before the STFT (needs `sample_rate`)
        scale_invariance: bool = False,  # rescale the target's magnitudes optimally first
        eps: float = 1e-8,  # floor of the squared magnitude
        log_eps: float = 0.0,
        log_fac: float = 1.0,
        mag_distance: Literal["L1", "L2"] = "L1",
    ) -> None:
        super().__init__()
        self.fft_size, self.hop_size, self.win_length = fft_size, hop_size, win_length
        self.register_buffer("window", getattr(torch, window)(win_length), persistent=False)
        self.w_sc, self.w_log_mag, self.w_lin_mag, self.w_phs = w_sc, w_log_mag, w_lin_mag, w_phs
        self.scale_invariance = scale_invariance
        self.eps, self.log_eps, self.log_fac = eps, log_eps, log_fac
        self.distance = F.l1_loss if mag_distance == "L1" else F.mse_loss
        if perceptual_weighting and sample_rate is None:
            raise ValueError("perceptual weighting needs the sample rate")
        self.weighting = AWeighting(sample_rate) if perceptual_weighting and sample_rate is not None else None

    def spectrum(self, x: Tensor) -> Tensor:
        """`[N, T]` -> complex `[N, fft_size // 2 + 1, frames]` (centred, reflect-padded frames)."""
        return torch.stft(
            x, self.fft_size, self.hop_size, self.win_length, self.window.to(x.dtype), return_complex=True
        )

    def magnitude(self, spectrum: Tensor) -> Tensor:
        return torch.sqrt(torch.clamp(spectrum.real**2 + spectrum.imag**2, min=self.eps))

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        size, channels, length = input.shape
        if self.weighting is not None:  # one channel at a time
            input = self.weighting(input.reshape(size * channels, 1, length)).view(size, channels, -1)
            target = self.weighting(target.reshape(size * channels, 1, length)).view(size, channels, -1)
        x_spec = self.spectrum(input.reshape(-1, input.shape[-1]))  # [N, F, frames]
        y_spec = self.spectrum(target.reshape(-1, target.shape[-1]))
        x_mag, y_mag = self.magnitude(x_spec), self.magnitude(y_spec)
        if self.scale_invariance:
            alpha = (x_mag * y_mag).sum((-2, -1)) / (y_mag**2).sum((-2, -1))  # [N]
            y_mag = y_mag * alpha[:, None, None]
        loss = input.new_zeros(())
        if self.w_sc:
            convergence = torch.linalg.norm(y_mag - x_mag, dim=(-2, -1)) / torch.linalg.norm(y_mag, dim=(-2, -1))
            loss = loss + self.w_sc * convergence.mean()
        if self.w_log_mag:
            loss = loss + self.w_log_mag * self.distance(
                torch.log(self.log_fac * x_mag + self.log_eps), torch.log(self.log_fac * y_mag + self.log_eps)
            )
        if self.w_lin_mag:
            loss = loss + self.w_lin_mag * self.distance(x_mag, y_mag)
        if self.w_phs:
            complex_distance = (x_spec - y_spec).abs() / (0.5 * (x_spec.abs() + y_spec.abs()) + 1e-7)
            loss = loss + self.w_phs * complex_distance.mean()
        return loss


class STFTOptions(TypedDict, total=False):
    """`STFTDistance`'s keyword options, passed through by the multi-resolution losses to every resolution."""

    window: Window
    w_sc: float
    w_log_mag: float
    w_lin_mag: float
    w_phs: float
    sample_rate: int | None
    perceptual_weighting: bool
    scale_invariance: bool
    eps: float
    log_eps: float
    log_fac: float
    mag_distance: Literal["L1", "L2"]


class MultiResolutionSTFTLoss(nn.Module):
    """The mean of `STFTDistance`s over several (fft size, hop, window length) resolutions."""

    def __init__(
        self,
        fft_sizes: Sequence[int],
        hop_sizes: Sequence[int],
        win_lengths: Sequence[int],
        **options: Unpack[STFTOptions],
    ) -> None:
        super().__init__()
        if not len(fft_sizes) == len(hop_sizes) == len(win_lengths):
            raise ValueError("`fft_sizes`, `hop_sizes` and `win_lengths` must have the same length")
        self.resolutions = nn.ModuleList(
            STFTDistance(fft, hop, win, **options)
            for fft, hop, win in zip(fft_sizes, hop_sizes, win_lengths, strict=True)
        )

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return sum((distance(input, target) for distance in self.resolutions), input.new_zeros(())) / len(
            self.resolutions
        )


class SumAndDifferenceSTFTLoss(nn.Module):
    """Multi-resolution STFT distances of the mid (L + R) and side (L - R) signals of stereo `[B, 2, T]`, averaged
    (weights `w_sum`, `w_diff`): the stereo image is trained, not only each channel."""

    def __init__(
        self,
        fft_sizes: Sequence[int],
        hop_sizes: Sequence[int],
        win_lengths: Sequence[int],
        *,
        w_sum: float = 1.0,
        w_diff: float = 1.0,
        **options: Unpack[STFTOptions],
    ) -> None:
        super().__init__()
        self.w_sum, self.w_diff = w_sum, w_diff
        self.mrstft = MultiResolutionSTFTLoss(fft_sizes, hop_sizes, win_lengths, **options)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        if input.shape[1] != 2 or input.shape != target.shape:
            raise ValueError(
                f"sum-and-difference needs two stereo signals of one shape, got {tuple(input.shape)} "
                f"and {tuple(target.shape)}"
            )
        mid = self.mrstft((input[:, 0] + input[:, 1])[:, None], (target[:, 0] + target[:, 1])[:, None])
        side = self.mrstft((input[:, 0] - input[:, 1])[:, None], (target[:, 0] - target[:, 1])[:, None])
        return (self.w_sum * mid + self.w_diff * side) / 2


def si_sdr(estimate: Tensor, reference: Tensor, *, zero_mean: bool = True, eps: float = 1e-8) -> Tensor:
    """Scale-invariant signal-to-distortion ratio in dB per signal: `[..., T]` -> `[...]` (higher is better)."""
    if zero_mean:
        estimate = estimate - estimate.mean(-1, keepdim=True)
        reference = reference - reference.mean(-1, keepdim=True)
    alpha = (estimate * reference).sum(-1) / ((reference**2).sum(-1) + eps)
    scaled = reference * alpha[..., None]
    residual = estimate - scaled
    return 10 * torch.log10((scaled**2).sum(-1) / ((residual**2).sum(-1) + eps) + eps)
