# Two commands for a newcomer: `make run` and `make test`. Everything else is a step of those.
PYTHON ?= python3
VENV ?= .venv
ALERTMANAGER_URL ?= http://127.0.0.1:9093
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Real parts for the tests: Alertmanager (and amtool), promtool, Redis, wrk for the benchmark smoke test, and
# Chromium with its WebDriver for the inspector page's browser tests (Selenium drives Debian's, nothing is downloaded).
DEBIAN_PACKAGES := prometheus-alertmanager prometheus redis-server wrk chromium chromium-driver
TOOLS := prometheus-alertmanager amtool promtool redis-server wrk chromium chromedriver

.PHONY: run test lint bench soak mutation-check screenshot system-deps

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $@

## Run the bridge on its embedded SQLite store (./data), sending to Alertmanager at $(ALERTMANAGER_URL).
run: $(VENV)/.installed
	$(VENV)/bin/cloud-alarm-bridge serve --alertmanager-url $(ALERTMANAGER_URL)

## Install what the tests need (Debian packages included), then lint and run every test.
test: $(VENV)/.installed-test system-deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest -q

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .

## Break the delivery and ingest paths on purpose; fail unless the fast tests catch each break (minutes).
mutation-check: $(VENV)/.installed-test system-deps
	$(VENV)/bin/python tests/mutation_check.py

## Measure throughput, latency, batching, drain, memory and replicas against two baselines (minutes).
bench: $(VENV)/.installed-test system-deps
	$(VENV)/bin/python bench/run.py $(BENCH_ARGS)

## Retake the README's picture of the inspector page (docs/inspector.png) from a real run, in headless Chromium.
screenshot: $(VENV)/.installed-test system-deps
	$(VENV)/bin/python -m tools.screenshot docs/inspector.png

## The long soak (about an hour, niced): faults on SQLite then Redis beside a steady load (README "Soak").
SOAK_MINUTES ?= 55
soak: $(VENV)/.installed-test system-deps
	nice -n 10 $(VENV)/bin/python bench/soak/long.py --minutes $(SOAK_MINUTES) $(SOAK_ARGS)

system-deps:
	@missing=""; for tool in $(TOOLS); do command -v $$tool >/dev/null 2>&1 || missing="$$missing $$tool"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages for:$$missing"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(DEBIAN_PACKAGES); \
	fi
