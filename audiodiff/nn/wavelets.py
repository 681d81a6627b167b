"""Multi-level biorthogonal discrete wavelet transform as fixed strided convolutions (stable-audio-tools
`models/wavelets.py` layout: a persistent `kernel` buffer `[2C, C, K]` per direction).

Filter taps come from PyWavelets when it is installed and otherwise from the table below, which holds PyWavelets'
decomposition and reconstruction low-pass filters; the high-pass filters follow from them by the biorthogonal
alternating-sign relations (dec_hi[n] = -(-1)^n rec_lo[n], rec_hi[n] = (-1)^n dec_lo[n]).
"""

from __future__ import annotations

from typing import Literal

import torch
from einops import rearrange
from torch import Tensor, nn
from torch.nn import functional as F

BiorthogonalWavelet = Literal["bior2.2", "bior2.4", "bior2.6", "bior2.8", "bior4.4", "bior6.8"]

# wavelet -> (dec_lo, rec_lo), PyWavelets' filter_bank entries 0 and 2 (including their leading zero tap)
_LOWPASS_TAPS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "bior2.2": (
        (0.0, -0.1767766952966369, 0.3535533905932738, 1.0606601717798212, 0.3535533905932738, -0.1767766952966369),
        (0.0, 0.3535533905932738, 0.7071067811865476, 0.3535533905932738, 0.0, 0.0),
    ),
    "bior2.4": (
        (
            0.0,
            0.03314563036811941,
            -0.06629126073623882,
            -0.1767766952966369,
            0.4198446513295126,
            0.9943689110435825,
            0.4198446513295126,
            -0.1767766952966369,
            -0.06629126073623882,
            0.03314563036811941,
        ),
        (0.0, 0.0, 0.0, 0.3535533905932738, 0.7071067811865476, 0.3535533905932738, 0.0, 0.0, 0.0, 0.0),
    ),
    "bior2.6": (
        (
            0.0,
            -0.006905339660024878,
            0.013810679320049757,
            0.04695630968816917,
            -0.1077232986963881,
            -0.16987135563661201,
            0.4474660099696121,
            0.966747552403483,
            0.4474660099696121,
            -0.16987135563661201,
            -0.1077232986963881,
            0.04695630968816917,
            0.013810679320049757,
            -0.006905339660024878,
        ),
        (
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.3535533905932738,
            0.7071067811865476,
            0.3535533905932738,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
        ),
    ),
    "bior2.8": (
        (
            0.0,
            0.0015105430506304422,
            -0.0030210861012608843,
            -0.012947511862546647,
            0.02891610982635418,
            0.05299848189069094,
            -0.13491307360773605,
            -0.16382918343409023,
            0.46257144047591653,
            0.9516421218971786,
            0.46257144047591653,
            -0.16382918343409023,
            -0.13491307360773605,
            0.05299848189069094,
            0.02891610982635418,
            -0.012947511862546647,
            -0.0030210861012608843,
            0.0015105430506304422,
        ),
        (
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.3535533905932738,
            0.7071067811865476,
            0.3535533905932738,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
        ),
    ),
    "bior4.4": (
        (
            0.0,
            0.03782845550726404,
            -0.023849465019556843,
            -0.11062440441843718,
            0.37740285561283066,
            0.8526986790088938,
            0.37740285561283066,
            -0.11062440441843718,
            -0.023849465019556843,
            0.03782845550726404,
        ),
        (
            0.0,
            -0.06453888262869706,
            -0.04068941760916406,
            0.41809227322161724,
            0.7884856164055829,
            0.41809227322161724,
            -0.04068941760916406,
            -0.06453888262869706,
            0.0,
            0.0,
        ),
    ),
    "bior6.8": (
        (
            0.0,
            0.0019088317364812906,
            -0.0019142861290887667,
            -0.016990639867602342,
            0.01193456527972926,
            0.04973290349094079,
            -0.07726317316720414,
            -0.09405920349573646,
            0.4207962846098268,
            0.8259229974584023,
            0.4207962846098268,
            -0.09405920349573646,
            -0.07726317316720414,
            0.04973290349094079,
            0.01193456527972926,
            -0.016990639867602342,
            -0.0019142861290887667,
            0.0019088317364812906,
        ),
        (
            0.0,
            0.0,
            0.0,
            0.014426282505624435,
            0.014467504896790148,
            -0.07872200106262882,
            -0.04036797903033992,
            0.41784910915027457,
            0.7589077294536541,
            0.41784910915027457,
            -0.04036797903033992,
            -0.07872200106262882,
            0.014467504896790148,
            0.014426282505624435,
            0.0,
            0.0,
            0.0,
            0.0,
        ),
    ),
}


