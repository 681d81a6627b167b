"""`.gitignore` pattern semantics, as git defines them, for excludes and per-file settings."""

from __future__ import annotations

import os

import pytest

from audiodiff.lint.gitignore import IgnoreRules, compile_pattern, scoped


@pytest.mark.parametrize(
    "pattern, path, is_dir, expected",
    [
        ("*.bak.json", "a/b/c.bak.json", False, True),  # no slash: any depth
        ("*.bak.json", "a/b/c.json", False, False),
        ("legacy/", "legacy", True, True),  # trailing slash: folders only
        ("legacy/", "legacy", False, False),
        ("legacy/", "x/legacy", True, True),
        ("/legacy", "x/legacy", True, False),  # leading slash: anchored
        ("configs/old", "configs/old", True, True),  # a middle slash anchors too
        ("configs/old", "x/configs/old", True, False),
        ("**/tmp", "a/b/tmp", True, True),
        ("**/tmp", "tmp", True, True),
        ("a/**/b.json", "a/b.json", False, True),
        ("a/**/b.json", "a/x/y/b.json", False, True),
        ("a/**", "a/x/y.json", False, True),
        ("a/**", "a", True, False),
        ("model_?.json", "model_1.json", False, True),
        ("model_?.json", "model_12.json", False, False),
        ("model_[0-3].json", "model_2.json", False, True),
        ("model_[!0-3].json", "model_2.json", False, False),
        ("*.json", "a/b.json", False, True),
        ("a*", "b/abc", True, True),
        ("\\#hash.json", "#hash.json", False, True),
    ],
)
def test_pattern(pattern, path, is_dir, expected):
    compiled = compile_pattern(pattern)
    assert compiled is not None
    assert compiled.matches(path, is_dir) is expected


def test_comments_and_blank_lines_are_not_patterns():
    assert compile_pattern("# a comment") is None
    assert compile_pattern("   ") is None
    assert compile_pattern("/") is None


def test_negation_and_last_match_wins(tmp_path):
    rules = IgnoreRules([scoped(tmp_path, ["*.json", "!keep.json"])])
    assert rules.excluded(tmp_path / "drop.json", False)
    assert not rules.excluded(tmp_path / "keep.json", False)
    later = rules.with_scope(scoped(tmp_path / "sub", ["keep.json"]))
    assert later.excluded(tmp_path / "sub" / "keep.json", False)
    assert not later.excluded(tmp_path / "keep.json", False)  # the deeper scope only covers its folder


def test_a_matched_folder_covers_its_files(tmp_path):
    scope = scoped(tmp_path, ["generated/"])
    inside = os.path.join(str(tmp_path), "generated", "deep", "model.json")
    assert scope.covers(inside)
    assert not scope.covers(os.path.join(str(tmp_path), "kept", "model.json"))
    assert IgnoreRules([scope]).excluded_with_parents(inside)
