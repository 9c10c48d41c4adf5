#!/usr/bin/env bash
# docs/modalities.md "Audio-visual (HiCMAE)": pretrain hicmae_tiny on talking-digits, nice'd on one thread, then
# `anymae probe` (encoder, random init of the same architecture, MFCC statistics, HOG motion, both) with the run's
# readout (hicmae_tiny: HiCMAE's fine-tuning features, `--pool hicmae`) and with the mean of every token.
# usage: benchmarks/hicmae.sh OUT [STEPS [anymae pretrain flags ...]]   (default: the recipe's 2,400 steps at batch 32)
#   e.g. benchmarks/hicmae.sh runs/h1 600 --seed 1   (the earlier 600-step default's table in docs/modalities.md)
set -euo pipefail
out=${1:?output folder}; steps=${2:-2400}; shift $(( $# > 1 ? 2 : 1 ))
py="nice -n 10 env OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 ${PYTHON:-python} -m anymae"
mkdir -p "$out"
start=$(date +%s)
$py pretrain --recipe hicmae_tiny --data talking-digits --steps "$steps" "$@" --workers 0 --out "$out/hicmae" \
  > "$out/hicmae.log" 2>&1
echo "hicmae: pretrain $(( $(date +%s) - start )) s" >> "$out/times.txt"
$py probe "$out/hicmae" --pool mean > "$out/hicmae_probe_mean.log" 2>&1
$py probe "$out/hicmae" > "$out/hicmae_probe.log" 2>&1          # last, so probe.json holds the run's readout
