"""The LightningModule of diffusion training. It orchestrates: the objective (`nn/objectives.py`) noises and sets
the target, `timesteps.py` draws the times, `optim.py` builds the optimizer, `ema.py` averages the backbone.

Attribute names give the upstream Lightning checkpoint layout (spec §8.1): `diffusion.*` is the model,
`diffusion_ema.ema_model.*` the EMA copy of its backbone wrapper, `diffusion_ema.initted` / `diffusion_ema.step`
the EMA counters.

Every step reseeds torch's RNG from (run seed, batch number, rank): the noise, the times and the CFG dropout of a
step are the same whether the run went straight through or was resumed before it.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, cast

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from audiodiff.compiler.materialize import objective_of
from audiodiff.nn.conditioners import ConditionerOutput
from audiodiff.nn.diffusion import ConditionedDiffusionModel, DiffusionModel, UnconditionedDiffusionModel
from audiodiff.nn.objectives import OBJECTIVES, Objective
from audiodiff.nn.routing import ConditioningEntry, Guidance
from audiodiff.runtime.data import TrainingBatch
from audiodiff.runtime.ema import EMA
from audiodiff.runtime.faults import ConditioningError, NonFiniteLossError, agree
from audiodiff.runtime.inpainting import MaskSettings, inpaint_conditioning, random_masks
from audiodiff.runtime.timesteps import TimestepSampler
from audiodiff.schema.v1.root import DiffusionConfig

LOSS_BINS = 10
LOSS_WINDOW = 10  # steps averaged for the first and the last loss of the closing summary


@dataclass(frozen=True)
class TrainingSettings:
    """The training section's knobs the step needs, plus run settings (seed, accumulation)."""

    objective: Objective = OBJECTIVES["v"]
    conditioned: bool = True
    pre_encoded: bool = False
    cfg_dropout_prob: float = 0.1
    timestep_sampler: str = "uniform"
    mean_logsnr: float = -1.2
    std_logsnr: float = 2.0
    mask_padding: bool = False
    mask_padding_dropout: float = 0.0
    p_one_shot: float = 0.0
    log_loss_info: bool = False
    use_ema: bool = True
    seed: int = 42
    accumulate_grad_batches: int = 1
    inpainting: MaskSettings | None = None  # `training.inpainting`: random masks injected every step

    @classmethod
    def from_spec(cls, spec: DiffusionConfig, *, seed: int, accumulate_grad_batches: int = 1) -> TrainingSettings:
        training = spec.training
        if training is None:
            raise ValueError("training is configured in the `training` section, which this config lacks")
        conditioned = spec.model_type != "diffusion_uncond"
        return cls(
            objective=objective_of(spec),
            conditioned=conditioned,
            pre_encoded=training.pre_encoded,
            cfg_dropout_prob=training.cfg_dropout_prob if conditioned else 0.0,
            # upstream trains unconditional models on Sobol times whatever the config says
            timestep_sampler=training.timestep_sampler if conditioned else "uniform",
            mean_logsnr=training.timestep_sampler_options.mean_logsnr,
            std_logsnr=training.timestep_sampler_options.std_logsnr,
            mask_padding=training.mask_padding,
            mask_padding_dropout=training.mask_padding_dropout,
            p_one_shot=training.p_one_shot,
            log_loss_info=training.log_loss_info,
            use_ema=training.use_ema if conditioned else True,
            seed=seed,
            accumulate_grad_batches=accumulate_grad_batches,
            inpainting=MaskSettings.from_spec(training.inpainting)
            if conditioned and training.inpainting is not None
            else None,
        )


def step_seed(seed: int, batch_number: int, rank: int) -> int:
    """A 63-bit seed for one step of one rank (SplitMix-style mixing, so neighbouring steps are unrelated)."""
    value = seed * 0x9E3779B97F4A7C15 + batch_number * 0xBF58476D1CE4E5B9 + rank * 0x94D049BB133111EB
    value &= (1 << 64) - 1
    value ^= value >> 31
    return value & ((1 << 63) - 1)


OptimizerFactory = Callable[[Iterable[nn.Parameter]], tuple[torch.optim.Optimizer, Any]]
LoaderFactory = Callable[[int, int, int], Any]  # (start_batch, rank, world_size) -> DataLoader


