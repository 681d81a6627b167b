"""The small vocabulary rules are written in: where things are, and how to report them."""

from __future__ import annotations

from dataclasses import dataclass, field

from audiodiff.diagnostics.codes import Code
from audiodiff.diagnostics.model import Diagnostic, Related
from audiodiff.schema.findings import Finding
from audiodiff.schema.pointer import join


def at(*tokens: str | int) -> str:
    """A JSON pointer from document keys: at("model", "diffusion", "config") == "/model/diffusion/config"."""
    return join("", *tokens)


@dataclass
class RuleReport:
    diagnostics: list[Diagnostic] = field(default_factory=list)

    def add(
        self,
        code: Code,
        message: str,
        pointer: str,
        *,
        help: str | None = None,
        related: tuple[tuple[str, str], ...] = (),
    ) -> None:
        """Record a finding; `related` holds (message, pointer) pairs for the other places involved."""
        notes = tuple(Related(message=note, pointer=where) for note, where in related)
        self.diagnostics.append(Diagnostic(code, message, pointer, help=help, related=notes))

    def add_findings(self, findings: list[Finding], base: str) -> None:
        """Record what a spec object found in its own settings; its relative pointers are placed under `base`."""
        for finding in findings:
            related = tuple((note, base + key) for note, key in finding.related)
            self.add(finding.code, finding.message, base + finding.key, help=finding.help, related=related)
