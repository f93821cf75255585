# Two commands: `make run` and `make test`. Each sets up everything it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: run test install rabbitmq bench bench-e2e clean

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

install: $(INSTALLED)

rabbitmq: install
	$(BIN)/python scripts/ensure_rabbitmq.py

## Start RabbitMQ if needed, SecantusDB unless MONGO_URI, the emulator unless OPENAI_API_KEY, and every service.
run: rabbitmq
	$(BIN)/python scripts/run.py

## Run the whole test suite against a real broker, database and the emulator.
test: rabbitmq
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## Benchmarks (not tests): results go to BENCHMARKS.md by hand, with the command.
bench: rabbitmq
	$(BIN)/python -m bench.store
	$(BIN)/python -m bench.gateway

## 1,000 generations end to end, twice (about 9 minutes).
bench-e2e: rabbitmq
	$(BIN)/python -m bench.e2e

clean:
	rm -rf $(VENV) .data .pytest_cache
