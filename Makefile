# The two set-up commands: `make run` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint typecheck pytest bench clean vendor

$(BIN)/f0: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	@touch $@

$(VENV)/.dev: $(BIN)/f0 examples/plugin/pyproject.toml
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/pip install -q -e examples/plugin
	@touch $@

run: $(BIN)/f0
	$(BIN)/f0 run examples/quickstart.yaml

# One pytest worker per core (at most 4). tests/conftest.py groups the tests (loadgroup): a file's
# tests stay on one worker, so its module-scoped fixtures (a server, a store of recorded runs) start
# once, and the Dask tests share one worker and its one cluster. Branch coverage, f0 processes
# included, fails below [tool.coverage.report] fail_under. A worker that dies (a hung test is ended
# from C, see tests/conftest.py) ends the session: xdist's loadgroup can wait for ever on a replacement.
PYTEST_ARGS ?= -n logical --maxprocesses=4 --dist loadgroup --max-worker-restart=0 --cov --cov-report=term:skip-covered
# The few tests that stop a thread blocked in C run apart, unmeasured (see the marker in pyproject.toml).
PYTEST_ROUND_TWO ?= -n logical --maxprocesses=4 --dist loadgroup --max-worker-restart=0

test: $(VENV)/.dev
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples
	$(BIN)/mypy
	$(BIN)/pytest $(PYTEST_ARGS) -m "not uncovered"
	$(BIN)/pytest $(PYTEST_ROUND_TWO) -m uncovered

bench: $(VENV)/.dev
	$(BIN)/python benchmarks/scheduler.py
	$(BIN)/python benchmarks/startup.py
	$(BIN)/python benchmarks/context_storage.py
	$(BIN)/python benchmarks/context_server.py
	$(BIN)/python benchmarks/dask_executor.py
	$(BIN)/python benchmarks/graph_layout.py
	$(BIN)/python benchmarks/page_render.py
	$(BIN)/python benchmarks/dashboard_render.py

# The front-end libraries, pinned in frontend/package-lock.json, copied with their licences into the
# package (committed: nothing is downloaded at run time). Run after changing frontend/package.json.
STATIC := src/framework0/viz/web/static/vendor
vendor:
	cd frontend && npm ci --no-audit --no-fund
	cp frontend/node_modules/svg-pan-zoom/dist/svg-pan-zoom.min.js $(STATIC)/
	cp frontend/node_modules/svg-pan-zoom/LICENSE $(STATIC)/svg-pan-zoom.LICENSE

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis .framework0
