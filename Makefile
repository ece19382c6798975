# The two commands: `make run` serves the app at http://localhost:7071, `make test` runs every check.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test install lint infra-check browser bench reliability clean

install: $(VENV)/.installed node_modules/.installed

# checkov has many dependencies of its own: it lives in a virtual environment of its own.
.venv-checkov/.installed: requirements-checkov.txt
	$(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	touch $@

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

run: install
	$(PY) -m functions.devhost.local

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

infra-check: .venv-checkov/.installed
	.venv-checkov/bin/checkov -d infra --skip-download --compact --quiet

# The browser tests drive Debian's chromium (Playwright's own browser download cannot work offline). As root, the
# first `make test` installs it; anyone else is told the one command to run.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing Debian's chromium for the browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "The browser tests need Debian's chromium: run 'sudo apt-get install -y chromium', then make test" >&2; \
	    exit 1; \
	  fi; }

test: lint infra-check browser
	$(PY) -m pytest

# The faults suite alone (two dispatchers, killed hosts, paused Azurite, Graph faults, interrupted fan-outs); it is
# part of `make test` too.
reliability: install
	$(PY) -m pytest tests/reliability

bench: install
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) .venv-checkov node_modules .local .pytest_cache .mypy_cache .ruff_cache
