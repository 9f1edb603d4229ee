# Spendsight: `make run` serves the dashboard with demo data; `make test` runs the suite on SQLite and PostgreSQL.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTEST_ARGS ?=
# pytest-xdist workers for each half of the suite (each worker has its own databases, ports and files);
# loadgroup keeps the tests of one xdist_group (a shared module fixture) on one worker.
TEST_JOBS ?= 2
XDIST  := -n $(TEST_JOBS) --dist loadgroup

.PHONY: install run lint test test-sqlite test-postgres browser bench clean

# pip prints each package as it goes (the first install takes a few minutes), so it is not --quiet.
$(STAMP): pyproject.toml
	@echo "== [1/2] creating $(VENV)"
	$(PYTHON) -m venv $(VENV)
	@echo "== [2/2] installing Spendsight and its libraries into $(VENV) (a few minutes the first time)"
	$(BIN)/pip install --disable-pip-version-check --progress-bar on -e '.[test]' \
		| grep --line-buffered -E '^(Collecting|Installing|Successfully|ERROR)' || true
	@$(BIN)/python -c "import streamlit, sqlmodel" || { echo "install failed: see pip's output above"; exit 1; }
	touch $(STAMP)
	@echo "== installed"

install: $(STAMP)

run: install
	$(BIN)/spendsight init
	$(BIN)/spendsight demo
	scripts/run.sh

# Headless Chromium for the browser tests, from Debian (Playwright's own download is not reachable),
# with a CJK font so the Chinese pages' screenshots show text rather than boxes.
browser:
	@if ! command -v chromium >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -qi zenhei; then \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium fonts-wqy-zenhei >/dev/null; fi

# ruff (lint, import order, format) and mypy, as configured in pyproject.toml; `make test` runs it first.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: install lint browser test-sqlite test-postgres

test-sqlite: install
	$(BIN)/pytest -q $(XDIST) $(PYTEST_ARGS)

# Each run creates and drops its own database on the server at 127.0.0.1:5432 (SPENDSIGHT_TEST_PG_ADMIN
# to change it); with no server there, the script starts a throwaway one and stops it at the end.
test-postgres: install
	scripts/test-postgres.sh $(XDIST) $(PYTEST_ARGS)

bench: install
	@for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) tests/artifacts .pytest_cache
