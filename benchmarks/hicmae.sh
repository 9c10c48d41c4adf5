#!/usr/bin/env bash
# docs/modalities.md "Audio-visual (HiCMAE)": pretrain hicmae_tiny on talking-digits, nice'd on one thread, then
# `anymae probe` (encoder, random init of the same architecture, MFCC statistics, HOG motion, both).
# usage: benchmarks/hicmae.sh OUT [STEPS [--arg NAME=VALUE ...]]   (default 300 steps at batch 32)
set -euo pipefail
out=${1:?output folder}; steps=${2:-300}; shift $(( $# > 1 ? 2 : 1 ))
py="nice -n 10 env OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python -m anymae"
mkdir -p "$out"
start=$(date +%s)
$py pretrain --recipe hicmae_tiny --data talking-digits --steps "$steps" "$@" --workers 0 --out "$out/hicmae" \
  > "$out/hicmae.log" 2>&1
echo "hicmae: pretrain $(( $(date +%s) - start )) s" >> "$out/times.txt"
$py probe "$out/hicmae" > "$out/hicmae_probe.log" 2>&1
