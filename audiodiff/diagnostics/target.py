"""The runtime a config is judged for: audiodiff's own (the default) or the reference, stable-audio-tools 0.0.19.

Most findings mean the same under both: a config that neither runtime can run is an error whatever the target. Some
codes describe what only the reference refuses (it raises at build, at the first training step, at the first demo,
in encode/decode or at export, while audiodiff copes). Such a code carries an `Upstream` record in the code table,
and `judge` decides its severity from the target:

- under `--target stable-audio-tools`, it is an error, and the message names the version and the stage;
- under the default target, it keeps the code's own severity (a warning for what audiodiff can run), and the message
  still names the version, so a team that also trains with the reference sees what would break there;
- a code whose `Upstream.always` is set describes something the reference cannot build for *any* config (a code bug
  such as DAU1d's): it stays a warning under every target, because no config change can satisfy it.

Rules never branch on the target themselves: they report the finding with its code, and `judge` (run once per file by
the pipeline) applies the target. A rule that needs a different code per target is a sign that it reports two facts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from audiodiff.diagnostics.codes import UPSTREAM_LABEL, UPSTREAM_VERSION, Code
from audiodiff.diagnostics.model import Diagnostic, Severity

AUDIODIFF = "audiodiff"
STABLE_AUDIO_TOOLS = "stable-audio-tools"
_RUNTIMES = (AUDIODIFF, STABLE_AUDIO_TOOLS)


class TargetError(ValueError):
    """A `--target` value or `target` setting that names no known runtime or version (a usage error)."""


@dataclass(frozen=True, slots=True)
class Target:
    runtime: str  # AUDIODIFF or STABLE_AUDIO_TOOLS
    version: str | None = None  # the reference's version; None for audiodiff

    @property
    def upstream(self) -> bool:
        """Whether configs are judged for the reference trainer."""
        return self.runtime == STABLE_AUDIO_TOOLS

    def __str__(self) -> str:
        return f"{self.runtime}=={self.version}" if self.version else self.runtime


DEFAULT_TARGET = Target(AUDIODIFF)
UPSTREAM_TARGET = Target(STABLE_AUDIO_TOOLS, UPSTREAM_VERSION)


def parse_target(text: str) -> Target:
    """`audiodiff`, `stable-audio-tools` or `stable-audio-tools==0.0.19` (case and spaces around `==` ignored)."""
    name, separator, version = text.strip().lower().partition("==")
    name, version = name.strip(), version.strip()
    if name == AUDIODIFF and not separator:
        return DEFAULT_TARGET
    if name == STABLE_AUDIO_TOOLS:
        if not separator or version == UPSTREAM_VERSION:
            return UPSTREAM_TARGET
        raise TargetError(
            f"`{text}`: audiodiff knows the behaviour of {STABLE_AUDIO_TOOLS} {UPSTREAM_VERSION} only"
            if version
            else f"`{text}`: give a version after `==`, e.g. `{STABLE_AUDIO_TOOLS}=={UPSTREAM_VERSION}`"
        )
    known = ", ".join(f"`{runtime}`" for runtime in _RUNTIMES)
    raise TargetError(f"`{text}` is not a target runtime; known: {known} (optionally `=={UPSTREAM_VERSION}`)")


def severity_for(code: Code, target: Target) -> Severity:
    """The severity of a finding with `code` under `target` (see the module docstring)."""
    own = Severity(code.severity)
    upstream = code.upstream
    if upstream is None:
        return own
    if upstream.always:
        return Severity.WARNING
    return Severity.ERROR if target.upstream else own


def judge(diagnostics: Iterable[Diagnostic], target: Target) -> list[Diagnostic]:
    """`diagnostics` with the severity `target` gives them and, for codes about the reference, its version named."""
    judged = []
    for diagnostic in diagnostics:
        upstream = diagnostic.code.upstream
        if upstream is None or diagnostic.severity is not None:  # an explicit severity was decided by its finder
            judged.append(diagnostic)
            continue
        message = diagnostic.message
        if UPSTREAM_LABEL not in message:
            message = f"{message} ({upstream.note()})"
        severity = severity_for(diagnostic.code, target)
        judged.append(replace(diagnostic, message=message, severity=severity))
    return judged
