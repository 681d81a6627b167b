"""Reading JSON and YAML config files: data, positions, and one diagnostic per kind of bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from audiodiff.diagnostics import codes
from audiodiff.diagnostics.model import Span
from audiodiff.schema import source, source_yaml
from audiodiff.schema.source import (
    MAX_DEPTH,
    LoadResult,
    SourceDocument,
    detect_format,
    load_file,
    load_text,
)

REPO = Path(__file__).resolve().parents[2]

JSON_SAMPLE = (
    "{\n"
    '  "model_type": "diffusion_cond",\n'
    '  "sample_rate": 44100,\n'
    '  "model": {\n'
    '    "na\\"me": "caf\\u00e9 \\"x\\"",\n'
    '    "ünï": [1, -2.5e-3, {"deep": [true, null]}],\n'
    '    "a/b~c": "é€𝄞",\n'
    '\t"tabbed": 7\n'
    "  }\n"
    "}\n"
)

YAML_SAMPLE = (
    "model_type: diffusion_cond\n"
    "sample_rate: 44100\n"
    "model:\n"
    '  name: "caf\\u00e9 \\"x\\""\n'
    "  ünï: [1, -2.5e-3, {deep: [true, null]}]\n"
    "  a/b~c: é€𝄞\n"
    "  layers:\n"
    "    - dim: 64\n"
    "      on: yes\n"
    "    - dim: 128\n"
    "  text: |\n"
    "    line one\n"
    "    line two\n"
    "lr: 1e-5\n"
)


@pytest.fixture(params=["libyaml", "python"])
def yaml_parser(request, monkeypatch):
    """Run a YAML test with libyaml's parser and with PyYAML's pure-Python fallback."""
    if request.param == "libyaml":
        if not hasattr(yaml, "CSafeLoader"):
            pytest.skip("PyYAML was built without libyaml")
        monkeypatch.setattr(source_yaml, "EVENT_LOADER", yaml.CSafeLoader)
    else:
        monkeypatch.setattr(source_yaml, "EVENT_LOADER", yaml.SafeLoader)
    return request.param


def only(result: LoadResult, code: codes.Code):
    """The single diagnostic of `result`, which must carry `code`."""
    assert [d.code for d in result.diagnostics] == [code], result.diagnostics
    return result.diagnostics[0]


def at(span: Span | None) -> tuple[int, int] | None:
    return None if span is None else (span.line, span.column)


def full(span: Span | None) -> tuple[int, int, int | None, int | None] | None:
    return None if span is None else (span.line, span.column, span.end_line, span.end_column)


def text_at(document: SourceDocument, span: Span) -> str:
    assert span.end_line == span.line
    return document.line(span.line)[span.column - 1 : span.end_column - 1]


def walk(data: Any, pointer: str = ""):
    yield pointer, data
    if isinstance(data, dict):
        for key, value in data.items():
            yield from walk(value, pointer + "/" + key.replace("~", "~0").replace("/", "~1"))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from walk(value, f"{pointer}/{index}")


# ---- data and positions ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_json_positions(newline):
    result = load_text(JSON_SAMPLE.replace("\n", newline), "sample.json")
    assert result.diagnostics == ()
    document = result.document
    assert document.data["model"]['na"me'] == 'café "x"'
    assert document.data["model"]["ünï"] == [1, -0.0025, {"deep": [True, None]}]
    positions = document.source_map
    assert full(positions.get("/model_type").key) == (2, 3, 2, 15)
    assert full(positions.get("/model_type").value) == (2, 17, 2, 33)
    assert full(positions.get("/sample_rate").value) == (3, 18, 3, 23)
    assert full(positions.get("/model").key) == (4, 3, 4, 10)
    assert full(positions.get("/model").value) == (4, 12, 9, 4)
    assert full(positions.get('/model/na"me').key) == (5, 5, 5, 13)
    assert full(positions.get('/model/na"me').value) == (5, 15, 5, 32)
    assert full(positions.get("/model/ünï").key) == (6, 5, 6, 10)
    assert full(positions.get("/model/ünï").value) == (6, 12, 6, 48)
    assert positions.get("/model/ünï/1").key is None
    assert full(positions.get("/model/ünï/1").value) == (6, 16, 6, 23)
    assert full(positions.get("/model/ünï/2/deep").key) == (6, 26, 6, 32)
    assert full(positions.get("/model/ünï/2/deep/1").value) == (6, 41, 6, 45)
    assert full(positions.get("/model/a~1b~0c").key) == (7, 5, 7, 12)
    assert full(positions.get("/model/a~1b~0c").value) == (7, 14, 7, 19)  # columns count characters, not bytes
    assert full(positions.get("/model/tabbed").key) == (8, 2, 8, 10)  # a tab is one column
    assert full(positions.get("").value) == (1, 1, 10, 2)
    assert positions.get("/nope") is None
    # every pointer of the data has a position, and each scalar's span holds exactly its JSON text
    for pointer, value in walk(document.data):
        position = positions.get(pointer)
        assert position is not None, pointer
        if not isinstance(value, (dict, list)):
            assert json.loads(text_at(document, position.value)) == value
        if position.key is not None:
            assert json.loads(text_at(document, position.key)) == pointer.rsplit("/", 1)[1].replace("~1", "/").replace(
                "~0", "~"
            )


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_yaml_positions(newline, yaml_parser):
    result = load_text(YAML_SAMPLE.replace("\n", newline), "sample.yaml")
    assert result.diagnostics == ()
    document = result.document
    assert document.data["model"]["name"] == 'café "x"'
    assert document.data["model"]["ünï"] == [1, -0.0025, {"deep": [True, None]}]
    assert document.data["model"]["layers"] == [{"dim": 64, "on": "yes"}, {"dim": 128}]
    assert document.data["model"]["text"] == "line one\nline two\n"
    positions = document.source_map
    assert full(positions.get("/model_type").key) == (1, 1, 1, 11)
    assert full(positions.get("/model_type").value) == (1, 13, 1, 27)
    assert full(positions.get("/model").key) == (3, 1, 3, 6)
    assert at(positions.get("/model").value) == (4, 3)
    assert full(positions.get("/model/name").value) == (4, 9, 4, 26)
    assert full(positions.get("/model/ünï").key) == (5, 3, 5, 6)
    assert full(positions.get("/model/ünï").value) == (5, 8, 5, 42)
    assert full(positions.get("/model/ünï/1").value) == (5, 12, 5, 19)
    assert full(positions.get("/model/ünï/2/deep").key) == (5, 22, 5, 26)
    assert full(positions.get("/model/ünï/2/deep/1").value) == (5, 35, 5, 39)
    assert full(positions.get("/model/a~1b~0c").key) == (6, 3, 6, 8)
    assert full(positions.get("/model/a~1b~0c").value) == (6, 10, 6, 13)
    # a block collection ends where its last child ends, not on the next line
    assert full(positions.get("/model/layers").value) == (8, 5, 10, 15)
    assert full(positions.get("/model/layers/0").value) == (8, 7, 9, 14)
    assert full(positions.get("/model/layers/0/on").key) == (9, 7, 9, 9)
    assert full(positions.get("/model/layers/0/on").value) == (9, 11, 9, 14)
    assert full(positions.get("/model/layers/1/dim").value) == (10, 12, 10, 15)
    assert at(positions.get("/model/text").value) == (11, 9)
    assert full(positions.get("/lr").value) == (14, 5, 14, 9)
    for pointer, _ in walk(document.data):
        assert positions.get(pointer) is not None, pointer


def test_span_prefers_key_and_falls_back_to_nearest_ancestor():
    document = load_text(JSON_SAMPLE, "sample.json").document
    assert at(document.span("/model/tabbed")) == (8, 12)
    assert at(document.span("/model/tabbed", prefer_key=True)) == (8, 2)
    assert at(document.span("/model/ünï/1", prefer_key=True)) == (6, 16)  # list items have no key
    # absent pointers: the nearest existing ancestor, by its key
    assert at(document.span("/model/missing")) == (4, 3)
    assert at(document.span("/model/ünï/2/deep/7/x")) == (6, 26)
    assert at(document.span("/missing")) == (1, 1)  # the root has no key: its value
    assert document.span("not-a-pointer") is None


def test_line_returns_source_lines_without_breaks():
    document = load_text(JSON_SAMPLE.replace("\n", "\r\n"), "sample.json").document
    assert document.line(2) == '  "model_type": "diffusion_cond",'
    assert document.line(8) == '\t"tabbed": 7'
    assert document.line(0) == "" and document.line(99) == ""


def test_json_source_map_is_built_only_on_demand(monkeypatch):
    calls = []
    real_scan = source.scan_json

    def counting_scan(*args, **kwargs):
        calls.append(1)
        return real_scan(*args, **kwargs)

    monkeypatch.setattr(source, "scan_json", counting_scan)
    import audiodiff.schema.source_json as source_json

    monkeypatch.setattr(source_json, "scan_json", counting_scan)
    document = load_text(JSON_SAMPLE, "sample.json").document
    assert document.data["sample_rate"] == 44100
    assert document._source_map is None and calls == []
    assert at(document.span("/sample_rate")) == (3, 18)
    assert document._source_map is not None and calls == [1]
    document.span("/model")  # cached: no second scan
    assert calls == [1]


def test_utf8_bom_is_accepted(yaml_parser):
    result = load_text(b"\xef\xbb\xbf" + JSON_SAMPLE.encode(), "sample.json")
    assert result.diagnostics == () and result.document.data["sample_rate"] == 44100
    assert at(result.document.span("/model_type", prefer_key=True)) == (2, 3)
    result = load_text("\ufeffa: 1\nb: 2\n", "sample.yaml")
    assert result.document.data == {"a": 1, "b": 2}
    assert at(result.document.span("/a", prefer_key=True)) == (1, 1)


def test_load_file_reads_both_formats(tmp_path):
    (tmp_path / "a.json").write_text(JSON_SAMPLE, encoding="utf-8")
    (tmp_path / "b.YML").write_text(YAML_SAMPLE, encoding="utf-8")
    first = load_file(tmp_path / "a.json")
    assert first.document.format == "json" and first.document.path == str(tmp_path / "a.json")
    second = load_file(str(tmp_path / "b.YML"))
    assert second.document.format == "yaml" and second.document.data["lr"] == 1e-5
    assert detect_format("x.yaml") == "yaml" and detect_format("x.JSON") == "json" and detect_format("x.txt") is None


# ---- YAML scalars ------------------------------------------------------------------------------------------------


def test_yaml_scalars_follow_yaml_1_2_core(yaml_parser):
    text = (
        "a: 1e-5\nb: 1E5\nc: -2.5e-3\nd: .5\ne: +1.0e+3\nf: 5.\n"
        "g: on\nh: yes\ni: no\nj: off\nk: y\n"
        "l: 42\nm: -7\nn: 0x1F\no: 0o17\np: 007\n"
        "q: true\nr: False\ns: TRUE\nt: null\nu: ~\nv:\nw: Null\n"
        "x: 1_000\ny: 2001-12-14\nz: '12'\nza: \"true\"\nzb: 1:30\nzc: 0b101\n"
    )
    data = load_text(text, "x.yaml").document.data
    expected = {
        "a": 1e-5, "b": 1e5, "c": -2.5e-3, "d": 0.5, "e": 1000.0, "f": 5.0,
        "g": "on", "h": "yes", "i": "no", "j": "off", "k": "y",
        "l": 42, "m": -7, "n": 31, "o": 15, "p": 7,
        "q": True, "r": False, "s": True, "t": None, "u": None, "v": None, "w": None,
        "x": "1_000", "y": "2001-12-14", "z": "12", "za": "true", "zb": "1:30", "zc": "0b101",
    }  # fmt: skip
    assert data == expected
    for key in "abcdef":
        assert type(data[key]) is float, key
    for key in "lmnop":
        assert type(data[key]) is int, key


def test_yaml_core_tags_are_accepted(yaml_parser):
    text = 'a: !!int "12"\nb: !!float 1\nc: !!str 12\nd: !!bool "true"\ne: !!null ""\nf: !!map {x: 1}\ng: ! 12\n'
    result = load_text(text, "x.yaml")
    assert result.diagnostics == ()
    assert result.document.data == {"a": 12, "b": 1.0, "c": "12", "d": True, "e": None, "f": {"x": 1}, "g": "12"}
    assert type(result.document.data["b"]) is float


def test_yaml_tags_that_do_not_fit_their_value(yaml_parser):
    text = "a: !!int x\nb: !!bool yes\nc: !!float abc\nd: !!str [1]\ne: !!seq {k: 1}\nf: !!map plain\n"
    result = load_text(text, "x.yaml")
    found = [(d.code, d.pointer, at(d.span)) for d in result.diagnostics]
    assert found == [(codes.WRONG_TYPE, f"/{key}", (line, 4)) for line, key in enumerate("abcdef", start=1)]
    # the value is kept as written, so later stages can still point at it
    assert result.document.data == {"a": "x", "b": "yes", "c": "abc", "d": [1], "e": {"k": 1}, "f": "plain"}


def test_document_built_by_hand_maps_its_own_text(yaml_parser):
    json_document = SourceDocument("a.json", '{"a": [1, {"b": 2}]}', "json", {"a": [1, {"b": 2}]})
    assert at(json_document.span("/a/1/b")) == (1, 17)
    yaml_document = SourceDocument("a.yaml", "a:\n  - 1\n  - b: 2\n", "yaml", {"a": [1, {"b": 2}]})
    assert at(yaml_document.span("/a/1/b", prefer_key=True)) == (3, 5)
    # text that does not parse gives an empty map rather than an exception
    broken = SourceDocument("a.yaml", "a: [", "yaml", {})
    assert len(broken.source_map) == 0 and broken.span("/a") is None


def test_yaml_aliases_are_copied_not_shared(yaml_parser):
    result = load_text("a: &x {b: [1, 2]}\nc: *x\nd: *x\n", "x.yaml")
    data = result.document.data
    assert data["a"] == data["c"] == data["d"] == {"b": [1, 2]}
    assert data["c"] is not data["a"] and data["c"] is not data["d"] and data["c"]["b"] is not data["a"]["b"]
    # positions inside an alias point at the anchored text; the alias itself at `*x`
    assert at(result.document.span("/c")) == (2, 4)
    assert at(result.document.span("/c/b/1")) == (1, 15)


def test_yaml_merge_keys(yaml_parser):
    text = (
        "base: &base {lr: 1.0e-4, steps: 10, name: base}\n"
        "more: &more {extra: true, steps: 99}\n"
        "run:\n"
        "  <<: [*base, *more]\n"
        "  lr: 2e-4\n"
    )
    result = load_text(text, "x.yaml")
    assert result.diagnostics == ()
    run = result.document.data["run"]
    # own keys win over merged ones; earlier merged objects win over later ones
    assert run == {"lr": 2e-4, "steps": 10, "name": "base", "extra": True}
    assert "<<" not in run
    assert at(result.document.span("/run/lr")) == (5, 7)
    assert at(result.document.span("/run/steps")) == (1, 33)  # where the merged value is written
    bad = load_text("a:\n  <<: [1]\n", "x.yaml")
    diagnostic = only(bad, codes.WRONG_TYPE)
    assert "merge key" in diagnostic.message and at(diagnostic.span) == (2, 7)
    quoted = load_text("a:\n  '<<': 1\n", "x.yaml")  # a quoted `<<` is an ordinary key
    assert quoted.document.data == {"a": {"<<": 1}}


# ---- diagnostics, one code at a time -----------------------------------------------------------------------------


def test_file_not_found(tmp_path):
    diagnostic = only(load_file(tmp_path / "missing.json"), codes.FILE_NOT_FOUND)
    assert diagnostic.path == str(tmp_path / "missing.json")
    (tmp_path / "folder.json").mkdir()
    assert "folder" in only(load_file(tmp_path / "folder.json"), codes.FILE_NOT_FOUND).message


def test_unreadable_file(tmp_path, monkeypatch):
    path = tmp_path / "a.json"
    path.write_text("{}")

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    from audiodiff.schema import reading

    monkeypatch.setattr(reading.os, "open", refuse)  # every config read goes through the one reader
    diagnostic = only(load_file(path), codes.UNREADABLE_FILE)
    assert "Permission denied" in diagnostic.message


def test_unsupported_file_type(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("a = 1")
    assert "`.toml`" in only(load_file(path), codes.UNSUPPORTED_FILE_TYPE).message


def test_file_too_large_is_decided_before_reading(tmp_path, monkeypatch):
    path = tmp_path / "huge.json"
    with open(path, "wb") as stream:
        stream.truncate(17 * 1024 * 1024)  # sparse: no data blocks written

    def must_not_open(*args, **kwargs):
        raise AssertionError("the file was opened")

    monkeypatch.setattr(source, "open", must_not_open, raising=False)
    diagnostic = only(load_file(path), codes.FILE_TOO_LARGE)
    assert str(17 * 1024 * 1024) in diagnostic.message
    monkeypatch.undo()
    small = tmp_path / "small.json"
    small.write_text('{"a": 1}')
    only(load_file(small, max_bytes=4), codes.FILE_TOO_LARGE)
    only(load_text(b'{"a": 1}', "x.json", max_bytes=4), codes.FILE_TOO_LARGE)
    only(load_text('{"a": "é"}', "x.json", max_bytes=10), codes.FILE_TOO_LARGE)  # 11 bytes in UTF-8


def test_not_utf8_gives_offset_and_line():
    raw = b'{\n  "a": 1,\n  "b": "caf\xc3\xa9 \xff"\n}\n'
    diagnostic = only(load_text(raw, "x.json"), codes.NOT_UTF8)
    assert "offset 26" in diagnostic.message and "line 3" in diagnostic.message and "0xff" in diagnostic.message
    assert at(diagnostic.span) == (3, 14)  # `é` is two bytes but one column
    assert "offset 29" in only(load_text(b"\xef\xbb\xbf" + raw, "x.yaml"), codes.NOT_UTF8).message
    assert "UTF-16" in only(load_text("{}".encode("utf-16"), "x.json"), codes.NOT_UTF8).help
    only(load_text("a: \ud800", "x.yaml"), codes.NOT_UTF8)  # a str that no UTF-8 file could hold


def test_json_syntax_error_position():
    diagnostic = only(load_text('{\n  "a": 1,\n  "b" 2\n}', "x.json"), codes.JSON_SYNTAX)
    assert at(diagnostic.span) == (3, 7) and diagnostic.path == "x.json"
    trailing = only(load_text('{"a": 1,\r\n}', "x.json"), codes.JSON_SYNTAX)
    assert at(trailing.span) == (2, 1) and trailing.help


def test_yaml_syntax_error_position(yaml_parser):
    diagnostic = only(load_text("a: 1\nb: [1, 2\nc: 3\n", "x.yaml"), codes.YAML_SYNTAX)
    assert diagnostic.span is not None and diagnostic.span.line == 3
    tab = only(load_text("a:\n\tb: 1\n", "x.yaml"), codes.YAML_SYNTAX)
    assert at(tab.span) == (2, 1) and "tabs" in tab.help
    control = only(load_text("a: é\x01\n", "x.yaml"), codes.YAML_SYNTAX)
    assert at(control.span) == (1, 5)
    undefined = only(load_text("a: *nowhere\n", "x.yaml"), codes.YAML_SYNTAX)
    assert at(undefined.span) == (1, 4)


def test_duplicate_keys_json_all_reported_with_both_places():
    text = '{\n  "a": 1,\n  "m": {"x": 1, "x": {"k": 2}},\n  "a": 3\n}'
    result = load_text(text, "x.json")
    diagnostics = sorted(result.diagnostics, key=lambda d: d.span.line)
    assert [d.code for d in diagnostics] == [codes.DUPLICATE_KEY, codes.DUPLICATE_KEY]
    inner, outer = diagnostics
    assert inner.pointer == "/m/x" and at(inner.span) == (3, 17) and at(inner.related[0].span) == (3, 9)
    assert outer.pointer == "/a" and at(outer.span) == (4, 3) and at(outer.related[0].span) == (2, 3)
    # the document still comes back (last value wins, as json.load does), positions agreeing with the data
    assert result.document.data == {"a": 3, "m": {"x": {"k": 2}}}
    assert at(result.document.span("/a")) == (4, 8)


def test_duplicate_keys_yaml(yaml_parser):
    result = load_text("a: 1\nm:\n  x: 1\n  x: 2\na: 3\n", "x.yaml")
    diagnostics = sorted(result.diagnostics, key=lambda d: d.span.line)
    assert [(d.code, d.pointer, at(d.span), at(d.related[0].span)) for d in diagnostics] == [
        (codes.DUPLICATE_KEY, "/m/x", (4, 3), (3, 3)),
        (codes.DUPLICATE_KEY, "/a", (5, 1), (1, 1)),
    ]
    assert result.document.data == {"a": 3, "m": {"x": 2}}


def test_non_finite_numbers_json():
    text = '{"a": NaN,\n "b": [Infinity, -Infinity],\n "c": 1e400, "d": -1.5e999, "e": 1e308}'
    result = load_text(text, "x.json")
    found = [(d.code, d.pointer, at(d.span)) for d in result.diagnostics]
    assert found == [
        (codes.NON_FINITE_NUMBER, "/a", (1, 7)),
        (codes.NON_FINITE_NUMBER, "/b/0", (2, 8)),
        (codes.NON_FINITE_NUMBER, "/b/1", (2, 18)),
        (codes.NON_FINITE_NUMBER, "/c", (3, 7)),
        (codes.NON_FINITE_NUMBER, "/d", (3, 19)),
    ]
    assert "overflows" in result.diagnostics[3].message
    assert result.document is None  # no later stage should see a NaN


def test_non_finite_numbers_yaml(yaml_parser):
    result = load_text("a: .nan\nb: [.inf, -.Inf]\nc: 1e400\nd: !!float .INF\n", "x.yaml")
    found = [(d.code, d.pointer, at(d.span)) for d in result.diagnostics]
    assert found == [
        (codes.NON_FINITE_NUMBER, "/a", (1, 4)),
        (codes.NON_FINITE_NUMBER, "/b/0", (2, 5)),
        (codes.NON_FINITE_NUMBER, "/b/1", (2, 11)),
        (codes.NON_FINITE_NUMBER, "/c", (3, 4)),
        (codes.NON_FINITE_NUMBER, "/d", (4, 4)),
    ]
    assert result.document is None


def test_top_level_not_object(yaml_parser):
    diagnostic = only(load_text("\n  [1, 2]", "x.json"), codes.TOP_LEVEL_NOT_OBJECT)
    assert diagnostic.pointer == "" and at(diagnostic.span) == (2, 3) and "a list" in diagnostic.message
    diagnostic = only(load_text("# hello\njust text\n", "x.yaml"), codes.TOP_LEVEL_NOT_OBJECT)
    assert at(diagnostic.span) == (2, 1) and "a string" in diagnostic.message
    assert load_text("- 1\n", "x.yaml").document is None


def test_nesting_too_deep_json():
    at_limit = '{"a":' * MAX_DEPTH + "1" + "}" * MAX_DEPTH
    assert load_text(at_limit, "x.json").diagnostics == ()
    over = '{"a":' * (MAX_DEPTH + 1) + "1" + "}" * (MAX_DEPTH + 1)
    diagnostic = only(load_text(over, "x.json"), codes.NESTING_TOO_DEEP)
    assert diagnostic.pointer == "/a" * MAX_DEPTH and at(diagnostic.span) == (1, 5 * MAX_DEPTH + 1)
    # far beyond the interpreter's recursion limit: still a diagnostic, not a crash
    deep = "[" * 100_000 + "]" * 100_000
    diagnostic = only(load_text(deep, "x.json"), codes.NESTING_TOO_DEEP)
    assert at(diagnostic.span) == (1, MAX_DEPTH + 1)
    assert only(load_text("[" * 100_000, "x.json"), codes.NESTING_TOO_DEEP)


def test_nesting_too_deep_yaml(yaml_parser):
    over = "".join("  " * level + "k:\n" for level in range(MAX_DEPTH + 1)) + "  " * (MAX_DEPTH + 1) + "v\n"
    diagnostic = only(load_text(over, "x.yaml"), codes.NESTING_TOO_DEEP)
    assert diagnostic.pointer == "/k" * MAX_DEPTH and at(diagnostic.span) == (MAX_DEPTH + 1, 2 * MAX_DEPTH + 1)
    flow = "a: " + "[" * 3000 + "]" * 3000
    only(load_text(flow, "x.yaml"), codes.NESTING_TOO_DEEP)
    # an alias that pastes a deep anchor under a deep place
    half = MAX_DEPTH // 2 + 1
    anchored = "a: &d " + "[" * half + "]" * half + "\nb: " + "[" * half + "*d" + "]" * half + "\n"
    only(load_text(anchored, "x.yaml"), codes.NESTING_TOO_DEEP)


def test_yaml_alias_bomb_is_rejected(yaml_parser):
    # nine levels of nine aliases expand to 9**9 nodes: the loader must refuse before expanding them (reading it
    # to the end would not finish; bench/validate_bench.py times the refusal)
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 10):
        name, previous = chr(ord("a") + level), chr(ord("a") + level - 1)
        lines.append(f"{name}: &{name} [{', '.join(['*' + previous] * 9)}]")
    diagnostic = only(load_text("\n".join(lines) + "\n", "bomb.yaml"), codes.YAML_ALIAS_BOMB)
    assert diagnostic.span is not None and diagnostic.span.line <= 7
    recursive = only(load_text("a: &x [1, *x]\n", "x.yaml"), codes.YAML_ALIAS_BOMB)
    assert at(recursive.span) == (1, 11) and recursive.pointer == "/a/1"


def test_yaml_unsafe_tags(yaml_parser):
    text = (
        "a: !!python/object/apply:os.system [echo hi]\n"
        "b: !custom 3\n"
        "c: !!binary aGVsbG8=\n"
        "d: !!timestamp 2001-12-14\n"
        "e: !!set {x, y}\n"
        "f: !!python/name:os.system ''\n"
    )
    result = load_text(text, "x.yaml")
    found = [(d.code, d.pointer, at(d.span)) for d in result.diagnostics]
    assert found == [(codes.YAML_UNSAFE_TAG, f"/{key}", (line, 4)) for line, key in enumerate("abcdef", start=1)]
    assert "Python object" in result.diagnostics[0].message
    assert "JSON" in result.diagnostics[2].message
    # nothing is constructed: the untagged reading of each node is kept
    assert result.document.data["a"] == ["echo hi"] and result.document.data["b"] == 3


def test_empty_documents(yaml_parser):
    for text, name in [("", "x.json"), (" \n\t\r\n", "x.json"), ("", "x.yaml"), ("# nothing\n", "x.yaml")]:
        only(load_text(text, name), codes.EMPTY_DOCUMENT)
    only(load_text("---\n", "x.yaml"), codes.EMPTY_DOCUMENT)


def test_multiple_documents(yaml_parser):
    diagnostic = only(load_text("a: 1\n---\nb: 2\n", "x.yaml"), codes.MULTIPLE_DOCUMENTS)
    assert at(diagnostic.span) == (2, 1)
    assert load_text("a: 1\n...\n", "x.yaml").document.data == {"a": 1}  # an end marker alone is fine


def test_keys_must_be_strings(yaml_parser):
    result = load_text("a:\n  1: x\n  true: y\n  on: z\n? [p, q]\n: r\n", "x.yaml")
    found = [(d.code, d.pointer, at(d.span)) for d in result.diagnostics]
    assert found == [
        (codes.WRONG_TYPE, "/a/1", (2, 3)),
        (codes.WRONG_TYPE, "/a/true", (3, 3)),
        (codes.WRONG_TYPE, "", (5, 3)),
    ]
    assert result.document.data == {"a": {"1": "x", "true": "y", "on": "z"}}


def test_integer_too_long_to_convert():
    digits = "9" * (sys.get_int_max_str_digits() + 1) if sys.get_int_max_str_digits() else None
    if digits is None:
        pytest.skip("this interpreter converts integers of any length")
    diagnostic = only(load_text('{"n":\n ' + digits + "}", "x.json"), codes.JSON_SYNTAX)
    assert diagnostic.pointer == "/n" and at(diagnostic.span) == (2, 2)
    result = load_text("n: " + digits, "x.yaml")
    diagnostic = only(result, codes.YAML_SYNTAX)
    assert diagnostic.pointer == "/n" and at(diagnostic.span) == (1, 4) and result.document is None


def test_every_diagnostic_carries_the_path():
    for text, name in [('{"a": NaN}', "c/x.json"), ("a: !x 1", "c/x.yaml"), ("[", "c/x.json"), ("a: [", "c/x.yaml")]:
        result = load_text(text, name)
        assert result.diagnostics and all(d.path == name for d in result.diagnostics)


def test_import_is_torch_and_pydantic_free():
    code = (
        "import audiodiff.schema.source, sys; "
        "assert 'torch' not in sys.modules and 'pydantic' not in sys.modules, "
        "[m for m in ('torch', 'pydantic') if m in sys.modules]"
    )
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    completed = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, env=environment)
    assert completed.returncode == 0, completed.stderr
