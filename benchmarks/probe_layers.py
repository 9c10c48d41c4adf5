"""Which encoder block should the probe read? Probe finished runs at every block (and at concatenations of
blocks) under one pooling, the pretrained encoder and the same architecture at random init alike
(issue 26: chosen once for all data sets, never per data set).

    python benchmarks/probe_layers.py RUN [RUN ...] --pool grid --out runs/layers.jsonl
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from anymae.eval.features import pool_latents
from anymae.io.checkpoint import build_untrained
from probe_pools import probe_both, probe_run, report  # benchmarks/probe_pools.py: one probe row of both encoders


@torch.no_grad()
def block_features(model, dataset, pool: str) -> list[np.ndarray]:
    """-> one feature matrix [M,F] per encoder block (layer-normed tokens, then pooled)."""
    model.eval()
    depth = len(model.encoder.blocks)
    out = [[] for _ in range(depth)]
    loader = torch.utils.data.DataLoader(dataset, batch_size=256, shuffle=False)
    for x, _, _ in loader:
        for i, z in enumerate(model.encode_layers(x, list(range(depth)))):
            z = torch.nn.functional.layer_norm(z, z.shape[-1:])
            out[i].append(pool_latents(z, model.encoder.num_prefix, pool))
    return [torch.cat(o).numpy() for o in out]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+")
    p.add_argument("--pool", default="grid")
    p.add_argument("--sets", default="", help="extra block sets to read concatenated, e.g. '2+3,3+4+5' (1-based)")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    for run in args.runs:
        model, raw, data, train, test, ys = probe_run(run)
        feats = {name: (block_features(m, train, args.pool), block_features(m, test, args.pool))
                 for name, m in (("pretrained", model), ("random init", build_untrained(raw, seed=0)))}
        depth = len(feats["pretrained"][0])
        readings = [[i] for i in range(1, depth + 1)] + \
            [[int(b) for b in s.split("+")] for s in args.sets.split(",") if s]
        for blocks in readings:
            row = {"run": str(run), "data": data, "pool": args.pool, "blocks": blocks}
            row.update(probe_both({name: (np.concatenate([tr[b - 1] for b in blocks], 1),
                                          np.concatenate([te[b - 1] for b in blocks], 1))
                                   for name, (tr, te) in feats.items()}, ys))
            report(row, f"{Path(run).name:28s} blocks {'+'.join(map(str, blocks)):8s}", args.out)

if __name__ == "__main__":
    main()
