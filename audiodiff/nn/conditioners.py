"""Conditioners: metadata values -> (tokens [B, N, D], mask [B, N]), after stable-audio-tools `models/conditioners.py`.

Every conditioner is a torch module whose `forward(values, device)` takes one value per batch item (the metadata
entry for its id) and returns a `(value, mask)` pair. Conditioners that need external weights live in
`text_conditioners.py` (T5, LUT tokenizers, g2p) and `clap_conditioners.py`; they build without touching disk and
load in `load_weights()`.
State-dict names follow the reference exactly (spec §8.4), so released checkpoints load with `strict=True`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import torch
from torch import Tensor, nn

__all__ = [
    "Conditioner",
    "ConditionerOutput",
    "EncodingPretransform",
    "IntConditioner",
    "ListConditioner",
    "MissingConditionerInputError",
    "MultiConditioner",
    "NumberConditioner",
    "NumberEmbedder",
    "PretransformConditioner",
    "SourceMixConditioner",
    "set_audio_channels",
]

# (value, mask): value [B, N, D] (channels-first [B, C, T] for audio conditioners), mask [B, N] or None
ConditionerOutput = tuple[Tensor, Tensor | None]


class Conditioner(nn.Module):
    """Base class: a conditioner of width `dim` with an optional `proj_out` Linear to `output_dim`."""

    def __init__(self, *, dim: int, output_dim: int, project_out: bool = False) -> None:
        super().__init__()
        if dim <= 0 or output_dim <= 0:
            raise ValueError(f"conditioner widths must be positive, got `dim={dim}` and `output_dim={output_dim}`")
        self.dim = dim
        self.output_dim = output_dim
        # The reference adds the projection only when it is needed or asked for; its presence changes the keys.
        self.proj_out: nn.Module = nn.Linear(dim, output_dim) if (dim != output_dim or project_out) else nn.Identity()

    @property
    def is_loaded(self) -> bool:
        """Whether external weights (if any) are in place; only text/audio-encoder conditioners ever say False."""
        return True

    def load_weights(self) -> None:
        """Load external weights from local files; a no-op for conditioners whose weights all live in the state dict."""

    def forward(self, values: list[Any], device: torch.device | str) -> tuple[Tensor, Tensor]:
        raise NotImplementedError


class LearnedFourierFeatures(nn.Module):
    """Random Fourier features with learned frequencies, input prepended (adp `LearnedPositionalEmbedding`)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        if dim % 2 != 0:
            raise ValueError(f"fourier feature width must be even, got `{dim}`")
        self.weights = nn.Parameter(torch.randn(dim // 2))  # [dim/2] frequencies

    def forward(self, x: Tensor) -> Tensor:
        x = x.unsqueeze(-1)  # [B, 1]
        # Same operation order as the reference ((x * w) * 2) * pi, so float32 rounding agrees bit for bit.
        freqs = x * self.weights.unsqueeze(0) * 2 * math.pi  # [B, dim/2]
        return torch.cat((x, freqs.sin(), freqs.cos()), dim=-1)  # [B, dim + 1]


class NumberEmbedder(nn.Module):
    """Embeds scalars with learned Fourier features (256 wide + the value) and a Linear (adp `NumberEmbedder`)."""

    def __init__(self, features: int, fourier_dim: int = 256) -> None:
        super().__init__()
        self.features = features
        # Keys `embedding.0.weights`, `embedding.1.{weight,bias}` as in the reference's nn.Sequential.
        self.embedding = nn.Sequential(LearnedFourierFeatures(fourier_dim), nn.Linear(fourier_dim + 1, features))

    def forward(self, x: Tensor) -> Tensor:
        shape = x.shape
        embedded = self.embedding(x.reshape(-1))  # [prod(shape), features]
        return embedded.view(*shape, self.features)


def _ones_mask(batch: int, length: int, device: torch.device | str) -> Tensor:
    return torch.ones(batch, length, device=device)  # [B, N] float32, as the reference returns


class NumberConditioner(Conditioner):
    """Clamps a float to [min_val, max_val], rescales it to [0, 1] and embeds it with a `NumberEmbedder`."""

    def __init__(self, *, output_dim: int, min_val: float = 0.0, max_val: float = 1.0) -> None:
        super().__init__(dim=output_dim, output_dim=output_dim)
        if not min_val < max_val:
            # The reference divides by (max_val - min_val) and silently produces inf/NaN here.
            raise ValueError(f"`number` conditioner needs `min_val < max_val`, got `{min_val}` and `{max_val}`")
        self.min_val = min_val
        self.max_val = max_val
        self.embedder = NumberEmbedder(features=output_dim)

    def forward(self, values: list[Any], device: torch.device | str) -> tuple[Tensor, Tensor]:
        floats = torch.tensor([float(value) for value in values], device=device)  # [B] float32
        floats = floats.clamp(self.min_val, self.max_val)
        normalized = (floats - self.min_val) / (self.max_val - self.min_val)  # [B] in [0, 1]
        projection = self.embedder.embedding[1]
        assert isinstance(projection, nn.Linear)
        normalized = normalized.to(projection.weight.dtype)
        embeds = self.embedder(normalized).unsqueeze(1)  # [B, 1, D]
        return embeds, _ones_mask(embeds.shape[0], 1, device)


def _as_integer(value: Any, conditioner: str) -> int:
    number = float(value)
    if not number.is_integer():
        raise ValueError(f"`{conditioner}` conditioner expects whole numbers, got `{value}`")
    return int(number)


class IntConditioner(Conditioner):
    """Clamps an integer to [min_val, max_val] and looks up a learned embedding row."""

    def __init__(self, *, output_dim: int, min_val: int = 0, max_val: int = 512) -> None:
        super().__init__(dim=output_dim, output_dim=output_dim)
        if max_val < min_val:
            raise ValueError(f"`int` conditioner needs `min_val <= max_val`, got `{min_val}` and `{max_val}`")
        self.min_val = min_val
        self.max_val = max_val
        self.int_embedder = nn.Embedding(max_val - min_val + 1, output_dim)  # [max-min+1, D]

    def forward(self, values: list[Any], device: torch.device | str) -> tuple[Tensor, Tensor]:
        ints = torch.tensor([_as_integer(value, "int") for value in values], device=device)  # [B] int64
        ints = ints.clamp(self.min_val, self.max_val)
        # The row is the clamped value itself, as in the reference (not value - min_val): a checkpoint trained
        # there has its embeddings at those rows. With min_val == 0 (every shipped config) the two readings agree;
        # otherwise values above max_val - min_val have no row (validation warns: AD217).
        rows = self.int_embedder.num_embeddings
        outside = [int(value) for value in ints.tolist() if not 0 <= value < rows]
        if outside:
            raise ValueError(
                f"`int` conditioner value `{outside[0]}` has no embedding row: the table has {rows} rows "
                f"(`max_val - min_val + 1`) and, as upstream, the clamped value itself is the row"
            )
        embeds = self.int_embedder(ints).unsqueeze(1)  # [B, 1, D]
        return embeds, _ones_mask(embeds.shape[0], 1, device)


class ListConditioner(Conditioner):
    """Embeds one of a fixed list of strings; row 0 stands for any value not in the list."""

    def __init__(self, *, output_dim: int, options: Sequence[str]) -> None:
        super().__init__(dim=output_dim, output_dim=output_dim)
        self.options = tuple(options)
        self.embedder = nn.Embedding(len(self.options) + 1, output_dim)  # [len(options)+1, D]

    def forward(self, values: list[Any], device: torch.device | str) -> tuple[Tensor, Tensor]:
        rows = [self.options.index(value) + 1 if value in self.options else 0 for value in values]
        embeds = self.embedder(torch.tensor(rows, device=device)).unsqueeze(1)  # [B, 1, D]
        return embeds, _ones_mask(embeds.shape[0], 1, device)


class EncodingPretransform(Protocol):
    """What audio conditioners need from a pretransform (an `nn.Module` in practice)."""

    encoded_channels: int
    io_channels: int

    def encode(self, audio: Tensor) -> Tensor: ...


def set_audio_channels(audio: Tensor, channels: int) -> Tensor:
    """Adapts [B, C, T] (or [B, T]) audio to mono (mean) or stereo (repeat mono, drop extra channels) as upstream."""
    if audio.dim() == 2:
        audio = audio.unsqueeze(1)  # [B, 1, T]
    if channels == 1:
        return audio.mean(dim=1, keepdim=True)
    if channels == 2:
        if audio.shape[1] == 1:
            return audio.repeat(1, 2, 1)
        if audio.shape[1] > 2:
            return audio[:, :2, :]
    return audio


def _attach_pretransform(owner: nn.Module, pretransform: EncodingPretransform, save: bool) -> None:
    # A saved pretransform is a submodule (keys `<id>.pretransform.*`); otherwise it stays outside the module tree,
    # so it is neither in the state dict nor moved by `.to()` of the parent, exactly as the reference keeps it.
    if save:
        if not isinstance(pretransform, nn.Module):
            raise ValueError("`save_pretransform` needs the pretransform to be a torch module")
        owner.pretransform = pretransform
    else:
        owner.__dict__["pretransform"] = pretransform


def _move_pretransform(pretransform: EncodingPretransform, device: torch.device | str) -> None:
    if isinstance(pretransform, nn.Module):
        pretransform.to(device)


class PretransformConditioner(Conditioner):
    """Encodes conditioning audio with a pretransform; returns channels-first latents [B, C, T] and a ones mask."""

    pretransform: EncodingPretransform  # a submodule, or kept outside the tree (see _attach_pretransform)

    def __init__(self, *, pretransform: EncodingPretransform, output_dim: int, save_pretransform: bool = False) -> None:
        super().__init__(dim=pretransform.encoded_channels, output_dim=output_dim)
        _attach_pretransform(self, pretransform, save_pretransform)

    def forward(self, values: list[Any], device: torch.device | str) -> tuple[Tensor, Tensor]:
        pretransform = self.pretransform
        _move_pretransform(pretransform, device)
        # Channels are adapted per item (the reference stacks first, so it needs equal channel counts).
        items = [set_audio_channels(torch.as_tensor(value).unsqueeze(0), pretransform.io_channels) for value in values]
        audio = torch.cat(items, dim=0).to(device)  # [B, C_io, T]
        latents = pretransform.encode(audio)  # [B, C_enc, T_lat]
        if not isinstance(self.proj_out, nn.Identity):
            # The reference applies proj_out to the last (time) axis of channels-first latents, which only runs when
            # T_lat happens to equal C_enc (spec §7 C36). We project the channel axis, which is what the layout
            # Linear(C_enc -> output_dim) means; when C_enc == output_dim both agree because there is no projection.
            latents = self.proj_out(latents.transpose(1, 2)).transpose(1, 2)  # [B, D, T_lat]
        return latents, _ones_mask(latents.shape[0], latents.shape[2], latents.device)


class SourceMixConditioner(Conditioner):
    """Sums per-source 1x1-conv projections of encoded source stems into one [B, D, T] signal."""

    pretransform: EncodingPretransform  # a submodule, or kept outside the tree (see _attach_pretransform)

    def __init__(
        self,
        *,
        pretransform: EncodingPretransform,
        output_dim: int,
        source_keys: Sequence[str] = (),
        save_pretransform: bool = False,
        pre_encoded: bool = False,
        allow_null_source: bool = False,
        source_length: int | None = None,
    ) -> None:
        super().__init__(dim=pretransform.encoded_channels, output_dim=output_dim)
        _attach_pretransform(self, pretransform, save_pretransform)
        self.source_keys = tuple(source_keys)
        self.pre_encoded = pre_encoded
        self.allow_null_source = allow_null_source
        channels = pretransform.encoded_channels
        self.source_heads = nn.ModuleList([nn.Conv1d(channels, output_dim, kernel_size=1) for _ in self.source_keys])
        if allow_null_source:
            if source_length is None:
                raise ValueError("`source_mix` with `allow_null_source` needs `source_length`")
            self.null_source = nn.Parameter(torch.randn(output_dim, 1))  # [D, 1]
        self.source_length = source_length
        # proj_out exists (for the checkpoint layout) but, as in the reference, the mix is never projected.

    def forward(self, values: list[Any], device: torch.device | str) -> tuple[Tensor, Tensor]:
        pretransform = self.pretransform
        _move_pretransform(pretransform, device)
        # The reference takes the dtype from proj_out, which fails when there is no projection (C37).
        if len(self.source_heads) > 0:
            first = self.source_heads[0]
            assert isinstance(first, nn.Conv1d)
            dtype = first.weight.dtype
        else:
            dtype = self.null_source.dtype if self.allow_null_source else torch.float32
        mixes = []
        for index, sources in enumerate(values):
            if not isinstance(sources, Mapping):
                raise ValueError(f"`source_mix` expects a mapping of source name to audio, item `{index}` is not one")
            mix: Tensor | None = None
            for head, key in zip(self.source_heads, self.source_keys, strict=True):
                if key not in sources:
                    continue
                source = torch.as_tensor(sources[key])
                if self.pre_encoded:
                    latents = source.to(device)  # [C_enc, T]
                else:
                    if source.dim() != 2:
                        raise ValueError(f"source `{key}` must be [channels, samples], got {tuple(source.shape)}")
                    audio = set_audio_channels(source.unsqueeze(0), pretransform.io_channels).to(device)
                    latents = pretransform.encode(audio).squeeze(0)  # [C_enc, T]
                projected = head(latents.to(dtype))  # [D, T]
                mix = projected if mix is None else mix + projected
            if mix is None:
                if not self.allow_null_source:
                    raise ValueError(f"`source_mix` item `{index}` has none of the sources {list(self.source_keys)}")
                assert self.source_length is not None  # required with `allow_null_source` (checked at build)
                mix = self.null_source.repeat(1, self.source_length)  # [D, T]
            mixes.append(mix)
        stacked = torch.stack(mixes, dim=0)  # [B, D, T]
        return stacked, _ones_mask(stacked.shape[0], stacked.shape[2], stacked.device)


class MissingConditionerInputError(ValueError):
    """A metadata item lacks the key a conditioner reads (and its `default_keys` fallback, if any)."""

    def __init__(self, *, conditioner_id: str, item_index: int, fallback_key: str | None, available: Sequence[str]):
        self.conditioner_id = conditioner_id
        self.item_index = item_index
        self.fallback_key = fallback_key
        self.available = tuple(available)
        tried = f"`{conditioner_id}`" + (f" or its default key `{fallback_key}`" if fallback_key else "")
        keys = ", ".join(f"`{key}`" for key in self.available) or "none"
        super().__init__(
            f"metadata item `{item_index}` has no {tried} for conditioner `{conditioner_id}` (its keys: {keys})"
        )


def _unwrap_singleton(value: Any) -> Any:
    # Collate functions wrap every value in a list; a one-element list or tuple stands for its element.
    if isinstance(value, (list, tuple)) and len(value) == 1:
        return value[0]
    return value


class MultiConditioner(nn.Module):
    """Runs every conditioner on a batch of metadata dicts and returns `{id: (value, mask)}`."""

    def __init__(
        self,
        conditioners: Mapping[str, Conditioner],
        default_keys: Mapping[str, str] | None = None,
        pre_encoded_keys: Sequence[str] = (),
    ) -> None:
        super().__init__()
        for conditioner_id in conditioners:
            if "." in conditioner_id or not conditioner_id:
                raise ValueError(f"conditioner id `{conditioner_id}` must be non-empty and contain no `.`")
        self.conditioners = nn.ModuleDict(dict(conditioners))  # keys `conditioners.<id>.*`, in the given order
        self.default_keys = dict(default_keys or {})
        self.pre_encoded_keys = tuple(pre_encoded_keys)

    @property
    def is_loaded(self) -> bool:
        """Whether every conditioner has its external weights (T5, CLAP, tokenizers) in place."""
        return all(conditioner.is_loaded for conditioner in self.members())

    def load_weights(self) -> None:
        """Loads the external weights of every conditioner that has any, from local files only."""
        for conditioner in self.members():
            if not conditioner.is_loaded:
                conditioner.load_weights()

    def members(self) -> list[Conditioner]:
        """The conditioners, in their order."""
        # every value is one (the constructor takes only conditioners); the filter tells the type checker so
        return [member for member in self.conditioners.values() if isinstance(member, Conditioner)]

    def _values_for(self, batch_metadata: Sequence[Mapping[str, Any]], conditioner_id: str) -> list[Any]:
        # The reference's fallback is sticky: the first item that lacks the conditioner's key switches the key
        # read to `default_keys[id]` for that item and every later one in the batch (even items that have their
        # own key). Batches the reference trained on were read that way, so the same metadata reads the same here.
        key = conditioner_id
        values = []
        for index, item in enumerate(batch_metadata):
            if key not in item:
                fallback = self.default_keys.get(key)
                if fallback is None or fallback not in item:
                    raise MissingConditionerInputError(
                        conditioner_id=conditioner_id,
                        item_index=index,
                        fallback_key=self.default_keys.get(conditioner_id),
                        available=list(item),
                    )
                key = fallback
            values.append(_unwrap_singleton(item[key]))
        return values

    def forward(
        self, batch_metadata: Sequence[Mapping[str, Any]], device: torch.device | str
    ) -> dict[str, ConditionerOutput]:
        if len(batch_metadata) == 0:
            raise ValueError("conditioning needs at least one metadata item")
        outputs: dict[str, ConditionerOutput] = {}
        for conditioner_id, conditioner in self.conditioners.items():
            values = self._values_for(batch_metadata, conditioner_id)
            if conditioner_id in self.pre_encoded_keys:
                # Already-encoded tensors bypass the conditioner: stacked on a new batch axis, no mask.
                tensors = [torch.as_tensor(value) for value in values]
                outputs[conditioner_id] = (torch.stack(tensors, dim=0).to(device), None)
            else:
                outputs[conditioner_id] = conditioner(values, device)
        return outputs
