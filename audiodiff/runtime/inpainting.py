"""Inpainting masks (spec §3.6): the random masks `diffusion_cond_inpaint` training draws, the masks a sampling
request asks for, and the two conditioning tensors they become.

A mask is `[B, 1, L]` over latent frames: 1 where the audio is known and kept, 0 where the model generates. The
known audio goes to the backbone as `inpaint_masked_input` = latents × mask beside the mask itself (`inpaint_mask`),
both on `input_concat_ids`. The model keeps the known part by conditioning alone: nothing is copied back into the
output, as in the reference.

Training masks follow the reference's generator: per item one of three kinds, drawn with the probabilities of
`training.inpainting.mask_kwargs.mask_type_probabilities` (default 0.1 / 0.8 / 0.1):
- random segments: 1 to `max_mask_segments` gaps, each at most (real length / count) frames long, placed at random
  inside the item's real (unpadded) frames;
- full mask: everything generated (plain text-to-audio);
- causal: a random-length prefix of the real frames is kept, the rest of them generated (continuation).
Padding frames stay "known" under the segment and causal kinds (their masked input is the zero padding). Draws use
torch's generator, which the training step reseeds every step, so a resumed run draws the same masks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from audiodiff.nn.routing import INPAINT_IDS
from audiodiff.schema.v1.training import InpaintingSpec

MASK_KINDS = ("random segments", "full mask", "causal")
DEFAULT_PROBABILITIES = (0.1, 0.8, 0.1)  # the reference's default when `mask_type_probabilities` is absent


@dataclass(frozen=True)
class MaskSettings:
    """`training.inpainting.mask_kwargs`."""

    max_segments: int = 10
    probabilities: tuple[float, float, float] = DEFAULT_PROBABILITIES  # segments, full, causal

    @classmethod
    def from_spec(cls, inpainting: InpaintingSpec) -> MaskSettings:
        kwargs = inpainting.mask_kwargs
        given = kwargs.mask_type_probabilities
        segments, full, causal = given if given is not None else DEFAULT_PROBABILITIES
        return cls(
            max_segments=int(kwargs.max_mask_segments), probabilities=(float(segments), float(full), float(causal))
        )


def _randint(low: int, high: int, generator: torch.Generator | None) -> int:
    """A uniform integer in [low, high], both ends included (as Python's `random.randint`)."""
    return int(torch.randint(low, high + 1, (), generator=generator))


def random_masks(
    padding: Tensor,  # [B, L] 1 where the frame holds real audio, 0 where it is padding
    settings: MaskSettings,
    *,
    generator: torch.Generator | None = None,
) -> Tensor:  # [B, 1, L] float: 1 keep, 0 generate
    size, length = padding.shape
    weights = torch.tensor(settings.probabilities, dtype=torch.float64)
    masks = torch.ones(size, 1, length, device=padding.device)
    for index in range(size):
        real = int((padding[index] > 0).sum())
        kind = MASK_KINDS[int(torch.multinomial(weights, 1, generator=generator))]
        if kind == "full mask":
            masks[index] = 0
        elif real == 0:
            continue  # nothing real to hide: the item stays known
        elif kind == "random segments":
            count = _randint(1, settings.max_segments, generator)
            longest = max(1, real // count)
            for _ in range(count):
                width = _randint(1, longest, generator)
                start = _randint(0, real - width, generator)
                masks[index, :, start : start + width] = 0
        else:  # causal: keep a prefix of the real frames, generate the rest of them
            kept = _randint(0, real, generator)
            masks[index, :, kept:real] = 0
    return masks


def inpaint_conditioning(known: Tensor, mask: Tensor) -> dict[str, list[Tensor]]:
    """The two injected entries: the mask [B, 1, L] and the known latents with the generated part zeroed
    [B, C, L], as one-element lists (conditioning entries without a mask)."""
    return {INPAINT_IDS[0]: [mask], INPAINT_IDS[1]: [known * mask]}


def routes_inpainting(model: object) -> bool:
    """Whether a built model reads the inpainting tensors (routes them through `input_concat_ids`)."""
    routing = getattr(model, "routing", None)
    return routing is not None and any(id_ in INPAINT_IDS for id_ in routing.input_concat_ids)


# --- masks a sampling request asks for -------------------------------------------------------------------------------

Span = tuple[float, float]  # (start, end) in seconds: a region to generate


def parse_spans(text: str) -> list[Span]:
    """`START:END[,START:END...]` in seconds, each START < END, both finite and not negative; ValueError says why."""
    spans = []
    for part in text.split(","):
        start_text, sep, end_text = part.strip().partition(":")
        if not sep:
            raise ValueError(f"`{part.strip()}` is not START:END")
        try:
            start, end = float(start_text), float(end_text)
        except ValueError:
            raise ValueError(f"`{part.strip()}` is not START:END in seconds") from None
        if not (math.isfinite(start) and math.isfinite(end)):
            raise ValueError(f"`{part.strip()}`: both ends must be finite numbers")
        if start < 0 or end <= start:
            raise ValueError(f"`{part.strip()}`: the start must be at least 0 and before the end")
        spans.append((start, end))
    return spans


def frame_mask(spans: Sequence[Span], *, sample_rate: int, ratio: int, latent_length: int) -> Tensor:
    """[1, 1, L]: a latent frame (covering `ratio` audio samples) is generated when any of its samples lies in a
    span, so the kept part never leaks into a requested gap."""
    mask = torch.ones(1, 1, latent_length)
    for start, end in spans:
        first = math.floor(start * sample_rate / ratio)
        last = math.ceil(end * sample_rate / ratio)  # exclusive
        mask[..., max(0, first) : min(latent_length, last)] = 0
    return mask


def continuation_mask(known_samples: int, *, ratio: int, latent_length: int) -> Tensor:
    """[1, 1, L]: the frames wholly inside the first `known_samples` samples are kept, the rest generated."""
    mask = torch.zeros(1, 1, latent_length)
    mask[..., : min(latent_length, known_samples // ratio)] = 1
    return mask


# --- demos ------------------------------------------------------------------------------------------------------------


def demo_masks(count: int, latent_length: int) -> Tensor:
    """[count, 1, L], the same at every round so rounds compare: even demos regenerate the middle half of the clip
    (a gap), odd ones its second half (a continuation). The reference draws random masks instead, which with its
    default probabilities hide the whole clip four times in five."""
    masks = torch.ones(count, 1, latent_length)
    quarter = latent_length // 4
    for index in range(count):
        if index % 2 == 0:
            masks[index, :, quarter : latent_length - quarter] = 0
        else:
            masks[index, :, latent_length // 2 :] = 0
    return masks


def generated_spans(mask: Tensor, *, seconds_per_frame: float) -> list[Span]:
    """The generated regions (runs of 0) of one mask [1, L] or [L], in seconds, for figures and reports."""
    flags = (mask.reshape(-1) < 0.5).tolist()
    spans, start = [], None
    for frame, generated in enumerate([*flags, False]):
        if generated and start is None:
            start = frame
        elif not generated and start is not None:
            spans.append((start * seconds_per_frame, frame * seconds_per_frame))
            start = None
    return spans
