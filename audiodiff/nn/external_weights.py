"""Loading pretrained encoders and tokenizers from local files only, for the text and CLAP conditioners.

Nothing here downloads: hub names are looked up in the local Hugging Face cache (`local_files_only=True`) and the
hub client is forced offline while loading, so a stray request inside a third-party package raises instead.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from torch import nn

from audiodiff.nn.conditioners import Conditioner
from audiodiff.nn.errors import MissingExtraError, MissingWeightsError

__all__ = [
    "ExternalEncoderConditioner",
    "check_texts",
    "load_local_tokenizer",
    "missing_detail",
    "offline_and_quiet",
    "require_module",
    "resolve_local_source",
]


@contextlib.contextmanager
def offline_and_quiet() -> Iterator[None]:
    """Forces the Hugging Face hub offline and mutes transformers' logging and warnings for the duration."""
    hub_constants = _hub_constants()
    previous_offline = False
    if hub_constants is not None:
        previous_offline = hub_constants.HF_HUB_OFFLINE
        hub_constants.HF_HUB_OFFLINE = True  # read at request time: any HTTP attempt raises instead
    previous_level = logging.root.manager.disable
    logging.disable(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous_level)
        if hub_constants is not None:
            hub_constants.HF_HUB_OFFLINE = previous_offline


def _hub_constants() -> Any:
    """`huggingface_hub.constants` (a module whose settings are written), or None without the package."""
    try:
        from huggingface_hub import constants
    except ImportError:
        return None
    return constants


def require_module(module: str, *, extra: str, feature: str) -> None:
    """Raises MissingExtraError when `module` is not importable (checked without importing it)."""
    if importlib.util.find_spec(module) is None:
        raise MissingExtraError(extra=extra, feature=feature, detail=f"the `{module}` package is not installed")


def resolve_local_source(name: str, local_path: str | os.PathLike[str] | None, *, feature: str) -> str:
    """A local folder when one is given (it must exist), otherwise the hub name, to be found in the local cache."""
    if local_path is None:
        return name
    path = Path(local_path)
    if not path.is_dir():
        raise MissingWeightsError(source=str(path), feature=feature, detail="the folder does not exist")
    return str(path)


def load_local_tokenizer(source: str, *, cache_dir: str | os.PathLike[str] | None, feature: str) -> Any:
    """A Hugging Face tokenizer from a local folder or the local cache; MissingWeightsError when absent."""
    try:
        from transformers import AutoTokenizer
    except ImportError as error:
        raise MissingExtraError(extra="t5", feature=feature, detail="`transformers` is not installed") from error
    try:
        with offline_and_quiet():
            return AutoTokenizer.from_pretrained(source, local_files_only=True, cache_dir=cache_dir)
    except (OSError, ValueError) as error:
        raise MissingWeightsError(source=source, feature=feature, detail=missing_detail(source, "tokenizer")) from error


def missing_detail(source: str, what: str) -> str:
    """Why a local load failed, phrased as what to do about it."""
    if Path(source).is_dir():
        return f"the folder has no usable {what} files"
    return f"no {what} for it in the local Hugging Face cache: fetch it there first, or give a local folder"


def check_texts(values: Sequence[Any], conditioner: str) -> list[str]:
    """The batch values of a text conditioner, checked to be strings."""
    for index, value in enumerate(values):
        if not isinstance(value, str):
            raise ValueError(f"`{conditioner}` conditioner expects text, item `{index}` is `{type(value).__name__}`")
    return list(values)


class ExternalEncoderConditioner(Conditioner):
    """A conditioner whose encoder is loaded later into `model`: a submodule when trainable, hidden when frozen."""

    model: Any  # the third-party encoder (transformers, laion_clap): untyped; see `_attach_model`

    def _attach_model(self, model: nn.Module, *, trainable: bool) -> None:
        if trainable:
            self.model = model  # a submodule: its weights appear as `model.*` in the state dict
        else:
            # Outside the module tree, as the reference keeps frozen encoders: not saved, not moved by `.to()`.
            self.__dict__["model"] = model

    @property
    def is_loaded(self) -> bool:
        return "model" in self.__dict__ or "model" in self._modules

    def _require_loaded(self, conditioner: str) -> None:
        if not self.is_loaded:
            raise RuntimeError(f"the `{conditioner}` conditioner has no weights yet: call `load_weights()` first")
