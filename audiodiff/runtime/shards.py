"""WebDataset shards (`dataset_type` `wds` / `s3`): finding them, opening them, and looking inside the first one.

A source is found as stable-audio-tools finds it: `path` is a local folder searched recursively for `.tar` files,
`s3_path` an S3 prefix listed recursively (every object whose name holds `tar`). audiodiff also reads shard lists
with brace expansion (`shards/train-{000..127}.tar`), `s3://` (and other fsspec) URLs and `pipe:COMMAND` URLs in
either key. S3 goes through fsspec's `s3fs` client (`pip install 'audiodiff[data]'`): credentials come from the
usual environment (`AWS_ACCESS_KEY_ID`, `AWS_PROFILE`, `~/.aws`, instance roles), never from the config text;
`profile` names a profile of `~/.aws/config`. The `aws` command runs only when a `pipe:aws s3 cp ...` URL asks
for it.

Everything here is torch-free, so `audiodiff run --check` can list and probe shards in a fraction of a second;
`runtime/shard_data.py` streams them for training through the `webdataset` library.
"""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

AUDIO_MEMBERS = ("flac", "wav", "mp3", "m4a", "ogg", "opus")  # upstream's AUDIO_KEYS, in its order
LATENT_MEMBER = "npy"
PROBE_BYTES = 256 * 1024 * 1024  # the probe gives up on a first sample that is not complete within this much


class ShardListingError(Exception):
    """A source whose shards could not be listed; `kind` is `missing`, `client`, `credentials` or `other`."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class ShardSource:
    """The shards of one `datasets` entry, in a fixed order (every rank and node lists the same)."""

    dataset_id: str
    urls: tuple[str, ...]
    profile: str | None = None


@dataclass
class ProbedSample:
    """What the first sample of a shard holds."""

    key: str
    members: list[str]  # its member suffixes (`flac`, `json`, ...)
    metadata: dict[str, Any] = field(default_factory=dict)
    audio: tuple[int, int, int] | None = None  # (frames, sample rate, channels) of the decoded audio member
    latents: tuple[int, ...] | None = None  # shape of the `npy` member


# --- listing -------------------------------------------------------------------------------------------------------


def is_url(text: str) -> bool:
    return text.startswith("pipe:") or "://" in text


def expand_braces(text: str) -> list[str]:
    import braceexpand

    return list(braceexpand.braceexpand(text))


def list_source(
    dataset_id: str, *, path: str | None, s3_path: str | None, profile: str | None, config_dir: Path
) -> ShardSource:
    """The shard URLs of one source (sorted when found by listing; in the written order when spelled out)."""
    if s3_path is not None:
        urls = _list_remote(s3_path if "://" in s3_path else f"s3://{s3_path}", profile)
    elif path is not None:
        urls = _list_path(path, config_dir, profile)
    else:
        raise ShardListingError("missing", "the source has neither `path` nor `s3_path`")
    if not urls:
        where = s3_path or path
        raise ShardListingError("missing", f"no `.tar` shards found under `{where}`")
    return ShardSource(dataset_id, tuple(urls), profile)


def _list_path(value: str, config_dir: Path, profile: str | None) -> list[str]:
    if "{" in value:  # an explicit shard list: each name is taken as written
        return [_local_or_url(item, config_dir) for item in expand_braces(value)]
    if value.startswith("pipe:"):
        return [value]
    if "://" in value:
        return _list_remote(value, profile) if not value.endswith(".tar") else [value]
    candidate = Path(value).expanduser()
    bases = [Path()] if candidate.is_absolute() else [config_dir, Path.cwd()]
    for base in bases:
        found = base / candidate
        if found.is_file():
            return [str(found.resolve())]
        if found.is_dir():
            return sorted(str(p.resolve()) for p in found.rglob("*.tar") if p.is_file())
    raise ShardListingError("missing", f"the shard folder `{value}` does not exist")


def _local_or_url(item: str, config_dir: Path) -> str:
    """One name of a shard list: a URL as written; a relative path from the config's folder, else (as upstream
    reads paths) from the working directory; a shard found in neither is reported against the config's folder."""
    if is_url(item):
        return item
    candidate = Path(item).expanduser()
    if candidate.is_absolute():
        return str(candidate)
    for base in (config_dir, Path.cwd()):
        if (base / candidate).exists():
            return str((base / candidate).resolve())
    return str((config_dir / candidate).resolve())


def storage_options(url: str, profile: str | None) -> dict[str, Any]:
    return {"profile": profile} if profile and url.startswith("s3://") else {}


def _filesystem(url: str, profile: str | None) -> Any:
    try:
        import fsspec
    except ImportError as error:  # pragma: no cover - fsspec comes with Lightning
        raise ShardListingError("client", f"fsspec is not installed: {error}") from None
    protocol = url.split("://", 1)[0]
    try:
        return fsspec.filesystem(protocol, **storage_options(url, profile))
    except (ImportError, ValueError) as error:
        raise ShardListingError(
            "client", f"no client for `{protocol}://` URLs is installed ({describe_error(error)})"
        ) from None


def _list_remote(prefix: str, profile: str | None) -> list[str]:
    """Every object below `prefix` whose name holds `tar`, as full URLs, sorted."""
    if "{" in prefix:
        return expand_braces(prefix)
    filesystem = _filesystem(prefix, profile)
    protocol = prefix.split("://", 1)[0]
    try:
        names = filesystem.find(prefix.rstrip("/"))
    except FileNotFoundError:
        raise ShardListingError("missing", f"`{prefix}` does not exist") from None
    except Exception as error:  # a client's own exception types (botocore's) cannot be named without importing it
        raise ShardListingError(
            classify_error(error), f"`{prefix}` could not be listed: {describe_error(error)}"
        ) from None
    urls = []
    for name in names:
        if "tar" not in name.rsplit("/", 1)[-1]:
            continue
        urls.append(name if "://" in name else f"{protocol}://{name.lstrip('/')}")
    return sorted(urls)


