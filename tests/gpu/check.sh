#!/usr/bin/env bash
# GPU checks, in one call on a lent GPU machine (no internet, no snakemake or papermill there):
#   the CUDA tests (CUDA-graph step vs eager, packed graph vs packed eager, a loss that reads
#   back to the host), the benchmark with start-up timing and --packed (the 100-seed target),
#   the learning-rate study's packed grid per loss (bench --packed-lrs: one job's worth),
#   and the determinism check (one run trained twice and compared bit for bit, default and
#   deterministic: true; what `make determinism DEVICE=cuda` does, without make/snakemake).
#
#   mkdir -p .data/mnist && cp ../shared/data/mnist/*.gz .data/mnist/   # carried with the tree
#   OUT=$OUT bash tests/gpu/check.sh
#
# Every step runs even when an earlier one fails (a device call is precious); each writes
# $OUT/<step>.txt (stdout) and $OUT/<step>.log (stderr), $OUT/summary.txt lists the exit
# statuses, and the script exits 1 if any step failed. Settings, from the environment:
#   DEVICE (cuda)  REPEATS (5)  PACKED (100)  EPOCHS (5)  MIRROR (.data/mnist)  WORK (.data)  PYTHON (python)
#   LR_GRID_LOSSES (cross_entropy mse_softmax mse_logits)  LR_GRID (README's full grid, 0.01 ... 100)  LR_GRID_SEEDS (3)
# ($LOSSBENCH_DATA_MIRROR, when set, overrides MIRROR, as it overrides every mirror setting.)
# tests/test_gpu_check.py runs this script on CPU with small settings and with snakemake and
# papermill hidden, as on the GPU machine's image.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-gpu-out} DEVICE=${DEVICE:-cuda} REPEATS=${REPEATS:-5} PACKED=${PACKED:-100} EPOCHS=${EPOCHS:-5}
MIRROR=${MIRROR:-.data/mnist} WORK=${WORK:-.data} PYTHON=${PYTHON:-python}
LR_GRID_LOSSES=${LR_GRID_LOSSES:-cross_entropy mse_softmax mse_logits} LR_GRID=${LR_GRID:-0.01 0.03 0.1 0.3 1 3 10 30 100}
LR_GRID_SEEDS=${LR_GRID_SEEDS:-3}
DATA=$WORK/resources/mnist/data.pt
export PYTHONPATH=$PWD/scripts${PYTHONPATH:+:$PYTHONPATH}
mkdir -p "$OUT"
: > "$OUT/summary.txt"
failed=0

step() {  # step NAME COMMAND...: run it; its output in $OUT/NAME.{txt,log}; its status in summary.txt
    # (INFORMATIONAL=1 step ...: its status is recorded but does not fail the script)
    local name=$1 start=$SECONDS note=""
    shift
    "$@" > "$OUT/$name.txt" 2> "$OUT/$name.log"
    local rc=$?
    [ -n "${INFORMATIONAL:-}" ] && note=" (informational)"
    echo "$name: exit $rc$note ($((SECONDS - start)) s)" >> "$OUT/summary.txt"
    if [ "$rc" -ne 0 ] && [ -z "$note" ]; then
        failed=1
        echo "== $name failed (exit $rc); last lines of $name.log:"
        tail -n 15 "$OUT/$name.log"
    fi
}

if [ "$DEVICE" = cuda ]; then
    step gpu nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
fi
step versions "$PYTHON" -c "import sys, torch; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda)"
step data "$PYTHON" -m lossbench.cli data --dataset mnist --out "$WORK/resources/mnist" --mirror "$MIRROR"
step pytest "$PYTHON" -m pytest -q -o addopts=-ra -p no:cacheprovider \
    tests/test_train.py tests/test_losses.py tests/test_packed.py
step bench "$PYTHON" -m lossbench.cli bench --data "$DATA" --device "$DEVICE" --repeats "$REPEATS" \
    --epochs "$EPOCHS" --startup --packed "$PACKED" --json "$OUT/bench.json"
for loss in $LR_GRID_LOSSES; do  # the study's job per loss: its lr x seed grid in one process
    # shellcheck disable=SC2086  # LR_GRID is a list of words
    step "lr-grid-$loss" "$PYTHON" -m lossbench.cli bench --data "$DATA" --device "$DEVICE" --loss "$loss" \
        --repeats 1 --epochs "$EPOCHS" --packed "$LR_GRID_SEEDS" --packed-lrs $LR_GRID --json "$OUT/lr-grid-$loss.json"
done
for mode in false true; do
    for run in first second; do
        step "determinism-$mode-$run" "$PYTHON" -m lossbench.cli train --variant cross_entropy \
            --loss cross_entropy --seed 0 --epochs "$EPOCHS" --device "$DEVICE" --deterministic "$mode" \
            --data "$DATA" --out-dir "$OUT/determinism-$mode/$run"
    done
    # deterministic: false may differ on a GPU (reported, not a failure); true must not
    INFORMATIONAL=$([ "$mode" = false ] && echo 1) step "compare-$mode" \
        "$PYTHON" -m lossbench.cli compare "$OUT/determinism-$mode/first" "$OUT/determinism-$mode/second"
done

echo "== summary"
cat "$OUT/summary.txt"
for name in gpu versions pytest bench $(for loss in $LR_GRID_LOSSES; do echo "lr-grid-$loss"; done) \
        compare-false compare-true; do
    if [ -s "$OUT/$name.txt" ]; then
        echo "== $name"
        tail -n 12 "$OUT/$name.txt"
    fi
done
exit $failed
