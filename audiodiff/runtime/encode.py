"""`audiodiff encode`: run an `audio_dir` dataset through the model's pretransform once, so training can read
latents instead of encoding audio at every step (`pre_encoded`, spec §5.6).

Only the pretransform is built (and its `--pretransform-ckpt` weights loaded): the diffusion backbone and the
conditioners' text / audio encoders play no part in encoding.

Each file's first `sample_size` samples (zero-padded when shorter) become `DIR/<dataset id>/<relpath>.npy`, float32
[C, L], with the source's own suffix kept (`a.wav` -> `a.wav.npy`, so `a.wav` and `a.flac` stay two files): the
encoder's unscaled output (latents times the pretransform's `scale`), as upstream's `pre_encode.py` stores them;
training divides by `scale` again. Beside each is `<relpath>.json` (`a.wav.json`) with the file's metadata,
`seconds_start`, `seconds_total` and the padding mask at latent resolution. `DIR/dataset.json` is a dataset config
for them. Nothing is written until every target is known to be distinct, outside the input folders and (without
`--force`) new.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F

from audiodiff.compiler.pipeline import check_file, locate
from audiodiff.diagnostics import codes
from audiodiff.diagnostics.model import Diagnostic
from audiodiff.runtime.atomic import write_bytes_atomic, write_text_atomic
from audiodiff.runtime.checkpoints import CheckpointError, read_pretransform_checkpoint
from audiodiff.runtime.data import AudioDataset, DataFile, StreamKey, resolve_folder
from audiodiff.runtime.preflight import (
    COMMAND_LINE,
    Findings,
    Preflight,
    pretransform_problems,
    scan_dataset,
)
from audiodiff.runtime.run import RunError
from audiodiff.runtime.run_folder import folder_problem
from audiodiff.schema.pointer import join
from audiodiff.schema.v1.dataset import AudioDirDatasetSpec
from audiodiff.schema.versions import LATEST_VERSION
from audiodiff.schema.views import pretransform_of

if TYPE_CHECKING:
    from audiodiff.nn.pretransforms import Pretransform

CONFIG_NAME = "dataset.json"


@dataclass(frozen=True)
class EncodeOptions:
    config: Path
    dataset: Path
    output: Path
    batch_size: int = 8
    pretransform_ckpt: Path | None = None
    allow_metadata_module: bool = False
    overwrite: bool = False  # replace latents (and the dataset config) that an earlier encode wrote
    format: str = "npy"  # npy: a file per clip (`pre_encoded`); wds: tar shards (`wds` with `pre_encoded`)
    shard_size: int = 1000  # clips per shard (wds)


@dataclass(frozen=True)
class Target:
    """Where one audio file's latents go."""

    file: DataFile
    latents: Path  # DIR/<dataset id>/<relpath>.npy
    metadata: Path  # DIR/<dataset id>/<relpath>.json

    @classmethod
    def of(cls, output: Path, file: DataFile, relpath: PurePosixPath) -> Target:
        latents = output / file.dataset_id / f"{relpath}.npy"
        return cls(file, latents, latents.with_suffix(".json"))


