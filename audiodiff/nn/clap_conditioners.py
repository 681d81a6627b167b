"""LAION-CLAP conditioners (`clap_text`, `clap_audio`; Wu et al. 2023), as in stable-audio-tools 0.0.19.

They need the optional `laion_clap` package (extra `clap`) and a local CLAP checkpoint. Construction only checks that
the package is installed and fixes the `proj_out` layout (512 for embeddings, 768 for RoBERTa features); the CLAP
model is built and loaded by `load_weights()`, with the Hugging Face hub forced offline. A frozen CLAP lives outside
the module tree (absent from the state dict), a fine-tuned one (`finetune`) at `model.*`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from audiodiff.nn.errors import MissingWeightsError
from audiodiff.nn.external_weights import ExternalEncoderConditioner, check_texts, offline_and_quiet, require_module

__all__ = ["CLAPAudioConditioner", "CLAPTextConditioner"]


def _load_clap(*, clap_ckpt_path: str, audio_model_type: str, enable_fusion: bool, feature: str) -> Any:
    # The package is needed to load the encoder, not to build the module tree: the layout (proj_out only) does not
    # depend on it, so a config with CLAP still builds on the meta device without `laion_clap`.
    require_module("laion_clap", extra="clap", feature=feature)
    if not Path(clap_ckpt_path).is_file():
        raise MissingWeightsError(source=clap_ckpt_path, feature=feature, detail="the CLAP checkpoint is not a file")
    with offline_and_quiet():
        import laion_clap

        clap = laion_clap.CLAP_Module(enable_fusion=enable_fusion, amodel=audio_model_type, device="cpu")
        try:
            checkpoint = torch.load(clap_ckpt_path, map_location="cpu", weights_only=True)["state_dict"]
        except Exception as error:  # pickled objects beyond tensors: never unpickled
            raise MissingWeightsError(
                source=clap_ckpt_path, feature=feature, detail=f"not readable as a weights-only checkpoint ({error})"
            ) from error
    # Checkpoints were saved from DataParallel ("module." prefix); newer transformers dropped position_ids.
    state_dict = {key.removeprefix("module."): value for key, value in checkpoint.items()}
    state_dict.pop("text_branch.embeddings.position_ids", None)
    clap.model.load_state_dict(state_dict, strict=False)
    return clap


class CLAPTextConditioner(ExternalEncoderConditioner):
    """Text embedding (512) or a RoBERTa hidden layer (768) from LAION-CLAP (Wu et al. 2023)."""

    def __init__(
        self,
        *,
        output_dim: int,
        clap_ckpt_path: str,
        use_text_features: bool = False,  # hidden states [B, 77, 768] instead of the pooled embedding [B, 1, 512]
        feature_layer_ix: int = -1,
        audio_model_type: str = "HTSAT-base",
        enable_fusion: bool = True,
        project_out: bool = False,
        finetune: bool = False,  # train the text branch (its weights join the state dict)
    ) -> None:
        super().__init__(dim=768 if use_text_features else 512, output_dim=output_dim, project_out=project_out)
        self.clap_ckpt_path = clap_ckpt_path
        self.use_text_features = use_text_features
        self.feature_layer_ix = feature_layer_ix
        self.audio_model_type = audio_model_type
        self.enable_fusion = enable_fusion
        self.finetune = finetune

    def load_weights(self) -> None:
        clap = _load_clap(
            clap_ckpt_path=self.clap_ckpt_path, audio_model_type=self.audio_model_type,
            enable_fusion=self.enable_fusion, feature="the `clap_text` conditioner",
        )  # fmt: skip
        del clap.model.audio_branch
        clap.model.text_branch.requires_grad_(self.finetune).train(self.finetune)
        self._attach_model(clap, trainable=self.finetune)

    def _text_features(self, texts: list[str], device: torch.device) -> tuple[Tensor, Tensor]:
        tokens = self.model.tokenizer(texts)
        attention_mask = tokens["attention_mask"].to(device)  # [B, 77]
        hidden_states = self.model.model.text_branch(
            input_ids=tokens["input_ids"].to(device), attention_mask=attention_mask, output_hidden_states=True
        )["hidden_states"]
        return hidden_states[self.feature_layer_ix], attention_mask  # [B, 77, 768]

    def forward(self, values: list[Any], device: torch.device | str) -> tuple[Tensor, Tensor]:
        self._require_loaded("clap_text")
        device = torch.device(device)
        self.model.to(device)
        texts = check_texts(values, "clap_text")
        # CLAP misbehaves on a batch of one, so the reference pads it with an empty prompt and keeps the first row.
        padded = texts + [""] if len(texts) == 1 else texts
        if self.use_text_features:
            features, mask = self._text_features(padded, device)
            features, mask = features[: len(texts)], mask[: len(texts)]
        else:
            features = self.model.get_text_embedding(padded, use_tensor=True)[: len(texts)]  # [B, 512]
            features = features.unsqueeze(1).to(device)  # [B, 1, 512]
            mask = torch.ones(features.shape[0], 1, device=device)
        if isinstance(self.proj_out, nn.Linear):
            features = features.to(self.proj_out.weight.dtype)
        return self.proj_out(features), mask


class CLAPAudioConditioner(ExternalEncoderConditioner):
    """Audio embedding (512) from LAION-CLAP's audio branch, on the mono mix of the input."""

    def __init__(
        self,
        *,
        output_dim: int,
        clap_ckpt_path: str,
        audio_model_type: str = "HTSAT-base",
        enable_fusion: bool = True,
        project_out: bool = False,
    ) -> None:
        # stable-audio-tools 0.0.19 cannot build this class (it reads an unset `finetune`); the only workable
        # reading is a frozen audio branch, which is what this does. The key layout (proj_out only) is the same.
        super().__init__(dim=512, output_dim=output_dim, project_out=project_out)
        self.clap_ckpt_path = clap_ckpt_path
        self.audio_model_type = audio_model_type
        self.enable_fusion = enable_fusion

    def load_weights(self) -> None:
        clap = _load_clap(
            clap_ckpt_path=self.clap_ckpt_path, audio_model_type=self.audio_model_type,
            enable_fusion=self.enable_fusion, feature="the `clap_audio` conditioner",
        )  # fmt: skip
        del clap.model.text_branch
        clap.model.audio_branch.requires_grad_(False).eval()
        self._attach_model(clap, trainable=False)

    def forward(self, values: list[Any], device: torch.device | str) -> tuple[Tensor, Tensor]:
        self._require_loaded("clap_audio")
        device = torch.device(device)
        self.model.to(device)
        items = [torch.as_tensor(value) for value in values]  # each [C, T] (or an already batched [1, C, T])
        audio = torch.cat([item if item.dim() == 3 else item.unsqueeze(0) for item in items], dim=0)  # [B, C, T]
        mono = audio.mean(dim=1).float()  # [B, T]
        with torch.autocast(device_type=device.type, enabled=False):
            embedding = self.model.get_audio_embedding_from_data(mono, use_tensor=True)  # [B, 512]
        embedding = embedding.unsqueeze(1).to(device)  # [B, 1, 512]
        if isinstance(self.proj_out, nn.Linear):
            embedding = embedding.to(self.proj_out.weight.dtype)
        return self.proj_out(embedding), torch.ones(embedding.shape[0], 1, device=device)
