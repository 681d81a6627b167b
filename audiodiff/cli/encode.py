"""`audiodiff encode CONFIG --dataset DATASET --output DIR`: latents of a dataset for `pre_encoded` training."""

from __future__ import annotations

import sys
from pathlib import Path


def run_encode(config: Path, *, dataset: Path, output: Path, batch_size: int, pretransform_ckpt: Path | None,
               allow_metadata_module: bool, overwrite: bool = False) -> int:
    from audiodiff.diagnostics.render import text as text_renderer
    from audiodiff.runtime.encode import EncodeOptions, encode
    from audiodiff.runtime.run import RunError

    options = EncodeOptions(config=config, dataset=dataset, output=output, batch_size=batch_size,
                            pretransform_ckpt=pretransform_ckpt, allow_metadata_module=allow_metadata_module,
                            overwrite=overwrite)
    try:
        written, config_path = encode(options)
    except RunError as error:
        sys.stderr.write(text_renderer.render(error.results))
        return 1
    print(f"wrote {written} latent files to {output}; train on them with `--dataset {config_path}` and "
          "`\"pre_encoded\": true` in the model's `training` section", file=sys.stderr)
    return 0
