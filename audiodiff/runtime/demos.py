"""Demos during training (spec §5.7): every `demo_every` steps, sample `num_demos` examples from `demo_cond` at each
of `demo_cfg_scales` with `demo_steps` sampler steps, using the EMA weights when there are any.

Each demo is written as `DIR/demos/step_<N>/demo_<i>_cfg_<scale>.wav` (peak-normalised 16-bit PCM, as upstream
normalises its demo files) with a spectrogram `.png` beside it (time and frequency axes, a dB colour bar), and
sent to the logger when it takes media. Each round also draws `report.png`: per demo, a training example with the
same conditioning (the first one the run saw) beside the generated clips, and the loss curve so far, which is
kept in `DIR/demos/loss.csv`.

Rounds fall on the multiples of `demo_every` and after the last step. Upstream renders a round right after the
first step, so a demo that cannot run fails in seconds, not hours; here that first step runs a one-step, one-item
smoke check instead, which writes nothing: a round of noise at step 1 shows nothing and costs a full round's time.
Round folders spell the step as checkpoints do (`step_0000500`); after Ctrl-C no round is rendered on the way
out. Demo settings are not training state: a resumed run takes whatever the config says now.

Inpainting models (`diffusion_cond_inpaint` routing the inpainting tensors) take their demos from the latest
training batch, as upstream does: its clips, with a mask that is the same at every round (the middle half regenerated
for even demos, the second half for odd ones), conditioned on the items' own metadata; the generated regions are
outlined in the spectrograms, and the report puts each original clip beside its inpainted versions. Like every
demo here they sample the EMA weights (upstream's inpainting demo samples the online ones).
"""

from __future__ import annotations

import io
import struct
import sys
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch import Tensor

from audiodiff.compiler.materialize import objective_of
from audiodiff.nn.objectives import Objective
from audiodiff.nn.routing import NO_INPUTS, Guidance
from audiodiff.runtime.atomic import write_bytes_atomic
from audiodiff.runtime.demo_plots import (
    LOSS_FILE,
    LossHistory,
    ReportRow,
    have_matplotlib,
    loss_csv,
    report_png,
    spectrogram_png,
)
from audiodiff.runtime.inpainting import demo_masks, generated_spans, inpaint_conditioning
from audiodiff.runtime.run_folder import step_name
from audiodiff.runtime.sampling import SamplerSettings, sample
from audiodiff.schema.v1.root import DiffusionConfig


@dataclass(frozen=True)
class DemoSettings:
    every: int
    steps: int
    num_demos: int
    cond: tuple[dict[str, Any], ...]  # one metadata dict per demo (empty for unconditional models)
    cfg_scales: tuple[float, ...]
    sample_size: int
    sample_rate: int
    objective: Objective
    cond_from_batch: bool = False
    pre_encoded: bool = False  # training data are latents: no audio examples for the report
    seed: int = 0  # the demo noise is the same at every round, so rounds are comparable
    inpainting: bool = False  # demos inpaint clips of the latest batch (their audio and metadata)
    ratio: int = 1  # audio samples per latent frame (the pretransform's downsampling)

    @classmethod
    def from_spec(cls, spec: DiffusionConfig) -> DemoSettings:
        from audiodiff.schema.views import pretransform_of, pretransform_ratio, reads_inpainting

        training = spec.training
        if training is None:
            raise ValueError("demos are configured in the `training` section, which this config lacks")
        demo = training.demo
        conditioned = spec.model_type != "diffusion_uncond"
        # inpainting models' demos come from the latest batch, as upstream's (which reads no `demo_cond`)
        from_batch = demo.demo_cond_from_batch or spec.model_type == "diffusion_cond_inpaint"
        inpainting = spec.model_type == "diffusion_cond_inpaint" and reads_inpainting(spec)
        if spec.model_type == "diffusion_cond_inpaint":
            count = demo.num_demos or 8  # upstream's default for inpainting demos
        else:
            count = (demo.num_demos or len(demo.demo_cond) or 1) if conditioned else 8
        return cls(
            every=demo.demo_every,
            steps=demo.demo_steps,
            num_demos=count,
            cond=tuple(dict(item) for item in demo.demo_cond) if conditioned else (),
            cfg_scales=tuple(demo.demo_cfg_scales or (1.0,)) if conditioned else (1.0,),
            sample_size=spec.sample_size,
            sample_rate=spec.sample_rate,
            objective=objective_of(spec),
            cond_from_batch=from_batch if conditioned else False,
            pre_encoded=bool(training.pre_encoded),
            inpainting=inpainting,
            ratio=(pretransform_ratio(located[0]) or 1) if (located := pretransform_of(spec)) is not None else 1,
        )


