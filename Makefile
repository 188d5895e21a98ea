# The two commands of the README: `make run` and `make test`. Everything they need is installed here.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export FLASK_APP := wsgi.py

.PHONY: run test install lint translations chromium bench clean

$(BIN)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(BIN)/.installed translations

translations: $(BIN)/.installed
	$(BIN)/pybabel -q compile -d app/translations

# Debian's Chromium and a Chinese font for the browser tests (Playwright drives it; it never downloads a browser).
chromium:
	@{ command -v chromium >/dev/null && fc-list :lang=zh 2>/dev/null | grep -q .; } || { \
	  echo "installing Debian's chromium and fonts-wqy-zenhei for the browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium fonts-wqy-zenhei >/dev/null; }

# Brings the whole system up on embedded defaults (SQLite, no Redis), seeded with demo data.
run: install
	./scripts/run.sh

lint: install
	$(BIN)/ruff check .

# Installs everything and runs the whole suite against PostgreSQL and Redis on 127.0.0.1.
test: install chromium lint
	$(BIN)/python -m pytest

bench: install
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache
