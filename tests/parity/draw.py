"""Seeded random draws of small model configs over the registered types and their options, each with the call that
exercises it (the calls of ../shared/golden/README.md §4) and its inputs.

A draw is a `Case`: a full config, the call, its kwargs and metadata, the input tensors, and `options`, the
`name=value` strings that say which registered types and option values it covers (the report groups results by
them). Draws are tiny (tens of thousands of parameters, sequences of 8-64 steps) so hundreds run in minutes.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class Case:
    name: str
    seed: int
    family: str
    config: dict[str, Any]
    call: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    metadata: list[dict[str, Any]] = field(default_factory=list)
    inputs: dict[str, torch.Tensor] = field(default_factory=dict)
    options: list[str] = field(default_factory=list)


V_SAMPLERS = [
    "k-heun",
    "k-lms",
    "k-dpmpp-2s-ancestral",
    "k-dpm-2",
    "k-dpm-fast",
    "k-dpm-adaptive",
    "dpmpp-2m-sde",
    "dpmpp-3m-sde",
    "dpmpp-2m",
    "v-ddim",
    "v-ddim-cfgpp",
]
FLOW_SAMPLERS = ["euler", "rk4", "dpmpp", "pingpong"]
BOTTLENECKS = [
    "vae",
    "tanh",
    "l2_norm",
    "wasserstein",
    "fsq",
    "dithered_fsq",
    "dac_rvq",
    "dac_rvq_vae",
    "rvq",
    "rvq_vae",
    None,
]
HALVING = {"vae", "dac_rvq_vae", "rvq_vae"}


def _root(model_type: str, model: dict[str, Any], sample_size: int, channels: int = 1) -> dict[str, Any]:
    return {
        "model_type": model_type,
        "sample_rate": 16000,
        "sample_size": sample_size,
        "audio_channels": channels,
        "model": model,
        "training": {"learning_rate": 1e-4},
    }


# --- conditioners -------------------------------------------------------------------------------------------------


def _conditioners(rng: random.Random, count: int, options: list[str]) -> tuple[list[dict], list[str]]:
    configs, ids = [], []
    for index in range(count):
        kind = rng.choice(["number", "int", "list"])
        conditioner_id = f"{kind}{index}"
        if kind == "number":
            low = rng.choice([0.0, -1.0, 10.0])
            config = {"min_val": low, "max_val": low + rng.choice([1.0, 60.0])}
        elif kind == "int":
            low = rng.choice([0, 0, 0, 3])
            config = {"min_val": low, "max_val": low + rng.choice([4, 20])}
            options.append(f"int.min_val={'0' if low == 0 else '>0'}")
        else:
            config = {"options": rng.sample(["a", "b", "c", "d", "e"], rng.randint(1, 4))}
        if rng.random() < 0.2:
            config["output_dim"] = rng.choice([8, 16])
            options.append(f"{kind}.output_dim")
        configs.append({"id": conditioner_id, "type": kind, "config": config})
        ids.append(conditioner_id)
        options.append(f"conditioner={kind}")
    return configs, ids


def _value(rng: random.Random, entry: dict) -> Any:
    config = entry["config"]
    if entry["type"] == "number":
        span = config["max_val"] - config["min_val"]
        value: Any = round(config["min_val"] + span * rng.uniform(-0.2, 1.2), 3)
    elif entry["type"] == "int":
        # inside the reference's indexable rows (0 .. max - min) after clamping; an offset range also clamps up
        value = rng.randint(config["min_val"] - 2, config["max_val"] - config["min_val"])
    else:
        value = rng.choice(config["options"] + ["zzz"])
    return [value] if rng.random() < 0.15 else value  # one-element lists unwrap


def _metadata(rng: random.Random, configs: list[dict], batch: int) -> list[dict]:
    return [{entry["id"]: _value(rng, entry) for entry in configs} for _ in range(batch)]


def _width(entry: dict, cond_dim: int) -> int:
    return entry["config"].get("output_dim", cond_dim)


# --- DiT ----------------------------------------------------------------------------------------------------------


def _dit_config(rng: random.Random, io: int, options: list[str]) -> dict[str, Any]:
    embed, heads = rng.choice([(64, 2), (64, 1), (32, 1)])
    config: dict[str, Any] = {
        "io_channels": io,
        "embed_dim": embed,
        "depth": rng.choice([1, 2]),
        "num_heads": heads,
        # `x-transformers` was removed upstream in 0.0.19: drawn rarely, recorded there
        "transformer_type": rng.choice(["continuous_transformer"] * 11 + ["x-transformers"]),
    }
    options.append(f"dit.transformer_type={config['transformer_type']}")
    if rng.random() < 0.4:
        config["patch_size"] = 2
        options.append("dit.patch_size=2")
    if config["transformer_type"] == "continuous_transformer":
        if rng.random() < 0.3:
            config["global_cond_type"] = "prepend"
            options.append("dit.global_cond_type=prepend")
        if rng.random() < 0.2:
            config["timestep_cond_type"] = "input_concat"
            config["timestep_embed_dim"] = 1
            options.append("dit.timestep_cond_type=input_concat")
        if rng.random() < 0.25:
            norm = rng.choice(["l2", "ln"])
            config["attn_kwargs"] = {"qk_norm": norm}
            options.append(f"dit.qk_norm={norm}")
        if rng.random() < 0.2:
            config["conformer"] = True
            options.append("dit.conformer")
        if rng.random() < 0.2 and embed >= 64:
            config["use_sinusoidal_emb"] = True
            options.append("dit.use_sinusoidal_emb")
    return config


def _dit_cond(rng: random.Random, io: int, options: list[str]) -> tuple[dict[str, Any], list[dict], bool]:
    cond_dim = rng.choice([8, 16])
    configs, ids = _conditioners(rng, rng.randint(1, 3), options)
    widths = {entry["id"]: _width(entry, cond_dim) for entry in configs}
    backbone = _dit_config(rng, io, options)
    diffusion: dict[str, Any] = {"type": "dit", "config": backbone}
    cross = [i for i in ids if rng.random() < 0.6]
    prepend = [i for i in ids if rng.random() < 0.3]
    global_ids = [i for i in ids if rng.random() < 0.4]
    if not (cross or prepend or global_ids):
        cross = ids[:1]
    if cross:
        diffusion["cross_attention_cond_ids"] = cross
        token_widths = {widths[i] for i in cross}
        if len(token_widths) > 1:  # tokens of different widths cannot be concatenated: one width for all
            cross = [i for i in cross if widths[i] == widths[cross[0]]]
            diffusion["cross_attention_cond_ids"] = cross
        backbone["cond_token_dim"] = widths[cross[0]]
        options.append("route=cross_attention")
    if prepend:
        prepend = [i for i in prepend if widths[i] == widths[prepend[0]]]
        diffusion["prepend_cond_ids"] = prepend
        backbone["prepend_cond_dim"] = widths[prepend[0]]
        options.append("route=prepend")
    if global_ids:
        diffusion["global_cond_ids"] = global_ids
        backbone["global_cond_dim"] = sum(widths[i] for i in global_ids)
        options.append("route=global")
    model = {"io_channels": io, "conditioning": {"cond_dim": cond_dim, "configs": configs}, "diffusion": diffusion}
    guided = bool(cross or prepend)
    return model, configs, guided


def draw_dit_denoise(rng: random.Random, case: Case) -> None:
    io, length = rng.choice([4, 8]), rng.choice([8, 16])
    model, configs, guided = _dit_cond(rng, io, case.options)
    objective = rng.choice(["v", "rectified_flow"])
    model["diffusion"]["diffusion_objective"] = objective
    case.config = _root("diffusion_cond", model, length)
    case.config["training"]["pre_encoded"] = True
    batch = rng.randint(1, 3)
    case.call = "denoise"
    case.metadata = _metadata(rng, configs, batch)
    scale = rng.choice([1.0, 1.0, 3.0]) if guided else 1.0
    case.kwargs = {"guided": True, "cfg_scale": scale, "rescale_cfg": False}
    case.options += [f"objective={objective}", f"cfg_scale={'1' if scale == 1 else '>1'}", "backbone=dit"]
    generator = torch.Generator().manual_seed(case.seed)
    case.inputs = {
        "x": torch.randn(batch, io, length, generator=generator),
        "t": torch.rand(batch, generator=generator),
    }


def draw_dit_uncond(rng: random.Random, case: Case) -> None:
    io, length = rng.choice([4, 8]), rng.choice([8, 16])
    backbone = _dit_config(rng, io, case.options)
    backbone["in_channels"] = backbone.pop("io_channels")
    case.config = _root("diffusion_uncond", {"type": "dit", "config": backbone}, length)
    case.call = "uncond"
    case.options.append("backbone=dit(uncond)")
    generator = torch.Generator().manual_seed(case.seed)
    batch = rng.randint(1, 3)
    case.inputs = {
        "x": torch.randn(batch, io, length, generator=generator),
        "t": torch.rand(batch, generator=generator),
    }


def draw_sample(rng: random.Random, case: Case) -> None:
    io, length = 4, 8
    model, configs, guided = _dit_cond(rng, io, case.options)
    objective = rng.choice(["v", "v", "rectified_flow"])
    model["diffusion"]["diffusion_objective"] = objective
    case.config = _root("diffusion_cond", model, length)
    case.config["training"]["pre_encoded"] = True
    sampler = rng.choice(V_SAMPLERS if objective == "v" else FLOW_SAMPLERS)
    steps = rng.choice([2, 3, 5, 8])
    if objective == "v":
        sigma_max = rng.choice([1.0, 10.0, 100.0]) if sampler not in ("v-ddim", "v-ddim-cfgpp") else 1.0
    else:
        sigma_max = 1.0
    case.call = "sample"
    case.metadata = _metadata(rng, configs, rng.randint(1, 2))
    case.kwargs = {
        "sampler": sampler,
        "steps": steps,
        "sigma_min": 0.01,
        "sigma_max": sigma_max,
        "rho": 1.0,
        "cfg_scale": rng.choice([1.0, 3.0]) if guided else 1.0,
        "seed": case.seed,
    }
    case.options += [f"sampler={sampler}", f"objective={objective}"]
    generator = torch.Generator().manual_seed(case.seed)
    case.inputs = {"noise": torch.randn(len(case.metadata), io, length, generator=generator)}


# --- U-Nets -------------------------------------------------------------------------------------------------------


def draw_unet(rng: random.Random, case: Case) -> None:
    kind = rng.choice(["adp_cfg_1d", "adp_1d", "adp_uncond_1d"])
    io, length = 4, rng.choice([16, 32])
    unet: dict[str, Any] = {
        "in_channels": io,
        "channels": 16,
        "multipliers": [1, 2, 2],
        "factors": [2, 2],
        "num_blocks": [1, 1],
        "attentions": [0, rng.choice([0, 1]), 1],
        "attention_heads": 2,
        "attention_multiplier": 2,
        "resnet_groups": rng.choice([4, 8]),
    }
    case.options.append(f"backbone={kind}")
    if rng.random() < 0.3:
        unet["use_nearest_upsample"] = True
        case.options.append(f"{kind}.use_nearest_upsample")
    if rng.random() < 0.3:
        unet["kernel_multiplier_downsample"] = 2
    generator = torch.Generator().manual_seed(case.seed)
    batch = rng.randint(1, 2)
    case.inputs = {
        "x": torch.randn(batch, io, length, generator=generator),
        "t": torch.rand(batch, generator=generator),
    }
    if kind == "adp_uncond_1d":
        unet["attention_features"] = 16
        case.config = _root("diffusion_uncond", {"type": kind, "config": unet}, length)
        case.call = "uncond"
        return
    cond_dim = 16
    configs, ids = _conditioners(rng, rng.randint(1, 2), case.options)
    configs = [dict(entry, config={k: v for k, v in entry["config"].items() if k != "output_dim"}) for entry in configs]
    diffusion: dict[str, Any] = {"type": kind, "config": unet}
    scale = 1.0
    if kind == "adp_cfg_1d":
        diffusion["cross_attention_cond_ids"] = ids
        unet.update(context_embedding_features=cond_dim, context_embedding_max_length=len(ids))
        if rng.random() < 0.5:
            diffusion["global_cond_ids"] = ids[:1]
            unet.update(context_features=cond_dim, use_context_time=True)
            case.options.append("route=global")
        scale = rng.choice([1.0, 3.0])
    else:
        diffusion["global_cond_ids"] = ids
        unet.update(context_features=cond_dim * len(ids))
    model = {"io_channels": io, "conditioning": {"cond_dim": cond_dim, "configs": configs}, "diffusion": diffusion}
    case.config = _root("diffusion_cond", model, length)
    case.config["training"]["pre_encoded"] = True
    case.call = "denoise"
    case.metadata = _metadata(rng, configs, batch)
    rescale = kind == "adp_cfg_1d" and rng.random() < 0.5
    case.kwargs = {"guided": kind == "adp_cfg_1d", "cfg_scale": scale, "rescale_cfg": rescale}
    if rescale:
        case.options.append("adp_cfg_1d.rescale_cfg")


# --- autoencoders -------------------------------------------------------------------------------------------------


def _bottleneck(rng: random.Random, kind: str | None, latent: int, options: list[str]) -> tuple[dict | None, int, int]:
    """(bottleneck config, encoder output width, decoder input width)."""
    options.append(f"bottleneck={kind}")
    if kind is None:
        return None, latent, latent
    if kind in ("vae",):
        return {"type": "vae"}, 2 * latent, latent
    if kind == "tanh":
        return {"type": "tanh", "config": {"scale": rng.choice([1.0, 2.5])}}, latent, latent
    if kind == "l2_norm":
        return {"type": "l2_norm"}, latent, latent
    if kind == "wasserstein":
        noise = rng.choice([0, 2])
        config = {"noise_augment_dim": noise, "use_tanh": rng.random() < 0.5}
        if noise:
            options.append("wasserstein.noise_augment_dim")
        return {"type": "wasserstein", "config": config}, latent, latent + noise
    if kind == "fsq":
        levels = rng.choice([[3, 5], [4, 4]])  # a projection to len(levels) x codebooks channels where they differ
        config = {"levels": levels, "dim": latent, "num_codebooks": rng.choice([1, 2])}
        options.append(f"fsq.num_codebooks={config['num_codebooks']}")
        return {"type": "fsq", "config": config}, latent, latent
    if kind == "dithered_fsq":
        config = {"dim": latent, "levels": rng.choice([5, 8]), "dither_inference": False}
        return {"type": "dithered_fsq", "config": config}, latent, latent
    if kind in ("dac_rvq", "dac_rvq_vae"):
        config = {"input_dim": latent, "n_codebooks": rng.choice([1, 2]), "codebook_size": 16, "codebook_dim": 4}
        if kind == "dac_rvq" and rng.random() < 0.3:
            config["quantize_on_decode"] = True
            options.append("dac_rvq.quantize_on_decode")
        return {"type": kind, "config": config}, (2 * latent if kind in HALVING else latent), latent
    config = {"dim": latent, "codebook_size": 16, "num_quantizers": rng.choice([1, 2])}
    return {"type": kind, "config": config}, (2 * latent if kind in HALVING else latent), latent


def draw_autoencoder(rng: random.Random, case: Case) -> None:
    channels = rng.choice([1, 2])
    latent = rng.choice([4, 6])
    bottleneck, encoder_out, decoder_in = _bottleneck(rng, rng.choice(BOTTLENECKS), latent, case.options)
    kind = rng.choice(["oobleck", "oobleck", "dac", "seanet", "taae"])
    case.options.append(f"autoencoder={kind}")
    if kind == "oobleck":
        snake = rng.random() < 0.7
        encoder = {
            "type": "oobleck",
            "config": {
                "in_channels": channels,
                "channels": 8,
                "c_mults": [1, 2],
                "strides": [2, 2],
                "latent_dim": encoder_out,
                "use_snake": snake,
            },
        }
        decoder = {
            "type": "oobleck",
            "config": {
                "out_channels": channels,
                "channels": 8,
                "c_mults": [1, 2],
                "strides": [2, 2],
                "latent_dim": decoder_in,
                "use_snake": snake,
                "final_tanh": rng.random() < 0.3,
            },
        }
        if rng.random() < 0.3:
            decoder["config"]["use_nearest_upsample"] = True
            case.options.append("oobleck.use_nearest_upsample")
        case.options.append(f"oobleck.use_snake={snake}")
        ratio = 4
    elif kind == "dac":
        encoder = {
            "type": "dac",
            "config": {"in_channels": channels, "d_model": 4, "strides": [2, 2], "latent_dim": encoder_out},
        }
        decoder = {
            "type": "dac",
            "config": {"out_channels": channels, "latent_dim": decoder_in, "channels": 16, "rates": [2, 2]},
        }
        ratio = 4
    elif kind == "taae":
        snake = rng.random() < 0.3
        # upstream's snake activations are sized for the wrong side of a width change: snake only at one width
        mults = [1, 1] if snake else [1, 2]
        shared = {
            "channels": 8,
            "c_mults": mults,
            "strides": [2, 2],
            "transformer_depths": [1, rng.choice([1, 2])],
            "use_snake": snake,
            "use_dilated_conv": rng.random() < 0.3,
            "conformer": rng.random() < 0.3,
            "layer_scale": rng.random() < 0.7,
        }
        encoder = {"type": "taae", "config": {"in_channels": channels, "latent_dim": encoder_out, **shared}}
        decoder = {"type": "taae", "config": {"out_channels": channels, "latent_dim": decoder_in, **shared}}
        case.options += [
            f"taae.{key}={shared[key]}" for key in ("use_snake", "use_dilated_conv", "conformer", "layer_scale")
        ]
        ratio = 4
    else:
        encoder = {
            "type": "seanet",
            "config": {
                "channels": channels,
                "dimension": encoder_out,
                "n_filters": 4,
                "ratios": [2, 2],
                "n_residual_layers": 1,
                "lstm": 0,
            },
        }
        decoder = {
            "type": "seanet",
            "config": {
                "channels": channels,
                "dimension": decoder_in,
                "n_filters": 4,
                "ratios": [2, 2],
                "n_residual_layers": 1,
                "lstm": 0,
            },
        }
        ratio = 4
    model: dict[str, Any] = {
        "encoder": encoder,
        "decoder": decoder,
        "latent_dim": latent,
        "downsampling_ratio": ratio,
        "io_channels": channels,
    }
    if bottleneck is not None:
        model["bottleneck"] = bottleneck
    length = ratio * rng.choice([4, 8])
    case.config = _root("autoencoder", model, length, channels)
    case.call = "autoencoder"
    case.kwargs = {"seed": case.seed}
    generator = torch.Generator().manual_seed(case.seed)
    batch = rng.randint(1, 2)
    case.inputs = {
        "audio": torch.randn(batch, channels, length, generator=generator),
        "latents": torch.randn(batch, latent, length // ratio, generator=generator),
    }


def draw_conditioners(rng: random.Random, case: Case) -> None:
    draw_dit_denoise(rng, case)
    backbone = case.config["model"]["diffusion"]["config"]
    backbone["transformer_type"] = "continuous_transformer"  # only the conditioners matter here
    backbone.pop("attn_kwargs", None)
    case.call = "conditioners"
    case.options = [o for o in case.options if o.startswith(("conditioner=", "int.", "number.", "list."))]
    case.options.append("call=conditioners")


FAMILIES = {
    "conditioners": (draw_conditioners, 1),
    "dit": (draw_dit_denoise, 3),
    "dit_uncond": (draw_dit_uncond, 1),
    "unet": (draw_unet, 2),
    "autoencoder": (draw_autoencoder, 3),
    "sample": (draw_sample, 3),
}


def _with_demo(case: Case) -> None:
    """Conditioned configs need a demo section (the training factory reads it); its values come from the draw."""
    if case.config.get("model_type") != "diffusion_cond":
        return
    configs = case.config["model"]["conditioning"]["configs"]
    rng = random.Random(case.seed + 7)
    values = {entry["id"]: _value(rng, entry) for entry in configs}
    values = {key: value[0] if isinstance(value, list) else value for key, value in values.items()}
    case.config["training"]["demo"] = {"num_demos": 1, "demo_cond": [values], "demo_cfg_scales": [1]}


def draw(index: int, base_seed: int = 0) -> Case:
    """The index-th draw of the seeded sequence."""
    seed = base_seed * 1_000_003 + index
    rng = random.Random(seed)
    names = list(FAMILIES)
    family = rng.choices(names, weights=[FAMILIES[n][1] for n in names])[0]
    case = Case(name=f"d{index:04d}_{family}", seed=seed, family=family, config={}, call="")
    FAMILIES[family][0](rng, case)
    _with_demo(case)
    case.config = copy.deepcopy(case.config)
    return case
