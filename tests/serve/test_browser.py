"""The studio in a real browser: headless Chromium (Debian's package) driven by Playwright.

The shipped example is trained for a few steps, `audiodiff serve` is started on a free local port, and the test
fills the form, generates, listens (an audio element of the right length), looks (a spectrogram image, the
copyable command), makes a mistake (a message on the page) and checks a broken config in the second tab.
Screenshots of both tabs are saved under the test's temporary folder. Skips when no browser can be had
(`make test` installs Debian's `chromium` where it can).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

pytestmark = pytest.mark.slow


def _chromium() -> str:
    pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed (the dev extra has it)")
    pytest.importorskip("gradio", reason="gradio is not installed (the serve extra has it)")
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("no Chromium: `apt-get install chromium` (make test does it where it can)")
    return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _cli(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "audiodiff", *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    """(config, checkpoint) of the shipped example trained for a few steps on a few synthesised clips."""
    folder = tmp_path_factory.mktemp("trained")
    made = subprocess.run(
        [sys.executable, str(EXAMPLES / "make_toy_dataset.py"), str(folder / "toy"), "--clips-per-class", "2"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert made.returncode == 0, made.stderr
    config = json.loads((EXAMPLES / "toy_dit.json").read_text())
    config["training"]["demo"].update(demo_every=1000, demo_steps=2)  # no demo rounds worth waiting for
    model = folder / "toy_dit.json"
    model.write_text(json.dumps(config, indent=2))
    dataset = json.loads((EXAMPLES / "toy_dataset.json").read_text())
    dataset["datasets"][0]["path"] = "toy"
    (folder / "toy_dataset.json").write_text(json.dumps(dataset))
    result = _cli(
        "run",
        str(model),
        "--dataset",
        str(folder / "toy_dataset.json"),
        "--output",
        str(folder / "run"),
        "--max-steps",
        "3",
        "--batch-size",
        "2",
        "--checkpoint-every",
        "3",
        "--logger",
        "csv",
    )
    assert result.returncode == 0, result.stderr
    checkpoint = sorted((folder / "run" / "checkpoints").glob("*.safetensors"))[-1]
    return model, checkpoint


@pytest.fixture(scope="module")
def server(trained, tmp_path_factory):
    model, checkpoint = trained
    process, url = _serve(model, checkpoint, tmp_path_factory.mktemp("serve") / "serve.log")
    try:
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def _serve(model: Path, checkpoint: Path, log: Path):
    """`audiodiff serve` on a free port: (process, url) once the page answers."""
    port = _free_port()
    with log.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "audiodiff", "serve", str(model), "--ckpt", str(checkpoint), "--port", str(port)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"},
        )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 300
    while True:
        try:
            urllib.request.urlopen(url, timeout=5).close()
            return process, url
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"serve did not come up:\n{log.read_text()}")
            time.sleep(1)


@pytest.fixture(scope="module")
def inpaint_server(tmp_path_factory):
    """The studio on a random-weights inpainting model (the page's plumbing needs no training)."""
    from studio_model import inpaint_config, write_model

    folder = tmp_path_factory.mktemp("inpaint-serve")
    model, checkpoint = write_model(folder, inpaint_config())
    process, url = _serve(model, checkpoint, folder / "serve.log")
    try:
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="module")
def browser():
    executable = _chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


def _set_number(page, element: str, value: str) -> None:
    box = page.locator(f"#{element} input[type=number]").first
    box.fill(value)
    box.press("Enter")


def _audio_durations(page, element: str) -> list[float]:
    """Durations of the audio elements inside a player (Gradio's waveform keeps them in a shadow root)."""
    return page.evaluate(
        """(id) => {
        const root = document.getElementById(id);
        const found = [...root.querySelectorAll('audio')];
        for (const host of root.querySelectorAll('*')) if (host.shadowRoot) found.push(...host.shadowRoot.querySelectorAll('audio'));
        return found.filter(a => a.src).map(a => a.duration);
    }""",
        element,
    )


