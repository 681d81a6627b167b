"""`--set PATH=VALUE` parsing and application (schema/overrides.py): paths, values, did-you-mean, no mutation."""

from __future__ import annotations

import copy

import pytest

from audiodiff.schema.overrides import OverrideError, apply, parse, relocate

DATA = {"model": {"diffusion": {"config": {"depth": 4, "a.b": 1}}, "conditioning": {"configs": [{"id": "x"}]}}}


@pytest.mark.parametrize(
    ("text", "pointer", "value"),
    [
        ("model.diffusion.config.depth=8", "/model/diffusion/config/depth", 8),
        ("/model/diffusion/config/a.b=2", "/model/diffusion/config/a.b", 2),  # a key with a dot: a pointer
        ("model.conditioning.configs.0.id=prompt", "/model/conditioning/configs/0/id", "prompt"),  # text
        ('model_type="diffusion_cond"', "/model_type", "diffusion_cond"),
        ("training.demo.demo_cfg_scales=[1, 3.5]", "/training/demo/demo_cfg_scales", [1, 3.5]),
        ("training.use_ema=false", "/training/use_ema", False),
        ("x=a=b", "/x", "a=b"),  # the first `=` separates
    ],
)
def test_paths_and_values_parse(text: str, pointer: str, value) -> None:
    (override,) = parse([text])
    assert (override.pointer, override.value) == (pointer, value)


@pytest.mark.parametrize("text", ["depth", "=3", "a..b=1", "x=NaN", "x=inf", "x=-Infinity", "/a//b=1"])
def test_malformed_overrides_are_refused(text: str) -> None:
    with pytest.raises(OverrideError) as raised:
        parse([text])
    assert raised.value.diagnostics[0].path == f"--set {text}"


def test_apply_sets_values_on_a_copy() -> None:
    before = copy.deepcopy(DATA)
    result = apply(
        DATA,
        parse(
            ["model.diffusion.config.depth=2", "model.diffusion.config.new_key=1", "model.conditioning.configs.0.id=y"]
        ),
    )
    assert DATA == before  # the caller's data is never changed
    assert result["model"]["diffusion"]["config"] == {"depth": 2, "a.b": 1, "new_key": 1}
    assert result["model"]["conditioning"]["configs"] == [{"id": "y"}]


@pytest.mark.parametrize(
    ("text", "message", "help"),
    [
        ("model.difusion.config.depth=2", "`difusion` does not exist in `/model`", "did you mean `diffusion`?"),
        ("modle.x=1", "`modle` does not exist in the top level", "did you mean `model`?"),
        ("model.conditioning.configs.3.id=y", "not an index of the list", None),
        ("model.diffusion.config.depth.x=1", "holds 4, which has no `x` inside", None),
    ],
)
def test_paths_that_cannot_be_set_say_why(text: str, message: str, help) -> None:
    with pytest.raises(OverrideError) as raised:
        apply(DATA, parse([text]))
    (diagnostic,) = raised.value.diagnostics
    assert message in diagnostic.message and diagnostic.code.id == "AD807"
    if help is not None:
        assert diagnostic.help == help


def test_diagnostics_inside_an_override_move_to_it() -> None:
    from audiodiff.diagnostics import codes
    from audiodiff.diagnostics.model import Diagnostic

    overrides = parse(["model.diffusion.config=[]", "model.diffusion.config.depth=2"])[1:]
    inside = Diagnostic(codes.RUN_SETTING, "bad", "/model/diffusion/config/depth", path="m.json")
    beside = Diagnostic(codes.RUN_SETTING, "bad", "/model/diffusion/config/depths", path="m.json")
    moved, kept = relocate([inside, beside], overrides)
    assert moved.path == "--set model.diffusion.config.depth=2" and moved.span is None
    assert kept.path == "m.json"
