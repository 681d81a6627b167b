"""`audiodiff schema export`: the JSON Schema of model or dataset configs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from audiodiff.runtime.atomic import write_text_atomic


def run_export(version: int | None, kind: str, output: Path | None) -> int:
    from audiodiff.schema.export import export

    if kind not in ("model", "dataset"):
        print(f"error: --kind must be `model` or `dataset`, not `{kind}`", file=sys.stderr)
        return 2
    try:
        schema = export(kind, version)  # type: ignore[arg-type]
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    text = json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        try:
            write_text_atomic(output, text)
        except OSError as error:
            print(f"error: cannot write `{output}`: {error.strerror or error}", file=sys.stderr)
            return 1
    return 0
