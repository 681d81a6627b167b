"""Activation models of the memory estimate: the tensors each backbone block and codec level keeps, in elements.

Activation coefficients count the tensors a layer keeps for backward, per element of its output:

* DiT block (B batch, N tokens, E width, F = mult·E, M context tokens of width C_e): self-attention 8·B·N·E (input,
  norm, q, k, v, rotated q and k, output); cross-attention 4·B·N·E + 2·B·M·C_e; feed-forward 2·B·N·E + 4·B·N·F (GLU:
  value/gate 2F, activated gate F, product F) or 2·B·N·E + 2·B·N·F. Unfused attention adds the score and probability
  matrices, 2·B·h·N² (and 2·B·h·N·M); with a fused kernel (SDPA flash / memory-efficient, the default assumption)
  that term is absent.
* adp U-Net: 9·B·C·L per ResNet block (two GroupNorm/modulation/SiLU/conv stages), 12 on the decoder side whose
  input is the 2C skip concatenation; each Transformer1d block (10 + 2·mult)·B·L·C (+3·B·L·C with cross-attention)
  plus the unfused attention term.
* DAU1d: 7·B·C·L per ResConvBlock (9 for the one reading the 2C concatenation), 8·B·C·L per self-attention
  (+ 2·B·(C/32)·L² unfused).
* codecs (training an autoencoder): 12·B·C·T per level (three residual units of about four tensors each).

The coefficients were checked against the bytes autograd actually saves for audiodiff's modules on CPU in float32
(saved-tensor hooks; DiT, adp U-Net and DAU1d, fused attention): the estimate lands within about ±30% of them.

Gradient checkpointing keeps only each block's input and recomputes one block at a time in backward:
Σ inputs + the largest single block. A forward without autograd (sampling) keeps only what must survive the block
(U-Net skips) plus the live set of the largest block: its input, widest intermediate and output.
"""

from __future__ import annotations

from dataclasses import dataclass

from audiodiff.compiler.facts import TokenShape
from audiodiff.schema.routes import CROSS_ATTENTION, PREPEND, Route
from audiodiff.schema.v1.backbones import BackboneSpec, DAU1dSpec, DiTBackboneSpec, DiTOptionsSpec, UNet1dSpec
from audiodiff.schema.v1.conditioning import ConditionerSpec
from audiodiff.schema.v1.root import AutoencoderConfig, ModelConfig
from audiodiff.schema.views import (
    BackboneView,
    backbone_of,
    conditioning_of,
    pretransform_of,
    pretransform_ratio,
    routes_of,
)

__all__ = ["Elements", "Geometry", "activation_elements", "codec_transient", "forward_elements", "guided"]

CHUNK_LATENTS = 128  # chunked pretransforms encode/decode 128 latents at a time
CHUNK_OVERLAP = 32  # ... plus this many latents of overlap on each side
CODEC_LIVE_TENSORS = 3  # a no_grad encode/decode holds about input, conv output and activation at its widest level
CODEC_STORED_PER_LEVEL = 12  # three residual units of about four stored tensors each


