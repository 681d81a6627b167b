"""Cross-field rules that the typed spec alone decides (spec §7): ids that must exist, lengths that must agree,
geometry that upstream only discovers at the first forward pass.

Each rule module exposes `check(spec, report)`; `check_rules` runs all of them and returns every finding. Rules
name both places a problem relates: the primary pointer where the fix usually belongs, and `related` notes.
Width contracts that need derived widths of the whole graph live in `audiodiff.compiler.checks`.

Rules never look at the target runtime. A finding that only the reference refuses uses a code with an `Upstream`
record (`codes.py`); `audiodiff.diagnostics.target.judge` gives it its severity per target. `upstream.py` holds the
rules that exist only because of the reference.
"""

from __future__ import annotations

from audiodiff.diagnostics.model import Diagnostic
from audiodiff.schema.rules import autoencoder, backbone, conditioning, lora, training, upstream
from audiodiff.schema.rules.report import RuleReport
from audiodiff.schema.v1.root import ModelConfig

_RULE_MODULES = (conditioning, backbone, autoencoder, training, lora, upstream)


def check_rules(spec: ModelConfig) -> list[Diagnostic]:
    """All rule findings for a validated model config spec (any supported model type)."""
    report = RuleReport()
    for module in _RULE_MODULES:
        module.check(spec, report)
    return report.diagnostics
