"""Probe a CNN run with and without batch-norm statistics fitted to the data (docs/volumes.md, SparK, session 8).

In eval mode a random CNN normalises with its initial running statistics (mean 0, variance 1) and a SparK encoder
with those it estimated on masked training images. This prints four rows: trained and random init as `anymae
probe` read them before session 8, and each after its running statistics were re-estimated on the training split
(`eval/features.py` `fit_batch_norm`: train-mode forward passes of the unmasked images, cumulative average, no
labels, no gradients), as `anymae probe` reads them now.

    PYTHONPATH=src python benchmarks/probe_bn_recalibrated.py RUN [--pool grid3]
"""
from __future__ import annotations

import argparse
import copy

from anymae.config import PretrainConfig
from anymae.eval.features import encoder_features, fit_batch_norm
from anymae.eval.probe import evaluate, format_table, probe_splits
from anymae.io.checkpoint import build_untrained, load_run


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("run")
    p.add_argument("--pool", default="mean")
    args = p.parse_args()
    model, raw = load_run(args.run)
    config = PretrainConfig.from_dict(raw)
    _, train, test = probe_splits(config, model, config.data)
    train_y, test_y = train.labels.numpy(), test.labels.numpy()
    random_model = build_untrained(raw)
    refit_trained, refit_random = copy.deepcopy(model), copy.deepcopy(random_model)
    fit_batch_norm(refit_trained, train)  # what `anymae probe` does since session 8
    fit_batch_norm(refit_random, train)
    networks = (("trained", model), ("random init", random_model),
                ("trained, BN recalibrated", refit_trained), ("random init, BN recalibrated", refit_random))
    rows = [evaluate(f"{name} [{args.pool}]", encoder_features(m, train, args.pool), train_y,
                     encoder_features(m, test, args.pool), test_y) for name, m in networks]
    print(format_table(rows, f"{args.run}: {len(train_y)} train / {len(test_y)} test"))


if __name__ == "__main__":
    main()
