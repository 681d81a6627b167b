# Two commands do everything on a fresh machine (python3.11, pip and make are all they assume):
#   make demo   set up, then run the main job on the shipped example
#   make test   set up, then lint (ruff), type-check (mypy) and run the whole test suite
# While working: `make test-fast` skips the end-to-end tests marked `slow`; `make lint` runs ruff and mypy alone.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.audiodiff-installed

.PHONY: demo test test-fast lint lint-format fmt setup clean bench-env browser parity

# torch==2.13.0 is installed first where no torch is present: a plain `torch` requirement would pull a
# multi-GB CUDA build, while this pinned version resolves to the local CPU build on these machines.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

# The studio's browser tests (tests/serve/test_browser.py) drive Debian's Chromium: installed here where apt can
# (as root), otherwise those tests skip and say why.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
		apt-get update -qq >/dev/null && apt-get install -y -qq chromium >/dev/null 2>&1; } || \
		echo "no chromium could be installed: the browser tests will skip"

test: lint browser
	$(PY) -m pytest -q -n 2

test-fast: lint browser
	$(PY) -m pytest -q -n 2 -m "not slow"

# ruff's lint rules and mypy's settings live in pyproject.toml.
lint: $(STAMP)
	$(VENV)/bin/ruff check audiodiff bench examples
	$(VENV)/bin/mypy
	$(VENV)/bin/ruff format --check audiodiff tests bench examples

lint-format: $(STAMP)
	$(VENV)/bin/ruff format --check audiodiff tests bench examples

fmt: $(STAMP)
	$(VENV)/bin/ruff format audiodiff tests bench examples

# Differential test against the reference implementation (stable-audio-tools at 50049e3) in its own environment:
# ../shared/tools/reference-env.sh SOURCE ../refenv makes it; AUDIODIFF_REFERENCE_PYTHON points elsewhere.
# Draws PARITY_DRAWS random small configs, runs each in both, and lists every disagreement.
PARITY_DRAWS ?= 500

parity: $(STAMP)
	PYTHONPATH=tests/parity:tests $(PY) tests/parity/harness.py --draws $(PARITY_DRAWS)

# The main job on the shipped example: a small conditioned DiT trains on half-second tones, chirps and noise bursts
# at 4 kHz from a synthesised toy dataset, then one tone is sampled from the exported weights, and every class is
# measured. Budget: at most 5 minutes after set-up on 2 idle CPU cores (README). Outputs: runs/demo/report.png
# (spectrograms of training and generated clips per class, loss curve), runs/demo/demos/ (WAV, spectrograms and a
# report per round), runs/demo/checkpoints/, runs/demo/sample.wav.
DEMO_STEPS ?= 2400

demo: $(STAMP)
	$(VENV)/bin/audiodiff validate examples/
	$(PY) examples/make_toy_dataset.py examples/data/toy --sustained --seconds 0.5 --notes 220,330,440,660
	rm -rf runs/demo
	$(VENV)/bin/audiodiff run examples/toy_dit.json --dataset examples/toy_dataset.json --output runs/demo \
		--max-steps $(DEMO_STEPS) --batch-size 8 --checkpoint-every $(DEMO_STEPS)
	$(VENV)/bin/audiodiff sample examples/toy_dit.json --ckpt "$$(ls runs/demo/checkpoints/*.safetensors | tail -n 1)" \
		--cond class=tone --seconds 0.5 --cfg-scale 4 --steps 100 --seed 1 --output runs/demo/sample.wav
	$(PY) examples/measure_demo.py runs/demo

# The reference (stable-audio-tools at commit 50049e3) in its own environment, .bench-env/, so the benches measure it
# beside audiodiff in the same run (bench/README.md). Its pins conflict with ours, hence a separate venv.
#   make bench-env REFERENCE_SOURCE=path/to/stable-audio-tools   (a checkout, or a git dir holding 50049e3)
REFERENCE_ENV_SCRIPT ?= ../shared/tools/reference-env.sh
bench-env:
	@test -n "$(REFERENCE_SOURCE)" || { echo "give REFERENCE_SOURCE=path/to/stable-audio-tools (at 50049e3)"; exit 2; }
	bash $(REFERENCE_ENV_SCRIPT) $(REFERENCE_SOURCE) .bench-env

clean:
	rm -rf $(VENV) runs .pytest_cache
