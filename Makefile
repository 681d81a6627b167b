# Two commands do everything on a fresh machine (python3.11, pip and make are all they assume):
#   make demo   set up, then run the main job on the shipped example
#   make test   set up, then run the test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.audiodiff-installed

.PHONY: demo test setup clean

# torch==2.13.0 is installed first where no torch is present: a plain `torch` requirement would pull a
# multi-GB CUDA build, while this pinned version resolves to the local CPU build on these machines.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q -n 2

demo: $(STAMP)
	$(VENV)/bin/audiodiff validate examples/
	$(VENV)/bin/audiodiff compile examples/toy_dit.json --explain

clean:
	rm -rf $(VENV) runs .pytest_cache
