"""`audiodiff encode CONFIG --dataset DATASET --output DIR`: latents of a dataset for `pre_encoded` training."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from audiodiff.cli.options import renamed


def command(
    config: Path = typer.Argument(..., help="The model config whose pretransform encodes the audio."),
    dataset: Path = typer.Option(..., "--dataset", "-d", help="An `audio_dir` dataset config."),
    output: Path = typer.Option(..., "--output", "-o", help="Folder for the latents and their dataset config."),
    batch_size: int = typer.Option(8, "--batch-size", "-b", min=1, help="Files encoded at once."),
    pretransform_ckpt: Path | None = typer.Option(
        None, "--pretransform-ckpt", help="Weights of an `autoencoder` pretransform."
    ),
    allow_metadata_module: bool = typer.Option(
        False, "--allow-metadata-module", help="Run the dataset's `custom_metadata_module` (Python code)."
    ),
    force: bool = typer.Option(False, "--force", help="Replace latents an earlier encode wrote there."),
    overwrite: bool = typer.Option(False, "--overwrite", hidden=True, help="Old name of `--force`."),
) -> None:
    """Encode a dataset through the model's pretransform, for `pre_encoded` training.

    Each file's first `sample_size` samples become `<dataset id>/<relpath>.npy` latents [channels, frames]
    (`a.wav` -> `a.wav.npy`; unscaled, as stable-audio-tools stores them) with `<relpath>.json` metadata;
    `DIR/dataset.json` is a ready dataset config. Existing files are never replaced without `--force`, and
    the output may not lie inside a dataset folder.

    Example: audiodiff encode model.json --dataset data.json --output latents/ --pretransform-ckpt ae.ckpt
    """
    force = renamed(force, overwrite, old="--overwrite", new="--force")
    raise typer.Exit(
        run_encode(
            config,
            dataset=dataset,
            output=output,
            batch_size=batch_size,
            pretransform_ckpt=pretransform_ckpt,
            allow_metadata_module=allow_metadata_module,
            overwrite=force,
        )
    )


def run_encode(
    config: Path,
    *,
    dataset: Path,
    output: Path,
    batch_size: int,
    pretransform_ckpt: Path | None,
    allow_metadata_module: bool,
    overwrite: bool = False,
) -> int:
    from audiodiff.diagnostics.render import text as text_renderer
    from audiodiff.runtime.encode import EncodeOptions, encode
    from audiodiff.runtime.run import RunError

    options = EncodeOptions(
        config=config,
        dataset=dataset,
        output=output,
        batch_size=batch_size,
        pretransform_ckpt=pretransform_ckpt,
        allow_metadata_module=allow_metadata_module,
        overwrite=overwrite,
    )
    try:
        written, config_path = encode(options)
    except RunError as error:
        sys.stderr.write(text_renderer.render(error.results))
        return 1
    print(
        f"wrote {written} latent files to {output}; train on them with `--dataset {config_path}` and "
        '`"pre_encoded": true` in the model\'s `training` section',
        file=sys.stderr,
    )
    return 0
