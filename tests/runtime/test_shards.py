"""WebDataset shards made in the tests: how they are listed and split (workers, ranks, epochs), what happens to
broken members and shards, `s3://` through a local fake, `pipe:` URLs, the resume position, and `run`'s
preflight of a shard dataset."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path
from typing import ClassVar

import fsspec
import pytest
import torch
from fsspec.implementations.memory import MemoryFileSystem
from shard_toy import write_shards
from toy_run import write_configs

from audiodiff.runtime.shard_data import (
    AudioCrop,
    ShardFailure,
    ShardReport,
    ShardStream,
    StreamSettings,
    make_shard_loader,
)
from audiodiff.runtime.shards import ShardSource, list_source

CROP = AudioCrop(sample_rate=8000, sample_size=1024, channels=1, random_crop=True)


def _source(folder: Path) -> ShardSource:
    return list_source("toy", path=str(folder), s3_path=None, profile=None, config_dir=folder)


def _batches(source: ShardSource, count: int, *, rank=0, world=1, workers=0, start=0, batch_size=3, **settings):
    stream = ShardStream(
        [source],
        CROP,
        StreamSettings(batch_size=batch_size, seed=5, **settings),
        rank=rank,
        world_size=world,
        start_batch=start,
    )
    report = ShardReport()
    loader = make_shard_loader(stream, num_workers=workers, report=report)
    iterator = iter(loader)
    return [next(iterator) for _ in range(count)], report


def _keys(batches) -> list[str]:
    return [item["relpath"] for batch in batches for item in batch.metadata]


def test_two_workers_and_two_ranks_see_disjoint_items_covering_each_epoch(tmp_path: Path):
    write_shards(tmp_path / "shards", shards=8, per_shard=3)
    source = _source(tmp_path / "shards")
    assert len(source.urls) == 8 and list(source.urls) == sorted(source.urls)
    # 8 shards over 2 ranks x 2 workers: 2 shards (6 items, 2 batches of 3) per slot and epoch
    per_rank = {rank: _batches(source, 8, rank=rank, world=2, workers=2, shuffle_buffer=4)[0] for rank in (0, 1)}
    for epoch in range(2):
        seen = [_keys(per_rank[rank][4 * epoch : 4 * epoch + 4]) for rank in (0, 1)]
        assert not set(seen[0]) & set(seen[1])  # the ranks share no item
        everything = seen[0] + seen[1]
        assert len(everything) == len(set(everything)) == 24  # no item twice, every item once
    first_epoch = [{item["shard"] for batch in per_rank[rank][:4] for item in batch.metadata} for rank in (0, 1)]
    assert not first_epoch[0] & first_epoch[1] and len(first_epoch[0] | first_epoch[1]) == 8
    # batch numbers run on without gaps: the trainer seeds each step's noise from them
    assert [batch.batch for batch in per_rank[0]] == list(range(8))
    epochs = [_keys(per_rank[0][:4]), _keys(per_rank[0][4:])]
    assert epochs[0] != epochs[1]  # each epoch deals the shards anew


def test_resuming_at_a_batch_continues_the_uninterrupted_stream(tmp_path: Path):
    write_shards(tmp_path / "shards", shards=4, per_shard=3)
    source = _source(tmp_path / "shards")
    whole, _ = _batches(source, 9, workers=2, batch_size=2, shuffle_buffer=3)
    resumed, _ = _batches(source, 4, workers=2, batch_size=2, start=5, shuffle_buffer=3)
    assert [b.batch for b in resumed] == [5, 6, 7, 8]
    assert _keys(resumed) == _keys(whole[5:])
    for first, second in zip(resumed, whole[5:], strict=True):
        assert torch.equal(first.data, second.data)  # the same crops too: they are seeded by stream position


def _tar_member(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def test_a_corrupt_member_is_skipped_and_named(tmp_path: Path):
    folder = tmp_path / "shards"
    write_shards(folder, shards=2, per_shard=3)
    with tarfile.open(folder / "train-0002.tar", "w") as archive:
        _tar_member(archive, "broken.flac", b"this is not audio")
        _tar_member(archive, "broken.json", json.dumps({"class": "tone"}).encode())
    with pytest.warns(RuntimeWarning, match="broken"):
        batches, report = _batches(_source(folder), 2, shuffle_buffer=0)
    keys = _keys(batches)
    assert "broken" not in keys and len(keys) == len(set(keys)) == 6
    assert list(report.members) == [f"{folder.resolve() / 'train-0002.tar'}#broken"]
    assert "broken" in report.describe()


def test_an_unreadable_shard_is_reported_and_too_many_stop_the_run(tmp_path: Path):
    folder = tmp_path / "shards"
    write_shards(folder, shards=4, per_shard=2)
    (folder / "train-0009.tar").write_bytes(b"\x00" * 100 + b"not a tar archive" * 40)
    with pytest.warns(RuntimeWarning, match="train-0009.tar"):
        batches, report = _batches(_source(folder), 4, batch_size=2, shuffle_buffer=0)
    assert len(_keys(batches)) == 8
    assert list(report.shards) == [str((folder / "train-0009.tar").resolve())]
    for index in range(4):  # now 4 of 5 shards are broken: past the threshold
        (folder / f"train-{index:04d}.tar").write_bytes(b"garbage" * 100)
    with pytest.raises(ShardFailure, match="could not be read"), pytest.warns(RuntimeWarning):
        _batches(_source(folder), 1, batch_size=2, shuffle_buffer=0)


def test_pipe_urls_and_brace_lists(tmp_path: Path):
    folder = tmp_path / "shards"
    write_shards(folder, shards=3, per_shard=2)
    listed = list_source(
        "toy", path=f"pipe:cat {folder}/train-{{0000..0002}}.tar", s3_path=None, profile=None, config_dir=tmp_path
    )
    assert listed.urls == tuple(f"pipe:cat {folder}/train-{i:04d}.tar" for i in range(3))
    batches, report = _batches(listed, 3, batch_size=2, shuffle_buffer=0)
    assert sorted(_keys(batches)) == sorted(f"s{s}_{i}" for s in range(3) for i in range(2))
    assert not report.shards and not report.members


class FakeS3(MemoryFileSystem):
    """fsspec's in-memory filesystem answering `s3://` URLs: no network, no credentials."""

    protocol = ("s3",)
    store: ClassVar[dict] = {}
    pseudo_dirs: ClassVar[list[str]] = [""]


