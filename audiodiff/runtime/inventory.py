"""`audiodiff dataset inspect`: what a dataset holds, read the way `run` reads it, without torch.

Folders are scanned from their headers (audio) or `.npy` headers (latents); shards are read member by member.
The inventory counts items, sums their duration, and histograms sample rates, channel counts and durations; it
names every file, shard or member that could not be read, and counts the metadata keys, which a model config
(`--model`) turns into a table of its conditioners and how many items carry each one's value.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audiodiff.runtime.preflight import LOADER_KEYS, NO_VALUE, conditioning_value
from audiodiff.runtime.scan import resolve_file, resolve_folder, scan_audio, scan_latents
from audiodiff.runtime.shards import (
    LATENT_MEMBER,
    ShardListingError,
    audio_member,
    describe_error,
    iterate_samples,
    list_source,
)
from audiodiff.schema.v1.dataset import AudioDirDatasetSpec, DatasetConfigSpec, PreEncodedDatasetSpec, WebDatasetSpec


@dataclass
class Inventory:
    kind: str  # audio | latents
    items: int = 0
    durations: list[float] = field(default_factory=list)  # seconds, of the items whose length is known
    rates: Counter[int] = field(default_factory=Counter)
    channels: Counter[int] = field(default_factory=Counter)
    keys: Counter[str] = field(default_factory=Counter)  # metadata key -> items carrying it
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (file, shard or member, why)
    metadata: list[dict[str, Any]] = field(default_factory=list)  # every item's metadata, for the conditioners
    truncated: bool = False  # stopped at `max_items`

    def add(self, metadata: dict[str, Any], seconds: float | None, rate: int | None, channels: int) -> None:
        self.items += 1
        if seconds is not None:
            self.durations.append(seconds)
        if rate:
            self.rates[rate] += 1
        self.channels[channels] += 1
        self.keys.update(metadata.keys())
        self.metadata.append(metadata)


def take_inventory(
    spec: DatasetConfigSpec, config_dir: Path, *, max_items: int | None = None, allow_pipe: bool = False
) -> Inventory:
    if isinstance(spec, WebDatasetSpec):
        return _shards(spec, config_dir, max_items, allow_pipe)
    pre_encoded = isinstance(spec, PreEncodedDatasetSpec)
    inventory = Inventory("latents" if pre_encoded else "audio")
    for source in spec.datasets:
        folder = resolve_folder(source.path, config_dir)
        if folder is None:
            inventory.unreadable.append((source.path, "the folder does not exist"))
            continue
        manifest = None
        if isinstance(spec, AudioDirDatasetSpec) and source.manifest is not None:
            manifest = resolve_file(source.manifest, config_dir, folder)
            if manifest is None:
                inventory.unreadable.append((source.manifest, "the manifest does not exist"))
                continue
        scan = (
            scan_latents(folder, source.id, spec.latent_extension)
            if isinstance(spec, PreEncodedDatasetSpec)
            else scan_audio(folder, source.id, manifest)
        )
        inventory.unreadable += [(item.path, item.reason) for item in scan.skipped]
        for file in scan.files:
            if max_items is not None and inventory.items >= max_items:
                inventory.truncated = True
                return inventory
            if pre_encoded:
                total = file.metadata.get("seconds_total")
                seconds = float(total) if isinstance(total, (int, float)) else None
                inventory.add(file.metadata, seconds, None, file.channels)
            else:
                inventory.add(file.metadata, file.frames / file.sample_rate, file.sample_rate, file.channels)
    return inventory


def _shards(spec: WebDatasetSpec, config_dir: Path, max_items: int | None, allow_pipe: bool) -> Inventory:
    import numpy as np
    import soundfile

    inventory = Inventory("latents" if spec.pre_encoded else "audio")
    for source in spec.datasets:
        try:
            listed = list_source(
                source.id, path=source.path, s3_path=source.s3_path, profile=source.profile, config_dir=config_dir
            )
        except ShardListingError as error:
            inventory.unreadable.append((source.s3_path or source.path or source.id, str(error)))
            continue
        for url in listed.urls:
            if url.startswith("pipe:") and not allow_pipe:
                inventory.unreadable.append((url, "a shell command, not run without `--allow-pipe`"))
                continue
            try:
                for sample in iterate_samples(url, listed.profile):
                    if max_items is not None and inventory.items >= max_items:
                        inventory.truncated = True
                        return inventory
                    name = f"{url}#{sample['__key__'].decode()}"
                    try:
                        metadata = json.loads(sample["json"]) if "json" in sample else {}
                        if not isinstance(metadata, dict):
                            raise ValueError("the `json` member is not a JSON object")
                        if "text" in metadata:
                            metadata["prompt"] = metadata["text"]
                        if spec.pre_encoded:
                            if LATENT_MEMBER not in sample:
                                raise ValueError("no `npy` member")
                            shape = np.load(io.BytesIO(sample[LATENT_MEMBER]), allow_pickle=False).shape
                            total = metadata.get("seconds_total")
                            seconds = float(total) if isinstance(total, (int, float)) else None
                            inventory.add(metadata, seconds, None, int(shape[0]))
                            continue
                        suffix = audio_member(sample)
                        if suffix is None:
                            raise ValueError("no audio member")
                        info = soundfile.info(io.BytesIO(sample[suffix]))
                        inventory.add(metadata, info.frames / info.samplerate, info.samplerate, info.channels)
                    except Exception as error:  # a broken member: named, as training names it
                        inventory.unreadable.append((name, describe_error(error)))
            except Exception as error:  # a shard that cannot be opened or read to its end
                inventory.unreadable.append((url, describe_error(error)))
    return inventory


# --- the report ----------------------------------------------------------------------------------------------------


def conditioner_rows(inventory: Inventory, model_spec: Any) -> list[tuple[str, str, str]]:
    """(conditioner id, its type, how many items carry its value) for a model config's conditioners."""
    from audiodiff.schema.views import conditioning_of

    conditioning = conditioning_of(model_spec)
    if conditioning is None:
        return []
    computed = LOADER_KEYS if inventory.kind == "audio" else frozenset()
    rows: list[tuple[str, str, str]] = []
    for entry in conditioning.configs:
        if entry.id in computed:
            rows.append((entry.id, entry.type, "computed by the loader for each crop"))
            continue
        fallback = conditioning.default_keys.get(entry.id)
        have = sum(conditioning_value(item, entry.id, fallback) is not NO_VALUE for item in inventory.metadata)
        verdict = "ok" if have == inventory.items else f"MISSING in {inventory.items - have}"
        rows.append((entry.id, entry.type, f"{have} of {inventory.items} items ({verdict})"))
    return rows


