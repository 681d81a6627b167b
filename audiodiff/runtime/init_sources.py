"""`run --init` as the user writes it, without torch (so `run --check` judges it too): which file serves which
part of the model.

Parts of a diffusion model are the top-level prefixes of its released layout (spec §8.1): `backbone` (`model.*`),
`conditioner` (`conditioner.*`) and `pretransform` (`pretransform.*`); those of an autoencoder are `encoder`,
`decoder` and `bottleneck`. `--init PATH` serves every part from one file, `--init PART=PATH` one part, and wins
over a bare path for that part. `--pretransform-ckpt PATH` is another spelling of `--init pretransform=PATH`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

DIFFUSION_PARTS = {"backbone": "model.", "conditioner": "conditioner.", "pretransform": "pretransform."}
AUTOENCODER_PARTS = {"encoder": "encoder.", "decoder": "decoder.", "bottleneck": "bottleneck."}
PART_NAMES = (*DIFFUSION_PARTS, *AUTOENCODER_PARTS)


class InitUsageError(ValueError):
    """`--init` values that do not make sense together or for this model; `str()` is one sentence."""


@dataclass(frozen=True)
class InitSource:
    part: str | None  # None: every part of the model
    path: Path
    flag: str  # as the user wrote it, for messages: `--init pretransform=vae.ckpt`


def parse_init(items: Sequence[str], pretransform_ckpt: Path | None = None) -> list[InitSource]:
    """`--init` values as typed (`PATH` or `PART=PATH`); `--pretransform-ckpt P` is the same as `--init
    pretransform=P`. A value whose text before `=` names no part is a path (file names may hold `=`)."""
    sources = []
    for item in items:
        part, sep, rest = item.partition("=")
        if sep and part in PART_NAMES:
            if not rest:
                raise InitUsageError(f"`--init {item}` names no file after `{part}=`")
            sources.append(InitSource(part, Path(rest), f"--init {item}"))
        elif sep and part.isidentifier() and not Path(item).exists():
            raise InitUsageError(
                f"`--init {item}`: `{part}` is not a part of a model; parts are {', '.join(PART_NAMES)}"
            )
        else:
            sources.append(InitSource(None, Path(item), f"--init {item}"))
    if pretransform_ckpt is not None:
        sources.append(InitSource("pretransform", Path(pretransform_ckpt), f"--pretransform-ckpt {pretransform_ckpt}"))
    return sources


def parts_of(model_type: str) -> dict[str, str]:
    """Part name -> state-dict prefix, for a model type that `run` trains."""
    return AUTOENCODER_PARTS if model_type == "autoencoder" else DIFFUSION_PARTS


def assign(sources: Sequence[InitSource], model_type: str) -> dict[str, InitSource]:
    """Which source serves each part: a part named explicitly wins over a bare path; two for one part are refused."""
    parts = parts_of(model_type)
    wholes = [source for source in sources if source.part is None]
    if len(wholes) > 1:
        raise InitUsageError(
            f"`{wholes[0].flag}` and `{wholes[1].flag}` both initialise the whole model; name a part for one of them"
        )
    chosen: dict[str, InitSource] = dict.fromkeys(parts, wholes[0]) if wholes else {}
    named: dict[str, InitSource] = {}
    for source in sources:
        if source.part is None:
            continue
        if source.part not in parts:
            kind = "an autoencoder" if model_type == "autoencoder" else "a diffusion model"
            raise InitUsageError(
                f"`{source.flag}`: {kind} has no `{source.part}` part; its parts are {', '.join(parts)}"
            )
        if source.part in named:
            raise InitUsageError(f"`{named[source.part].flag}` and `{source.flag}` both initialise `{source.part}`")
        named[source.part] = source
    chosen.update(named)
    return chosen


def servable_parts(keys: Sequence[str], layout: str) -> dict[str, int]:
    """`--init` parts a checkpoint can serve (part -> tensors for it), from its normalised keys and layout
    (`ckpt inspect`). A bare autoencoder serves a diffusion model's `pretransform` and an autoencoder run's parts; a
    released model with an autoencoder pretransform serves those autoencoder parts too (its VAE, fine-tuned alone)."""
    served: dict[str, int] = {}
    if layout == "autoencoder":
        served["pretransform"] = len(keys)
        inner = list(keys)
    else:
        for part, prefix in DIFFUSION_PARTS.items():
            count = sum(1 for key in keys if key.startswith(prefix))
            if count:
                served[part] = count
        inner = [key.removeprefix("pretransform.model.") for key in keys if key.startswith("pretransform.model.")]
    for part, prefix in AUTOENCODER_PARTS.items():
        count = sum(1 for key in inner if key.startswith(prefix))
        if count:
            served[part] = count
    return served
