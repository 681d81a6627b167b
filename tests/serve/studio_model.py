"""A small conditioned model for the studio tests: the shipped example's architecture made tinier, with random
weights written as a released checkpoint that embeds its config (no training needed to test the page's plumbing)."""

from __future__ import annotations

import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "toy_dit.json"


def tiny_config() -> dict:
    config = json.loads(EXAMPLE.read_text())
    dit = config["model"]["diffusion"]["config"]
    dit.update(embed_dim=64, depth=1, num_heads=2)
    return config


def inpaint_config() -> dict:
    """`tiny_config` as an inpainting model: the mask and the known latents on `input_concat_ids`."""
    config = tiny_config()
    config["model_type"] = "diffusion_cond_inpaint"
    diffusion = config["model"]["diffusion"]
    diffusion["input_concat_ids"] = ["inpaint_mask", "inpaint_masked_input"]
    diffusion["config"]["input_concat_dim"] = diffusion["config"]["io_channels"] + 1
    config["training"]["inpainting"] = {"mask_kwargs": {}}
    return config


def write_model(folder: Path, config: dict | None = None) -> tuple[Path, Path]:
    """(config path, checkpoint path) of a random-weights model."""
    import torch

    from audiodiff.compiler.materialize import build_model
    from audiodiff.compiler.pipeline import check_file
    from audiodiff.runtime.checkpoints import write_released

    config = config or tiny_config()
    config_path = folder / "model.json"
    config_path.write_text(json.dumps(config, indent=2))
    check = check_file(config_path)
    assert check.spec is not None and not check.has_errors, [d.message for d in check.diagnostics]
    torch.manual_seed(0)
    model = build_model(check.spec)
    checkpoint = folder / "model.safetensors"
    write_released(checkpoint, model.state_dict(), config=config, schema_version=config.get("schema_version", 1))
    return config_path, checkpoint