class DemoCallback(pl.Callback):
    """Renders demo rounds on global rank 0."""

    def __init__(self, settings: DemoSettings, folder: Path, stop: Any = None) -> None:
        self.settings = settings
        self.folder = Path(folder)
        self.stop = stop  # faults.StopRequest: once Ctrl-C asked to stop, no demo round delays the way out
        self.last_round: int | None = None
        self.smoke_checked = False
        self._batch_metadata: list[dict[str, Any]] | None = None
        self._batch_data: Tensor | None = None  # [N, C, T] clips (or latents) of the latest batch, to inpaint
        self.losses = LossHistory()
        self.examples: dict[int, Tensor] = {}  # demo index -> a training clip [C, T] with that demo's conditioning

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.settings.cond_from_batch:
            self._batch_metadata = list(batch.metadata[: self.settings.num_demos])
            if self.settings.inpainting:
                self._batch_data = batch.data[: self.settings.num_demos].detach()
        step = trainer.global_step
        self._record(step, outputs, batch)
        if step < 1 or step == self.last_round or self._stopping:
            return
        if not self.smoke_checked:
            self.smoke_checked = True
            self.smoke_check(trainer, pl_module)
        if step % self.settings.every == 0:
            self.render(trainer, pl_module, step)

    @property
    def _stopping(self) -> bool:
        return self.stop is not None and self.stop.requested

    def on_train_end(self, trainer: pl.Trainer, pl_module: Any) -> None:
        if trainer.global_step >= 1 and trainer.global_step != self.last_round and not self._stopping:
            self.render(trainer, pl_module, trainer.global_step)

    def _record(self, step: int, outputs: Any, batch: Any) -> None:
        """The step's loss for the report's curve, and training examples for demos that have none yet."""
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if isinstance(loss, Tensor) and loss.numel() == 1:
            self.losses.append(step, float(loss.detach()))
        if self.settings.pre_encoded or self.settings.cond_from_batch or len(self.examples) == len(self.settings.cond):
            return
        data = getattr(batch, "data", None)
        for index, wanted in enumerate(self.settings.cond):
            if index in self.examples:
                continue
            keys = [key for key in wanted if key not in TIMING_KEYS]
            for item, metadata in zip(data if data is not None else [], getattr(batch, "metadata", []), strict=False):
                if keys and all(key in metadata and metadata[key] == wanted[key] for key in keys):
                    self.examples[index] = item.detach().float().cpu()  # [C, T]
                    break

    def smoke_check(self, trainer: pl.Trainer, pl_module: Any) -> None:
        """One sampler step for one demo item at the first CFG scale: fails now if demos cannot run; writes nothing."""
        if not trainer.is_global_zero or _is_fsdp(trainer):
            return
        metadata = self._metadata()[:1]
        quick = replace(self.settings, steps=1, num_demos=1, cfg_scales=self.settings.cfg_scales[:1])
        render_demos(pl_module, quick, metadata=metadata, known=self._known(1))

    def render(self, trainer: pl.Trainer, pl_module: Any, step: int) -> list[Path]:
        self.last_round = step
        sharded = _is_fsdp(trainer)
        if not trainer.is_global_zero and not sharded:
            return []
        if sharded:  # every rank gathers the full weights and samples alike; rank 0 writes
            from torch.distributed.fsdp import FullyShardedDataParallel

            sharded_model = trainer.strategy.model
            assert sharded_model is not None  # set once fitting started
            with FullyShardedDataParallel.summon_full_params(sharded_model, writeback=False):
                audio_by_scale = render_demos(pl_module, self.settings, metadata=self._metadata(), known=self._known())
            if not trainer.is_global_zero:
                return []
        else:
            audio_by_scale = render_demos(pl_module, self.settings, metadata=self._metadata(), known=self._known())
        written = []
        folder = self.folder / step_name(step)
        rate = self.settings.sample_rate
        for scale, audio in audio_by_scale.items():
            for index, item in enumerate(audio):
                stem = folder / f"demo_{index}_cfg_{scale:g}"
                if not bool(torch.isfinite(item).all()):  # never written: NaN becomes full-scale noise in a WAV
                    print(
                        f"warning: demo {index} at cfg {scale:g}, step {step}, holds NaN or infinite samples; "
                        "it was not written",
                        file=sys.stderr,
                        flush=True,
                    )
                    continue
                write_bytes_atomic(stem.with_suffix(".wav"), wav_bytes(item, rate))
                title = f"step {step}: {describe(self._label(index))}, CFG {scale:g}"
                spans = self._spans(index)
                if spans:
                    title += " (outlined: generated)"
                write_bytes_atomic(stem.with_suffix(".png"), spectrogram_png(item, rate, title=title, spans=spans))
                written.append(stem.with_suffix(".wav"))
                _log_media(trainer, f"demo_{index}/cfg_{scale:g}", item, spectrogram_image(item, rate), step, rate)
        write_bytes_atomic(self.folder / LOSS_FILE, loss_csv(self.losses))
        if have_matplotlib():
            rows = self.report_rows(audio_by_scale, pl_module)
            title = f"demos at step {step}: a training example beside the generated clips"
            write_bytes_atomic(folder / "report.png", report_png(rows, list(self.losses), rate, title=title))
        return written

    def report_rows(self, audio_by_scale: dict[float, Tensor], module: Any = None) -> list[ReportRow]:
        """One row per demo (the first REPORT_ROWS): its training example (inpainting: the clip it inpaints), then
        its clip at every CFG scale."""
        count = min(REPORT_ROWS, min((len(audio) for audio in audio_by_scale.values()), default=0))
        originals = self._originals(module) if self.settings.inpainting else None
        rows = []
        for index in range(count):
            verb = "inpainted" if originals is not None else "generated"
            generated = [(f"{verb}, CFG {scale:g}", audio[index]) for scale, audio in audio_by_scale.items()]
            if originals is not None:
                rows.append(
                    ReportRow(
                        label=describe(self._label(index)),
                        training=originals[index] if index < len(originals) else None,
                        generated=generated,
                        training_caption="original (outlined: regenerated)",
                        spans=self._spans(index),
                    )
                )
                continue
            rows.append(
                ReportRow(label=describe(self._label(index)), training=self.examples.get(index), generated=generated)
            )
        return rows

    def _known(self, count: int | None = None) -> Tensor | None:
        """The clips (or latents) the inpainting demos start from; None for other models."""
        if not self.settings.inpainting or self._batch_data is None:
            return None
        return self._batch_data if count is None else self._batch_data[:count]

    def _spans(self, index: int) -> list[tuple[float, float]]:
        """The generated regions (seconds) of inpainting demo `index`; none for other demos."""
        if not self.settings.inpainting:
            return []
        ratio = self.settings.ratio
        mask = demo_masks(index + 1, self.settings.sample_size // ratio)[index]
        return generated_spans(mask, seconds_per_frame=ratio / self.settings.sample_rate)

    def _originals(self, module: Any) -> Tensor | None:
        """The inpainted clips as audio [N, C, T]: the batch's audio, or its latents decoded."""
        known = self._known()
        if known is None or module is None:
            return None
        if not self.settings.pre_encoded:
            return known.float().cpu()
        model = module.diffusion
        with torch.no_grad():
            latents = module.latents_of(known)
            audio = model.pretransform.decode(latents) if model.pretransform is not None else latents
        return audio[..., : self.settings.sample_size].float().cpu()

    def _label(self, index: int) -> dict[str, Any]:
        metadata = self._metadata()
        return metadata[index] if index < len(metadata) else {}

    def _metadata(self) -> list[dict[str, Any]]:
        if self.settings.cond_from_batch and self._batch_metadata:
            return self._batch_metadata
        return [dict(item) for item in self.settings.cond]


# metadata a demo's label leaves out: timing, and the loader's bookkeeping of batch items (demos from the batch)
TIMING_KEYS = frozenset(
    {"seconds_start", "seconds_total", "padding_mask", "path", "relpath", "timestamps", "stream_position"}
)
REPORT_ROWS = 4


def describe(metadata: dict[str, Any]) -> str:
    """A demo's conditioning in a few words: its values other than timing (`class=tone`)."""
    parts = [
        f"{key}={value}" for key, value in metadata.items() if key not in TIMING_KEYS and not isinstance(value, Tensor)
    ]
    text = ", ".join(parts) or "unconditional"
    return text if len(text) <= 60 else text[:57] + "..."


def _is_fsdp(trainer: pl.Trainer) -> bool:
    from pytorch_lightning.strategies import FSDPStrategy

    return isinstance(trainer.strategy, FSDPStrategy)


@torch.no_grad()
def render_demos(
    module: Any, settings: DemoSettings, *, metadata: list[dict[str, Any]], known: Tensor | None = None
) -> dict[float, Tensor]:
    """Demo audio [num_demos, C, sample_size] for every CFG scale, sampled with the module's sampling backbone.
    `known`: clips (or stored latents) [N, C, T] to inpaint under `demo_masks` (inpainting models)."""
    model = module.diffusion
    backbone = module.sampling_backbone
    device = next(model.parameters()).device
    was_training = backbone.training
    backbone.eval()
    ratio = model.pretransform.downsampling_ratio if model.pretransform is not None else 1
    count = len(metadata) if metadata else settings.num_demos
    generator = torch.Generator().manual_seed(settings.seed)
    noise = torch.randn(count, model.io_channels, settings.sample_size // ratio, generator=generator).to(device)
    inputs = NO_INPUTS
    if metadata:
        cond = model.conditioning_tensors(metadata, device)
        if settings.inpainting:
            cond = {**cond, **_inpaint_inputs(module, known, count, noise.shape[-1], device)}
        inputs = model.get_conditioning_inputs(cond)
    sampler = SamplerSettings(sampler=settings.objective.demo_sampler, steps=settings.steps)
    results = {}
    try:
        for scale in settings.cfg_scales:

            def denoise(x: Tensor, t: Tensor, scale: float = scale) -> Tensor:
                if not metadata:
                    return backbone(x, t)
                return backbone(x, t, inputs, Guidance(cfg_scale=scale))

            latents = sample(
                denoise,
                noise,
                objective=settings.objective,
                settings=sampler,
                generator=torch.Generator(device=device).manual_seed(settings.seed),
                shift=getattr(module, "shift", None),
            )
            audio = model.pretransform.decode(latents) if model.pretransform is not None else latents
            results[float(scale)] = audio[..., : settings.sample_size].float().cpu()
    finally:
        backbone.train(was_training)
    return results


def _inpaint_inputs(module: Any, known: Tensor | None, count: int, length: int, device: Any) -> dict[str, Any]:
    """The inpainting tensors of `count` demos of `length` frames: the known latents under the demo masks (all
    generated, over silence, before any batch was seen)."""
    masks = demo_masks(count, length).to(device)  # [N, 1, L]
    if known is None:
        return inpaint_conditioning(torch.zeros(count, module.diffusion.io_channels, length, device=device), masks * 0)
    latents = module.latents_of(known[:count].to(device)).float()  # [N, C_io, L']
    latents = torch.nn.functional.pad(latents[..., :length], (0, max(0, length - latents.shape[-1])))
    return inpaint_conditioning(latents, masks)


# --- files ---------------------------------------------------------------------------------------------------------


def wav_bytes(audio: Tensor, sample_rate: int) -> bytes:
    """[C, T] float audio as a peak-normalised 16-bit WAV (silence stays silence; NaN becomes 0)."""
    import soundfile

    samples = torch.nan_to_num(audio.float(), nan=0.0, posinf=0.0, neginf=0.0)
    peak = float(samples.abs().max()) if samples.numel() else 0.0
    if peak > 0:
        samples = samples * (0.99 / peak)
    buffer = io.BytesIO()
    soundfile.write(buffer, samples.clamp(-1, 1).numpy().T, sample_rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def spectrogram_image(
    audio: Tensor, sample_rate: int, *, height: int = 256, dynamic_range_db: float = 80.0
) -> np.ndarray:
    """A log-magnitude spectrogram of the channel mean as an RGB image [H, W, 3] uint8 (low frequencies at the
    bottom, `dynamic_range_db` below the peak mapped to black, 256 <= W <= 1024 columns)."""
    mono = torch.nan_to_num(audio.float().mean(0))  # [T]
    n_fft = 1024 if sample_rate >= 32000 else 512
    if mono.numel() < n_fft:
        mono = torch.nn.functional.pad(mono, (0, n_fft - mono.numel()))
    window = torch.hann_window(n_fft)
    spectrum = torch.stft(mono, n_fft, hop_length=n_fft // 4, window=window, return_complex=True).abs()  # [F, N]
    decibels = 20 * torch.log10(spectrum.clamp(min=1e-8))
    top = float(decibels.max())
    level = ((decibels - (top - dynamic_range_db)) / dynamic_range_db).clamp(0, 1)  # [F, N] in [0, 1]
    width = min(max(level.shape[1], 256), 1024)  # readable for short demos, bounded for long ones
    level = torch.nn.functional.interpolate(
        level[None, None], size=(height, width), mode="bilinear", align_corners=False
    )[0, 0].flip(0)  # [H, W], low frequencies last
    return _colormap(level.numpy())


def _colormap(level: np.ndarray) -> np.ndarray:
    """Black -> purple -> orange -> pale yellow, a perceptually ordered ramp like matplotlib's `magma`."""
    stops = np.array([0.0, 0.3, 0.65, 1.0])
    colours = np.array([[0, 0, 4], [120, 28, 109], [237, 105, 37], [252, 253, 191]], dtype=np.float64)
    channels = [np.interp(level, stops, colours[:, c]) for c in range(3)]
    return np.stack(channels, axis=-1).round().astype(np.uint8)


def png_bytes(image: np.ndarray) -> bytes:
    """An RGB uint8 image [H, W, 3] as PNG bytes (filter type 0 on every row, zlib-compressed)."""
    height, width, _ = image.shape
    rows = b"".join(b"\x00" + image[row].tobytes() for row in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 6)) + chunk(b"IEND", b"")


def _log_media(trainer: pl.Trainer, tag: str, audio: Tensor, image: np.ndarray, step: int, sample_rate: int) -> None:
    """Audio and spectrogram to TensorBoard and to Weights & Biases; loggers without media (CSV) keep the files on
    disk (the WAV and PNG beside each other under `demos/`)."""
    mono = torch.nan_to_num(audio.float().mean(0, keepdim=True)).clamp(-1, 1)  # [1, T]
    for logger in trainer.loggers:
        if hasattr(logger, "log_audio") and hasattr(logger, "log_image"):  # WandbLogger
            logger.log_audio(key=f"demos/{tag}/audio", audios=[mono[0].numpy()], step=step, sample_rate=[sample_rate])
            logger.log_image(key=f"demos/{tag}/spectrogram", images=[image], step=step)
            continue
        experiment = getattr(logger, "experiment", None)
        if experiment is None or not hasattr(experiment, "add_audio"):
            continue
        experiment.add_audio(f"demos/{tag}", mono, step, sample_rate=sample_rate)
        experiment.add_image(f"demos/{tag}", image, step, dataformats="HWC")
