#!/usr/bin/env bash
# BM-MAE (row 15; docs/volumes.md): pretrain bmmae_tiny on phantom-mri, then impute each sequence from the other two
# against the mean volume and copying a present sequence. Usage: benchmarks/bmmae.sh OUT_DIR  (STEPS=N to shorten)
set -euo pipefail
out=${1:-runs/bench-bmmae}
python -m anymae pretrain --recipe bmmae_tiny --seed 0 --steps "${STEPS:-1500}" --out "$out/bmmae_tiny"
for missing in flair t2 t1; do
  python -m anymae impute "$out/bmmae_tiny" --predict "$missing" --out "$out/bmmae_tiny/impute-$missing"
done
