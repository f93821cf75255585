# Two commands: `make run` and `make test`. Each sets up everything it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

PIP := $(BIN)/python -m pip --disable-pip-version-check
# pip-compile's options for both lock files; the build backend (setuptools) is locked too, so the
# project itself installs with no unhashed download (--no-build-isolation).
LOCK := $(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --all-build-deps --strip-extras \
	--no-emit-index-url --no-emit-find-links

.PHONY: run test lint lock install rabbitmq asyncapi config-docs chromium bench bench-e2e clean

# Every package from the development lock (runtime + dev + test + lint), hashes checked; again
# whenever the lock (or pyproject.toml) changes.
$(INSTALLED): requirements-dev.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --require-hashes -r requirements-dev.lock
	$(PIP) install --quiet --no-deps --no-build-isolation -e .
	touch $@

install: $(INSTALLED)

rabbitmq: install
	$(BIN)/python scripts/ensure_rabbitmq.py

## Start RabbitMQ if needed, SecantusDB unless MONGO_URI, the emulator unless OPENAI_API_KEY, and every service.
run: rabbitmq
	$(BIN)/python scripts/run.py

## ruff, then mypy (their settings are in pyproject.toml).
lint: install
	$(BIN)/ruff check services tests bench scripts
	$(BIN)/mypy

## Regenerate both lock files from pyproject.toml (after changing a pin there). The runtime lock is
## constrained by the development one, so a package has the same version in both.
lock: install
	$(LOCK) --all-extras -o requirements-dev.lock pyproject.toml
	$(LOCK) -c requirements-dev.lock -o requirements.lock pyproject.toml

## Regenerate docs/asyncapi.json from the event contract (tests/common/test_asyncapi.py checks it is current).
asyncapi: install
	$(BIN)/python -m services.common.asyncapi docs/asyncapi.json

## Regenerate docs/configuration.md from the settings (tests/common/test_config_docs.py checks it is current).
config-docs: install
	$(BIN)/python -m services.common.config docs/configuration.md

## The browser tests drive Debian's Chromium (never a browser Playwright would download): installed
## here when missing and this runs as root with apt-get; otherwise `make test` stops, saying how.
CHROMIUM ?= /usr/bin/chromium
export CHROMIUM  # the browser tests read it too (tests/support/browser.py)
chromium:
	@if [ -x "$(CHROMIUM)" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian's chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi; \
	if [ ! -x "$(CHROMIUM)" ]; then \
		echo "the browser tests need Chromium at $(CHROMIUM): run 'sudo apt-get install -y chromium'" \
			"(Debian/Ubuntu), or set CHROMIUM=/path/to/chromium" >&2; \
		exit 1; \
	fi

## Lint, then run the whole test suite against a real broker, database and the emulator, and the
## web page in Chromium.
test: lint rabbitmq chromium
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## Benchmarks (not tests): results go to BENCHMARKS.md by hand, with the command.
bench: rabbitmq
	$(BIN)/python -m bench.store
	$(BIN)/python -m bench.gateway

## 1,000 generations end to end, twice (about 9 minutes).
bench-e2e: rabbitmq
	$(BIN)/python -m bench.e2e

clean:
	rm -rf $(VENV) .data .pytest_cache artifacts
