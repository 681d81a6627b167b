"""The config tab validates and explains pasted text without torch, escaping everything it echoes."""

from __future__ import annotations

import subprocess
import sys

from studio_model import EXAMPLE

from audiodiff.serve.configcheck import check_config, diagnostics_html, explanation_html


def test_a_typo_is_reported_at_its_line_with_the_line_highlighted():
    text = EXAMPLE.read_text().replace('"depth": 4', '"depht": 4')
    line = next(number for number, row in enumerate(text.splitlines(), start=1) if "depht" in row)
    report = check_config(text, "model.json")
    assert report.errors == 1 and report.explanation is None
    [found] = report.diagnostics
    assert (found["code"], found["line"], found["pointer"]) == ("AD101", line, "/model/diffusion/config/depht")
    page = diagnostics_html(report)
    assert f'class="ad-mark-error" id="ad-line-{line}"' in page
    assert "did you mean `depth`?" in page
    assert "no graph" in explanation_html(report)
    assert len(report.lines) == len(text.splitlines()) + 1  # the text's own lines (it ends with a line break)
    assert "depht" in report.lines[line - 1]


def test_a_valid_config_shows_its_graph_with_counts_and_routes():
    report = check_config(EXAMPLE.read_text(), "model.json")
    assert report.errors == 0
    page = explanation_html(report)
    total = report.explanation["total_params"]
    assert f"{total:,} parameters" in page
    assert "cross_attention" in page and all(name in page for name in ("class", "seconds_start", "seconds_total"))
    assert "diffusion.backbone" in page


def test_yaml_is_read_by_the_name_and_markup_is_escaped():
    report = check_config('model_type: "<script>alert(1)</script>"\n', "model.yaml")
    assert report.errors >= 1
    page = diagnostics_html(report)
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_oversized_text_is_refused_without_parsing():
    report = check_config(" " * (3 * 1024 * 1024), "model.json")
    assert report.errors == 1 and "larger than" in report.diagnostics[0]["message"]


def test_the_config_tab_never_imports_torch():
    code = (
        "import sys; from audiodiff.serve.configcheck import check_config, diagnostics_html, explanation_html;"
        f"r = check_config(open({str(EXAMPLE)!r}).read(), 'm.json'); explanation_html(r); diagnostics_html(r);"
        "assert r.errors == 0; print('torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
