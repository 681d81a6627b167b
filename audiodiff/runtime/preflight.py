"""Everything `audiodiff run` can check before it builds a model: both configs, the rules between them (C2, C4-C7),
the command-line settings, and the dataset itself (every file's header and metadata).

All findings are collected, per file, and reported together; nothing here allocates a weight.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audiodiff.compiler import registry
from audiodiff.compiler.pipeline import FileCheck, check_file, locate
from audiodiff.diagnostics import codes
from audiodiff.diagnostics.model import Diagnostic, Related, Severity
from audiodiff.diagnostics.render import FileResult
from audiodiff.runtime.init_sources import InitSource
from audiodiff.runtime.scan import (
    DataFile,
    DataScan,
    MetadataModule,
    resolve_file,
    resolve_folder,
    scan_audio,
    scan_latents,
)
from audiodiff.schema.pointer import join
from audiodiff.schema.v1.dataset import AudioDirDatasetSpec, DatasetConfigSpec, PreEncodedDatasetSpec, WebDatasetSpec
from audiodiff.schema.v1.root import AutoencoderConfig, DiffusionUncondConfig, ModelConfig
from audiodiff.schema.values import value_problem
from audiodiff.schema.views import backbone_of, conditioning_of, pretransform_of, pretransform_ratio

if TYPE_CHECKING:
    from audiodiff.runtime.shards import ShardSource

COMMAND_LINE = "command line"
LOADER_KEYS = frozenset({"seconds_start", "seconds_total"})  # the audio loader (not the latent one) computes these
TRAINABLE_MODEL_TYPES = ("diffusion_cond", "diffusion_cond_inpaint", "diffusion_uncond", "autoencoder")


@dataclass
class Findings:
    """Diagnostics per file (model config, dataset config, command line), in the order they are reported."""

    by_file: dict[str, list[Diagnostic]] = field(default_factory=dict)
    lines: dict[str, Any] = field(default_factory=dict)

    def add(self, path: str, diagnostic: Diagnostic) -> None:
        self.by_file.setdefault(path, []).append(diagnostic)

    def extend(self, path: str, diagnostics: list[Diagnostic]) -> None:
        self.by_file.setdefault(path, []).extend(diagnostics)

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for items in self.by_file.values() for d in items)

    def results(self) -> list[FileResult]:
        return [
            FileResult(path, items, self.lines.get(path, lambda number: None))
            for path, items in self.by_file.items()
            if items
        ]


@dataclass
class Preflight:
    model: FileCheck
    dataset: FileCheck
    findings: Findings
    scan: DataScan | None = None
    metadata_modules: dict[str, MetadataModule] = field(default_factory=dict)  # dataset id -> its module
    latent_length: int | None = None  # crop length of pre-encoded latents
    shards: list[ShardSource] | None = None  # each source of a `wds` / `s3` dataset
    init: dict[str, InitSource] = field(default_factory=dict)  # part -> the `--init` source serving it

    @property
    def spec(self) -> ModelConfig:
        """The model config (what `run` trains: a preflight without errors has one)."""
        spec = self.model.model_spec
        if spec is None:
            raise ValueError(f"{self.model.path} is not a valid model config")
        return spec

    @property
    def dataset_spec(self) -> DatasetConfigSpec:
        """The dataset config (a preflight without errors has one)."""
        spec = self.dataset.dataset_spec
        if spec is None:
            raise ValueError(f"{self.dataset.path} is not a valid dataset config")
        return spec


def check_configs(
    model_path: Path,
    dataset_path: Path,
    *,
    allow_metadata_module: bool,
    pretransform_ckpt: Path | None,
    overrides: Sequence[Any] = (),
    allow_pipe: bool = False,
    init: Sequence[Any] = (),
) -> Preflight:
    """Both files through the validate pipeline, then the rules that need both, then the dataset's files.
    `overrides` (`--set`) apply to the model config, which is then checked, trained and embedded as overridden.
    `init` (init_sources.InitSource, `--pretransform-ckpt` among them) is matched with the model's parts here."""
    findings = Findings()
    model = check_file(model_path, overrides=overrides)
    dataset = check_file(dataset_path, check_paths=False)  # the dataset's paths are checked below, as errors
    for check in (model, dataset):
        findings.lines[check.path] = check.result().line
        findings.extend(check.path, list(check.diagnostics))
    preflight = Preflight(model, dataset, findings)
    if model.has_errors or dataset.has_errors or model.spec is None or dataset.spec is None:
        return preflight
    if model.kind != "model":
        findings.add(
            model.path,
            Diagnostic(
                codes.RUN_SETTING,
                "the first argument must be a model config, and this is a dataset config",
                "",
                path=model.path,
            ),
        )
        return preflight
    if dataset.kind != "dataset":
        findings.add(
            dataset.path,
            Diagnostic(
                codes.RUN_SETTING,
                "`--dataset` must name a dataset config, and this is a model config",
                "",
                path=dataset.path,
            ),
        )
        return preflight
    model_diagnostics = _trainable(preflight.spec, pretransform_ckpt, init, preflight)
    if model.graph is not None:  # modules this machine cannot build (a missing extra, a download), as errors
        from audiodiff.compiler.checks import buildability

        model_diagnostics += buildability(model.graph, strict=True)
    findings.extend(model.path, locate(model, model_diagnostics))
    if any(d.is_error for d in model_diagnostics):
        return preflight
    findings.extend(dataset.path, locate(dataset, _pairing(model, dataset)))
    if findings.has_errors:
        return preflight
    data = preflight.dataset_spec
    if isinstance(data, WebDatasetSpec):
        from audiodiff.runtime.shard_preflight import check_shards

        check_shards(preflight, data, allow_metadata_module, allow_pipe=allow_pipe)
    else:
        scan_dataset(preflight, allow_metadata_module)
    return preflight


