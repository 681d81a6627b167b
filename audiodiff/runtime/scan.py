"""Finding training files without reading their data: the dataset folders a config names, every file's header
(audio frames, rate and channels; latent shapes from the .npy header) and its metadata, and the user's
`custom_metadata_module`. Nothing here imports torch, so `audiodiff run --check` can scan a dataset in a fraction
of a second; `runtime/data.py` builds the torch datasets on top of these scans.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import Tensor

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif")
METADATA_FUNCTION = "get_custom_metadata"


@dataclass(frozen=True)
class DataFile:
    """One training file found by a scan (audio or latents)."""

    path: str
    relpath: str  # relative to its dataset folder
    dataset_id: str
    frames: int  # audio frames at the file's own rate, or latent frames
    sample_rate: int  # the file's own rate (0 for latents)
    channels: int
    metadata: dict[str, Any] = field(default_factory=dict)  # from the sidecar JSON or the manifest


@dataclass(frozen=True)
class SkippedFile:
    path: str
    reason: str


@dataclass
class DataScan:
    files: list[DataFile] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)


def skipped_files(skipped: list[SkippedFile], shown: int = 5) -> str:
    """`a.wav` (why); ... for the first `shown` files a scan skipped, and how many more: a count alone sends the
    user hunting for them."""
    listed = "; ".join(f"`{item.path}` ({item.reason})" for item in skipped[:shown])
    return listed + (f"; and {len(skipped) - shown} more" if len(skipped) > shown else "")


def resolve_folder(value: str, config_dir: Path) -> Path | None:
    """A dataset folder: absolute, else relative to the dataset config's folder, else (as upstream reads it) to the
    working directory."""
    candidate = Path(value).expanduser()
    if candidate.is_absolute():
        return candidate if candidate.is_dir() else None
    for base in (config_dir, Path.cwd()):
        if (base / candidate).is_dir():
            return (base / candidate).resolve()
    return None


def resolve_file(value: str, *bases: Path) -> Path | None:
    """A file a dataset config names: absolute, else relative to each of `bases` in turn, else to the working
    directory (upstream's only base)."""
    candidate = Path(value).expanduser()
    if candidate.is_absolute():
        return candidate if candidate.is_file() else None
    for base in (*bases, Path.cwd()):
        if (base / candidate).is_file():
            return (base / candidate).resolve()
    return None


# --- scanning ------------------------------------------------------------------------------------------------------


def scan_audio(folder: Path, dataset_id: str, manifest: Path | None = None) -> DataScan:
    """Headers of every audio file below `folder` (or of every file a manifest lists), with their metadata."""
    import soundfile

    scan = DataScan()
    for path, relpath, metadata, problem in _candidates(folder, AUDIO_EXTENSIONS, manifest, scan):
        if problem is not None:
            scan.skipped.append(SkippedFile(str(path), problem))
            continue
        try:
            info = soundfile.info(str(path))
        except Exception as error:  # libsndfile reports every unreadable file as a RuntimeError or an OSError
            scan.skipped.append(SkippedFile(str(path), f"unreadable audio ({first_line(error)})"))
            continue
        if info.frames <= 0 or info.samplerate <= 0:
            scan.skipped.append(SkippedFile(str(path), "no audio frames"))
            continue
        scan.files.append(
            DataFile(str(path), relpath, dataset_id, info.frames, info.samplerate, info.channels, metadata)
        )
    return scan


def scan_latents(folder: Path, dataset_id: str, extension: str = "npy") -> DataScan:
    """Shapes of every latent array below `folder` (read from the .npy header only), with their metadata."""
    import numpy

    scan = DataScan()
    for path, relpath, metadata, problem in _candidates(folder, (f".{extension}",), None, scan):
        if problem is not None:
            scan.skipped.append(SkippedFile(str(path), problem))
            continue
        try:
            array = numpy.load(path, mmap_mode="r", allow_pickle=False)
        except Exception as error:
            scan.skipped.append(SkippedFile(str(path), f"unreadable latents ({first_line(error)})"))
            continue
        if array.ndim != 2 or array.shape[1] == 0:
            scan.skipped.append(SkippedFile(str(path), f"latents must be [channels, frames], got {list(array.shape)}"))
            continue
        scan.files.append(
            DataFile(str(path), relpath, dataset_id, int(array.shape[1]), 0, int(array.shape[0]), metadata)
        )
    return scan


def _candidates(
    folder: Path, extensions: tuple[str, ...], manifest: Path | None, scan: DataScan
) -> Iterator[tuple[Path, str, dict[str, Any], str | None]]:
    """(path, relpath, metadata, problem) of every file to consider, in a stable order."""
    from audiodiff.schema.reading import FileRefused, read_regular
    from audiodiff.schema.source import MAX_FILE_BYTES

    if manifest is not None:
        yield from _manifest_entries(folder, manifest)
        return
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in extensions and p.is_file())
    for path in paths:
        sidecar = path.with_suffix(".json")
        metadata: dict[str, Any] = {}
        problem = None
        if sidecar.is_file():
            try:  # through the one reader: a size limit, never a device; a deep file is refused, not recursed on
                loaded = json.loads(read_regular(sidecar, MAX_FILE_BYTES))
                if not isinstance(loaded, dict):
                    raise ValueError("not a JSON object")
                metadata = loaded
            except (ValueError, OSError, FileRefused, RecursionError) as error:
                problem = f"unreadable metadata in `{sidecar.name}` ({first_line(error)})"
        yield path, path.relative_to(folder).as_posix(), metadata, problem


