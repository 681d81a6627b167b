"""The LightningModule of autoencoder training: reconstruction, bottleneck and adversarial losses with two
optimizers (spec §5.1, the reference's `AutoencoderTrainingWrapper`).

Each batch makes one optimizer step, alternating as upstream does: odd steps train the discriminator, even steps
the autoencoder (every step when there is no discriminator). Before `warmup_steps` the generator trains without
the adversarial terms (`warmup_mode: adv` still trains the discriminator meanwhile); `encoder_freeze_on_warmup`
freezes the encoder once warm-up is over.

Attribute names give the reference's Lightning layout: `autoencoder.*`, `autoencoder_ema.ema_model.*`,
`discriminator.*`; `losses.weight_*` hold the (decaying) loss weights. Every step reseeds torch from
(run seed, step, rank), so latent masks and VAE noise are the same whether the run was resumed or not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor, nn

from audiodiff.nn.autoencoder import AudioAutoencoder
from audiodiff.runtime.autoencoder_losses import AutoencoderLosses
from audiodiff.runtime.ema import EMA
from audiodiff.runtime.faults import NonFiniteLossError, agree
from audiodiff.runtime.training import LOSS_WINDOW, LossWindows, step_seed
from audiodiff.schema.v1.training import AutoencoderTrainingSpec

GroupFactory = Callable[[str, Iterable[nn.Parameter], bool], tuple[torch.optim.Optimizer, Any]]


@dataclass(frozen=True)
class AutoencoderSettings:
    warmup_steps: int = 0
    warmup_mode: str = "adv"  # "adv": the discriminator trains during warm-up; "full": it waits too
    encoder_freeze_on_warmup: bool = False
    force_input_mono: bool = False
    latent_mask_ratio: float = 0.0
    use_ema: bool = False
    clip_grad_norm: float = 0.0
    seed: int = 42

    @classmethod
    def from_spec(
        cls, training: AutoencoderTrainingSpec, *, seed: int, clip_grad_norm: float | None = None
    ) -> AutoencoderSettings:
        return cls(
            warmup_steps=training.warmup_steps,
            warmup_mode=training.warmup_mode,
            encoder_freeze_on_warmup=training.encoder_freeze_on_warmup,
            force_input_mono=training.force_input_mono,
            latent_mask_ratio=training.latent_mask_ratio,
            use_ema=training.use_ema,
            clip_grad_norm=training.clip_grad_norm if clip_grad_norm is None else clip_grad_norm,
            seed=seed,
        )


def trim_to_shortest(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """Both `[B, C, T]` cut to the shorter length (decoders may add padding)."""
    length = min(a.shape[-1], b.shape[-1])
    return a[..., :length], b[..., :length]


class AutoencoderTrainer(pl.LightningModule):
    def __init__(
        self,
        autoencoder: AudioAutoencoder,
        losses: AutoencoderLosses,
        settings: AutoencoderSettings,
        *,
        group_factory: GroupFactory,
        loader_factory: Callable[[int, int, int], Any] | None = None,
        use_schedulers: bool = True,
    ) -> None:
        super().__init__()
        self.automatic_optimization = False  # two optimizers, stepped by hand
        self.autoencoder = autoencoder
        self.discriminator = losses.discriminator  # upstream's name: Lightning checkpoints hold `discriminator.*`
        self.losses = losses
        self.autoencoder_ema = (
            EMA(autoencoder, beta=0.9999, power=0.75, update_every=1, update_after_step=1) if settings.use_ema else None
        )
        self.settings = settings
        self._group_factory = group_factory
        self._loader_factory = loader_factory
        self._use_schedulers = use_schedulers
        self.history = LossWindows(LOSS_WINDOW)  # (step, generator loss)
        self.discriminator_history = LossWindows(LOSS_WINDOW)  # (step, discriminator loss)

    @property
    def sampling_model(self) -> AudioAutoencoder:
        """The EMA autoencoder when there is one (what demos and exports use), else the online one."""
        model = self.autoencoder_ema.ema_model if self.autoencoder_ema is not None else self.autoencoder
        assert isinstance(model, AudioAutoencoder)  # the EMA copy is a deep copy of the autoencoder
        return model

    # --- Lightning plumbing ---------------------------------------------------------------------------------------

    def configure_optimizers(self) -> Any:
        generator, generator_schedule = self._group_factory(
            "autoencoder", self.autoencoder.parameters(), self._use_schedulers
        )
        if self.discriminator is None:
            return ([generator], [generator_schedule]) if generator_schedule is not None else generator
        critic, critic_schedule = self._group_factory(
            "discriminator", self.discriminator.parameters(), self._use_schedulers
        )
        if generator_schedule is not None and critic_schedule is not None:
            return [generator, critic], [generator_schedule, critic_schedule]
        return [generator, critic]

    def train_dataloader(self) -> Any:
        if self._loader_factory is None:
            raise RuntimeError("no training data: pass `loader_factory` or dataloaders to `fit`")
        # one batch per optimizer step, so the stream resumes at the step count
        return self._loader_factory(self.trainer.global_step, self.global_rank, self.trainer.world_size)

    def _optimizers(self) -> tuple[Any, Any | None]:
        optimizers = self.optimizers()
        if isinstance(optimizers, list):
            return optimizers[0], optimizers[1] if len(optimizers) > 1 else None
        return optimizers, None

    def _schedulers(self) -> tuple[Any | None, Any | None]:
        schedulers = self.lr_schedulers()
        if schedulers is None:
            return None, None
        if isinstance(schedulers, list):
            return schedulers[0], schedulers[1] if len(schedulers) > 1 else None
        return schedulers, None

    # --- the step -------------------------------------------------------------------------------------------------

    def encoder_input(self, reals: Tensor) -> Tensor:
        if self.settings.force_input_mono and reals.shape[1] > 1:
            return reals.mean(dim=1, keepdim=True)  # [B, 1, T]
        return reals

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        settings = self.settings
        step = self.global_step  # optimizer steps so far: this step's number, from 0
        torch.manual_seed(step_seed(settings.seed, step, self.global_rank))
        reals = batch.data if hasattr(batch, "data") else batch[0]  # [B, C, T]
        warmed_up = step >= settings.warmup_steps
        freeze = warmed_up and settings.encoder_freeze_on_warmup
        with torch.set_grad_enabled(not freeze):
            latents, info = self.autoencoder.encode(self.encoder_input(reals), return_info=True)  # [B, D, L]
        if settings.latent_mask_ratio > 0:  # zeroed latents teach the decoder to tolerate missing ones
            latents = torch.where(torch.rand_like(latents) < settings.latent_mask_ratio, 0, latents)
        decoded, reals = trim_to_shortest(self.autoencoder.decode(latents), reals)  # [B, C, T]
        discriminator = self.discriminator
        trains_critic = discriminator is not None and step % 2 == 1 and (settings.warmup_mode == "adv" or warmed_up)
        generator_opt, critic_opt = self._optimizers()
        generator_schedule, critic_schedule = self._schedulers()
        # a discriminator always comes with its optimizer (the second one)
        if trains_critic and discriminator is not None and critic_opt is not None:
            loss, _, _ = discriminator.loss(reals, decoded.detach())
            self._stop_unless_finite(loss, step)
            critic_opt.zero_grad()
            self.manual_backward(loss)
            self._clip(discriminator.parameters())
            critic_opt.step()
            if critic_schedule is not None:
                critic_schedule.step()
            self._show("train/discriminator_loss", loss, len(reals))
            self._log_step(step, {"train/discriminator_loss": loss, "train/disc_lr": critic_opt.param_groups[0]["lr"]})
            self.discriminator_history.append((step + 1, float(loss.detach())))
            return loss
        values = {"reals": reals, "decoded": decoded, **info}
        if discriminator is not None and warmed_up:
            _, values["loss_adv"], values["feature_matching_distance"] = discriminator.loss(reals, decoded)
        elif discriminator is not None:
            values["loss_adv"] = values["feature_matching_distance"] = reals.new_zeros(())
        loss, parts = self.losses.generator_loss(values)
        self._stop_unless_finite(loss, step)
        if self.autoencoder_ema is not None:  # before the update, as upstream: the average lags one step
            self.autoencoder_ema.update()
        generator_opt.zero_grad()
        self.manual_backward(loss)
        self._clip(self.autoencoder.parameters())
        generator_opt.step()
        if generator_schedule is not None:
            generator_schedule.step()
        self._show("train/loss", loss, len(reals))
        self._log_step(
            step,
            {
                "train/loss": loss,
                **{f"train/{name}": value for name, value in parts.items()},
                "train/latent_std": latents.detach().std(),
                "train/gen_lr": generator_opt.param_groups[0]["lr"],
            },
        )
        self.history.append((step + 1, float(loss.detach())))
        return loss

    def _show(self, name: str, value: Tensor, batch_size: int) -> None:
        """On the progress bar only: what Lightning logs itself goes to the loggers on every later step too."""
        self.log(name, value.detach(), prog_bar=True, logger=False, on_step=True, on_epoch=False, batch_size=batch_size)

    def _log_step(self, step: int, values: dict[str, Tensor | float]) -> None:
        """This step's values, at this step only. Lightning's `self.log` keeps each key's last value and logs every
        key ever logged at every step, so with two networks trained in turn each curve would repeat its previous
        point on the other network's steps; the loggers are written to directly instead (rank zero only, as
        Lightning's loggers do themselves), at the step number Lightning uses (the batch's, from 0)."""
        metrics = {
            name: float(value.detach()) if isinstance(value, Tensor) else float(value) for name, value in values.items()
        }
        for logger in self.loggers:
            logger.log_metrics(metrics, step=step)
            logger.save()  # as Lightning does after each step: a killed run keeps its curves

    def _stop_unless_finite(self, loss: Tensor, step: int) -> None:
        # every rank stops together, before this step changes any weight
        if agree(self._trainer, not bool(torch.isfinite(loss))):
            raise NonFiniteLossError(step + 1, float(loss.detach()))

    def _clip(self, parameters: Iterable[nn.Parameter]) -> None:
        if self.settings.clip_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(list(parameters), self.settings.clip_grad_norm)

    # --- reconstructions ---------------------------------------------------------------------------------------------

    @torch.no_grad()
    def reconstruct(self, reals: Tensor) -> Tensor:
        """`[B, C, T]` -> the sampling model's reconstruction, trimmed to the input's length."""
        model = self.sampling_model
        latents = model.encode(self.encoder_input(reals))
        decoded, _ = trim_to_shortest(model.decode(latents), reals)
        return decoded
