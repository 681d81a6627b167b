"""The closed table of diagnostic codes: `AD` + 3 digits, a kebab-case name, a default severity, a summary.

Hundreds group the stage that finds the problem:

  AD0xx  reading the file (syntax, limits, encodings)        AD5xx  training and demo settings
  AD1xx  schema (unknown keys, types, tags, versions)         AD6xx  graph contracts (widths, lengths)
  AD2xx  conditioning and routing                             AD7xx  lint-only advice
  AD3xx  backbone geometry                                    AD8xx  runtime: data, checkpoints, faults
  AD4xx  pretransform and autoencoder geometry                AD9xx  schema versions and migration

Codes are never renumbered or reused: tools and suppression lists depend on them. `docs/codes.md` documents each
one with a minimal failing config and the fix; a test keeps the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass

DOCS_URL = "https://github.com/audiodiff/audiodiff/blob/main/docs/codes.md"
UPSTREAM_VERSION = "0.0.19"  # the one reference (stable-audio-tools) version audiodiff knows the behaviour of
UPSTREAM_LABEL = f"stable-audio-tools {UPSTREAM_VERSION}"


@dataclass(frozen=True, slots=True)
class Upstream:
    """How the reference treats what a code finds: where it fails, and whether any config could avoid it."""

    stage: str  # "at build", "at the first training step", "at the first demo", "in encode", "at export", ...
    always: bool = False  # the reference cannot build this for any config (a code bug): a warning under every target

    def note(self) -> str:
        if self.always:
            return f"{UPSTREAM_LABEL} cannot build this for any config"
        return f"{UPSTREAM_LABEL} fails {self.stage}"


@dataclass(frozen=True, slots=True)
class Code:
    id: str
    name: str
    severity: str  # "error" | "warning" | "info"
    summary: str
    upstream: Upstream | None = None  # what the reference does with this finding; None: same as audiodiff (target.py)

    @property
    def docs_url(self) -> str:
        return f"{DOCS_URL}#{self.id.lower()}"

    def __str__(self) -> str:
        return self.id


CODES: dict[str, Code] = {}
_BY_NAME: dict[str, Code] = {}


def _code(id: str, name: str, severity: str, summary: str, upstream: Upstream | None = None) -> Code:
    if id in CODES or name in _BY_NAME:
        raise RuntimeError(f"diagnostic code {id} / {name} defined twice")
    code = Code(id, name, severity, summary, upstream)
    CODES[id] = code
    _BY_NAME[name] = code
    return code


E, W, I = "error", "warning", "info"

# --- AD0xx: reading the file ------------------------------------------------------------------------------------
FILE_NOT_FOUND = _code("AD001", "file-not-found", E, "the file does not exist or is not a regular file")
UNREADABLE_FILE = _code("AD002", "unreadable-file", E, "the file could not be read")
UNSUPPORTED_FILE_TYPE = _code("AD003", "unsupported-file-type", E, "only .json, .yaml and .yml files are read")
FILE_TOO_LARGE = _code("AD004", "file-too-large", E, "the file is larger than the size limit")
NOT_UTF8 = _code("AD005", "not-utf8", E, "the file is not valid UTF-8 text")
JSON_SYNTAX = _code("AD006", "json-syntax-error", E, "the file is not valid JSON")
YAML_SYNTAX = _code("AD007", "yaml-syntax-error", E, "the file is not valid YAML")
DUPLICATE_KEY = _code("AD008", "duplicate-key", E, "a key appears twice in one object; only one value can win")
NON_FINITE_NUMBER = _code("AD009", "non-finite-number", E, "NaN and infinite numbers are not valid config values")
TOP_LEVEL_NOT_OBJECT = _code("AD010", "top-level-not-object", E, "a config file must hold one object at the top")
NESTING_TOO_DEEP = _code("AD011", "nesting-too-deep", E, "the document nests deeper than the limit")
YAML_ALIAS_BOMB = _code("AD012", "yaml-alias-bomb", E, "YAML aliases expand into a document larger than the limit")
YAML_UNSAFE_TAG = _code("AD013", "yaml-unsafe-tag", E, "YAML tags that construct objects are not allowed")
UNKNOWN_DOCUMENT_KIND = _code(
    "AD014", "unknown-document-kind", E, "the document has neither a `model_type` nor a `dataset_type` key"
)
EMPTY_DOCUMENT = _code("AD015", "empty-document", E, "the file holds no document")
MULTIPLE_DOCUMENTS = _code("AD016", "multiple-documents", E, "a YAML file must hold exactly one document")
UNREADABLE_FOLDER = _code("AD017", "unreadable-folder", E, "a folder to check could not be listed")
TOO_MANY_DIAGNOSTICS = _code("AD018", "too-many-diagnostics", I, "one file gave more diagnostics than are shown")
REFERENCED_FILE_MISSING = _code(
    "AD020", "referenced-file-missing", W, "a file path in the config does not exist on this machine"
)

# --- AD1xx: schema -----------------------------------------------------------------------------------------------
UNKNOWN_KEY = _code("AD101", "unknown-key", E, "a key that this section does not have; it would be ignored or crash")
MISSING_KEY = _code("AD102", "missing-key", E, "a required key is absent")
WRONG_TYPE = _code("AD103", "wrong-type", E, "the value has the wrong type")
OUT_OF_RANGE = _code("AD104", "value-out-of-range", E, "the value is outside the allowed range")
UNKNOWN_TYPE_TAG = _code("AD105", "unknown-type-tag", E, "the `type` names nothing audiodiff knows")
INVALID_VALUE = _code("AD106", "invalid-value", E, "the value is not one of the allowed values")
UNSUPPORTED_MODEL_TYPE = _code("AD107", "unsupported-model-type", E, "this `model_type` is not supported")
UNKNOWN_SCHEMA_VERSION = _code("AD108", "unknown-schema-version", E, "the `schema_version` is not a known version")
INVALID_LENGTH = _code("AD109", "invalid-length", E, "the list has the wrong number of elements")

# --- AD2xx: conditioning and routing -----------------------------------------------------------------------------
UNKNOWN_CONDITIONER_ID = _code("AD201", "unknown-conditioner-id", E, "a routing list names an undeclared conditioner")
DUPLICATE_CONDITIONER_ID = _code("AD202", "duplicate-conditioner-id", E, "two conditioners share one id")
MISSING_CONDITIONING = _code(
    "AD203", "missing-conditioning", E, "the model routes conditioning but declares no `model.conditioning`"
)
PREPEND_REQUIRES_DIT = _code("AD204", "prepend-requires-dit", E, "prepend conditioning is consumed by `dit` only")
EMPTY_NUMBER_RANGE = _code("AD205", "empty-number-range", E, "`min_val` must be smaller than `max_val`")
UNKNOWN_T5_MODEL = _code("AD206", "unknown-t5-model", E, "the T5 model name is not one of the known encoders")
INPAINT_ID_MISPLACED = _code(
    "AD207", "inpaint-id-misplaced", E, "the inpainting ids may only be routed through `input_concat_ids`"
)
INPAINT_NEEDS_SETTINGS = _code(
    "AD208", "inpaint-needs-settings", E, "inpainting ids need `diffusion_cond_inpaint` and `training.inpainting`"
)
PRE_ENCODED_KEY_ROUTE = _code(
    "AD209", "pre-encoded-key-route", E, "`pre_encoded_keys` have no mask and cannot feed cross-attention or prepend"
)
SEQUENCE_CONDITIONER_ROUTE = _code(
    "AD210", "sequence-conditioner-route", E, "this conditioner's output cannot feed that route"
)
MODEL_PRETRANSFORM_REQUIRED = _code(
    "AD211", "model-pretransform-required", E, "`use_model_pretransform` needs a `model.pretransform`"
)
CFG_UNET_NEEDS_CROSS_ATTENTION = _code(
    "AD212", "cfg-unet-needs-cross-attention", E, "`adp_cfg_1d` needs at least one cross-attention conditioner"
)
ROUTE_UNSUPPORTED = _code("AD213", "route-unsupported", E, "the backbone has no input for this route")
SIGNAL_CONDITIONER_WIDTH = _code(
    "AD215", "signal-conditioner-width", E, "a pretransform conditioner's `output_dim` must equal its latent width"
)
MISSING_SETTING = _code("AD214", "missing-setting", E, "a setting that another setting requires is absent")
SOURCE_MIX_WIDTH = _code(
    "AD218",
    "source-mix-width",
    W,
    "a `source_mix` conditioner's `output_dim` equals its latent width",
    Upstream("at the first training step"),
)
CONDITIONING_ABSENT = _code(
    "AD216",
    "conditioning-absent",
    W,
    "a conditioned model without `model.conditioning`",
    Upstream("at the first training step"),
)
INT_CONDITIONER_OFFSET = _code(
    "AD217",
    "int-conditioner-offset",
    W,
    "upstream's `int` conditioner ignores `min_val` when it picks a row",
    Upstream("when it conditions on a value above `max_val - min_val`"),
)

# --- AD3xx: backbone geometry ------------------------------------------------------------------------------------
BACKBONE_NOT_ALLOWED = _code("AD301", "backbone-not-allowed", E, "this backbone type cannot serve this model type")
HEADS_DO_NOT_DIVIDE = _code("AD302", "heads-do-not-divide-width", E, "`embed_dim` must be a multiple of `num_heads`")
HEAD_WIDTH_TOO_SMALL = _code(
    "AD303", "head-width-too-small", E, "with rotary positions the head width must be at least 32"
)
GROUPED_KV_MISMATCH = _code(
    "AD304", "grouped-kv-mismatch", E, "unprojected cross-attention context does not split into whole K/V heads"
)
IO_CHANNELS_MISMATCH = _code("AD305", "io-channels-mismatch", E, "the channel counts of two stages disagree")
LENGTH_NOT_DIVISIBLE = _code(
    "AD306", "length-not-divisible", E, "`sample_size` must divide into whole latents, patches and U-Net levels"
)
UNET_GEOMETRY = _code("AD307", "unet-geometry", E, "the U-Net lists or group counts do not fit together")
OBJECTIVE_IN_CONFIG = _code(
    "AD309", "objective-inside-config", E, "`diffusion_objective` belongs beside `config`, not inside it"
)
TRANSFORMER_TYPE_DEFAULT = _code(
    "AD310", "transformer-type-default-changed", W, "an omitted `transformer_type` meant `x-transformers` before 0.0.19"
)
TIMESTEP_INPUT_CONCAT = _code(
    "AD311",
    "timestep-input-concat-broken",
    E,
    "`timestep_cond_type: input_concat` runs upstream only with `timestep_embed_dim: 1`",
)
GLOBAL_PROJECTION_WIDTH = _code(
    "AD312", "global-projection-width", E, "`project_global_cond: false` needs `global_cond_dim == embed_dim`"
)
POSITION_BUDGET = _code("AD313", "position-budget", E, "more tokens than the absolute position table holds")
DISTRIBUTION_SHIFT_RANGE = _code(
    "AD315", "distribution-shift-range", E, "`min_length` and `max_length` of the shift must differ"
)
ATTENTION_SETTINGS_MISSING = _code(
    "AD316", "attention-settings-missing", E, "U-Net attention needs heads or head features and a multiplier"
)
CAUSAL_ATTENTION = _code("AD317", "causal-attention", W, "`causal: true` makes diffusion self-attention causal")
TRANSFORMER_TYPE_REMOVED = _code(
    "AD318",
    "transformer-type-removed",
    W,
    "`transformer_type: x-transformers` was removed from stable-audio-tools",
    Upstream("at build"),
)
BACKBONE_NOT_BUILT_UPSTREAM = _code(
    "AD319",
    "backbone-not-built-upstream",
    W,
    "stable-audio-tools does not build this backbone for this model type",
    Upstream("at build"),
)
UNBUILDABLE_UPSTREAM = _code(
    "AD320",
    "unbuildable-upstream",
    W,
    "stable-audio-tools cannot build this type for any config",
    Upstream("at build", always=True),
)

# --- AD4xx: pretransform and autoencoder ---------------------------------------------------------------------------
STRIDE_PRODUCT_MISMATCH = _code(
    "AD401", "stride-product-mismatch", E, "`downsampling_ratio` differs from the encoder's stride product"
)
LATENT_DIM_MISMATCH = _code(
    "AD402", "latent-dim-mismatch", E, "the latent widths of encoder, bottleneck, decoder disagree"
)
VAE_ODD_WIDTH = _code("AD403", "vae-odd-width", E, "a VAE-style bottleneck needs an even encoder output width")
AUTOENCODER_CHANNELS = _code(
    "AD404", "autoencoder-channels-mismatch", E, "the autoencoder's `io_channels` disagree with its encoder or decoder"
)
AUDIO_CHANNELS_MISMATCH = _code(
    "AD405",
    "audio-channels-mismatch",
    W,
    "`audio_channels` disagrees with what the first stage consumes",
    Upstream("at the first training step"),
)
CHUNK_TOO_SHORT = _code(
    "AD406", "chunk-too-short", W, "chunked encoding needs at least one whole chunk of audio", Upstream("in encode")
)
PRETRANSFORM_UNUSABLE = _code("AD407", "pretransform-unusable", E, "this pretransform cannot serve a diffusion model")
PATCHED_OVERSAMPLING = _code(
    "AD408", "patched-oversampling", W, "`oversampling` > 1 changes the latent length that `downsampling_ratio` reports"
)
BOTTLENECK_CONFIG_REQUIRED = _code(
    "AD411", "bottleneck-setting-required", E, "this bottleneck needs settings that are absent"
)
SOFT_CLIP_LOCATION = _code("AD412", "soft-clip-location", E, "`soft_clip` is read from `model.decoder`")
FSQ_SINGLE_CODEBOOK = _code(
    "AD413",
    "fsq-single-codebook",
    W,
    "upstream's `fsq` bottleneck fails at encode with a single codebook",
    Upstream("in encode"),
)
TAAE_SNAKE_WIDTHS = _code(
    "AD414", "taae-snake-widths", E, "a `taae` decoder's snake activations cannot follow a width change"
)

# --- AD5xx: training and demos -----------------------------------------------------------------------------------
DEMO_COUNT_MISMATCH = _code("AD501", "demo-count-mismatch", E, "`len(demo_cond)` must equal `num_demos`")
DEMO_COND_MISSING_ID = _code("AD502", "demo-cond-missing-id", E, "a demo entry lacks a conditioner id")
DEMO_CFG_SCALES_EMPTY = _code("AD503", "demo-cfg-scales-empty", E, "`demo_cfg_scales` needs at least one scale")
NO_OPTIMIZER = _code("AD504", "no-optimizer", E, "neither `learning_rate` nor `optimizer_configs` is given")
OPTIMIZER_GROUP = _code("AD505", "optimizer-group", E, "`optimizer_configs` lacks the group this model trains")
AUTOENCODER_OPTIMIZER = _code(
    "AD506",
    "autoencoder-optimizer-incomplete",
    E,
    "autoencoder training lacks an optimizer setting it needs",
    Upstream("at the first training step"),
)
UNCOND_LEARNING_RATE = _code(
    "AD511",
    "uncond-learning-rate",
    W,
    "`diffusion_uncond` training without `learning_rate`",
    Upstream("when training starts"),
)
AUTOENCODER_LOSS = _code(
    "AD509",
    "autoencoder-loss-incomplete",
    W,
    "autoencoder `loss_configs` lack an entry or weight they need",
    Upstream("when training starts"),
)
LOSS_CONFIGS_IGNORED = _code("AD507", "loss-configs-ignored", W, "`loss_configs` has no effect on diffusion models")
LEARNING_RATE_OVERRIDDEN = _code(
    "AD508", "learning-rate-overridden", W, "`optimizer_configs` overrides `learning_rate`"
)
MASK_PADDING_UNET = _code("AD510", "mask-padding-unet", E, "`mask_padding` works with `dit` backbones only")
DEMO_COND_UNKNOWN_KEY = _code("AD512", "demo-cond-unknown-key", W, "a demo entry has a key no conditioner reads")
DEMO_COND_VALUE = _code("AD514", "demo-cond-value", E, "a demo value is not of the kind its conditioner reads")
SETTING_IGNORED = _code("AD513", "setting-ignored", W, "this model type ignores the setting")
DISCRIMINATOR_CHANNELS = _code(
    "AD516", "discriminator-channels", E, "the discriminator reads other channels than the decoder writes"
)
STFT_RESOLUTIONS = _code("AD517", "stft-resolutions", E, "STFT resolutions that do not fit together or the clips")
BOTTLENECK_LOSS_IGNORED = _code(
    "AD518", "bottleneck-loss-ignored", W, "a bottleneck loss weight for a bottleneck that has no such loss"
)
SCHEDULER_UNPAIRED = _code(
    "AD519", "scheduler-unpaired", W, "one optimizer group has a scheduler and the other not: none is used"
)
MONO_INPUT_CHANNELS = _code("AD521", "mono-input-channels", E, "`force_input_mono` needs a one-channel encoder")
LOSS_WEIGHT = _code("AD522", "loss-weight", W, "a negative loss weight, or no reconstruction loss at all")
DATASET_MODEL_MISMATCH = _code("AD520", "dataset-model-mismatch", E, "the dataset config and the model config disagree")
INPAINT_MASK_PROBABILITIES = _code(
    "AD525", "inpaint-mask-probabilities", E, "the inpainting mask kinds' probabilities must sum to 1"
)
INPAINT_DEMO_SETTINGS = _code(
    "AD526",
    "inpaint-demo-settings",
    W,
    "an inpainting model without `training.inpainting`",
    Upstream("at the first demo"),
)
LORA_BACKBONE = _code("AD530", "lora-backbone", E, "`training.lora` adapts the Linear layers of a `dit` backbone only")
LORA_TARGET_UNMATCHED = _code(
    "AD531", "lora-target-unmatched", E, "a `training.lora` target pattern matches no Linear layer of the backbone"
)
LORA_EXTENSION = _code(
    "AD532",
    "lora-extension",
    I,
    "`training.lora` is an audiodiff extension that the reference does not read",
    Upstream("in training: it ignores `training.lora` and trains every weight"),
)

# --- AD6xx: graph contracts --------------------------------------------------------------------------------------
CROSS_ATTENTION_WIDTH = _code(
    "AD601", "cross-attention-width", E, "cross-attention token widths disagree with the backbone"
)
GLOBAL_WIDTH = _code("AD602", "global-width", E, "summed global conditioning width disagrees with the backbone")
PREPEND_WIDTH = _code("AD603", "prepend-width", E, "prepend token width disagrees with the backbone")
INPUT_CONCAT_WIDTH = _code("AD604", "input-concat-width", E, "input-concat channels disagree with the backbone")
LATENT_WIDTH = _code("AD605", "latent-width", E, "the backbone's channels disagree with the latent width")
TOKEN_BUDGET = _code("AD607", "token-budget", E, "more cross-attention tokens than the null-embedding table holds")
GLOBAL_NOT_VECTOR = _code("AD608", "global-not-vector", E, "a global conditioner must give one vector per item")
UNUSED_WIDTH = _code("AD609", "unused-width", W, "the backbone reserves a route that nothing feeds")
NOT_BUILDABLE = _code("AD610", "not-buildable", E, "audiodiff can validate this type but cannot build it")
MISSING_EXTRA = _code("AD612", "missing-extra", E, "this type needs an optional package that is not installed")
NEEDS_DOWNLOAD = _code("AD613", "needs-download", E, "this type downloads weights at build time")
PARAM_COUNT_MISMATCH = _code(
    "AD614", "param-count-mismatch", W, "the analytic parameter count disagrees with the built module"
)

# --- AD7xx: lint-only advice -------------------------------------------------------------------------------------
UNROUTED_CONDITIONER = _code("AD701", "unrouted-conditioner", W, "a conditioner is declared but routed nowhere")
NON_CANONICAL_SPELLING = _code("AD702", "non-canonical-spelling", W, "an accepted alias is used for a canonical name")
MISSING_SCHEMA_VERSION = _code("AD703", "missing-schema-version", W, "the file does not declare `schema_version`")
LONG_DEMO_AUDIO = _code("AD705", "long-demo-audio", W, "each demo round renders a lot of audio")
SECONDS_START_RANDOM_CROP = _code(
    "AD706", "seconds-start-random-crop", W, "`seconds_start` is not updated by random crops of pre-encoded latents"
)

# --- AD8xx: runtime ----------------------------------------------------------------------------------------------
DATASET_EMPTY = _code("AD801", "dataset-empty", E, "the dataset holds no readable audio")
CHECKPOINT_UNREADABLE = _code("AD802", "checkpoint-unreadable", E, "the checkpoint file could not be read")
CHECKPOINT_PARTIAL = _code("AD803", "checkpoint-partial", E, "the checkpoint does not cover the model")
RESUME_UNSAFE_CHANGE = _code("AD804", "resume-unsafe-change", E, "the config changed in a way a resume cannot absorb")
NON_FINITE_LOSS = _code("AD805", "non-finite-loss", E, "the loss became NaN or infinite")
SAMPLE_LENGTH = _code("AD806", "sample-length", E, "the requested length does not fit the model")
RUN_SETTING = _code("AD807", "run-setting", E, "a command-line setting is not valid for this model")
DATASET_UNSUPPORTED = _code("AD808", "dataset-unsupported", E, "`audiodiff run` cannot read this kind of dataset")
DATASET_METADATA = _code("AD809", "dataset-metadata", E, "training files lack a value that a conditioner reads")
METADATA_MODULE_NOT_ALLOWED = _code(
    "AD810", "metadata-module-not-allowed", E, "the dataset names a Python module to run, and the run did not opt in"
)
TRAINING_UNSUPPORTED = _code("AD811", "training-unsupported", E, "audiodiff cannot train this model type or setting")
TRAINING_SECTION_MISSING = _code("AD812", "training-section-missing", E, "`run` needs the config's `training` section")
RUN_FOLDER_LOCKED = _code("AD820", "run-folder-locked", E, "another run is writing to the same output folder")
NON_FINITE_OUTPUT = _code("AD821", "non-finite-output", E, "NaN or infinite values would have been written")
OUTPUT_WRITE_FAILED = _code("AD822", "output-write-failed", E, "an output file could not be written")
SHARDS_NOT_FOUND = _code("AD830", "shards-not-found", E, "a WebDataset source lists no shards, or a shard is missing")
SHARD_UNREADABLE = _code("AD831", "shard-unreadable", E, "a shard could not be opened or read")
STORAGE_CLIENT_MISSING = _code("AD832", "storage-client-missing", E, "the client for a shard URL is not installed")
STORAGE_CREDENTIALS = _code(
    "AD833", "storage-credentials", E, "the storage service refused the credentials, or found none"
)
PIPE_NOT_ALLOWED = _code("AD834", "pipe-not-allowed", E, "a shard URL runs a shell command, and the run did not opt in")
INPAINT_REQUEST = _code(
    "AD840", "inpaint-request", E, "the audio or mask to inpaint does not fit the model or the clip"
)
ADAPTER_BASE_MISMATCH = _code(
    "AD850", "adapter-base-mismatch", E, "a LoRA adapter file was trained on other base weights than these"
)
ADAPTER_UNUSABLE = _code("AD851", "adapter-unusable", E, "a LoRA adapter file does not fit the model or is not one")

# --- AD9xx: versions and migration -------------------------------------------------------------------------------
MIGRATED_KEY = _code("AD901", "migrated-key", W, "a key was migrated from an older schema version")
NOT_CURRENT = _code("AD902", "not-current", E, "the file is not written in the newest schema version")

del E, W, I