# --- geometry ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Geometry:
    batch: int
    channels: int  # of the denoised tensor (latent width)
    length: int  # latent length L
    audio_length: int  # sample_size

    @classmethod
    def of(cls, spec: ModelConfig, batch: int) -> Geometry:
        if isinstance(spec, AutoencoderConfig):
            return cls(
                batch,
                spec.model.latent_dim,
                max(1, spec.sample_size // spec.model.downsampling_ratio),
                spec.sample_size,
            )
        located = pretransform_of(spec)
        ratio = (pretransform_ratio(located[0]) if located is not None else 1) or 1
        return cls(batch, _backbone(spec).channels, max(1, spec.sample_size // ratio), spec.sample_size)

    def with_batch(self, batch: int) -> Geometry:
        return Geometry(batch, self.channels, self.length, self.audio_length)


@dataclass(frozen=True)
class Elements:
    """An element count and the arithmetic behind it (shown in the estimate's derivations)."""

    elements: int
    formula: str


def guided(spec: ModelConfig) -> bool:
    """Whether sampling runs the backbone on a doubled (conditional + unconditional) batch."""
    backbone = backbone_of(spec)
    if spec.model_type not in ("diffusion_cond", "diffusion_cond_inpaint") or backbone is None:
        return False
    guidance = backbone.capabilities.guidance
    if guidance == "with_token_routes":
        routes = routes_of(spec)
        return bool(routes[CROSS_ATTENTION] or routes[PREPEND])
    return guidance == "always"


def _tokens(spec: ModelConfig, route: Route) -> int:
    """Tokens a routing list contributes (T5 / LUT: max_length; CLAP features: 77; one per scalar conditioner)."""
    conditioning = conditioning_of(spec)
    if conditioning is None:
        return 0
    total = 0
    for conditioner_id in routes_of(spec)[route]:
        entry = conditioning.by_id(conditioner_id)
        if entry is None:
            continue
        total += _token_count(entry, conditioning.output_dim(entry))
    return total


def _token_count(entry: ConditionerSpec, output_dim: int) -> int:
    """The tokens its registered lowering gives the conditioner's output; a length known only per batch (phoneme)
    is bounded by `max_length`, and channels-first signal conditioners count as one."""
    from audiodiff.compiler.lowering import ConditionerContext, Lowered
    from audiodiff.compiler.registry import lookup

    lowering = lookup("conditioner", entry.type).lowering
    assert lowering is not None
    shape = lowering(entry, ConditionerContext(output_dim, None, None))
    assert isinstance(shape, Lowered)
    if not isinstance(shape.facts, TokenShape):
        return 1
    tokens = shape.facts.tokens
    return tokens if isinstance(tokens, int) else int(getattr(entry.config, "max_length", 1))


# --- activations ---------------------------------------------------------------------------------------------------


def activation_elements(spec: ModelConfig, g: Geometry, *, checkpointing: bool, fused: bool) -> Elements:
    """Elements one training step keeps for backward (the backbone's, or an autoencoder's encoder and decoder)."""
    if isinstance(spec, AutoencoderConfig):
        return _codec_training(spec, g, checkpointing)
    blocks = _backbone_blocks(spec, g, fused)
    if checkpointing:
        inputs = sum(block.inputs for block in blocks)
        largest = max(block.stored for block in blocks)
        return Elements(inputs + largest, f"Σ block inputs {inputs:,} + largest block {largest:,}")
    stored = sum(block.stored for block in blocks)
    return Elements(stored, f"Σ over {len(blocks)} blocks of stored tensors")


def forward_elements(spec: ModelConfig, g: Geometry, fused: bool) -> Elements:
    """Inference: no tensors are kept for backward; the live set is the inputs kept for skips plus one block."""
    blocks = _backbone_blocks(spec, g, fused)
    kept = sum(block.inputs for block in blocks if block.skip)
    largest = max(block.live for block in blocks)
    return Elements(kept + largest, f"skips {kept:,} + largest block {largest:,} (B = {g.batch})")


@dataclass(frozen=True)
class _Block:
    stored: int  # elements kept for backward when not checkpointing
    inputs: int  # elements of its input (kept when checkpointing)
    live: int  # elements alive at once in a forward without autograd (input, widest intermediate, output)
    skip: bool = False  # its input stays alive until the decoder side (U-Net skips)


def _backbone(spec: ModelConfig) -> BackboneView:
    backbone = backbone_of(spec)
    if backbone is None:
        raise TypeError(f"a `{spec.model_type}` model has no diffusion backbone")
    return backbone


def _backbone_blocks(spec: ModelConfig, g: Geometry, fused: bool) -> list[_Block]:
    config: BackboneSpec = _backbone(spec).config
    if isinstance(config, DiTOptionsSpec):
        return _dit_blocks(spec, config, g, fused)
    if isinstance(config, UNet1dSpec):
        return _unet_blocks(spec, config, g, fused)
    if isinstance(config, DAU1dSpec):
        return _dau1d_blocks(config, g, fused)
    raise TypeError(f"no activation model for `{type(config).__name__}`")


def _dit_blocks(spec: ModelConfig, config: DiTBackboneSpec, g: Geometry, fused: bool) -> list[_Block]:
    b, e = g.batch, config.embed_dim
    global_token = 1 if config.global_cond_type == "prepend" else 0
    n = config.num_memory_tokens + _tokens(spec, PREPEND) + global_token + g.length // config.patch_size
    m = _tokens(spec, CROSS_ATTENTION) if config.cond_token_dim > 0 else 0
    heads, hidden = config.num_heads, int(e * config.ff_kwargs.mult)
    ff = 2 * e + (4 if config.ff_kwargs.glu else 2) * hidden
    blocks = []
    for index in range(config.depth):
        cross = m > 0 and (config.final_cross_attn_ix == -1 or index <= config.final_cross_attn_ix)
        scores = 0 if fused else 2 * b * heads * n * n
        stored = b * n * (8 * e + ff) + scores
        if cross:
            stored += 4 * b * n * e + 2 * b * m * config.context_width + (0 if fused else 2 * b * heads * n * m)
        # forward only: residual stream, the feed-forward's value/gate and activated hidden, or the attention scores
        live = b * n * (2 * e + 3 * hidden) + scores
        blocks.append(_Block(stored, b * n * e, live))
    io = b * n * (e + config.channels * config.patch_size)  # project_in / project_out streams
    return blocks + [_Block(io, io, io)]


def _unet_blocks(spec: ModelConfig, config: UNet1dSpec, g: Geometry, fused: bool) -> list[_Block]:
    b = g.batch
    context = _tokens(spec, CROSS_ATTENTION) if config.context_embedding_features else 0
    widths = [config.channels * multiplier for multiplier in config.multipliers]
    lengths = [max(1, g.length // config.patch_size)]
    for factor in config.factors:
        lengths.append(max(1, lengths[-1] // factor))

    def transformer(level: int, count: int) -> list[_Block]:
        c, length = widths[level], lengths[level]
        heads = config.attention_heads or max(1, c // (config.attention_features or c))
        size, mult = b * length * c, config.attention_multiplier or 0
        scores = 0 if fused else 2 * b * heads * length * (length + context)
        per = (10 + 2 * mult + (3 if context else 0)) * size + scores
        block = _Block(per, size, (2 + mult) * size + scores)
        return [block] * count + ([_Block(3 * size, size, 3 * size)] if count else [])

    def resnet(size: int, stored: int = 9, inputs: int = 1, skip: bool = False) -> _Block:
        return _Block(stored * size, inputs * size, (inputs + 2) * size, skip)

    top = b * widths[0] * lengths[0]
    blocks = [resnet(top, skip=True)]  # to_in (the Patcher)
    for i in range(config.num_levels):
        level, size = i + 1, b * widths[i + 1] * lengths[i + 1]
        blocks += [resnet(size, skip=True)] * config.num_blocks[i]
        blocks += transformer(level, config.attentions[i])
    last = config.num_levels
    blocks += [resnet(b * widths[last] * lengths[last])] * 2 + transformer(last, config.attentions[-1])
    for i in reversed(range(config.num_levels)):
        level, size = i + 1, b * widths[i + 1] * lengths[i + 1]
        blocks += [resnet(size, stored=12, inputs=2)] * (config.num_blocks[i] + (1 if config.attentions[i] else 0))
        blocks += transformer(level, config.attentions[i])
    return blocks + [resnet(top)]  # to_out (the Unpatcher)


def _dau1d_blocks(config: DAU1dSpec, g: Geometry, fused: bool) -> list[_Block]:
    b, length = g.batch, g.length
    blocks: list[_Block] = []
    attn_from = config.depth - config.n_attn_layers
    for level in range(1, config.depth + 1):
        c = config.channels[level - 1]
        size = b * c * length
        # ResConvBlocks: three on the way down (the first one's input is the level's skip), three on the way up
        blocks += [_Block(7 * size, size, 3 * size, skip=True)] + [_Block(7 * size, size, 3 * size)] * 2
        blocks += [_Block(9 * size, 2 * size, 4 * size)] + [_Block(7 * size, size, 3 * size)] * 2
        if level > 1 and level >= attn_from and config.n_attn_layers > 0:
            scores = 0 if fused else 2 * b * max(1, c // 32) * length * length
            blocks += [_Block(8 * size + scores, size, 5 * size + scores)] * 6
        if level < config.depth:
            length = max(1, length // config.strides[level - 1])
    return blocks


# --- codecs --------------------------------------------------------------------------------------------------------


def codec_transient(spec: ModelConfig, g: Geometry, *, decode: bool, autoencoder: bool = False) -> Elements | None:
    """The widest level of a no_grad encode (or decode): about three live tensors of B·C·T there."""
    if autoencoder:
        if not isinstance(spec, AutoencoderConfig):
            raise TypeError(f"a `{spec.model_type}` model is not an autoencoder")
        model, batch, length = spec.model, g.batch, g.audio_length
    else:
        located = pretransform_of(spec)
        pretransform = located[0].as_autoencoder() if located is not None else None
        if pretransform is None:
            return None
        model = pretransform.config
        batch = 1 if pretransform.iterate_batch else g.batch
        length = g.audio_length
        if pretransform.chunked:
            length = min(length, (CHUNK_LATENTS + 2 * CHUNK_OVERLAP) * model.downsampling_ratio)
    levels = (model.decoder if decode else model.encoder).config.level_geometry()
    if levels is None:
        return None
    widest = max(channels * max(1, length // factor) for channels, factor in levels)
    return Elements(
        CODEC_LIVE_TENSORS * batch * widest,
        f"{CODEC_LIVE_TENSORS} × B·C·T at the widest level = {CODEC_LIVE_TENSORS} × {batch}·{widest:,}",
    )


def _codec_training(spec: AutoencoderConfig, g: Geometry, checkpointing: bool) -> Elements:
    """Training an autoencoder: every encoder and decoder level stores ~12·B·C·T (discriminators not included)."""
    sizes = []
    for stage in (spec.model.encoder, spec.model.decoder):
        for channels, factor in stage.config.level_geometry() or []:
            sizes.append(g.batch * channels * max(1, g.audio_length // factor))
    if checkpointing:
        kept = sum(sizes) + (CODEC_STORED_PER_LEVEL - 1) * max(sizes, default=0)
        return Elements(kept, "Σ level inputs + one level recomputed")
    return Elements(CODEC_STORED_PER_LEVEL * sum(sizes), f"{CODEC_STORED_PER_LEVEL} × Σ levels B·C·T")
