"""The one way audiodiff reads a whole file: regular files only, with the size limit checked before reading.

A path a user hands us may name anything: a FIFO (an ordinary `open` blocks forever waiting for a writer), a
character device (`/dev/zero` never ends, `/dev/random` blocks), a folder, or a file that grows while it is read.
`read_regular` opens without blocking, checks what it opened (not what the name pointed at a moment earlier),
refuses everything that is not a regular file, refuses a file over `max_bytes` from its size alone, and reads at
most `max_bytes + 1` bytes in any case. Every refusal is a `FileRefused` whose message is one sentence for the user.
"""

from __future__ import annotations

import os
import stat
from typing import Literal

Refusal = Literal["missing", "not-regular", "too-large", "unreadable"]

_CHUNK = 1 << 20


class FileRefused(Exception):
    """A file that was not read; `reason` says which kind of refusal, `str()` says why in one sentence."""

    def __init__(self, reason: Refusal, message: str, size: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.size = size  # the file's size when `reason` is "too-large" and it was known


def describe_mode(mode: int) -> str:
    """What a non-regular file is, in words."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def check_regular(path: str | os.PathLike[str]) -> os.stat_result:
    """The stat of `path` (links followed) when it is a regular file; FileRefused otherwise."""
    name = os.fsdecode(os.fspath(path))
    try:
        info = os.stat(name)
    except (FileNotFoundError, NotADirectoryError) as error:
        raise FileRefused("missing", f"`{name}` does not exist") from error
    except (OSError, ValueError) as error:  # ValueError: a NUL byte in the name
        raise FileRefused("unreadable", f"`{name}` cannot be read: {reason_of(error)}") from error
    if not stat.S_ISREG(info.st_mode):
        raise FileRefused("not-regular", f"`{name}` is {describe_mode(info.st_mode)}, not a regular file")
    return info


def read_regular(path: str | os.PathLike[str], max_bytes: int) -> bytes:
    """The bytes of a regular file of at most `max_bytes`; FileRefused for anything else (never blocks, never
    reads more than `max_bytes + 1` bytes)."""
    name = os.fsdecode(os.fspath(path))
    check_regular(name)  # refuse devices and FIFOs before even opening them
    try:
        # O_NONBLOCK: should the name have been swapped for a FIFO since the stat, opening it still returns at once
        descriptor = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError as error:
        raise FileRefused("missing", f"`{name}` does not exist") from error
    except (OSError, ValueError) as error:
        raise FileRefused("unreadable", f"`{name}` cannot be read: {reason_of(error)}") from error
    try:
        info = os.fstat(descriptor)  # what was opened, not what the name pointed at before
        if not stat.S_ISREG(info.st_mode):
            raise FileRefused("not-regular", f"`{name}` is {describe_mode(info.st_mode)}, not a regular file")
        if info.st_size > max_bytes:
            raise FileRefused("too-large", _too_large(name, info.st_size, max_bytes), info.st_size)
        chunks: list[bytes] = []
        total = 0
        while total <= max_bytes:  # the file may grow after the fstat: never read past the limit
            chunk = os.read(descriptor, min(_CHUNK, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except OSError as error:
        raise FileRefused("unreadable", f"`{name}` cannot be read: {reason_of(error)}") from error
    finally:
        os.close(descriptor)
    if total > max_bytes:
        raise FileRefused("too-large", _too_large(name, None, max_bytes))
    return b"".join(chunks)


def read_regular_text(path: str | os.PathLike[str], max_bytes: int) -> str:
    """`read_regular` decoded as UTF-8 (bad bytes replaced): for files whose text is only shown or scanned."""
    return read_regular(path, max_bytes).decode("utf-8", errors="replace")


def _too_large(name: str, size: int | None, max_bytes: int) -> str:
    held = f"{size} bytes" if size is not None else f"more than {max_bytes} bytes"
    return f"`{name}` holds {held}, over the limit of {max_bytes} bytes ({max_bytes / 2**20:g} MiB)"


def reason_of(error: BaseException) -> str:
    return getattr(error, "strerror", None) or str(error)
