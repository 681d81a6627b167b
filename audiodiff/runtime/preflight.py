"""Everything `audiodiff run` can check before it builds a model: both configs, the rules between them (C2, C4-C7),
the command-line settings, and the dataset itself (every file's header and metadata).

All findings are collected, per file, and reported together; nothing here allocates a weight.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audiodiff.compiler.pipeline import FileCheck, check_file, locate
from audiodiff.diagnostics import codes
from audiodiff.diagnostics.model import Diagnostic, Related, Severity
from audiodiff.diagnostics.render import FileResult
from audiodiff.runtime.data import DataScan, MetadataModule, resolve_folder, scan_audio, scan_latents
from audiodiff.schema.pointer import join
from audiodiff.schema.v1.dataset import AudioDirDatasetSpec, PreEncodedDatasetSpec
from audiodiff.schema.views import backbone_of, conditioning_of, pretransform_of, pretransform_ratio

COMMAND_LINE = "command line"
LOADER_KEYS = frozenset({"seconds_start", "seconds_total"})  # the audio loader computes these for every crop
TRAINABLE_MODEL_TYPES = ("diffusion_cond", "diffusion_uncond")


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
        return [FileResult(path, items, self.lines.get(path, lambda number: None))
                for path, items in self.by_file.items() if items]


@dataclass
class Preflight:
    model: FileCheck
    dataset: FileCheck
    findings: Findings
    scan: DataScan | None = None
    metadata_module: MetadataModule | None = None
    latent_length: int | None = None  # crop length of pre-encoded latents

    @property
    def spec(self) -> Any:
        return self.model.spec

    @property
    def dataset_spec(self) -> Any:
        return self.dataset.spec


def check_configs(model_path: Path, dataset_path: Path, *, allow_metadata_module: bool,
                  pretransform_ckpt: Path | None) -> Preflight:
    """Both files through the validate pipeline, then the rules that need both, then the dataset's files."""
    findings = Findings()
    model = check_file(model_path)
    dataset = check_file(dataset_path, check_paths=False)  # the dataset's paths are checked below, as errors
    for check in (model, dataset):
        findings.lines[check.path] = check.result().line
        findings.extend(check.path, list(check.diagnostics))
    preflight = Preflight(model, dataset, findings)
    if model.has_errors or dataset.has_errors or model.spec is None or dataset.spec is None:
        return preflight
    if model.kind != "model":
        findings.add(model.path, Diagnostic(codes.RUN_SETTING, "the first argument must be a model config, "
                                            "and this is a dataset config", "", path=model.path))
        return preflight
    if dataset.kind != "dataset":
        findings.add(dataset.path, Diagnostic(codes.RUN_SETTING, "`--dataset` must name a dataset config, and "
                                              "this is a model config", "", path=dataset.path))
        return preflight
    model_diagnostics = _trainable(model.spec, pretransform_ckpt)
    if model.graph is not None:  # modules this machine cannot build (a missing extra, a download), as errors
        from audiodiff.compiler.checks import buildability

        model_diagnostics += buildability(model.graph, strict=True)
    findings.extend(model.path, locate(model, model_diagnostics))
    if any(d.is_error for d in model_diagnostics):
        return preflight
    findings.extend(dataset.path, locate(dataset, _pairing(model, dataset)))
    if findings.has_errors:
        return preflight
    _scan_dataset(preflight, allow_metadata_module)
    return preflight


def note(check: FileCheck, message: str, pointer: str) -> Related:
    """A note about a place in another file than the diagnostic's, located in that file."""
    document = check.document
    span = document.span(pointer) if document is not None else None
    return Related(message, pointer, span, check.path)


# --- the model config --------------------------------------------------------------------------------------------


