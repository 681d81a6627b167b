"""Exponential moving average of a module's weights with an inverse-power warm-up (ema-pytorch 0.2.3 semantics).

stable-audio-tools averages the backbone wrapper with `EMA(beta=0.9999, power=3/4, update_every=1,
update_after_step=1, include_online_model=False)` and calls `update()` once per optimizer step (spec §5.3). The
state-dict layout is the same as there: `ema_model.*`, `initted` (float [1]) and `step` (int64 [1]); the online
module is held outside the module tree, so it is not saved twice.

On the n-th call of `update()` (n = 1, 2, ...), calls n <= update_after_step + 1 copy the online weights; later
calls move the average toward them with decay = clamp(1 - (1 + e / inv_gamma)^-power, min_value, beta), where
e = n - update_after_step - 1 (so 1 - (n - 1)^-3/4 with the defaults). Only float32 and float16 tensors are
averaged, as upstream: others (bf16 weights, integer buffers) keep the copy made at construction.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

_AVERAGED_DTYPES = (torch.float32, torch.float16)


class EMA(nn.Module):
    """Karras-style EMA warm-up: decay rises as 1 - (1 + step / inv_gamma)^-power toward `beta`."""

    initted: Tensor  # float [1] (buffers)
    step: Tensor  # int64 [1]

    def __init__(
        self,
        model: nn.Module,
        *,
        beta: float = 0.9999,  # the largest decay ever used
        power: float = 0.75,  # warm-up exponent
        inv_gamma: float = 1.0,  # warm-up time scale, in updates
        min_value: float = 0.0,  # the smallest decay once averaging has begun
        update_every: int = 1,  # average on every n-th call only
        update_after_step: int = 1,  # the first calls just copy the online weights
        share_frozen: bool = False,  # frozen parameters are shared with the online model, not copied (LoRA)
    ) -> None:
        super().__init__()
        if not 0.0 <= min_value <= beta <= 1.0:
            raise ValueError(f"EMA needs 0 <= min_value <= beta <= 1, got min_value={min_value}, beta={beta}")
        if update_every < 1:
            raise ValueError(f"EMA `update_every` must be at least 1, got {update_every}")
        self.beta = beta
        self.power = power
        self.inv_gamma = inv_gamma
        self.min_value = min_value
        self.update_every = update_every
        self.update_after_step = update_after_step
        self._online = [model]  # a list keeps it out of the module tree (and out of the state dict)
        # The average of a weight that never changes is that weight: with `share_frozen`, the copy holds the online
        # model's frozen Parameters themselves (deepcopy's memo maps them to themselves), so a LoRA run's EMA costs
        # the adapters, not a second copy of the base model. Shared ones are never averaged.
        shared = {id(p): p for p in model.parameters() if not p.requires_grad} if share_frozen else {}
        self.ema_model = copy.deepcopy(model, memo=dict(shared))
        self.ema_model.requires_grad_(False)
        self._averaged = (
            (
                "_parameters",
                {
                    n
                    for n, p in self.ema_model.named_parameters()
                    if p.dtype in _AVERAGED_DTYPES and id(p) not in shared
                },
            ),
            ("_buffers", {n for n, b in self.ema_model.named_buffers() if b.dtype in _AVERAGED_DTYPES}),
        )
        self._slots: list[tuple[dict, dict, str]] | None = None  # built on first use
        self.register_buffer("initted", torch.tensor([0.0]))  # float [1], as upstream (a Tensor of False)
        self.register_buffer("step", torch.tensor([0]))  # int64 [1]: update() calls so far

    @property
    def online_model(self) -> nn.Module:
        return self._online[0]

    def current_decay(self) -> float:
        """The decay the next averaging uses (0 while warming up)."""
        epoch = max(int(self.step.item()) - self.update_after_step - 1, 0)
        if epoch <= 0:
            return 0.0
        value = 1 - (1 + epoch / self.inv_gamma) ** -self.power
        return min(max(value, self.min_value), self.beta)

    def _tensors(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(average, online) pairs of every averaged tensor, read through the tables of their owning modules: a dict
        lookup each instead of a walk of both module trees on every step, and the current tensor even after `.to()`
        or a load replaced one (the owners are found by name once; modules are not swapped during training)."""
        if self._slots is None:
            self._slots = [self._slot(name, kind) for kind, names in self._averaged for name in sorted(names)]
        return [(table[key], online_table[key]) for table, online_table, key in self._slots]

    def _slot(self, name: str, kind: str) -> tuple[dict, dict, str]:
        """(the EMA copy's parameter or buffer table holding `name`, the online model's, the key in both)."""
        path, _, key = name.rpartition(".")
        tables = []
        for model in (self.ema_model, self.online_model):
            try:
                owner = model.get_submodule(path)
            except AttributeError:
                owner = None
            table = getattr(owner, kind, {})
            if key not in table:
                raise ValueError(f"the online model has no `{name}`, which its EMA copy averages")
            tables.append(table)
        return tables[0], tables[1], key

    def _apply(self, fn, recurse=True):
        self._slots = None  # a move is rare: find the owners again then
        return super()._apply(fn, recurse)

    @torch.no_grad()
    def copy_from_online(self) -> None:
        for average, current in self._tensors():
            average.copy_(current)

    @torch.no_grad()
    def update(self) -> None:
        """One call per optimizer step."""
        step = int(self.step.item())
        self.step += 1
        if step % self.update_every != 0:
            return
        if step <= self.update_after_step:
            self.copy_from_online()
            return
        if not bool(self.initted.item()):
            self.copy_from_online()
            self.initted.fill_(1.0)
        weight = 1.0 - self.current_decay()
        pairs = self._tensors()
        if pairs:  # one call for all tensors: per-tensor calls cost a Python round trip (or a kernel launch) each
            averages, currents = zip(*pairs, strict=True)
            torch._foreach_lerp_(list(averages), list(currents), weight)

    def forward(self, *args, **kwargs):
        return self.ema_model(*args, **kwargs)
