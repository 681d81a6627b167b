"""docs/codes.md documents every code, and its examples trigger the code they document.

A section is `## ADxxx`, then the code's name, severity and summary, an example and a `Fix:` line. Examples
fenced as ```json patch=BASE are JSON merge patches (RFC 7386) of the page's base configs; ```json raw and
```yaml raw are whole files. Each is read as `lint` reads a file and must report its section's code.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from audiodiff.compiler.pipeline import check_text
from audiodiff.diagnostics import codes
from audiodiff.lint import rules

DOCS = Path(__file__).resolve().parents[2] / "docs" / "codes.md"
_FENCE = re.compile(r"^```(\S*)([^\n]*)\n(.*?)^```", re.M | re.S)


def _sections() -> dict[str, str]:
    parts = re.split(r"^## (AD\d{3})\n", DOCS.read_text(encoding="utf-8"), flags=re.M)
    sections: dict[str, str] = {}
    for code, body in zip(parts[1::2], parts[2::2]):
        assert code not in sections, f"{code} is documented twice"
        sections[code] = body
    return sections


def _bases() -> dict[str, Any]:
    return {
        info.strip()[len("base=") :]: json.loads(content)
        for _, info, content in _FENCE.findall(DOCS.read_text(encoding="utf-8"))
        if info.strip().startswith("base=")
    }


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge key by key, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


def _lint_codes(text: str, path: str) -> list[str]:
    check = check_text(text, path, advice=True, check_paths=True)
    found = list(check.diagnostics) + rules.file_rules(check, max_demo_seconds=600)
    return [diagnostic.code.id for diagnostic in found]


def _examples() -> list[tuple[str, str, str]]:
    """(code, file name, text) of every checked example."""
    bases = _bases()
    examples = []
    for code, body in _sections().items():
        for language, info, content in _FENCE.findall(body):
            info = info.strip()
            if info.startswith("patch="):
                document = merge_patch(bases[info[len("patch=") :]], json.loads(content))
                examples.append((code, "example.json", json.dumps(document, indent=2)))
            elif info == "raw":
                examples.append((code, f"example.{language}", content))
    return examples


def test_every_code_has_a_section_and_every_section_a_code():
    sections = _sections()
    assert sorted(sections) == sorted(codes.CODES), (
        f"undocumented: {sorted(set(codes.CODES) - set(sections))}; unknown: {sorted(set(sections) - set(codes.CODES))}"
    )


@pytest.mark.parametrize("code", sorted(codes.CODES))
def test_section_names_the_code_shows_an_example_and_the_fix(code):
    body = _sections()[code]
    entry = codes.CODES[code]
    assert f"**`{entry.name}`** · {entry.severity} · {entry.summary}" in body
    assert _FENCE.search(body), f"{code} has no example"
    assert re.search(r"^Fix: \S", body, re.M), f"{code} has no `Fix:` line"


@pytest.mark.parametrize("code", sorted(code for code, entry in codes.CODES.items() if entry.upstream is not None))
def test_codes_about_the_reference_document_their_judgement(code):
    """A code whose severity depends on the target says, per target, what it is and where the reference fails."""
    body = _sections()[code]
    judgement = re.search(r"^Judgement: (.*?)(?:\n\n|\Z)", body, re.M | re.S)
    assert judgement, f"{code} has no `Judgement:` paragraph"
    text = " ".join(judgement.group(1).split())
    assert "--target stable-audio-tools" in text or "both targets" in text
    if codes.CODES[code].upstream.always:
        assert "warning under both targets" in text
    else:
        assert "an error under `--target stable-audio-tools`" in text and codes.CODES[code].upstream.stage in text


def test_docs_url_points_at_the_section_anchors():
    # GitHub derives the anchor `#ad201` from the heading `## AD201`
    assert codes.DOCS_URL.endswith("/docs/codes.md")
    assert codes.CODES["AD201"].docs_url.endswith("/docs/codes.md#ad201")


def test_base_configs_are_clean():
    bases = _bases()
    assert set(bases) == {"dit", "unet", "uncond", "autoencoder", "dataset"}
    for name, base in bases.items():
        assert _lint_codes(json.dumps(base), "base.json") == [], name


def test_most_codes_have_a_checked_example():
    checked = {code for code, _, _ in _examples()}
    # those that need a file on disk, a second file, a built module or a running command (all of AD8xx)
    allowed = {
        "AD001",
        "AD002",
        "AD003",
        "AD004",
        "AD005",
        "AD017",
        "AD018",
        "AD520",
        "AD610",
        "AD612",
        "AD613",
        "AD614",
        "AD706",
        "AD902",
    }
    unchecked = {code for code in set(codes.CODES) - checked if not code.startswith("AD8")}
    assert unchecked <= allowed, sorted(unchecked - allowed)


@pytest.mark.parametrize(
    "code, name, text", _examples(), ids=lambda value: value if str(value).startswith("AD") else ""
)
def test_example_reports_its_code(code, name, text):
    assert code in _lint_codes(text, name)
