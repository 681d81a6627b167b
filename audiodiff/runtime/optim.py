"""Optimizers and learning-rate schedules from the closed set of the training schema (spec §5.2).

`optimizer_configs.diffusion` picks an optimizer tag (`Adam`, `AdamW`, `SGD`, `FusedAdam`) and optionally a
scheduler tag; `learning_rate` alone means plain Adam at a constant rate (and is overridden when both are given).
Every tag maps to one constructor call with explicit keyword arguments: config text never names a Python object.
Schedulers step once per optimizer step.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from audiodiff.runtime.resume import OPTIMIZER_HYPERPARAMETERS as _OPTIMIZER_HYPERPARAMETERS  # the resume rules
from audiodiff.schema.v1 import training as t
from audiodiff.schema.v1.training import OptimizerSpec, SchedulerSpec


class InverseLR(LRScheduler):
    """Inverse-power decay with an exponential warm-up (k-diffusion's schedule, as stable-audio-tools uses it):

    lr(s) = (1 - warmup^(s + 1)) * max(final_lr, base_lr * (1 + s / inv_gamma)^-power), s = steps taken so far.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        *,
        inv_gamma: float = 1.0,
        power: float = 1.0,
        warmup: float = 0.0,
        final_lr: float = 0.0,
        last_epoch: int = -1,
    ) -> None:
        if not 0.0 <= warmup < 1.0:
            raise ValueError(f"InverseLR `warmup` must be in [0, 1), got {warmup}")
        if inv_gamma <= 0:
            raise ValueError(f"InverseLR `inv_gamma` must be positive, got {inv_gamma}")
        self.inv_gamma = inv_gamma
        self.power = power
        self.warmup = warmup
        self.final_lr = final_lr
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float | torch.Tensor]:
        return list(self._lr_at(self.last_epoch))

    def _get_closed_form_lr(self) -> list[float]:
        return self._lr_at(self.last_epoch)

    def _lr_at(self, step: int) -> list[float]:
        warmup = 1 - self.warmup ** (step + 1)
        decay = (1 + step / self.inv_gamma) ** -self.power
        return [warmup * max(self.final_lr, base * decay) for base in self.base_lrs]


@dataclass(frozen=True)
class OptimizerPlan:
    """What `build_optimizer` makes, in words for the run summary."""

    optimizer: str
    learning_rate: float
    scheduler: str | None


def optimizer_group(training: t.DiffusionTrainingSpec) -> t.OptimizerGroupSpec | None:
    configs = training.optimizer_configs or {}
    return configs.get("diffusion")


def base_learning_rate(training: t.DiffusionTrainingSpec) -> float:
    group = optimizer_group(training)
    if group is not None:
        return group.optimizer.config.lr
    if training.learning_rate is None:
        raise ValueError("the training section sets neither `learning_rate` nor `optimizer_configs.diffusion`")
    return training.learning_rate


def describe(training: t.DiffusionTrainingSpec) -> OptimizerPlan:
    group = optimizer_group(training)
    if group is None:
        return OptimizerPlan("Adam", base_learning_rate(training), None)
    scheduler = group.scheduler.type if group.scheduler is not None else None
    return OptimizerPlan(group.optimizer.type, group.optimizer.config.lr, scheduler)


