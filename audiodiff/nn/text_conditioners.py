"""Conditioners backed by external encoders or tokenizers: `t5`, `lut` and `phoneme`.

Building one never touches disk or network: widths come from tables or explicit arguments, so the module builds on
`torch.device("meta")`. `load_weights()` then reads tokenizers and encoders from a local folder or from the local
Hugging Face cache (`local_files_only=True`, with the hub forced offline for the duration): nothing is downloaded.
Frozen encoders are kept outside the module tree (absent from the state dict and from `.to()`), as the reference
keeps them; a trainable T5 (`enable_grad`) is registered as the submodule `model`. CLAP is in `clap_conditioners.py`.
"""

from __future__ import annotations

import os
import string
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from audiodiff.nn.conditioners import Conditioner
from audiodiff.nn.errors import MissingExtraError, MissingWeightsError
from audiodiff.nn.external_weights import (
    ExternalEncoderConditioner,
    check_texts,
    load_local_tokenizer,
    missing_detail,
    offline_and_quiet,
    require_module,
    resolve_local_source,
)

__all__ = [
    "G2P_EN_PHONEME_COUNT",
    "PhonemeConditioner",
    "T5_ENCODER_WIDTHS",
    "T5_MODEL_NAMES",
    "T5Conditioner",
    "TokenizerLUTConditioner",
    "tokenizer_vocabulary_size",
]

# Encoder width (d_model) per T5 checkpoint name, so a T5 conditioner builds without reading its config.
T5_ENCODER_WIDTHS: dict[str, int] = {
    "t5-small": 512,
    "t5-base": 768,
    "t5-large": 1024,
    "t5-3b": 1024,
    "t5-11b": 1024,
    "google/t5-v1_1-xl": 2048,
    "google/t5-v1_1-xxl": 4096,
    "google/flan-t5-small": 512,
    "google/flan-t5-base": 768,
    "google/flan-t5-large": 1024,
    "google/flan-t5-3b": 1024,
    "google/flan-t5-11b": 1024,
    "google/flan-t5-xl": 2048,
    "google/flan-t5-xxl": 4096,
}
# The names stable-audio-tools accepts (flan-t5-3b/11b have widths in its table but are rejected by its check).
T5_MODEL_NAMES: tuple[str, ...] = (
    "t5-small", "t5-base", "t5-large", "t5-3b", "t5-11b",
    "google/flan-t5-small", "google/flan-t5-base", "google/flan-t5-large", "google/flan-t5-xl",
    "google/flan-t5-xxl", "google/t5-v1_1-xl", "google/t5-v1_1-xxl",
)  # fmt: skip

# len(g2p_en.G2p().phonemes): 4 specials (<pad>, <unk>, <s>, </s>) + 70 ARPAbet symbols with stress marks.
G2P_EN_PHONEME_COUNT = 74


