"""Measure what the `make demo` model learned: sample every class of `examples/toy_dit.json` from the trained weights
at the demo's CFG scale over several seeds, measure each clip, and write the report figure.

    python examples/measure_demo.py runs/demo [--seeds 4] [--config examples/toy_dit.json]
                                    [--data examples/data/toy] [--report runs/demo/report.png]

What is measured (every figure is in dB or octaves, computed on one clip at the model's sample rate):

tone    peak-to-rest: the energy within +-47 Hz of the spectrum's peak and of its octave, against all the rest.
        A clean note scores +40 dB; white noise about -20 dB.            target >= +15 dB
chirp   the peak frequency of every 64 ms frame (frames within 30 dB of the loudest, median-smoothed over 5):
        its rank correlation with time (|rho| = 1: a monotonic sweep) and the octaves between the medians of the
        first and the last quarter of the track.                         target |rho| >= 0.9 and >= 1 octave
noise   the level range between the loudest and the quietest 50 ms frame: bursts with silent gaps.
                                                                         target >= 20 dB
all     three features place a clip in a space: the peak share (the part of each 64 ms frame's energy above
        100 Hz within +-2 bins, +-31 Hz, of its strongest bin, mean in dB: about -0.4 dB for a note, -9 dB for
        the noise bursts), the peak jitter (how far the strongest frequency moves from one 16 ms hop to the next,
        median in octaves: 0 for a note, 0.05 for a chirp, 0.3 and more for noise) and the sweep in octaves.
        Each generated clip goes to the class whose training clips' centre (in units of the training spread) is
        nearest. The conditioning works when every clip lands in its own class.   target: all correct
        Spectral flatness is printed too, but it measures the floor under a line rather than the line: a note
        40 dB above its floor is as flat as noise by it, and peak-to-rest already counts that floor.

Exit status 0 (with `--strict`: 1 when a target is missed); 2 when there is nothing to measure.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CLASSES = ("tone", "chirp", "noise")
TONE_BAND_HZ = 47.0
FRAME_SECONDS = 0.05
ACTIVE_RANGE_DB = 30.0
TARGETS = {"tone_peak_to_rest_db": 15.0, "chirp_octaves": 1.0, "chirp_rho": 0.9, "noise_range_db": 20.0}
EXAMPLES = Path(__file__).resolve().parent


# --- measurements (numpy only) ------------------------------------------------------------------------------------


def tone_peak_to_rest_db(audio: np.ndarray, sample_rate: int) -> float:
    """Energy within +-47 Hz of the spectral peak and of its octave, against everything else, in dB."""
    x = audio - audio.mean()
    power = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2  # [F]
    freqs = np.fft.rfftfreq(len(x), 1 / sample_rate)
    usable = freqs >= 50  # below 50 Hz is DC drift, not a note
    peak = freqs[usable][np.argmax(power[usable])]
    band = (np.abs(freqs - peak) <= TONE_BAND_HZ) | (np.abs(freqs - 2 * peak) <= TONE_BAND_HZ)
    return float(10 * np.log10((power[band].sum() + 1e-20) / (power[~band].sum() + 1e-20)))


def _frames(audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """(power spectra [N, F] of 64 ms Hann frames with a 16 ms hop, their centre frequencies [F])."""
    size = max(64, round(0.064 * sample_rate))
    hop = size // 4
    x = np.pad(audio, (0, max(0, size - len(audio))))
    count = 1 + (len(x) - size) // hop
    index = np.arange(size)[None, :] + hop * np.arange(count)[:, None]  # [N, size]
    spectra = np.abs(np.fft.rfft(x[index] * np.hanning(size), axis=1)) ** 2  # [N, F]
    return spectra, np.fft.rfftfreq(size, 1 / sample_rate)


def _active(spectra: np.ndarray) -> np.ndarray:
    energy = 10 * np.log10(spectra.sum(1) + 1e-20)  # [N]
    return energy >= energy.max() - ACTIVE_RANGE_DB


def _rank(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values))
    return ranks


def chirp_sweep(audio: np.ndarray, sample_rate: int) -> tuple[float, float]:
    """(octaves between the first and the last quarter of the peak-frequency track, Spearman rho of the track
    against time) over the frames within 30 dB of the loudest."""
    spectra, freqs = _frames(audio, sample_rate)
    usable = freqs >= 50
    peaks = freqs[usable][np.argmax(spectra[:, usable], axis=1)]  # [N]
    track = peaks[_active(spectra)]
    if len(track) < 8:
        return 0.0, 0.0
    padded = np.pad(np.log2(track), 2, mode="edge")
    smooth = np.median(np.lib.stride_tricks.sliding_window_view(padded, 5), axis=1)  # [n] in log2 Hz
    quarter = max(1, len(smooth) // 4)
    octaves = abs(float(np.median(smooth[-quarter:]) - np.median(smooth[:quarter])))
    ranks_t, ranks_f = _rank(np.arange(len(smooth), dtype=float)), _rank(smooth)
    if ranks_f.std() == 0:
        return octaves, 0.0
    rho = float(np.corrcoef(ranks_t, ranks_f)[0, 1])
    return octaves, rho


def level_range_db(audio: np.ndarray, sample_rate: int) -> float:
    """Loudest minus quietest 50 ms frame, in dB (floored at -120 dB below full scale)."""
    size = round(FRAME_SECONDS * sample_rate)
    count = len(audio) // size
    frames = audio[: count * size].reshape(count, size)
    levels = 10 * np.log10(np.maximum((frames**2).mean(1), 1e-12))
    return float(levels.max() - levels.min())


def peak_share_db(audio: np.ndarray, sample_rate: int, half_width: int = 2) -> float:
    """Mean share (dB) of each frame's energy above 100 Hz within +-`half_width` bins of its strongest bin, over
    the frames within 30 dB of the loudest: near 0 dB for a note or a slow sweep, about -10 dB for white noise."""
    spectra, freqs = _frames(audio, sample_rate)
    # from 100 Hz up: the darkest noise bursts (a 30 Hz low-pass) would otherwise pile into the lowest bins
    spectra = spectra[_active(spectra)][:, freqs >= 100] + 1e-20  # [N, F']
    strongest = np.argmax(spectra, axis=1)  # [N]
    window = np.clip(strongest[:, None] + np.arange(-half_width, half_width + 1)[None], 0, spectra.shape[1] - 1)
    share = np.take_along_axis(spectra, window, axis=1).sum(1) / spectra.sum(1)  # [N]
    return float(10 * np.log10(share).mean())


def peak_jitter_octaves(audio: np.ndarray, sample_rate: int) -> float:
    """How far the strongest frequency (from 50 Hz up) moves from one 16 ms hop to the next, median in octaves over
    the frames within 30 dB of the loudest: 0 for a steady note, about 0.05 for the chirps, 0.3 to 0.9 for
    noise, whose strongest bin jumps at random."""
    spectra, freqs = _frames(audio, sample_rate)
    usable = freqs >= 50
    peaks = freqs[usable][np.argmax(spectra[:, usable], axis=1)][_active(spectra)]  # [N]
    if len(peaks) < 2:
        return 0.0
    return float(np.median(np.abs(np.diff(np.log2(peaks)))))


def flatness_db(audio: np.ndarray, sample_rate: int) -> float:
    """Mean spectral flatness (dB) of the frames within 30 dB of the loudest: 0 dB is white noise, a pure tone
    reaches -60 dB or lower."""
    spectra, _ = _frames(audio, sample_rate)
    spectra = spectra[_active(spectra)][:, 1:] + 1e-20
    flatness = np.exp(np.log(spectra).mean(1)) / spectra.mean(1)
    return float(10 * np.log10(flatness).mean())


@dataclass(frozen=True)
class Measures:
    tone_peak_to_rest_db: float
    chirp_octaves: float
    chirp_rho: float
    noise_range_db: float
    peak_share_db: float
    peak_jitter_octaves: float
    flatness_db: float

    @classmethod
    def of(cls, audio: np.ndarray, sample_rate: int) -> Measures:
        audio = np.asarray(audio, dtype=np.float64).reshape(-1, audio.shape[-1]).mean(0)  # mono [T]
        octaves, rho = chirp_sweep(audio, sample_rate)
        return cls(
            tone_peak_to_rest_db(audio, sample_rate),
            octaves,
            rho,
            level_range_db(audio, sample_rate),
            peak_share_db(audio, sample_rate),
            peak_jitter_octaves(audio, sample_rate),
            flatness_db(audio, sample_rate),
        )

    def features(self) -> np.ndarray:
        """The space the classes are told apart in: (peak share dB, peak jitter octaves, sweep octaves)."""
        return np.array([self.peak_share_db, self.peak_jitter_octaves, self.chirp_octaves])

    def meets(self, name: str) -> bool:
        """Whether a clip of class `name` meets its class's target."""
        if name == "tone":
            return self.tone_peak_to_rest_db >= TARGETS["tone_peak_to_rest_db"]
        if name == "chirp":
            return self.chirp_octaves >= TARGETS["chirp_octaves"] and abs(self.chirp_rho) >= TARGETS["chirp_rho"]
        return self.noise_range_db >= TARGETS["noise_range_db"]

    def headline(self, name: str) -> str:
        if name == "tone":
            return f"peak-to-rest {self.tone_peak_to_rest_db:+.1f} dB"
        if name == "chirp":
            return f"sweep {self.chirp_octaves:.2f} oct, rho {self.chirp_rho:+.2f}"
        return f"level range {self.noise_range_db:.1f} dB"