def build_optimizer(
    training: t.DiffusionTrainingSpec, parameters: Iterable[torch.nn.Parameter], *, fused: bool = False
) -> tuple[Optimizer, LRScheduler | None]:
    """The optimizer (and scheduler, or None) that `training` describes. `fused` asks for torch's fused kernels
    (CUDA only), which is also what `FusedAdam` means here: DeepSpeed's FusedAdam computes the same update."""
    params = [p for p in parameters if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters")
    group = optimizer_group(training)
    if group is None:
        return torch.optim.Adam(params, lr=base_learning_rate(training)), None
    optimizer = _optimizer(group.optimizer, params, fused)
    scheduler = build_scheduler(group.scheduler, optimizer) if group.scheduler is not None else None
    return optimizer, scheduler


def build_group(
    group: t.OptimizerGroupSpec,
    parameters: Iterable[torch.nn.Parameter],
    *,
    fused: bool = False,
    with_scheduler: bool = True,
) -> tuple[Optimizer, LRScheduler | None]:
    """The optimizer (and scheduler) of one `optimizer_configs` entry over the trainable `parameters`."""
    params = [p for p in parameters if p.requires_grad]
    if not params:
        raise ValueError("no trainable parameters for this optimizer")
    optimizer = _optimizer(group.optimizer, params, fused)
    scheduler = build_scheduler(group.scheduler, optimizer) if with_scheduler and group.scheduler else None
    return optimizer, scheduler


def autoencoder_groups(training: t.AutoencoderTrainingSpec) -> dict[str, t.OptimizerGroupSpec]:
    """The `autoencoder` and `discriminator` groups, or upstream's defaults: AdamW with betas (0.8, 0.99) at
    `learning_rate` for both."""
    if training.optimizer_configs is not None:
        return dict(training.optimizer_configs.items())
    if training.learning_rate is None:
        raise ValueError("the training section sets neither `learning_rate` nor `optimizer_configs`")
    default = t.OptimizerGroupSpec(
        optimizer=t.AdamWOptimizerSpec(type="AdamW", config=t.AdamWConfig(lr=training.learning_rate, betas=(0.8, 0.99)))
    )
    return {"autoencoder": default, "discriminator": default}


def _optimizer(spec: OptimizerSpec, params: list[torch.nn.Parameter], fused: bool) -> Optimizer:
    from audiodiff.compiler.registry import lookup

    build = lookup("optimizer", spec.type).resolve_builder()
    optimizer = build(spec, params, fused)
    assert isinstance(optimizer, Optimizer)
    return optimizer


def build_scheduler(spec: SchedulerSpec, optimizer: Optimizer) -> LRScheduler:
    """The scheduler of one `scheduler` entry (any tag of the closed set), stepping `optimizer`."""
    from audiodiff.compiler.registry import lookup

    build = lookup("scheduler", spec.type).resolve_builder()
    scheduler = build(spec, optimizer)
    assert isinstance(scheduler, LRScheduler)
    return scheduler


# --- one builder per registered optimizer and scheduler type (the registry names them) ------------------------------


def _adam_family(
    cls: type[torch.optim.Adam] | type[torch.optim.AdamW],
    spec: t.AdamOptimizerSpec | t.AdamWOptimizerSpec,
    params: list[torch.nn.Parameter],
    fused: bool,
) -> Optimizer:
    config = spec.config
    return cls(
        params,
        lr=config.lr,
        betas=(config.betas[0], config.betas[1]),
        eps=config.eps,
        weight_decay=config.weight_decay,
        amsgrad=config.amsgrad,
        fused=config.fused if config.fused is not None else (fused or None),
        foreach=config.foreach,
    )


def build_adam(spec: t.AdamOptimizerSpec, params: list[torch.nn.Parameter], fused: bool) -> Optimizer:
    return _adam_family(torch.optim.Adam, spec, params, fused)


def build_adamw(spec: t.AdamWOptimizerSpec, params: list[torch.nn.Parameter], fused: bool) -> Optimizer:
    return _adam_family(torch.optim.AdamW, spec, params, fused)


def build_fused_adam(spec: t.FusedAdamOptimizerSpec, params: list[torch.nn.Parameter], fused: bool) -> Optimizer:
    config = spec.config
    cls = torch.optim.AdamW if config.adam_w_mode else torch.optim.Adam
    return cls(
        params,
        lr=config.lr,
        betas=(config.betas[0], config.betas[1]),
        eps=config.eps,
        weight_decay=config.weight_decay,
        fused=fused or None,
    )


def build_sgd(spec: t.SGDOptimizerSpec, params: list[torch.nn.Parameter], fused: bool) -> Optimizer:
    config = spec.config
    return torch.optim.SGD(
        params,
        lr=config.lr,
        momentum=config.momentum,
        dampening=config.dampening,
        weight_decay=config.weight_decay,
        nesterov=config.nesterov,
    )


def build_inverse_lr(spec: t.InverseLRSpec, optimizer: Optimizer) -> LRScheduler:
    config = spec.config
    return InverseLR(
        optimizer, inv_gamma=config.inv_gamma, power=config.power, warmup=config.warmup, final_lr=config.final_lr
    )


def build_exponential_lr(spec: t.ExponentialLRSpec, optimizer: Optimizer) -> LRScheduler:
    return torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=spec.config.gamma)


def build_cosine_lr(spec: t.CosineAnnealingLRSpec, optimizer: Optimizer) -> LRScheduler:
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=spec.config.T_max, eta_min=spec.config.eta_min)


def build_linear_lr(spec: t.LinearLRSpec, optimizer: Optimizer) -> LRScheduler:
    config = spec.config
    return torch.optim.lr_scheduler.LinearLR(
        optimizer, start_factor=config.start_factor, end_factor=config.end_factor, total_iters=config.total_iters
    )


def build_step_lr(spec: t.StepLRSpec, optimizer: Optimizer) -> LRScheduler:
    return torch.optim.lr_scheduler.StepLR(optimizer, step_size=spec.config.step_size, gamma=spec.config.gamma)


def build_constant_lr(spec: t.ConstantLRSpec, optimizer: Optimizer) -> LRScheduler:
    return torch.optim.lr_scheduler.ConstantLR(
        optimizer, factor=spec.config.factor, total_iters=spec.config.total_iters
    )


# --- resuming with changed hyper-parameters ------------------------------------------------------------------------


def apply_hyperparameters(
    training: t.DiffusionTrainingSpec, optimizer: Optimizer, scheduler: LRScheduler | None
) -> list[str]:
    """After a resume restored the optimizer and scheduler state, make the config's current hyper-parameters take
    effect (restoring overwrote them with the checkpoint's). The base rate is rescaled, so a schedule keeps its
    position: the rate becomes current * new_base / old_base. Returns what changed, in words."""
    changed: list[str] = []
    new_base = base_learning_rate(training)
    for group in optimizer.param_groups:
        old_base = group.get("initial_lr", group["lr"])
        if old_base != new_base:
            group["lr"] = group["lr"] * new_base / old_base
            group["initial_lr"] = new_base
            changed.append(f"base learning rate {old_base:g} -> {new_base:g}")
    if scheduler is not None:
        scheduler.base_lrs = [new_base for _ in scheduler.base_lrs]
        scheduler._last_lr = [group["lr"] for group in optimizer.param_groups]  # what get_last_lr() reports
    group_spec = optimizer_group(training)
    if group_spec is not None:
        config = group_spec.optimizer.config
        for name in _OPTIMIZER_HYPERPARAMETERS:
            if not hasattr(config, name):
                continue
            value = getattr(config, name)
            value = tuple(value) if isinstance(value, (list, tuple)) else value
            for group in optimizer.param_groups:
                if name in group and group[name] != value:
                    changed.append(f"`{name}` {group[name]} -> {value}")
                    group[name] = value
        if scheduler is not None and group_spec.scheduler is not None:
            for name, value in group_spec.scheduler.config.model_dump().items():
                if hasattr(scheduler, name) and getattr(scheduler, name) != value:
                    changed.append(f"scheduler `{name}` {getattr(scheduler, name)} -> {value}")
                    setattr(scheduler, name, value)
    return sorted(set(changed))