def encode(options: EncodeOptions) -> tuple[int, Path]:
    """Returns (latent files written, path of the dataset config for them)."""
    preflight = _check(options)
    spec = preflight.spec
    output = Path(options.output)
    targets = _plan_targets(preflight, options)
    pretransform = _pretransform(preflight, options.pretransform_ckpt)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    pretransform.to(device).eval().requires_grad_(False)
    scale = float(getattr(pretransform, "scale", 1.0))
    files = [target.file for target in targets]
    dataset = AudioDataset(
        files,
        sample_rate=spec.sample_rate,
        sample_size=spec.sample_size,
        channels=spec.audio_channels,
        random_crop=False,
        metadata_modules=preflight.metadata_modules,
    )
    sink = ShardSink(output, options.shard_size) if options.format == "wds" else FileSink()
    written: dict[Path, str] = {}  # latents file (or shard member) -> its dataset id
    latent_length = None
    for first in range(0, len(targets), options.batch_size):
        batch = []
        for index in range(first, min(first + options.batch_size, len(targets))):
            audio, info, _ = dataset[StreamKey(index, index, -1)]
            # an unreadable (or rejected) file is replaced by the next usable one: that one is encoded at its own
            # index, so the stand-in is dropped here rather than written under another file's name
            if info["path"] == targets[index].file.path:
                batch.append((targets[index], audio, info))
        if not batch:
            continue
        audio = torch.stack([item[1] for item in batch]).to(device)  # [B, C, T]
        with torch.inference_mode():
            latents = (pretransform.encode(audio) * scale).float().cpu()  # [B, C_lat, L], unscaled
        latent_length = latents.shape[-1]
        for (target, _, info), item_latents in zip(batch, latents, strict=True):
            mask = F.interpolate(info["padding_mask"][None, None], size=latent_length, mode="nearest")[0, 0]  # [L]
            buffer = io.BytesIO()
            np.save(buffer, item_latents.numpy())
            metadata = {key: value for key, value in info.items() if _is_json(value) and key != "stream_position"}
            metadata["padding_mask"] = [int(v) for v in mask.tolist()]
            sink.write(target, buffer.getvalue(), json.dumps(metadata))
            written[target.latents] = target.file.dataset_id
    sink.close()
    if not written:
        diagnostic = Diagnostic(
            codes.DATASET_EMPTY,
            "no file of the dataset could be read for encoding",
            "/datasets",
            path=preflight.dataset.path,
        )
        raise RunError([_result(preflight.dataset.path, [diagnostic], preflight)])
    ids = sorted(set(written.values()))
    dataset_config: dict[str, Any] = {
        "schema_version": LATEST_VERSION,
        "dataset_type": "pre_encoded",
        "datasets": [{"id": dataset_id, "path": str((output / dataset_id).resolve())} for dataset_id in ids],
        "latent_crop_length": latent_length,
        "random_crop": False,
    }
    if options.format == "wds":
        dataset_config.update(dataset_type="wds", pre_encoded=True, resampled_shards=False)
    config_path = output / CONFIG_NAME
    write_text_atomic(config_path, json.dumps(dataset_config, indent=2) + "\n")
    return len(written), config_path


