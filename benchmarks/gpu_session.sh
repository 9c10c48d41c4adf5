#!/usr/bin/env bash
# One GPU call: the CUDA tests (pytest -m cuda) beside the generation runs of benchmarks/gpu_generation.py,
# then benchmarks/gpu_check.py's throughput and pipeline parts on the idle GPU; then everything small goes into
# $OUT/results.tar.gz (JSON, PNG, CSV, YAML, logs) and some generators' weights into $OUT/weights.tar.gz.*
# (15 MB pieces). Wheels in .whl/ (e.g. lightly, a peer of gpu_check) are installed first.
# Run from the repository root on the GPU machine:
#     OUT=/tmp/out bash benchmarks/gpu_session.sh [TRAIN_UNTIL_S] [SCORE_UNTIL_S] [GPU_CHECK_S]
set -u
OUT=${OUT:?set OUT to a folder}
RUNS=${RUNS:-/tmp/gpu-gen}
export PYTHONPATH="$PWD/src:${PYTHONPATH:-}" PYTHONUNBUFFERED=1
if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl \
        && export PYTHONPATH="$PYTHONPATH:/tmp/site"
fi
nvidia-smi -L || true
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"
mkdir -p "$RUNS"
python3 -m pytest -q -p no:cacheprovider -n 4 -m cuda tests/test_cuda.py --junitxml="$RUNS/cuda_tests.xml" \
    > "$RUNS/cuda_tests.log" 2>&1 &
TESTS=$!
python3 benchmarks/gpu_generation.py --out "$RUNS" --train-until "${1:-300}" --score-until "${2:-450}" 2>&1 \
    | tee "$RUNS/gpu_generation.log"
wait $TESTS
tail -5 "$RUNS/cuda_tests.log"
# the GPU alone now: step throughput against the peers (eager) and the input pipeline (benchmarks/gpu_check.py)
timeout "${3:-150}" python3 benchmarks/gpu_check.py --out "$RUNS/gpu-check" --skip-tests --eager-only 2>&1 \
    | tee "$RUNS/gpu_check.log" | grep -v "^ *$" | tail -40
cd "$RUNS" && tar czf "$OUT/results.tar.gz" --exclude='calibrate' --exclude='*.safetensors' --exclude='*.pt' \
    --exclude='*.npy' . && ls -la "$OUT"
tar cf - shapes-qlae/model.safetensors shapes-maskgit/model.safetensors shapes-mar/model.safetensors \
    digits-*/model.safetensors 2>/dev/null | gzip -1 | split -b 15M - "$OUT/weights.tar.gz."
ls -la "$OUT"