def note(check: FileCheck, message: str, pointer: str) -> Related:
    """A note about a place in another file than the diagnostic's, located in that file."""
    document = check.document
    span = document.span(pointer) if document is not None else None
    return Related(message, pointer, span, check.path)


# --- the model config --------------------------------------------------------------------------------------------


def _trainable(
    spec: ModelConfig, pretransform_ckpt: Path | None, init: Sequence[Any], preflight: Preflight
) -> list[Diagnostic]:
    found = []
    if spec.model_type not in TRAINABLE_MODEL_TYPES:
        found.append(
            Diagnostic(
                codes.TRAINING_UNSUPPORTED,
                f"`audiodiff run` does not train `{spec.model_type}` models yet",
                "/model_type",
                help="train it with stable-audio-tools; audiodiff can validate, compile and sample it",
            )
        )
        return found
    training = spec.training
    if training is None:
        found.append(
            Diagnostic(
                codes.TRAINING_SECTION_MISSING,
                "the config has no `training` section",
                "",
                help='add `"training": {"learning_rate": 1e-4}` (plain Adam, EMA on)'
                if spec.model_type != "autoencoder"
                else 'add `"training": {"learning_rate": 1e-4}` (AdamW, default losses)',
            )
        )
        return found
    _init_problems(spec, pretransform_ckpt, init, preflight)
    if isinstance(spec, AutoencoderConfig):
        from audiodiff.runtime.autoencoder_preflight import autoencoder_trainable

        return found + autoencoder_trainable(spec, pretransform_ckpt)
    if spec.training is not None and spec.training.arc is not None:  # `training` narrowed to the diffusion kind
        found.append(
            Diagnostic(
                codes.TRAINING_UNSUPPORTED,
                "adversarial post-training (`arc`) is not supported by `audiodiff run`",
                "/training/arc",
                help="remove `arc` to train the plain diffusion objective",
            )
        )
    served = preflight.init.get("pretransform")
    # demos decode through it, pre-encoded or not; a bare `--init` file serves it too (its coverage is checked later)
    found += pretransform_problems(
        spec, served.path if served is not None else None, flag=served.flag if served is not None else None
    )
    return found


def _init_problems(
    spec: ModelConfig, pretransform_ckpt: Path | None, init: Sequence[Any], preflight: Preflight
) -> None:
    """`--init` values that name a part this model lacks, the same part twice, or a file that does not exist; they
    are mistakes on the command line, reported there."""
    from audiodiff.runtime.init_sources import InitUsageError, assign

    if spec.model_type == "autoencoder" and pretransform_ckpt is not None:
        init = [source for source in init if not source.flag.startswith("--pretransform-ckpt")]  # reported below
    try:
        preflight.init = assign(init, spec.model_type)
    except InitUsageError as error:
        preflight.findings.add(COMMAND_LINE, Diagnostic(codes.RUN_SETTING, str(error), None, path=COMMAND_LINE))
        return
    for source in {source.flag: source for source in preflight.init.values()}.values():
        if not Path(source.path).is_file():
            preflight.findings.add(
                COMMAND_LINE,
                Diagnostic(
                    codes.CHECKPOINT_UNREADABLE,
                    f"`{source.flag}`: `{source.path}` does not exist or is not a file",
                    None,
                    path=COMMAND_LINE,
                ),
            )


