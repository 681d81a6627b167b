"""Rewriting a user's file in place without losing anything: `migrate --write`'s last step.

- The file is compared with the text that was migrated, under an exclusive lock on the file, right before writing:
  an edit made meanwhile (an editor's save, another `migrate`) is never overwritten; the write is refused.
- A link is never followed out of the walked tree: the file's real path must lie inside the real path of the folder
  the walk started from (for a file named directly, the folder that holds the name).
- Owner, permissions and hard links are kept. A file with one link owned by the user is replaced atomically (a
  temporary beside it, synced, renamed over it, its mode kept). A file with other hard links, or owned by someone
  else, keeps its inode: the new text is first written and verified in a temporary beside it, then copied over the
  file in place, and the temporary removed only after that succeeded.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from audiodiff.runtime.atomic import write_bytes_atomic
from audiodiff.schema.reading import FileRefused, read_regular
from audiodiff.schema.source import MAX_FILE_BYTES

_UTF8_BOM = b"\xef\xbb\xbf"


class RewriteRefused(Exception):
    """The file was not written; `str()` says why in one sentence."""


def inside(path: Path, root: Path) -> bool:
    """Whether the real path of `path` lies inside the real path of folder `root`."""
    real, base = os.path.realpath(path), os.path.realpath(root)
    return real == base or real.startswith(base.rstrip(os.sep) + os.sep)


@contextlib.contextmanager
def _locked(path: str) -> Iterator[int]:
    """An exclusive advisory lock on the file itself (other `migrate` runs wait; it never blocks a reader)."""
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        try:
            import fcntl

            fcntl.flock(descriptor, fcntl.LOCK_EX)
        except ImportError:  # Windows: the content comparison alone guards the write
            pass
        yield descriptor
    finally:
        os.close(descriptor)  # releases the lock


def rewrite(path: Path, *, expected_text: str, new_text: str, root: Path) -> None:
    """Write `new_text` over `path` if the file still holds `expected_text` (a UTF-8 BOM it had is kept)."""
    if not inside(path, root):
        raise RewriteRefused(
            f"`{path}` is a link to `{os.path.realpath(path)}`, outside `{root}`; "
            "it is not rewritten (migrate the file where it lives)"
        )
    real = os.path.realpath(path)
    try:
        with _locked(real):
            try:
                current = read_regular(real, MAX_FILE_BYTES)
            except FileRefused as refused:
                raise RewriteRefused(str(refused)) from None
            bom = _UTF8_BOM if current.startswith(_UTF8_BOM) else b""
            if current[len(bom) :] != expected_text.encode("utf-8"):
                raise RewriteRefused(f"`{path}` changed since it was read; nothing was written (run `migrate` again)")
            data = bom + new_text.encode("utf-8")
            info = os.stat(real)
            if info.st_nlink == 1 and info.st_uid == _euid():
                write_bytes_atomic(real, data)  # keeps the mode; the owner is the user already
            else:
                _write_in_place(Path(real), data, info)
    except OSError as error:
        raise RewriteRefused(f"`{path}` cannot be written: {error.strerror or error}") from None


def _euid() -> int:
    return os.geteuid() if hasattr(os, "geteuid") else -1


def _write_in_place(real: Path, data: bytes, info: os.stat_result) -> None:
    """Keep the inode (hard links, owner, mode): a verified copy first, then the file overwritten in place."""
    temporary = real.with_name(f".{real.name}.migrate.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IMODE(info.st_mode) & 0o600)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        if temporary.read_bytes() != data:
            raise OSError(f"the copy in `{temporary}` did not read back as written")
    except BaseException:
        temporary.unlink(missing_ok=True)  # the original was not touched
        raise
    try:
        with open(real, "r+b") as stream:
            stream.write(data)
            stream.truncate()
            stream.flush()
            os.fsync(stream.fileno())
    except OSError as error:  # the file may be half written now: the verified copy stays beside it
        raise OSError(f"{error.strerror or error}; the migrated text is kept in `{temporary}`") from None
    temporary.unlink(missing_ok=True)
