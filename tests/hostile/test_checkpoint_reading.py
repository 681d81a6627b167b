"""Malformed checkpoints: every form gives AD802 (a CheckpointError), never a traceback, from the reader, from
`ckpt inspect` and from `sample`'s first read alike."""

from __future__ import annotations

import json
import struct

import pytest
import torch
from safetensors.torch import save_file

from audiodiff.cli.ckpt import run_inspect
from audiodiff.runtime.checkpoint_io import read_training_checkpoint
from audiodiff.runtime.checkpoints import CheckpointError, read_checkpoint


def _safetensors(path, header: object, data: bytes = b"", *, raw_header: bytes | None = None) -> None:
    encoded = raw_header if raw_header is not None else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + data)


def _good_entry(**changes) -> dict:
    return {"model.w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24], **changes}}


MALFORMED_HEADERS = {
    "nested 100,000 deep": None,  # built below: too deep for any JSON reader's recursion
    "negative shape": _good_entry(shape=[-5, 3]),
    "huge shape": _good_entry(shape=[2**40, 2**40]),
    "shape not a list": _good_entry(shape="2x3"),
    "boolean in shape": _good_entry(shape=[True, 3]),
    "unknown dtype": _good_entry(dtype="F128"),
    "dtype not a string": _good_entry(dtype=7),
    "offsets reversed": _good_entry(data_offsets=[24, 0]),
    "offsets past the end": _good_entry(data_offsets=[0, 2400]),
    "offsets not integers": _good_entry(data_offsets=["0", "24"]),
    "size disagrees with shape": _good_entry(data_offsets=[0, 12]),
    "entry not an object": {"model.w": [1, 2]},
    "header a list": [1, 2, 3],
    "metadata not an object": {**_good_entry(), "__metadata__": [1]},
    "schema_version an integer": {**_good_entry(), "__metadata__": {"schema_version": 2}},
    "model_config an object": {**_good_entry(), "__metadata__": {"model_config": {"model_type": "x"}}},
    "model_config NaN": {**_good_entry(), "__metadata__": {"model_config": "NaN"}},
    "model_config nested 1,500 deep": {**_good_entry(), "__metadata__": {"model_config": "[" * 1500 + "]" * 1500}},
    "model_config too deep for the reader": {
        **_good_entry(),
        "__metadata__": {"model_config": json.dumps({"model_type": "x", "model": json.loads("[" * 100 + "]" * 100)})},
    },
}


@pytest.mark.parametrize("case", sorted(MALFORMED_HEADERS))
@pytest.mark.parametrize("header_only", [True, False])
def test_malformed_safetensors_headers_are_checkpoint_errors(tmp_path, case, header_only):
    path = tmp_path / "bad.safetensors"
    if MALFORMED_HEADERS[case] is None:
        _safetensors(path, None, bytes(24), raw_header=b"[" * 100_000 + b"]" * 100_000)
    else:
        _safetensors(path, MALFORMED_HEADERS[case], bytes(24))
    with pytest.raises(CheckpointError):
        read_checkpoint(path, header_only=header_only)


def test_a_good_header_still_reads(tmp_path):
    path = tmp_path / "good.safetensors"
    save_file({"model.w": torch.ones(2, 3)}, str(path), metadata={"schema_version": "2", "model_config": "{}"})
    checkpoint = read_checkpoint(path, header_only=True)
    assert checkpoint.state_dict["model.w"].shape == (2, 3) and checkpoint.schema_version == 2
    assert checkpoint.config == {}
    assert torch.equal(read_checkpoint(path).state_dict["model.w"], torch.ones(2, 3))


def test_a_superscript_schema_version_is_not_a_version(tmp_path):
    path = tmp_path / "sup.safetensors"
    save_file({"model.w": torch.ones(2)}, str(path), metadata={"schema_version": "²"})
    assert read_checkpoint(path, header_only=True).schema_version is None


@pytest.mark.parametrize("cut", [0.5, 0.99])
def test_inspect_verifies_offsets_like_sample(tmp_path, capsys, cut):
    path = tmp_path / "cut.safetensors"
    save_file({"model.w": torch.ones(64, 64)}, str(path))
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * cut)])
    assert run_inspect(path, format="text") == 1
    captured = capsys.readouterr()
    assert "AD802" in captured.out + captured.err
    with pytest.raises(CheckpointError, match="truncated"):
        read_checkpoint(path, header_only=True)


def test_a_state_dict_with_non_string_keys_is_refused(tmp_path):
    path = tmp_path / "keys.ckpt"
    torch.save({"state_dict": {1: torch.ones(1), "diffusion.x": torch.ones(1)}}, path)
    with pytest.raises(CheckpointError, match="not all strings"):
        read_checkpoint(path)
    with pytest.raises(ValueError):
        read_training_checkpoint(path)


@pytest.mark.parametrize("config", ["[" * 1500 + "]" * 1500, "NaN", 7, ["model_type"]])
def test_an_unusable_embedded_config_in_a_ckpt_is_refused(tmp_path, config):
    path = tmp_path / "config.ckpt"
    if config == "[" * 1500 + "]" * 1500:
        nested: object = {}
        for _ in range(1500):
            nested = {"a": nested}
        config = nested
    import sys

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(20_000)  # only for writing the hostile file: pickling recurses once per level
    try:
        torch.save({"state_dict": {"diffusion.x": torch.ones(1)}, "model_config": config}, path)
    finally:
        sys.setrecursionlimit(limit)
    with pytest.raises(CheckpointError, match="model_config"):
        read_checkpoint(path)
    with pytest.raises(ValueError):
        read_training_checkpoint(path)


def test_legacy_non_zip_tensor_only_files_are_read(tmp_path):
    path = tmp_path / "legacy.ckpt"
    torch.save({"state_dict": {"model.w": torch.arange(6.0)}}, path, _use_new_zipfile_serialization=False)
    checkpoint = read_checkpoint(path)
    assert torch.equal(checkpoint.state_dict["model.w"], torch.arange(6.0))


def test_a_legacy_file_with_a_pickled_object_is_still_refused(tmp_path):
    path = tmp_path / "evil.ckpt"
    torch.save(
        {"state_dict": {"model.w": torch.ones(1)}, "extra": CheckpointError("x")},
        path,
        _use_new_zipfile_serialization=False,
    )
    with pytest.raises(CheckpointError, match="never unpickles"):
        read_checkpoint(path)


def test_a_fifo_named_like_a_checkpoint_is_refused(tmp_path):
    import os

    if not hasattr(os, "mkfifo"):
        pytest.skip("named pipes are POSIX")
    os.mkfifo(tmp_path / "p.safetensors")
    with pytest.raises(CheckpointError, match="named pipe"):
        read_checkpoint(tmp_path / "p.safetensors", header_only=True)
