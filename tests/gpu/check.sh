#!/usr/bin/env bash
# GPU checks, one call on a lent GPU machine (no internet, no snakemake there):
#   the CUDA tests (CUDA-graph step vs eager), the benchmark with start-up timing, and the
#   determinism check (one run trained twice and compared bit for bit, default and
#   deterministic: true; what `make determinism DEVICE=cuda` does, without make/snakemake).
# Needs the four MNIST .gz files in .data/mnist/ (an ignored folder carried with the tree).
# Writes bench.json and the logs into $OUT (default: ./gpu-out).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
export PYTHONPATH=$PWD/scripts
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/gpu.txt"
python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" | tee -a "$OUT/gpu.txt"
python -m lossbench.cli data --dataset mnist --out .data/resources/mnist --mirror .data/mnist 2>&1 | tail -1
python -m pytest -q -o addopts="" -p no:cacheprovider tests/test_train.py tests/test_losses.py 2>&1 | tee "$OUT/pytest.txt" | tail -3
python -m lossbench.cli bench --data .data/resources/mnist/data.pt --repeats 5 --startup --packed 100 \
    --json "$OUT/bench.json" 2>"$OUT/bench.log" | tee "$OUT/bench.txt"
for mode in false true; do
    for run in first second; do
        python -m lossbench.cli train --variant cross_entropy --loss cross_entropy --seed 0 --device cuda \
            --deterministic $mode --data .data/resources/mnist/data.pt --out-dir "$OUT/determinism-$mode/$run" \
            2>"$OUT/determinism-$mode-$run.log"
    done
    echo "deterministic: $mode"
    python -m lossbench.cli compare "$OUT/determinism-$mode/first" "$OUT/determinism-$mode/second" \
        | tee "$OUT/determinism-$mode.txt" || true
done
