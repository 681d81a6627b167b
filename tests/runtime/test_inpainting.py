"""Inpainting: the random training masks (kinds, probabilities, real frames only), the masks a sampling request
asks for, the tensors the training step injects, and `sample --inpaint / --mask / --continue` checked against the
model before it is built."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from toy_run import INPAINT_PATCH, REPO, TINY_MODEL, merge, options, write_configs
from typer.testing import CliRunner

from audiodiff.cli.app import app
from audiodiff.compiler.materialize import build_model
from audiodiff.compiler.pipeline import check_file
from audiodiff.diagnostics.target import DEFAULT_TARGET, UPSTREAM_TARGET
from audiodiff.runtime.checkpoints import released_state_dict, write_released
from audiodiff.runtime.generate import RequestError, SampleRequest, plan
from audiodiff.runtime.inpainting import (
    MaskSettings,
    continuation_mask,
    demo_masks,
    frame_mask,
    generated_spans,
    parse_spans,
    random_masks,
)
from audiodiff.schema.validate import validate_data

INPAINT_MODEL = merge(TINY_MODEL, INPAINT_PATCH)


def _padding(real: list[int], length: int) -> torch.Tensor:
    padding = torch.zeros(len(real), length)
    for index, count in enumerate(real):
        padding[index, :count] = 1
    return padding


def test_each_mask_kind_hides_only_real_frames():
    padding = _padding([40, 64, 0], 64)
    torch.manual_seed(0)
    full = random_masks(padding, MaskSettings(probabilities=(0, 1, 0)))
    assert full.shape == (3, 1, 64) and (full == 0).all()  # everything generated, padding included
    for _ in range(20):
        causal = random_masks(padding, MaskSettings(probabilities=(0, 0, 1)))[:, 0]
        for row, real in zip(causal, [40, 64, 0], strict=True):
            kept = int(row[:real].sum())
            assert (row[:kept] == 1).all() and (row[kept:real] == 0).all()  # a kept prefix, then generated
            assert (row[real:] == 1).all()  # padding stays "known" (its masked input is the zero padding)
        segments = random_masks(padding, MaskSettings(max_segments=3, probabilities=(1, 0, 0)))[:, 0]
        assert (segments[0, 40:] == 1).all() and (segments[2] == 1).all()  # nothing real to hide in item 2
        for row in segments[:2]:
            gaps = int(((row[1:] == 0) & (row[:-1] == 1)).sum()) + int(row[0] == 0)
            assert 1 <= gaps <= 3 and (row == 0).any()


def test_mask_kinds_follow_the_configured_probabilities_and_the_step_seed():
    padding = torch.ones(4000, 16)
    torch.manual_seed(1)
    masks = random_masks(padding, MaskSettings())  # the reference's default 0.1 / 0.8 / 0.1
    full = float((masks.sum((1, 2)) == 0).float().mean())
    assert 0.77 < full < 0.85  # "full mask" 0.8 (+ the rare causal draw that keeps nothing)
    torch.manual_seed(1)
    again = random_masks(padding, MaskSettings())
    assert torch.equal(again, masks)  # the step reseeds torch, so a resumed run draws the same masks


def test_mask_settings_come_from_the_config():
    spec = validate_data(INPAINT_MODEL).spec
    assert MaskSettings.from_spec(spec.training.inpainting) == MaskSettings(max_segments=3)
    patched = merge(
        INPAINT_MODEL, {"training": {"inpainting": {"mask_kwargs": {"mask_type_probabilities": [0.2, 0.3, 0.5]}}}}
    )
    settings = MaskSettings.from_spec(validate_data(patched).spec.training.inpainting)
    assert settings.probabilities == (0.2, 0.3, 0.5)


@pytest.mark.parametrize(
    "text, problem",
    [("1", "START:END"), ("a:2", "seconds"), ("2:1", "before the end"), ("-1:1", "at least 0"), ("0:inf", "finite")],
)
def test_mask_spans_are_parsed_strictly(text: str, problem: str):
    with pytest.raises(ValueError, match=problem):
        parse_spans(text)
    assert parse_spans("0.5:1, 2:2.25") == [(0.5, 1.0), (2.0, 2.25)]


def test_request_masks_cover_every_frame_a_span_touches():
    mask = frame_mask([(0.01, 0.02)], sample_rate=8000, ratio=16, latent_length=64)  # samples 80..160
    assert (mask[0, 0] == 0).nonzero().flatten().tolist() == list(range(5, 10))  # frames 5 (80..95) to 9
    assert generated_spans(mask, seconds_per_frame=16 / 8000) == [(0.01, 0.02)]
    kept = continuation_mask(100, ratio=16, latent_length=8)  # 6 whole frames known
    assert kept[0, 0].tolist() == [1, 1, 1, 1, 1, 1, 0, 0]
    demos = demo_masks(2, 8)[:, 0]
    assert demos[0].tolist() == [1, 1, 0, 0, 0, 0, 1, 1] and demos[1].tolist() == [1, 1, 1, 1, 0, 0, 0, 0]


def test_the_training_step_conditions_on_the_clean_latents_under_a_random_mask(tmp_path: Path, monkeypatch):
    from test_training import _trainer_and_batch

    trainer, batch = _trainer_and_batch(tmp_path, INPAINT_PATCH)
    assert trainer.settings.inpainting == MaskSettings(max_segments=3)
    seen = {}

    def recording(x, t, cond, **kwargs):
        seen.update(cond)
        return torch.zeros_like(x)

    monkeypatch.setattr(trainer.diffusion, "forward", recording)
    trainer.compute_loss(batch)
    mask, masked = seen["inpaint_mask"][0], seen["inpaint_masked_input"][0]
    latents = trainer.latents_of(batch.data)
    assert mask.shape == (4, 1, latents.shape[-1]) and masked.shape == latents.shape
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    torch.testing.assert_close(masked, latents * mask)


@pytest.mark.parametrize("target", [DEFAULT_TARGET, UPSTREAM_TARGET], ids=str)
def test_the_shipped_inpainting_example_is_clean_for_both_runtimes(target):
    check = check_file(REPO / "examples" / "toy_inpaint.json", target=target)
    assert check.spec is not None and check.diagnostics == [], [d.message for d in check.diagnostics]
    assert MaskSettings.from_spec(check.spec.training.inpainting) == MaskSettings(3, (0.4, 0.2, 0.4))


def test_run_preflight_accepts_inpainting_models(tmp_path: Path):
    from audiodiff.diagnostics import codes
    from audiodiff.runtime.run import prepare

    model_path, dataset_path = write_configs(tmp_path, INPAINT_PATCH)
    assert check_file(model_path).spec.model_type == "diffusion_cond_inpaint"
    plan = prepare(options(model_path, dataset_path, tmp_path / "run"), dry_run=True)  # raises on any error
    found = [d.code for result in plan.findings.results() for d in result.diagnostics]
    assert codes.TRAINING_UNSUPPORTED not in found


# --- sampling requests -------------------------------------------------------------------------------------------------


def _request(**settings) -> SampleRequest:
    return SampleRequest(cond={"class": "tone"}, steps=2, **settings)


def test_inpainting_requests_are_checked_against_the_model_and_the_clip():
    spec = validate_data(INPAINT_MODEL).spec
    audio = torch.zeros(1, 800)  # 0.1 s at 8 kHz
    the_plan = plan(spec, _request(known_audio=audio, mask_spans=((0.02, 0.06),)))
    assert the_plan.samples == 800  # the audio's own length
    assert the_plan.inpaint_mask is not None and the_plan.inpaint_mask.shape == (1, 1, the_plan.latent_length)
    with pytest.raises(RequestError, match=r"ends after the 0\.100 s clip") as raised:
        plan(spec, _request(known_audio=audio, mask_spans=((0.05, 0.2),)))
    assert raised.value.code.id == "AD840"
    with pytest.raises(RequestError, match="leaves nothing to generate") as raised:
        plan(spec, _request(known_audio=audio, continuation=True, seconds=0.1))
    assert raised.value.code.id == "AD840"
    continued = plan(spec, _request(known_audio=audio, continuation=True, seconds=0.2))
    assert continued.inpaint_mask is not None and continued.inpaint_mask[0, 0, :50].all()
    assert not continued.inpaint_mask[0, 0, 50:].any()
    plain = validate_data(TINY_MODEL).spec
    with pytest.raises(RequestError, match="needs an inpainting model") as raised:
        plan(plain, _request(known_audio=audio, mask_spans=((0.02, 0.06),)))
    assert raised.value.code.id == "AD840"


@pytest.fixture()
def inpaint_checkpoint(tmp_path: Path) -> Path:
    spec = validate_data(INPAINT_MODEL).spec
    torch.manual_seed(0)
    model = build_model(spec)
    path = tmp_path / "inpaint.safetensors"
    write_released(path, released_state_dict(model), config=INPAINT_MODEL, schema_version=1)
    return path


def _wav(path: Path, channels: int, seconds: float = 0.1) -> Path:
    samples = int(8000 * seconds)
    soundfile.write(path, np.zeros((samples, channels), dtype=np.float32) + 0.1, 8000)
    return path


def test_sample_inpaints_and_continues_from_the_command_line(tmp_path: Path, inpaint_checkpoint: Path):
    runner = CliRunner()
    take = _wav(tmp_path / "take.wav", 1)
    common = ["sample", str(inpaint_checkpoint), "--cond", "class=tone", "--steps", "2"]
    result = runner.invoke(app, [*common, "--inpaint", str(take), "--mask", "0.02:0.06", "-o", str(tmp_path / "a.wav")])
    assert result.exit_code == 0, result.output
    assert "generated 0.02-0.06 s of 0.10 s" in result.output
    assert soundfile.info(str(tmp_path / "a.wav")).frames == 800
    result = runner.invoke(app, [*common, "--continue", str(take), "--seconds", "0.2", "-o", str(tmp_path / "b.wav")])
    assert result.exit_code == 0, result.output
    assert soundfile.info(str(tmp_path / "b.wav")).frames == 1600


@pytest.mark.parametrize(
    "arguments, exit_code, phrase",
    [
        (["--mask", "0:0.05"], 2, "give `--inpaint AUDIO` too"),
        (["--inpaint", "{mono}"], 2, "needs `--mask START:END`"),
        (["--inpaint", "{mono}", "--mask", "0.05"], 2, "is not START:END"),
        (["--inpaint", "{mono}", "--mask", "0:0.05", "--continue", "{mono}"], 2, "not both"),
        (["--inpaint", "{mono}", "--mask", "0.05:0.5"], 1, "AD840"),
        (["--inpaint", "{stereo}", "--mask", "0:0.05"], 1, "has 2 channels and the model generates 1"),
        (["--continue", "{mono}", "--seconds", "0.05"], 1, "leaves nothing to generate"),
    ],
)
def test_bad_inpainting_requests_stop_before_the_model_is_built(
    tmp_path: Path, inpaint_checkpoint: Path, monkeypatch, arguments: list[str], exit_code: int, phrase: str
):
    import audiodiff.runtime.loading as loading

    monkeypatch.setattr(loading, "load_model", lambda *a, **k: pytest.fail("the model must not be built"))
    files = {"mono": _wav(tmp_path / "mono.wav", 1), "stereo": _wav(tmp_path / "stereo.wav", 2)}
    arguments = [argument.format(**files) for argument in arguments]
    result = CliRunner().invoke(
        app, ["sample", str(inpaint_checkpoint), "--cond", "class=tone", *arguments, "-o", str(tmp_path / "x.wav")]
    )
    assert result.exit_code == exit_code and phrase in result.output, result.output
    assert not (tmp_path / "x.wav").exists()


def test_a_model_that_does_not_inpaint_is_named(tmp_path: Path):
    spec = validate_data(TINY_MODEL).spec
    torch.manual_seed(0)
    path = tmp_path / "plain.safetensors"
    write_released(path, released_state_dict(build_model(spec)), config=TINY_MODEL, schema_version=1)
    take = _wav(tmp_path / "take.wav", 1)
    result = CliRunner().invoke(
        app, ["sample", str(path), "--cond", "class=tone", "--continue", str(take), "-o", str(tmp_path / "x.wav")]
    )
    assert result.exit_code == 1 and "AD840" in result.output and "needs an inpainting model" in result.output


def test_inpainting_trains_on_pre_encoded_latents_with_demos_of_the_decoded_clips(tmp_path: Path):
    from audiodiff.runtime.encode import EncodeOptions, encode
    from audiodiff.runtime.run import run
    from toy_run import options

    model, dataset = write_configs(tmp_path, INPAINT_PATCH)
    _, latents = encode(EncodeOptions(config=model, dataset=dataset, output=tmp_path / "latents", batch_size=4))
    demo = {"demo_every": 2, "demo_steps": 2, "num_demos": 2, "demo_cfg_scales": [2]}
    pre_encoded, _ = write_configs(
        tmp_path / "pre", merge(INPAINT_PATCH, {"training": {"pre_encoded": True, "demo": demo}})
    )
    said: list[str] = []
    outcome = run(options(pre_encoded, latents, tmp_path / "run", max_steps=2), echo=said.append)
    assert outcome.steps == 2
    summary = "\n".join(said)
    assert "inpainting  random masks each step: 1-3 segments 0.1, whole clip 0.8, causal suffix 0.1" in summary
    round_folder = tmp_path / "run" / "demos" / "step_0000002"
    assert sorted(p.name for p in round_folder.glob("*.wav")) == ["demo_0_cfg_2.wav", "demo_1_cfg_2.wav"]
    assert (round_folder / "report.png").read_bytes()[:4] == b"\x89PNG"
    for wav in round_folder.glob("*.wav"):
        assert soundfile.info(str(wav)).frames == 1024  # the model's sample_size, decoded from the latents
