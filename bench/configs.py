"""The models the CPU benches share, as stable-audio-tools configs (so the reference builds them too)."""

from __future__ import annotations

# A small conditioned DiT: embed 256, depth 4, 8 heads, io 64 (pre-encoded latents); three `number` conditioners
# give 3 cross-attention tokens and two of them the 512-wide global vector, like Stable Audio's seconds routing.
SMALL_DIT = {
    "model_type": "diffusion_cond",
    "sample_rate": 44100,
    "sample_size": 256,
    "audio_channels": 2,
    "model": {
        "io_channels": 64,
        "conditioning": {
            "cond_dim": 256,
            "configs": [
                {"id": "prompt", "type": "number", "config": {"min_val": 0, "max_val": 1}},
                {"id": "seconds_start", "type": "number", "config": {"min_val": 0, "max_val": 512}},
                {"id": "seconds_total", "type": "number", "config": {"min_val": 0, "max_val": 512}},
            ],
        },
        "diffusion": {
            "type": "dit",
            "cross_attention_cond_ids": ["prompt", "seconds_start", "seconds_total"],
            "global_cond_ids": ["seconds_start", "seconds_total"],
            "config": {
                "io_channels": 64,
                "embed_dim": 256,
                "depth": 4,
                "num_heads": 8,
                "cond_token_dim": 256,
                "global_cond_dim": 512,
                "transformer_type": "continuous_transformer",
            },
        },
    },
    "training": {
        "pre_encoded": True,
        "learning_rate": 1e-4,
        "demo": {
            "num_demos": 1,
            "demo_cfg_scales": [6],
            "demo_cond": [{"prompt": 0.5, "seconds_start": 0, "seconds_total": 30}],
        },
    },
}

# A small oobleck VAE: stereo, 32 latent channels at 1/256 of the sample rate (strides 2, 4, 4, 8), 32 base channels.
SMALL_VAE = {
    "model_type": "autoencoder",
    "sample_rate": 44100,
    "sample_size": 65536,
    "audio_channels": 2,
    "model": {
        "encoder": {
            "type": "oobleck",
            "config": {
                "in_channels": 2,
                "channels": 32,
                "c_mults": [1, 2, 4, 8],
                "strides": [2, 4, 4, 8],
                "latent_dim": 64,
                "use_snake": True,
            },
        },
        "decoder": {
            "type": "oobleck",
            "config": {
                "out_channels": 2,
                "channels": 32,
                "c_mults": [1, 2, 4, 8],
                "strides": [2, 4, 4, 8],
                "latent_dim": 32,
                "use_snake": True,
                "final_tanh": False,
            },
        },
        "bottleneck": {"type": "vae"},
        "latent_dim": 32,
        "downsampling_ratio": 256,
        "io_channels": 2,
    },
}
