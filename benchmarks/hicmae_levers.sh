#!/usr/bin/env bash
# docs/modalities.md "Audio-visual (HiCMAE)", the lever runs: for each NAME:FLAGS given, pretrain hicmae_tiny on
# talking-digits with those `anymae pretrain` flags (nice'd, one thread), then read every readout of
# benchmarks/hicmae_diagnose.py (each modality's own ViT, the fused tokens, the probe's mean, HiCMAE's
# fine-tuning readout) for the encoder (and its random init when RANDOM=1), appended to OUT/diag.jsonl.
# usage: [PYTHON=...] [RANDOM_INIT=1] benchmarks/hicmae_levers.sh OUT "NAME:--steps 600 --blr 5e-3" ["NAME2:FLAGS" ...]
set -euo pipefail
out=${1:?output folder}; shift
run="nice -n 10 env OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 ${PYTHON:-python}"
mkdir -p "$out"
for job in "$@"; do
  name=${job%%:*}; flags=${job#*:}
  start=$(date +%s)
  # shellcheck disable=SC2086
  $run -m anymae pretrain --recipe hicmae_tiny --data talking-digits --workers 0 $flags --out "$out/$name" \
    > "$out/$name.log" 2>&1
  echo "$name: pretrain $(( $(date +%s) - start )) s | $flags" >> "$out/times.txt"
  models="encoder"; [ "${RANDOM_INIT:-0}" = 1 ] && models="encoder,random init"
  $run benchmarks/hicmae_diagnose.py "$out/$name" --models "$models" --json "$out/diag.jsonl" \
    > "$out/${name}_diag.log" 2>&1
done
