"""The studio answers takes exactly as `audiodiff sample` would: same checks, same audio, and the command it shows
reproduces the take."""

from __future__ import annotations

import json
import math
import shlex
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile
from studio_model import EXAMPLE, write_model

from audiodiff.runtime.loading import LoadRefused
from audiodiff.serve.studio import Cancelled, Studio, TakeRefused, TakeRequest


@pytest.fixture(scope="module")
def model_files(tmp_path_factory) -> tuple[Path, Path]:
    return write_model(tmp_path_factory.mktemp("studio"))


@pytest.fixture(scope="module")
def studio(model_files, tmp_path_factory) -> Studio:
    config, checkpoint = model_files
    return Studio(config, checkpoint, takes_dir=tmp_path_factory.mktemp("takes"), max_seconds=4)


def test_a_take_writes_audio_of_the_asked_length_and_a_spectrogram(studio: Studio):
    progress: list[tuple[int, int]] = []
    take = studio.generate(
        TakeRequest(conditions={"class": "chirp"}, seconds=0.5, steps=3, cfg_scale=4, seed=7, batch=2),
        progress=lambda done, total: progress.append((done, total)),
    )
    assert [p.name for p in take.audio] == ["take_1.wav", "take_2.wav"]  # batches are numbered from 1
    for path in take.audio:
        info = soundfile.info(str(path))
        rate = json.loads(EXAMPLE.read_text())["sample_rate"]
        assert (info.samplerate, info.frames, info.channels) == (rate, rate // 2, 1)
    assert all(p.suffix == ".png" and p.stat().st_size > 5000 for p in take.spectrograms)
    assert progress == [(1, 3), (2, 3), (3, 3)]
    assert "class=chirp" in take.summary and "0.50 s" in take.summary


def test_the_shown_command_reproduces_the_take(studio: Studio, tmp_path: Path):
    take = studio.generate(TakeRequest(conditions={"class": "tone"}, seconds=0.25, steps=4, cfg_scale=3, seed=11))
    words = shlex.split(take.command)
    assert words[:2] == ["audiodiff", "sample"] and words[-2:] == ["-o", "take.wav"]
    out = tmp_path / "again.wav"
    result = subprocess.run(
        [sys.executable, "-m", "audiodiff", *words[1:-2], "-o", str(out)], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr
    ours, _ = soundfile.read(str(take.audio[0]))
    theirs, _ = soundfile.read(str(out))
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize(
    ("request_", "says"),
    [
        (TakeRequest(conditions={"class": "tone"}, seconds=100.0), "at most 4 s"),
        (TakeRequest(conditions={"class": "tone"}, seconds=math.nan), "finite"),
        (TakeRequest(conditions={"class": "tone"}, cfg_scale=-1), "must not be negative"),
        (TakeRequest(conditions={"class": "tone"}, cfg_scale=math.inf), "finite"),
        (TakeRequest(conditions={"class": "tone"}, batch=9), "batch"),
        (TakeRequest(conditions={"class": "drum"}, seconds=0.25), "not one of the options"),
        (TakeRequest(conditions={"class": "tone"}, seconds=0.25, sampler="dpmpp-2m-sde"), "not a sampler"),
        (TakeRequest(conditions={"class": "tone"}, seconds=0.25, steps=0), "at least 1"),
    ],
)
def test_requests_are_checked_as_sample_checks_them(studio: Studio, request_: TakeRequest, says: str):
    with pytest.raises(TakeRefused, match=says):
        studio.generate(request_)


def test_cancelling_stops_between_steps(studio: Studio):
    flag = threading.Event()
    seen: list[int] = []

    def progress(done: int, total: int) -> None:
        seen.append(done)
        if done == 2:
            flag.set()

    with pytest.raises(Cancelled):
        studio.generate(
            TakeRequest(conditions={"class": "noise"}, seconds=0.25, steps=50), progress=progress, cancel=flag
        )
    assert seen == [1, 2]


def test_a_checkpoint_that_does_not_fit_is_refused_before_serving(model_files, tmp_path: Path):
    import json

    config, checkpoint = model_files
    other = json.loads(config.read_text())
    other["model"]["diffusion"]["config"]["depth"] = 2  # the checkpoint has one block
    wider = tmp_path / "deeper.json"
    wider.write_text(json.dumps(other))
    with pytest.raises(LoadRefused) as refused:
        Studio(wider, checkpoint, takes_dir=tmp_path)
    assert refused.value.diagnostics[0].code.id == "AD803"
    assert "transformer.layers.1" in refused.value.detail


def test_the_page_is_built_from_the_studio_without_serving(studio: Studio):
    pytest.importorskip("gradio", reason="gradio is not installed (the serve extra has it)")
    from audiodiff.serve.page import build_page

    page = build_page(studio, None, title="model.json")
    ids = {block.elem_id for block in page.blocks.values() if getattr(block, "elem_id", None)}
    assert {
        "ad-cond-class",
        "ad-seconds",
        "ad-steps",
        "ad-sampler",
        "ad-cfg",
        "ad-generate",
        "ad-cancel",
        "ad-audio-0",
        "ad-spectrograms",
        "ad-command",
        "ad-config-text",
        "ad-config-check",
    } <= ids
    sampler = next(b for b in page.blocks.values() if getattr(b, "elem_id", None) == "ad-sampler")
    # the rectified-flow family, starting at the ping-pong sampler an `rf_denoiser` model samples with
    assert sampler.value == "pingpong" and ("euler", "euler") in sampler.choices
    refused = build_page(None, "<p>refused</p>", title="model.json")
    assert "ad-load-refusal" in {getattr(b, "elem_id", None) for b in refused.blocks.values()}


# --- inpainting models ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def inpaint_studio(tmp_path_factory) -> Studio:
    from studio_model import inpaint_config

    folder = tmp_path_factory.mktemp("inpaint")
    model, checkpoint = write_model(folder, inpaint_config())
    return Studio(model, checkpoint, takes_dir=folder / "takes", max_seconds=4)


def test_an_inpainting_take_keeps_the_audio_length_and_shows_the_command(inpaint_studio: Studio, tmp_path: Path):
    assert inpaint_studio.form.inpainting
    known = tmp_path / "known.wav"
    rate = json.loads(EXAMPLE.read_text())["sample_rate"]  # the inpainting model's, made from the example
    soundfile.write(known, np.zeros(rate // 2, dtype=np.float32), rate)  # 0.5 s
    take = inpaint_studio.generate(
        TakeRequest(conditions={"class": "tone"}, seconds=2.0, steps=2, known_audio=known, mask="0.1:0.3")
    )
    assert soundfile.info(str(take.audio[0])).frames == rate // 2  # the audio's length, not `seconds`
    assert "regenerated 0.1-0.3 s" in take.summary
    assert _cyan_pixels(take.spectrograms[0]) > 100  # the regenerated seconds are outlined
    words = shlex.split(take.command)
    assert words[words.index("--inpaint") + 1] == str(known) and words[words.index("--mask") + 1] == "0.1:0.3"
    assert "--seconds" not in words
    continued = inpaint_studio.generate(
        TakeRequest(conditions={"class": "tone"}, seconds=1.0, steps=2, known_audio=known)
    )
    assert soundfile.info(str(continued.audio[0])).frames == rate and "--continue" in continued.command
    plain = inpaint_studio.generate(TakeRequest(conditions={"class": "tone"}, seconds=0.5, steps=2))
    assert _cyan_pixels(plain.spectrograms[0]) == 0  # nothing regenerated around known audio: no outline
    with pytest.raises(TakeRefused, match="ends after"):
        inpaint_studio.generate(TakeRequest(conditions={"class": "tone"}, steps=2, known_audio=known, mask="0.4:0.9"))
    with pytest.raises(TakeRefused, match="upload the audio"):
        inpaint_studio.generate(TakeRequest(conditions={"class": "tone"}, steps=2, mask="0.1:0.2"))


def test_the_inpainting_fields_show_only_for_inpainting_models(studio: Studio, inpaint_studio: Studio):
    pytest.importorskip("gradio", reason="gradio is not installed (the serve extra has it)")
    from audiodiff.serve.page import build_page

    def mask_visible(page) -> bool:
        mask = next(b for b in page.blocks.values() if getattr(b, "elem_id", None) == "ad-mask")
        return all(getattr(parent, "visible", True) for parent in _parents(page, mask))

    assert mask_visible(build_page(inpaint_studio, None, title="inpaint.json"))
    assert not mask_visible(build_page(studio, None, title="model.json"))


def _cyan_pixels(png: Path) -> int:
    """Pixels of the outline colour in a spectrogram image (the magma colour map has no cyan)."""
    from matplotlib.image import imread

    image = imread(str(png))[..., :3]
    return int(((image[..., 0] < 0.2) & (image[..., 1] > 0.8) & (image[..., 2] > 0.8)).sum())


def _parents(page, block) -> list:
    """The block and the blocks that contain it."""
    chain, current = [], block
    while current is not None:
        chain.append(current)
        current = getattr(current, "parent", None)
    return chain
