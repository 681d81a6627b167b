"""The schema editors use: one file for every schema version, shipped with the package, and whose first error in
check-jsonschema (the validator CI and pre-commit run) names the place of the real mistake."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from shared_paths import CORPUS as SHARED_CORPUS
from shared_paths import SKIP_HINT

from audiodiff.compiler.pipeline import check_file
from audiodiff.schema.export import SHIPPED, editor_schema, export, render, shipped_path
from audiodiff.schema.migrate import migrate
from audiodiff.schema.versions import KNOWN_VERSIONS

REPO = Path(__file__).resolve().parents[2]
VALID = REPO / "tests" / "corpus" / "valid"
SHARED = SHARED_CORPUS


def _read(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    return yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else json.loads(text)


def _kind(data: dict) -> str:
    return "dataset" if "dataset_type" in data else "model"


@pytest.mark.parametrize("kind", sorted(SHIPPED))
def test_shipped_schema_is_up_to_date(kind: str) -> None:
    """Regenerate with: python -c "from audiodiff.schema.export import *; [shipped_path(k).write_text(render(
    editor_schema(k))) for k in SHIPPED]" """
    assert shipped_path(kind).read_text(encoding="utf-8") == render(editor_schema(kind)), (
        f"{shipped_path(kind)} is stale: regenerate it (see this test's docstring)"
    )


def test_shipped_schemas_are_package_data() -> None:
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    patterns = setuptools["package-data"]["audiodiff"]
    package = REPO / "audiodiff"
    shipped = {path for pattern in patterns for path in package.glob(pattern)}
    assert {shipped_path(kind) for kind in SHIPPED} <= shipped


