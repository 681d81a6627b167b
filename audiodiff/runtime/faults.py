"""What stops a run early, and how: a non-finite loss, a conditioning value no conditioner can read, and Ctrl-C.

A NaN or infinite loss raises `NonFiniteLossError` before the optimizer step that would spread it into the
weights, so the last checkpoint on disk stays the last good one. A batch whose metadata a conditioner cannot read
(text where a number belongs, a missing key) raises `ConditioningError` before its forward pass. The first Ctrl-C
(SIGINT) or SIGTERM only asks the run to stop: the next step boundary saves a checkpoint and ends training; a second
Ctrl-C interrupts at once. These decisions are made by all ranks together, so no rank is left waiting in a
collective.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any


class NonFiniteLossError(RuntimeError):
    def __init__(self, step: int, value: float, suspects: list[tuple[str, float]] | None = None) -> None:
        super().__init__(f"the loss at step {step} is {value}")
        self.step = step
        self.value = value
        self.suspects = suspects or []  # (file, largest magnitude) of batch items whose values are out of all scale


class ConditioningError(RuntimeError):
    """A batch holds a conditioning value that its conditioner cannot read; `paths` are the files it came from."""

    def __init__(self, message: str, paths: list[str], step: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.paths = paths
        self.step = step


class StopRequest:
    """A flag set by the first SIGINT / SIGTERM; the handlers are restored on `uninstall()`."""

    def __init__(self, notify: Callable[[str], None] | None = None) -> None:
        self.requested = False
        self._notify = notify or (lambda message: print(message, file=sys.stderr, flush=True))
        self._previous: dict[int, Any] = {}

    def install(self) -> StopRequest:
        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[signum] = signal.signal(signum, self._handle)
            except ValueError:  # not the main thread: leave the process's handlers alone
                pass
        return self

    def uninstall(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        self._notify(f"\n{name}: saving a checkpoint after this step, then stopping (Ctrl-C again aborts at once)")

    def __enter__(self) -> StopRequest:
        return self.install()

    def __exit__(self, *exc: object) -> None:
        self.uninstall()


def agree(trainer: Any, decision: bool) -> bool:
    """True on every rank when any rank decided so (a no-op without distributed training)."""
    if trainer is None or trainer.world_size <= 1:
        return decision
    return bool(trainer.strategy.reduce_boolean_decision(decision, all=False))
