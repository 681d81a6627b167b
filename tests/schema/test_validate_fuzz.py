"""Property: whatever the bytes, reading and validating a config ends in a clean result or in diagnostics, never in
an exception. Inputs are random mutations of the valid corpus (deleted keys, wrong types, huge numbers, deep
nesting, renamed keys, junk bytes, truncation), rendered as JSON and as YAML and fed through `check_text`."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audiodiff.compiler.pipeline import check_text
from audiodiff.diagnostics import codes
from audiodiff.diagnostics.render import json as json_render
from audiodiff.diagnostics.render import text as text_render

VALID = Path(__file__).resolve().parents[1] / "corpus" / "valid"


def _load(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    return yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else json.loads(text)


SEEDS = [_load(path) for path in sorted(VALID.iterdir()) if path.suffix in (".json", ".yaml", ".yml")]

FUZZ = settings(
    max_examples=1000,
    deadline=None,
    database=None,  # no example files written into the working tree
    derandomize=True,  # the same examples on every run: a failure here is reproducible, never flaky
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

WRONG_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.just([]),
    st.just({}),
    st.just([1, "x", None]),
    st.just({"type": "?"}),
)
HUGE_NUMBERS = st.sampled_from([10**19, -(10**19), 2**63, 10**300, -(10**300), 10**1000, 1e308, -1e308, 5e-324, 0])


def _places(node: Any) -> list[tuple]:
    """Every path to a value inside `node` (the root excluded), walked without recursion."""
    found: list[tuple] = []
    stack: list[tuple[tuple, Any]] = [((), node)]
    while stack:
        path, value = stack.pop()
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        for key, child in items:
            found.append(path + (key,))
            stack.append((path + (key,), child))
    return found


def _parent(data: Any, path: tuple) -> Any:
    for key in path[:-1]:
        data = data[key]
    return data


@st.composite
def mutated_data(draw) -> dict:
    data = copy.deepcopy(draw(st.sampled_from(SEEDS)))
    nested = False  # one deep nesting per example keeps the data within reach of json.dumps and deepcopy
    for _ in range(draw(st.integers(1, 4))):
        places = _places(data)
        if not places:
            break
        path = draw(st.sampled_from(places))
        parent, key = _parent(data, path), path[-1]
        action = draw(st.sampled_from(["delete", "wrong_type", "huge", "nest", "rename", "graft"]))
        if action == "delete":
            del parent[key]
        elif action == "wrong_type":
            parent[key] = copy.deepcopy(draw(WRONG_VALUES))  # `st.just` hands out one shared object
        elif action == "huge":
            parent[key] = draw(HUGE_NUMBERS)
        elif action == "nest" and not nested:  # up to past the loader's depth limit of 64
            nested = True
            value = parent[key]
            for _ in range(draw(st.integers(1, 72))):
                value = [value] if draw(st.booleans()) else {"k": value}
            parent[key] = value
        elif action == "rename" and isinstance(parent, dict):
            parent[str(key) + draw(st.sampled_from(["s", "_", "X", " ", "\u00e9"]))] = parent.pop(key)
        elif action == "graft":  # a whole section where a leaf belongs, or the other way round
            donor = draw(st.sampled_from(SEEDS))
            parent[key] = copy.deepcopy(donor.get("model", donor))
    return data


def _render(data: dict, format: str) -> str:
    if format == "json":
        return json.dumps(data, indent=2, ensure_ascii=False)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def _assert_well_formed(check) -> None:
    for diagnostic in check.diagnostics:
        assert diagnostic.code.id in codes.CODES
        assert diagnostic.message
        assert diagnostic.pointer is None or diagnostic.pointer == "" or diagnostic.pointer.startswith("/")
        if diagnostic.span is not None:
            assert diagnostic.span.line >= 1 and diagnostic.span.column >= 1
    if check.document is not None and not check.has_errors:
        assert check.schema is not None and check.schema.ok
    # every renderer copes with whatever came out
    result = check.result()
    assert text_render.render([result])
    document = json.loads(json_render.render([result]))
    assert document["errors"] == sum(1 for f in document["files"] for d in f["diagnostics"] if d["severity"] == "error")


@FUZZ
@given(data=mutated_data(), format=st.sampled_from(["json", "yaml"]))
def test_mutated_configs_never_raise(data: dict, format: str) -> None:
    text = _render(data, format)
    check = check_text(text, f"fuzz.{format}")
    _assert_well_formed(check)


@st.composite
def damaged_bytes(draw) -> tuple[bytes, str]:
    format = draw(st.sampled_from(["json", "yaml"]))
    raw = bytearray(_render(draw(st.sampled_from(SEEDS)), format).encode("utf-8"))
    for _ in range(draw(st.integers(1, 3))):
        offset = draw(st.integers(0, len(raw)))
        action = draw(st.sampled_from(["insert", "truncate", "cut", "flip", "repeat"]))
        if action == "insert":
            raw[offset:offset] = draw(st.binary(min_size=1, max_size=12))
        elif action == "truncate":
            del raw[offset:]
        elif action == "cut":
            del raw[offset : offset + draw(st.integers(1, 40))]
        elif action == "flip" and offset < len(raw):
            raw[offset] = draw(st.integers(0, 255))
        elif action == "repeat":
            raw[offset:offset] = raw[max(0, offset - 60) : offset]
    return bytes(raw), format


@FUZZ
@given(damaged=damaged_bytes())
def test_damaged_bytes_never_raise(damaged: tuple[bytes, str]) -> None:
    raw, format = damaged
    check = check_text(raw, f"fuzz.{format}")
    _assert_well_formed(check)


@settings(max_examples=300, deadline=None, database=None, derandomize=True)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(
                st.sampled_from(
                    [
                        "model_type",
                        "dataset_type",
                        "model",
                        "diffusion",
                        "config",
                        "type",
                        "sample_rate",
                        "sample_size",
                        "training",
                        "datasets",
                        "io_channels",
                        "conditioning",
                        "configs",
                        "id",
                    ]
                )
                | st.text(max_size=5),
                children,
                max_size=5,
            )
        ),
        max_leaves=40,
    )
)
def test_arbitrary_json_values_never_raise(value: Any) -> None:
    """Plain data straight into the validator (what a caller with an in-memory dict does)."""
    document = value if isinstance(value, dict) else {"model_type": "diffusion_cond", "model": value}
    text = json.dumps(document)
    check = check_text(text, "fuzz.json")
    _assert_well_formed(check)