class NearestCentroid:
    """Classes as the centres of their training clips' features, in units of the features' spread."""

    def __init__(self, training: dict[str, list[Measures]]) -> None:
        everything = np.stack([m.features() for items in training.values() for m in items])  # [N, 3]
        self.scale = everything.std(0) + 1e-9
        self.centres = {
            name: np.mean([m.features() for m in items], axis=0) / self.scale for name, items in training.items()
        }

    def __call__(self, measures: Measures) -> str:
        point = measures.features() / self.scale
        return min(self.centres, key=lambda name: float(np.sum((point - self.centres[name]) ** 2)))


# --- the whole check ----------------------------------------------------------------------------------------------


@dataclass
class ClassResult:
    name: str
    training: list[Measures]
    generated: list[Measures]
    labels: list[str]  # the nearest-centroid class of every generated clip

    @property
    def met(self) -> int:
        return sum(m.meets(self.name) for m in self.generated)

    @property
    def told_apart(self) -> int:
        return sum(label == self.name for label in self.labels)


def training_clips(folder: Path, sample_rate: int, samples: int, per_class: int = 4) -> dict[str, list[np.ndarray]]:
    """The first `per_class` clips of every class from the toy dataset's manifest, at `sample_rate`, cut or padded
    to `samples` (as the training crops are)."""
    import soundfile
    import soxr

    found: dict[str, list[np.ndarray]] = {name: [] for name in CLASSES}
    for line in (folder / "metadata.jsonl").read_text().splitlines():
        item = json.loads(line)
        if len(found[item["class"]]) >= per_class:
            continue
        audio, rate = soundfile.read(folder / item["path"], dtype="float64", always_2d=True)
        mono = audio.mean(1)
        if rate != sample_rate:
            mono = soxr.resample(mono, rate, sample_rate)
        found[item["class"]].append(np.pad(mono[:samples], (0, max(0, samples - len(mono)))))
    return found