@pytest.mark.parametrize("kind", sorted(SHIPPED))
def test_editor_schema_is_draft_2020_12_without_discriminators(kind: str) -> None:
    schema = editor_schema(kind)
    jsonschema.Draft202012Validator.check_schema(schema)
    nodes, stack = [], [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            nodes.append(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    # tagged unions are if/then on the tag (`discriminator` is also the name of a training key: a property, kept)
    assert not [
        node
        for node in nodes
        if isinstance(node.get("discriminator"), dict) and "propertyName" in node["discriminator"]
    ]
    assert not [node for node in nodes if "oneOf" in node]
    assert sum(1 for node in nodes if "if" in node) >= 10


def _validator(kind: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(editor_schema(kind))


def test_every_version_of_every_valid_config_is_accepted() -> None:
    """Each valid corpus file as written (mostly version 1, unversioned) and migrated to every known version."""
    validators = {kind: _validator(kind) for kind in SHIPPED}
    for path in sorted(VALID.iterdir()):
        data = _read(path)
        for version in KNOWN_VERSIONS:
            document = migrate(data, version).data
            errors = list(validators[_kind(document)].iter_errors(document))
            assert not errors, f"{path.name} as version {version}: {errors[0].message}"


def test_unknown_versions_are_rejected_at_schema_version() -> None:
    document = _read(VALID / "dit_minimal.json")
    for version in (0, 3, "2", True):
        errors = list(_validator("model").iter_errors({**document, "schema_version": version}))
        assert errors and all(list(error.absolute_path)[:1] == ["schema_version"] for error in errors), version


def test_a_version_flag_still_gives_one_version() -> None:
    unversioned = _read(VALID / "dit_minimal.json")
    one = jsonschema.Draft202012Validator(export("model", 2))
    assert list(one.iter_errors(unversioned))  # version 2 demands `schema_version: 2`
    assert not list(_validator("model").iter_errors(unversioned))


def test_the_schema_line_is_a_valid_key() -> None:
    """`"$schema": "..."` at the top of a config is for editors; audiodiff and the schema accept it."""
    document = {"$schema": "https://example.org/model.schema.json", **_read(VALID / "dit_minimal.json")}
    assert not list(_validator("model").iter_errors(document))


def test_audiodiff_accepts_the_schema_line(tmp_path: Path) -> None:
    for name in ("dit_minimal.json", "dataset_pre_encoded.json"):
        data = {"$schema": str(shipped_path(_kind(_read(VALID / name)))), **_read(VALID / name)}
        path = tmp_path / name
        path.write_text(json.dumps(data, indent=2), encoding="utf-8")
        assert check_file(path).diagnostics == [], name


# --- check-jsonschema ---------------------------------------------------------------------------------------------


def _check_jsonschema() -> list[str]:
    found = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent)) or shutil.which("check-jsonschema")
    if found is None:
        pytest.skip("check-jsonschema is not installed (it comes with the `dev` extra)")
    return [found]


def _run(schema: Path, files: list[Path]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*_check_jsonschema(), "--schemafile", str(schema), "--color", "never", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _shared_configs() -> list[Path]:
    return sorted(SHARED.glob("*.json")) if SHARED.is_dir() else []


def test_check_jsonschema_accepts_the_shipped_stable_audio_tools_configs() -> None:
    configs = _shared_configs()
    if not configs:
        pytest.skip(f"no shared corpus at {SHARED} ({SKIP_HINT})")
    for kind in SHIPPED:
        mine = [path for path in configs if _kind(json.loads(path.read_text(encoding="utf-8"))) == kind]
        assert mine, kind
        result = _run(shipped_path(kind), mine)
        assert result.returncode == 0, result.stdout + result.stderr


def _edit(data: dict, pointer: str, value: Any = None, *, rename: str | None = None) -> dict:
    data = copy.deepcopy(data)
    *parents, last = [int(token) if token.isdigit() else token for token in pointer.strip("/").split("/")]
    node = data
    for token in parents:
        node = node[token]
    if rename is not None:
        node[rename] = node.pop(last)
    else:
        node[last] = value
    return data


def _json_path(pointer: str) -> str:
    """`/model/configs/1/type` as check-jsonschema prints it: `$.model.configs[1].type`."""
    path = "$"
    for token in pointer.strip("/").split("/") if pointer else []:
        path += f"[{token}]" if token.isdigit() else f".{token}"
    return path


# (name, base file, pointer edited, new value or ("rename", new key), where the first error must be, text in it)
MISTAKES = [
    (
        "typo-embed-dim",
        "dit_minimal.json",
        "/model/diffusion/config/embed_dim",
        ("rename", "embed_dimm"),
        "/model/diffusion/config",
        "'embed_dimm' was unexpected",
    ),
    (
        "typo-demo-key",
        "dit_minimal.json",
        "/training/demo/demo_cfg_scales",
        ("rename", "demo_cfg_scale"),
        "/training/demo",
        "'demo_cfg_scale' was unexpected",
    ),
    (
        "typo-yaml-unet",
        "uncond_adp_patched.yaml",
        "/model/config/num_blocks",
        ("rename", "num_block"),
        "/model/config",
        "'num_block' was unexpected",
    ),
    (
        "wrong-type-depth",
        "dit_minimal.json",
        "/model/diffusion/config/depth",
        "4",
        "/model/diffusion/config/depth",
        "is not of type 'integer'",
    ),
    (
        "wrong-type-num-demos",
        "dit_minimal.json",
        "/training/demo/num_demos",
        "1",
        "/training/demo/num_demos",
        "is not of type 'integer'",
    ),
    (
        "wrong-type-learning-rate",
        "uncond_adp_patched.yaml",
        "/training/learning_rate",
        "2e-4",
        "/training/learning_rate",
        "is not of type 'number'",
    ),
    (
        "wrong-type-conditioning",
        "dit_minimal.json",
        "/model/conditioning/cond_dim",
        [256],
        "/model/conditioning/cond_dim",
        "is not of type 'integer'",
    ),
    (
        "wrong-tag-backbone",
        "dit_minimal.json",
        "/model/diffusion/type",
        "ditt",
        "/model/diffusion/type",
        "'ditt' is not one of",
    ),
    (
        "wrong-tag-conditioner",
        "dit_minimal.json",
        "/model/conditioning/configs/1/type",
        "numbr",
        "/model/conditioning/configs/1/type",
        "'numbr' is not one of",
    ),
    (
        "wrong-tag-pretransform",
        "dit_minimal.json",
        "/model/pretransform/type",
        "patchd",
        "/model/pretransform/type",
        "'patchd' is not one of",
    ),
    (
        "wrong-tag-model-type",
        "dit_minimal.json",
        "/model_type",
        "diffusion_con",
        "/model_type",
        "'diffusion_con' is not one of",
    ),
    (
        "wrong-tag-optimizer",
        "autoencoder_oobleck_vae.yaml",
        "/training/optimizer_configs/autoencoder/optimizer/type",
        "Adamw",
        "/training/optimizer_configs/autoencoder/optimizer/type",
        "'Adamw' is not one of",
    ),
    (
        "wrong-tag-dataset",
        "dataset_audio_dir.yaml",
        "/dataset_type",
        "audio_folder",
        "/dataset_type",
        "'audio_folder' is not one of",
    ),
    ("unknown-version", "dit_minimal.json", "/schema_version", 3, "/schema_version", "3 is not one of [1, 2]"),
]


def test_check_jsonschema_names_the_real_mistake_first(tmp_path: Path) -> None:
    files = {}
    for name, base, pointer, change, _, _ in MISTAKES:
        data = _read(VALID / base)
        if isinstance(change, tuple):
            data = _edit(data, pointer, rename=change[1])
        else:
            data = _edit(data, pointer, change) if pointer != "/schema_version" else {**data, "schema_version": change}
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(data, indent=2), encoding="utf-8")
        files[name] = path
    for kind in SHIPPED:
        names = [name for name, *_ in MISTAKES if _kind(json.loads(files[name].read_text())) == kind]
        result = _run(shipped_path(kind), [files[name] for name in names])
        assert result.returncode == 1, result.stdout + result.stderr
        for name in names:
            # text output: `  <file>::<path>: <message>`, first for the file is the best match check-jsonschema chose
            first = re.search(rf"^\s*{re.escape(str(files[name]))}::(\S+): (.*)$", result.stdout, re.MULTILINE)
            assert first, f"{name}: no error printed:\n{result.stdout}"
            where, text = next((w, t) for n, _, _, _, w, t in MISTAKES if n == name)
            assert first.group(1) == _json_path(where), f"{name}: first error at {first.group(1)}: {first.group(2)}"
            assert text in first.group(2), f"{name}: {first.group(2)}"
