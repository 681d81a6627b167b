"""The LoRA parts of `audiodiff ckpt`: folding adapters into an export (`export --merge`, or a LoRA run's own
checkpoint) and inspecting adapter files."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

from audiodiff.cli.report import fail
from audiodiff.diagnostics import codes

_BASE_HELP = "pass the base checkpoint the adapters were trained from (`audiodiff ckpt inspect ADAPTER` shows it)"


def fold_adapters(path: Path, checkpoint: Any, merge: Path | None) -> tuple[dict[str, Any], Any, str] | int:
    """(state dict, config, a note for the summary line) with every adapter folded in, or an exit code after
    reporting why that cannot be done."""
    from audiodiff.nn.lora import is_adapter_key
    from audiodiff.runtime.adapters import (
        AdapterFileError,
        fold_own_adapters,
        merge_into_state_dict,
        read_adapters,
    )

    state = checkpoint.state_dict
    own = sum(1 for key in state if key.endswith(".lora_A"))
    if own and merge is not None:
        return fail(
            str(path),
            codes.ADAPTER_UNUSABLE,
            "this checkpoint holds LoRA adapters of its own; it cannot take another adapter file",
            help="export it first (its adapters are folded in), then `--merge` into that export",
        )
    if own:
        scale = _scale_of(checkpoint.config)
        if scale is None:
            return fail(
                str(path),
                codes.ADAPTER_UNUSABLE,
                "the checkpoint holds LoRA adapters but its config has no `training.lora` to scale them by",
            )
        folded, count = fold_own_adapters(state, scale)
        return folded, _plain_config(checkpoint.config), f", with its {count} LoRA adapters folded in"
    if merge is None:
        return state, checkpoint.config, ""
    try:
        adapter = read_adapters(merge)
        merged = merge_into_state_dict(state, adapter, f"`{path}`")
    except AdapterFileError as error:
        if error.mismatch:
            return fail(str(merge), codes.ADAPTER_BASE_MISMATCH, str(error), help=_BASE_HELP)
        return fail(str(merge), codes.ADAPTER_UNUSABLE, str(error))
    assert not any(is_adapter_key(key) for key in merged)
    config = checkpoint.config if checkpoint.config is not None else adapter.config
    return merged, _plain_config(config), f", with the {len(adapter.layers)} LoRA adapters of `{merge}` folded in"


def _scale_of(config: dict[str, Any] | None) -> float | None:
    training = config.get("training") if isinstance(config, dict) else None
    lora = training.get("lora") if isinstance(training, dict) else None
    if not isinstance(lora, dict) or not isinstance(lora.get("rank"), int) or lora["rank"] <= 0:
        return None
    alpha = lora.get("alpha")
    return (float(alpha) if isinstance(alpha, (int, float)) else float(lora["rank"])) / lora["rank"]


def _plain_config(config: dict[str, Any] | None) -> dict[str, Any] | None:
    """The config of the merged model: the same, without `training.lora` (its weights are plain weights now)."""
    if not isinstance(config, dict) or not isinstance(config.get("training"), dict):
        return config
    plain = copy.deepcopy(config)
    plain["training"].pop("lora", None)
    return plain


def inspect_adapters(path: Path, *, format: str) -> int:
    from audiodiff.runtime.adapters import AdapterFileError, read_adapters

    try:
        adapter = read_adapters(path)
    except AdapterFileError as error:
        return fail(str(path), codes.ADAPTER_UNUSABLE, str(error))
    size = path.stat().st_size
    config = adapter.config or {}
    lora = (config.get("training") or {}).get("lora") if isinstance(config.get("training"), dict) else None
    summary: dict[str, Any] = {
        "path": str(path),
        "kind": "lora-adapters",
        "layers": len(adapter.layers),
        "rank": adapter.rank,
        "scale": adapter.scale,
        "parameters": adapter.params,
        "bytes": size,
        "base_fingerprint": adapter.base_fingerprint,
        "target_modules": lora.get("target_modules") if isinstance(lora, dict) else None,
        "model_type": config.get("model_type"),
    }
    if format == "json":
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
        return 0
    print(f"{path}")
    print("  kind            LoRA adapters (apply with `sample --lora`, fold with `ckpt export --merge`)")
    print(f"  layers          {len(adapter.layers)} (rank {adapter.rank}, scale {adapter.scale:g})")
    print(f"  parameters      {adapter.params:,} ({size:,} bytes)")
    if summary["target_modules"] is not None:
        print(f"  targets         {', '.join(summary['target_modules'])}")
    print(f"  base weights    fingerprint {adapter.base_fingerprint}")
    print(f"  config          {summary['model_type'] or 'none embedded'}")
    return 0
