"""A generated repository of configs for lint tests and `bench/lint_bench.py`: valid and invalid model and dataset
configs in JSON and YAML, nested folders, unrelated JSON/YAML files among them, and a `.gitignore`d folder.

Every file's expected outcome is known when it is written, so tests can compare counts exactly.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DIT_COND: dict[str, Any] = {
    "model_type": "diffusion_cond",
    "sample_rate": 16000,
    "sample_size": 16384,
    "audio_channels": 1,
    "model": {
        "io_channels": 64,
        "pretransform": {"type": "patched", "config": {"channels": 1, "patch_size": 64}},
        "conditioning": {
            "cond_dim": 64,
            "configs": [
                {"id": "class", "type": "list", "config": {"options": ["tone", "chirp", "noise"]}},
                {"id": "seconds_start", "type": "number", "config": {"min_val": 0, "max_val": 8}},
                {"id": "seconds_total", "type": "number", "config": {"min_val": 0, "max_val": 8}},
            ],
        },
        "diffusion": {
            "type": "dit",
            "diffusion_objective": "v",
            "cross_attention_cond_ids": ["class", "seconds_start", "seconds_total"],
            "global_cond_ids": ["seconds_start", "seconds_total"],
            "config": {
                "io_channels": 64,
                "embed_dim": 128,
                "depth": 2,
                "num_heads": 4,
                "cond_token_dim": 64,
                "global_cond_dim": 128,
                "transformer_type": "continuous_transformer",
            },
        },
    },
    "training": {
        "use_ema": True,
        "learning_rate": 1e-4,
        "demo": {
            "num_demos": 1,
            "demo_cond": [{"class": "tone", "seconds_start": 0, "seconds_total": 1}],
            "demo_cfg_scales": [1, 4],
        },
    },
}

UNET_UNCOND: dict[str, Any] = {
    "model_type": "diffusion_uncond",
    "sample_rate": 24000,
    "sample_size": 24576,
    "audio_channels": 1,
    "model": {
        "type": "adp_uncond_1d",
        "pretransform": {"type": "patched", "config": {"channels": 1, "patch_size": 16}},
        "config": {
            "in_channels": 16,
            "channels": 32,
            "multipliers": [1, 2, 2],
            "factors": [2, 2],
            "num_blocks": [1, 1],
            "attentions": [0, 0, 1],
            "attention_features": 32,
            "attention_multiplier": 2,
            "resnet_groups": 8,
        },
    },
    "training": {"learning_rate": 2e-4},
}

DATASET_AUDIO_DIR: dict[str, Any] = {
    "dataset_type": "audio_dir",
    "datasets": [{"id": "recordings", "path": "audio/"}],
    "random_crop": True,
}

DATASET_PRE_ENCODED: dict[str, Any] = {
    "dataset_type": "pre_encoded",
    "datasets": [{"id": "latents", "path": "latents/"}],
    "random_crop": False,
}

UNRELATED: list[tuple[str, str]] = [
    ("package.json", json.dumps({"name": "site", "version": "1.0.0", "scripts": {"build": "vite"}}, indent=2)),
    ("config.json", json.dumps({"model_type": "t5", "d_model": 512, "num_layers": 6}, indent=2)),  # Hugging Face
    ("ci.yaml", "on: [push]\njobs:\n  test:\n    runs-on: ubuntu-latest\n"),
    ("notes.yml", "- model_type is documented in the README\n- keep configs small\n"),
    ("broken-unrelated.json", '{"name": "no config words here",'),
]


@dataclass
class Tree:
    root: Path
    configs: int = 0  # model and dataset configs lint must check
    models: int = 0
    datasets: int = 0
    invalid: int = 0  # configs with at least one error
    skipped: int = 0  # .json / .yaml / .yml files that are not configs
    excluded: int = 0  # configs below a .gitignore'd folder (never read)
    expected_codes: dict[str, int] = field(default_factory=dict)  # error code -> number of files with it
    paths: list[Path] = field(default_factory=list)


def _variant(index: int) -> tuple[str, dict[str, Any] | str, str | None]:
    """(kind, document or raw text, the error code it must raise or None); eight flavours, in turn."""
    flavour = index % 8
    if flavour in (0, 1):
        document = copy.deepcopy(DIT_COND)
        document["sample_size"] = 16384 * (1 + index % 3)
        if flavour == 1:
            document["schema_version"] = 2
        return "model", document, None
    if flavour == 2:
        document = copy.deepcopy(UNET_UNCOND)
        return "model", document, None
    if flavour == 3:
        return "dataset", copy.deepcopy(DATASET_AUDIO_DIR if index % 2 else DATASET_PRE_ENCODED), None
    if flavour == 4:  # a misspelt routing id
        document = copy.deepcopy(DIT_COND)
        document["model"]["diffusion"]["cross_attention_cond_ids"][0] = "clas"
        return "model", document, "AD201"
    if flavour == 5:  # heads that do not divide the width
        document = copy.deepcopy(DIT_COND)
        document["model"]["diffusion"]["config"]["num_heads"] = 5
        return "model", document, "AD302"
    if flavour == 6:  # a misspelt key
        document = copy.deepcopy(UNET_UNCOND)
        document["model"]["config"]["num_block"] = document["model"]["config"].pop("num_blocks")
        return "model", document, "AD101"
    # a model config cut off mid-way
    return "model", json.dumps(DIT_COND, indent=2)[:300], "AD006"


def build_tree(root: Path, configs: int = 1000, unrelated_every: int = 10) -> Tree:
    """Write `configs` configs below `root` in nested folders, an unrelated file after every `unrelated_every`
    configs, and a `.gitignore`d folder whose files must never be read."""
    tree = Tree(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / ".git").mkdir(exist_ok=True)  # the root of a repository: its .gitignore applies to every path below
    (root / ".gitignore").write_text("generated/\n*.bak.json\n")
    for index in range(configs):
        kind, document, code = _variant(index)
        folder = root / f"project{index % 7}" / ("models" if kind == "model" else "datasets") / f"group{index % 3}"
        if index % 5 == 0:
            folder = folder / "nested" / f"level{index % 4}"
        folder.mkdir(parents=True, exist_ok=True)
        as_yaml = isinstance(document, dict) and index % 4 == 1
        path = folder / f"{kind}_{index:04d}.{'yaml' if as_yaml else 'json'}"
        if isinstance(document, str):
            text = document
        elif as_yaml:
            text = yaml.safe_dump(document, sort_keys=False)
        else:
            text = json.dumps(document, indent=2)
        path.write_text(text)
        tree.paths.append(path)
        tree.configs += 1
        if kind == "model":
            tree.models += 1
        else:
            tree.datasets += 1
        if code is not None:
            tree.invalid += 1
            tree.expected_codes[code] = tree.expected_codes.get(code, 0) + 1
        if index % unrelated_every == unrelated_every - 1:
            name, content = UNRELATED[(index // unrelated_every) % len(UNRELATED)]
            (folder / f"u{index:04d}_{name}").write_text(content)
            tree.skipped += 1
    ignored = root / "generated"
    ignored.mkdir(exist_ok=True)
    for index in range(5):
        (ignored / f"model_{index}.json").write_text('{"model_type": "diffusion_cond", "broken": ')
        tree.excluded += 1
    (root / "project0" / "old.bak.json").write_text('{"model_type": ')
    tree.excluded += 1
    return tree