def test_generate_listen_look_and_copy(server, browser, tmp_path: Path):
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.goto(server, wait_until="domcontentloaded")
    page.wait_for_selector("#ad-generate", timeout=120_000)
    assert not page.locator("#ad-mask").is_visible()  # the example is no inpainting model
    _set_number(page, "ad-seconds", "0.5")
    _set_number(page, "ad-steps", "4")
    page.locator("#ad-generate").click()
    page.wait_for_selector("#ad-take-done", timeout=300_000)
    assert "take 1" in page.locator("#ad-status").inner_text()

    page.wait_for_function("(id) => true", arg="ad-audio-0")
    deadline = time.monotonic() + 30
    while (
        not (durations := [d for d in _audio_durations(page, "ad-audio-0") if d == d]) and time.monotonic() < deadline
    ):
        page.wait_for_timeout(250)
    assert durations and abs(durations[0] - 0.5) < 1e-3  # a playable source of exactly the asked length

    image = page.locator("#ad-spectrograms img").first
    image.wait_for(timeout=30_000)
    assert page.evaluate("(img) => img.complete && img.naturalWidth > 300", image.element_handle())

    command = page.locator("#ad-command textarea").input_value()
    assert command.startswith("audiodiff sample ") and "--seconds 0.5" in command and "--steps 4" in command
    assert "--cond class=tone" in command
    page.screenshot(path=str(tmp_path / "generate-tab.png"), full_page=True, timeout=180_000)
    print(f"screenshot: {tmp_path / 'generate-tab.png'}")

    _set_number(page, "ad-seconds", "1000")  # a bad value: far longer than the model's seconds range
    page.locator("#ad-generate").click()
    refusal = page.locator("#ad-refusal")
    refusal.wait_for(timeout=120_000)
    assert "at most 8 s" in refusal.inner_text()
    page.close()


def test_the_config_tab_shows_a_diagnostic_at_its_line(server, browser, tmp_path: Path):
    text = (EXAMPLES / "toy_dit.json").read_text().replace('"num_heads": 4', '"num_head": 4')
    line = next(n for n, row in enumerate(text.splitlines(), start=1) if '"num_head"' in row)
    broken = tmp_path / "broken.json"
    broken.write_text(text)
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.goto(server, wait_until="domcontentloaded")
    page.wait_for_selector("#ad-generate", timeout=120_000)
    page.get_by_role("tab", name="Config").click()
    page.locator("#ad-config-upload input[type=file]").set_input_files(str(broken))
    page.wait_for_function(
        "() => document.querySelector('#ad-config-name input, #ad-config-name textarea').value === 'broken.json'",
        timeout=60_000,
    )
    page.locator("#ad-config-check").click()
    marked = page.locator(f"#ad-line-{line}")
    marked.wait_for(timeout=120_000)
    assert "num_head" in marked.inner_text()
    found = page.locator("#ad-config-diagnostics").inner_text()
    assert f"{line}:" in found and "AD101" in found and "did you mean `num_heads`?" in found
    page.screenshot(path=str(tmp_path / "config-tab.png"), full_page=True, timeout=180_000)
    print(f"screenshot: {tmp_path / 'config-tab.png'}")
    page.close()


def test_an_inpainting_model_takes_audio_and_a_mask(inpaint_server, browser, tmp_path: Path):
    import numpy as np
    import soundfile

    known = tmp_path / "known.wav"
    soundfile.write(known, (0.3 * np.sin(np.arange(6000) * 0.2)).astype(np.float32), 8000)  # 0.75 s
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.goto(inpaint_server, wait_until="domcontentloaded")
    page.wait_for_selector("#ad-generate", timeout=120_000)
    _set_number(page, "ad-steps", "2")
    page.locator("#ad-known-audio input[type=file]").set_input_files(str(known))
    page.locator("#ad-mask textarea, #ad-mask input").first.fill("0.25:0.5")
    page.locator("#ad-generate").click()
    page.wait_for_selector("#ad-take-done", timeout=300_000)
    assert "regenerated 0.25-0.5 s" in page.locator("#ad-status").inner_text()
    command = page.locator("#ad-command textarea").input_value()
    assert "--inpaint " in command and "--mask 0.25:0.5" in command and "--seconds" not in command
    deadline = time.monotonic() + 30
    while (
        not (durations := [d for d in _audio_durations(page, "ad-audio-0") if d == d]) and time.monotonic() < deadline
    ):
        page.wait_for_timeout(250)
    assert durations and abs(durations[0] - 0.75) < 1e-3  # inpainting keeps the audio's length
    page.locator("#ad-mask textarea, #ad-mask input").first.fill("0.5:2")
    page.locator("#ad-generate").click()
    refusal = page.locator("#ad-refusal")
    refusal.wait_for(timeout=120_000)
    assert "ends after" in refusal.inner_text()
    page.screenshot(path=str(tmp_path / "inpaint.png"), full_page=True, timeout=180_000)
    page.close()
