# livermets: `make demo` runs the built-in study; `make test` runs the test suite.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
TORCH := torch==2.13.0
STAMP_DEMO := $(VENV)/.installed-demo
STAMP_TEST := $(VENV)/.installed-test

CHROMIUM := /usr/bin/chromium

.PHONY: demo test test-pg lint install clean

# Browser tests use Debian's Chromium (never a browser download); installing it needs root.
$(CHROMIUM):
	@command -v apt-get >/dev/null || { echo "install Chromium at $(CHROMIUM) (browser tests)"; exit 1; }
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# torch first, alone and pinned (a CPU wheel from local disk); then the rest holding it.
$(STAMP_DEMO): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -c constraints.txt -e ".[deep,explain]"
	touch $@

$(STAMP_TEST): $(STAMP_DEMO)
	$(BIN)/pip install --quiet -c constraints.txt -e ".[test,deep,explain,readers,totalseg,pg,ibsi,tracking]"
	touch $@

install: $(STAMP_DEMO)

demo: $(STAMP_DEMO)
	$(BIN)/livermets demo --out results/demo

test: $(STAMP_TEST) $(CHROMIUM)
	$(BIN)/ruff check .
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 -q

# reader-study tests against PostgreSQL (installs and starts Debian's server; needs root)
test-pg: $(STAMP_TEST)
	url=$$(./.ci/postgres.sh) && LIVERMETS_TEST_PG=$$url $(BIN)/python -m pytest tests/readers -q -m "not sqlite_only"

lint: $(STAMP_TEST)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) results .pytest_cache
