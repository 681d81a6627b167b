"""The studio page (Gradio): a Generate tab built from the model's form, and a Config tab that validates and
explains pasted or uploaded configs without torch.

Element ids (`ad-...`) are the page's stable surface: the browser tests find things by them. (No
`from __future__ import annotations` here: Gradio reads the handlers' annotations to pass `gr.Request`.)
"""

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from audiodiff.serve.configcheck import check_config, diagnostics_html, explanation_html
from audiodiff.serve.form import MAX_BATCH, Form
from audiodiff.serve.studio import Cancelled, Studio, TakeRefused, TakeRequest

MAX_STEPS = 1000
HISTORY_SHOWN = 12

CSS = """
.ad-listing { border-collapse: collapse !important; font-size: 12px !important; width: 100%; margin: 0 !important; }
.ad-listing td { padding: 0 6px !important; border: none !important; line-height: 1.35 !important; }
.ad-listing pre { margin: 0 !important; padding: 0 !important; white-space: pre; background: none !important; }
.ad-mark-error td { background: #ffd6d6 !important; }
.ad-mark-warning td { background: #fff1c2 !important; }
.ad-number { color: #888; text-align: right; user-select: none; width: 3em; }
.ad-error { color: #a40000; } .ad-warning { color: #8a6100; }
.ad-refusal { color: #a40000; font-weight: 600; }
.ad-nodes td, .ad-routes td, .ad-quantities td { padding: 2px 8px !important; }
"""


@dataclass
class Cancels:
    """One cancel flag per browser session, so one page's Cancel never stops another page's take."""

    flags: dict[str, threading.Event]
    lock: threading.Lock

    def flag(self, session: str) -> threading.Event:
        with self.lock:
            return self.flags.setdefault(session, threading.Event())


def build_page(studio: Studio | None, refusal_html: str | None, *, title: str) -> gr.Blocks:
    cancels = Cancels({}, threading.Lock())
    with gr.Blocks(title=f"audiodiff studio: {title}") as page:
        gr.Markdown(f"## audiodiff studio\n`{title}`")
        with gr.Tab("Generate", id="generate", elem_id="ad-tab-generate"):
            if studio is None:
                gr.HTML(refusal_html or "the model could not be loaded", elem_id="ad-load-refusal")
            else:
                _generate_tab(studio, cancels)
        with gr.Tab("Config", id="config", elem_id="ad-tab-config"):
            _config_tab()
    return page


