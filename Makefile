# lossbench: `make run` trains the default sweep and builds tables; `make test` runs the tests.
# Both build the environment first (`make setup`, idempotent: it reinstalls only when
# pyproject.toml changes).
PYTHON ?= python3
VENV ?= .venv
BIN := $(abspath $(VENV))/bin
STAMP := $(VENV)/.setup-done
CORES ?= 8
# Rules call the `lossbench` command: it must be on PATH for Snakemake's jobs.
export PATH := $(BIN):$(PATH)

.PHONY: setup run test test-slurm dry-run lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

run: setup
	snakemake --cores $(CORES)

test: setup
	pytest

dry-run: setup
	snakemake -n --cores $(CORES)

lint: setup
	snakemake --lint
	snakefmt --check workflow

clean:
	rm -rf results logs benchmarks .snakemake

# Real one-node SLURM cluster on this machine (Debian packages; root), then the SLURM tests.
test-slurm: setup
	bash tests/cluster/start-slurm.sh
	timeout -k 30 1200 pytest -m slurm tests/test_slurm.py
