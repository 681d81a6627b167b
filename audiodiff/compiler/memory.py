"""First-order memory estimates for training and inference, from the typed spec and its parameter counts (torch-free).

The point is the order of magnitude and how it scales (linearly in batch size and sequence length, quadratically in
tokens for unfused attention), not a byte-exact prediction: allocator slack, CUDA context, cuDNN workspaces,
dataloader buffers and framework bookkeeping are not modelled. Every line carries the arithmetic that produced it.

Model of a step, in bytes:

* resident: parameters (+ persistent buffers), gradients and optimizer state of the trainable parts, the EMA copy of
  the backbone, and (mixed precision) the half-precision weight copies autocast keeps for backward;
* transient phases, which do not overlap: encoding the batch with a frozen pretransform (no_grad: only the widest
  level's live tensors), then the backbone's forward/backward (the activations it stores). The total is the resident
  part plus the largest transient phase.

The activation models (what each backbone and codec keeps per step) are in `activations.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from audiodiff.compiler.activations import Geometry, activation_elements, codec_transient, forward_elements, guided
from audiodiff.compiler.graph import Graph
from audiodiff.compiler.lora import LORA_PREFIX, with_adapters
from audiodiff.compiler.params import ModelCounts, count_model
from audiodiff.schema.v1.root import AutoencoderConfig, ModelConfig
from audiodiff.schema.v1.training import DiffusionTrainingSpec
from audiodiff.schema.views import conditioning_of

__all__ = [
    "OPTIMIZER_STATES",
    "PRECISIONS",
    "MemoryBreakdown",
    "MemoryEstimate",
    "MemoryLine",
    "estimate_for_graph",
    "estimate_memory",
    "format_bytes",
    "needs_gradient_checkpointing",
    "training_settings",
]


@dataclass(frozen=True)
class Precision:
    """Bytes per element of stored weights (and their gradients / optimizer state) and of computed activations."""

    weights: int
    compute: int
    mixed: bool  # autocast: fp32 master weights, 16-bit activations and weight copies


PRECISIONS: dict[str, Precision] = {
    "32": Precision(4, 4, False),
    "32-true": Precision(4, 4, False),
    "64": Precision(8, 8, False),
    "64-true": Precision(8, 8, False),
    "16-mixed": Precision(4, 2, True),
    "bf16-mixed": Precision(4, 2, True),
    "16-true": Precision(2, 2, False),
    "bf16-true": Precision(2, 2, False),
}

# state tensors per parameter: Adam(W) keep exp_avg and exp_avg_sq; SGD keeps a momentum buffer (none at momentum 0,
# pass `optimizer_states=0` then); amsgrad adds a third (pass `optimizer_states=3`)
OPTIMIZER_STATES = {"Adam": 2, "AdamW": 2, "FusedAdam": 2, "SGD": 1}


@dataclass(frozen=True)
class MemoryLine:
    name: str
    bytes: int
    derivation: str
    transient: bool = False  # a phase of the step: the total takes the largest transient line, not their sum


@dataclass(frozen=True)
class MemoryBreakdown:
    lines: tuple[MemoryLine, ...]

    @property
    def resident(self) -> int:
        return sum(line.bytes for line in self.lines if not line.transient)

    @property
    def peak_transient(self) -> int:
        return max((line.bytes for line in self.lines if line.transient), default=0)

    @property
    def total(self) -> int:
        return self.resident + self.peak_transient

    def line(self, name: str) -> MemoryLine:
        for line in self.lines:
            if line.name == name:
                return line
        raise KeyError(name)

    def bytes_of(self, name: str) -> int:
        """Bytes of the named line, 0 when the breakdown has no such line."""
        return next((line.bytes for line in self.lines if line.name == name), 0)


@dataclass(frozen=True)
class MemoryEstimate:
    training: MemoryBreakdown
    inference: MemoryBreakdown
    training_total_unchecked: int  # the training total without gradient checkpointing
    training_total_checked: int  # ... and with it
    assumptions: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        def rows(breakdown: MemoryBreakdown) -> dict[str, Any]:
            return {
                "total": breakdown.total,
                "lines": [
                    {"name": line.name, "bytes": line.bytes, "derivation": line.derivation, "transient": line.transient}
                    for line in breakdown.lines
                ],
            }

        return {
            "training": rows(self.training),
            "inference": rows(self.inference),
            "training_total_unchecked": self.training_total_unchecked,
            "training_total_checked": self.training_total_checked,
            "assumptions": list(self.assumptions),
        }


def needs_gradient_checkpointing(estimate: MemoryEstimate, budget_bytes: int) -> bool:
    """True when training without gradient checkpointing is estimated to exceed `budget_bytes`."""
    return estimate.training_total_unchecked > budget_bytes


def format_bytes(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.2f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


# --- the estimate --------------------------------------------------------------------------------------------------


def estimate_memory(
    spec: ModelConfig,
    counts: ModelCounts | None = None,
    *,
    batch_size: int,
    precision: str = "32",
    optimizer: str = "AdamW",
    use_ema: bool = True,
    gradient_checkpointing: bool = False,
    fused_attention: bool = True,  # SDPA flash / memory-efficient: no N² score matrix is stored
    optimizer_states: int | None = None,  # overrides OPTIMIZER_STATES[optimizer] (SGD momentum 0, amsgrad)
    pre_encoded: bool | None = None,  # None: `training.pre_encoded` of the spec (False when absent)
) -> MemoryEstimate:
    """Training and inference memory of one step of a validated root model config (bytes, with derivations)."""
    if batch_size < 1:
        raise ValueError(f"`batch_size` must be >= 1, got `{batch_size}`")
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision `{precision}`; choose one of {', '.join(PRECISIONS)}")
    if optimizer_states is None:
        if optimizer not in OPTIMIZER_STATES:
            raise ValueError(f"unknown optimizer `{optimizer}`; choose one of {', '.join(OPTIMIZER_STATES)}")
        optimizer_states = OPTIMIZER_STATES[optimizer]
    counts = with_adapters(counts if counts is not None else count_model(spec), spec)  # LoRA: adapters train
    if pre_encoded is None:
        pre_encoded = isinstance(spec.training, DiffusionTrainingSpec) and spec.training.pre_encoded
    p = PRECISIONS[precision]
    assumptions = [
        "first-order model: allocator slack, CUDA context and framework workspaces are not included",
        "attention "
        + (
            "uses a fused kernel (no N² score matrix stored)"
            if fused_attention
            else "is unfused: score and probability matrices are stored"
        ),
    ]
    if counts.unknown:
        assumptions.append("parts of unknown size count as 0: " + ", ".join(counts.unknown))
    if spec.model_type != "autoencoder" and conditioning_of(spec) is not None:
        assumptions.append("frozen external encoders (T5, CLAP) are outside the counts and not included")

    geometry = Geometry.of(spec, batch_size)
    step = _TrainingStep(spec, counts, geometry, p, optimizer, optimizer_states, use_ema, fused_attention, pre_encoded)
    unchecked, checked = step.breakdown(checkpointing=False), step.breakdown(checkpointing=True)
    inference = _inference(spec, counts, geometry, p, fused_attention, assumptions)
    training = checked if gradient_checkpointing else unchecked
    return MemoryEstimate(training, inference, unchecked.total, checked.total, tuple(assumptions))


@dataclass(frozen=True)
class _TrainingStep:
    spec: ModelConfig
    counts: ModelCounts
    geometry: Geometry
    precision: Precision
    optimizer: str
    optimizer_states: int
    use_ema: bool
    fused: bool
    pre_encoded: bool

    def breakdown(self, *, checkpointing: bool) -> MemoryBreakdown:
        p, counts = self.precision, self.counts
        total, trainable, backbone = counts.total, counts.trainable_count, counts.backbone_count
        weight_note = "fp32 master weights" if p.mixed else f"{p.weights}-byte weights"
        lines = [
            MemoryLine(
                "parameters",
                (total.params + total.buffers) * p.weights,
                f"({total.params:,} params + {total.buffers:,} buffer elements) × {p.weights} B ({weight_note})",
            ),
            MemoryLine(
                "gradients", trainable.params * p.weights, f"{trainable.params:,} trainable params × {p.weights} B"
            ),
            MemoryLine(
                "optimizer state",
                trainable.params * self.optimizer_states * p.weights,
                f"{trainable.params:,} × {self.optimizer_states} states ({self.optimizer}) × {p.weights} B",
            ),
        ]
        if self.use_ema and counts.backbone:
            averaged = "adapter" if counts.backbone == LORA_PREFIX else "backbone"
            lines.append(
                MemoryLine(
                    "EMA copy", backbone.params * p.weights, f"{backbone.params:,} {averaged} params × {p.weights} B"
                )
            )
        if p.mixed:
            lines.append(
                MemoryLine(
                    "autocast weight copies",
                    trainable.params * p.compute,
                    f"{trainable.params:,} trainable params × {p.compute} B (16-bit copies kept for backward)",
                )
            )
        stored = activation_elements(self.spec, self.geometry, checkpointing=checkpointing, fused=self.fused)
        label = "with gradient checkpointing" if checkpointing else "no checkpointing"
        lines.append(
            MemoryLine(
                "activations",
                stored.elements * p.compute,
                f"{stored.formula} = {stored.elements:,} elements × {p.compute} B ({label})",
                transient=True,
            )
        )
        encode = codec_transient(self.spec, self.geometry, decode=False)
        if encode is not None and not self.pre_encoded:
            lines.append(
                MemoryLine(
                    "pretransform encode",
                    encode.elements * p.compute,
                    f"{encode.formula} × {p.compute} B (no_grad)",
                    transient=True,
                )
            )
        return MemoryBreakdown(tuple(lines))


def _inference(
    spec: ModelConfig, counts: ModelCounts, geometry: Geometry, p: Precision, fused: bool, assumptions: list[str]
) -> MemoryBreakdown:
    """Weights in inference precision (16-bit under mixed precision), one forward's working set, the sampler, decode."""
    bytes_per = p.compute if p.mixed else p.weights
    total = counts.total
    lines = [
        MemoryLine(
            "parameters",
            (total.params + total.buffers) * bytes_per,
            f"{total.params:,} params + {total.buffers:,} buffer elements × {bytes_per} B",
        )
    ]
    if spec.model_type == "autoencoder":
        work = codec_transient(spec, geometry, decode=True, autoencoder=True)
        if work is not None:
            lines.append(
                MemoryLine("decode", work.elements * p.compute, f"{work.formula} × {p.compute} B", transient=True)
            )
        return MemoryBreakdown(tuple(lines))
    doubled = guided(spec)
    if doubled:
        assumptions.append("inference runs classifier-free guidance on a doubled batch")
    batch = geometry.batch * (2 if doubled else 1)
    forward = forward_elements(spec, geometry.with_batch(batch), fused)
    lines.append(
        MemoryLine(
            "activations",
            forward.elements * p.compute,
            f"{forward.formula} = {forward.elements:,} elements × {p.compute} B (forward only)",
            transient=True,
        )
    )
    state = 4 * geometry.batch * geometry.channels * geometry.length  # x, denoised, previous denoised, noise
    lines.append(
        MemoryLine(
            "sampler state",
            state * p.compute,
            f"4 × B·C·L = 4 × {geometry.batch}·{geometry.channels}·{geometry.length} × {p.compute} B",
        )
    )
    decode = codec_transient(spec, geometry, decode=True)
    if decode is not None:
        lines.append(
            MemoryLine(
                "pretransform decode",
                decode.elements * p.compute,
                f"{decode.formula} = {decode.elements:,} elements × {p.compute} B",
                transient=True,
            )
        )
    return MemoryBreakdown(tuple(lines))


