# Two entry points, each doing its own setup on a fresh machine:
#   make demo   install, generate the synthetic KEMDy20-format demo corpus if absent, run the main job
#   make test   install, run the default test suite (what CI runs)
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.vamer-installed
DEV_STAMP := $(VENV)/.vamer-dev-installed
DEMO_DIR ?= build/demo-corpus
DEMO_OUT ?= build/demo-run
DEMO_PRESET ?= cpu-ge2e
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup setup-core system system-browser demo test test-slow clean

# What the demo needs; the tests also need the browser that drives the web page.
setup-core: system $(STAMP)
setup: system system-browser $(DEV_STAMP)

# System packages the project needs; installed here so no machine is assumed to have them.
system:
	@command -v espeak-ng >/dev/null 2>&1 || { \
	  echo "installing espeak-ng (apt-get)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq espeak-ng >/dev/null; }

# The page shows Korean: the browser that tests it needs a Korean font (fonts-noto-cjk), or every
# syllable is an empty box.
system-browser:
	@{ command -v chromium && command -v chromedriver && fc-list | grep -qi "Noto Sans CJK"; } >/dev/null 2>&1 || { \
	  echo "installing chromium + chromedriver + a Korean font (apt-get; the web page test drives them)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium \
	    chromium-driver fonts-noto-cjk >/dev/null; }

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch first, from the pinned CPU build, so no dependency can pull a CUDA wheel.  pip byte-compiles
# each package's modules on one core, half of an install's time; compileall does it on every core
# afterwards, vamer's own sources too (the bytecode has to be there: with PYTHONDONTWRITEBYTECODE
# set, Python would compile every module again in every process).  Like pip, it ignores the odd
# file that does not compile.
PIP := $(BIN)/pip install -q --disable-pip-version-check --no-compile
COMPILE := $(BIN)/python -m compileall -q -j 0 $(VENV)/lib src >/dev/null || true
$(STAMP): pyproject.toml | $(BIN)/python
	$(PIP) torch==2.13.0
	$(PIP) -e .
	$(COMPILE)
	touch $(STAMP)

# The tests' setup installs everything in one pass (a second pass for the dev extras would
# resolve and build vamer again); it counts as the demo's too.
$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(PIP) torch==2.13.0
	$(PIP) -e '.[dev]'
	$(COMPILE)
	touch $(STAMP) $(DEV_STAMP)

# Prints where the time went and what the run found at the end (scripts/demo.sh).
demo:
	@DEMO_DIR=$(DEMO_DIR) DEMO_OUT=$(DEMO_OUT) DEMO_PRESET=$(DEMO_PRESET) bash scripts/demo.sh

# Lint and format are checked first: a style slip fails in seconds, not after the suite.
test: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q

test-slow: setup
	$(BIN)/python -m pytest -q -m slow

clean:
	rm -rf build
