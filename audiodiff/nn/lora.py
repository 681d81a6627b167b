"""Low-rank adapters (LoRA, Hu et al. 2021) on `nn.Linear` layers: y = x W^T + b + s * (drop(x) A^T) B^T, with
A [r, in] drawn like a Linear's weight, B [out, r] zero (so an attached adapter starts as the identity change)
and s = alpha / r.

`LoRALinear` is an `nn.Linear` that keeps the base layer's own `weight` and `bias` Parameters under their own
names, so a model's state dict keeps the released layout (`...to_qkv.weight`) and gains `...to_qkv.lora_A` and
`...to_qkv.lora_B` beside it. That is why this is not peft: peft wraps the layer (`...to_qkv.base_layer.weight`),
which renames every adapted weight away from the stable-audio-tools layout that checkpoints, coverage reports and
EMA copies rely on, and it brings transformers and accelerate along for one layer type.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

ADAPTER_SUFFIXES = (".lora_A", ".lora_B")


class LoRALinear(nn.Linear):
    """A Linear layer plus a rank-`rank` update; the base weight and bias are the wrapped layer's own Parameters."""

    def __init__(self, base: nn.Linear, *, rank: int, scale: float, dropout: float = 0.0) -> None:
        nn.Module.__init__(self)
        self.in_features = base.in_features
        self.out_features = base.out_features
        self.weight = base.weight  # [out, in], shared with (not copied from) the base layer
        self.register_parameter("bias", base.bias)  # [out] or None
        self.rank = rank
        self.scale = scale
        device, dtype = base.weight.device, base.weight.dtype
        self.lora_A = nn.Parameter(torch.empty(rank, self.in_features, device=device, dtype=dtype))  # [r, in]
        self.lora_B = nn.Parameter(torch.zeros(self.out_features, rank, device=device, dtype=dtype))  # [out, r]
        if not self.lora_A.is_meta:
            nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))  # as nn.Linear initialises its weight
        self.lora_dropout: nn.Module = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:  # [..., in] -> [..., out]
        base = F.linear(x, self.weight, self.bias)
        update = F.linear(F.linear(self.lora_dropout(x), self.lora_A), self.lora_B)  # [..., r] -> [..., out]
        return base + update * self.scale

    def delta(self) -> Tensor:
        """The update folded into a weight: s * B A, [out, in], computed in float32."""
        return (self.lora_B.float() @ self.lora_A.float()) * self.scale

    def merged(self) -> nn.Linear:
        """A plain Linear whose weight holds the base weight plus the update (the adapter is gone)."""
        layer = nn.Linear(
            self.in_features, self.out_features, bias=self.bias is not None, device="meta", dtype=self.weight.dtype
        )
        with torch.no_grad():
            layer.weight = nn.Parameter((self.weight.float() + self.delta()).to(self.weight.dtype))
            if self.bias is not None:
                layer.bias = nn.Parameter(self.bias.detach().clone())
        return layer

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, rank={self.rank}, scale={self.scale:g}"


class AdapterError(ValueError):
    """An adapter that cannot be attached: the layer is absent or not a Linear; `str()` is one sentence."""


def attach(module: nn.Module, names: Iterable[str], *, rank: int, scale: float, dropout: float = 0.0) -> list[str]:
    """Replace each Linear named in `names` (paths below `module`) by a `LoRALinear` around it; returns the names."""
    attached = []
    for name in names:
        parent_name, _, child = name.rpartition(".")
        try:
            parent = module.get_submodule(parent_name) if parent_name else module
            layer = parent.get_submodule(child)
        except AttributeError:
            raise AdapterError(f"the model has no layer `{name}`") from None
        if isinstance(layer, LoRALinear):
            raise AdapterError(f"`{name}` has an adapter already")
        if not isinstance(layer, nn.Linear):
            raise AdapterError(f"`{name}` is a {type(layer).__name__}, not a Linear layer")
        setattr(parent, child, LoRALinear(layer, rank=rank, scale=scale, dropout=dropout))
        attached.append(name)
    return attached


def adapters(module: nn.Module) -> dict[str, LoRALinear]:
    """The adapted layers below `module`, by name."""
    return {name: layer for name, layer in module.named_modules() if isinstance(layer, LoRALinear)}


def freeze_all_but_adapters(model: nn.Module) -> None:
    """Only adapter matrices train: every other parameter of `model` is frozen."""
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(name.endswith(ADAPTER_SUFFIXES))


def merge_adapters(module: nn.Module) -> int:
    """Fold every adapter below `module` into its layer's weight, in place; returns how many were folded."""
    found = adapters(module)
    for name, layer in found.items():
        parent_name, _, child = name.rpartition(".")
        parent = module.get_submodule(parent_name) if parent_name else module
        setattr(parent, child, layer.merged())
    return len(found)


def is_adapter_key(key: str) -> bool:
    return key.endswith(ADAPTER_SUFFIXES)