# --- the summary `compile --explain` prints ------------------------------------------------------------------------


def training_settings(spec: ModelConfig) -> tuple[str, int, bool]:
    """(optimizer tag, state tensors per parameter, EMA on) as the spec's `training` section sets them.

    Without `optimizer_configs` the reference trains with Adam; autoencoders optimise the `autoencoder` group.
    """
    training = spec.training
    autoencoder = isinstance(spec, AutoencoderConfig)
    use_ema = bool(training.use_ema) if training is not None else not autoencoder
    group = None
    if training is not None and training.optimizer_configs:
        group = training.optimizer_configs.get("autoencoder" if autoencoder else "diffusion")
    if group is None:
        return "Adam", OPTIMIZER_STATES["Adam"], use_ema
    optimizer = group.optimizer
    return optimizer.type, optimizer.state_tensors, use_ema


def estimate_for_graph(spec: ModelConfig, graph: Graph | None, *, batch_size: int, precision: str) -> dict[str, Any]:
    """The estimate `compile --explain` shows: bytes per line and totals, with the spec's own optimizer and EMA.

    `graph` is the lowered graph of `spec`; its node counts are the ones used here, so it only serves as a guard that
    the two describe the same model.
    """
    counts = count_model(spec)
    known = graph.total_params if graph is not None else None
    if known is not None and known != counts.total.params:
        raise ValueError(f"the graph counts `{known:,}` parameters but the spec `{counts.total.params:,}`")
    optimizer, states, use_ema = training_settings(spec)
    estimate = estimate_memory(
        spec,
        counts,
        batch_size=batch_size,
        precision=precision,
        optimizer=optimizer,
        optimizer_states=states,
        use_ema=use_ema,
    )
    settings = f"batch {batch_size}, {precision}, {optimizer}{', EMA' if use_ema else ''}"

    def phase(breakdown: MemoryBreakdown) -> dict[str, int]:
        return {**{line.name: line.bytes for line in breakdown.lines}, "total": breakdown.total}

    return {
        "assumptions": settings,
        "training": phase(estimate.training),
        "inference": phase(estimate.inference),
        "training_with_checkpointing": estimate.training_total_checked,
        "notes": list(estimate.assumptions),
        "derivations": {
            name: {line.name: line.derivation for line in breakdown.lines}
            for name, breakdown in (("training", estimate.training), ("inference", estimate.inference))
        },
    }
