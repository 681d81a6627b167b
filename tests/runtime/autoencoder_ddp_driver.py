"""Runs `audiodiff run` on an autoencoder config with two CPU processes (DDP over gloo) and makes each rank report
which clips it trained on and the state it ended with: the module's weights (autoencoder, discriminator, EMA, loss
weights) and both optimizers' moments. Lightning starts the second rank by running this file again, so the
recording hooks below are in place on both ranks.

    python tests/runtime/autoencoder_ddp_driver.py MODEL DATASET OUTPUT REPORTS [--steps S] [--resume]
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from audiodiff.runtime import autoencoder_training
from audiodiff.runtime.run import RunOptions, run


def main() -> None:
    model, dataset, output, reports = (Path(argument) for argument in sys.argv[1:5])
    steps = int(sys.argv[sys.argv.index("--steps") + 1]) if "--steps" in sys.argv else 4
    seen: list[list[str]] = []
    trainer_class = autoencoder_training.AutoencoderTrainer
    original_step = trainer_class.training_step

    def recording_step(self, batch, batch_idx):
        seen.append([item["relpath"] for item in batch.metadata])
        return original_step(self, batch, batch_idx)

    def report(self):
        optimizers = self.optimizers()
        reports.mkdir(parents=True, exist_ok=True)
        torch.save(
            {
                "state": {key: value.detach().cpu().clone() for key, value in self.state_dict().items()},
                "optimizers": [optimizer.optimizer.state_dict() for optimizer in optimizers],
                "seen": seen,
                "world": self.trainer.world_size,
                "step": self.trainer.global_step,
            },
            reports / f"rank{self.global_rank}.pt",
        )

    trainer_class.training_step = recording_step
    trainer_class.on_train_end = report
    run(
        RunOptions(
            config=model,
            dataset=dataset,
            output=output,
            max_steps=steps,
            num_workers=0,
            batch_size=2,
            devices=2,
            strategy="ddp",
            logger="csv",
            checkpoint_every=2,
            keep_checkpoints=10,
            seed=11,
            progress=False,
            resume="--resume" in sys.argv,
        )
    )


if __name__ == "__main__":
    main()