def _tabulated_filter_bank(wavelet: str) -> list[list[float]]:
    dec_lo, rec_lo = _LOWPASS_TAPS[wavelet]
    dec_hi = [-((-1.0) ** n) * tap for n, tap in enumerate(rec_lo)]
    rec_hi = [((-1.0) ** n) * tap for n, tap in enumerate(dec_lo)]
    return [list(dec_lo), dec_hi, list(rec_lo), rec_hi]


def wavelet_filter_bank(wavelet: BiorthogonalWavelet) -> Tensor:
    """`[4, K]` float32 filters (dec_lo, dec_hi, rec_lo, rec_hi) with the all-zero first tap removed (K odd)."""
    if wavelet not in _LOWPASS_TAPS:
        raise ValueError(f"unsupported wavelet `{wavelet}`; choose one of {', '.join(sorted(_LOWPASS_TAPS))}")
    try:
        import pywt
    except ImportError:
        bank = _tabulated_filter_bank(wavelet)
    else:
        bank = [list(taps) for taps in pywt.Wavelet(wavelet).filter_bank]
    filters = torch.tensor(bank, dtype=torch.float32)  # [4, K + 1]
    return filters[:, 1:]


def _channel_diagonal_kernel(pair: Tensor, channels: int) -> Tensor:
    """Two filters `[2, K]` -> a conv kernel `[2C, C, K]` applying filter i to channel j at output i·C + j."""
    kernel = torch.zeros(2 * channels, channels, pair.shape[-1], dtype=pair.dtype, device=pair.device)
    for i in range(2):
        for j in range(channels):
            kernel[i * channels + j, j] = pair[i]
    return kernel


class WaveletEncode1d(nn.Module):
    """Analysis: each level splits the current low band into low/high halves at half the rate."""

    kernel: Tensor  # (a buffer)

    def __init__(self, channels: int, levels: int, wavelet: BiorthogonalWavelet = "bior4.4") -> None:
        super().__init__()
        self.channels = channels
        self.levels = levels
        analysis = torch.flip(wavelet_filter_bank(wavelet)[:2], dims=(-1,))  # [2, K], correlation -> convolution
        self.register_buffer("kernel", _channel_diagonal_kernel(analysis, channels))

    def forward(self, x: Tensor) -> Tensor:
        # x: [B, C, T] -> [B, C·2^levels, T / 2^levels]
        pad = self.kernel.shape[-1] // 2
        for _ in range(self.levels):
            low, rest = x[:, : self.channels], x[:, self.channels :]
            low = F.conv1d(F.pad(low, (pad, pad), "reflect"), self.kernel, stride=2)  # [B, 2C, T']
            rest = rearrange(rest, "n (c c2) (l l2) -> n (c l2 c2) l", l2=2, c2=self.channels)
            x = torch.cat([low, rest], dim=1)
        return x


class WaveletDecode1d(nn.Module):
    """Synthesis: the exact inverse of `WaveletEncode1d` for lengths divisible by 2^levels."""

    kernel: Tensor  # (a buffer)

    def __init__(self, channels: int, levels: int, wavelet: BiorthogonalWavelet = "bior4.4") -> None:
        super().__init__()
        self.channels = channels
        self.levels = levels
        synthesis = wavelet_filter_bank(wavelet)[2:]  # [2, K]
        self.register_buffer("kernel", _channel_diagonal_kernel(synthesis, channels))

    def forward(self, x: Tensor) -> Tensor:
        # x: [B, C·2^levels, L] -> [B, C, L·2^levels]
        half = self.kernel.shape[-1] // 2
        pad = half + 2
        for _ in range(self.levels):
            low, rest = x[:, : self.channels * 2], x[:, self.channels * 2 :]
            # reflect-pad the interleaved signal, then split it back into polyphase channels
            low = rearrange(low, "n (l2 c) l -> n c (l l2)", l2=2)
            low = F.pad(low, (pad, pad), "reflect")
            low = rearrange(low, "n c (l l2) -> n (l2 c) l", l2=2)
            low = F.conv_transpose1d(low, self.kernel, stride=2, padding=half)
            low = low[..., pad - 1 : -pad]
            rest = rearrange(rest, "n (c l2 c2) l -> n (c c2) (l l2)", l2=2, c2=self.channels)
            x = torch.cat([low, rest], dim=1)
        return x
