"""No traceback for any user input: every command and every option that takes a value, driven with hostile values
(NaN, infinities, negatives, zero, huge numbers, wrong types, missing or odd paths, unknown choices, repeated ids),
must exit 1 (a diagnostic) or 2 (a usage error) with a message, and never print `Traceback`.

The table lists, per command, each option with the values to try; a guard test checks that the table covers every
option of the command-line surface that takes a value, so a new option cannot skip this test.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from audiodiff.cli.app import app

REPO = Path(__file__).resolve().parents[2]
MODEL = str(REPO / "examples" / "toy_dit.json")
# `{data}`: a dataset config over a few toy clips made by the `data` fixture, so that the rest of each command line
# is valid and every refusal comes from the hostile value (a missing dataset would refuse them all for that reason).
DATASET = "{data}"
runner = CliRunner()

NUMBERS = ["nan", "inf", "-inf", "-1", "0", "1e400", "abc", ""]
INTEGERS = ["-1", "0", "99999999999999999999999", "1.5", "abc", ""]
PATHS = ["/nonexistent/x.json", "", "\x01bad", "/dev/null"]

# The valid rest of each command line; the hostile option is added to it. `{ckpt}` and `{tmp}` are filled in.
BASE: dict[str, list[str]] = {
    "validate": [MODEL],
    "lint": [MODEL],
    "migrate": [MODEL],
    "compile": [MODEL],
    "sample": [
        MODEL,
        "--ckpt",
        "{ckpt}",
        "--seconds",
        "0.25",
        "--steps",
        "1",
        "-o",
        "{tmp}/out.wav",
        "--cond",
        "class=tone",
    ],
    "run": [MODEL, "-d", DATASET, "-o", "{tmp}/run", "--check"],
    "encode": [MODEL, "-d", DATASET, "-o", "{tmp}/latents"],
    "ckpt inspect": ["{ckpt}"],
    "ckpt export": ["{ckpt}", "-o", "{tmp}/x.safetensors"],
    "schema export": [],
    "dataset inspect": ["{data}"],
    "serve": ["{ckpt}", "-o", "{tmp}/takes"],
}

# command -> option -> hostile values. Options that repeat a flag's meaning in another spelling share a row.
TABLE: dict[str, dict[str, list[str]]] = {
    "validate": {
        "--format": ["xml", ""],
        "--target": ["nope", "stable-audio-tools==9.9", ""],
        "--set": [
            "depth",
            "=1",
            "a..b=1",
            "x=nan",
            "modle.x=1",
            "model.diffusion.config.depth=-5",
            'model.diffusion.config.depth="deep"',
            "/model/diffusion/config/depth/x=1",
        ],
    },
    "lint": {
        "--format": ["xml"],
        "--exclude": ["[", "**/***"],
        "--select": ["AD9999", "nonsense", ""],
        "--ignore": ["AD9999", ""],
        "--target": ["nope"],
    },
    "migrate": {"--to": INTEGERS},
    "compile": {
        "--format": ["xml"],
        "--batch": INTEGERS,
        "--precision": ["64", "fp8", ""],
        "--target": ["nope"],
        "--set": ["depth", "modle.x=1", "model.diffusion.config.depth=0", "sample_rate=1e400"],
    },
    "sample": {
        "--ckpt": PATHS,
        "--lora": PATHS,
        "--inpaint": PATHS,
        "--continue": PATHS,
        "--mask": ["", "abc", "3:1", "nan:1", "-1:2", "1:1e400", "0:0.1,"],
        "--prompt": ["x" * 10_000],
        "--negative-prompt": ["quiet"],
        "--cond": ["class", "class=banjo", "nope=1", "seconds_total=nan", "seconds_total=-1"],
        "--seconds": NUMBERS + ["1e9"],
        "--steps": INTEGERS + ["100000"],
        "--cfg-scale": NUMBERS + ["1000"],
        "--sampler": ["dpmpp-2m", "nope", ""],
        "--seed": INTEGERS + ["-5"],
        "--batch": INTEGERS + ["100000"],
        "--output": ["x.mp3", "", "/nonexistent/dir/"],
        "--out": ["x.mp3"],
        "--t5-path": ["/nonexistent"],
        "--init-audio": PATHS,
        "--init-noise-level": NUMBERS,
        "--device": ["cuda", "cuda:7", "tpu", "gpu", "cpu:3", "", "mps"],
        "--set": ["depth", "model.diffusion.config.depth=-1", "modle.x=1"],
    },
    "run": {
        "--dataset": PATHS,
        "--output": ["/dev/null/x"],
        "--max-steps": INTEGERS,
        "--batch-size": INTEGERS,
        "--precision": ["64", ""],
        "--devices": INTEGERS,
        "--num-nodes": INTEGERS,
        "--strategy": ["deepspeed"],
        "--seed": ["abc", "1.5"],
        "--logger": ["neptune"],
        "--project": ["", "\x01"],
        "--run-name": ["", "../.."],
        "--checkpoint-every": INTEGERS,
        "--keep-checkpoints": INTEGERS,
        "--num-workers": ["-1", "abc"],
        "--accumulate-grad-batches": INTEGERS,
        "--gradient-clip-val": ["nan", "inf", "-1", "abc"],
        "--pretransform-ckpt": PATHS,
        "--init": [*PATHS, "backbone=", "nopart=x.ckpt", "encoder=/dev/null", "pretransform=/nonexistent"],
        "--t5-path": ["/nonexistent"],
        "--accelerator": ["tpu", "gpu"],
        "--gradient-checkpointing": ["sometimes"],
        "--set": ["depth", "training.learning_rat=1", "training.learning_rate=-1"],
    },
    "encode": {
        "--dataset": PATHS,
        "--output": ["/dev/null/x"],
        "--batch-size": INTEGERS,
        "--pretransform-ckpt": PATHS,
        "--format": ["xml", ""],
        "--shard-size": INTEGERS,
    },
    "dataset inspect": {
        "--model": PATHS,
        "--plot": ["/dev/null/x.png", ""],
        "--max-items": INTEGERS,
    },
    "ckpt inspect": {"--format": ["xml"]},
    "ckpt export": {
        "--output": ["x.ckpt", "", "/dev/null/x.safetensors"],
        "--out": ["x.ckpt"],
        "--merge": PATHS,
    },
    "schema export": {"--version": INTEGERS, "--kind": ["model2", ""], "--output": ["/dev/null/x.json", ""]},
    "serve": {
        "--ckpt": PATHS,
        "--host": ["", "evil host", "a;b"],
        "--port": INTEGERS + ["70000"],
        "--device": ["cuda", "tpu", ""],
        "--t5-path": ["/nonexistent"],
        "--max-seconds": NUMBERS,
        "--concurrency": INTEGERS + ["100"],
        "--output": ["/dev/null"],
    },
}

# Values that are odd but legitimate, and accepted (exit 0): (command, [option, value]).
ACCEPTED: list[tuple[str, list[str]]] = [
    ("lint", ["--exclude", "["]),
    ("lint", ["--exclude", "**/***"]),  # patterns that match nothing
    ("lint", ["--select", ""]),
    ("lint", ["--ignore", ""]),  # an empty list of codes
    ("sample", ["--cond", "seconds_total=-1"]),  # number conditioners clamp to their range, as upstream
    ("sample", ["--cfg-scale", "0"]),
    ("sample", ["--seed", "0"]),
    # serve shows why a model could not be loaded on its page (and on stderr), and still serves the config tab
    *[("serve", ["--ckpt", value]) for value in PATHS],
]

# Positional arguments get hostile values too.
ARGUMENTS: dict[str, list[str]] = {
    "validate": PATHS,
    "lint": PATHS,
    "migrate": PATHS,
    "compile": PATHS,
    "sample": PATHS,
    "run": PATHS,
    "encode": PATHS,
    "ckpt inspect": PATHS + [MODEL, str(REPO / "README.md")],
    "ckpt export": PATHS + [MODEL],
}


@pytest.fixture(autouse=True)
def _no_page(monkeypatch):
    """`serve` never starts a server here: a request that gets as far as the page is reported as started."""
    try:
        import audiodiff.serve.page as page
    except ImportError:  # without the `serve` extra, serve refuses before building a page
        return

    class Started:
        def queue(self, **settings):
            return self

        def launch(self, **settings):
            print("(page would start)")

    monkeypatch.setattr(page, "build_page", lambda *args, **kwargs: Started())


def _option_names(command) -> set[str]:
    """The options of a click command that take a value (flags excluded), by their first long name."""
    names = set()
    for param in command.params:
        if param.param_type_name != "option" or param.is_flag or param.name == "help":
            continue
        names.add(next((o for o in param.opts if o.startswith("--")), param.opts[0]))
    return names


def _commands() -> dict[str, object]:
    root = typer.main.get_command(app)
    found = {}
    for name, command in root.commands.items():
        if hasattr(command, "commands"):
            for sub, inner in command.commands.items():
                found[f"{name} {sub}"] = inner
        else:
            found[name] = command
    return found


def test_the_table_covers_every_command_and_every_option_that_takes_a_value() -> None:
    commands = _commands()
    missing = {name: sorted(_option_names(command) - set(TABLE.get(name, {}))) for name, command in commands.items()}
    missing = {name: options for name, options in missing.items() if options}
    assert not missing, f"add hostile values for these options to TABLE: {missing}"
    assert set(BASE) == set(commands)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> str:
    """Random weights of the shipped example in the released layout, with its config."""
    import torch

    from audiodiff.compiler.materialize import build_model
    from audiodiff.runtime.checkpoints import released_state_dict, write_released
    from audiodiff.schema.validate import validate_data

    config = json.loads(Path(MODEL).read_text())
    config["model"]["diffusion"]["config"].update(depth=1, embed_dim=32, num_heads=1)  # tiny and fast
    folder = tmp_path_factory.mktemp("ckpt")
    (folder / "model.json").write_text(json.dumps(config))
    torch.manual_seed(0)
    model = build_model(validate_data(config).spec)
    path = folder / "model.safetensors"
    write_released(path, released_state_dict(model), config=config, schema_version=2)
    return str(path)


def _cases():
    for command, options in TABLE.items():
        for option, values in options.items():
            for value in values:
                # sampling cases load a (tiny) model each: in the slow set
                marks = [pytest.mark.slow] if command == "sample" else []
                yield pytest.param(command, [option, value], id=f"{command}-{option}={value[:20]!r}", marks=marks)
    for command, values in ARGUMENTS.items():
        for value in values:
            yield pytest.param(command, ("ARG", value), id=f"{command}-ARG={value[-20:]!r}")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> str:
    """Two clips per class of the example's toy data, and a dataset config over them."""
    import subprocess
    import sys

    folder = tmp_path_factory.mktemp("data")
    subprocess.run(
        [sys.executable, str(REPO / "examples" / "make_toy_dataset.py"), str(folder / "toy"), "--clips-per-class", "2"],
        check=True,
        capture_output=True,
    )
    config = json.loads((REPO / "examples" / "toy_dataset.json").read_text())
    config["datasets"][0]["path"] = str(folder / "toy")
    (folder / "data.json").write_text(json.dumps(config))
    return str(folder / "data.json")