@pytest.fixture
def fake_s3(monkeypatch):
    import importlib

    # fsspec's table of protocols (`fsspec.registry` is a read-only view of it)
    monkeypatch.setitem(importlib.import_module("fsspec.registry")._registry, "s3", FakeS3)
    FakeS3.store.clear()
    FakeS3.clear_instance_cache()
    yield FakeS3
    FakeS3.store.clear()


def _upload(local: Path, prefix: str) -> None:
    filesystem = fsspec.filesystem("s3")
    for path in sorted(local.glob("*.tar")):
        filesystem.pipe(f"{prefix}/{path.name}", path.read_bytes())


def test_an_s3_prefix_is_listed_recursively_and_streamed(tmp_path: Path, fake_s3):
    write_shards(tmp_path / "a", shards=2, per_shard=2, prefix="a")
    write_shards(tmp_path / "b", shards=1, per_shard=2, prefix="b", seed=3)
    _upload(tmp_path / "a", "s3://bucket/data/part1")
    _upload(tmp_path / "b", "s3://bucket/data/part2/deeper")
    fsspec.filesystem("s3").pipe("s3://bucket/data/README.md", b"not a shard")
    listed = list_source("toy", path=None, s3_path="bucket/data", profile="research", config_dir=tmp_path)
    assert listed.urls == (
        "s3://bucket/data/part1/a-0000.tar",
        "s3://bucket/data/part1/a-0001.tar",
        "s3://bucket/data/part2/deeper/b-0000.tar",
    )
    batches, report = _batches(listed, 3, batch_size=2, shuffle_buffer=0)
    paths = [item["path"] for batch in batches for item in batch.metadata]
    assert len(set(paths)) == 6 and not report.shards
    assert {path.split("#")[0] for path in paths} == set(listed.urls)


def _run_findings(tmp_path: Path, dataset_patch: dict, *, allow_pipe: bool = False) -> list[tuple[str, str]]:
    from audiodiff.runtime.preflight import check_configs

    model, dataset = write_configs(tmp_path, dataset_patch=dataset_patch)
    preflight = check_configs(
        model, dataset, allow_metadata_module=False, pretransform_ckpt=None, allow_pipe=allow_pipe
    )
    return [(d.code.id, d.message) for r in preflight.findings.results() for d in r.diagnostics]


WDS = {"dataset_type": "wds", "resampled_shards": False}