class DiffusionTrainer(pl.LightningModule):
    """Trains a ConditionedDiffusionModel (or an UnconditionedDiffusionModel) on the MSE to its objective's target."""

    def __init__(
        self,
        model: DiffusionModel,
        settings: TrainingSettings,
        *,
        optimizer_factory: OptimizerFactory,
        loader_factory: LoaderFactory | None = None,
    ) -> None:
        super().__init__()
        self.diffusion: DiffusionModel = model
        # upstream: EMA(diffusion.model, beta=0.9999, power=3/4, update_every=1, update_after_step=1); with LoRA
        # adapters only they are averaged, the frozen base is shared rather than copied
        lora = any(name.endswith(".lora_A") for name, _ in model.named_parameters())
        self.diffusion_ema = (
            EMA(model.model, beta=0.9999, power=0.75, update_every=1, update_after_step=1, share_frozen=lora)
            if settings.use_ema
            else None
        )
        self.settings = settings
        self._optimizer_factory = optimizer_factory
        self._loader_factory = loader_factory
        self.timesteps = TimestepSampler(
            settings.timestep_sampler,
            seed=settings.seed,
            mean_logsnr=settings.mean_logsnr,
            std_logsnr=settings.std_logsnr,
        )
        # the model's own (None: unshifted times; unconditioned models have none)
        self.shift = model.distribution_shift if isinstance(model, ConditionedDiffusionModel) else None
        self.losses = LossWindows(LOSS_WINDOW)  # (step, loss) of this process, for the closing summary
        self.after_restore: Callable[[DiffusionTrainer], None] | None = None  # e.g. apply changed learning rates

    # --- Lightning plumbing ---------------------------------------------------------------------------------------

    def configure_optimizers(self) -> Any:
        optimizer, scheduler = self._optimizer_factory(self.diffusion.parameters())
        if scheduler is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step", "frequency": 1}}

    def train_dataloader(self) -> Any:
        if self._loader_factory is None:
            raise RuntimeError("no training data: pass `loader_factory` or dataloaders to `fit`")
        # called after a resume restored the step count, so the stream continues where the checkpoint left it
        start = self.trainer.global_step * self.settings.accumulate_grad_batches
        return self._loader_factory(start, self.global_rank, self.trainer.world_size)

    def on_train_start(self) -> None:
        if self.after_restore is not None:
            self.after_restore(self)

    def on_before_zero_grad(self, optimizer: torch.optim.Optimizer) -> None:
        # once per optimizer step, after the step's forward pass, as upstream's wrapper does
        if self.diffusion_ema is not None:
            self.diffusion_ema.update()

    # --- the step -------------------------------------------------------------------------------------------------

    def training_step(self, batch: TrainingBatch, batch_idx: int) -> Tensor:
        number = batch.batch if batch.batch >= 0 else self.global_step * self.settings.accumulate_grad_batches
        torch.manual_seed(step_seed(self.settings.seed, number, self.global_rank))
        step = self.global_step + 1
        problem = None
        computed = None
        try:
            computed = self.compute_loss(batch, batch_number=number)
        except ConditioningError as error:
            problem = error
        # every rank stops together, or the others would wait for this one's gradients forever
        if agree(self._trainer, problem is not None):
            if problem is None:
                problem = ConditioningError("another process's batch holds a value its conditioner cannot read", [])
            problem.step = step
            raise problem
        assert computed is not None  # a rank whose step failed raised above
        loss, per_item, t = computed
        if agree(self._trainer, not bool(torch.isfinite(loss))):
            raise NonFiniteLossError(step, float(loss.detach()), suspect_items(batch))
        self.log("train/loss", loss.detach(), prog_bar=True, on_step=True, on_epoch=False, batch_size=len(per_item))
        if self.settings.log_loss_info:
            self._log_loss_by_noise_level(per_item.detach(), t)
        if self._trainer is not None and self.trainer.optimizers:
            self.log(
                "train/lr",
                self.trainer.optimizers[0].param_groups[0]["lr"],
                on_step=True,
                on_epoch=False,
                batch_size=len(per_item),
            )
        self.losses.append((step, float(loss.detach())))
        return loss

    def compute_loss(self, batch: TrainingBatch, *, batch_number: int = -1) -> tuple[Tensor, Tensor, Tensor]:
        """(mean loss, per-item loss [B], times [B]) of one batch."""
        settings = self.settings
        data = batch.data  # [B, C, T] audio or [B, C, L] latents
        padding = torch.stack([item["padding_mask"] for item in batch.metadata]).to(data.device)  # [B, T]
        cond: dict[str, ConditioningEntry] | None = dict(self._conditioning(batch)) if settings.conditioned else None
        latents = self.latents_of(data)  # [B, C_io, L]
        if padding.shape[-1] != latents.shape[-1]:
            padding = F.interpolate(padding[:, None].float(), size=latents.shape[-1], mode="nearest")[:, 0]  # [B, L]
        size = latents.shape[0]
        world = self.trainer.world_size if self._trainer is not None else 1
        t = self.timesteps(
            size, batch_number=batch_number, rank=self.global_rank, world_size=world, device=latents.device
        )  # [B]
        if self.shift is not None:
            t = self.shift(t, latents.shape[-1])
        if settings.p_one_shot > 0:
            t = torch.where(torch.rand(size, device=t.device) < settings.p_one_shot, torch.ones_like(t), t)
        eps = torch.randn_like(latents)
        noised = settings.objective.noise(latents, eps, t)
        if settings.inpainting is not None and cond is not None:
            # the clean latents, partly hidden: the model learns to keep what the mask shows (spec §3.6)
            mask = random_masks(padding, settings.inpainting).to(device=latents.device, dtype=latents.dtype)
            cond = {**cond, **inpaint_conditioning(latents, mask)}  # mask [B, 1, L], masked input [B, C, L]
        if cond is not None:  # the settings say conditioned
            guidance = Guidance(cfg_dropout_prob=settings.cfg_dropout_prob)
            output = self._conditioned_model()(noised.x_t, t, cond, guidance=guidance)
        else:
            output = self._unconditioned_model()(noised.x_t, t)
        error = (output.float() - noised.target.float()) ** 2  # [B, C, L]
        use_mask = settings.mask_padding and float(torch.rand(())) >= settings.mask_padding_dropout
        if use_mask:
            weights = padding[:, None, :].expand_as(error)  # [B, C, L]
            per_item = (error * weights).sum((1, 2)) / weights.sum((1, 2)).clamp(min=1)
            loss = (error * weights).sum() / weights.sum().clamp(min=1)
        else:
            per_item = error.mean((1, 2))  # [B]
            loss = error.mean()
        return loss, per_item, t

    def _conditioned_model(self) -> ConditionedDiffusionModel:
        if not isinstance(self.diffusion, ConditionedDiffusionModel):
            raise TypeError(f"conditioned training needs a ConditionedDiffusionModel, not {type(self.diffusion)}")
        return self.diffusion

    def _unconditioned_model(self) -> UnconditionedDiffusionModel:
        if not isinstance(self.diffusion, UnconditionedDiffusionModel):
            raise TypeError(f"unconditioned training needs an UnconditionedDiffusionModel, not {type(self.diffusion)}")
        return self.diffusion

    def _conditioning(self, batch: TrainingBatch) -> dict[str, ConditionerOutput]:
        """The conditioners' outputs; a value one cannot read (preflight checks the sidecar and manifest values, but
        a metadata module can still produce one) becomes a `ConditioningError` naming the file and the key."""
        try:
            return self._conditioned_model().conditioning_tensors(batch.metadata, batch.data.device)
        except ValueError as error:  # a MissingConditionerInputError, or a value of the wrong kind
            raise self._culprit(batch, error) from error

    def _culprit(self, batch: TrainingBatch, error: ValueError) -> ConditioningError:
        """Which item and which conditioner a failed batch stumbled on: each is tried alone (on this path only)."""
        from audiodiff.runtime.preflight import NO_VALUE, conditioning_value

        multi = self._conditioned_model().conditioner
        if multi is None:  # precomputed conditioning: no conditioner to try the items on
            return ConditioningError(str(error), [str(item.get("path", "?")) for item in batch.metadata])
        for item in batch.metadata:
            path = str(item.get("path", "?"))
            for name, conditioner in multi.conditioners.items():
                value = conditioning_value(item, name, multi.default_keys.get(name))
                if value is NO_VALUE:
                    return ConditioningError(f"`{path}` has no `{name}` value", [path])
                if name in multi.pre_encoded_keys:
                    continue
                try:
                    with torch.no_grad():
                        conditioner([value], batch.data.device)
                except ValueError as item_error:
                    return ConditioningError(
                        f"the `{name}` value {value!r} of `{path}` cannot be read by its conditioner ({item_error})",
                        [path],
                    )
        return ConditioningError(str(error), [str(item.get("path", "?")) for item in batch.metadata])

    def latents_of(self, data: Tensor) -> Tensor:
        """What the backbone denoises for a batch's data [B, C, T] (or stored latents): [B, C_io, L]."""
        pretransform = self.diffusion.pretransform
        if pretransform is None:
            return data
        if self.settings.pre_encoded:
            # stored latents are unscaled encoder outputs (spec §5.6)
            return data / float(getattr(pretransform, "scale", 1.0))
        with torch.set_grad_enabled(bool(pretransform.enable_grad) and torch.is_grad_enabled()):
            return pretransform.encode(data)

    def _log_loss_by_noise_level(self, per_item: Tensor, t: Tensor) -> None:
        """Mean loss per tenth of the noise-level range, over the items of every rank."""
        pairs = torch.stack([self.settings.objective.noise_level(t.float()), per_item.float()], dim=1)  # [B, 2]
        # Lightning types its result as any collection it could gather; a tensor gathers to a tensor
        gathered = cast(Tensor, self.all_gather(pairs)).reshape(-1, 2)  # [W * B, 2] ([B, 2] on one device)
        bins = (gathered[:, 0] * LOSS_BINS).floor().clamp(0, LOSS_BINS - 1).long()
        for index in range(LOSS_BINS):
            selected = gathered[bins == index, 1]
            if len(selected):
                low, high = index / LOSS_BINS, (index + 1) / LOSS_BINS
                self.log(
                    f"loss_by_noise/{low:.1f}-{high:.1f}",
                    selected.mean(),
                    on_step=True,
                    on_epoch=False,
                    rank_zero_only=True,
                    batch_size=len(selected),
                )

    # --- sampling with the averaged weights ----------------------------------------------------------------------

    @property
    def sampling_backbone(self) -> nn.Module:
        """The EMA backbone wrapper when there is one (what demos and exports use), else the online one."""
        return self.diffusion_ema.ema_model if self.diffusion_ema is not None else self.diffusion.model


