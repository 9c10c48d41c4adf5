#!/usr/bin/env bash
# One lever run of docs/modalities.md (issue 27), nice'd on one thread: pretrain with the given flags, then
# `anymae probe` (encoder, random init, hand-made baselines) with each --pool listed in POOLS (default: the run's),
# and one summary line per probe in OUT/summary.txt.
# usage: benchmarks/levers_issue27.sh OUT NAME [anymae pretrain flags ...]
#   e.g. POOLS="mean cls" benchmarks/levers_issue27.sh runs/levers audio_raw --recipe audio_mae_tiny --data sounds \
#          --steps 400 --arg norm_pix=false
set -euo pipefail
out=${1:?output folder}; name=${2:?run name}; shift 2
py="nice -n 10 env OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python -m anymae"
mkdir -p "$out"
start=$(date +%s)
$py pretrain "$@" --workers 0 --out "$out/$name" > "$out/$name.log" 2>&1
secs=$(( $(date +%s) - start ))
for pool in ${POOLS:-run}; do
  flags=(); [ "$pool" = run ] || flags=(--pool "$pool")
  $py probe "$out/$name" "${flags[@]}" > "$out/${name}_probe_$pool.log" 2>&1
  python - "$out/$name" "$name" "$pool" "$secs" "$*" >> "$out/summary.txt" <<'PY'
import json, sys
run, name, pool, secs, flags = sys.argv[1:]
res = json.load(open(f"{run}/probe.json"))["results"]
rows = "; ".join(f"{r.get('name', r.get('features'))}: {100 * r['linear']:.1f}/{100 * r['knn']:.1f}" for r in res)
print(f"{name} [{pool}] {secs}s | {rows} | {flags}")
PY
done