def _trainable(spec: Any, pretransform_ckpt: Path | None) -> list[Diagnostic]:
    found = []
    if spec.model_type not in TRAINABLE_MODEL_TYPES:
        what = {"autoencoder": "autoencoders (adversarial training)",
                "diffusion_cond_inpaint": "inpainting models"}.get(spec.model_type, f"`{spec.model_type}` models")
        found.append(Diagnostic(codes.TRAINING_UNSUPPORTED, f"`audiodiff run` does not train {what} yet",
                                "/model_type", help="train it with stable-audio-tools; audiodiff can validate, "
                                "compile and sample it"))
        return found
    training = spec.training
    if training is None:
        found.append(Diagnostic(codes.TRAINING_SECTION_MISSING, "the config has no `training` section", "",
                                help='add `"training": {"learning_rate": 1e-4}` (plain Adam, EMA on)'))
        return found
    if training.arc is not None:
        found.append(Diagnostic(codes.TRAINING_UNSUPPORTED, "adversarial post-training (`arc`) is not supported "
                                "by `audiodiff run`", "/training/arc", help="remove `arc` to train the plain "
                                "diffusion objective"))
    if training.inpainting is not None:
        found.append(Diagnostic(codes.TRAINING_UNSUPPORTED, "inpainting training is not supported by "
                                "`audiodiff run` yet", "/training/inpainting"))
    found += pretransform_problems(spec, pretransform_ckpt)  # demos decode through it, pre-encoded or not
    return found


def pretransform_problems(spec: Any, pretransform_ckpt: Path | None) -> list[Diagnostic]:
    """A pretransform that cannot encode: not buildable, or an autoencoder without weights."""
    located = pretransform_of(spec)
    if located is None:
        if pretransform_ckpt is not None:
            return [Diagnostic(codes.RUN_SETTING, "`--pretransform-ckpt` was given, but the model has no "
                               "pretransform to load it into", "/model", help="drop `--pretransform-ckpt`")]
        return []
    pretransform, pointer = located
    found = []
    if pretransform_ckpt is not None and not Path(pretransform_ckpt).is_file():
        found.append(Diagnostic(codes.CHECKPOINT_UNREADABLE, f"`--pretransform-ckpt {pretransform_ckpt}` does not "
                                "exist", pointer))
    if pretransform.type == "autoencoder" and pretransform_ckpt is None:
        found.append(Diagnostic(codes.RUN_SETTING, "the `autoencoder` pretransform needs trained weights, and "
                                "no `--pretransform-ckpt` was given", pointer,
                                help="pass `--pretransform-ckpt AUTOENCODER.ckpt` (an autoencoder checkpoint "
                                "or a released model that contains one)"))
    if pretransform.type not in ("autoencoder", "patched", "wavelet"):
        found.append(Diagnostic(codes.TRAINING_UNSUPPORTED, f"the `{pretransform.type}` pretransform cannot be "
                                "built for training by audiodiff", join(pointer, "type")))
    return found


# --- model x dataset ---------------------------------------------------------------------------------------------


def _pairing(model: FileCheck, dataset: FileCheck) -> list[Diagnostic]:
    """Rules between the two files (C6 pre_encoded on both sides; C4 / C5 latent lengths)."""
    spec, data = model.spec, dataset.spec
    found = []
    if not isinstance(data, (AudioDirDatasetSpec, PreEncodedDatasetSpec)):
        found.append(Diagnostic(codes.DATASET_UNSUPPORTED, f"`audiodiff run` reads local `audio_dir` and "
                                f"`pre_encoded` datasets, not `{data.dataset_type}` (WebDataset / S3 shards)",
                                "/dataset_type", help="copy the audio to a local folder and use "
                                '`"dataset_type": "audio_dir"`'))
        return found
    pre_encoded_data = isinstance(data, PreEncodedDatasetSpec)
    model_side = note(model, "the model config says `training.pre_encoded` here", "/training/pre_encoded")
    if spec.training.pre_encoded and not pre_encoded_data:
        found.append(Diagnostic(codes.DATASET_MODEL_MISMATCH, "the model trains on pre-encoded latents "
                                "(`training.pre_encoded: true`), but this dataset holds audio", "/dataset_type",
                                help='encode the audio with `audiodiff encode` and use a `"pre_encoded"` dataset, or '
                                'set `"pre_encoded": false` in the model config', related=(model_side,)))
    if pre_encoded_data and not spec.training.pre_encoded:
        found.append(Diagnostic(codes.DATASET_MODEL_MISMATCH, "this dataset holds pre-encoded latents, but the model "
                                "config expects audio (`training.pre_encoded` is false)", "/dataset_type",
                                help='set `"pre_encoded": true` in the model config\'s `training` section',
                                related=(model_side,)))
    if pre_encoded_data and data.latent_crop_length is not None:
        located = pretransform_of(spec)
        ratio = (pretransform_ratio(located[0]) or 1) if located is not None else 1
        expected = spec.sample_size // ratio
        multiple = backbone_of(spec).length_multiple
        if data.latent_crop_length % multiple:
            found.append(Diagnostic(codes.DATASET_MODEL_MISMATCH, f"`latent_crop_length` {data.latent_crop_length} "
                                    f"is not a multiple of the backbone's {multiple}", "/latent_crop_length"))
        elif data.latent_crop_length != expected:
            found.append(Diagnostic(codes.DATASET_MODEL_MISMATCH, f"`latent_crop_length` is "
                                    f"{data.latent_crop_length}, but demos generate {expected} latents "
                                    f"(`sample_size` {spec.sample_size} / ratio {ratio})", "/latent_crop_length",
                                    severity=Severity.WARNING, help=f"set it to {expected}, or change `sample_size`"))
    return found


