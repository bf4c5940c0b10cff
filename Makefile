# Two commands do all set-up on a fresh machine (see README):
#   make run    install shiftlab and run the main job
#   make test   install shiftlab with its test extras and run the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: run test test-all install install-dev browser lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

install: $(BIN)/python
	$(PIP) install -e .

# torch is pinned first so that the "deep" extra's range installs nothing more.
install-dev: $(BIN)/python
	$(PIP) install "torch==2.13.0"
	$(PIP) install -e ".[dev,deep,dask]"

run: install
	$(BIN)/shiftlab run quick

# Headless Chromium (Debian's package) renders the HTML report in the browser tests.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
	  || echo "warning: could not install chromium; the browser test will be skipped"

# The CI suite: everything but the tests marked slow (long reproductions of published
# numbers and 20,000-sample scalability checks), which `make test-all` adds.
test: install-dev browser
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -m "not slow"

test-all: install-dev browser
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache
