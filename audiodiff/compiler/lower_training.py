"""The training-only nodes of an autoencoder's graph: its discriminator (with an analytic parameter count) and one
node per weighted loss term, so that `compile --explain` shows what training optimises and with which weights.

Torch-free. These nodes are not part of the model: `Graph.total_params` leaves them out, and checkpoints of the
model never hold them. The term list is the one `audiodiff.runtime.autoencoder_losses` builds (a test keeps the two
in step).
"""

from __future__ import annotations

from audiodiff.compiler.entry import Entry
from audiodiff.compiler.facts import DiscriminatorFacts, LossFacts
from audiodiff.compiler.graph import Node
from audiodiff.compiler.registry import lookup
from audiodiff.schema.pointer import join
from audiodiff.schema.v1 import autoencoder_training as ae
from audiodiff.schema.v1.root import AutoencoderConfig

TRAINING_KINDS = ("discriminator", "loss")
DEFAULT_KL_WEIGHT = 1e-6
DEFAULT_MMD_WEIGHT = 100.0
# bottleneck type -> (term, its type tag, fixed weight or None for the configured one)
_BOTTLENECK_TERMS: dict[str, tuple[tuple[str, str, float | None], ...]] = {
    "vae": (("kl_loss", "kl", None),),
    "rvq": (("quantizer_loss", "quantizer", 1.0),),
    "rvq_vae": (("kl_loss", "kl", None), ("quantizer_loss", "quantizer", 1.0)),
    "dac_rvq": (("codebook_loss", "codebook", 1.0), ("commitment_loss", "commitment", 0.25)),
    "dac_rvq_vae": (
        ("kl_loss", "kl", None),
        ("codebook_loss", "codebook", 1.0),
        ("commitment_loss", "commitment", 0.25),
    ),
    "wasserstein": (("mmd_loss", "mmd", None),),
}


def loss_terms(spec: AutoencoderConfig) -> list[tuple[str, str, float, str]]:
    """(term name, type tag, weight, pointer) of every generator loss term of an autoencoder's training."""
    training = spec.training
    configs = training.loss_configs if training is not None and training.loss_configs is not None else None
    base = join("", "training", "loss_configs")
    where = base if configs is not None else join("", "training")
    losses = configs if configs is not None else ae.default_loss_configs()
    terms: list[tuple[str, str, float, str]] = []
    if losses.discriminator is not None:
        weights = losses.discriminator.weights
        terms.append(
            (
                "loss_adv",
                "adversarial",
                _or(weights.adversarial, ae.DEFAULT_ADVERSARIAL),
                f"{where}/discriminator/weights/adversarial" if configs else where,
            )
        )
        terms.append(
            (
                "feature_matching_loss",
                "feature_matching",
                _or(weights.feature_matching, ae.DEFAULT_FEATURE_MATCHING),
                f"{where}/discriminator/weights/feature_matching" if configs else where,
            )
        )
    if losses.spectral is not None:
        weight = _or(losses.spectral.weights.mrstft, ae.DEFAULT_MRSTFT)
        pointer = f"{where}/spectral/weights/mrstft" if configs else where
        if spec.model.decoder.config.output_channels == 2:
            terms.append(("mrstft_loss", "sum_and_difference", weight, pointer))
            terms += [
                ("stft_loss_left", "mrstft", weight / 2, pointer),
                ("stft_loss_right", "mrstft", weight / 2, pointer),
            ]
        else:
            terms.append(("mrstft_loss", "mrstft", weight, pointer))
    if losses.time is not None:
        for name, tag in (("l1_time_loss", "l1"), ("l2_time_loss", "l2")):
            weight = getattr(losses.time.weights, tag)
            if weight is not None and weight > 0:
                terms.append((name, tag, weight, f"{where}/time/weights/{tag}" if configs else where))
    bottleneck = spec.model.bottleneck.type if spec.model.bottleneck is not None else ""
    configured = losses.bottleneck.weights if losses.bottleneck is not None else ae.BottleneckWeightsSpec()
    for name, tag, fixed in _BOTTLENECK_TERMS.get(bottleneck, ()):
        if fixed is not None:
            weight = fixed
        elif tag == "kl":
            weight = _or(configured.kl, DEFAULT_KL_WEIGHT)
        else:
            weight = _or(configured.mmd, DEFAULT_MMD_WEIGHT)
        terms.append(
            (
                name,
                tag,
                weight,
                f"{base}/bottleneck/weights/{tag}"
                if configs and losses.bottleneck
                else join("", "model", "bottleneck"),
            )
        )
    return terms


def _discriminator_params(entry: Entry, discriminator: ae.DiscriminatorSpec, channels: int) -> int | None:
    if entry.counter is None:
        return None
    count = entry.counter(discriminator, channels)
    assert count is None or isinstance(count, int)  # discriminator counters give a parameter count
    return count


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


def training_nodes(spec: AutoencoderConfig, *, count_params: bool) -> list[Node]:
    """`training.discriminator` (when there is one) and `training.loss.<term>` nodes of an autoencoder config."""
    if spec.training is None:
        return []
    configs = spec.training.loss_configs
    losses = configs if configs is not None else ae.default_loss_configs()
    nodes = []
    discriminator = losses.discriminator
    if discriminator is not None:
        channels = spec.model.decoder.config.output_channels
        status, reason = lookup("discriminator", discriminator.type).availability()
        pointer = join("", "training", "loss_configs", "discriminator") if configs is not None else join("", "training")
        entry = lookup("discriminator", discriminator.type)
        count = _discriminator_params(entry, discriminator, channels) if count_params else None
        nodes.append(
            Node(
                "training.discriminator",
                "discriminator",
                discriminator.type,
                pointer,
                params=count,
                spec=discriminator,
                facts=DiscriminatorFacts(status, reason),
            )
        )
    for name, tag, weight, pointer in loss_terms(spec):
        nodes.append(
            Node(
                f"training.loss.{name}",
                "loss",
                tag,
                pointer,
                params=0,
                facts=LossFacts(weight),
            )
        )
    return nodes
