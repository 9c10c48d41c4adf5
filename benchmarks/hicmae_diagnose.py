"""Where does a HiCMAE run's probe signal live? (docs/modalities.md, issue 27)

For a `hicmae_*` run and its random init (the probe's seed-0 draw of the same architecture), each readout of the
frozen encoder on the run's labelled data, probed as `anymae probe` does (logistic regression with C picked on 20%
of train, kNN-20 cosine):
- `video-pre` / `audio-pre`: the mean of that modality's tokens after its own ViT (last block, its norm);
- `video-pre-layers` / `audio-pre-layers`: the mean over every block of that modality's token means;
- `video-fused` / `audio-fused`: the mean of that modality's tokens after the fusion encoder;
- `mean`: every token after fusion (the probe's default readout);
- `hicmae`: HiCMAE's fine-tuning readout (sunlicai/HiCMAE `modeling_finetune_av.py`): the two unimodal
  layer-averaged means and the two fused means, concatenated and layer-normed (4 x D; `anymae probe --pool
  hicmae`).
usage: PYTHONPATH=src python benchmarks/hicmae_diagnose.py RUN [--readouts a,b,...] [--models encoder] [--json OUT]
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from anymae.config import PretrainConfig
from anymae.eval.probe import evaluate, probe_splits
from anymae.io.checkpoint import build_untrained, load_run

READOUTS = ("video-pre", "audio-pre", "video-pre-layers", "audio-pre-layers", "video-fused", "audio-fused", "mean",
            "hicmae")


@torch.no_grad()
def readouts(model, dataset, batch_size: int = 200) -> dict[str, np.ndarray]:
    """Every readout of READOUTS for every sample of `dataset` -> {name: [M,F]}."""
    from torch.utils.data import DataLoader
    enc = model.encoder
    out: dict[str, list] = {k: [] for k in READOUTS}
    for x, _, _ in DataLoader(dataset, batch_size=batch_size, shuffle=False):
        tokens = model.tokenize(x)
        fused, layers = enc.encode_tokens(tokens, None, return_layers=list(range(enc.depth)))
        spans = tokens.extra["spans"]
        for name in ("video", "audio"):
            s, e = spans[name]
            per_layer = torch.stack([z[:, s:e].mean(1) for z in layers])                 # [L,B,D]
            out[f"{name}-pre"].append(per_layer[-1])
            out[f"{name}-pre-layers"].append(per_layer.mean(0))
            out[f"{name}-fused"].append(fused[:, s:e].mean(1))
        out["mean"].append(fused.mean(1))
        out["hicmae"].append(enc.finetune_features(tokens))                             # --pool hicmae
    return {k: torch.cat(v).float().numpy() for k, v in out.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run")
    p.add_argument("--readouts", default=",".join(READOUTS))
    p.add_argument("--json", default=None, help="append one JSON line per row here")
    p.add_argument("--models", default="encoder,random init",
                   help="which of 'encoder' and 'random init' to probe (the random init of an unchanged "
                        "architecture is the same for every run)")
    args = p.parse_args()
    torch.manual_seed(0)
    model, raw = load_run(args.run)
    config = PretrainConfig.from_dict(raw)
    _, train, test = probe_splits(config, model, config.data)
    train_y, test_y = train.labels.numpy(), test.labels.numpy()
    wanted = args.readouts.split(",")
    models = {"encoder": lambda: model, "random init": lambda: build_untrained(raw, seed=0)}
    for who in args.models.split(","):
        m = models[who]()
        start = time.time()
        tr, te = readouts(m, train), readouts(m, test)
        for name in wanted:
            r = evaluate(name, tr[name], train_y, te[name], test_y, 0)
            print(f"{args.run} | {who:<11} | {name:<17} | dim {r.dim:>4} | linear {100 * r.linear:5.1f} | "
                  f"kNN {100 * r.knn:5.1f}", flush=True)
            if args.json:
                with open(args.json, "a") as f:
                    f.write(json.dumps({"run": args.run, "model": who, "readout": name, "dim": r.dim,
                                        "linear": r.linear, "knn": r.knn}) + "\n")
        print(f"({who}: {time.time() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