def span(seconds: float) -> str:
    """A duration in the unit that reads best."""
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"


def _histogram(counter: Counter[int], unit: str) -> str:
    return ", ".join(f"{value} {unit}: {count}" for value, count in sorted(counter.items())) or "-"


def render(inventory: Inventory, title: str, conditioners: list[tuple[str, str, str]] | None, shown: int = 20) -> str:
    durations = inventory.durations
    total = sum(durations)
    lines = [title]
    count = f"{inventory.items} {'latent arrays' if inventory.kind == 'latents' else 'audio items'}"
    lines.append(f"  items        {count}" + (" (stopped at --max-items)" if inventory.truncated else ""))
    if durations:
        lines.append(
            f"  duration     {span(total)} in all; per item min {min(durations):.2f} s, "
            f"median {sorted(durations)[len(durations) // 2]:.2f} s, max {max(durations):.2f} s"
            + (f" ({len(durations)} of {inventory.items} items say)" if len(durations) < inventory.items else "")
        )
    else:
        lines.append("  duration     unknown (no item says how long it is)")
    if inventory.kind == "audio":
        lines.append(f"  sample rate  {_histogram(inventory.rates, 'Hz')}")
    lines.append(f"  channels     {_histogram(inventory.channels, 'ch')}")
    keys = ", ".join(f"{key} ({count})" for key, count in inventory.keys.most_common()) or "-"
    lines.append(f"  metadata     {keys}")
    if conditioners is not None:
        lines.append("  conditioners" + (" -" if not conditioners else ""))
        width = max((len(row[0]) for row in conditioners), default=0)
        lines += [f"    {name:<{width}}  {kind:<8} {verdict}" for name, kind, verdict in conditioners]
    lines.append(f"  unreadable   {len(inventory.unreadable)}")
    lines += [f"    `{name}`: {why}" for name, why in inventory.unreadable[:shown]]
    if len(inventory.unreadable) > shown:
        lines.append(f"    and {len(inventory.unreadable) - shown} more")
    return "\n".join(lines) + "\n"


def plot_durations(inventory: Inventory, path: Path, title: str) -> None:
    """A histogram of the items' durations (seconds), as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    figure, axes = plt.subplots(figsize=(7, 4), dpi=100)
    if inventory.durations:
        axes.hist(inventory.durations, bins=min(50, max(5, len(inventory.durations) // 4)), color="#3b6ea5")
    else:
        axes.text(0.5, 0.5, "no item says how long it is", ha="center", va="center", transform=axes.transAxes)
    axes.set_xlabel("duration (s)")
    axes.set_ylabel("items")
    axes.set_title(f"{title}: {inventory.items} items, {span(sum(inventory.durations))}")
    axes.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    axes.grid(alpha=0.3)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