# --- the dataset's files -----------------------------------------------------------------------------------------


def _scan_dataset(preflight: Preflight, allow_metadata_module: bool, *, check_values: bool = True) -> None:
    dataset, spec, findings = preflight.dataset, preflight.dataset_spec, preflight.findings
    config_dir = Path(dataset.path).parent
    found: list[Diagnostic] = []
    scan = DataScan()
    pre_encoded = isinstance(spec, PreEncodedDatasetSpec)
    for index, source in enumerate(spec.datasets):
        pointer = join("", "datasets", index)
        folder = resolve_folder(source.path, config_dir)
        if folder is None:
            found.append(Diagnostic(codes.REFERENCED_FILE_MISSING, f"the dataset folder `{source.path}` does not "
                                    "exist", join(pointer, "path"), severity=Severity.ERROR,
                                    help="paths are read relative to the working directory, then to the dataset "
                                    "config's folder"))
            continue
        if source.custom_metadata_module is not None:
            module = _metadata_module(source.custom_metadata_module, config_dir,
                                      join(pointer, "custom_metadata_module"), allow_metadata_module, found)
            if module is not None:
                preflight.metadata_module = module
        manifest = None
        if getattr(source, "manifest", None) is not None:
            manifest = _existing_file(source.manifest, folder, config_dir)
            if manifest is None:
                found.append(Diagnostic(codes.REFERENCED_FILE_MISSING, f"the manifest `{source.manifest}` does not "
                                        "exist", join(pointer, "manifest"), severity=Severity.ERROR))
                continue
        part = scan_latents(folder, source.id, spec.latent_extension) if pre_encoded else \
            scan_audio(folder, source.id, manifest)
        scan.files += part.files
        scan.skipped += part.skipped
    if pre_encoded and spec.min_length_sec is not None or pre_encoded and spec.max_length_sec is not None:
        scan.files = [f for f in scan.files if _within(f, spec.min_length_sec, spec.max_length_sec)]
    preflight.scan = scan
    if not any(d.is_error for d in found):
        found += _content(preflight, scan, check_values=check_values)
    findings.extend(dataset.path, locate(dataset, found))


def _existing_file(value: str, *bases: Path) -> Path | None:
    candidate = Path(value).expanduser()
    if candidate.is_absolute():
        return candidate if candidate.is_file() else None
    for base in (Path.cwd(), *bases):
        if (base / candidate).is_file():
            return (base / candidate).resolve()
    return None


