#!/usr/bin/env bash
# Volumes (docs/volumes.md): pretrain volmae_tiny, tokenunify_tiny and spark3d_tiny on volume-shapes, then probe each against its
# random init and the volume baselines. Usage: benchmarks/volumes.sh OUT_DIR  (STEPS=N to shorten)
set -euo pipefail
out=${1:-runs/bench-volumes}
for recipe in ${RECIPES:-volmae_tiny tokenunify_tiny spark3d_tiny}; do
  python -m anymae pretrain --recipe "$recipe" --data volume-shapes --seed 0 --steps "${STEPS:-1500}" --out "$out/$recipe"
  python -m anymae probe "$out/$recipe"
done
