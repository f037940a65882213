# The two commands of the README. Each sets everything up on a fresh machine
# (virtual environment, torch==2.13.0 first, reglab, Fashion-MNIST) and then
# does its job. ARGS passes extra arguments through, e.g.
#   make run ARGS="epochs=3 --seed 1"
#   make test ARGS="-k dropout"

VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: run test setup bench clean

run:
	VENV=$(VENV) scripts/setup.sh
	$(PY) -m reglab run dropout $(ARGS)

test:
	VENV=$(VENV) scripts/setup.sh dev,ray,optuna,lightning,timm
	$(PY) -m ruff check reglab tests benchmarks
	$(PY) -m ruff format --check reglab tests benchmarks
	$(PY) -m pytest $(ARGS)

setup:
	VENV=$(VENV) scripts/setup.sh dev

bench:
	VENV=$(VENV) scripts/setup.sh dev
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis .ruff_cache .mypy_cache .import_linter_cache
