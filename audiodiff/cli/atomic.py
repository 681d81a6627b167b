"""Kept for imports that predate the move: the atomic writers live in `audiodiff.runtime.atomic`."""

from audiodiff.runtime.atomic import write_bytes_atomic, write_text_atomic

__all__ = ["write_bytes_atomic", "write_text_atomic"]