def pretransform_problems(
    spec: ModelConfig, pretransform_ckpt: Path | None, *, flag: str | None = None
) -> list[Diagnostic]:
    """A pretransform that cannot encode: not buildable, or an autoencoder without weights. `flag` is how `run`
    was given the weights (`--init ...`, whose files it checks itself); without it, `--pretransform-ckpt PATH`."""
    located = pretransform_of(spec)
    if located is None:
        explicit = flag is None or not flag.startswith("--init ") or flag.startswith("--init pretransform=")
        if pretransform_ckpt is not None and explicit:  # a bare `--init` file has no pretransform to serve here
            shown = flag or "--pretransform-ckpt"
            return [
                Diagnostic(
                    codes.RUN_SETTING,
                    f"`{shown}` was given, but the model has no pretransform to load it into",
                    "/model",
                    help=f"drop `{shown}`",
                )
            ]
        return []
    pretransform, pointer = located
    found = []
    if pretransform_ckpt is not None and flag is None and not Path(pretransform_ckpt).is_file():
        found.append(
            Diagnostic(
                codes.CHECKPOINT_UNREADABLE, f"`--pretransform-ckpt {pretransform_ckpt}` does not exist", pointer
            )
        )
    if pretransform.weights_from_checkpoint and pretransform_ckpt is None:
        found.append(
            Diagnostic(
                codes.RUN_SETTING,
                f"the `{pretransform.type}` pretransform needs trained weights, and neither `--init` nor "
                "`--pretransform-ckpt` gives them",
                pointer,
                help="pass `--init pretransform=AUTOENCODER.ckpt` (an autoencoder checkpoint or a released model "
                "that contains one), or `--init MODEL.ckpt` for a whole released model",
            )
        )
    if registry.lookup("pretransform", pretransform.type).status != "buildable":  # downloads, or unsupported
        found.append(
            Diagnostic(
                codes.TRAINING_UNSUPPORTED,
                f"the `{pretransform.type}` pretransform cannot be built for training by audiodiff",
                join(pointer, "type"),
            )
        )
    return found


# --- model x dataset ---------------------------------------------------------------------------------------------


def pairing_rules(model: FileCheck, dataset: FileCheck) -> list[Diagnostic]:
    """The rules between a model config and a dataset config that `validate MODEL DATASET` applies: those of
    `run` that concern the two files (pre-encoded on one side only, latent lengths), located in the dataset
    config. Nothing when either file has errors of its own, the model has no `training` section, or the dataset
    is of a kind `run` does not read (that is a limit of `run`, not a mistake in the files)."""
    if model.has_errors or dataset.has_errors or model.spec is None or dataset.spec is None:
        return []
    if model.kind != "model" or dataset.kind != "dataset" or getattr(model.spec, "training", None) is None:
        return []
    return locate(dataset, _pairing(model, dataset))