def _generate_tab(studio: Studio, cancels: Cancels) -> None:
    form = studio.form
    for note in studio.notes:
        gr.Markdown(f"**note:** {note}")
    with gr.Row():
        with gr.Column(scale=1):
            fields = [_condition_input(field) for field in form.conditions]
            negative = gr.Textbox(label="negative prompt", elem_id="ad-negative", visible=form.negative_prompt)
            seconds = gr.Number(
                value=form.seconds_default,
                label="seconds",
                elem_id="ad-seconds",
                info=f"at most {form.seconds_max:g} s for this model",
            )
            steps = gr.Slider(1, MAX_STEPS, value=50, step=1, label="steps", elem_id="ad-steps")
            samplers, default_sampler = _samplers(studio)
            sampler = gr.Dropdown(samplers, value=default_sampler, label="sampler", elem_id="ad-sampler")
            cfg = gr.Slider(
                0, 15, value=6.0 if form.cfg else 1.0, step=0.5, label="CFG scale", elem_id="ad-cfg", visible=form.cfg
            )
            seed = gr.Number(value=0, precision=0, label="seed", elem_id="ad-seed")
            batch = gr.Slider(1, MAX_BATCH, value=1, step=1, label="batch", elem_id="ad-batch")
            with gr.Accordion("init audio (audio-to-audio)", open=False):
                init_audio = gr.Audio(type="filepath", label="init audio", sources=["upload"], elem_id="ad-init-audio")
                init_noise = gr.Slider(0.01, 1.0, value=1.0, step=0.01, label="init noise level")
            with gr.Accordion("inpainting (known audio)", open=True, visible=form.inpainting):
                known_audio = gr.Audio(
                    type="filepath", label="audio to inpaint or continue", sources=["upload"], elem_id="ad-known-audio"
                )
                mask = gr.Textbox(
                    label="seconds to regenerate",
                    placeholder="1.5:2.5 or 0:1,3:4; empty: continue the audio up to `seconds`",
                    elem_id="ad-mask",
                )
            with gr.Row():
                run = gr.Button("Generate", variant="primary", elem_id="ad-generate")
                stop = gr.Button("Cancel", elem_id="ad-cancel")
        with gr.Column(scale=2):
            status = gr.HTML("", elem_id="ad-status")
            players = [
                gr.Audio(
                    label=f"item {index + 1}",
                    type="filepath",
                    interactive=False,
                    visible=index == 0,
                    elem_id=f"ad-audio-{index}",
                )
                for index in range(MAX_BATCH)
            ]
            images = gr.Gallery(
                label="spectrograms", columns=1, height="auto", object_fit="contain", elem_id="ad-spectrograms"
            )
            command = gr.Textbox(
                label="the same take from the command line", buttons=["copy"], interactive=False, elem_id="ad-command"
            )
            downloads = gr.File(label="downloads", file_count="multiple", interactive=False, elem_id="ad-downloads")
    history = gr.State([])

    def generate(data: dict[Any, Any], request: gr.Request, progress: gr.Progress = gr.Progress()) -> list[Any]:
        conditions = [data[field] for field in fields]
        (
            negative_text,
            seconds_value,
            steps_value,
            sampler_name,
            cfg_scale,
            seed_value,
            batch_value,
            init_path,
            init_level,
            known_path,
            mask_text,
            takes,
        ) = (
            data[c]
            for c in (
                negative,
                seconds,
                steps,
                sampler,
                cfg,
                seed,
                batch,
                init_audio,
                init_noise,
                known_audio,
                mask,
                history,
            )
        )
        flag = cancels.flag(request.session_hash or "")
        flag.clear()
        try:
            take_request = _request(
                form,
                conditions,
                negative_text,
                seconds_value,
                steps_value,
                sampler_name,
                cfg_scale,
                seed_value,
                batch_value,
                init_path,
                init_level,
                known_path,
                mask_text,
            )
            take = studio.generate(
                take_request, progress=lambda done, total: progress((done, total), "sampling"), cancel=flag
            )
        except TakeRefused as refused:
            return _refused(str(refused), takes)
        except Cancelled:
            return _refused("cancelled", takes)
        clipped = f"; {take.clipped} sample(s) clipped at full scale" if take.clipped else ""
        message = f'<p id="ad-take-done">take {take.number}: {take.summary}{clipped}</p>'
        entry = {
            "number": take.number,
            "audio": [str(p) for p in take.audio],
            "summary": take.summary,
            "spectrograms": [str(p) for p in take.spectrograms],
            "command": take.command,
        }
        updates = [
            gr.update(value=str(take.audio[i]), visible=True)
            if i < len(take.audio)
            else gr.update(value=None, visible=False)
            for i in range(MAX_BATCH)
        ]
        files = [str(p) for p in (*take.audio, *take.spectrograms)]
        return [
            message,
            *updates,
            [str(p) for p in take.spectrograms],
            take.command,
            files,
            [entry, *takes][:HISTORY_SHOWN],
        ]

    def _refused(text: str, takes: list[Any]) -> list[Any]:
        import html

        return [
            f'<p class="ad-refusal" id="ad-refusal">{html.escape(text)}</p>',
            *[gr.update() for _ in range(MAX_BATCH)],
            gr.update(),
            gr.update(),
            gr.update(),
            takes,
        ]

    inputs = {
        *fields,
        negative,
        seconds,
        steps,
        sampler,
        cfg,
        seed,
        batch,
        init_audio,
        init_noise,
        known_audio,
        mask,
        history,
    }
    outputs = [status, *players, images, command, downloads, history]
    # a set of inputs makes Gradio pass one dict keyed by component; its annotation wants a set of Blocks
    event = run.click(generate, inputs, outputs, concurrency_id="generate")  # type: ignore[arg-type]

    def cancel(request: gr.Request) -> None:
        cancels.flag(request.session_hash or "").set()

    stop.click(cancel, None, None, queue=False, cancels=[event])

    with gr.Accordion("history: this page's takes, newest first", open=True):

        @gr.render(inputs=history)
        def show_history(takes: list[dict[str, Any]]) -> None:
            if not takes:
                gr.Markdown("no takes yet")
                return
            with gr.Row(elem_id="ad-history"):
                for take in takes:
                    with gr.Column(min_width=240):
                        gr.Markdown(f"**take {take['number']}**: {take['summary']}")
                        gr.Audio(take["audio"][0], type="filepath", interactive=False, show_label=False)
                        gr.Image(take["spectrograms"][0], type="filepath", interactive=False, show_label=False)


