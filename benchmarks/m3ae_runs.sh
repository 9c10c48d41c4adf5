#!/usr/bin/env bash
# M3AE (row 43) measurements of docs/text.md: m3ae_tiny on shapes-captions, an image-only MAE with the same image
# encoder and budget on shapes (the same images), image<->text retrieval and both image probes.
# One process at a time, one thread, nice'd. Usage: bash benchmarks/m3ae_runs.sh [OUT=runs/m3ae]
set -euo pipefail
OUT=${1:-runs/m3ae}
A="nice -n 10 env OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python -m anymae"
$A pretrain --recipe m3ae_tiny --data shapes-captions --seed 0 --out "$OUT/m3ae_tiny"
$A pretrain --recipe mae_vit_tiny --data shapes --patch-size 8 --arg dim=128 --arg depth=4 --arg heads=4 \
   --arg decoder_dim=128 --arg decoder_depth=2 --arg decoder_heads=4 --arg norm_pix=False \
   --batch-size 64 --steps 600 --blr 1.5e-3 --seed 0 --out "$OUT/mae_image_only"
$A crossmodal "$OUT/m3ae_tiny"
$A probe "$OUT/m3ae_tiny" --data shapes-captions-image --pool mean
$A probe "$OUT/mae_image_only" --data shapes --pool mean
