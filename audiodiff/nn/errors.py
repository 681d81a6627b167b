"""Exceptions raised by audiodiff's torch modules that callers are expected to catch and report."""

from __future__ import annotations


class MissingExtraError(ImportError):
    """A feature needs an optional dependency group (`pip install audiodiff[<extra>]`) that is not installed."""

    def __init__(self, *, extra: str, feature: str, detail: str | None = None) -> None:
        self.extra = extra
        self.feature = feature
        message = f"{feature} needs the optional `{extra}` dependencies: `pip install audiodiff[{extra}]`"
        if detail:
            message = f"{message} ({detail})"
        super().__init__(message)


class MissingWeightsError(FileNotFoundError):
    """Pretrained weights or tokenizer files were asked for but are not on this machine (nothing is ever downloaded)."""

    def __init__(self, *, source: str, feature: str, detail: str | None = None) -> None:
        self.source = source
        self.feature = feature
        message = f"{feature} could not find `{source}` locally; audiodiff never downloads weights"
        if detail:
            message = f"{message} ({detail})"
        super().__init__(message)
