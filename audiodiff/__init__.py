"""audiodiff: validate, compile, train and sample audio diffusion models from stable-audio-tools configs.

This module holds the version string only. Importing `audiodiff` must stay cheap: no torch, no pydantic.
"""

__version__ = "0.1.0"