def test_the_preflight_opens_the_first_shard_and_reports_each_failure(tmp_path: Path, fake_s3):
    write_shards(tmp_path / "shards", shards=2, per_shard=2)
    ok = _run_findings(tmp_path, {**WDS, "datasets": [{"id": "s", "path": "shards"}]})
    assert ok == []
    missing = _run_findings(tmp_path, {**WDS, "datasets": [{"id": "s", "path": "shards/train-{0000..0002}.tar"}]})
    assert [code for code, _ in missing] == ["AD830"] and "train-0002.tar" in missing[0][1]  # and nothing else
    nowhere = _run_findings(tmp_path, {**WDS, "datasets": [{"id": "s", "path": "no-such-folder"}]})
    assert [code for code, _ in nowhere] == ["AD830"]
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.tar").write_bytes(b"garbage" * 200)
    unreadable = _run_findings(tmp_path, {**WDS, "datasets": [{"id": "s", "path": "bad"}]})
    assert [code for code, _ in unreadable] == ["AD831"] and "x.tar" in unreadable[0][1]
    no_client = _run_findings(tmp_path, {**WDS, "datasets": [{"id": "s", "path": "nosuchproto://bucket/x"}]})
    assert [code for code, _ in no_client] == ["AD832"]
    piped = {**WDS, "datasets": [{"id": "s", "path": f"pipe:cat {tmp_path}/shards/train-{{0000..0001}}.tar"}]}
    not_asked = _run_findings(tmp_path, piped)  # config text runs no command unless the run opts in
    assert [code for code, _ in not_asked] == ["AD834"] and "`cat " in not_asked[0][1] and "1 more" in not_asked[0][1]
    assert _run_findings(tmp_path, piped, allow_pipe=True) == []
    no_program = {**WDS, "datasets": [{"id": "s", "path": "pipe:no-such-program-here x"}]}
    assert [code for code, _ in _run_findings(tmp_path, no_program, allow_pipe=True)] == ["AD832"]

    def refuse(self, path, **kwargs):
        raise PermissionError("Access Denied")

    FakeS3.find = refuse  # type: ignore[method-assign]
    try:
        refused = _run_findings(tmp_path, {**WDS, "datasets": [{"id": "s", "s3_path": "s3://bucket/x"}]})
    finally:
        del FakeS3.find
    assert [code for code, _ in refused] == ["AD833"]


def test_the_first_samples_metadata_is_checked_against_the_conditioners(tmp_path: Path):
    import numpy as np
    import webdataset
    from shard_toy import clip_bytes

    folder = tmp_path / "shards"
    folder.mkdir()
    rng = np.random.default_rng(0)
    with webdataset.TarWriter(str(folder / "t-0.tar")) as writer:
        writer.write({"__key__": "a", "flac": clip_bytes("tone", rng), "json": b'{"label": "tone"}'})
    found = _run_findings(tmp_path, {**WDS, "datasets": [{"id": "s", "path": "shards"}]})
    assert [code for code, _ in found] == ["AD809"] and "`class`" in found[0][1]


def test_more_processes_than_shards_is_refused_before_the_model_is_built(tmp_path: Path):
    from audiodiff.runtime.run import RunError, RunOptions, prepare

    write_shards(tmp_path / "shards", shards=1, per_shard=2)
    model, dataset = write_configs(tmp_path, dataset_patch={**WDS, "datasets": [{"id": "s", "path": "shards"}]})
    options = RunOptions(config=model, dataset=dataset, output=tmp_path / "out", devices=2, strategy="ddp")
    with pytest.raises(RunError) as caught:
        prepare(options)
    assert any("fewer than the 2 training processes" in d.message for r in caught.value.results for d in r.diagnostics)
    # a source that cannot be listed is its own error, not also a count of zero shards
    model, dataset = write_configs(tmp_path, dataset_patch={**WDS, "datasets": [{"id": "s", "path": "nowhere"}]})
    with pytest.raises(RunError) as caught:
        prepare(RunOptions(config=model, dataset=dataset, output=tmp_path / "out"))
    assert [d.code.id for r in caught.value.results for d in r.diagnostics] == ["AD830"]
    shutil.rmtree(tmp_path / "out", ignore_errors=True)


def test_resampled_shards_draw_at_random_and_keep_going(tmp_path: Path):
    write_shards(tmp_path / "shards", shards=2, per_shard=2)
    batches, _ = _batches(_source(tmp_path / "shards"), 6, batch_size=2, resampled=True, shuffle_buffer=4)
    keys = _keys(batches)
    assert len(keys) == 12 and set(keys) <= {f"s{s}_{i}" for s in range(2) for i in range(2)}
    again, _ = _batches(_source(tmp_path / "shards"), 6, batch_size=2, resampled=True, shuffle_buffer=4)
    assert _keys(again) == keys  # seeded: the same draws on every run (and so on a resume)


def test_a_metadata_module_adds_values_and_rejects_items(tmp_path: Path):
    from audiodiff.runtime.scan import MetadataModule

    write_shards(tmp_path / "shards", shards=2, per_shard=3)
    module = tmp_path / "meta.py"
    module.write_text(
        "def get_custom_metadata(info, audio):\n"
        "    return {'__reject__': True} if info['class'] == 'noise' else {'prompt': f\"a tone of {audio.shape[-1]}\"}\n"
    )
    stream = ShardStream(
        [_source(tmp_path / "shards")],
        CROP,
        StreamSettings(batch_size=3, seed=5, shuffle_buffer=0),
        metadata_modules={"toy": MetadataModule(module)},
    )
    batch = next(iter(make_shard_loader(stream, num_workers=0, report=ShardReport())))
    assert [item["class"] for item in batch.metadata] == ["tone"] * 3  # the noise items were dropped, unreported
    assert {item["prompt"] for item in batch.metadata} == {"a tone of 1024"} and not batch.skipped
