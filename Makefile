# palabre: `make run` starts the server on SQLite in ./data; `make test` runs every test.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test lint typecheck node-deps web-deps web chromium print-deps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# `palabre serve` prints the URL, then a facilitator link (the editor, signed in) once ready.
run: $(STAMP)
	$(BIN)/palabre demo
	@echo "Facilitator token, valid 12 h (for curl: Authorization: Bearer ...): $$($(BIN)/palabre token --role facilitator --name Facilitation --sub facilitation)"
	$(BIN)/palabre serve

node-deps: tests/node/node_modules/.installed

tests/node/node_modules/.installed: tests/node/package.json tests/node/package-lock.json
	cd tests/node && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The browser editor: npm packages to build it (and to check the committed bundle).
web-deps: client/web/node_modules/.installed

client/web/node_modules/.installed: client/web/package.json client/web/package-lock.json
	cd client/web && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Rebuild client/web/dist after changing client/web/src (commit the result).
web: web-deps
	cd client/web && npm run build

# The browser tests drive the system Chromium (Debian's package), never a downloaded one.
chromium:
	@command -v chromium >/dev/null || $(SUDO) apt-get install -y chromium \
		|| ($(SUDO) apt-get update && $(SUDO) apt-get install -y chromium)

# Exports: WeasyPrint lays PDFs out with Pango; the tests read them with poppler-utils.
print-deps:
	@(command -v pdftotext >/dev/null && ldconfig -p | grep -q libpango-1.0) \
		|| $(SUDO) apt-get install -y poppler-utils libpango-1.0-0 libpangoft2-1.0-0 \
		|| ($(SUDO) apt-get update && $(SUDO) apt-get install -y poppler-utils \
			libpango-1.0-0 libpangoft2-1.0-0)

# ruff, then the import contracts of pyproject.toml: layers run one way, no cycles.
lint: $(STAMP)
	$(BIN)/ruff check crdt storage server client tests
	$(BIN)/lint-imports --no-cache

typecheck: $(STAMP)
	$(BIN)/mypy crdt storage server client tests

test: $(STAMP) node-deps web-deps chromium print-deps lint typecheck
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) tests/node/node_modules client/web/node_modules
