"""`audiodiff encode`: run an `audio_dir` dataset through the model's pretransform once, so training can read
latents instead of encoding audio at every step (`pre_encoded`, spec §5.6).

Each file's first `sample_size` samples (zero-padded when shorter) become `<relpath>.npy`, float32 [C, L]: the
encoder's unscaled output (latents times the pretransform's `scale`), as upstream's `pre_encode.py` stores them;
training divides by `scale` again. Beside each is `<relpath>.json` with the file's metadata, `seconds_start`,
`seconds_total` and the padding mask at latent resolution. `DIR/dataset.json` is a dataset config for them.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from audiodiff.compiler.pipeline import check_file, locate
from audiodiff.diagnostics import codes
from audiodiff.diagnostics.model import Diagnostic
from audiodiff.runtime.atomic import write_bytes_atomic, write_text_atomic
from audiodiff.runtime.data import AudioDataset
from audiodiff.runtime.preflight import Preflight, _scan_dataset, pretransform_problems
from audiodiff.runtime.run import RunError
from audiodiff.schema.v1.dataset import AudioDirDatasetSpec
from audiodiff.schema.versions import LATEST_VERSION
from audiodiff.schema.views import pretransform_of


@dataclass(frozen=True)
class EncodeOptions:
    config: Path
    dataset: Path
    output: Path
    batch_size: int = 8
    pretransform_ckpt: Path | None = None
    allow_metadata_module: bool = False


def encode(options: EncodeOptions) -> tuple[int, Path]:
    """Returns (files written, path of the dataset config for them)."""
    preflight = _check(options)
    spec = preflight.spec
    from audiodiff.runtime.launch import _build
    from audiodiff.runtime.run import RunOptions

    model = _build(spec, RunOptions(config=options.config, dataset=options.dataset, output=options.output,
                                    pretransform_ckpt=options.pretransform_ckpt), preflight)
    pretransform = model.pretransform
    device = "cuda" if torch.cuda.is_available() else "cpu"
    pretransform.to(device).eval()
    scale = float(getattr(pretransform, "scale", 1.0))
    dataset = AudioDataset(preflight.scan.files, sample_rate=spec.sample_rate, sample_size=spec.sample_size,
                           channels=spec.audio_channels, random_crop=False, metadata_module=preflight.metadata_module)
    output = Path(options.output)
    written = 0
    latent_length = None
    for first in range(0, len(dataset), options.batch_size):
        items = [dataset[index] for index in range(first, min(first + options.batch_size, len(dataset)))]
        audio = torch.stack([item[0] for item in items]).to(device)  # [B, C, T]
        with torch.inference_mode():
            latents = (pretransform.encode(audio) * scale).float().cpu()  # [B, C_lat, L], unscaled
        latent_length = latents.shape[-1]
        for (_, info, _), item_latents in zip(items, latents):
            mask = F.interpolate(info["padding_mask"][None, None], size=latent_length, mode="nearest")[0, 0]
            target = output / Path(info["relpath"]).with_suffix(".npy")
            buffer = io.BytesIO()
            np.save(buffer, item_latents.numpy())
            write_bytes_atomic(target, buffer.getvalue())
            metadata = {key: value for key, value in info.items() if _is_json(value) and key != "stream_position"}
            metadata["padding_mask"] = [int(v) for v in mask.tolist()]
            write_text_atomic(target.with_suffix(".json"), json.dumps(metadata))
            written += 1
    config_path = output / "dataset.json"
    dataset_config = {
        "schema_version": LATEST_VERSION,
        "dataset_type": "pre_encoded",
        "datasets": [{"id": "latents", "path": str(output.resolve())}],
        "latent_crop_length": latent_length,
        "random_crop": False,
    }
    write_text_atomic(config_path, json.dumps(dataset_config, indent=2) + "\n")
    return written, config_path


def _is_json(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _check(options: EncodeOptions) -> Preflight:
    from audiodiff.runtime.preflight import Findings

    findings = Findings()
    model, dataset = check_file(options.config), check_file(options.dataset, check_paths=False)
    for check in (model, dataset):
        findings.lines[check.path] = check.result().line
        findings.extend(check.path, list(check.diagnostics))
    preflight = Preflight(model, dataset, findings)
    if findings.has_errors or model.spec is None or dataset.spec is None:
        raise RunError(findings.results())
    if model.kind != "model" or pretransform_of(model.spec) is None:
        findings.add(model.path, Diagnostic(codes.RUN_SETTING, "`encode` needs a model config with a "
                                            "`pretransform` to encode with", "/model", path=model.path))
    elif not isinstance(dataset.spec, AudioDirDatasetSpec):
        findings.add(dataset.path, Diagnostic(codes.DATASET_UNSUPPORTED, "`encode` reads `audio_dir` datasets",
                                              "/dataset_type", path=dataset.path))
    else:
        findings.extend(model.path, locate(model, pretransform_problems(model.spec, options.pretransform_ckpt)))
        if not findings.has_errors:
            _scan_dataset(preflight, options.allow_metadata_module, check_values=False)
    if findings.has_errors:
        raise RunError(findings.results())
    return preflight
