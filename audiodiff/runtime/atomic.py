"""Writing files so that a crash, a kill or a full disk never leaves a half-written file where a good one was.

Every writer goes through `atomic_output`: the data go to a temporary file in the same folder, which is flushed to
disk and then renamed over the target, and the folder itself is synced so that the rename survives a power cut.
The new file gets the permissions an ordinary `open()` would give it (the umask applies), or, when it replaces a
file, that file's permissions; a symbolic link is followed, so the file it points to is the one replaced.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system lets a folder be opened for syncing
        handle = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yields a temporary path beside `path` to write to; on success it replaces `path` atomically, on any error
    it is removed and `path` is untouched."""
    target = Path(os.path.realpath(path))
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(handle)
    try:
        try:
            mode = stat.S_IMODE(os.stat(target).st_mode)
        except FileNotFoundError:
            mode = 0o666 & ~_umask()
        os.chmod(temporary, mode)  # mkstemp creates 0600 whatever the umask
        yield Path(temporary)
        # again once written: some writers (safetensors) replace the file they are given, with their own 0600 mode
        os.chmod(temporary, mode)
        with open(temporary, "rb+") as stream:
            os.fsync(stream.fileno())
        os.replace(temporary, target)
        _fsync_folder(target.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    with atomic_output(path) as temporary:
        temporary.write_bytes(data)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))
