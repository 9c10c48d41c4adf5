#!/usr/bin/env bash
# The measurements of docs/modalities.md (issue 27), one after another, nice'd on one thread:
# pretrain each new recipe on its built-in data, then `anymae probe` it (encoder, random init, hand-made baselines).
# usage: benchmarks/modalities_issue27.sh OUT [skeleton|lvmae|audio ...]   (default: all three)
set -euo pipefail
out=${1:?output folder}; shift
which=${*:-skeleton lvmae audio}
py="nice -n 10 env OMP_NUM_THREADS=1 python -m anymae"
mkdir -p "$out"
for name in $which; do
  case $name in
    skeleton) args=(--recipe skeletonmae_tiny --data skeleton-actions --steps 300 --batch-size 32) ;;
    lvmae)    args=(--recipe lvmae_tiny --data digit-sequences --steps 600 --batch-size 64) ;;
    audio)    args=(--recipe audio_mae_tiny --data sounds --steps 150 --batch-size 64) ;;
    *) echo "unknown measurement $name" >&2; exit 2 ;;
  esac
  start=$(date +%s)
  $py pretrain "${args[@]}" --workers 0 --out "$out/$name" > "$out/$name.log" 2>&1
  echo "$name: pretrain $(( $(date +%s) - start )) s" >> "$out/times.txt"
  $py probe "$out/$name" > "$out/${name}_probe.log" 2>&1
done
