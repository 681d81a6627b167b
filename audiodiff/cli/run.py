"""`audiodiff run CONFIG --dataset DATASET`: train a diffusion model; problems are reported as diagnostics."""

from __future__ import annotations

import sys
from pathlib import Path


def run_training(config: Path, *, dataset: Path, output: Path | None, max_steps: int | None, batch_size: int,
                 precision: str | None, devices: int, num_nodes: int, strategy: str, resume: bool,
                 force_resume: bool, seed: int, logger: str | None, checkpoint_every: int, keep_checkpoints: int,
                 num_workers: int | None, accumulate_grad_batches: int, gradient_clip_val: float | None,
                 allow_metadata_module: bool, pretransform_ckpt: Path | None, t5_path: str | None,
                 accelerator: str, gradient_checkpointing: str = "auto") -> int:
    from audiodiff.diagnostics.render import text as text_renderer
    from audiodiff.runtime.run import RunError, RunOptions, run

    options = RunOptions(
        config=config, dataset=dataset, output=output if output is not None else Path("runs") / config.stem,
        max_steps=max_steps, batch_size=batch_size, precision=precision, devices=devices, num_nodes=num_nodes,
        strategy=strategy, resume=resume, force_resume=force_resume, seed=seed, logger=logger,
        checkpoint_every=checkpoint_every, keep_checkpoints=keep_checkpoints, num_workers=num_workers,
        accumulate_grad_batches=accumulate_grad_batches, gradient_clip_val=gradient_clip_val,
        allow_metadata_module=allow_metadata_module, pretransform_ckpt=pretransform_ckpt, t5_path=t5_path,
        accelerator=accelerator, gradient_checkpointing=gradient_checkpointing,
    )
    try:
        outcome = run(options)
    except RunError as error:
        sys.stderr.write(text_renderer.render(error.results))
        return 1
    from audiodiff.runtime.launch import format_outcome
    from audiodiff.runtime.run import is_rank_zero

    if is_rank_zero():
        print(format_outcome(outcome), file=sys.stderr)
    return 0

