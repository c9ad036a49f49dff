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

.PHONY: setup run test test-slurm dry-run lint clean determinism

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
	rm -rf results logs benchmarks .snakemake reports/html

# Determinism check: train one run twice, in two processes, and compare every output bit for
# bit (wall-clock timings excepted). On a GPU: make determinism DEVICE=cuda DETERMINISTIC=true
DATASET ?= mnist
DATA ?= resources/data/$(DATASET)/data.pt
DEVICE ?= auto
DETERMINISTIC ?= false
DET_RUN ?= --variant cross_entropy --loss cross_entropy --seed 0
DET_DIR ?= /tmp/lossbench-determinism

determinism: setup $(DATA)
	rm -rf $(DET_DIR) && mkdir -p $(DET_DIR)
	for run in first second; do \
	    lossbench train $(DET_RUN) --dataset $(DATASET) --device $(DEVICE) --deterministic $(DETERMINISTIC) \
	        --data $(DATA) --out-dir $(DET_DIR)/$$run 2> $(DET_DIR)/$$run.log || { cat $(DET_DIR)/$$run.log; exit 1; }; \
	done
	lossbench compare $(DET_DIR)/first $(DET_DIR)/second

resources/data/%/data.pt: | setup
	snakemake --cores 1 $@

# Real one-node SLURM cluster on this machine (Debian packages; root), then the SLURM tests.
test-slurm: setup
	bash tests/cluster/start-slurm.sh
	timeout -k 30 1200 pytest -m slurm tests/test_slurm.py
