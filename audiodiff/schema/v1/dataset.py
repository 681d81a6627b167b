"""Dataset configs: their own document kind, recognised by a `dataset_type` key (spec §5.6, upstream data/dataset.py).

`custom_metadata_module` names a Python file that upstream executes. audiodiff records the path but only `run`
with an explicit opt-in ever imports it; `validate` and `lint` never do. `manifest` is an audiodiff extension
(metadata for every file from one JSON Lines file instead of sidecar JSON files).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from audiodiff.schema.v1.base import (
    Bool,
    Float,
    FloatTuple,
    NonEmptyStr,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    Spec,
)


class LocalDatasetSpec(Spec):
    id: NonEmptyStr
    path: NonEmptyStr
    custom_metadata_module: NonEmptyStr | None = None
    # audiodiff extension: a JSON Lines file of `{"path": ..., <metadata>...}` objects, one per training file, with
    # paths relative to `path`. Without it, metadata comes from a `<name>.json` file beside each audio file.
    manifest: NonEmptyStr | None = None


class WebDatasetSourceSpec(Spec):
    id: NonEmptyStr
    s3_path: NonEmptyStr | None = None
    path: NonEmptyStr | None = None
    profile: NonEmptyStr | None = None
    custom_metadata_module: NonEmptyStr | None = None


class _DatasetBase(Spec):
    json_schema: NonEmptyStr | None = Field(None, alias="$schema")  # for editors (README); nobody else reads it
    schema_version: Literal[1, 2] | None = None
    drop_last: Bool = True


class AudioDirDatasetSpec(_DatasetBase):
    dataset_type: Literal["audio_dir"]
    datasets: Annotated[tuple[LocalDatasetSpec, ...], Field(strict=False, min_length=1)]
    random_crop: Bool = True


class PreEncodedDatasetSpec(_DatasetBase):
    dataset_type: Literal["pre_encoded"]
    datasets: Annotated[tuple[LocalDatasetSpec, ...], Field(strict=False, min_length=1)]
    latent_crop_length: PositiveInt | None = None
    min_length_sec: NonNegativeFloat | None = None
    max_length_sec: PositiveFloat | None = None
    random_crop: Bool = False
    latent_extension: NonEmptyStr = "npy"


class WebDatasetSpec(_DatasetBase):
    dataset_type: Literal["s3", "wds"]
    datasets: Annotated[tuple[WebDatasetSourceSpec, ...], Field(strict=False, min_length=1)]
    remove_silence: Bool = False
    silence_threshold: FloatTuple = (0.01, 0.5)
    max_silence_duration: Float = 0.25
    random_crop: Bool = True
    volume_norm: Bool = False
    volume_norm_param: FloatTuple = (-16, 2)
    epoch_steps: PositiveInt = 2000
    pre_encoded: Bool = False
    latent_crop_length: PositiveInt | None = None
    resampled_shards: Bool = True
    # audiodiff extension: samples each data-loader worker holds to shuffle across its shards (0 or 1: off)
    shuffle_buffer: NonNegativeInt = 256


DatasetConfigSpec = Annotated[
    AudioDirDatasetSpec | PreEncodedDatasetSpec | WebDatasetSpec,
    Field(discriminator="dataset_type"),
]
DATASET_CLASSES = (AudioDirDatasetSpec, PreEncodedDatasetSpec, WebDatasetSpec)  # for `isinstance`