def _is_json(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


# --- where the latents are written ----------------------------------------------------------------------------


class FileSink:
    """`<relpath>.npy` and `<relpath>.json` beside it, each written atomically."""

    def write(self, target: Target, latents: bytes, metadata: str) -> None:
        write_bytes_atomic(target.latents, latents)
        write_text_atomic(target.metadata, metadata)

    def close(self) -> None:
        pass


class ShardSink:
    """`DIR/<dataset id>/<dataset id>-000000.tar`, ... of `shard_size` clips each, through webdataset's writer: each
    clip is a sample of an `npy` member (the latents [C, L]) and a `json` member (its metadata, `padding_mask` and
    `relpath` included). Sample keys are relpaths with their dots replaced (a key ends at the first dot)."""

    def __init__(self, output: Path, shard_size: int) -> None:
        self.output = output
        self.shard_size = shard_size
        self.writers: dict[str, Any] = {}  # dataset id -> its ShardWriter

    def write(self, target: Target, latents: bytes, metadata: str) -> None:
        import webdataset

        dataset_id = target.file.dataset_id
        writer = self.writers.get(dataset_id)
        if writer is None:
            folder = self.output / dataset_id
            folder.mkdir(parents=True, exist_ok=True)
            for stale in shard_paths(self.output, dataset_id):  # only reached with `--force`: planning refused
                stale.unlink()
            writer = webdataset.ShardWriter(str(folder / f"{dataset_id}-%06d.tar"), maxcount=self.shard_size, verbose=0)
            self.writers[dataset_id] = writer
        relpath = target.latents.relative_to(self.output / dataset_id).as_posix()[: -len(".npy")]
        extra = json.loads(metadata)
        extra["relpath"] = relpath
        writer.write({"__key__": shard_key(relpath), "npy": latents, "json": json.dumps(extra).encode()})

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()


def shard_key(relpath: str) -> str:
    """A sample key for a relpath: webdataset splits a member name at the first dot of its file name."""
    return relpath.replace(".", "_")


def shard_paths(output: Path, dataset_id: str) -> list[Path]:
    return sorted((output / dataset_id).glob(f"{dataset_id}-*.tar"))


# --- the pretransform ----------------------------------------------------------------------------------------------


def _pretransform(preflight: Preflight, pretransform_ckpt: Path | None) -> Pretransform:
    """The model's pretransform alone, with its weights loaded; failures become located diagnostics."""
    from audiodiff.compiler.materialize import build_pretransform
    from audiodiff.runtime.checkpoints import load_checkpoint_into

    spec = preflight.spec
    located = pretransform_of(spec)
    if located is None:  # `_check` refuses such a model first
        raise ValueError("`encode` needs a model config with a pretransform")
    pretransform_spec, pointer = located
    check = preflight.model

    def fail(code: codes.Code, message: str) -> RunError:
        return RunError([_result(check.path, locate(check, [Diagnostic(code, message, pointer)]), preflight)])

    try:
        pretransform = build_pretransform(pretransform_spec, spec.sample_rate)
    except (ValueError, TypeError, ImportError, OSError) as error:
        raise fail(codes.NOT_BUILDABLE, f"the pretransform could not be built: {error}") from None
    if pretransform_ckpt is not None:
        inner = getattr(pretransform, "model", None)
        try:
            if inner is None:
                raise CheckpointError(f"the `{pretransform_spec.type}` pretransform has no weights to load")
            load_checkpoint_into(inner, read_pretransform_checkpoint(pretransform_ckpt))
        except CheckpointError as error:
            report = getattr(error, "report", None)
            detail = f"\n{report.render()}" if report is not None else ""
            raise fail(
                codes.CHECKPOINT_PARTIAL if report is not None else codes.CHECKPOINT_UNREADABLE,
                f"`{pretransform_ckpt}` does not fit the pretransform: {error}{detail}",
            ) from None
    return pretransform


# --- where the latents go ------------------------------------------------------------------------------------------


def _plan_targets(preflight: Preflight, options: EncodeOptions) -> list[Target]:
    """One target per scanned file; refuses (all problems at once) targets that coincide, that would land in an
    input folder, or that exist already (unless `overwrite`)."""
    output = Path(options.output).resolve()
    data = preflight.dataset_spec
    if not isinstance(data, AudioDirDatasetSpec) or preflight.scan is None:  # `_check` refuses the others first
        raise ValueError("`encode` reads a scanned `audio_dir` dataset")
    scan = preflight.scan
    config_dir = Path(preflight.dataset.path).parent
    dataset_found: list[Diagnostic] = []
    command_line: list[Diagnostic] = []
    folders: dict[str, list[Path]] = {}
    for index, source in enumerate(data.datasets):
        folder = resolve_folder(source.path, config_dir)
        if folder is not None:
            folders[source.id] = folders.get(source.id, []) + [folder.resolve()]
        if source.id in (".", "..") or any(mark in source.id for mark in ("/", "\\", "\0")):
            dataset_found.append(
                Diagnostic(
                    codes.DATASET_UNSUPPORTED,
                    f"the dataset id `{source.id}` cannot name a folder of latents",
                    join("", "datasets", index, "id"),
                    help="use an id without `/`, `\\`, and other than `.` or `..`",
                )
            )
    targets: list[Target] = []
    claimed: dict[Path, DataFile] = {}
    for file in scan.files:
        relpath = PurePosixPath(os.path.normpath(file.relpath).replace(os.sep, "/"))
        if relpath.is_absolute() or relpath.parts[:1] == ("..",):
            dataset_found.append(
                Diagnostic(
                    codes.DATASET_UNSUPPORTED,
                    f"`{file.relpath}` lies outside its dataset folder, so its latents have no place in the output",
                    "/datasets",
                    help="list files below the dataset's `path` in the manifest",
                )
            )
            continue
        target = Target.of(output, file, relpath)
        if target.latents in claimed:
            dataset_found.append(
                Diagnostic(
                    codes.DATASET_UNSUPPORTED,
                    f"`{claimed[target.latents].path}` and `{file.path}` would both be encoded "
                    f"to `{target.latents.relative_to(output)}`",
                    "/datasets",
                    help="give each dataset its own id, and list each file once",
                )
            )
            continue
        claimed[target.latents] = file
        targets.append(target)
    inputs = [folder for found in folders.values() for folder in found]
    for folder in inputs:
        inside = [place for place in [output, *{t.latents.parent for t in targets}] if place.is_relative_to(folder)]
        if inside:
            command_line.append(
                Diagnostic(
                    codes.RUN_SETTING,
                    f"`--output {options.output}` would write into the input folder `{folder}`",
                    None,
                    path=COMMAND_LINE,
                    help="choose an output folder outside every dataset folder",
                )
            )
            break
    if not options.overwrite:
        if options.format == "wds":
            existing = [path for dataset_id in folders for path in shard_paths(output, dataset_id)]
        else:
            existing = [path for target in targets for path in (target.latents, target.metadata) if path.exists()]
        if (output / CONFIG_NAME).exists():
            existing.append(output / CONFIG_NAME)
        if existing:
            command_line.append(
                Diagnostic(
                    codes.RUN_SETTING,
                    f"`{options.output}` already holds {len(existing)} of "
                    f"the files encode would write (first: `{existing[0]}`)",
                    None,
                    path=COMMAND_LINE,
                    help="pass `--force` to replace them, or choose another `--output`",
                )
            )
    results = []
    if dataset_found:
        results.append(_result(preflight.dataset.path, locate(preflight.dataset, dataset_found), preflight))
    if command_line:
        results.append(_result(COMMAND_LINE, command_line, preflight))
    if results:
        raise RunError(results)
    return targets


def _result(path: str, diagnostics: list[Diagnostic], preflight: Preflight) -> Any:
    from audiodiff.diagnostics.render import FileResult

    return FileResult(path, diagnostics, preflight.findings.lines.get(path, lambda number: None))


# --- checks --------------------------------------------------------------------------------------------------------


def _check(options: EncodeOptions) -> Preflight:
    findings = Findings()
    model, dataset = check_file(options.config), check_file(options.dataset, check_paths=False)
    for check in (model, dataset):
        findings.lines[check.path] = check.result().line
        findings.extend(check.path, list(check.diagnostics))
    preflight = Preflight(model, dataset, findings)
    model_spec = model.model_spec
    if findings.has_errors or model.spec is None or dataset.spec is None:
        raise RunError(findings.results())
    if model_spec is None or pretransform_of(model_spec) is None:
        findings.add(
            model.path,
            Diagnostic(
                codes.RUN_SETTING,
                "`encode` needs a model config with a `pretransform` to encode with",
                "/model",
                path=model.path,
            ),
        )
    elif not isinstance(dataset.spec, AudioDirDatasetSpec):
        findings.add(
            dataset.path,
            Diagnostic(
                codes.DATASET_UNSUPPORTED, "`encode` reads `audio_dir` datasets", "/dataset_type", path=dataset.path
            ),
        )
    else:
        findings.extend(model.path, locate(model, pretransform_problems(model_spec, options.pretransform_ckpt)))
        if not findings.has_errors:
            scan_dataset(preflight, options.allow_metadata_module, check_values=False)
    problem = folder_problem(Path(options.output))
    if problem is not None:
        findings.add(
            COMMAND_LINE,
            Diagnostic(
                codes.OUTPUT_WRITE_FAILED,
                f"`--output {options.output}` cannot hold the latents: {problem}",
                None,
                path=COMMAND_LINE,
            ),
        )
    if findings.has_errors:
        raise RunError(findings.results())
    return preflight