def _pairing(model: FileCheck, dataset: FileCheck) -> list[Diagnostic]:
    """Rules between the two files (C6 pre_encoded on both sides; C4 / C5 latent lengths)."""
    spec, data = model.model_spec, dataset.dataset_spec
    found: list[Diagnostic] = []
    if spec is None or data is None:
        return found
    pre_encoded_data = isinstance(data, PreEncodedDatasetSpec) or (
        isinstance(data, WebDatasetSpec) and data.pre_encoded
    )
    if isinstance(spec, AutoencoderConfig):
        if isinstance(data, WebDatasetSpec) and not pre_encoded_data:
            found.append(
                Diagnostic(
                    codes.DATASET_UNSUPPORTED,
                    "`audiodiff run` trains autoencoders from local `audio_dir` datasets, not from shards yet",
                    "/dataset_type",
                    help='use an `"audio_dir"` dataset of the audio itself',
                )
            )
        if pre_encoded_data:
            found.append(
                Diagnostic(
                    codes.DATASET_MODEL_MISMATCH,
                    "an autoencoder trains on audio, and this dataset holds pre-encoded latents",
                    "/dataset_type",
                    help='use an `"audio_dir"` dataset of the audio itself',
                )
            )
        return found
    model_side = note(model, "the model config says `training.pre_encoded` here", "/training/pre_encoded")
    pre_encoded_model = spec.training is not None and spec.training.pre_encoded
    if pre_encoded_model and not pre_encoded_data:
        found.append(
            Diagnostic(
                codes.DATASET_MODEL_MISMATCH,
                "the model trains on pre-encoded latents (`training.pre_encoded: true`), but this dataset holds audio",
                "/dataset_type",
                help='encode the audio with `audiodiff encode` and use a `"pre_encoded"` dataset, or '
                'set `"pre_encoded": false` in the model config',
                related=(model_side,),
            )
        )
    if pre_encoded_data and not pre_encoded_model:
        found.append(
            Diagnostic(
                codes.DATASET_MODEL_MISMATCH,
                "this dataset holds pre-encoded latents, but the model "
                "config expects audio (`training.pre_encoded` is false)",
                "/dataset_type",
                help='set `"pre_encoded": true` in the model config\'s `training` section',
                related=(model_side,),
            )
        )
    latent_data = data if isinstance(data, (PreEncodedDatasetSpec, WebDatasetSpec)) and pre_encoded_data else None
    backbone = backbone_of(spec)
    if latent_data is not None and latent_data.latent_crop_length is not None and backbone is not None:
        crop = latent_data.latent_crop_length  # both latent kinds have one
        ratio = _latent_ratio(spec)
        expected = spec.sample_size // ratio
        multiple = backbone.length_multiple
        if crop % multiple:
            found.append(
                Diagnostic(
                    codes.DATASET_MODEL_MISMATCH,
                    f"`latent_crop_length` {crop} is not a multiple of the backbone's {multiple}",
                    "/latent_crop_length",
                )
            )
        elif crop != expected:
            found.append(
                Diagnostic(
                    codes.DATASET_MODEL_MISMATCH,
                    f"`latent_crop_length` is "
                    f"{crop}, but demos generate {expected} latents "
                    f"(`sample_size` {spec.sample_size} / ratio {ratio})",
                    "/latent_crop_length",
                    severity=Severity.WARNING,
                    help=f"set it to {expected}, or change `sample_size`",
                )
            )
    return found


# --- the dataset's files -----------------------------------------------------------------------------------------


def scan_dataset(preflight: Preflight, allow_metadata_module: bool, *, check_values: bool = True) -> None:
    """Scan every dataset folder (headers and metadata only), load the opted-in metadata modules (one per dataset
    id), and check what the files hold against the model; findings go to the dataset config."""
    dataset, spec, findings = preflight.dataset, preflight.dataset_spec, preflight.findings
    assert not isinstance(spec, WebDatasetSpec), "shard datasets are checked by shard_preflight.check_shards"
    config_dir = Path(dataset.path).parent
    found: list[Diagnostic] = []
    scan = DataScan()
    module_paths: dict[str, tuple[str | None, str]] = {}  # dataset id -> (custom_metadata_module, its pointer)
    for index, source in enumerate(spec.datasets):
        pointer = join("", "datasets", index)
        folder = resolve_folder(source.path, config_dir)
        if folder is None:
            found.append(
                Diagnostic(
                    codes.REFERENCED_FILE_MISSING,
                    f"the dataset folder `{source.path}` does not exist",
                    join(pointer, "path"),
                    severity=Severity.ERROR,
                    help="relative paths are read from the dataset config's folder, then from the working directory",
                )
            )
            continue
        module_pointer = join(pointer, "custom_metadata_module")
        earlier = module_paths.setdefault(source.id, (source.custom_metadata_module, module_pointer))
        if earlier[0] != source.custom_metadata_module:
            # a module belongs to a dataset id: two sources of one id cannot each have their own
            found.append(
                Diagnostic(
                    codes.DATASET_UNSUPPORTED,
                    f"two datasets share the id `{source.id}` but not their `custom_metadata_module`",
                    module_pointer,
                    help="give the datasets distinct ids",
                    related=(note(dataset, f"the other `{source.id}` dataset is here", earlier[1]),),
                )
            )
        elif source.custom_metadata_module is not None and source.id not in preflight.metadata_modules:
            module = load_metadata_module(
                source.custom_metadata_module, config_dir, module_pointer, allow_metadata_module, found
            )
            if module is not None:
                preflight.metadata_modules[source.id] = module
        manifest = None
        if source.manifest is not None:
            manifest = resolve_file(source.manifest, config_dir, folder)
            if manifest is None:
                found.append(
                    Diagnostic(
                        codes.REFERENCED_FILE_MISSING,
                        f"the manifest `{source.manifest}` does not exist",
                        join(pointer, "manifest"),
                        severity=Severity.ERROR,
                    )
                )
                continue
        part = (
            scan_latents(folder, source.id, spec.latent_extension)
            if isinstance(spec, PreEncodedDatasetSpec)
            else scan_audio(folder, source.id, manifest)
        )
        scan.files += part.files
        scan.skipped += part.skipped
    if isinstance(spec, PreEncodedDatasetSpec) and (spec.min_length_sec is not None or spec.max_length_sec is not None):
        scan.files = [f for f in scan.files if _within(f, spec.min_length_sec, spec.max_length_sec)]
    preflight.scan = scan
    if not any(d.is_error for d in found):
        found += _content(preflight, scan, check_values=check_values)
    findings.extend(dataset.path, locate(dataset, found))


