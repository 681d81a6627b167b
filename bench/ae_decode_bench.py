"""Chunked autoencoder decode on CPU, ours beside the reference in the same run: `configs.SMALL_VAE` (a stereo
oobleck VAE, 32 latent channels at 1/256), 30 s of latents at 44.1 kHz decoded in overlapped chunks of 128 latents
(overlap 32) as `decode_audio(chunked=True)` does on both sides, with the same weights (released layout, strict).

    python bench/ae_decode_bench.py [--repeats 3] [--threads 1] [--seconds 30] [--no-reference]
"""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path

import torch
from configs import SMALL_VAE
from reference import Comparison, Timing, interleave, print_table, reference_worker, timed

from audiodiff.compiler.materialize import build_model
from audiodiff.runtime.checkpoints import write_released
from audiodiff.schema.validate import validate_data

CHUNK, OVERLAP = 128, 32


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads on each side (default 1)")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of audio decoded")
    parser.add_argument("--no-reference", action="store_true", help="measure ours only")
    arguments = parser.parse_args(argv)
    torch.set_num_threads(arguments.threads)
    result = validate_data(SMALL_VAE)
    assert result.ok, result.diagnostics
    ratio = SMALL_VAE["model"]["downsampling_ratio"]
    frames = max(CHUNK, math.ceil(arguments.seconds * SMALL_VAE["sample_rate"] / ratio))
    shape = [1, SMALL_VAE["model"]["latent_dim"], frames]
    torch.manual_seed(0)
    model = build_model(result.spec).eval()
    latents = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    print(
        f"torch {torch.__version__}, {arguments.threads} thread(s) each side; {frames} latents "
        f"({frames * ratio / SMALL_VAE['sample_rate']:.1f} s), chunks of {CHUNK} with overlap {OVERLAP}"
    )

    def ours(chunked: bool = True) -> Timing:
        with torch.inference_mode(), timed() as box:
            model.decode_audio(latents, chunked=chunked, chunk_size=CHUNK, overlap=OVERLAP)
        return box[0]

    with (
        tempfile.TemporaryDirectory() as scratch,
        reference_worker(arguments.threads, enabled=not arguments.no_reference) as reference,
    ):
        theirs = None
        if reference is not None:
            weights = Path(scratch) / "vae.safetensors"
            write_released(weights, model.state_dict(), config=SMALL_VAE, schema_version=1)
            reference.call("build", name="vae", config=SMALL_VAE, weights=str(weights))

            def theirs() -> Timing:
                answer = reference.call(
                    "decode", name="vae", latents_shape=shape, seed=0, chunked=True, chunk_size=CHUNK, overlap=OVERLAP
                )
                return Timing(answer["wall"], answer["cpu"])

            theirs()
        ours()
        comparison = interleave(Comparison("chunked decode"), ours, theirs, arguments.repeats)
    print_table("Autoencoder decode on CPU (median of alternating runs)", [comparison], baseline=theirs is not None)


if __name__ == "__main__":
    main()
