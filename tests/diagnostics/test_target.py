"""Target runtimes: parsing `--target`, and how `judge` turns one finding into a severity per target."""

from __future__ import annotations

import pytest

from audiodiff.diagnostics import codes
from audiodiff.diagnostics.model import Diagnostic, Severity
from audiodiff.diagnostics.target import (
    DEFAULT_TARGET,
    UPSTREAM_TARGET,
    TargetError,
    judge,
    parse_target,
    severity_for,
)


@pytest.mark.parametrize("text", ["stable-audio-tools", "stable-audio-tools==0.0.19", " Stable-Audio-Tools == 0.0.19 "])
def test_upstream_spellings(text: str) -> None:
    assert parse_target(text) == UPSTREAM_TARGET
    assert parse_target(text).upstream


def test_default_target() -> None:
    assert parse_target("audiodiff") == DEFAULT_TARGET and not DEFAULT_TARGET.upstream
    assert str(UPSTREAM_TARGET) == "stable-audio-tools==0.0.19"


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("stable-audio-tools==0.0.18", "0.0.19 only"),
        ("stable-audio-tools==", "give a version"),
        ("sat", "not a target runtime"),
        ("audiodiff==1.0", "not a target runtime"),
    ],
)
def test_unknown_targets_are_refused(text: str, fragment: str) -> None:
    with pytest.raises(TargetError, match=fragment):
        parse_target(text)


def test_every_upstream_record_is_well_formed() -> None:
    """A code about the reference is a warning by default (audiodiff copes) unless both runtimes refuse it, and
    says where the reference fails."""
    about_upstream = [code for code in codes.CODES.values() if code.upstream is not None]
    assert len(about_upstream) >= 8
    for code in about_upstream:
        assert code.upstream.stage.split()[0] in ("at", "in", "when"), code.id
        if code.upstream.always:
            assert code.severity == "warning", code.id


def test_judge_per_target() -> None:
    finding = Diagnostic(codes.TRANSFORMER_TYPE_REMOVED, "removed", "/model/diffusion/config/transformer_type")
    (default,) = judge([finding], DEFAULT_TARGET)
    (upstream,) = judge([finding], UPSTREAM_TARGET)
    assert default.effective_severity is Severity.WARNING and upstream.effective_severity is Severity.ERROR
    for judged in (default, upstream):
        assert judged.message == "removed (stable-audio-tools 0.0.19 fails at build)"
    assert finding.severity is None and finding.message == "removed"  # the input is not mutated


def test_always_failing_upstream_stays_a_warning() -> None:
    finding = Diagnostic(codes.UNBUILDABLE_UPSTREAM, "use_snake", "/model/type")
    for target in (DEFAULT_TARGET, UPSTREAM_TARGET):
        (judged,) = judge([finding], target)
        assert judged.effective_severity is Severity.WARNING
        assert "cannot build this for any config" in judged.message
    assert severity_for(codes.UNBUILDABLE_UPSTREAM, UPSTREAM_TARGET) is Severity.WARNING


def test_codes_without_a_record_keep_their_severity() -> None:
    error = Diagnostic(codes.UNKNOWN_KEY, "x", "/a")
    warning = Diagnostic(codes.CAUSAL_ATTENTION, "y", "/b")
    for target in (DEFAULT_TARGET, UPSTREAM_TARGET):
        assert judge([error, warning], target) == [error, warning]


def test_judging_twice_changes_nothing() -> None:
    once = judge([Diagnostic(codes.CHUNK_TOO_SHORT, "short", "/model/pretransform/chunked")], UPSTREAM_TARGET)
    assert judge(once, UPSTREAM_TARGET) == once
    assert judge(once, DEFAULT_TARGET) == once  # an explicit severity was decided by whoever judged it first
