#!/usr/bin/env bash
# The GPU check, in one call on a lent GPU machine (no internet, no snakemake or papermill there): it
# prepares data.pt from the MNIST mirror, then runs tests/gpu/check.py, which ASSERTS what a first GPU
# run needs (graph against eager for every loss, single and packed, with a partial last batch; GPU
# against CPU; the bench methods; the packed lr grid against the CPU; packed against single; deterministic
# runs; the device index; model.pt without a GPU; peak memory; four processes at once; no alert in any
# log), prints one JSON of every figure with the device, driver and CUDA versions, and ends with one line:
#   gpu check: all 12 checks passed on <GPU> (driver ..., CUDA ...) in ... s
#   gpu check: FAILED k of 12 on <GPU> ...: <check>: <why>; ...
# It exits 1 on any failure (every check runs even when an earlier one failed: a device call is precious).
#
#   mkdir -p .data/mnist && cp ../shared/data/mnist/*.gz .data/mnist/   # carried with the tree
#   OUT=$OUT bash tests/gpu/check.sh             # on the GPU machine: within 8 minutes on one H100
#   OUT=/tmp/check bash tests/gpu/check.sh --cpu # tiny sizes on the CPU: every assertion path (CI runs it)
#
# Settings, from the environment: OUT (gpu-out)  MIRROR (.data/mnist)  WORK (.data)  PYTHON (python)
# DEVICE (cuda; cpu with --cpu). $LOSSBENCH_DATA_MIRROR, when set, overrides MIRROR, as it overrides every
# mirror setting. Extra arguments go to check.py (--cpu, --only CHECK ...).
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-gpu-out} MIRROR=${MIRROR:-.data/mnist} WORK=${WORK:-.data} PYTHON=${PYTHON:-python}
DATA=$WORK/resources/mnist/data.pt
export PYTHONPATH=$PWD/scripts${PYTHONPATH:+:$PYTHONPATH}
mkdir -p "$OUT"
device=()
[ -n "${DEVICE:-}" ] && device=(--device "$DEVICE")
if ! "$PYTHON" -m lossbench.cli data --dataset mnist --out "$WORK/resources/mnist" --mirror "$MIRROR" \
        > "$OUT/data.log" 2>&1; then
    echo "gpu check: FAILED before any check: lossbench data: $(tail -n 1 "$OUT/data.log")"
    exit 1
fi
"$PYTHON" tests/gpu/check.py --data "$DATA" --out "$OUT" "${device[@]}" "$@" 2> "$OUT/check.log"
rc=$?
if [ "$rc" -ne 0 ] && [ ! -s "$OUT/check.json" ]; then  # check.py itself broke: its last words, on one line
    echo "gpu check: FAILED: check.py exited $rc: $(tail -n 1 "$OUT/check.log")"
fi
exit $rc