def _metadata_module(value: str, config_dir: Path, pointer: str, allowed: bool, found: list[Diagnostic]
                     ) -> MetadataModule | None:
    if not allowed:
        found.append(Diagnostic(codes.METADATA_MODULE_NOT_ALLOWED, f"the dataset would run the Python file "
                                f"`{value}` for every item", pointer, help="pass `--allow-metadata-module` if you "
                                "trust it, or give the metadata as sidecar JSON files or a `manifest`"))
        return None
    path = _existing_file(value, config_dir)
    if path is None:
        found.append(Diagnostic(codes.REFERENCED_FILE_MISSING, f"`{value}` does not exist", pointer,
                                severity=Severity.ERROR))
        return None
    module = MetadataModule(path)
    try:
        module.load()
    except Exception as error:  # the user's code: whatever it raises is reported, not shown as a traceback
        found.append(Diagnostic(codes.METADATA_MODULE_NOT_ALLOWED, f"`{value}` could not be imported: "
                                f"{type(error).__name__}: {error}", pointer, severity=Severity.ERROR))
        return None
    return module


def _within(entry: Any, low: float | None, high: float | None) -> bool:
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
        found.append(Diagnostic(codes.DATASET_EMPTY, f"the dataset holds no readable {kind}"
                                + (f" ({len(scan.skipped)} skipped: {detail})" if scan.skipped else ""),
                                "/datasets", help="point `path` at a folder of .wav / .flac / .ogg files"
                                if kind == "audio files" else "make latents with `audiodiff encode`"))
        return found
    if isinstance(data, PreEncodedDatasetSpec):
        widths = Counter(entry.channels for entry in scan.files)
        expected = spec.model.io_channels if spec.model_type != "diffusion_uncond" else backbone_of(spec).channels
        wrong = {width: count for width, count in widths.items() if width != expected}
        if wrong:
            width, count = max(wrong.items(), key=lambda item: item[1])
            found.append(Diagnostic(codes.DATASET_MODEL_MISMATCH, f"{count} latent file(s) have {width} channels, "
                                    f"but the model denoises {expected}", "/datasets", help="encode the audio with "
                                    "this model's pretransform (`audiodiff encode`)"))
        preflight.latent_length = data.latent_crop_length or _default_latent_length(spec)
    if preflight.metadata_module is None and check_values:
        found += _conditioning_values(preflight, scan)
    return found


def _default_latent_length(spec: Any) -> int:
    located = pretransform_of(spec)
    ratio = (pretransform_ratio(located[0]) or 1) if located is not None else 1
    return spec.sample_size // ratio


def _conditioning_values(preflight: Preflight, scan: DataScan) -> list[Diagnostic]:
    """Every conditioner reads its id from every item's metadata (C30): say which files lack which value."""
    spec = preflight.spec
    conditioning = conditioning_of(spec)
    if conditioning is None:
        return []
    found = []
    total = len(scan.files)
    for index, entry in enumerate(conditioning.configs):
        if entry.id in LOADER_KEYS:
            continue
        fallback = conditioning.default_keys.get(entry.id)
        missing = [f for f in scan.files
                   if entry.id not in f.metadata and (fallback is None or fallback not in f.metadata)]
        if missing:
            found.append(Diagnostic(
                codes.DATASET_METADATA,
                f"{len(missing)} of {total} training files have no `{entry.id}` value (first: `{missing[0].relpath}`)",
                "/datasets", help=f"add `\"{entry.id}\": ...` to each file's `<name>.json` beside the audio, or to "
                "the dataset's `manifest`",
                related=(note(preflight.model, f"the `{entry.id}` conditioner is declared here",
                              join("", "model", "conditioning", "configs", index)),)))
            continue
        if entry.type == "list":
            unknown = Counter(str(f.metadata.get(entry.id)) for f in scan.files
                              if f.metadata.get(entry.id) not in entry.config.options)
            if unknown:
                value, count = unknown.most_common(1)[0]
                found.append(Diagnostic(
                    codes.DATASET_METADATA,
                    f"{sum(unknown.values())} training files have a `{entry.id}` value outside its options "
                    f"(e.g. `{value}`, {count}x); they all train the embedding of unknown values",
                    "/datasets", severity=Severity.WARNING,
                    help="options: " + ", ".join(f"`{option}`" for option in entry.config.options)))
    return found

