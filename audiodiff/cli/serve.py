"""`audiodiff serve SOURCE [--ckpt PATH]`: the sampling studio, a local web page to generate, listen, compare and
inspect configs (needs the `serve` extra: `pip install audiodiff[serve]`)."""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import sys
import tempfile
from pathlib import Path

import typer

LOOPBACK_NAMES = ("localhost",)


def command(
    source: Path = typer.Argument(..., help="A model config, or a checkpoint that carries its config."),
    ckpt: Path | None = typer.Option(None, "--ckpt", help="The trained weights (Lightning, .ckpt, .safetensors)."),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to listen on; anything but loopback exposes the page to the network."
    ),
    port: int | None = typer.Option(None, "--port", min=1, max=65535, help="Port (default: a free one from 7860)."),
    device: str | None = typer.Option(
        None, "--device", help="Where to run: `cpu`, `cuda`, `cuda:1` (default: `cuda` when available)."
    ),
    allow_partial: bool = typer.Option(False, "--allow-partial", help="Serve even if the checkpoint is partial."),
    t5_path: str | None = typer.Option(None, "--t5-path", help="A local T5 folder (else the local HF cache)."),
    max_seconds: float = typer.Option(
        60.0, "--max-seconds", min=0.001, max=3600.0, help="Longest clip the page offers (also bounded by the model)."
    ),
    concurrency: int = typer.Option(1, "--concurrency", min=1, max=16, help="Takes generated at once."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Folder for the takes (default: a temporary folder removed on exit)."
    ),
) -> None:
    """Serve a web page to generate audio with a model, listen, compare takes and check configs.

    The form is made from the model's conditioners; every request is checked as `audiodiff sample` checks it,
    and each take shows the `audiodiff sample` command that reproduces it. A second tab validates and explains
    pasted or uploaded configs. The page listens on 127.0.0.1 unless `--host` says otherwise.

    Examples:

      audiodiff serve examples/toy_dit.json --ckpt runs/demo/checkpoints/last.safetensors

      audiodiff serve model.safetensors --port 7861
    """
    raise typer.Exit(
        run_serve(
            source,
            ckpt=ckpt,
            host=host,
            port=port,
            device=device,
            allow_partial=allow_partial,
            t5_path=t5_path,
            max_seconds=max_seconds,
            concurrency=concurrency,
            output=output,
        )
    )


def run_serve(
    source: Path,
    *,
    ckpt: Path | None,
    host: str,
    port: int | None,
    device: str | None,
    allow_partial: bool,
    t5_path: str | None,
    max_seconds: float,
    concurrency: int,
    output: Path | None,
) -> int:
    if importlib.util.find_spec("gradio") is None:
        print(
            "error: `audiodiff serve` needs the optional `gradio` package: pip install 'audiodiff[serve]'",
            file=sys.stderr,
        )
        return 2
    problems = _request_problems(host=host, device=device, t5_path=t5_path, output=output)
    if problems:
        from audiodiff.cli.report import report

        return report("command line", problems)
    if not _is_loopback(host):
        print(
            f"warning: listening on `{host}` exposes the page (and the model) to the network; "
            "use the default 127.0.0.1 unless you mean it",
            file=sys.stderr,
        )
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home: the page works offline
    with tempfile.TemporaryDirectory(prefix="audiodiff-serve-") as scratch:
        takes = output if output is not None else Path(scratch)
        studio, refusal = _load(
            source,
            ckpt,
            takes_dir=takes,
            device=device,
            allow_partial=allow_partial,
            t5_path=t5_path,
            max_seconds=max_seconds,
        )
        from audiodiff.serve.page import CSS, build_page

        page = build_page(studio, refusal, title=str(source))
        page.queue(default_concurrency_limit=concurrency, max_size=64)
        print(f"serving {source} on http://{host}:{port or 7860} (Ctrl-C stops)", file=sys.stderr)
        page.launch(
            server_name=host,
            server_port=port,
            share=False,
            show_error=False,
            quiet=True,
            max_file_size="16mb",
            footer_links=[],
            css=CSS,
        )
    return 0


def _load(
    source: Path,
    ckpt: Path | None,
    *,
    takes_dir: Path,
    device: str | None,
    allow_partial: bool,
    t5_path: str | None,
    max_seconds: float,
):
    """(studio, None), or (None, HTML of why not): a refused model still serves the config tab."""
    import html

    from audiodiff.cli.report import report
    from audiodiff.runtime.loading import LoadRefused
    from audiodiff.serve.studio import Studio

    try:
        studio = Studio(
            source,
            ckpt,
            takes_dir=takes_dir,
            device=device or _default_device(),
            allow_partial=allow_partial,
            t5_path=t5_path,
            max_seconds=max_seconds,
        )
    except LoadRefused as refused:
        report(refused.path, refused.diagnostics, refused.line)  # on stderr too, for whoever started it
        items = "".join(
            f"<li><b>{html.escape(d.code.id)}</b> {html.escape(d.message)}"
            + (f"<br>help: {html.escape(d.help)}" if d.help else "")
            + "</li>"
            for d in refused.diagnostics
        )
        detail = f"<pre>{html.escape(refused.detail)}</pre>" if refused.detail else ""
        return None, (
            f'<p class="ad-refusal">the model could not be loaded from '
            f"<code>{html.escape(refused.path)}</code>:</p><ul>{items}</ul>{detail}"
        )
    return studio, None


def _request_problems(*, host: str, device: str | None, t5_path: str | None, output: Path | None) -> list:
    """What can be refused before the page starts: a host that is no address, a device this machine lacks, a T5
    folder or an output folder that is not one."""
    import re

    from audiodiff.diagnostics import codes
    from audiodiff.diagnostics.model import Diagnostic
    from audiodiff.runtime.sample_checks import device_check, option_problems

    found = []
    if not re.fullmatch(r"[A-Za-z0-9.:\-]+", host or ""):
        found.append(
            Diagnostic(
                codes.RUN_SETTING,
                f"`--host {host}` is not a host name or an IP address",
                None,
                path="command line",
                help="use 127.0.0.1 (the default) or this machine's address",
            )
        )
    if device is not None:
        found.extend(problem for problem in [device_check(device)[1]] if problem is not None)
    found.extend(
        option_problems(
            steps=1, cfg_scale=1.0, seconds=None, batch=1, seed=0, init_noise_level=1.0, cond=[], t5_path=t5_path
        )
    )
    if output is not None and output.exists() and not output.is_dir():
        found.append(
            Diagnostic(
                codes.RUN_SETTING,
                f"`--output {output}` is a file, not a folder for the takes",
                None,
                path="command line",
            )
        )
    return found


def _default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
