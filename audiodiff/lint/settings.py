"""Lint settings: `[tool.audiodiff]` in the repository's `pyproject.toml`, then the command line on top.

```toml
[tool.audiodiff]
select = ["AD"]                     # codes, code prefixes (`AD7`) or names (`unrouted-conditioner`); default: all
ignore = ["AD703"]                  # never reported
exclude = ["legacy/", "*.tmp.json"] # .gitignore syntax, relative to this file's folder
include = ["configs/"]              # always checked, never skipped as "not a config" (same syntax)
strict = false                      # warnings fail the run too
respect-gitignore = true            # skip what the repository's .gitignore files skip
check-paths = false                 # warn about file paths in configs that do not exist here (AD020)
max-demo-seconds = 600              # AD705: audio one demo round may render
target = "stable-audio-tools"       # judge configs for the reference trainer (also `validate`, `compile`)

[tool.audiodiff.per-file-ignores]
"configs/upstream/*.json" = ["AD703", "AD901"]
```

The command line's `--target` replaces `target`; its `--select` replaces `select`; its `--ignore` and `--exclude` add to `ignore` and `exclude`;
`--strict` turns `strict` on. An unknown setting or code is a usage error (exit code 2), never silently ignored.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audiodiff.diagnostics import codes
from audiodiff.diagnostics.suggest import did_you_mean
from audiodiff.diagnostics.target import DEFAULT_TARGET, Target, TargetError, parse_target
from audiodiff.lint.gitignore import IgnoreRules, ScopedPatterns, scoped

# folders no config repository wants linted, excluded before any setting is read
DEFAULT_EXCLUDES = ("node_modules/", "__pycache__/", "venv/", ".venv/", "site-packages/")
DEFAULT_MAX_DEMO_SECONDS = 600.0

_KNOWN_KEYS = (
    "select",
    "ignore",
    "exclude",
    "per-file-ignores",
    "strict",
    "respect-gitignore",
    "check-paths",
    "max-demo-seconds",
    "target",
    "include",
)


class SettingsError(ValueError):
    """A usage error in `[tool.audiodiff]` or on the command line."""


@dataclass(frozen=True)
class CodeSelector:
    """`AD201`, a prefix such as `AD2`, or a code name such as `unknown-conditioner-id`."""

    text: str

    def matches(self, code: codes.Code) -> bool:
        text = self.text
        if text.upper().startswith("AD"):
            return code.id.startswith(text.upper())
        return code.name == text


def parse_selectors(values: Iterable[str], where: str) -> tuple[CodeSelector, ...]:
    """Comma- or space-separated selectors; each must match at least one code."""
    selectors = []
    for value in values:
        for text in value.replace(",", " ").split():
            selector = CodeSelector(text)
            if not any(selector.matches(code) for code in codes.CODES.values()):
                candidates = list(codes.CODES) + [code.name for code in codes.CODES.values()]
                hint = did_you_mean(text, candidates)
                raise SettingsError(f"{where}: `{text}` matches no diagnostic code" + (f"; {hint}" if hint else ""))
            selectors.append(selector)
    return tuple(selectors)


@dataclass(frozen=True)
class PerFileIgnore:
    patterns: ScopedPatterns
    selectors: tuple[CodeSelector, ...]


@dataclass(frozen=True)
class LintSettings:
    root: str  # folder that relative patterns in the settings are read from
    source: str | None = None  # the pyproject.toml the settings came from
    select: tuple[CodeSelector, ...] | None = None  # None: every code
    ignore: tuple[CodeSelector, ...] = ()
    excludes: tuple[ScopedPatterns, ...] = ()
    includes: tuple[ScopedPatterns, ...] = ()  # files matched here are configs whatever they hold
    per_file_ignores: tuple[PerFileIgnore, ...] = ()
    strict: bool = False
    respect_gitignore: bool = True
    check_paths: bool = False
    max_demo_seconds: float = DEFAULT_MAX_DEMO_SECONDS
    target: Target = DEFAULT_TARGET

    def ignore_rules(self) -> IgnoreRules:
        return IgnoreRules(self.excludes)

    def included(self, path: str | os.PathLike) -> bool:
        """Whether an `include` pattern matches `path`: such a file is checked even when it does not look like a
        config, so that a broken one is an error rather than a skip."""
        absolute = os.path.abspath(path)
        return any(patterns.covers(absolute) for patterns in self.includes)

    def reports(self, code: codes.Code, path: str) -> bool:
        """Whether a diagnostic with `code` in file `path` is reported."""
        if self.select is not None and not any(s.matches(code) for s in self.select):
            return False
        if any(s.matches(code) for s in self.ignore):
            return False
        for rule in self.per_file_ignores:
            if rule.patterns.covers(os.path.abspath(path)) and any(s.matches(code) for s in rule.selectors):
                return False
        return True


def find_pyproject(paths: Sequence[Path], cwd: Path | None = None) -> Path | None:
    """The nearest `pyproject.toml` with a `[tool.audiodiff]` table, looking up from the first path (from the
    working folder when no path is given); the search stops at a repository root (a folder with `.git`)."""
    first = Path(os.path.abspath(paths[0] if paths else (cwd or Path.cwd())))
    start = first if first.is_dir() else first.parent
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file() and _has_table(candidate):
            return candidate
        if (folder / ".git").exists():
            break
    return None


def _has_table(path: Path) -> bool:
    try:
        return "audiodiff" in _read_toml(path).get("tool", {})
    except SettingsError:
        return True  # a broken file that might hold our table: let `load_settings` report it


def _read_toml(path: Path) -> dict[str, Any]:
    from audiodiff.schema.reading import FileRefused, read_regular
    from audiodiff.schema.source import MAX_FILE_BYTES

    try:
        return tomllib.loads(read_regular(path, MAX_FILE_BYTES).decode("utf-8"))
    except (FileRefused, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise SettingsError(f"{path}: cannot read it: {error}") from None


def load_settings(
    paths: Sequence[Path],
    *,
    select: Sequence[str] = (),
    ignore: Sequence[str] = (),
    exclude: Sequence[str] = (),
    strict: bool = False,
    target: str | None = None,
    cwd: Path | None = None,
    pyproject: Path | None = None,
) -> LintSettings:
    """Settings for one lint run: `[tool.audiodiff]` of the nearest pyproject.toml, then the command line."""
    cwd = Path(os.path.abspath(cwd or Path.cwd()))
    source = pyproject if pyproject is not None else find_pyproject(paths, cwd)
    table: dict[str, Any] = {}
    if source is not None:
        table = _read_toml(source).get("tool", {}).get("audiodiff", {})
        if not isinstance(table, dict):
            raise SettingsError(f"{source}: `[tool.audiodiff]` must be a table")
    where = f"{source} [tool.audiodiff]" if source is not None else "settings"
    for key in table:
        if key not in _KNOWN_KEYS:
            hint = did_you_mean(key, list(_KNOWN_KEYS))
            raise SettingsError(f"{where}: unknown setting `{key}`" + (f"; {hint}" if hint else ""))
    root = str(source.parent) if source is not None else str(cwd)

    file_select = table.get("select")
    chosen_select = None
    if select:
        chosen_select = parse_selectors(select, "--select")
    elif file_select is not None:
        chosen_select = parse_selectors(_strings(file_select, where, "select"), f"{where} select")
    ignores = parse_selectors(_strings(table.get("ignore", []), where, "ignore"), f"{where} ignore")
    ignores += parse_selectors(ignore, "--ignore")

    # third-party and cache folders are never configs of the user's, wherever they are (not only below `root`)
    excludes = [scoped(os.path.abspath(os.sep), DEFAULT_EXCLUDES)]
    file_excludes = _strings(table.get("exclude", []), where, "exclude")
    if file_excludes:
        excludes.append(scoped(root, file_excludes))
    if exclude:
        excludes.append(scoped(cwd, exclude))

    file_includes = _strings(table.get("include", []), where, "include")
    includes = (scoped(root, file_includes),) if file_includes else ()

    per_file = []
    mapping = table.get("per-file-ignores", {})
    if not isinstance(mapping, dict):
        raise SettingsError(f"{where}: `per-file-ignores` must be a table of pattern = [codes]")
    for pattern, values in mapping.items():
        selectors = parse_selectors(_strings(values, where, f"per-file-ignores.{pattern}"), f"{where} per-file-ignores")
        per_file.append(PerFileIgnore(scoped(root, [pattern]), selectors))

    max_demo = table.get("max-demo-seconds", DEFAULT_MAX_DEMO_SECONDS)
    if isinstance(max_demo, bool) or not isinstance(max_demo, (int, float)) or max_demo <= 0:
        raise SettingsError(f"{where}: `max-demo-seconds` must be a positive number")
    return LintSettings(
        root=root,
        source=str(source) if source is not None else None,
        select=chosen_select,
        ignore=ignores,
        excludes=tuple(excludes),
        includes=includes,
        per_file_ignores=tuple(per_file),
        strict=strict or _bool(table, "strict", False, where),
        respect_gitignore=_bool(table, "respect-gitignore", True, where),
        check_paths=_bool(table, "check-paths", False, where),
        max_demo_seconds=float(max_demo),
        target=_target(target, table.get("target"), where),
    )


def _target(given: str | None, setting: Any, where: str) -> Target:
    """`--target` when given, else the `target` setting, else audiodiff's own runtime."""
    try:
        if given is not None:
            return parse_target(given)
        if setting is None:
            return DEFAULT_TARGET
        if not isinstance(setting, str):
            raise SettingsError(f'{where}: `target` must be a string such as "stable-audio-tools"')
        return parse_target(setting)
    except TargetError as error:
        raise SettingsError(f"{'--target' if given is not None else f'{where} target'}: {error}") from None


def _strings(value: Any, where: str, key: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return list(value)
    raise SettingsError(f"{where}: `{key}` must be a list of strings")


def _bool(table: dict[str, Any], key: str, default: bool, where: str) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise SettingsError(f"{where}: `{key}` must be true or false")
    return value
