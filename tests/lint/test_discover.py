"""Finding configs in a repository: walking, excludes, `.gitignore` files and content sniffing."""

from __future__ import annotations

from pathlib import Path

from audiodiff.lint.discover import classify, walk
from audiodiff.lint.gitignore import IgnoreRules, scoped


def _tree(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _found(paths, rules=None, respect_gitignore=True) -> list[str]:
    root = paths[0]
    return [
        str(c.path.relative_to(root) if c.path.is_relative_to(root) else c.path)
        for c in walk(paths, rules or IgnoreRules(), respect_gitignore=respect_gitignore)
    ]


def test_walk_skips_hidden_folders_and_respects_gitignore_files(tmp_path):
    (tmp_path / ".git").mkdir()
    _tree(
        tmp_path,
        {
            ".gitignore": "build/\n",
            "b/model.json": "{}",
            "a/model.yaml": "",
            "a/notes.txt": "",
            ".hidden/model.json": "{}",
            "build/model.json": "{}",
            "a/deep/.gitignore": "*.yml\n",
            "a/deep/x.yml": "",
            "a/deep/y.json": "{}",
        },
    )
    # each folder's files come before its subfolders', in name order
    assert _found([tmp_path]) == ["a/model.yaml", "a/deep/y.json", "b/model.json"]
    assert sorted(_found([tmp_path], respect_gitignore=False)) == [
        "a/deep/x.yml",
        "a/deep/y.json",
        "a/model.yaml",
        "b/model.json",
        "build/model.json",
    ]
    # the repository root's .gitignore applies below a subfolder, and to files named directly (pre-commit names
    # every changed file); a folder named directly is searched as asked
    assert _found([tmp_path / "a"]) == ["model.yaml", "deep/y.json"]
    assert list(walk([tmp_path / "build" / "model.json"], IgnoreRules(), respect_gitignore=True)) == []
    assert _found([tmp_path / "build"]) == ["model.json"]


def test_excludes_from_settings_and_missing_paths_are_kept(tmp_path):
    _tree(tmp_path, {"keep/a.json": "{}", "legacy/b.json": "{}"})
    rules = IgnoreRules([scoped(tmp_path, ["legacy/"])])
    assert _found([tmp_path], rules) == ["keep/a.json"]
    missing = tmp_path / "nope.json"
    assert [c.path for c in walk([missing], rules, respect_gitignore=True)] == [missing]


def test_classify_by_content(tmp_path):
    _tree(
        tmp_path,
        {
            "model.json": '{"model_type": "diffusion_cond", "model": {}}',
            "dataset.yaml": "dataset_type: audio_dir\n",
            "package.json": '{"name": "x"}',
            "hf.json": '{"model_type": "bert", "hidden_size": 768}',
            "typo.json": '{"model_type": "difusion_cond", "sample_rate": 1}',
            "list.yaml": "- model_type\n",
            "broken.json": '{"model_type": ',
            "nested.json": '{"meta": {"model_type": "x"}}',
        },
    )
    kinds = {
        name: classify(tmp_path / name).kind
        for name in (
            "model.json",
            "dataset.yaml",
            "package.json",
            "hf.json",
            "typo.json",
            "list.yaml",
            "broken.json",
            "nested.json",
        )
    }
    assert kinds == {
        "model.json": "model",
        "dataset.yaml": "dataset",
        "package.json": "other",
        "hf.json": "other",
        "typo.json": "model",
        "list.yaml": "other",
        "broken.json": "broken",
        "nested.json": "other",
    }
    assert classify(tmp_path / "model.json").loaded.document.data["model_type"] == "diffusion_cond"