def _manifest_entries(folder: Path, manifest: Path) -> Iterator[tuple[Path, str, dict[str, Any], str | None]]:
    with open(manifest, encoding="utf-8") as stream:
        for number, line in enumerate(stream, 1):
            if not line.strip():
                continue
            where = f"{manifest.name} line {number}"
            try:
                entry = json.loads(line)
            except ValueError as error:
                yield manifest, where, {}, f"unreadable manifest line ({first_line(error)})"
                continue
            if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
                yield manifest, where, {}, "a manifest line must be an object with a string `path`"
                continue
            metadata = {key: value for key, value in entry.items() if key != "path"}
            path = (folder / entry["path"]).resolve() if not Path(entry["path"]).is_absolute() else Path(entry["path"])
            if not path.is_file():
                yield path, entry["path"], metadata, f"listed in {where} but missing"
                continue
            yield path, entry["path"], metadata, None


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


# --- custom metadata modules ---------------------------------------------------------------------------------------


class MetadataModule:
    """A user's `custom_metadata_module`: `get_custom_metadata(info, audio) -> dict`, merged into each item.

    Picklable, so data-loader workers started with `spawn` can use it: a worker re-imports the file from its path
    under a stable module name instead of unpickling a function of a module it cannot import.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(Path(path).resolve())
        self._function: Callable[[dict[str, Any], Tensor], dict[str, Any]] | None = None

    @property
    def module_name(self) -> str:
        return "audiodiff_metadata_" + hashlib.sha1(self.path.encode()).hexdigest()[:12]

    def load(self) -> Callable[[dict[str, Any], Tensor], dict[str, Any]]:
        if self._function is None:
            module = sys.modules.get(self.module_name)
            if module is None:
                spec = importlib.util.spec_from_file_location(self.module_name, self.path)
                if spec is None or spec.loader is None:
                    raise ImportError(f"`{self.path}` cannot be imported as a Python module")
                module = importlib.util.module_from_spec(spec)
                sys.modules[self.module_name] = module
                try:
                    spec.loader.exec_module(module)
                except BaseException:
                    del sys.modules[self.module_name]
                    raise
            function = getattr(module, METADATA_FUNCTION, None)
            if not callable(function):
                raise ImportError(f"`{self.path}` defines no `{METADATA_FUNCTION}(info, audio)` function")
            self._function = function
        return self._function

    def __call__(self, info: dict[str, Any], audio: Tensor) -> dict[str, Any]:
        extra = self.load()(info, audio)
        if not isinstance(extra, dict):
            raise TypeError(f"`{METADATA_FUNCTION}` in `{self.path}` returned {type(extra).__name__}, not a dict")
        return extra

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "_function": None}