def load_metadata_module(
    value: str, config_dir: Path, pointer: str, allowed: bool, found: list[Diagnostic]
) -> MetadataModule | None:
    if not allowed:
        found.append(
            Diagnostic(
                codes.METADATA_MODULE_NOT_ALLOWED,
                f"the dataset would run the Python file `{value}` for every item",
                pointer,
                help="pass `--allow-metadata-module` if you "
                "trust it, or give the metadata as sidecar JSON files or a `manifest`",
            )
        )
        return None
    path = resolve_file(value, config_dir)
    if path is None:
        found.append(
            Diagnostic(codes.REFERENCED_FILE_MISSING, f"`{value}` does not exist", pointer, severity=Severity.ERROR)
        )
        return None
    module = MetadataModule(path)
    try:
        module.load()
    except Exception as error:  # the user's code: whatever it raises is reported, not shown as a traceback
        found.append(
            Diagnostic(
                codes.METADATA_MODULE_NOT_ALLOWED,
                f"`{value}` could not be imported: {type(error).__name__}: {error}",
                pointer,
                severity=Severity.ERROR,
            )
        )
        return None
    return module


def _within(entry: DataFile, low: float | None, high: float | None) -> bool:
    seconds = entry.metadata.get("seconds_total")
    if not isinstance(seconds, (int, float)):
        return True
    return (low is None or seconds >= low) and (high is None or seconds <= high)


def _content(preflight: Preflight, scan: DataScan, *, check_values: bool = True) -> list[Diagnostic]:
    """Emptiness, latent widths and conditioning values of the scanned files."""
    spec, data = preflight.spec, preflight.dataset_spec
    found = []
    if not scan.files:
        reasons = Counter(item.reason.split(" (")[0] for item in scan.skipped)
        detail = "; ".join(f"{count} {reason}" for reason, count in reasons.most_common(3))
        kind = "latent arrays" if isinstance(data, PreEncodedDatasetSpec) else "audio files"
        found.append(
            Diagnostic(
                codes.DATASET_EMPTY,
                f"the dataset holds no readable {kind}"
                + (f" ({len(scan.skipped)} skipped: {detail})" if scan.skipped else ""),
                "/datasets",
                help="point `path` at a folder of .wav / .flac / .ogg files"
                if kind == "audio files"
                else "make latents with `audiodiff encode`",
            )
        )
        return found
    if isinstance(data, PreEncodedDatasetSpec):
        widths = Counter(entry.channels for entry in scan.files)
        if isinstance(spec, DiffusionUncondConfig):  # its width is the backbone's (no top-level io_channels)
            view = backbone_of(spec)
            expected = view.channels if view is not None else None
        else:
            expected = spec.model.io_channels
        wrong = {width: count for width, count in widths.items() if width != expected}
        if wrong:
            width, count = max(wrong.items(), key=lambda item: item[1])
            found.append(
                Diagnostic(
                    codes.DATASET_MODEL_MISMATCH,
                    f"{count} latent file(s) have {width} channels, but the model denoises {expected}",
                    "/datasets",
                    help="encode the audio with this model's pretransform (`audiodiff encode`)",
                )
            )
        preflight.latent_length = data.latent_crop_length or default_latent_length(spec)
    if check_values:
        # a metadata module may add or replace any value, so only files of datasets without one can be checked
        plain = [f for f in scan.files if f.dataset_id not in preflight.metadata_modules]
        if plain:
            found += _conditioning_values(preflight, plain)
    return found


