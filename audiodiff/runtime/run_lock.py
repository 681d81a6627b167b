"""One writer per run folder.

`audiodiff run` holds an exclusive lock on `<output>/.audiodiff-run.lock` for as long as it may write there. The
lock is an OS advisory lock (`flock`) on an open descriptor, so the kernel releases it when the process ends in any
way, SIGKILL and power loss included: a lock file left by a crashed run is recognisably stale (nobody holds it) and
the next run takes it over. The file records who holds it (pid, host, start time), so a second run that finds the
lock held refuses with a diagnostic naming the holder, instead of interleaving checkpoints and `metrics.csv` rows.

On platforms without `fcntl` (Windows) the lock file is created exclusively instead and removed on exit; one left by
a crash is named in the refusal and removed by hand.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

LOCK_NAME = ".audiodiff-run.lock"


@dataclass(frozen=True)
class Holder:
    pid: int | None
    host: str | None
    started: str | None

    def describe(self) -> str:
        who = f"pid {self.pid}" if self.pid is not None else "an unknown process"
        where = f" on host `{self.host}`" if self.host else ""
        since = f" since {self.started}" if self.started else ""
        return who + where + since


class RunFolderLocked(Exception):
    """Another run holds the folder's lock."""

    def __init__(self, folder: Path, holder: Holder) -> None:
        super().__init__(f"`{folder}` is in use by another `audiodiff run` ({holder.describe()})")
        self.folder = folder
        self.holder = holder


@dataclass
class Lock:
    path: Path
    stale: Holder | None  # the holder recorded by a run that ended without releasing the lock, if any


def read_holder(path: Path) -> Holder:
    """Who the lock file says holds it (fields that cannot be read are None)."""
    try:
        with open(path, "rb") as stream:
            data = json.loads(stream.read(4096) or b"{}")
    except (OSError, ValueError):
        return Holder(None, None, None)
    if not isinstance(data, dict):
        return Holder(None, None, None)
    pid = data.get("pid")
    host = data.get("host")
    started = data.get("started")
    return Holder(
        pid if isinstance(pid, int) and not isinstance(pid, bool) else None,
        host if isinstance(host, str) else None,
        started if isinstance(started, str) else None,
    )


def _record() -> bytes:
    return json.dumps(
        {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
    ).encode()


@contextlib.contextmanager
def hold_run_folder(folder: str | os.PathLike[str]) -> Iterator[Lock]:
    """Hold the run folder's lock for the duration of the block; RunFolderLocked when another run holds it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    try:
        import fcntl
    except ImportError:  # Windows
        with _exclusive_file(folder, path) as lock:
            yield lock
        return
    descriptor = os.open(
        path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0), 0o666
    )
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunFolderLocked(folder, read_holder(path)) from None
        previous = read_holder(path)
        stale = previous if previous.pid is not None else None  # a record nobody holds: a run that crashed
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, _record(), 0)
        try:
            yield Lock(path, stale)
        finally:
            # emptied, not deleted: deleting would let a third run lock a new file while a second still waits on
            # this one's descriptor
            with contextlib.suppress(OSError):
                os.ftruncate(descriptor, 0)
    finally:
        os.close(descriptor)  # releases the flock


@contextlib.contextmanager
def _exclusive_file(folder: Path, path: Path) -> Iterator[Lock]:
    """The fallback: the lock is the file's existence. Whether its pid still lives cannot be asked safely here
    (`os.kill(pid, 0)` terminates a process on Windows), so a crashed run's lock file is removed by hand."""
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:
        raise RunFolderLocked(folder, read_holder(path)) from None
    try:
        os.write(descriptor, _record())
    finally:
        os.close(descriptor)
    try:
        yield Lock(path, None)
    finally:
        path.unlink(missing_ok=True)
