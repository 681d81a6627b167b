"""Runs `audiodiff run` with two CPU processes (DDP over gloo) and makes each rank report what it trained on, at
which diffusion times, and with which weights it ended. Lightning starts the second rank by running this file
again, so the recording hooks below are in place on both ranks.

    python tests/runtime/ddp_driver.py MODEL DATASET OUTPUT REPORTS [--nodes N] [--steps S] [--workers W]

With `--nodes N` each process is one node of one device (Lightning reads NODE_RANK, MASTER_ADDR, ... from the
environment), as a multi-node run is started by hand or by a cluster scheduler; `--workers` sets the data-loader
workers of each process.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from audiodiff.runtime import training
from audiodiff.runtime.run import RunOptions, run


def main() -> None:
    model, dataset, output, reports = (Path(argument) for argument in sys.argv[1:5])

    def flag(name: str, default: int) -> int:
        return int(sys.argv[sys.argv.index(name) + 1]) if name in sys.argv else default

    nodes, steps, workers = flag("--nodes", 1), flag("--steps", 3), flag("--workers", 0)
    seen: list[list[str]] = []
    paths: list[list[str]] = []
    times: list[list[float]] = []
    original_step = training.DiffusionTrainer.training_step
    original_loss = training.DiffusionTrainer.compute_loss

    def recording_step(self, batch, batch_idx):
        seen.append([item["relpath"] for item in batch.metadata])
        paths.append([item["path"] for item in batch.metadata])
        return original_step(self, batch, batch_idx)

    def recording_loss(self, batch, **kwargs):
        loss, per_item, t = original_loss(self, batch, **kwargs)
        times.append(t.tolist())
        return loss, per_item, t

    def report(self):
        state = {key: value.detach().cpu().clone() for key, value in self.state_dict().items()}
        reports.mkdir(parents=True, exist_ok=True)
        torch.save(
            {
                "state": state,
                "seen": seen,
                "paths": paths,
                "times": times,
                "world": self.trainer.world_size,
                "step": self.trainer.global_step,
            },
            reports / f"rank{self.global_rank}.pt",
        )

    training.DiffusionTrainer.training_step = recording_step
    training.DiffusionTrainer.compute_loss = recording_loss
    training.DiffusionTrainer.on_train_end = report
    run(
        RunOptions(
            config=model,
            dataset=dataset,
            output=output,
            max_steps=steps,
            num_workers=workers,
            batch_size=2,
            devices=2 if nodes == 1 else 1,
            num_nodes=nodes,
            strategy="ddp",
            logger="csv",
            checkpoint_every=steps,
            seed=11,
            progress=False,
        )
    )


if __name__ == "__main__":
    main()
