"""The DAC discriminator (Kumar et al., 2023): multi-period (MPD) and multi-band multi-resolution STFT (MRD)
sub-discriminators, trained with least-squares (or hinge) losses. (Upstream's multi-scale waveform sub-discriminators
fail as soon as they run, so `rates` must be empty there and here.)

Layer names follow stable-audio-tools' `DACGANLoss` (`discriminator.discriminators.<i>.convs.<j>.0.weight_g`, ...),
so its checkpoints load as they are.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn
from torch.nn import functional as F

from audiodiff.nn.discriminators import DiscriminatorLosses, WNConv2d

BANDS = ((0.0, 0.1), (0.1, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1.0))  # fractions of the STFT bins


class _Activated(nn.Sequential):
    """A weight-normed convolution followed by LeakyReLU(0.1), named `0` and `1` like the reference's Sequential."""

    def __init__(self, conv: nn.Module) -> None:
        super().__init__(conv, nn.LeakyReLU(0.1))


class PeriodDiscriminator(nn.Module):
    """Folds `[B, C, T]` into `[B, C, T / p, p]` columns and convolves along time."""

    def __init__(self, period: int, channels: int = 1) -> None:
        super().__init__()
        self.period = period
        widths = (channels, 32, 128, 512, 1024, 1024)
        self.convs = nn.ModuleList(
            _Activated(WNConv2d(widths[i], widths[i + 1], (5, 1), stride=(3, 1) if i < 4 else 1, padding=(2, 0)))
            for i in range(5)
        )
        self.conv_post = WNConv2d(1024, 1, (3, 1), padding=(1, 0))

    def forward(self, x: Tensor) -> list[Tensor]:
        # the reference always pads, a whole period when the length is already a multiple of it
        x = F.pad(x, (0, self.period - x.shape[-1] % self.period), mode="reflect")
        x = x.reshape(*x.shape[:2], -1, self.period)  # [B, C, T / p, p]
        features = []
        for conv in self.convs:
            x = conv(x)
            features.append(x)
        features.append(self.conv_post(x))
        return features


class BandDiscriminator(nn.Module):
    """Complex STFT frames split into frequency bands, each band convolved on its own, then joined."""

    def __init__(
        self, window_length: int, *, hop_factor: float = 0.25, bands: Sequence[tuple[float, float]] = BANDS
    ) -> None:
        super().__init__()
        self.window_length = window_length
        self.hop_length = int(window_length * hop_factor)
        bins = window_length // 2 + 1
        self.bands = [(int(low * bins), int(high * bins)) for low, high in bands]
        width = 32

        def stack() -> nn.ModuleList:
            return nn.ModuleList(
                [
                    _Activated(WNConv2d(2, width, (3, 9), padding=(1, 4))),
                    _Activated(WNConv2d(width, width, (3, 9), stride=(1, 2), padding=(1, 4))),
                    _Activated(WNConv2d(width, width, (3, 9), stride=(1, 2), padding=(1, 4))),
                    _Activated(WNConv2d(width, width, (3, 9), stride=(1, 2), padding=(1, 4))),
                    _Activated(WNConv2d(width, width, (3, 3), padding=(1, 1))),
                ]
            )

        self.band_convs = nn.ModuleList(stack() for _ in self.bands)
        self.conv_post = WNConv2d(width, 1, (3, 3), padding=(1, 1))

    def spectrogram(self, x: Tensor) -> Tensor:
        """`[B, C, T]` -> `[B * C, 2, frames, bins]` with frames = ceil(T / hop): the signal is reflect-padded so
        that frames and hops line up, and the two frames at each end that the padding adds are dropped."""
        import torch

        length = x.shape[-1]
        right = -length % self.hop_length
        pad = (self.window_length - self.hop_length) // 2
        padded = F.pad(x.reshape(-1, 1, length), (pad, pad + right), mode="reflect")[:, 0]  # [B * C, T']
        window = torch.hann_window(self.window_length, device=x.device, dtype=x.dtype)
        spectrum = torch.stft(padded, self.window_length, self.hop_length, window=window, return_complex=True)
        spectrum = spectrum[..., 2:-2]  # [B * C, bins, frames]
        return torch.view_as_real(spectrum).permute(0, 3, 2, 1)  # [B * C, 2, frames, bins]

    def forward(self, x: Tensor) -> list[Tensor]:
        import torch

        spectrum = self.spectrogram(x)
        features, outputs = [], []
        for (low, high), stack in zip(self.bands, self.band_convs, strict=True):
            band = spectrum[..., low:high]
            assert isinstance(stack, nn.ModuleList)
            for conv in stack:
                band = conv(band)
                features.append(band)
            outputs.append(band)
        features.append(self.conv_post(torch.cat(outputs, dim=-1)))
        return features


class _Discriminators(nn.Module):
    def __init__(self, members: list[nn.Module]) -> None:
        super().__init__()
        self.discriminators = nn.ModuleList(members)

    def forward(self, x: Tensor) -> list[list[Tensor]]:
        x = x - x.mean(dim=-1, keepdim=True)  # no DC offset
        x = 0.8 * x / (x.abs().amax(dim=-1, keepdim=True) + 1e-9)  # peak-normalised
        return [member(x) for member in self.discriminators]


class DACDiscriminator(nn.Module):
    """`periods` MPDs and `fft_sizes` MRDs."""

    def __init__(
        self,
        *,
        channels: int = 1,
        periods: Sequence[int] = (2, 3, 5, 7, 11),
        fft_sizes: Sequence[int] = (2048, 1024, 512),
        bands: Sequence[tuple[float, float]] = BANDS,
        use_hinge: bool = False,
    ) -> None:
        super().__init__()
        members: list[nn.Module] = [PeriodDiscriminator(p, channels) for p in periods]
        members += [BandDiscriminator(size, bands=bands) for size in fft_sizes]
        self.discriminator = _Discriminators(members)
        self.use_hinge = use_hinge

    def loss(self, reals: Tensor, fakes: Tensor) -> DiscriminatorLosses:
        fake_maps = self.discriminator(fakes)
        real_maps = self.discriminator(reals)
        detached_maps = self.discriminator(fakes.detach())
        dis = reals.new_zeros(())
        adv = reals.new_zeros(())
        matching = reals.new_zeros(())
        for fake, real, detached in zip(fake_maps, real_maps, detached_maps, strict=True):
            if self.use_hinge:
                dis = dis + F.relu(detached[-1]).mean() + F.relu(1 - real[-1]).mean()
                adv = adv + F.relu(1 - fake[-1]).mean()
            else:
                dis = dis + (detached[-1] ** 2).mean() + ((1 - real[-1]) ** 2).mean()
                adv = adv + ((1 - fake[-1]) ** 2).mean()
            layers = len(fake) - 1  # every map but the logits
            matching = matching + sum(F.l1_loss(fake[j], real[j].detach()) for j in range(layers)) / layers
        count = len(fake_maps)
        return dis / count, adv / count, matching / count