class T5Conditioner(ExternalEncoderConditioner):
    """Encodes text with a T5 encoder (Raffel et al. 2020), padded/truncated to `max_length` tokens."""

    tokenizer: Any  # a transformers tokenizer (untyped third-party), set by load_weights

    def __init__(
        self,
        *,
        output_dim: int,  # D, the width consumers receive
        t5_model_name: str = "t5-base",  # hub name; selects the width from T5_ENCODER_WIDTHS
        max_length: int = 128,  # tokens, padded and truncated to exactly this
        enable_grad: bool = False,  # train the encoder (its weights join the state dict)
        project_out: bool = False,  # force proj_out even when widths agree
        model_path: str | os.PathLike[str] | None = None,  # local folder to load from instead of the HF cache
        cache_dir: str | os.PathLike[str] | None = None,  # HF cache folder (default: the standard one)
        width: int | None = None,  # encoder width, for a model not in the table
    ) -> None:
        if width is None:
            if t5_model_name not in T5_MODEL_NAMES:
                known = ", ".join(f"`{name}`" for name in T5_MODEL_NAMES)
                raise ValueError(f"unknown T5 model `{t5_model_name}`; known models: {known}")
            width = T5_ENCODER_WIDTHS[t5_model_name]
        if max_length <= 0:
            raise ValueError(f"`t5` conditioner needs a positive `max_length`, got `{max_length}`")
        super().__init__(dim=width, output_dim=output_dim, project_out=project_out)
        self.t5_model_name = t5_model_name
        self.max_length = max_length
        self.enable_grad = enable_grad
        self.model_path = model_path
        self.cache_dir = cache_dir

    def load_weights(self) -> None:
        feature = "the `t5` conditioner"
        try:
            from transformers import T5EncoderModel
        except ImportError as error:
            raise MissingExtraError(extra="t5", feature=feature, detail="`transformers` is not installed") from error
        source = resolve_local_source(self.t5_model_name, self.model_path, feature=feature)
        tokenizer = load_local_tokenizer(source, cache_dir=self.cache_dir, feature=feature)
        try:
            with offline_and_quiet():
                encoder = T5EncoderModel.from_pretrained(source, local_files_only=True, cache_dir=self.cache_dir)
        except (OSError, ValueError) as error:
            detail = missing_detail(source, "T5 encoder")
            raise MissingWeightsError(source=source, feature=feature, detail=detail) from error
        if encoder.config.d_model != self.dim:
            raise ValueError(
                f"T5 encoder at `{source}` is `{encoder.config.d_model}` wide, "
                f"but the conditioner was built for `{self.dim}`"
            )
        # The reference keeps T5 in float16 whether frozen or trained.
        encoder = encoder.train(self.enable_grad).requires_grad_(self.enable_grad).to(torch.float16)
        self.__dict__["tokenizer"] = tokenizer
        self._attach_model(encoder, trainable=self.enable_grad)

    def forward(self, values: list[Any], device: torch.device | str) -> tuple[Tensor, Tensor]:
        self._require_loaded("t5")
        device = torch.device(device)
        if "model" in self.__dict__:
            self.model.to(device)  # a frozen encoder is outside the tree, so it follows the call's device
        encoded = self.tokenizer(
            check_texts(values, "t5"),
            truncation=True,
            max_length=self.max_length,
            padding="max_length",
            return_tensors="pt",
        )
        input_ids = encoded["input_ids"].to(device)  # [B, L]
        attention_mask = encoded["attention_mask"].to(device).to(torch.bool)  # [B, L]
        self.model.eval()  # the reference always runs T5 in eval mode, even when training it
        with torch.set_grad_enabled(self.enable_grad and torch.is_grad_enabled()):
            hidden = self.model(input_ids=input_ids, attention_mask=attention_mask)["last_hidden_state"]  # [B, L, W]
        if isinstance(self.proj_out, nn.Linear):
            hidden = hidden.to(self.proj_out.weight.dtype)
        embeddings = self.proj_out(hidden)  # [B, L, D]
        embeddings = embeddings * attention_mask.unsqueeze(-1).float()  # padded positions are exact zeros
        return embeddings, attention_mask


