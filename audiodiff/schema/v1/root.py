"""Top-level model configs, one class per supported `model_type` (spec §1).

`sample_size` and `sample_rate` are required for every type (C1): `train.py` indexes them even where the model
factory does not. `training` is optional here (building and sampling do not need it); `run` requires it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from audiodiff.schema.v1.base import NonEmptyStr, PositiveInt, Spec
from audiodiff.schema.v1.diffusion import DiffusionCondModelSpec, DiffusionUncondModelSpec
from audiodiff.schema.v1.pretransform import AutoencoderModelSpec
from audiodiff.schema.v1.training import AutoencoderTrainingSpec, DiffusionTrainingSpec

SUPPORTED_MODEL_TYPES = ("diffusion_cond", "diffusion_cond_inpaint", "diffusion_uncond", "autoencoder")
UNSUPPORTED_MODEL_TYPES = ("diffusion_autoencoder", "lm")


class _ModelConfigBase(Spec):
    # the JSON Schema an editor validates the file against (README); audiodiff and upstream ignore it
    json_schema: NonEmptyStr | None = Field(None, alias="$schema")
    schema_version: Literal[1, 2] | None = None
    sample_size: PositiveInt
    sample_rate: PositiveInt
    audio_channels: PositiveInt = 2


class DiffusionCondConfig(_ModelConfigBase):
    model_type: Literal["diffusion_cond"]
    model: DiffusionCondModelSpec
    training: DiffusionTrainingSpec | None = None


class DiffusionCondInpaintConfig(_ModelConfigBase):
    model_type: Literal["diffusion_cond_inpaint"]
    model: DiffusionCondModelSpec
    training: DiffusionTrainingSpec | None = None


class DiffusionUncondConfig(_ModelConfigBase):
    model_type: Literal["diffusion_uncond"]
    model: DiffusionUncondModelSpec
    training: DiffusionTrainingSpec | None = None


class AutoencoderConfig(_ModelConfigBase):
    model_type: Literal["autoencoder"]
    model: AutoencoderModelSpec
    training: AutoencoderTrainingSpec | None = None


ModelConfig = DiffusionCondConfig | DiffusionCondInpaintConfig | DiffusionUncondConfig | AutoencoderConfig
DiffusionConfig = DiffusionCondConfig | DiffusionCondInpaintConfig | DiffusionUncondConfig

ROOT_BY_MODEL_TYPE: dict[str, type[ModelConfig]] = {
    "diffusion_cond": DiffusionCondConfig,
    "diffusion_cond_inpaint": DiffusionCondInpaintConfig,
    "diffusion_uncond": DiffusionUncondConfig,
    "autoencoder": AutoencoderConfig,
}
