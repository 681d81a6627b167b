"""The Linear layers of a `dit` backbone that LoRA can adapt, derived from its spec without torch, and how
`training.lora.target_modules` patterns select them.

Names are the module paths below the backbone, as in its state dict (`transformer.layers.0.self_attn.to_qkv`); the
released layout puts `model.model.` before them. The list follows `nn/dit.py` and `nn/transformer.py` layer by layer
(continuous transformer only); `tests/nn/test_lora_layers.py` builds the module on the meta device and compares
every name and shape, so the two cannot drift apart.

A pattern is a glob (`*`, `?`, `[...]`; `*` crosses dots) that matches a name whole or at any dot boundary:
`to_qkv`, `self_attn.*` and `transformer.layers.1?.ff.*` all work.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from audiodiff.schema.v1.backbones import DiTSpec, DiTUncondSpec

TIMESTEP_FEATURES = 256  # the DiT's Fourier timestep features (fixed upstream)


@dataclass(frozen=True)
class LinearSite:
    """One `nn.Linear` of the backbone: its name below the backbone and its shape."""

    name: str
    in_features: int
    out_features: int

    def adapter_params(self, rank: int) -> int:
        """Parameters of a rank-`rank` adapter: A is [rank, in], B is [out, rank]."""
        return rank * (self.in_features + self.out_features)

    @property
    def params(self) -> int:
        """Parameters of the layer's own weight (its bias, if any, is not adapted)."""
        return self.in_features * self.out_features


def dit_linear_sites(spec: DiTSpec | DiTUncondSpec) -> tuple[LinearSite, ...]:
    """Every Linear layer of a continuous-transformer DiT, in module order. Empty for the legacy x-transformers
    DiT, whose layers LoRA does not adapt."""
    if spec.transformer_type != "continuous_transformer":
        return ()
    embed = spec.embed_dim
    sites: list[LinearSite] = []

    def mlp(name: str, width_in: int, width_out: int) -> None:  # Linear, SiLU, Linear: `.0` and `.2`
        sites.append(LinearSite(f"{name}.0", width_in, width_out))
        sites.append(LinearSite(f"{name}.2", width_out, width_out))

    timestep_width = embed if spec.timestep_cond_type == "global" else (spec.timestep_embed_dim or 0)
    mlp("to_timestep_embed", TIMESTEP_FEATURES, timestep_width)
    if spec.cond_token_dim > 0:
        mlp("to_cond_embed", spec.cond_token_dim, spec.context_width)
    if spec.global_cond_dim > 0:
        mlp("to_global_embed", spec.global_cond_dim, embed if spec.project_global_cond else spec.global_cond_dim)
    if spec.prepend_cond_dim > 0:
        mlp("to_prepend_embed", spec.prepend_cond_dim, embed)
    concat = spec.input_concat_dim + (timestep_width if spec.timestep_cond_type == "input_concat" else 0)
    sites.append(LinearSite("transformer.project_in", (spec.channels + concat) * spec.patch_size, embed))
    sites.append(LinearSite("transformer.project_out", embed, spec.channels * spec.patch_size))
    if spec.global_cond_type == "adaLN":
        sites.append(LinearSite("transformer.global_cond_embedder.0", embed, embed))
        sites.append(LinearSite("transformer.global_cond_embedder.2", embed, 6 * embed))
    differential = spec.attn_kwargs.differential
    ff = spec.ff_kwargs
    inner = int(embed * ff.mult)
    for index in range(spec.depth):
        block = f"transformer.layers.{index}"
        sites.append(LinearSite(f"{block}.self_attn.to_qkv", embed, embed * (5 if differential else 3)))
        sites.append(LinearSite(f"{block}.self_attn.to_out", embed, embed))
        cross = spec.cond_token_dim > 0 and (spec.final_cross_attn_ix == -1 or index <= spec.final_cross_attn_ix)
        if cross:
            context = spec.context_width
            sites.append(LinearSite(f"{block}.cross_attn.to_q", embed, embed * (2 if differential else 1)))
            sites.append(LinearSite(f"{block}.cross_attn.to_kv", context, context * (3 if differential else 2)))
            sites.append(LinearSite(f"{block}.cross_attn.to_out", embed, embed))
        if ff.glu:  # SwiGLU's input layer is a Linear even with `use_conv`
            sites.append(LinearSite(f"{block}.ff.ff.0.proj", embed, 2 * inner))
        elif not ff.use_conv:
            sites.append(LinearSite(f"{block}.ff.ff.0.1", embed, inner))
        if not ff.use_conv:
            sites.append(LinearSite(f"{block}.ff.ff.2", inner, embed))
        if spec.conformer:  # registered after the feed-forward
            sites.append(LinearSite(f"{block}.conformer.glu.proj", embed, 2 * embed))
    return tuple(sites)


def pattern_matches(pattern: str, name: str) -> bool:
    """Whether a `target_modules` pattern selects the layer `name` (whole, or a dotted suffix of it)."""
    return fnmatchcase(name, pattern) or fnmatchcase(name, "*." + pattern)


def select(patterns: tuple[str, ...], sites: tuple[LinearSite, ...]) -> tuple[LinearSite, ...]:
    """The sites that at least one pattern selects, in module order."""
    return tuple(site for site in sites if any(pattern_matches(pattern, site.name) for pattern in patterns))


def summarize_names(names: list[str], limit: int = 12) -> str:
    """Layer names folded over block indices (`transformer.layers.{0..23}.self_attn.to_qkv`), for messages."""
    groups: dict[str, list[int]] = {}
    order: list[str] = []
    for name in names:
        parts = name.split(".")
        if len(parts) > 2 and parts[0] == "transformer" and parts[1] == "layers" and parts[2].isdigit():
            key = ".".join(["transformer", "layers", "{}", *parts[3:]])
            index = int(parts[2])
        else:
            key, index = name, -1
        if key not in groups:
            groups[key] = []
            order.append(key)
        if index >= 0:
            groups[key].append(index)
    shown = []
    for key in order:
        indices = groups[key]
        if not indices:
            shown.append(key)
            continue
        span = str(indices[0]) if len(indices) == 1 else _ranges(indices)
        shown.append(key.replace("{}", "{" + span + "}" if len(indices) > 1 else span))
    more = len(shown) - limit
    return ", ".join(shown[:limit]) + (f" and {more} more" if more > 0 else "")


def _ranges(indices: list[int]) -> str:
    """`0..23`, or `0..5,8..11` where blocks differ (e.g. `final_cross_attn_ix`)."""
    runs: list[tuple[int, int]] = []
    for index in sorted(indices):
        if runs and index == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], index)
        else:
            runs.append((index, index))
    return ",".join(f"{a}..{b}" if a != b else str(a) for a, b in runs)
