#!/usr/bin/env bash
# SparK (rows 48, 17) on the laptop: pretrain spark_resnet_tiny on shapes, then probe it against its random init
# and the hand-made baselines (docs/volumes.md, SparK section). Usage: benchmarks/spark.sh OUT_DIR
set -euo pipefail
out=${1:-runs/bench-spark}
python -m anymae pretrain --recipe spark_resnet_tiny --data shapes --seed 0 --steps "${STEPS:-500}" --out "$out/spark_resnet_tiny-shapes"
python -m anymae probe "$out/spark_resnet_tiny-shapes"
