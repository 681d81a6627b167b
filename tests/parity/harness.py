"""The differential tester: draw configs, run each in the reference (one subprocess for the whole batch) and in
audiodiff with the reference's weights, compare, and classify every draw.

Per draw, audiodiff validates and builds the config and exports its own freshly initialised weights; the reference
builds the same config, loads that export strictly (the export direction), draws its own random weights, and
computes the call's outputs. audiodiff then loads the reference's weights strictly and computes the same call.

Outcomes:
- `agree`: both ran, every output within tolerance, and the export loaded strictly.
- `both_refuse`: audiodiff refused the draw (a validation error or a refusal at run time) and so did the reference.
- `reference_cannot_run`: audiodiff ran it, the reference failed: recorded, with the diagnostics audiodiff gave.
- `incomparable`: stochastic samplers whose noise the two draw from different sources (recorded, not compared).
- `disagree`: anything else: different numbers, a load failure, or audiodiff refusing what the reference runs.
  A disagreement is explained when `EXPLANATIONS` names the reference bug and the diagnostic that tells users.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from draw import Case, draw
from safetensors.torch import load_file, save_file

REPOSITORY = Path(__file__).resolve().parents[2]
RUNNER = Path(__file__).with_name("reference_runner.py")
DEFAULT_REFERENCE_PYTHON = REPOSITORY.parent / "refenv" / "bin" / "python"

# k-diffusion's SDE samplers draw their noise from a Brownian tree (torchsde), audiodiff from plain Gaussian draws:
# the same distribution, different numbers for the same seed
STOCHASTIC_DIFFERENT_SOURCE = frozenset({"dpmpp-2m-sde", "dpmpp-3m-sde"})

# option -> why the reference and audiodiff legitimately differ there, naming the reference bug and the
# diagnostic that tells users (filled from what the runs show; every entry is a documented quirk)
EXPLANATIONS: dict[str, str] = {}

# option -> why the reference cannot run draws with it, and what tells users (shown with `reference_cannot_run`)
RECORDED: dict[str, str] = {
    "dit.transformer_type=x-transformers": "the reference at 0.0.19 removed `x-transformers` (ValueError at "
    "build); audiodiff keeps it for checkpoints of older releases (AD318 warns, an error under the upstream target)",
    "fsq.num_codebooks=1": "the reference's `fsq` bottleneck rearranges token indices that lack the codebook axis "
    "when there is one codebook, so every encode fails (AD413 warns)",
}

FORWARD_TOLERANCE = 1e-4
SAMPLE_TOLERANCE = 1e-3  # tens of float32 model calls; adaptive step control amplifies rounding


def reference_python() -> Path | None:
    """The reference's interpreter: `AUDIODIFF_REFERENCE_PYTHON`, else `../refenv/bin/python` beside the clone."""
    configured = os.environ.get("AUDIODIFF_REFERENCE_PYTHON")
    path = Path(configured) if configured else DEFAULT_REFERENCE_PYTHON
    return path if path.is_file() else None


@dataclass
class Outcome:
    case: Case
    status: str
    detail: str = ""
    codes: list[str] = field(default_factory=list)
    max_error: float = 0.0


def _problems(case: Case) -> tuple[Any, list[str], list[str]]:
    from audiodiff.schema.validate import validate_data

    result = validate_data(case.config)
    errors = [f"{d.code.id} {d.pointer}: {d.message}" for d in result.diagnostics if d.is_error]
    return result.spec, errors, sorted({d.code.id for d in result.diagnostics})


def _prepare(case: Case, folder: Path) -> tuple[Any, Any, list[str], list[str], str]:
    """Validate and build on our side; export our weights. Returns (spec, model, errors, codes, build_error)."""
    from audiodiff.compiler.materialize import build_model
    from audiodiff.runtime.checkpoints import released_state_dict

    folder.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in case.inputs.items()}, str(folder / "inputs.safetensors"))
    spec, errors, codes = _problems(case)
    if errors:
        return spec, None, errors, codes, ""
    try:
        model = build_model(spec).eval()
    except Exception as error:  # noqa: BLE001 - a refusal is a finding, classified against the reference
        return spec, None, errors, codes, f"{type(error).__name__}: {error}"
    save_file({k: v.contiguous() for k, v in released_state_dict(model).items()}, str(folder / "ours.safetensors"))
    return spec, model, errors, codes, ""


# --- our side of the calls (mirrors reference_runner.CALLS) -------------------------------------------------------


def _conditioning(model, case: Case) -> dict:
    return dict(model.conditioning_tensors(case.metadata, "cpu")) if case.metadata else {}


