"""Cross-checks of the analytic parameter counts against a build on torch's meta device (no memory allocated).

Analytic counts (`params.py`) are what `compile --explain` shows without torch; `compile --params` builds the
modules on the meta device and compares, node by node, so a drift between the two is caught by the user too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from audiodiff.compiler.graph import Graph
from audiodiff.diagnostics import codes
from audiodiff.diagnostics.model import Diagnostic, Severity
from audiodiff.schema.v1.root import ModelConfig

if TYPE_CHECKING:
    from torch import nn


def node_of_key(key: str, *, autoencoder: bool = False) -> str:
    """The graph node a state-dict key belongs to (`conditioner.conditioners.prompt.x` -> `conditioning.prompt`)."""
    if autoencoder:
        return key.split(".", 1)[0]
    if key.startswith("model."):
        return "diffusion.backbone"
    if key.startswith("conditioner.conditioners."):
        return "conditioning." + key.split(".")[2]
    if key.startswith("pretransform.model."):
        stage = key.split(".")[2]
        return f"pretransform.{stage}" if stage in ("encoder", "decoder", "bottleneck") else "pretransform"
    if key.startswith("pretransform."):
        return "pretransform"
    return key.split(".", 1)[0]


def meta_parameter_counts(module: nn.Module, *, autoencoder: bool = False) -> dict[str, int]:
    """Trainable-parameter elements per graph node of a (meta-device) module tree."""
    counts: dict[str, int] = {}
    for key, parameter in module.named_parameters():
        node = node_of_key(key, autoencoder=autoencoder)
        counts[node] = counts.get(node, 0) + parameter.numel()
    return counts


def cross_check_params(spec: ModelConfig, graph: Graph) -> list[Diagnostic]:
    """Build on the meta device and compare each node's parameters with its analytic count."""
    from audiodiff.compiler.materialize import BuildError, BuildOptions, build_model

    try:
        module = build_model(spec, BuildOptions(device="meta"))
    except BuildError as error:
        return [
            Diagnostic(
                codes.NOT_BUILDABLE,
                f"`--params` could not build `{error.node_id}`: {error.message}",
                error.pointer,
                severity=Severity.WARNING,
            )
        ]
    measured = meta_parameter_counts(module, autoencoder=graph.model_type == "autoencoder")
    findings = []
    for node in graph.nodes:
        if node.kind in ("objective",) or graph.stages(node.id):  # a wrapper: its stages are compared
            continue
        built = measured.get(node.id, 0)
        if node.params is None:
            continue
        if built != node.params:
            findings.append(
                Diagnostic(
                    codes.PARAM_COUNT_MISMATCH,
                    f"`{node.id}` has {node.params:,} parameters by the analytic count but {built:,} when built",
                    node.origin,
                    help="please report this: the explain output and the built model disagree",
                )
            )
    return findings
