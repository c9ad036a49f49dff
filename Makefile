# lossbench: `make run` trains the default sweep and builds tables; `make test` runs the tests.
# Both build the environment first (`make setup`, idempotent: it reinstalls only when
# pyproject.toml or requirements.lock changes).
PYTHON ?= python3
VENV ?= .venv
BIN := $(abspath $(VENV))/bin
STAMP := $(VENV)/.setup-done
LOCK := requirements.lock
CORES ?= 8
# Rules call the `lossbench` command: it must be on PATH for Snakemake's jobs.
export PATH := $(BIN):$(PATH)

.PHONY: setup lock run full-study test test-slurm dry-run lint clean determinism figure

setup: $(STAMP)

# Every package at the version in the lock (transitive dependencies included), then the project
# itself without resolving anything again.
$(STAMP): pyproject.toml $(LOCK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

# requirements.lock: every package of `pip install -e '.[test]'`, transitive ones included, pinned
# with ==, for this platform (Linux x86_64, CPython 3.11: torch's CUDA wheels bring nvidia-* and
# triton). Made by pip-tools' pip-compile because it resolves with pip itself, so it honours the
# pip configuration that serves torch/torchvision from this machine's disk (uv and poetry do not
# read it and would download ~3 GB). Index URLs are left out of the lock: they are this machine's.
# pip-compile keeps the current pins that still satisfy pyproject.toml; to move every transitive
# pin to its newest compatible release: make lock LOCK_ARGS=--upgrade
# pip-tools runs from its own venv, so it never appears in the project's environment or its lock.
PIPTOOLS_VENV := $(VENV)/.pip-tools
PIPTOOLS := pip==26.3 pip-tools==7.6.2
LOCK_ARGS ?=

lock:
	@test -x $(PIPTOOLS_VENV)/bin/pip-compile || { $(PYTHON) -m venv $(PIPTOOLS_VENV) && \
	    $(PIPTOOLS_VENV)/bin/python -m pip install --quiet $(PIPTOOLS); }
	CUSTOM_COMPILE_COMMAND="make lock" $(PIPTOOLS_VENV)/bin/pip-compile --quiet --extra test --strip-extras \
	    --allow-unsafe --no-emit-index-url --no-emit-find-links --output-file $(LOCK) $(LOCK_ARGS) pyproject.toml

run: setup
	snakemake --cores $(CORES)

# The full learning-rate study (config/full-study.yaml over the default config: cross_entropy and mse_softmax,
# 5 lrs each around its optimum, 17 seeds, 30 epochs;
# docs/studies.md, "The full study", gives what it answers, its cost and its result). It retrains the default's
# lr-study folders at its own budget: run it in a clone of its own to keep the default results.
full-study: setup
	snakemake --cores $(CORES) --configfile config/full-study.yaml

test: setup
	pytest --durations=15    # the slowest tests, to keep CI inside its time budget

# README's key figure, drawn from the default run's tables (after `make run`; DATASET=... for another).
figure: setup
	lossbench figure --tables results/$(DATASET)/tables --out docs/key-figure.png

dry-run: setup
	snakemake -n --cores $(CORES)

# snakemake --lint through its test: it accepts exactly the one lint expected per rule (no conda:
# directive, on purpose: README, "With conda instead of make") and fails on any other.
lint: setup
	ruff check
	snakefmt --check workflow
	pytest -q -p no:cacheprovider tests/test_workflow.py -k lint_is_clean

clean:
	rm -rf results logs benchmarks .snakemake reports/html reports/bundle

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
