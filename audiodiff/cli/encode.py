"""`audiodiff encode CONFIG --dataset DATASET --output DIR`: latents of a dataset for `pre_encoded` training."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from audiodiff.cli.options import LatentFormat, renamed


def command(
    config: Path = typer.Argument(..., help="The model config whose pretransform encodes the audio."),
    dataset: Path = typer.Option(..., "--dataset", "-d", help="An `audio_dir` dataset config."),
    output: Path = typer.Option(..., "--output", "-o", help="Folder for the latents and their dataset config."),
    batch_size: int = typer.Option(8, "--batch-size", "-b", min=1, max=1_000_000, help="Files encoded at once."),
    pretransform_ckpt: Path | None = typer.Option(
        None, "--pretransform-ckpt", help="Weights of an `autoencoder` pretransform."
    ),
    allow_metadata_module: bool = typer.Option(
        False, "--allow-metadata-module", help="Run the dataset's `custom_metadata_module` (Python code)."
    ),
    format: LatentFormat = typer.Option(
        LatentFormat.npy, "--format", help="`npy`: a file per clip (`pre_encoded`); `wds`: WebDataset tar shards."
    ),
    shard_size: int = typer.Option(1000, "--shard-size", min=1, max=10**9, help="Clips per shard (`--format wds`)."),
    force: bool = typer.Option(False, "--force", help="Replace latents an earlier encode wrote there."),
    overwrite: bool = typer.Option(False, "--overwrite", hidden=True, help="Old name of `--force`."),
) -> None:
    """Encode a dataset through the model's pretransform, for `pre_encoded` training.

    Each file's first `sample_size` samples become `<dataset id>/<relpath>.npy` latents [channels, frames]
    (`a.wav` -> `a.wav.npy`; unscaled, as stable-audio-tools stores them) with `<relpath>.json` metadata;
    `DIR/dataset.json` is a ready dataset config. With `--format wds` they go into
    `<dataset id>/<dataset id>-000000.tar`, ... shards of `--shard-size` clips (an `npy` and a `json` member
    each), and `DIR/dataset.json` is a `wds` config with `pre_encoded`. Existing files are never replaced
    without `--force`, and the output may not lie inside a dataset folder.

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
            format=format.value,
            shard_size=shard_size,
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
    format: str = "npy",
    shard_size: int = 1000,
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
        format=format,
        shard_size=shard_size,
    )
    try:
        written, config_path = encode(options)
    except RunError as error:
        sys.stderr.write(text_renderer.render(error.results))
        return 1
    what = "clips' latents into shards" if format == "wds" else "latent files"
    print(
        f"wrote {written} {what} to {output}; train on them with `--dataset {config_path}` and "
        '`"pre_encoded": true` in the model\'s `training` section',
        file=sys.stderr,
    )
    return 0