def _line(command: str, extra: list[str] | None, tmp: Path, ckpt: str, data: str, positional: str | None) -> list[str]:
    base = [part.replace("{ckpt}", ckpt).replace("{tmp}", str(tmp)).replace("{data}", data) for part in BASE[command]]
    if command == "sample":
        base[0] = str(Path(ckpt).parent / "model.json")  # the tiny config that the checkpoint fits
    if positional is not None and base:
        base[0] = positional
    return [*command.split(), *base, *(extra or [])]


@pytest.mark.parametrize(("command", "extra"), list(_cases()))
def test_hostile_values_give_a_diagnostic_not_a_traceback(
    command: str, extra, tmp_path: Path, ckpt: str, data: str
) -> None:
    positional = None
    if isinstance(extra, tuple):  # a hostile positional argument instead of an option
        positional, extra = extra[1], []
    args = _line(command, extra, tmp_path, ckpt, data, positional)
    result = runner.invoke(app, args)
    output = result.output
    assert "Traceback" not in output
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"`audiodiff {' '.join(args)}` raised {result.exception!r}") from result.exception
    if result.exit_code == 0:  # accepted: only where the value is a legitimate one (a long prompt, say)
        assert (command, extra) in ACCEPTED, f"`{' '.join(args)}` exited 0:\n{output}"
        return
    assert result.exit_code in (1, 2), (result.exit_code, output)
    assert output.strip(), "a refusal must say why"