def load_model(config: Path, checkpoint: Path):
    """(spec, model with the checkpoint's weights, in eval mode)."""
    from audiodiff.compiler.materialize import build_model
    from audiodiff.compiler.pipeline import check_file
    from audiodiff.runtime.checkpoints import load_checkpoint_into, read_checkpoint

    check = check_file(config)
    if check.spec is None:
        raise SystemExit(f"error: {config} does not validate; run `audiodiff validate {config}`")
    model = build_model(check.spec)
    load_checkpoint_into(model, read_checkpoint(checkpoint))
    return check.spec, model.eval()


def demo_settings(spec) -> tuple[float, int]:
    """(the demo's largest CFG scale, the demo's sampler steps): what the demo renders, the figures use."""
    demo = spec.training.demo
    return float(max(demo.demo_cfg_scales or (1.0,))), int(demo.demo_steps)


def demo_sampler(spec) -> str:
    """The sampler the training demos use for this model's objective."""
    from audiodiff.compiler.materialize import objective_of

    return objective_of(spec).demo_sampler


def generate_clips(spec, model, name: str, seeds: list[int], cfg_scale: float, steps: int) -> list[np.ndarray]:
    """One clip [T] of class `name` per seed, sampled as `audiodiff sample` does with the demos' sampler, as long
    as the demo clips."""
    import torch

    from audiodiff.runtime.generate import SampleRequest, generate, plan

    clips = []
    seconds = spec.sample_size / spec.sample_rate
    sampler = demo_sampler(spec)
    for seed in seeds:
        request = SampleRequest(
            seconds=seconds, steps=steps, cfg_scale=cfg_scale, sampler=sampler, seed=seed, cond={"class": name}
        )
        with torch.inference_mode():
            audio = generate(model, spec, request, plan(spec, request))  # [1, C, T]
        clips.append(audio[0].mean(0).numpy().astype(np.float64))
    return clips


