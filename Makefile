# Two entry points: `make demo` and `make test`. Both create or refresh .venv themselves.
# demo installs the core set only (what the demo uses); test adds the [dev] extra (pytest, Ray, TensorBoard).
# Both install from constraints.txt: the exact versions CI tests (pyproject.toml holds the supported ranges).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip install -q --disable-pip-version-check -c constraints.txt
CORE   := $(VENV)/.installed-core
STAMP  := $(VENV)/.installed

.PHONY: venv venv-core demo test test-cluster bench constraints clean

$(CORE): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first and pinned: a plain `torch` would pull GBs of CUDA wheels
	$(PIP) torch==2.13.0
	$(PIP) -e .
	touch $(CORE)

$(STAMP): $(CORE)
	$(PIP) -e '.[dev]'
	touch $(STAMP)

venv-core: $(CORE)

venv: $(STAMP)
	sh scripts/install-system-deps.sh  # bubblewrap for the code sandbox (installs as root, else says how)

demo: venv-core
	$(BIN)/formalpi demo

# lint and layout (ruff check, ruff format --check) and the type check (mypy: pyproject's [tool.mypy]) first: seconds
test: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

# multi-node local Ray cluster tests (a table with a worker killed mid-run; minutes on CPU), not in `make test`
test-cluster: venv
	$(BIN)/python -m pytest -q -m cluster

# CPU benchmarks (each prints its numbers); the GPU ones run through the device machine: see docs/performance.md
bench: venv
	for b in skeleton math_checker report code_sandbox lean_pool; do $(BIN)/python bench/$$b.py || exit 1; done

# after a deliberate upgrade of the venv: record the tested set (then `make test`)
constraints: venv
	{ sed -n '1,/^# Regenerate/p' constraints.txt; $(BIN)/python -m pip freeze --exclude-editable \
	  | grep -v '^formalpi' | sed 's/^\(torch==[0-9.]*\)+cpu$$/\1/'; } > constraints.txt.new
	mv constraints.txt.new constraints.txt

clean:
	rm -rf $(VENV) runs .pytest_cache
