"""`run --set`: the model that trains, the checkpoint's embedded config and the logger's hparams.yaml are all the
effective (overridden) config, not the file's."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from toy_run import options, write_configs

from audiodiff.runtime.checkpoint_io import read_training_checkpoint
from audiodiff.runtime.run import run
from audiodiff.schema.overrides import parse


@pytest.mark.slow
def test_the_checkpoint_and_hparams_carry_the_effective_config(tmp_path: Path) -> None:
    model, dataset = write_configs(tmp_path)
    overrides = tuple(parse(["model.diffusion.config.depth=2", "training.cfg_dropout_prob=0.2"]))
    output = tmp_path / "run"
    run(options(model, dataset, output, max_steps=2, overrides=overrides), echo=lambda text: None)
    payload = read_training_checkpoint(output / "checkpoints" / "step_0000002.ckpt")
    assert payload["model_config"]["model"]["diffusion"]["config"]["depth"] == 2
    assert payload["model_config"]["training"]["cfg_dropout_prob"] == 0.2
    assert any(".transformer.layers.1." in key for key in payload["state_dict"])
    (hparams,) = output.rglob("hparams.yaml")
    saved = yaml.safe_load(hparams.read_text())
    assert saved["model_config"]["model"]["diffusion"]["config"]["depth"] == 2
    assert saved["overrides"] == ["model.diffusion.config.depth=2", "training.cfg_dropout_prob=0.2"]
