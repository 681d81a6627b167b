"""Runs drawn parity cases in the reference implementation (stable-audio-tools at 50049e3).

This file runs under the reference's own interpreter (`AUDIODIFF_REFERENCE_PYTHON`), never under audiodiff's: it
imports only torch, safetensors and stable_audio_tools. It reads `cases.json` from the folder given on the command
line and, for every case, in one process:

1. builds the model from the case's config (a failure is recorded as `build_error`, with the message);
2. loads audiodiff's exported weights `<case>/ours.safetensors` strictly (the export direction; recorded);
3. gives every floating parameter seeded random values (the golden fixtures' scales) and makes the codebooks of
   EMA vector quantizers look trained, then writes the full state dict to `<case>/weights.safetensors`;
4. performs the case's call on `<case>/inputs.safetensors` and writes `<case>/outputs.safetensors` (a failure is
   recorded as `run_error`).

`results.json` holds one record per case. Nothing here decides agreement: the audiodiff side compares.
"""

from __future__ import annotations

import json
import math
import sys
import time
import traceback
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file


def randomise(model: torch.nn.Module, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)

    def normal(shape: torch.Size) -> torch.Tensor:
        return torch.randn(shape, generator=generator)

    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if not parameter.is_floating_point():
                continue
            leaf = name.rsplit(".", 1)[-1]
            if leaf == "weight_g":
                value = 0.7 * (1 + 0.1 * normal(parameter.shape))
            elif leaf in ("alpha", "beta") and parameter.dim() == 1 and "norm" not in name:
                value = 1 + 0.1 * normal(parameter.shape)  # snake: positive either as a scale or a log-scale
            elif parameter.dim() >= 2:
                value = normal(parameter.shape) / math.sqrt(max(1, parameter[0].numel()))
            elif leaf == "bias" or leaf == "beta":
                value = 0.02 * normal(parameter.shape)
            elif leaf in ("weight", "gamma", "scale", "g") or "norm" in name:
                value = 1 + 0.1 * normal(parameter.shape)
            else:
                value = normal(parameter.shape)
            parameter.copy_(value)
        for name, buffer in model.named_buffers():
            # vector-quantize-pytorch EMA codebooks: random codes, marked initialised so eval never runs k-means
            if name.endswith("_codebook.embed"):
                buffer.copy_(normal(buffer.shape))
            elif name.endswith("_codebook.initted"):
                buffer.fill_(1)
            elif name.endswith("_codebook.cluster_size"):
                buffer.fill_(1)
        for name, buffer in model.named_buffers():
            if name.endswith("_codebook.embed_avg"):
                buffer.copy_(dict(model.named_buffers())[name.removesuffix("_avg")])


def conditioning(model, metadata):
    return model.conditioner(metadata, "cpu") if metadata else {}


def run_conditioners(model, case, io):
    outputs = {}
    for key, (value, mask) in conditioning(model, case["metadata"]).items():
        outputs[f"cond.{key}.value"] = value
        outputs[f"cond.{key}.mask"] = mask.float()
    return outputs


def _guidance(case):
    return (
        dict(
            cfg_scale=case["kwargs"].get("cfg_scale", 1.0),
            cfg_dropout_prob=0.0,
            batch_cfg=True,
            rescale_cfg=case["kwargs"].get("rescale_cfg", False),
        )
        if case["kwargs"].get("guided")
        else {}
    )


def run_denoise(model, case, io):
    cond = conditioning(model, case["metadata"])
    for name, tensor in io.items():
        if name.startswith("extra."):
            cond[name.removeprefix("extra.")] = [tensor, None]
    return {"out": model(io["x"], io["t"], cond, **_guidance(case))}


def run_uncond(model, case, io):
    return {"out": model(io["x"], io["t"])}


def run_autoencoder(model, case, io):
    seed = case["kwargs"]["seed"]
    outputs = {"pre_bottleneck": model.encode(io["audio"], skip_bottleneck=True)}
    torch.manual_seed(seed)
    latents = model.encode(io["audio"])
    outputs["latents"] = latents
    torch.manual_seed(seed + 1)
    outputs["decoded"] = model.decode(io["latents"])
    torch.manual_seed(seed + 2)
    outputs["reconstruction"] = model.decode(latents)
    return outputs


def run_sample(model, case, io):
    from stable_audio_tools.inference.sampling import sample_k, sample_rf

    kwargs = case["kwargs"]
    cond = conditioning(model, case["metadata"])
    inputs = model.get_conditioning_inputs(cond)
    guidance = dict(cfg_scale=kwargs["cfg_scale"], batch_cfg=True, rescale_cfg=True)
    torch.manual_seed(kwargs["seed"])
    if model.diffusion_objective == "v":
        out = sample_k(
            model.model,
            io["noise"],
            steps=kwargs["steps"],
            sampler_type=kwargs["sampler"],
            sigma_min=kwargs["sigma_min"],
            sigma_max=kwargs["sigma_max"],
            rho=kwargs["rho"],
            device="cpu",
            **inputs,
            **guidance,
        )
    else:
        out = sample_rf(
            model.model,
            io["noise"],
            steps=kwargs["steps"],
            sampler_type=kwargs["sampler"],
            sigma_max=kwargs["sigma_max"],
            device="cpu",
            **inputs,
            **guidance,
        )
    return {"out": out}


CALLS = {
    "conditioners": run_conditioners,
    "denoise": run_denoise,
    "uncond": run_uncond,
    "autoencoder": run_autoencoder,
    "sample": run_sample,
}


def main(folder: Path) -> None:
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    from stable_audio_tools.models.factory import create_model_from_config

    torch.set_num_threads(1)
    cases = json.loads((folder / "cases.json").read_text())
    results = {}
    for case in cases:
        started = time.perf_counter()
        record: dict = {}
        results[case["name"]] = record
        where = folder / case["name"]
        try:
            model = create_model_from_config(case["config"]).eval()
        except Exception as error:  # noqa: BLE001 - any failure is the finding
            record.update(status="build_error", error=f"{type(error).__name__}: {error}")
            continue
        ours = where / "ours.safetensors"
        if ours.is_file():
            try:
                model.load_state_dict(load_file(ours), strict=True)
                record["export_load"] = "ok"
            except Exception as error:  # noqa: BLE001
                record["export_load"] = f"{type(error).__name__}: {error}"[:2000]
        randomise(model, case["seed"])
        save_file(
            {k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(where / "weights.safetensors")
        )
        record["buffers"] = sorted(name for name, _ in model.named_buffers() if name in model.state_dict())
        io = load_file(where / "inputs.safetensors")
        try:
            with torch.no_grad():
                outputs = CALLS[case["call"]](model, case, io)
            save_file(
                {k: v.detach().float().contiguous() for k, v in outputs.items()}, str(where / "outputs.safetensors")
            )
            record["status"] = "ok"
        except Exception as error:  # noqa: BLE001
            record.update(
                status="run_error", error=f"{type(error).__name__}: {error}", trace=traceback.format_exc(limit=-3)
            )
        record["seconds"] = round(time.perf_counter() - started, 3)
    (folder / "results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
