# Everything a fresh clone needs: `make run` (the demo) and `make test` (the whole suite).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean chromium

$(STAMP): pyproject.toml requirements.lock
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/mirrorcal web

# The browser tests (tests/e2e) drive Debian's Chromium through Playwright, which downloads no browser.
chromium:
	@command -v chromium >/dev/null || { export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium; }

test: $(STAMP) chromium
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy src
	$(BIN)/python -m pytest -q -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy src

bench: $(STAMP)
	$(BIN)/python bench/caldav_bench.py $(BENCH_ARGS)

.PHONY: bench-latency
bench-latency: $(STAMP)
	$(BIN)/python bench/latency.py $(BENCH_ARGS)

.PHONY: bench-slots
bench-slots: $(STAMP)
	$(BIN)/python bench/slots.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