def _condition_input(field: Any) -> gr.components.Component:
    label = field.id
    element = f"ad-cond-{field.id}"
    if field.kind == "choice":
        return gr.Dropdown(list(field.choices), value=field.default, label=label, elem_id=element)
    if field.kind in ("number", "int"):
        step = 1 if field.kind == "int" else (field.maximum - field.minimum) / 100 or 0.01
        return gr.Slider(field.minimum, field.maximum, value=field.default, step=step, label=label, elem_id=element)
    return gr.Textbox(label=label, lines=2, elem_id=element)


def _request(
    form: Form,
    conditions: list[Any],
    negative: str | None,
    seconds: float | None,
    steps: float,
    sampler: str | None,
    cfg: float,
    seed: float | None,
    batch: float,
    init_path: str | None,
    init_level: float,
    known_path: str | None = None,
    mask_text: str | None = None,
) -> TakeRequest:
    if seconds is None:
        raise TakeRefused("give the length in seconds")
    if seed is None:
        raise TakeRefused("give a seed (a whole number)")
    values = {field.id: value for field, value in zip(form.conditions, conditions, strict=True)}
    return TakeRequest(
        conditions=values,
        negative_prompt=negative or None,
        seconds=float(seconds),
        steps=int(steps),
        sampler=sampler,
        cfg_scale=float(cfg),
        seed=int(seed),
        batch=int(batch),
        init_audio=Path(init_path) if init_path else None,
        init_noise_level=float(init_level),
        known_audio=Path(known_path) if known_path else None,
        mask=mask_text or "",
    )


def _samplers(studio: Studio) -> tuple[list[str], str]:
    """The samplers of the model's objective, and its default."""
    from audiodiff.compiler.materialize import objective_of
    from audiodiff.runtime.sampling import sampler_names

    objective = objective_of(studio.spec)
    return sampler_names(objective), objective.default_sampler


def _config_tab() -> None:
    gr.Markdown(
        "Paste or upload a model config: it is validated and explained as `audiodiff validate` and "
        "`audiodiff compile --explain` would (no torch involved)."
    )
    with gr.Row():
        with gr.Column(scale=1):
            upload = gr.File(
                label="upload a config",
                file_types=[".json", ".yaml", ".yml"],
                type="filepath",
                elem_id="ad-config-upload",
            )
            name = gr.Textbox(
                value="config.json", label="file name (its extension picks JSON or YAML)", elem_id="ad-config-name"
            )
            text = gr.Code(language="json", label="config", interactive=True, lines=24, elem_id="ad-config-text")
            check = gr.Button("Check", variant="primary", elem_id="ad-config-check")
        with gr.Column(scale=1):
            found = gr.HTML(elem_id="ad-config-diagnostics")
            graph = gr.HTML(elem_id="ad-config-graph")
    upload.upload(_read_upload, upload, [text, name], queue=False)
    check.click(_check, [text, name], [found, graph], concurrency_id="config")


def _read_upload(path: str | None) -> tuple[Any, Any]:
    from audiodiff.serve.configcheck import MAX_TEXT_BYTES

    if not path:
        return gr.update(), gr.update()
    file = Path(path)
    if file.stat().st_size > MAX_TEXT_BYTES:
        raise gr.Error(f"the file is larger than {MAX_TEXT_BYTES // 1024} KiB")
    return file.read_bytes().decode("utf-8", errors="replace"), file.name


def _check(text: str | None, name: str | None) -> tuple[str, str]:
    report = check_config(text or "", _safe_name(name))
    return diagnostics_html(report), explanation_html(report)


def _safe_name(name: str | None) -> str:
    """Only the extension of the name matters (JSON or YAML); the name is never opened as a path."""
    base = Path(name or "config.json").name
    return base if base.endswith((".json", ".yaml", ".yml")) else "config.json"
