# erp: `make run` starts the app with demo data; `make test` runs the whole suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PG_URL ?= $(ERP_TEST_DATABASE_URL)
PORT   ?= 5000
SIM_PORT ?= 5081

.PHONY: run test test-sqlite test-postgres bench lint install migrate demo clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

migrate: install
	$(BIN)/erp db upgrade

demo: migrate
	ERP_RUN_PORT=$(PORT) ERP_CARRIER_SIM_URL=http://127.0.0.1:$(SIM_PORT) $(BIN)/erp demo

# the carrier simulator runs beside the app (the demo's Sim Express books through it)
run: demo
	ERP_CARRIER_SIM_URL=http://127.0.0.1:$(SIM_PORT) bash scripts/run.sh $(BIN) $(PORT) $(SIM_PORT)

# SQLite and PostgreSQL passes run side by side (one per core); both reports are printed.
test: install
	ERP_TEST_DATABASE_URL="$(PG_URL)" bash scripts/test-both.sh $(BIN)/python

test-sqlite: install
	env -u ERP_TEST_DATABASE_URL $(BIN)/python -m pytest -q -p no:cacheprovider

BENCH_STAMP := $(VENV)/.bench-stamp
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python -m bench

lint: install
	$(BIN)/ruff check erp tests bench migrations/env.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
