"""`lint` and `migrate` never import torch (nor Lightning): checked in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from config_tree import DIT_COND, UNET_UNCOND

SCRIPT = """
import sys
from audiodiff.cli.app import app
for argv in (["lint", sys.argv[1], "--format", "sarif"], ["lint", sys.argv[1], "-v"], ["migrate", sys.argv[1]]):
    try:
        app(argv, standalone_mode=False)
    except SystemExit:
        pass
heavy = sorted(name for name in ("torch", "lightning", "pytorch_lightning") if name in sys.modules)
print("HEAVY", heavy)
"""


def test_lint_and_migrate_stay_torch_free(tmp_path: Path):
    (tmp_path / "model.json").write_text(json.dumps(DIT_COND))
    (tmp_path / "uncond.json").write_text(json.dumps(UNET_UNCOND))
    (tmp_path / "broken.json").write_text('{"model_type": ')
    completed = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 0, completed.stderr
    assert "HEAVY []" in completed.stdout, completed.stdout[-2000:]
    assert '"version": "2.1.0"' in completed.stdout  # the runs really happened
