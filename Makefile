# Two entry points, each doing its own setup on a fresh machine:
#   make demo   install, generate the synthetic KEMDy20-format demo corpus if absent, run the main job
#   make test   install, run the default test suite (what CI runs)
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.vamer-installed
DEMO_DIR ?= build/demo-corpus
DEMO_OUT ?= build/demo-run
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup system demo test test-slow clean

setup: system $(STAMP)

# System packages the project needs; installed here so no machine is assumed to have them.
system:
	@command -v espeak-ng >/dev/null 2>&1 || { \
	  echo "installing espeak-ng (apt-get)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq espeak-ng >/dev/null; }
	@{ command -v chromium && command -v chromedriver; } >/dev/null 2>&1 || { \
	  echo "installing chromium + chromedriver (apt-get; the web page test drives them)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium chromium-driver >/dev/null; }

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch first, from the pinned CPU build, so no dependency can pull a CUDA wheel.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q --disable-pip-version-check torch==2.13.0
	$(BIN)/pip install -q --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

demo: setup
	@if [ ! -f $(DEMO_DIR)/vamer_demo.json ]; then $(BIN)/vamer data demo $(DEMO_DIR); fi
	$(BIN)/vamer data check $(DEMO_DIR) --json $(DEMO_OUT)/data-check.json --force
	$(BIN)/vamer analyze $(DEMO_DIR) --out $(DEMO_OUT)/analysis --force
	$(BIN)/vamer baseline $(DEMO_DIR) --cv speaker:5 --out $(DEMO_OUT)/baseline --cache build/cache --force
	$(BIN)/vamer run $(DEMO_DIR) --out $(DEMO_OUT)/run --preset cpu --cv session:5 --cache build/cache --force
	$(BIN)/vamer export --bundle $(DEMO_OUT)/run/bundle --onnx $(DEMO_OUT)/run/bundle/model.onnx --force
	$(BIN)/vamer predict --bundle $(DEMO_OUT)/run/bundle $(DEMO_DIR)/wav/Session01 --out $(DEMO_OUT)/predict-session01.csv --force
	@echo "reports: $(DEMO_OUT)/analysis/report.md, $(DEMO_OUT)/baseline/summary.md, $(DEMO_OUT)/run/report.md"
	@echo "bundle: $(DEMO_OUT)/run/bundle (ONNX: model.onnx); predictions of Session01: $(DEMO_OUT)/predict-session01.csv"
	@echo "serve it: $(BIN)/vamer serve --bundle $(DEMO_OUT)/run/bundle   (then open http://127.0.0.1:8000/)"

test: setup
	$(BIN)/python -m pytest -q

test-slow: setup
	$(BIN)/python -m pytest -q -m slow

clean:
	rm -rf build
