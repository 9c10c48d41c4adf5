"""Probe a CNN run with and without batch-norm statistics fitted to the data (docs/volumes.md, SparK, session 8).

`anymae probe` reads both networks in eval mode: the random CNN normalises with its initial running statistics
(mean 0, variance 1), the trained one with those it estimated on masked training images. This prints four rows:
trained and random init as `anymae probe` reads them, and each after its running statistics were re-estimated on
the training split (train-mode forward passes of the unmasked images, cumulative average, no labels, no gradients).

    PYTHONPATH=src python benchmarks/probe_bn_recalibrated.py RUN [--pool grid3]
"""
from __future__ import annotations

import argparse

import torch
from torch.utils.data import DataLoader

from anymae.config import PretrainConfig
from anymae.eval.features import encoder_features
from anymae.eval.probe import evaluate, format_table, probe_splits
from anymae.io.checkpoint import build_untrained, load_run


def recalibrated(model, dataset, batch_size: int = 256):
    """`model` with every batch norm's running statistics re-estimated on `dataset` (no gradients)."""
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None  # cumulative average over the passes
    model.train()
    with torch.no_grad():
        for x, _, _ in DataLoader(dataset, batch_size=batch_size):
            model.encode(x)
    return model.eval()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("run")
    p.add_argument("--pool", default="mean")
    args = p.parse_args()
    model, raw = load_run(args.run)
    config = PretrainConfig.from_dict(raw)
    _, train, test = probe_splits(config, model, config.data)
    train_y, test_y = train.labels.numpy(), test.labels.numpy()
    networks = (("trained", model), ("random init", build_untrained(raw)),
                ("trained, BN recalibrated", recalibrated(load_run(args.run)[0], train)),
                ("random init, BN recalibrated", recalibrated(build_untrained(raw), train)))
    rows = [evaluate(f"{name} [{args.pool}]", encoder_features(m, train, args.pool), train_y,
                     encoder_features(m, test, args.pool), test_y) for name, m in networks]
    print(format_table(rows, f"{args.run}: {len(train_y)} train / {len(test_y)} test"))


if __name__ == "__main__":
    main()
