"""One lint run over a tree, in one process: discover, check each config once, add lint rules, suppress, collect.

The per-file work is the validation pipeline itself (`compiler.pipeline`), with migration advice turned on and
referenced-path checks off by default (CI machines rarely hold the checkpoints a config names).
"""

from __future__ import annotations

import gc
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from audiodiff.compiler.pipeline import FileCheck, check_loaded, locate
from audiodiff.diagnostics.bounds import cap_diagnostics
from audiodiff.diagnostics.model import Diagnostic, Related
from audiodiff.diagnostics.render import FileResult
from audiodiff.lint import rules
from audiodiff.lint.discover import CONFIG_SUFFIXES, classify, walk
from audiodiff.lint.settings import LintSettings
from audiodiff.schema.source import load_file

_FREEZE_EVERY = 100  # files


@dataclass(frozen=True)
class Skipped:
    """A .json/.yaml/.yml file that lint did not take for a config, and why."""

    path: str
    reason: str


@dataclass
class LintReport:
    results: list[FileResult] = field(default_factory=list)  # one per config, sorted by path
    skipped: list[Skipped] = field(default_factory=list)  # files that are not configs, in walk order
    models: int = 0
    datasets: int = 0

    @property
    def checked(self) -> int:
        return len(self.results)


def lint(paths: Sequence[Path], settings: LintSettings, *, verbose: bool = False) -> LintReport:
    """Lint every config below `paths`; `verbose` adds provenance notes to migration notices."""
    # Results pile up for the whole run; without this, each full garbage collection rescans all of them (and every
    # imported module and pydantic schema), which cost a third of the run on a tree of 1,000 configs. Frozen
    # objects are still freed by reference counting; only cycles among them wait until the run ends.
    caller_froze = gc.get_freeze_count() > 0
    gc.freeze()
    try:
        return _lint(paths, settings, verbose)
    finally:
        if not caller_froze:  # a caller's own frozen objects stay frozen
            gc.unfreeze()


def _lint(paths: Sequence[Path], settings: LintSettings, verbose: bool) -> LintReport:
    report = LintReport()
    found_in: dict[str, tuple[FileResult, list[Diagnostic]]] = {}  # path -> (result, its diagnostics)
    models: list[rules.Place] = []
    datasets: list[rules.Place] = []
    for number, candidate in enumerate(
        walk(paths, settings.ignore_rules(), respect_gitignore=settings.respect_gitignore), start=1
    ):
        if number % _FREEZE_EVERY == 0:
            gc.freeze()
        path = candidate.path
        if candidate.problem is not None:  # a folder that could not be listed
            found_in[str(path)] = (FileResult(str(path), []), [candidate.diagnostic()])
            continue
        if not path.is_file() or not path.name.lower().endswith(CONFIG_SUFFIXES):
            # reported: missing, not a file, not JSON or YAML
            check = check_loaded(str(path), load_file(path), count_params=False, target=settings.target)
        else:
            found = classify(path)
            loaded = found.loaded
            if found.kind == "other":
                if not settings.included(path):
                    report.skipped.append(Skipped(str(path), found.reason or "not a model or dataset config"))
                    continue
                loaded = load_file(path)  # an `include` pattern says it is a config: report what it lacks
            assert loaded is not None  # `classify` loads every file it does not call `other`
            check = check_loaded(
                str(path),
                loaded,
                check_paths=settings.check_paths,
                advice=True,
                count_params=False,
                target=settings.target,
            )
        if check.kind == "model":
            report.models += 1
        elif check.kind == "dataset":
            report.datasets += 1
        diagnostics = [
            *check.diagnostics,
            *locate(check, rules.file_rules(check, max_demo_seconds=settings.max_demo_seconds)),
        ]
        if verbose:
            diagnostics = [_with_provenance(check, d) for d in diagnostics]
        # suppressions and the cap apply now, so that only what will be shown is kept for the rest of the run
        diagnostics = cap_diagnostics(d for d in diagnostics if settings.reports(d.code, check.path))
        spots = [rules.seconds_start_on_latents(check), rules.random_latent_crops(check)]
        for places, place in zip((models, datasets), spots, strict=True):
            if place is not None:
                places.append(place)
        found_in[check.path] = (_compact(check, diagnostics, spots), diagnostics)
        del check  # the document, its data and its source map go now: a run's memory is bounded by one file

    for diagnostic in rules.seconds_start_with_random_crops(models, datasets):
        assert diagnostic.path is not None  # cross-file findings name their file
        found_in[diagnostic.path][1].append(diagnostic)
    for name in sorted(found_in):
        result, diagnostics = found_in[name]
        kept = cap_diagnostics(d for d in diagnostics if settings.reports(d.code, name))
        report.results.append(FileResult(result.path, kept, result.line, result.kind))
    return report


# a longer line (a minified file) is not kept for its snippet: the report would hold the whole file
_LONGEST_KEPT_LINE = 65_536


def _compact(check: FileCheck, diagnostics: list[Diagnostic], spots: list[rules.Place | None]) -> FileResult:
    """What the output needs of a file: its path, kind, and the source lines its snippets show (not the file)."""
    numbers = {d.span.line for d in diagnostics if d.span is not None}
    numbers.update(spot.span.line for spot in spots if spot is not None and spot.span is not None)
    lines: dict[int, str] = {}
    for number in numbers:
        text = check.line(number)
        if text is not None and len(text) <= _LONGEST_KEPT_LINE:
            lines[number] = text
    return FileResult(check.path, [], lines.get, check.kind)


def _with_provenance(check: FileCheck, diagnostic: Diagnostic) -> Diagnostic:
    """`lint -v`: a note on each migration notice saying where the value now comes from."""
    migration = check.migration
    if migration is None or diagnostic.pointer is None:
        return diagnostic
    notes = []
    for change in migration.changes:
        if change.kind == "version":
            continue
        anchor = change.parent if change.old is None else change.pointer
        if anchor == diagnostic.pointer:
            notes.append(
                Related(f"`{change.key}` = {_value(change.new)} comes from {change.provenance()}", change.pointer)
            )
    if not notes:
        return diagnostic
    return Diagnostic(
        diagnostic.code,
        diagnostic.message,
        diagnostic.pointer,
        diagnostic.path,
        diagnostic.span,
        diagnostic.help,
        (*diagnostic.related, *notes),
        diagnostic.severity,
    )


def _value(value: object) -> str:
    return f"`{json.dumps(value)}`"