def _call(model, case: Case, io: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    from audiodiff.nn.routing import Guidance
    from audiodiff.runtime.sampling import WANTS_UNGUIDED, SamplerSettings, sample

    if case.call == "conditioners":
        return {
            f"cond.{key}.{part}": (value if part == "value" else mask.float())
            for key, (value, mask) in _conditioning(model, case).items()
            for part in ("value", "mask")
        }
    if case.call == "denoise":
        guidance = (
            Guidance(cfg_scale=case.kwargs["cfg_scale"], rescale_cfg=case.kwargs["rescale_cfg"])
            if case.kwargs.get("guided")
            else Guidance()
        )
        return {"out": model(io["x"], io["t"], _conditioning(model, case), guidance=guidance)}
    if case.call == "uncond":
        return {"out": model(io["x"], io["t"])}
    if case.call == "autoencoder":
        seed = case.kwargs["seed"]
        outputs = {"pre_bottleneck": model.encode(io["audio"], skip_bottleneck=True)}
        torch.manual_seed(seed)
        latents = model.encode(io["audio"])
        outputs["latents"] = latents
        torch.manual_seed(seed + 1)
        outputs["decoded"] = model.decode(io["latents"])
        torch.manual_seed(seed + 2)
        outputs["reconstruction"] = model.decode(latents)
        return outputs
    kwargs = case.kwargs
    cond = _conditioning(model, case)
    unguided = kwargs["sampler"] in WANTS_UNGUIDED

    guidance = Guidance(cfg_scale=kwargs["cfg_scale"], rescale_cfg=True)

    def denoise(x: torch.Tensor, t: torch.Tensor):
        if unguided:
            return model.forward_with_unguided(x, t, cond, guidance=guidance)
        return model(x, t, cond, guidance=guidance)

    settings = SamplerSettings(
        kwargs["sampler"],
        steps=kwargs["steps"],
        sigma_min=kwargs["sigma_min"],
        sigma_max=kwargs["sigma_max"],
        rho=kwargs["rho"],
    )
    torch.manual_seed(kwargs["seed"])  # stochastic samplers draw from the global generator, as the reference
    return {"out": sample(denoise, io["noise"], objective=model.diffusion_objective, settings=settings)}


def _compare(case: Case, model, folder: Path, record: dict) -> Outcome:
    try:
        model.load_state_dict(load_file(folder / "weights.safetensors"), strict=True)
    except Exception as error:  # noqa: BLE001
        return Outcome(case, "disagree", f"the reference's weights do not load strictly: {error}"[:600])
    io = load_file(folder / "inputs.safetensors")
    try:
        with torch.no_grad():
            actual = _call(model, case, io)
    except Exception as error:  # noqa: BLE001
        return Outcome(
            case, "disagree", f"audiodiff failed where the reference ran: {type(error).__name__}: {error}"[:600]
        )
    expected = load_file(folder / "outputs.safetensors")
    tolerance = SAMPLE_TOLERANCE if case.call == "sample" else FORWARD_TOLERANCE
    worst, failures = 0.0, []
    for name, reference in expected.items():
        ours = actual.get(name)
        if ours is None or ours.shape != reference.shape:
            failures.append(f"{name}: shape {None if ours is None else tuple(ours.shape)} vs {tuple(reference.shape)}")
            continue
        difference = (ours.float() - reference).abs()
        excess = (difference - tolerance * (1 + reference.abs())).max().item() if difference.numel() else 0.0
        worst = max(worst, difference.max().item() if difference.numel() else 0.0)
        if excess > 0 or not torch.isfinite(ours).all():
            failures.append(f"{name}: max |diff| {difference.max().item():.3g}")
    if failures:
        return Outcome(case, "disagree", "; ".join(failures), max_error=worst)
    if record.get("export_load") != "ok":
        return Outcome(
            case,
            "disagree",
            f"our export does not load strictly into the reference: {record.get('export_load')}"[:600],
            max_error=worst,
        )
    return Outcome(case, "agree", max_error=worst)


def run(draws: int, *, base_seed: int = 0, python: Path | None = None, keep: Path | None = None) -> list[Outcome]:
    """Run `draws` draws; `keep` keeps the exchange folder (else a temporary one is removed)."""
    python = python or reference_python()
    if python is None:
        raise FileNotFoundError("no reference interpreter (set AUDIODIFF_REFERENCE_PYTHON)")
    folder = keep or Path(tempfile.mkdtemp(prefix="audiodiff-parity-"))
    torch.set_num_threads(1)
    try:
        prepared = []
        for index in range(draws):
            case = draw(index, base_seed)
            prepared.append((case, *_prepare(case, folder / case.name)))
        cases = [
            {
                "name": c.name,
                "seed": c.seed,
                "config": c.config,
                "call": c.call,
                "kwargs": c.kwargs,
                "metadata": c.metadata,
            }
            for c, *_ in prepared
        ]
        (folder / "cases.json").write_text(json.dumps(cases))
        completed = subprocess.run(
            [str(python), str(RUNNER), str(folder)],
            capture_output=True,
            text=True,
            timeout=3600,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        if completed.returncode != 0:
            raise RuntimeError(f"the reference runner failed:\n{completed.stderr[-4000:]}")
        results = json.loads((folder / "results.json").read_text())
        return [
            _classify(case, model, errors, codes, build_error, results[case.name], folder / case.name)
            for case, _spec, model, errors, codes, build_error in prepared
        ]
    finally:
        if keep is None:
            shutil.rmtree(folder, ignore_errors=True)


def _classify(
    case: Case, model, errors: list[str], codes: list[str], build_error: str, record: dict, folder: Path
) -> Outcome:
    reference_ok = record.get("status") == "ok"
    ours_refused = bool(errors or build_error)
    if ours_refused:
        why = "; ".join(errors) or build_error
        if not reference_ok:
            return Outcome(
                case, "both_refuse", f"ours: {why[:300]} | reference: {record.get('error', '')[:300]}", codes
            )
        return Outcome(case, "disagree", f"audiodiff refuses what the reference runs: {why[:600]}", codes)
    if not reference_ok:
        # the draw may still fail on our side at run time: then both refuse
        try:
            with torch.no_grad():
                _call(model, case, load_file(folder / "inputs.safetensors"))
        except Exception as error:  # noqa: BLE001
            return Outcome(
                case,
                "both_refuse",
                f"ours at run time: {type(error).__name__}: {error}"[:300]
                + f" | reference: {record.get('error', '')[:300]}",
                codes,
            )
        return Outcome(case, "reference_cannot_run", record.get("error", "")[:600], codes)
    if case.call == "sample" and case.kwargs["sampler"] in STOCHASTIC_DIFFERENT_SOURCE:
        return Outcome(case, "incomparable", "Brownian-tree noise in the reference, Gaussian draws here", codes)
    outcome = _compare(case, model, folder, record)
    outcome.codes = codes
    return outcome


def report(outcomes: list[Outcome]) -> str:
    counts = Counter(outcome.status for outcome in outcomes)
    lines = [
        f"parity: {len(outcomes)} draws: "
        + ", ".join(
            f"{counts[s]} {s}" for s in ("agree", "both_refuse", "reference_cannot_run", "incomparable", "disagree")
        )
    ]
    covered = Counter(option for outcome in outcomes if outcome.status == "agree" for option in outcome.case.options)
    lines.append("options seen agreeing: " + ", ".join(f"{k} ({v})" for k, v in sorted(covered.items())))
    lines.append("registered types never agreeing in these draws: " + ", ".join(_uncovered(covered)))
    for status in ("disagree", "reference_cannot_run", "both_refuse", "incomparable"):
        chosen = [o for o in outcomes if o.status == status]
        if not chosen:
            continue
        lines.append(f"--- {status} ({len(chosen)})")
        for outcome in chosen:
            notes = EXPLANATIONS if status == "disagree" else RECORDED
            explained = next((text for option, text in notes.items() if option in outcome.case.options), "")
            codes = f" [validate: {', '.join(outcome.codes)}]" if outcome.codes else ""
            lines.append(
                f"{outcome.case.name} options={','.join(outcome.case.options)}{codes}: {outcome.detail}"
                + (f"\n    explained: {explained}" if explained else "")
            )
    return "\n".join(lines)


_OPTION_PREFIX = {
    "backbone": "backbone",
    "uncond_backbone": "backbone",
    "conditioner": "conditioner",
    "encoder": "autoencoder",
    "decoder": "autoencoder",
    "bottleneck": "bottleneck",
}


def _uncovered(covered: Counter) -> list[str]:
    from audiodiff.compiler.registry import REGISTRY

    seen = {option.replace("(uncond)", "") for option in covered}
    missing = []
    for (kind, tag), entry in sorted(REGISTRY.items()):
        prefix = _OPTION_PREFIX.get(kind)
        if kind == "pretransform" or (prefix is not None and f"{prefix}={tag}" not in seen):
            missing.append(f"{kind}={tag}" + (f" ({entry.status})" if entry.status != "buildable" else ""))
    return missing


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="differential test against the reference implementation")
    parser.add_argument("--draws", type=int, default=int(os.environ.get("PARITY_DRAWS", "500")))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, default=None, help="keep the exchange folder here")
    arguments = parser.parse_args(argv)
    python = reference_python()
    if python is None:
        print(
            "parity: skipped: no reference environment (make one with ../shared/tools/reference-env.sh and "
            "point AUDIODIFF_REFERENCE_PYTHON at its python)"
        )
        return 0
    outcomes = run(arguments.draws, base_seed=arguments.seed, python=python, keep=arguments.keep)
    print(report(outcomes))
    unexplained = [
        o for o in outcomes if o.status == "disagree" and not any(option in EXPLANATIONS for option in o.case.options)
    ]
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
