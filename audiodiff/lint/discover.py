"""Which files of a repository are configs: walk the given paths, drop what the excludes and `.gitignore` files
exclude, then tell model and dataset configs from every other `.json` / `.yaml` / `.yml` file by their content.

A file is a config when its top-level object has a `model_type` (model) or a `dataset_type` (dataset) key. Files
whose bytes do not even contain either word are skipped without being parsed, which keeps unrelated JSON cheap. A file
that mentions one of the words but does not parse is reported (it is most likely a broken config). A Hugging Face
style `config.json` also has a top-level `model_type`; when none of the keys a stable-audio-tools config has is
present and the model type is not one audiodiff knows, it is skipped too. Every skipped file carries the reason
(`lint -v`, the json `skipped` list); a file that spells either word in UTF-16 is reported, not skipped. Files that
an `include` pattern of `[tool.audiodiff]` matches are checked whatever they hold (`runner.py`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from audiodiff.diagnostics import codes
from audiodiff.diagnostics.model import Diagnostic
from audiodiff.lint.gitignore import IgnoreRules, read_gitignore
from audiodiff.schema.reading import FileRefused, read_regular, reason_of
from audiodiff.schema.source import MAX_FILE_BYTES, LoadResult, load_file, load_text
from audiodiff.schema.v1.root import SUPPORTED_MODEL_TYPES, UNSUPPORTED_MODEL_TYPES

CONFIG_SUFFIXES = (".json", ".yaml", ".yml")
_MARKERS = (b"model_type", b"dataset_type")
# the same words in UTF-16 (either byte order): a config saved as UTF-16 is reported (AD005), never skipped
_UTF16_MARKERS = tuple(word.decode().encode(encoding) for word in _MARKERS for encoding in ("utf-16-le", "utf-16-be"))
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
# keys every stable-audio-tools model config has besides `model_type`
_MODEL_KEYS = frozenset({"model", "sample_rate", "sample_size", "training", "audio_channels", "schema_version"})
_NOT_A_CONFIG_SHAPE = frozenset({codes.TOP_LEVEL_NOT_OBJECT.id, codes.EMPTY_DOCUMENT.id})
_KNOWN_MODEL_TYPES = frozenset(SUPPORTED_MODEL_TYPES + UNSUPPORTED_MODEL_TYPES)


@dataclass(frozen=True)
class Candidate:
    path: Path  # as the user will read it: relative paths stay relative
    explicit: bool  # named on the command line (not found by walking a folder)
    problem: str | None = None  # set for a folder that could not be listed: why (the walk went on without it)
    root: Path | None = None  # the folder named on the command line whose walk found this file

    def diagnostic(self) -> Diagnostic:
        """The AD017 diagnostic of a folder that could not be listed (only for candidates with a `problem`)."""
        return Diagnostic(
            codes.UNREADABLE_FOLDER,
            f"the folder `{self.path}` cannot be listed: {self.problem}",
            None,
            str(self.path),
            help="the configs inside it were not checked; fix its permissions or exclude it",
        )


def walk(paths: Sequence[Path], ignore: IgnoreRules, *, respect_gitignore: bool) -> Iterator[Candidate]:
    """Files with a config extension below `paths` (folders sorted, hidden folders skipped), and the files named
    directly; excluded ones are left out. A path that does not exist is yielded, so that it is reported."""
    seen: set[str] = set()
    for path in paths:
        if path.is_dir():
            rules, read = ignore, frozenset[str]()
            if respect_gitignore:
                rules, read = _with_ancestor_gitignores(rules, path)
            for found in _walk_folder(path, rules, respect_gitignore, read):
                if isinstance(found, Candidate):  # a folder that could not be listed
                    yield found
                    continue
                key = os.path.abspath(found)
                if key not in seen:
                    seen.add(key)
                    yield Candidate(found, explicit=False, root=path)
        else:
            key = os.path.abspath(path)
            if key in seen:
                continue
            seen.add(key)
            if path.exists():
                rules = _with_ancestor_gitignores(ignore, path.parent)[0] if respect_gitignore else ignore
                if rules.excluded_with_parents(path, stop=_repository_root(path.parent)):
                    continue
            yield Candidate(path, explicit=True)


def _walk_folder(
    root: Path, rules: IgnoreRules, respect_gitignore: bool, read: frozenset[str]
) -> Iterator[Path | Candidate]:
    """Depth-first, sorted, pruning excluded folders; each folder's .gitignore applies to what is below it
    (`read`: folders whose .gitignore is already in `rules`). Folder links are followed, but every folder is entered
    once (by its device and inode): `ln -s . loop` costs one skipped entry, not an exponential walk. A folder that
    cannot be listed comes out as a Candidate with its `problem`."""
    visited: set[tuple[int, int]] = set()
    try:
        info = os.stat(root)
        visited.add((info.st_dev, info.st_ino))
    except OSError:
        pass
    stack: list[tuple[str, IgnoreRules]] = [(str(root), rules)]
    while stack:
        folder, folder_rules = stack.pop()
        if respect_gitignore and os.path.abspath(folder) not in read:
            folder_rules = folder_rules.with_scope(read_gitignore(folder))
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError as error:
            yield Candidate(Path(folder), explicit=False, problem=reason_of(error), root=root)
            continue
        subfolders = []
        for entry in entries:
            name = entry.name
            try:
                is_dir = entry.is_dir()
            except OSError:
                continue
            if is_dir:
                if name.startswith(".") or folder_rules.excluded(entry.path, True):
                    continue
                try:
                    target = entry.stat()  # follows a link: the folder it leads to
                except OSError:
                    continue
                identity = (target.st_dev, target.st_ino)
                if identity in visited:
                    continue  # a link back into the walk (a loop) or a second way to a folder already walked
                visited.add(identity)
                subfolders.append(entry.path)
            elif name.lower().endswith(CONFIG_SUFFIXES) and not folder_rules.excluded(entry.path, False):
                yield Path(entry.path)
        stack.extend((sub, folder_rules) for sub in reversed(subfolders))


def _repository_root(start: Path) -> Path | None:
    folder = Path(os.path.abspath(start))
    for candidate in (folder, *folder.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


def _with_ancestor_gitignores(rules: IgnoreRules, start: Path) -> tuple[IgnoreRules, frozenset[str]]:
    """The `.gitignore` files from the repository root down to `start` (none outside a repository), and the
    folders they were read from."""
    root = _repository_root(start)
    if root is None:
        return rules, frozenset()
    folder = Path(os.path.abspath(start))
    chain = [folder, *folder.parents]
    chain = chain[: chain.index(root) + 1]
    for ancestor in reversed(chain):
        rules = rules.with_scope(read_gitignore(ancestor))
    return rules, frozenset(str(ancestor) for ancestor in chain)


# --- content ------------------------------------------------------------------------------------------------------

Kind = Literal["model", "dataset", "broken", "other"]


@dataclass(frozen=True)
class Classified:
    kind: Kind
    loaded: LoadResult | None  # the parsed file, for everything but `other`
    reason: str | None = None  # for `other`: why the file is not taken for a config (`lint -v`, json `skipped`)


def classify(path: Path) -> Classified:
    """Read `path` once and say whether it is a config; the parse is kept so the file is not read twice."""
    try:
        raw = read_regular(path, MAX_FILE_BYTES)
    except FileRefused:  # missing, a FIFO or device, unreadable, too large: load_file says which, without reading
        return Classified("broken", load_file(path))
    if not any(marker in raw for marker in _MARKERS):
        if raw.startswith(_UTF16_BOMS) or any(marker in raw for marker in _UTF16_MARKERS):
            return Classified("broken", load_text(raw, str(path)))  # reported: not UTF-8 (AD005)
        return Classified("other", None, _unmarked_reason(raw))
    loaded = load_text(raw, str(path))
    document = loaded.document
    if document is None:
        if any(d.code.id in _NOT_A_CONFIG_SHAPE for d in loaded.diagnostics):
            return Classified("other", None, "not an object at the top level")  # a list or a scalar
        return Classified("broken", loaded)
    data = document.data
    if "model_type" in data:
        model_type = data["model_type"]
        known = isinstance(model_type, str) and model_type in _KNOWN_MODEL_TYPES
        if not known and not (_MODEL_KEYS & data.keys()):  # e.g. a Hugging Face model's config.json
            return Classified(
                "other",
                None,
                f"`model_type` {_shown(model_type)} is not a stable-audio-tools model "
                "type, and none of a model config's keys is present",
            )
        return Classified("model", loaded)
    if "dataset_type" in data:
        return Classified("dataset", loaded)
    return Classified("other", None, "no top-level `model_type` or `dataset_type` key")


def _unmarked_reason(raw: bytes) -> str:
    """Why a file that never mentions `model_type` or `dataset_type` is not a config."""
    if not raw.strip():
        return "empty file" if not raw else "only whitespace"
    if b"\x00" in raw[:8192]:
        return "binary content (NUL bytes)"
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return "not UTF-8 text"
    return "no `model_type` or `dataset_type` key"


def _shown(value: object) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return f"`{text[:40]}`"