def default_latent_length(spec: ModelConfig) -> int:
    return spec.sample_size // _latent_ratio(spec)


def _latent_ratio(spec: ModelConfig) -> int:
    """Audio samples per latent frame: the pretransform's declared ratio (1 without one, or when unknown)."""
    located = pretransform_of(spec)
    return (pretransform_ratio(located[0]) or 1) if located is not None else 1


# --- conditioning values -----------------------------------------------------------------------------------------


NO_VALUE = object()  # what `conditioning_value` gives for an item that has neither key


def conditioning_value(metadata: Mapping[str, Any], key: str, fallback: str | None) -> Any:
    """The value a conditioner reads from one item's metadata: its own key, else its `default_keys` entry
    (`NO_VALUE` when neither is there); a one-element list stands for its element, as the conditioners unwrap it."""
    if key in metadata:
        value = metadata[key]
    elif fallback is not None and fallback in metadata:
        value = metadata[fallback]
    else:
        return NO_VALUE
    return value[0] if isinstance(value, (list, tuple)) and len(value) == 1 else value


def _conditioning_values(preflight: Preflight, files: list[DataFile]) -> list[Diagnostic]:
    """Every conditioner reads its id from every item's metadata (C30): say which files lack which value, and which
    hold a value of the wrong kind (text for a `number`, a fraction for an `int`, ...)."""
    spec, data = preflight.spec, preflight.dataset_spec
    conditioning = conditioning_of(spec)
    if conditioning is None:
        return []
    # the audio loader computes these for every crop, replacing whatever the metadata says; the latent reader
    # does not, so pre-encoded data must carry them
    computed = LOADER_KEYS if isinstance(data, AudioDirDatasetSpec) else frozenset()
    found = []
    total = len(files)
    for index, entry in enumerate(conditioning.configs):
        if entry.id in computed:
            continue
        declared = note(
            preflight.model,
            f"the `{entry.id}` conditioner is declared here",
            join("", "model", "conditioning", "configs", index),
        )
        fallback = conditioning.default_keys.get(entry.id)
        values = [(f, conditioning_value(f.metadata, entry.id, fallback)) for f in files]
        missing = [f for f, value in values if value is NO_VALUE]
        if missing:
            found.append(
                Diagnostic(
                    codes.DATASET_METADATA,
                    f"{len(missing)} of {total} training files have no `{entry.id}` value (first: `{missing[0].relpath}`)",
                    _source_pointer(data, missing[0]),
                    help=f'add `"{entry.id}": ...` to each file\'s `<name>.json` '
                    "beside the audio, or to the dataset's `manifest`",
                    related=(declared,),
                )
            )
            continue
        if entry.id in conditioning.pre_encoded_keys:
            continue  # stored tensors, passed to the model as they are
        wrong = [(f, problem) for f, value in values if (problem := value_problem(entry, value)) is not None]
        if wrong:
            first, problem = wrong[0]
            found.append(
                Diagnostic(
                    codes.DATASET_METADATA,
                    f"{len(wrong)} of {total} training files hold a `{entry.id}` value its conditioner cannot read "
                    f"(first: `{first.relpath}`: {problem})",
                    _source_pointer(data, first),
                    help=f"fix the `{entry.id}` value in each file's `<name>.json` beside the audio, or in the "
                    "dataset's `manifest`",
                    related=(declared,),
                )
            )
            continue
        choices = entry.choices()  # a value outside a list's options is legal: it trains the `unknown` row
        if choices is None:
            continue
        unknown = Counter(str(value) for _, value in values if value not in choices)
        if unknown:
            value, count = unknown.most_common(1)[0]
            found.append(
                Diagnostic(
                    codes.DATASET_METADATA,
                    f"{sum(unknown.values())} training files have a `{entry.id}` value outside its options "
                    f"(e.g. `{value}`, {count}x); they all train the embedding of unknown values",
                    "/datasets",
                    severity=Severity.WARNING,
                    help="options: " + ", ".join(f"`{option}`" for option in choices),
                )
            )
    return found


def _source_pointer(data: Any, entry: DataFile) -> str:
    """The dataset config entry a file came from (the first with its id), or `/datasets`."""
    for index, source in enumerate(data.datasets):
        if source.id == entry.dataset_id:
            return join("", "datasets", index)
    return "/datasets"
