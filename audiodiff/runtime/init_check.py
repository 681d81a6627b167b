"""The `run --init` check of `prepare`: every part's source against the model built on the meta device, before
anything is allocated. An incomplete part is an AD803 error (unless `--allow-partial`), with the coverage report and
the config fields behind its shape mismatches; a file whose embedded config differs from the run's is reported with
the differing fields either way."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from audiodiff.diagnostics import codes
from audiodiff.diagnostics.model import Diagnostic
from audiodiff.runtime.checkpoints import Checkpoint, CheckpointError
from audiodiff.runtime.init_explain import config_changes, describe_changes, make_explainer
from audiodiff.runtime.init_weights import check_init
from audiodiff.runtime.preflight import COMMAND_LINE, note
from audiodiff.runtime.run import RunOptions, RunPlan


def check_init_fit(plan: RunPlan, options: RunOptions) -> str | None:
    """Check `plan.init` on a meta-device model; sets `plan.init_report`, adds errors to `plan.findings`, and returns
    the rendered report when the run cannot start (None otherwise)."""
    from audiodiff.compiler.materialize import BuildError, BuildOptions, build_model

    preflight = plan.preflight
    spec = preflight.spec
    try:
        skeleton = build_model(spec, BuildOptions(device="meta", t5_model_path=options.t5_path))
    except BuildError as error:
        plan.findings.add(
            preflight.model.path,
            Diagnostic(codes.NOT_BUILDABLE, f"{error.node_id} could not be built: {error.message}", error.pointer),
        )
        return None
    document = preflight.model.document
    config = document.data if document is not None else {}
    cache: dict[Path, Checkpoint] = {}
    try:
        report = check_init(
            skeleton,
            spec.model_type,
            plan.init,
            explain=make_explainer(config, lambda data: _meta_shapes(data, options)),
            cache=cache,
        )
    except CheckpointError as error:
        plan.findings.add(COMMAND_LINE, Diagnostic(codes.CHECKPOINT_UNREADABLE, str(error), None, path=COMMAND_LINE))
        return None
    for path, checkpoint in cache.items():
        changes = config_changes(checkpoint.config, config)
        if changes:
            report.config_changes[str(path)] = describe_changes(changes)
    plan.init_report = report
    if report.complete or options.allow_partial:
        return None
    for part in report.requested:
        if part.complete:
            continue
        assert part.source is not None
        left = len(part.random) + len(part.unexpected)
        plan.findings.add(
            COMMAND_LINE,
            Diagnostic(
                codes.CHECKPOINT_PARTIAL,
                f"`{part.source.flag}` does not cover the model's `{part.part}`: {len(part.random)} of its "
                f"{part.size} tensors would start random"
                + (f" and {len(part.unexpected)} of the file's would be ignored" if part.unexpected else "")
                + (f" ({_first_explanation(part.explanations)})" if part.explanations else ""),
                None,
                path=COMMAND_LINE,
                help="make the config match the checkpoint, or pass `--allow-partial` to train with the listed "
                "tensors left random"
                if left
                else None,
                related=tuple(_field_notes(preflight.model, part.explanations)),
            ),
        )
    return f"--init coverage (checked on the meta device, nothing was loaded):\n{report.render()}"


def _first_explanation(explanations: list[str]) -> str:
    return "explained by " + explanations[0] + (f", and {len(explanations) - 1} more" if len(explanations) > 1 else "")


def _field_notes(check: Any, explanations: list[str]) -> list[Any]:
    """Notes located at the config fields an explanation names (its first backquoted pointer)."""
    notes = []
    for explanation in explanations:
        pointer = explanation.split("`")[1] if explanation.count("`") >= 2 else None
        if pointer is not None and check.document is not None and check.document.span(pointer) is not None:
            notes.append(note(check, explanation.split("`: ", 1)[-1], pointer))
    return notes


def _meta_shapes(data: dict[str, Any], options: RunOptions) -> dict[str, tuple[int, ...]] | None:
    """The state-dict shapes of the model a config describes (None when it does not validate or build)."""
    from audiodiff.compiler.materialize import BuildError, BuildOptions, build_model
    from audiodiff.compiler.pipeline import check_text

    check = check_text(json.dumps(data), "candidate config", count_params=False)
    spec = check.model_spec
    if spec is None or any(d.is_error for d in check.diagnostics):
        return None
    try:
        model = build_model(spec, BuildOptions(device="meta", t5_model_path=options.t5_path))
    except (BuildError, ValueError, TypeError):
        return None
    return {key: tuple(value.shape) for key, value in model.state_dict().items()}
