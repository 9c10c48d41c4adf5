#!/usr/bin/env bash
# BM-MAE (row 15; docs/volumes.md): pretrain bmmae_tiny on phantom-mri (the recipe's defaults: 16^3 in 4^3 patches,
# batch 8, lr 1e-3, 12,000 steps, decoder 192-d x 4, whole=1.0), then impute each sequence from the other two against the mean volume, copying a
# present sequence and a voxel-wise regression. Usage: benchmarks/bmmae.sh OUT_DIR  (STEPS=N to change the budget;
# ARGS="--arg decoder_dim=192 ..." adds pretrain flags)
set -euo pipefail
out=${1:-runs/bench-bmmae}
python -m anymae pretrain --recipe bmmae_tiny --seed "${SEED:-0}" ${STEPS:+--steps "$STEPS"} ${ARGS:-} --out "$out/bmmae_tiny"
for missing in flair t2 t1; do
  python -m anymae impute "$out/bmmae_tiny" --predict "$missing" --out "$out/bmmae_tiny/impute-$missing"
done
