"""JUnit XML, the report format CI dashboards (GitLab, Jenkins, Azure Pipelines, CircleCI) parse.

One test suite per run, one test case per file (`classname` names the tool, `name` the file). A file with errors
fails: its `<failure>` carries the count in `message` and every diagnostic, in the text format, in its body. A file
with warnings only passes and lists them in `<system-out>`, so they stay visible without failing the build.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Sequence

from audiodiff.diagnostics.bounds import sanitize
from audiodiff.diagnostics.model import count_by_severity
from audiodiff.diagnostics.render import FileResult, plural
from audiodiff.diagnostics.render.text import render_diagnostic

# characters XML 1.0 cannot carry at all (a config line may hold them); they become U+FFFD
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def render(results: Sequence[FileResult], *, tool: str = "lint") -> str:
    suite_name = f"audiodiff {tool}"
    failures = sum(1 for result in results if not result.valid)
    root = ElementTree.Element(
        "testsuites", name=suite_name, tests=str(len(results)), failures=str(failures), errors="0", skipped="0"
    )
    suite = ElementTree.SubElement(
        root, "testsuite", name=suite_name, tests=str(len(results)), failures=str(failures), errors="0", skipped="0"
    )
    for result in results:
        path = _xml_text(sanitize(result.path))
        case = ElementTree.SubElement(suite, "testcase", classname=f"audiodiff.{tool}", name=path, file=path)
        diagnostics = result.sorted()
        errors, warnings = count_by_severity(diagnostics)
        blocks = _xml_text("\n\n".join(render_diagnostic(d, result) for d in diagnostics))
        if errors:
            first = next(d for d in diagnostics if d.is_error)
            failure = ElementTree.SubElement(
                case,
                "failure",
                message=f"{plural(errors, 'error')} and {plural(warnings, 'warning')}",
                type=first.code.id,
            )
            failure.text = blocks + "\n"
        elif diagnostics:
            output = ElementTree.SubElement(case, "system-out")
            output.text = blocks + "\n"
    ElementTree.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root, encoding="unicode") + "\n"
