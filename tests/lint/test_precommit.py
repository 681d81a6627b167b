"""The shipped pre-commit hooks: a valid manifest, and the lint hook failing on a broken config and passing on
the fixed one when pre-commit runs it in a temporary repository.

`pre-commit try-repo` would build a virtual environment for `language: python` hooks, which needs the network;
so the run uses the shipped hook definition with `language: system` and this environment's `audiodiff`.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from config_tree import DIT_COND

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _shipped_hooks() -> list[dict]:
    from pre_commit.clientlib import load_manifest

    return load_manifest(str(REPO / ".pre-commit-hooks.yaml"))


def test_manifest_is_valid_for_pre_commit():
    hooks = {hook["id"]: hook for hook in _shipped_hooks()}
    assert set(hooks) == {"audiodiff-lint", "audiodiff-migrate-check"}
    lint = hooks["audiodiff-lint"]
    assert lint["entry"] == "audiodiff lint" and lint["language"] == "python"
    assert lint["types_or"] == ["json", "yaml"] and lint["require_serial"] is True
    assert hooks["audiodiff-migrate-check"]["entry"] == "audiodiff migrate --check"


def _run(args: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(shutil.which("git") is None or not (BIN / "pre-commit").exists(), reason="needs git and pre-commit")
def test_lint_hook_fails_on_a_broken_config_and_passes_on_the_fixed_one(tmp_path):
    hook = next(h for h in _shipped_hooks() if h["id"] == "audiodiff-lint")
    local = {key: hook[key] for key in ("id", "name", "types_or", "require_serial")}
    local.update(language="system", entry=f"{BIN / 'audiodiff'} lint")
    repo = tmp_path / "configs-repo"
    repo.mkdir()
    (repo / ".pre-commit-config.yaml").write_text(yaml.safe_dump({"repos": [{"repo": "local", "hooks": [local]}]}))
    broken = copy.deepcopy(DIT_COND)
    broken["model"]["diffusion"]["cross_attention_cond_ids"][0] = "clas"
    (repo / "models").mkdir()
    (repo / "models" / "dit.json").write_text(json.dumps(broken, indent=2))
    (repo / "package.json").write_text('{"name": "site"}')

    env = dict(
        os.environ,
        PRE_COMMIT_HOME=str(tmp_path / "cache"),
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_CONFIG_NOSYSTEM="1",
        PRE_COMMIT_COLOR="never",
    )
    assert _run(["git", "init", "-q"], repo, env).returncode == 0
    assert _run(["git", "add", "-A"], repo, env).returncode == 0
    failed = _run([str(BIN / "pre-commit"), "run", "--all-files"], repo, env)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "error AD201 [unknown-conditioner-id] `clas` is not a declared conditioner id" in failed.stdout

    (repo / "models" / "dit.json").write_text(json.dumps(DIT_COND, indent=2))
    assert _run(["git", "add", "-A"], repo, env).returncode == 0
    passed = _run([str(BIN / "pre-commit"), "run", "--all-files"], repo, env)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "Passed" in passed.stdout
