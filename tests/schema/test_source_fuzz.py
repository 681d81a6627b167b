"""Property tests: whatever the bytes, `load_text` returns a document and/or diagnostics and never raises."""

from __future__ import annotations

import math
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audiodiff.schema import source_yaml
from audiodiff.schema.source import LoadResult, SourceDocument, load_text

VALID_JSON = """{
  "model_type": "diffusion_cond",
  "sample_rate": 44100,
  "sample_size": 2097152,
  "model": {
    "pretransform": {"type": "autoencoder", "config": {"latent_dim": 64, "downsampling_ratio": 2048}},
    "conditioning": {"configs": [{"id": "prompt", "type": "t5", "config": {"t5_model_name": "t5-base"}}],
                     "cond_dim": 768},
    "diffusion": {"cross_attention_cond_ids": ["prompt", "seconds_start"], "type": "dit",
                  "config": {"embed_dim": 1536, "depth": 24, "num_heads": 24, "scale": 1e-5, "name": "caf\\u00e9"}}
  },
  "training": {"learning_rate": 5e-5, "use_ema": true, "demo": {"demo_cfg_scales": [3, 6, 9], "x": null}}
}
"""

VALID_YAML = """model_type: diffusion_cond
sample_rate: 44100
base: &base {depth: 24, heads: 24}
model:
  pretransform:
    type: autoencoder
    config: {latent_dim: 64, downsampling_ratio: 2048}
  conditioning:
    configs:
      - id: prompt
        type: t5
        config: {t5_model_name: "t5-base"}
    cond_dim: 768
  diffusion:
    <<: *base
    cross_attention_cond_ids: [prompt, seconds_start]
    type: dit
    config: !!map {embed_dim: 1536, scale: 1e-5, name: 'caf\u00e9'}
    notes: |
      literal text
training:
  learning_rate: 5e-5
  use_ema: true
  copy: *base
"""

# characters that mean something to one of the two parsers, and some that mean trouble to any
_SPECIAL = list("{}[],:&*!|>-?#%@`'\"\\\t\r\n ~.+eE0123456789<") + [
    "\x00", "\x01", "\x7f", "\x85", "\u2028", "\ufeff", "é", "𝄞", "\ud800", "---\n", "...\n", "NaN", "Infinity",
    "1e999", "9" * 5000, "&a", "*a", "<<: ", "!!python/object:os.system ", "!!binary ", "? ",
]  # fmt: skip
_JUNK_BYTES = [b"\xff", b"\xc3", b"\xe2\x82", b"\xf0\x9d\x84", b"\x00", b"\xef\xbb\xbf", b"\xfe\xff"]

_PLAIN_TYPES = (str, int, float, bool, type(None))


def _check(result: Any, text: str | bytes) -> None:
    assert isinstance(result, LoadResult)
    for diagnostic in result.diagnostics:
        assert diagnostic.path is not None
        assert "internal error" not in diagnostic.message, diagnostic.message  # the safety net never fired
        if diagnostic.span is not None:
            assert diagnostic.span.line >= 1 and diagnostic.span.column >= 1
    if result.document is None:
        assert any(diagnostic.is_error for diagnostic in result.diagnostics), result.diagnostics
        return
    document = result.document
    assert isinstance(document, SourceDocument) and type(document.data) is dict
    _check_plain(document.data, set())
    # every member of the data can be located, and no lookup raises
    source_map = document.source_map
    for pointer in _pointers(document.data):
        assert source_map.get(pointer) is not None, pointer
        assert document.span(pointer) is not None
    document.span("/no/such/member", prefer_key=True)
    document.line(1)


def _check_plain(value: Any, seen: set[int]) -> None:
    """Only JSON-shaped values, and no container object reachable from two places."""
    if type(value) in (dict, list):
        assert id(value) not in seen, "a container is shared between two places"
        seen.add(id(value))
        items = value.items() if type(value) is dict else enumerate(value)
        for key, item in items:
            if type(value) is dict:
                assert type(key) is str
            _check_plain(item, seen)
    else:
        assert isinstance(value, _PLAIN_TYPES), type(value)


def _pointers(value: Any, pointer: str = ""):
    yield pointer
    if type(value) is dict:
        for key, item in value.items():
            yield from _pointers(item, pointer + "/" + key.replace("~", "~0").replace("/", "~1"))
    elif type(value) is list:
        for index, item in enumerate(value):
            yield from _pointers(item, f"{pointer}/{index}")


