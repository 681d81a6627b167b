"""`validate` and `schema export` never import torch or Lightning (ARCHITECTURE principle 5).

Each command runs in a fresh interpreter through `python -m audiodiff`, driven by a small wrapper that catches the
command's SystemExit and then reports which heavy modules ended up in `sys.modules`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "tests" / "corpus"
HEAVY = ("torch", "lightning", "pytorch_lightning")

WRAPPER = """
import json, runpy, sys
sys.argv = ["audiodiff", *json.loads(sys.argv[1])]
try:
    runpy.run_module("audiodiff", run_name="__main__", alter_sys=True)
    code = 0
except SystemExit as exit:
    code = exit.code if isinstance(exit.code, int) else (0 if exit.code is None else 1)
heavy = sorted(name for name in sys.modules if name.split(".")[0] in {heavy})
sys.stderr.write("\\nIMPORT-GUARD " + json.dumps({{"exit": code, "heavy": heavy}}) + "\\n")
""".format(heavy=repr(set(HEAVY)))


def run_command(*args: str) -> tuple[int, list[str], str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    completed = subprocess.run(
        [sys.executable, "-c", WRAPPER, json.dumps(list(args))],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env=env,
    )
    marker = [line for line in completed.stderr.splitlines() if line.startswith("IMPORT-GUARD ")]
    assert marker, f"the wrapper did not finish:\n{completed.stderr}"
    report = json.loads(marker[-1].removeprefix("IMPORT-GUARD "))
    return report["exit"], report["heavy"], completed.stdout


@pytest.mark.parametrize(
    ("args", "exit_code"),
    [
        (["validate", str(CORPUS / "valid" / "dit_t5_oobleck_vae.json")], 0),
        (["validate", str(CORPUS / "valid" / "adp_cfg_t5_dac.yaml"), "--format", "json"], 0),
        (["validate", str(CORPUS / "invalid" / "many-rule-errors-one-pass" / "config.json")], 1),
        (["validate", str(CORPUS / "valid")], 0),  # a folder: every valid config, every backbone type
    ],
    ids=["dit", "adp-json", "errors", "folder"],
)
def test_validate_imports_neither_torch_nor_lightning(args: list[str], exit_code: int) -> None:
    code, heavy, stdout = run_command(*args)
    assert code == exit_code, stdout
    assert heavy == [], f"`audiodiff {' '.join(args)}` imported {heavy}"


@pytest.mark.parametrize("kind", ["model", "dataset"])
def test_schema_export_imports_neither_torch_nor_lightning(kind: str) -> None:
    code, heavy, stdout = run_command("schema", "export", "--kind", kind)
    assert code == 0
    assert json.loads(stdout)["$schema"].startswith("https://json-schema.org/")
    assert heavy == []


def test_the_guard_sees_torch_when_it_is_imported() -> None:
    """The wrapper itself must be able to fail: a `torch` module present before the command shows up in its
    report (a stand-in module, so the test does not pay for the real import)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    script = "import sys, types\nsys.modules['torch'] = types.ModuleType('torch')\n" + WRAPPER
    completed = subprocess.run(
        [sys.executable, "-c", script, json.dumps(["schema", "export"])],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env=env,
    )
    marker = [line for line in completed.stderr.splitlines() if line.startswith("IMPORT-GUARD ")]
    assert "torch" in json.loads(marker[-1].removeprefix("IMPORT-GUARD "))["heavy"]