def classify_error(error: BaseException) -> str:
    name = type(error).__name__
    text = str(error).lower()
    if isinstance(error, PermissionError) or "credential" in name.lower() or "credentials" in text:
        return "credentials"
    if "accessdenied" in text.replace(" ", "") or "forbidden" in text or "invalidaccesskeyid" in text:
        return "credentials"
    return "other"


def describe_error(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


# --- opening -------------------------------------------------------------------------------------------------------


def open_shard(url: str, profile: str | None = None) -> IO[bytes]:
    """A binary stream of one shard: a local file, a `pipe:` command's output, or an fsspec URL."""
    if url.startswith("pipe:"):
        command = url[len("pipe:") :].strip()
        program = command.split()[0] if command.split() else ""
        if not program or shutil.which(program) is None:
            raise ShardListingError("client", f"the command `{program}` of `{url}` is not on PATH")
        import subprocess

        process = subprocess.Popen(command, shell=True, stdout=subprocess.PIPE)  # the user's own shard command
        assert process.stdout is not None
        return cast(IO[bytes], _PipeStream(process))  # a RawIOBase reads as a binary file does
    if "://" in url:
        import fsspec

        return fsspec.open(url, "rb", **storage_options(url, profile)).open()
    return open(url, "rb")


class _PipeStream(io.RawIOBase):
    """A command's standard output; a non-zero exit at the end of the stream is an error, as a truncated file is."""

    def __init__(self, process: Any) -> None:
        self.process = process

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = self.process.stdout.readinto(buffer)
        if count == 0 and self.process.wait() != 0:
            raise OSError(f"the shard command exited with status {self.process.returncode}")
        return int(count)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()
        super().close()


# --- the first sample -------------------------------------------------------------------------------------------


def split_member(name: str) -> tuple[str, str]:
    """(sample key, member suffix) as webdataset splits a member name: the key ends at the first dot of the file
    name, so `a/b.seg1.flac` is key `a/b`, suffix `seg1.flac`."""
    folder, _, base = name.rpartition("/")
    stem, dot, suffix = base.partition(".")
    return (f"{folder}/{stem}" if folder else stem), suffix.lower() if dot else ""


def first_sample(url: str, profile: str | None = None) -> dict[str, bytes]:
    """The members of the first sample of a shard (`__key__` included), read with the standard tar reader."""
    with open_shard(url, profile) as stream, tarfile.open(fileobj=stream, mode="r|*") as archive:
        sample: dict[str, bytes] = {}
        key = None
        read = 0
        for member in archive:
            if not member.isreg() or member.name.rpartition("/")[2].startswith("__"):
                continue
            member_key, suffix = split_member(member.name)
            if key is not None and member_key != key:
                break
            key = member_key
            handle = archive.extractfile(member)
            data = handle.read() if handle is not None else b""
            read += len(data)
            sample[suffix] = data
            if read > PROBE_BYTES:
                break
        if key is None:
            raise ValueError("the shard holds no sample")
        sample["__key__"] = key.encode()
        return sample


def audio_member(sample: dict[str, Any]) -> str | None:
    """The suffix of the member holding the audio: the first whose name ends in one of upstream's audio kinds."""
    for kind in AUDIO_MEMBERS:
        for suffix in sample:
            if not suffix.startswith("__") and suffix.endswith(kind):
                return suffix
    return None


def probe(url: str, profile: str | None = None, *, pre_encoded: bool) -> ProbedSample:
    """Open a shard and decode its first sample as training will (raises OSError / ValueError when it cannot)."""
    sample = first_sample(url, profile)
    probed = ProbedSample(sample["__key__"].decode(), sorted(s for s in sample if not s.startswith("__")))
    if "json" in sample:
        metadata = json.loads(sample["json"])
        if not isinstance(metadata, dict):
            raise ValueError(f"the `json` member of `{probed.key}` is not a JSON object")
        probed.metadata = metadata
    if pre_encoded:
        if LATENT_MEMBER not in sample:
            raise ValueError(f"the sample `{probed.key}` has no `npy` member (members: {', '.join(probed.members)})")
        import numpy as np

        probed.latents = tuple(np.load(io.BytesIO(sample[LATENT_MEMBER]), allow_pickle=False).shape)
        return probed
    suffix = audio_member(sample)
    if suffix is None:
        raise ValueError(
            f"the sample `{probed.key}` has no audio member ({', '.join(AUDIO_MEMBERS)}); "
            f"members: {', '.join(probed.members)}"
        )
    import soundfile

    info = soundfile.info(io.BytesIO(sample[suffix]))
    probed.audio = (int(info.frames), int(info.samplerate), int(info.channels))
    return probed


def iterate_samples(url: str, profile: str | None = None) -> Iterator[dict[str, bytes]]:
    """Every sample of one shard, for `dataset inspect` (training streams through webdataset instead)."""
    with open_shard(url, profile) as stream, tarfile.open(fileobj=stream, mode="r|*") as archive:
        sample: dict[str, bytes] = {}
        key = None
        for member in archive:
            if not member.isreg() or member.name.rpartition("/")[2].startswith("__"):
                continue
            member_key, suffix = split_member(member.name)
            if key is not None and member_key != key:
                sample["__key__"] = key.encode()
                yield sample
                sample = {}
            key = member_key
            handle = archive.extractfile(member)
            sample[suffix] = handle.read() if handle is not None else b""
        if key is not None:
            sample["__key__"] = key.encode()
            yield sample