@st.composite
def mutated(draw: st.DrawFn, text: str) -> str | bytes:
    """A valid config with a few random edits: deletions, insertions, replacements, truncation, deep nesting,
    huge numbers and, sometimes, bytes that are not UTF-8."""
    fragment = st.one_of(st.sampled_from(_SPECIAL), st.text(max_size=6))
    for _ in range(draw(st.integers(1, 6))):
        operation = draw(st.sampled_from(["delete", "insert", "replace", "truncate", "nest"]))
        at = draw(st.integers(0, len(text)))
        if operation == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 20)) :]
        elif operation == "insert":
            text = text[:at] + draw(fragment) + text[at:]
        elif operation == "replace":
            text = text[:at] + draw(fragment) + text[at + 1 :]
        elif operation == "truncate":
            text = text[:at]
        else:
            depth = draw(st.sampled_from([2, 63, 64, 65, 200, 5000]))
            opener = draw(st.sampled_from(["[", '{"k": ', "- ", "k:\n"]))
            text = text[:at] + opener * depth + text[at:]
    if draw(st.booleans()):
        return text
    raw = text.encode("utf-8", "surrogatepass")
    at = draw(st.integers(0, len(raw)))
    return raw[:at] + draw(st.sampled_from(_JUNK_BYTES)) + raw[at:]


_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(params=["libyaml", "python"])
def yaml_parser(request, monkeypatch):
    if request.param == "libyaml":
        if not hasattr(yaml, "CSafeLoader"):
            pytest.skip("PyYAML was built without libyaml")
        monkeypatch.setattr(source_yaml, "EVENT_LOADER", yaml.CSafeLoader)
    else:
        monkeypatch.setattr(source_yaml, "EVENT_LOADER", yaml.SafeLoader)
    return request.param


def test_the_valid_samples_are_valid():
    for text, name in [(VALID_JSON, "a.json"), (VALID_YAML, "a.yaml")]:
        result = load_text(text, name)
        assert result.diagnostics == () and result.document is not None
        _check(result, text)


@_SETTINGS
@given(raw=st.binary(max_size=400), name=st.sampled_from(["x.json", "x.yaml", "x.yml", "stdin"]))
def test_random_bytes_never_raise(raw, name):
    _check(load_text(raw, name), raw)


@_SETTINGS
@given(text=mutated(VALID_JSON))
def test_mutated_json_never_raises(text):
    _check(load_text(text, "config.json"), text)


@given(text=mutated(VALID_YAML))
@settings(  # the fixture only selects the parser: the same choice serves every generated input
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
def test_mutated_yaml_never_raises(text, yaml_parser):
    _check(load_text(text, "config.yaml"), text)


@_SETTINGS
@given(
    value=st.recursive(
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(),
            st.floats(allow_nan=True, allow_infinity=True),
            st.text(max_size=8),
        ),
        lambda children: st.one_of(
            st.lists(children, max_size=4), st.dictionaries(st.text(max_size=6), children, max_size=4)
        ),
        max_leaves=20,
    )
)
def test_round_trip_of_generated_documents(value):
    """Whatever `json.dumps` / `yaml.safe_dump` write, the data comes back, with non-finite numbers reported."""
    import json

    document = {"root": value}
    non_finite = any(isinstance(v, float) and not math.isfinite(v) for v in _leaves(value))
    for text, name in [(json.dumps(document), "x.json"), (yaml.safe_dump(document, allow_unicode=True), "x.yaml")]:
        result = load_text(text, name)
        _check(result, text)
        codes_found = {d.code.name for d in result.diagnostics}
        if name.endswith(".json"):
            assert ("non-finite-number" in codes_found) == non_finite, result.diagnostics
            if not non_finite:
                assert result.document.data == document
        elif non_finite:
            # (not the converse: PyYAML writes a string like `1e999` unquoted, which YAML 1.2 reads as a number)
            assert "non-finite-number" in codes_found, result.diagnostics


def _leaves(value: Any):
    if type(value) is dict:
        for item in value.values():
            yield from _leaves(item)
    elif type(value) is list:
        for item in value:
            yield from _leaves(item)
    else:
        yield value
