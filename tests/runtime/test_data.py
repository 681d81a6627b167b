"""Audio and latent datasets: formats, resampling, channels, crops and padding masks, metadata sources, skipped
files, the stream sampler's shards, and metadata modules that survive spawned workers."""

from __future__ import annotations

import json
import math
import pickle
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from audiodiff.runtime.data import (
    AudioDataset,
    LatentDataset,
    MetadataModule,
    StreamBatchSampler,
    StreamKey,
    collate,
    make_loader,
    scan_audio,
    scan_latents,
)


def _sine(seconds: float, rate: int, frequency: float = 440.0, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    mono = 0.5 * np.sin(2 * np.pi * frequency * t)
    return np.stack([mono * (1 + c * 0.5) for c in range(channels)], axis=1).astype(np.float32)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "audio"
    (root / "sub").mkdir(parents=True)
    soundfile.write(root / "a.wav", _sine(0.5, 16000), 16000, subtype="PCM_16")
    soundfile.write(root / "sub" / "b.flac", _sine(2.0, 44100, channels=2), 44100)
    soundfile.write(root / "c.ogg", _sine(0.25, 22050), 22050, format="OGG", subtype="VORBIS")
    (root / "a.json").write_text(json.dumps({"class": "tone"}))
    (root / "sub" / "b.json").write_text(json.dumps({"class": "chirp", "prompt": "two channels"}))
    (root / "notes.txt").write_text("not audio")
    return root


def test_scan_reads_headers_and_sidecar_metadata(folder: Path):
    scan = scan_audio(folder, "set")
    assert [f.relpath for f in scan.files] == ["a.wav", "c.ogg", "sub/b.flac"]
    by_name = {f.relpath: f for f in scan.files}
    assert by_name["sub/b.flac"].sample_rate == 44100 and by_name["sub/b.flac"].channels == 2
    assert by_name["sub/b.flac"].metadata == {"class": "chirp", "prompt": "two channels"}
    assert by_name["c.ogg"].metadata == {}
    assert scan.skipped == []


def test_corrupt_empty_and_badly_described_files_are_skipped_and_counted(folder: Path):
    (folder / "garbage.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk")
    (folder / "empty.wav").write_bytes(b"")
    soundfile.write(folder / "silent.wav", np.zeros((0, 1), dtype=np.float32), 16000)
    soundfile.write(folder / "d.wav", _sine(0.1, 16000), 16000)
    (folder / "d.json").write_text("{not json")
    scan = scan_audio(folder, "set")
    skipped = {Path(item.path).name: item.reason for item in scan.skipped}
    assert set(skipped) == {"garbage.wav", "empty.wav", "silent.wav", "d.wav"}
    assert skipped["silent.wav"] == "no audio frames"
    assert "metadata" in skipped["d.wav"]
    assert len(scan.files) == 3


def test_manifest_lists_files_and_their_values(folder: Path):
    manifest = folder / "meta.jsonl"
    manifest.write_text(
        "\n".join(
            [
                json.dumps({"path": "a.wav", "class": "noise"}),
                json.dumps({"path": "missing.wav", "class": "tone"}),
                "{broken",
                "",
            ]
        )
    )
    scan = scan_audio(folder, "set", manifest)
    assert [(f.relpath, f.metadata) for f in scan.files] == [("a.wav", {"class": "noise"})]
    reasons = sorted(item.reason for item in scan.skipped)
    assert any("missing" in r for r in reasons) and any("unreadable manifest line" in r for r in reasons)


def test_resampling_channels_padding_and_seconds(folder: Path):
    files = {f.relpath: f for f in scan_audio(folder, "set").files}
    dataset = AudioDataset(
        [files["a.wav"], files["sub/b.flac"]], sample_rate=8000, sample_size=8000, channels=1, random_crop=False
    )
    short, info, _ = dataset[0]  # 0.5 s at 16 kHz -> 4000 samples at 8 kHz, padded to 8000
    assert short.shape == (1, 8000)
    assert info["padding_mask"].sum().item() == 4000 and info["padding_mask"][4000:].sum() == 0
    assert short[0, 4000:].abs().max() == 0 and short[0, :4000].abs().max() > 0.4
    assert info["seconds_start"] == 0 and info["seconds_total"] == 1 and info["class"] == "tone"
    # the sine survives resampling: its spectrum peaks at 440 Hz
    spectrum = np.abs(np.fft.rfft(short[0, :4000].numpy()))
    assert abs(np.argmax(spectrum) * 8000 / 4000 - 440) <= 2

    long, info, _ = dataset[1]  # 2 s of stereo at 44.1 kHz -> mono mean at 8 kHz, cropped
    assert long.shape == (1, 8000) and info["padding_mask"].all()
    assert info["seconds_total"] == 2
    assert long[0].abs().max() == pytest.approx(0.5 * 1.25, rel=0.05)  # mean of 0.5 and 0.75 amplitudes

    stereo = AudioDataset([files["a.wav"]], sample_rate=16000, sample_size=100, channels=2, random_crop=False)
    audio, _, _ = stereo[0]
    assert audio.shape == (2, 100) and torch.equal(audio[0], audio[1])


def test_random_crops_depend_only_on_seed_and_stream_position(folder: Path):
    files = [f for f in scan_audio(folder, "set").files if f.relpath == "sub/b.flac"]
    dataset = AudioDataset(files, sample_rate=8000, sample_size=2000, channels=1, random_crop=True, seed=3)
    starts = {dataset[StreamKey(0, position, 0)][1]["timestamps"][0] for position in range(12)}
    assert len(starts) > 3  # crops move
    again = AudioDataset(files, sample_rate=8000, sample_size=2000, channels=1, random_crop=True, seed=3)
    first, info, _ = dataset[StreamKey(0, 5, 0)]
    second, info_again, _ = again[StreamKey(0, 5, 0)]
    assert torch.equal(first, second) and info["timestamps"] == info_again["timestamps"]
    offset = info["timestamps"][0] * 16000  # (offset / (upper_bound + size)) with upper_bound + size = 16000
    assert info["seconds_start"] == math.floor(round(offset) / 8000)


def test_an_unreadable_item_is_replaced_by_the_next_and_reported(folder: Path, recwarn):
    files = scan_audio(folder, "set").files
    (folder / "a.wav").write_bytes(b"truncated")  # broken after the scan
    dataset = AudioDataset(files, sample_rate=8000, sample_size=400, channels=1, random_crop=False)
    audio, info, _ = dataset[0]
    assert info["relpath"] == "c.ogg" and audio.abs().max() > 0
    assert list(dataset.failures) == [str(folder / "a.wav")]
    assert any("skipping" in str(w.message) for w in recwarn)


def test_stream_sampler_gives_ranks_disjoint_shards_and_resumes_at_a_batch(folder: Path):
    ranks = [StreamBatchSampler(10, 3, seed=1, rank=r, world_size=2) for r in range(2)]
    streams = [iter(sampler) for sampler in ranks]
    for _ in range(5):
        batches = [next(stream) for stream in streams]
        positions = [{key.position for key in batch} for batch in batches]
        assert not positions[0] & positions[1]
    # an epoch is a permutation: 10 consecutive positions cover every file once
    sampler = StreamBatchSampler(10, 5, seed=1)
    keys = [key for _, batch in zip(range(2), sampler) for key in batch]
    assert sorted(key.file_index for key in keys) == list(range(10))
    resumed = StreamBatchSampler(10, 5, seed=1, start_batch=7)
    assert next(iter(resumed)) == StreamBatchSampler(10, 5, seed=1).batch_keys(7)


def test_collate_and_loader(folder: Path):
    files = scan_audio(folder, "set").files
    dataset = AudioDataset(files, sample_rate=8000, sample_size=256, channels=1, random_crop=True)
    loader = make_loader(dataset, StreamBatchSampler(len(files), 2, seed=0, start_batch=4), num_workers=0)
    batch = next(iter(loader))
    assert batch.data.shape == (2, 1, 256) and len(batch.metadata) == 2 and batch.batch == 4
    assert collate([dataset[0], dataset[1]]).batch == -1


def test_latent_dataset_crops_pads_and_keeps_masks(tmp_path: Path):
    root = tmp_path / "latents"
    root.mkdir()
    np.save(root / "x.npy", np.arange(40, dtype=np.float32).reshape(4, 10))
    (root / "x.json").write_text(json.dumps({"class": "tone", "padding_mask": [1] * 6 + [0] * 4}))
    np.save(root / "bad.npy", np.zeros(5, dtype=np.float32))  # not [C, N]
    (root / "junk.npy").write_bytes(b"nope")
    scan = scan_latents(root, "lat")
    assert [f.relpath for f in scan.files] == ["x.npy"] and len(scan.skipped) == 2
    padded = LatentDataset(scan.files, crop_length=16, random_crop=False)
    latents, info, _ = padded[0]
    assert latents.shape == (4, 16) and latents[:, 10:].abs().sum() == 0
    assert info["padding_mask"].tolist() == [1] * 6 + [0] * 10 and info["class"] == "tone"
    cropped = LatentDataset(scan.files, crop_length=4, random_crop=True, seed=2)
    starts = {int(cropped[StreamKey(0, p, 0)][0][0, 0]) for p in range(20)}
    assert len(starts) > 1 and starts <= set(range(7))


METADATA_MODULE = """
def get_custom_metadata(info, audio):
    if info["relpath"].endswith(".ogg"):
        return {"__reject__": True}
    return {"prompt": "loud" if float(audio.abs().max()) > 0.3 else "quiet", "from_module": True}
"""


def test_metadata_module_is_applied_honours_rejects_and_pickles(folder: Path, tmp_path: Path):
    path = tmp_path / "meta.py"
    path.write_text(METADATA_MODULE)
    module = MetadataModule(path)
    clone = pickle.loads(pickle.dumps(module))
    assert clone._function is None and clone.module_name == module.module_name
    files = scan_audio(folder, "set").files  # a.wav, c.ogg, sub/b.flac
    dataset = AudioDataset(
        files, sample_rate=8000, sample_size=400, channels=1, random_crop=False, metadata_modules={"set": clone}
    )
    _, info, _ = dataset[1]  # c.ogg is rejected: the next file stands in
    assert info["relpath"] == "sub/b.flac" and info["from_module"] and info["prompt"] == "loud"


@pytest.mark.slow
def test_metadata_module_works_in_spawned_workers(folder: Path, tmp_path: Path):
    path = tmp_path / "meta.py"
    path.write_text(METADATA_MODULE)
    files = [f for f in scan_audio(folder, "set").files if f.relpath == "a.wav"]
    dataset = AudioDataset(
        files,
        sample_rate=8000,
        sample_size=400,
        channels=1,
        random_crop=False,
        metadata_modules={"set": MetadataModule(path)},
    )
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_sampler=StreamBatchSampler(1, 2, seed=0),
        collate_fn=collate,
        num_workers=1,
        multiprocessing_context="spawn",
    )
    batch = next(iter(loader))
    assert [item["from_module"] for item in batch.metadata] == [True, True]
