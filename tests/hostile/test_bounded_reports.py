"""Config text that tries to tie up or forge the report: thousands of unknown or duplicate keys on one line, a huge
string value or key, terminal escape sequences in keys and file names. Bounds are counted, never timed: at most so
many diagnostics, output under so many bytes."""

from __future__ import annotations

import json

import pytest

from audiodiff.compiler.pipeline import check_text
from audiodiff.diagnostics import codes
from audiodiff.diagnostics.bounds import (
    MAX_DIAGNOSTICS_PER_FILE,
    cap_diagnostics,
    echo,
    sanitize,
)
from audiodiff.diagnostics.model import Diagnostic, Span
from audiodiff.diagnostics.render import FileResult, github, junit, text
from audiodiff.diagnostics.render import json as json_renderer

BASE = {"model_type": "autoencoder", "sample_rate": 44100, "sample_size": 65536, "audio_channels": 2}


def _unknown_keys(count: int) -> str:
    document = dict(BASE)
    document.update({f"unknown_key_{index}": index for index in range(count)})
    return json.dumps(document)  # one line


def _render_all(check) -> dict[str, str]:
    result = check.result()
    return {
        "text": text.render([result]),
        "github": github.render([result]),
        "junit": junit.render([result]),
        "json": json_renderer.render([result]),
    }


def test_thousands_of_unknown_keys_give_a_bounded_report():
    check = check_text(_unknown_keys(5000), "big.json")
    shown = check.diagnostics
    assert len(shown) <= MAX_DIAGNOSTICS_PER_FILE + 3
    notes = [d for d in shown if d.code is codes.TOO_MANY_DIAGNOSTICS]
    assert notes and any("more" in d.message for d in notes)
    assert check.has_errors
    rendered = _render_all(check)
    assert len(rendered["text"]) < 200_000  # about 100 snippets of at most 120 characters, not 5,000 whole lines
    for output in rendered.values():
        assert "unknown_key_4999" not in output  # the tail is counted, not echoed


def test_the_count_of_hidden_diagnostics_is_exact_once_they_are_made():
    made = [
        Diagnostic(codes.UNKNOWN_KEY, f"unknown key `k{index}`", f"/k{index}", "a.json", Span(1, index + 1))
        for index in range(250)
    ]
    made.append(Diagnostic(codes.MISSING_SCHEMA_VERSION, "no version", "", "a.json", Span(1, 9999)))
    capped = cap_diagnostics(made, limit=10)
    kept = [d for d in capped if d.code is not codes.TOO_MANY_DIAGNOSTICS]
    assert len(kept) == 10 and all(d.is_error for d in kept)  # errors before warnings
    (note,) = [d for d in capped if d.code is codes.TOO_MANY_DIAGNOSTICS]
    assert note.message.startswith("241 more diagnostics") and "240 errors, 1 warning" in note.message


def test_thousands_of_duplicate_keys_give_a_bounded_report():
    pairs = ", ".join(f'"sample_rate": {index}' for index in range(20_000))
    body = json.dumps(BASE)[1:-1]
    check = check_text("{" + body + ", " + pairs + "}", "dup.json")
    assert len(check.diagnostics) <= MAX_DIAGNOSTICS_PER_FILE + 3
    assert any(d.code is codes.DUPLICATE_KEY for d in check.diagnostics)
    assert len(text.render([check.result()])) < 200_000


def test_a_huge_string_value_is_not_echoed_whole():
    document = dict(BASE, model={"encoder": "x" * 2_000_000})
    check = check_text(json.dumps(document), "huge.json")
    for output in _render_all(check).values():
        assert len(output) < 50_000


def test_a_huge_unknown_key_is_truncated_in_the_message():
    document = dict(BASE)
    document["k" * 1_000_000] = 1
    check = check_text(json.dumps(document), "key.json")
    unknown = [d for d in check.diagnostics if d.code is codes.UNKNOWN_KEY]
    assert unknown and all(len(d.message) < 300 for d in unknown)
    assert len(text.render([check.result()])) < 10_000


def test_a_long_minified_line_is_windowed_before_tabs_are_expanded():
    line = "\t" * 500_000 + '"x"'
    result = FileResult(
        "a.json", [Diagnostic(codes.JSON_SYNTAX, "bad", None, "a.json", Span(1, 500_001))], line=lambda number: line
    )
    snippet_lines = text.render([result]).splitlines()
    assert max(len(row) for row in snippet_lines) < 200
    assert any(row.rstrip().endswith("^") for row in snippet_lines)


ESCAPES = "\x1b]0;pwned\x07\x1b[2J\rerror: forged\n"


def test_sanitize_and_echo():
    assert sanitize("a\x1bb\nc\td") == "a\\x1bb\\nc\td"
    assert sanitize("\x9b") == "\\x9b"
    assert echo("x" * 100, 10) == "x" * 10 + "… (90 more characters)"


@pytest.mark.parametrize("format", ["text", "github", "junit"])
def test_escape_sequences_from_keys_and_file_names_are_never_printed_raw(format):
    document = dict(BASE)
    document[ESCAPES] = 1
    check = check_text(json.dumps(document), "evil\x1b[31m.json")
    output = _render_all(check)[format]
    assert "\x1b" not in output and "\x07" not in output and "\r" not in output
    assert "\nerror: forged" not in output
    assert "\\x1b" in output


def test_json_escapes_control_characters_by_its_nature():
    document = dict(BASE)
    document[ESCAPES] = 1
    output = json_renderer.render([check_text(json.dumps(document), "a.json").result()])
    assert "\x1b" not in output
    messages = [d["message"] for entry in json.loads(output)["files"] for d in entry["diagnostics"]]
    assert any("\x1b" in message for message in messages)  # the value itself travels intact, escaped by JSON


def test_escape_sequences_in_the_snippet_become_one_character_each():
    line = '{"a\x1b[2J": 1}'
    diagnostic = Diagnostic(codes.UNKNOWN_KEY, "unknown key", "/a", "a.json", Span(1, 2, 1, 9))
    rendered = text.render([FileResult("a.json", [diagnostic], line=lambda number: line)])
    assert "\x1b" not in rendered
    rows = rendered.splitlines()
    source_line = next(row for row in rows if row.startswith("1 | "))
    caret_line = rows[rows.index(source_line) + 1]
    assert source_line == '1 | {"a\ufffd[2J": 1}'
    start = caret_line.index("^")
    assert source_line[start : start + caret_line.count("^")] == '"a\ufffd[2J"'  # the caret still sits under the key