def measure(
    spec, model, data: Path, seeds: list[int]
) -> tuple[list[ClassResult], dict[str, list[np.ndarray]], dict[str, list[np.ndarray]]]:
    """(per-class results, training clips by class, generated clips by class)."""
    rate, samples = spec.sample_rate, spec.sample_size
    cfg_scale, steps = demo_settings(spec)
    reference = training_clips(data, rate, samples)
    training = {name: [Measures.of(clip, rate) for clip in clips] for name, clips in reference.items()}
    classify = NearestCentroid(training)
    generated = {name: generate_clips(spec, model, name, seeds, cfg_scale, steps) for name in CLASSES}
    results = []
    for name in CLASSES:
        measured = [Measures.of(clip, rate) for clip in generated[name]]
        results.append(ClassResult(name, training[name], measured, [classify(m) for m in measured]))
    return results, reference, generated


def summary(results: list[ClassResult], cfg_scale: float) -> list[str]:
    lines = [
        (
            f"measured at CFG scale {cfg_scale:g}, {len(results[0].generated)} seeds per class "
            "(targets: tone >= +15 dB; chirp >= 1 octave, |rho| >= 0.9; noise >= 20 dB)"
        )
    ]
    for result in results:
        values = ", ".join(m.headline(result.name) for m in result.generated)
        lines.append(f"  {result.name:<5} {values}")
        lines.append(
            f"        {result.met}/{len(result.generated)} meet the target; training clips: "
            f"{result.training[0].headline(result.name)}; told apart (peak share, jitter, sweep): "
            f"{result.told_apart}/{len(result.labels)}; peak share "
            + ", ".join(f"{m.peak_share_db:.1f}" for m in result.generated)
            + " dB; flatness "
            + ", ".join(f"{m.flatness_db:.0f}" for m in result.generated)
            + " dB"
        )
    return lines


def report_rows(
    results: list[ClassResult],
    reference: dict[str, list[np.ndarray]],
    generated: dict[str, list[np.ndarray]],
    seeds: list[int],
):
    from audiodiff.runtime.demo_plots import ReportRow

    rows = []
    for result in results:
        captions = [f"seed {seed}: {m.headline(result.name)}" for seed, m in zip(seeds, result.generated, strict=False)]
        rows.append(
            ReportRow(
                label=result.name,
                training=reference[result.name][0],
                training_caption=f"training: {result.training[0].headline(result.name)}",
                generated=list(zip(captions, generated[result.name], strict=False)),
            )
        )
    return rows


def newest_export(run: Path) -> Path | None:
    exported = sorted((run / "checkpoints").glob("*.safetensors"))
    return exported[-1] if exported else None


def check(
    run: Path, *, config: Path, data: Path, seeds: int = 4, checkpoint: Path | None = None, report: Path | None = None
) -> tuple[list[ClassResult], list[str]]:
    """Measure the run's newest export (or `checkpoint`), write the report (default RUN/report.png), and return
    the per-class results with the printed summary."""
    checkpoint = checkpoint or newest_export(run)
    if checkpoint is None:
        raise FileNotFoundError(f"no exported checkpoint under {run / 'checkpoints'}")
    spec, model = load_model(config, checkpoint)
    seed_list = list(range(seeds))
    results, reference, generated = measure(spec, model, data, seed_list)
    cfg_scale, _ = demo_settings(spec)

    from audiodiff.runtime.demo_plots import read_loss_history, report_png

    report = report or run / "report.png"
    title = f"{config.name}, {checkpoint.name}: training clip vs generated (CFG {cfg_scale:g}) per class"
    rows = report_rows(results, reference, generated, seed_list)
    report.write_bytes(report_png(rows, read_loss_history(run / "demos"), spec.sample_rate, title=title))
    return results, [f"report: {report}", *summary(results, cfg_scale)]


def all_met(results: list[ClassResult]) -> bool:
    return all(r.met == len(r.generated) and r.told_apart == len(r.labels) for r in results)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="the run folder of `make demo` (runs/demo)")
    parser.add_argument("--config", type=Path, default=EXAMPLES / "toy_dit.json")
    parser.add_argument("--data", type=Path, default=EXAMPLES / "data" / "toy")
    parser.add_argument("--checkpoint", type=Path, help="default: the run's newest exported .safetensors")
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--report", type=Path, help="default: RUN/report.png")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    arguments = parser.parse_args(argv)
    try:
        results, lines = check(
            arguments.run,
            config=arguments.config,
            data=arguments.data,
            seeds=arguments.seeds,
            checkpoint=arguments.checkpoint,
            report=arguments.report,
        )
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    met = all_met(results)
    print("all targets met" if met else "some targets missed")
    return 1 if arguments.strict and not met else 0


if __name__ == "__main__":
    raise SystemExit(main())
