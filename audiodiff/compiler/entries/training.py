"""Optimizer and scheduler types. Their builders live in the runtime layer (`audiodiff.runtime.optim`), above the
compiler, so an entry names its builder as a `module:function` path that `Entry.resolve_builder` imports on use."""

from __future__ import annotations

from audiodiff.compiler.entry import Entry
from audiodiff.schema.v1 import training as train

_OPTIM = "audiodiff.runtime.optim:"

ENTRIES: tuple[Entry, ...] = (
    Entry("optimizer", "Adam", train.AdamOptimizerSpec, builder_path=_OPTIM + "build_adam"),
    Entry("optimizer", "AdamW", train.AdamWOptimizerSpec, builder_path=_OPTIM + "build_adamw"),
    Entry("optimizer", "SGD", train.SGDOptimizerSpec, builder_path=_OPTIM + "build_sgd"),
    # DeepSpeed's FusedAdam computes the Adam(W) update: audiodiff builds torch's Adam(W) for it (fused on CUDA)
    Entry("optimizer", "FusedAdam", train.FusedAdamOptimizerSpec, builder_path=_OPTIM + "build_fused_adam"),
    Entry("scheduler", "InverseLR", train.InverseLRSpec, builder_path=_OPTIM + "build_inverse_lr"),
    Entry("scheduler", "ExponentialLR", train.ExponentialLRSpec, builder_path=_OPTIM + "build_exponential_lr"),
    Entry("scheduler", "CosineAnnealingLR", train.CosineAnnealingLRSpec, builder_path=_OPTIM + "build_cosine_lr"),
    Entry("scheduler", "LinearLR", train.LinearLRSpec, builder_path=_OPTIM + "build_linear_lr"),
    Entry("scheduler", "StepLR", train.StepLRSpec, builder_path=_OPTIM + "build_step_lr"),
    Entry("scheduler", "ConstantLR", train.ConstantLRSpec, builder_path=_OPTIM + "build_constant_lr"),
)
