# palabre: `make run` starts the server on SQLite in ./data; `make test` runs every test.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck node-deps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/palabre demo
	@echo "Facilitator token (pass it as ?token=...): $$($(BIN)/palabre token --role facilitator --name Facilitation)"
	$(BIN)/palabre serve

node-deps: tests/node/node_modules/.installed

tests/node/node_modules/.installed: tests/node/package.json tests/node/package-lock.json
	cd tests/node && npm ci --no-audit --no-fund --loglevel=error
	touch $@

lint: $(STAMP)
	$(BIN)/ruff check crdt storage server client tests

typecheck: $(STAMP)
	$(BIN)/mypy crdt storage server client tests

test: $(STAMP) node-deps lint typecheck
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) tests/node/node_modules
