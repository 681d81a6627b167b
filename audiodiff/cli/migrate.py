"""`audiodiff migrate`: move config files to another schema version, as a reviewable diff or in place.

Without options it prints a unified diff; `--write` rewrites each file atomically, keeping key order,
indentation and comments; `--check` exits 1 when a file is not written in the target version (for CI).
"""

from __future__ import annotations

import difflib
import sys
from pathlib import Path

import typer

from audiodiff.diagnostics import codes
from audiodiff.diagnostics.bounds import sanitize
from audiodiff.diagnostics.model import Diagnostic, Span
from audiodiff.diagnostics.render import FileResult
from audiodiff.diagnostics.render import text as text_renderer


def command(
    paths: list[Path] = typer.Argument(..., help="Config files (JSON or YAML), or folders to search for them."),
    to: int | None = typer.Option(None, "--to", help="Target schema version (default: the newest)."),
    write: bool = typer.Option(False, "--write", help="Rewrite the files in place instead of printing a diff."),
    check: bool = typer.Option(False, "--check", help="Exit 1 when a file is not written in the target version."),
) -> None:
    """Move configs to another schema version; prints a unified diff unless --write or --check.

    Key order, indentation and comments are kept. Older files are also migrated in memory whenever audiodiff
    reads them, so migrating is about making the file say what audiodiff already reads.

    Examples:

      audiodiff migrate model_config.json

      audiodiff migrate configs/ --write

      audiodiff migrate configs/ --check
    """
    raise typer.Exit(run_migrate(paths, to=to, write=write, check=check))


def run_migrate(paths: list[Path], *, to: int | None, write: bool, check: bool) -> int:
    from audiodiff.lint.discover import classify, walk
    from audiodiff.lint.settings import SettingsError, load_settings
    from audiodiff.schema.versions import KNOWN_VERSIONS, LATEST_VERSION

    if write and check:
        print("error: --write and --check cannot be combined: --check only reports", file=sys.stderr)
        return 2
    target = LATEST_VERSION if to is None else to
    if target not in KNOWN_VERSIONS:
        known = ", ".join(map(str, KNOWN_VERSIONS))
        print(f"error: --to {target} is not a schema version; known: {known}", file=sys.stderr)
        return 2

    try:  # the files `lint` would read, no others: never third-party folders or configured excludes
        settings = load_settings(paths)
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    failed = False
    stale: list[FileResult] = []
    for candidate in walk(paths, settings.ignore_rules(), respect_gitignore=settings.respect_gitignore):
        path = candidate.path
        if candidate.problem is not None:
            sys.stderr.write(text_renderer.render([FileResult(str(path), [candidate.diagnostic()])], summary=False))
            failed = True
            continue
        found = classify(path) if path.is_file() else None
        if found is not None and found.kind == "other":
            if candidate.explicit:  # named (pre-commit names every changed file): a note, not a failure
                print(f"{path}: skipped, not a model or dataset config", file=sys.stderr)
            continue
        if found is None or found.loaded is None or found.loaded.document is None:
            failed |= _report_unreadable(path, found)
            continue
        root = candidate.root if candidate.root is not None else path.parent
        outcome = _migrate_one(path, found.loaded.document, target, write=write, check=check, root=root)
        if outcome is None:
            failed = True
        elif outcome is not True and check:
            stale.append(outcome)
    if check:
        if stale:
            sys.stdout.write(text_renderer.render(stale))
        return 1 if stale or failed else 0
    return 1 if failed else 0


def _migrate_one(path: Path, document, target: int, *, write: bool, check: bool, root: Path):
    """True when the file is current; a FileResult (with AD902) when `--check` finds it stale; None on failure."""
    from audiodiff.schema.migrate import migrate
    from audiodiff.schema.rewrite import RewriteError, rewritten_text

    try:
        result = migrate(document.data, target)
    except ValueError as error:
        print(f"{path}: error: {error}", file=sys.stderr)
        return None
    if not result.changed:
        return True
    if check:
        span = document.span("/schema_version", prefer_key=True) or Span(1, 1)
        keys = ", ".join(f"`{change.pointer}`" for change in result.changes)
        diagnostic = Diagnostic(
            codes.NOT_CURRENT,
            f"the file is written in schema version {result.source}, not {target}; migrating would change {keys}",
            "/schema_version",
            str(path),
            span,
            help=f"run `audiodiff migrate --write {path}` and review the diff",
        )
        return FileResult(str(path), [diagnostic], document.line, None)
    try:
        text = rewritten_text(document, result.changes, result.data)
    except RewriteError as error:
        print(
            f"{path}: error: {error}; change the file by hand (`audiodiff migrate` without --write shows how)",
            file=sys.stderr,
        )
        return None
    if write:
        from audiodiff.cli.safe_rewrite import RewriteRefused, rewrite

        try:  # only if the file still holds what was migrated; owner, mode and hard links kept
            rewrite(path, expected_text=document.text, new_text=text, root=root)
        except RewriteRefused as error:
            print(f"{sanitize(str(path))}: error: {sanitize(str(error))}", file=sys.stderr)
            return None
        print(
            f"{path}: schema version {result.source} -> {target}, {len(result.changes)} "
            f"change{'s' if len(result.changes) != 1 else ''}",
            file=sys.stderr,
        )
    else:
        sys.stdout.write(unified_diff(document.text, text, str(path)))
    return True


def unified_diff(old: str, new: str, path: str) -> str:
    """A `git diff`-style unified diff of one file (`\\ No newline at end of file` where a side lacks one)."""
    name = path.replace("\\", "/")
    out = []
    for line in difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{name}", f"b/{name}"
    ):
        if line.endswith(("\n", "\r")):
            out.append(line)
        else:
            out.append(line + "\n\\ No newline at end of file\n")
    return "".join(out)


def _report_unreadable(path: Path, found) -> bool:
    from audiodiff.schema.source import load_file

    loaded = found.loaded if found is not None and found.loaded is not None else load_file(path)
    if not loaded.diagnostics:
        print(f"{path}: error: cannot be read", file=sys.stderr)
        return True
    result = FileResult(str(path), list(loaded.diagnostics))
    sys.stderr.write(text_renderer.render([result], summary=False))
    return True
