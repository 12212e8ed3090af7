# Two entry points: `make demo` and `make test`. Both create or refresh .venv themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: venv demo test bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first and pinned: a plain `torch` would pull GBs of CUDA wheels
	$(BIN)/python -m pip install -q --disable-pip-version-check torch==2.13.0
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)
	sh scripts/install-system-deps.sh  # bubblewrap for the code sandbox (installs as root, else says how)

demo: venv
	$(BIN)/formalpi demo

test: venv
	$(BIN)/python -m pytest -q

# CPU benchmarks (each prints its numbers); the GPU ones run through the device machine: see docs/performance.md
bench: venv
	for b in skeleton math_verify report code_sandbox lean_pool; do $(BIN)/python bench/$$b.py || exit 1; done

clean:
	rm -rf $(VENV) runs .pytest_cache
