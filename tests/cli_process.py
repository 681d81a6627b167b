"""Running `audiodiff` in a fresh interpreter, as a user would, and reporting which heavy libraries the command
imported: a wrapper catches the command's SystemExit and then lists the loaded modules on stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "lightning", "pytorch_lightning", "transformers")

_WRAPPER = """
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


@dataclass(frozen=True)
class Completed:
    exit_code: int
    heavy: list[str]  # heavy modules the command imported
    stdout: str
    stderr: str  # without the wrapper's report


def run_audiodiff(*args: str, cwd: Path | None = None, timeout: float = 300) -> Completed:
    env = {**os.environ, "PYTHONPATH": str(REPOSITORY)}
    completed = subprocess.run(
        [sys.executable, "-c", _WRAPPER, json.dumps(list(args))],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd or REPOSITORY,
        env=env,
        check=False,
    )
    lines = completed.stderr.splitlines()
    marker = [line for line in lines if line.startswith("IMPORT-GUARD ")]
    assert marker, f"the command did not finish:\n{completed.stderr}"
    report = json.loads(marker[-1].removeprefix("IMPORT-GUARD "))
    stderr = "\n".join(line for line in lines if not line.startswith("IMPORT-GUARD "))
    return Completed(report["exit"], report["heavy"], completed.stdout, stderr)
