"""What a training run optimises and what it keeps frozen, as two `explain` quantities.

Fine-tuning a released model starts with this question: which parts move (the backbone, conditioners with weights
of their own) and which stay as loaded (a pretransform without `enable_grad`, external text encoders such as T5,
whose weights live outside the model's counts). The split comes from `params.count_model`, the same counts the
memory estimate trains, so the two always agree.
"""

from __future__ import annotations

from audiodiff.compiler.graph import Quantity
from audiodiff.compiler.params import ModelCounts, count_model
from audiodiff.schema.v1.root import ModelConfig

_CONDITIONER = "conditioner.conditioners."


def part_name(prefix: str, counts: ModelCounts) -> str:
    """A state-dict prefix as a reader names the part: `backbone`, `conditioner prompt`, `pretransform`, ..."""
    if prefix == counts.backbone:
        return "backbone"
    if prefix.startswith(_CONDITIONER):
        return f"conditioner {prefix[len(_CONDITIONER) : -1]}"
    return prefix.rstrip(".")


def training_split(spec: ModelConfig) -> list[Quantity]:
    """`trainable_params` and `frozen_params`, each naming its parts; parts without weights of their own are named
    apart (an external encoder is frozen and outside the count)."""
    counts = count_model(spec)
    trains, frozen, weightless = [], [], []
    frozen_total = 0
    for prefix, count in counts.parts.items():
        name = part_name(prefix, counts)
        if count is None:
            continue  # unknown: the rules report why
        if count.params == 0:
            weightless.append(name)
        elif prefix in counts.trainable:
            trains.append(name)
        else:
            frozen.append(name)
            frozen_total += count.params
    frozen_source = "frozen: " + (", ".join(frozen) if frozen else "nothing")
    if weightless:
        frozen_source += "; no weights in the model (an external encoder loads its own and stays frozen): " + ", ".join(
            weightless
        )
    return [
        Quantity("trainable_params", counts.trainable_count.params, "params", "trains: " + ", ".join(trains)),
        Quantity("frozen_params", frozen_total, "params", frozen_source),
    ]