class LossWindows:
    """The first `size` and the last `size` (step, loss) pairs of a run: all the closing summary reads, in memory
    that does not grow with the run."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.first: list[tuple[int, float]] = []
        self.last: deque[tuple[int, float]] = deque(maxlen=size)

    def append(self, item: tuple[int, float]) -> None:
        if len(self.first) < self.size:
            self.first.append(item)
        else:
            self.last.append(item)

    def __iter__(self) -> Iterator[tuple[int, float]]:
        """The kept pairs in order: the first window, then the last (no pair twice)."""
        yield from self.first
        yield from self.last

    def __len__(self) -> int:
        return len(self.first) + len(self.last)


def loss_summary(losses: Iterable[tuple[int, float]], window: int = LOSS_WINDOW) -> tuple[float, float] | None:
    """(mean of the first `window` losses, mean of the last `window`), or None with too few steps."""
    finite = [value for _, value in losses if math.isfinite(value)]
    if len(finite) < 2:
        return None
    window = max(1, min(window, len(finite) // 2))
    return sum(finite[:window]) / window, sum(finite[-window:]) / window


# a batch item whose largest magnitude passes this is data, not a learning rate, to blame for a non-finite loss:
# audio lives in [-1, 1] and latents within a few tens
SUSPECT_MAGNITUDE = 1e4


def suspect_items(batch: TrainingBatch) -> list[tuple[str, float]]:
    """(file, largest magnitude) of the items of `batch` whose values are non-finite or out of all scale."""
    data = batch.data.detach()  # [B, C, T]
    if data.numel() == 0:
        return []
    peaks = data.reshape(data.shape[0], -1).abs().nan_to_num(nan=float("inf")).amax(dim=1)  # [B]
    found = []
    for index, peak in enumerate(peaks.tolist()):
        if peak > SUSPECT_MAGNITUDE:
            metadata = batch.metadata[index] if index < len(batch.metadata) else {}
            found.append((str(metadata.get("path", f"batch item {index}")), peak))
    return found
