"""Which config changes a resumed run can absorb (user need 8): every difference between the config embedded in
the checkpoint and the current one, each classified.

  safe      demos and logging: not training state at all
  applied   optimisation and sampling hyper-parameters (learning rate, betas, scheduler constants, CFG dropout,
            timestep sampler, ...): the restored state is kept and the new values take effect from the next step
  unsafe    everything else: the architecture, the data geometry (rates, lengths, channels), the objective, the
            optimizer or scheduler type, EMA on/off, and optimizer settings that restoring the optimizer would
            silently take back from the checkpoint (`amsgrad`, `nesterov`, `fused`, `foreach`, `adam_w_mode`).
            Refused unless the run is forced.

Both configs are compared after validation with defaults filled in, so spelling out a default is no change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from audiodiff.schema.pointer import join

# the optimizer `config` keys `optim.apply_hyperparameters` makes take effect after a resume (`lr` through the base
# rate); any other key (`amsgrad`, `nesterov`, `fused`, `foreach`, `adam_w_mode`) keeps the checkpoint's value.
# Declared here, without torch, so that `run --check` judges a resume without importing it.
OPTIMIZER_HYPERPARAMETERS = ("betas", "eps", "weight_decay", "momentum", "dampening")
APPLIED_OPTIMIZER_SETTINGS = ("lr", *OPTIMIZER_HYPERPARAMETERS)

ChangeKind = Literal["safe", "applied", "unsafe"]

_RULES: list[tuple[re.Pattern[str], ChangeKind, str]] = [
    (re.compile(r"^/training/demo(/|$)"), "safe", "demo settings are not training state"),
    (re.compile(r"^/training/log_loss_info$"), "safe", "logging only"),
    (re.compile(r"^/training/loss_configs(/|$)"), "safe", "not read for diffusion models"),
    (re.compile(r"^/training/learning_rate$"), "applied", "learning rate"),
    (
        re.compile(
            r"^/training/optimizer_configs/[^/]+/optimizer/config/(" + "|".join(APPLIED_OPTIMIZER_SETTINGS) + r")(/|$)"
        ),
        "applied",
        "optimizer hyper-parameter",
    ),
    (
        re.compile(r"^/training/optimizer_configs/[^/]+/optimizer/config(/|$)"),
        "unsafe",
        "resuming restores the optimizer with the checkpoint's value of this setting",
    ),
    (re.compile(r"^/training/optimizer_configs/[^/]+/scheduler/config(/|$)"), "applied", "scheduler constant"),
    (
        re.compile(
            r"^/training/(cfg_dropout_prob|timestep_sampler|timestep_sampler_options|p_one_shot|mask_padding"
            r"|mask_padding_dropout|clip_grad_norm)(/|$)"
        ),
        "applied",
        "training hyper-parameter",
    ),
]


@dataclass(frozen=True)
class ConfigChange:
    pointer: str  # RFC 6901, into the current config (or the old one, for removed entries)
    old: Any
    new: Any
    kind: ChangeKind
    reason: str

    def describe(self) -> str:
        return f"{self.pointer or '/'}: {_show(self.old)} -> {_show(self.new)}"


class _Absent:
    """The value on the side of a diff where a key does not exist."""

    def __repr__(self) -> str:
        return "(absent)"


ABSENT = _Absent()


def _show(value: Any) -> str:
    if value is ABSENT:
        return "(absent)"
    text = repr(value) if not isinstance(value, (dict, list)) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def classify(pointer: str) -> tuple[ChangeKind, str]:
    for pattern, kind, reason in _RULES:
        if pattern.search(pointer):
            return kind, reason
    if pointer.startswith("/training/"):
        return "unsafe", "changes what the restored training state means"
    return "unsafe", "changes the model or the data it is trained on"


def diff_configs(old: Any, new: Any, pointer: str = "") -> list[ConfigChange]:
    """Every leaf-level difference between two plain JSON-like configs, classified."""
    if pointer == "" and isinstance(old, dict) and isinstance(new, dict):
        old = {key: value for key, value in old.items() if key != "schema_version"}
        new = {key: value for key, value in new.items() if key != "schema_version"}
    if isinstance(old, dict) and isinstance(new, dict):
        changes = []
        for key in list(old) + [k for k in new if k not in old]:
            changes += diff_configs(old.get(key, ABSENT), new.get(key, ABSENT), join(pointer, key))
        return changes
    if isinstance(old, (list, tuple)) and isinstance(new, (list, tuple)) and len(old) == len(new):
        changes = []
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            changes += diff_configs(a, b, join(pointer, index))
        return changes
    if _same(old, new):
        return []
    kind, reason = classify(pointer)
    return [ConfigChange(pointer, old, new, kind, reason)]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def normalised(data: dict[str, Any]) -> dict[str, Any] | None:
    """A model config with every default filled in (the validated spec, dumped), or None when it does not
    validate; both sides of a diff are read the same way."""
    from audiodiff.schema.migrate import read_document
    from audiodiff.schema.validate import validate_data

    migrated = read_document(data)
    if migrated.data is None:
        return None
    body = {key: value for key, value in migrated.data.items() if key != "schema_version"}
    result = validate_data(body)
    spec = result.model_spec
    if not result.ok or spec is None:
        return None
    return spec.model_dump(mode="json", exclude_none=False)