def tokenizer_vocabulary_size(
    tokenizer_name: str,
    special_tokens: Sequence[str] = (),
    *,
    tokenizer_path: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> int:
    """Rows of a `lut` conditioner's embedding: len(tokenizer) after adding the special tokens (reads local files)."""
    feature = "the `lut` conditioner"
    source = resolve_local_source(tokenizer_name, tokenizer_path, feature=feature)
    tokenizer = load_local_tokenizer(source, cache_dir=cache_dir, feature=feature)
    if special_tokens:
        tokenizer.add_special_tokens({"additional_special_tokens": list(special_tokens)})
    return len(tokenizer)


class AbsolutePositionalEmbedding(nn.Module):
    """Learned absolute position table scaled by dim**-0.5 (the reference transformer's positional embedding)."""

    def __init__(self, dim: int, max_seq_len: int) -> None:
        super().__init__()
        self.scale = dim**-0.5
        self.max_seq_len = max_seq_len
        self.emb = nn.Embedding(max_seq_len, dim)  # [max_seq_len, dim]

    def forward(self, x: Tensor) -> Tensor:
        positions = torch.arange(x.shape[1], device=x.device)  # [L]
        return self.emb(positions) * self.scale  # [L, dim]


class TokenizerLUTConditioner(Conditioner):
    """Learned lookup table over a Hugging Face tokenizer's vocabulary, with optional absolute positions."""

    tokenizer: Any  # a transformers tokenizer (untyped third-party), set by load_weights

    def __init__(
        self,
        *,
        output_dim: int,  # D
        tokenizer_name: str,  # hub name (local cache only) or a label
        vocab_size: int,  # len(tokenizer) with special tokens (see below)
        max_length: int = 1024,  # tokens, padded and truncated to exactly this
        use_abs_pos_emb: bool = False,  # add a learned position table after masking
        project_out: bool = False,  # add proj_out (D -> D)
        special_tokens: Sequence[str] = (),  # added to the tokenizer as additional specials
        tokenizer_path: str | os.PathLike[str] | None = None,  # local tokenizer folder (else the HF cache)
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__(dim=output_dim, output_dim=output_dim, project_out=project_out)
        if vocab_size <= 0 or max_length <= 0:
            raise ValueError(
                f"`lut` needs a positive `vocab_size` and `max_length`, got `{vocab_size}` and `{max_length}`"
            )
        self.tokenizer_name = tokenizer_name
        self.max_length = max_length
        self.special_tokens = tuple(special_tokens)
        self.tokenizer_path = tokenizer_path
        self.cache_dir = cache_dir
        self.token_embedder = nn.Embedding(vocab_size, output_dim)  # [V, D]
        self.abs_pos_emb = AbsolutePositionalEmbedding(output_dim, max_length) if use_abs_pos_emb else None

    @property
    def is_loaded(self) -> bool:
        return "tokenizer" in self.__dict__

    def load_weights(self) -> None:
        feature = "the `lut` conditioner"
        source = resolve_local_source(self.tokenizer_name, self.tokenizer_path, feature=feature)
        tokenizer = load_local_tokenizer(source, cache_dir=self.cache_dir, feature=feature)
        if self.special_tokens:
            tokenizer.add_special_tokens({"additional_special_tokens": list(self.special_tokens)})
        rows = self.token_embedder.num_embeddings
        if len(tokenizer) != rows:
            raise ValueError(
                f"tokenizer `{self.tokenizer_name}` has `{len(tokenizer)}` tokens but the table has `{rows}` rows"
            )
        self.__dict__["tokenizer"] = tokenizer

    def forward(self, values: list[Any], device: torch.device | str) -> tuple[Tensor, Tensor]:
        if not self.is_loaded:
            raise RuntimeError("the `lut` conditioner has no tokenizer yet: call `load_weights()` first")
        encoded = self.tokenizer(
            check_texts(values, "lut"),
            truncation=True,
            max_length=self.max_length,
            padding="max_length",
            return_tensors="pt",
        )
        input_ids = encoded["input_ids"].to(device)  # [B, L]
        attention_mask = encoded["attention_mask"].to(device).to(torch.bool)  # [B, L]
        embeddings = self.proj_out(self.token_embedder(input_ids))  # [B, L, D]
        embeddings = embeddings * attention_mask.unsqueeze(-1).float()
        if self.abs_pos_emb is not None:
            embeddings = embeddings + self.abs_pos_emb(embeddings)  # positions are added to padding too
        return embeddings, attention_mask


class PhonemeConditioner(Conditioner):
    """English text -> g2p_en phonemes -> learned embedding (ids: 0 padding, 1 ignored/unknown, 2+ phonemes)."""

    g2p: Any  # g2p_en.G2p (untyped third-party), set by load_weights

    def __init__(self, *, output_dim: int, max_length: int = 1024, project_out: bool = False) -> None:
        require_module("g2p_en", extra="phoneme", feature="the `phoneme` conditioner")
        super().__init__(dim=output_dim, output_dim=output_dim, project_out=project_out)
        self.max_length = max_length  # stored but, as in the reference, not applied
        self.phoneme_embedder = nn.Embedding(G2P_EN_PHONEME_COUNT + 2, output_dim)

    @property
    def is_loaded(self) -> bool:
        return "g2p" in self.__dict__

    def load_weights(self) -> None:
        feature = "the `phoneme` conditioner"
        # Importing g2p_en downloads NLTK data when it is missing, so check for it first and never import without it.
        try:
            import nltk
        except ImportError as error:
            raise MissingExtraError(extra="phoneme", feature=feature, detail="`nltk` is not installed") from error

        for resource in ("taggers/averaged_perceptron_tagger", "corpora/cmudict"):
            try:
                nltk.data.find(resource)
            except LookupError as error:
                raise MissingWeightsError(source=resource, feature=feature, detail="install the NLTK data") from error
        with offline_and_quiet():
            from g2p_en import G2p

            g2p = G2p()
        if len(g2p.phonemes) != G2P_EN_PHONEME_COUNT:
            raise ValueError(f"g2p_en has `{len(g2p.phonemes)}` phonemes, expected `{G2P_EN_PHONEME_COUNT}`")
        self.__dict__["g2p"] = g2p

    def forward(self, values: list[Any], device: torch.device | str) -> tuple[Tensor, Tensor]:
        if not self.is_loaded:
            raise RuntimeError("the `phoneme` conditioner has no g2p model yet: call `load_weights()` first")
        ignored = {" ", *string.punctuation}
        ids = []
        for text in check_texts(values, "phoneme"):
            phonemes = ["_" if p in ignored else p for p in self.g2p(text)]
            ids.append([self.g2p.p2idx[p] + 2 if p in self.g2p.p2idx else 1 for p in phonemes])
        longest = max(len(row) for row in ids)
        padded = torch.tensor([row + [0] * (longest - len(row)) for row in ids], device=device)  # [B, L]
        embeddings = self.proj_out(self.phoneme_embedder(padded))  # [B, L, D]
        # As in the reference, padding is not masked out.
        return embeddings, torch.ones(embeddings.shape[0], embeddings.shape[1], device=device)
