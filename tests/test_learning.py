"""The core issue's learning test: a short pretraining of the default recipe on `shapes` lowers its loss
and gives features a linear probe reads better than the same architecture's at random init."""
from __future__ import annotations

import csv

import torch

from anymae.eval.baselines import baselines
from anymae.eval.features import encoder_features
from anymae.eval.probe import evaluate, probe_splits
from anymae.io.checkpoint import build_untrained, load_run
from anymae.train.config import PretrainConfig
from anymae.train.run import pretrain


def test_default_recipe_beats_random_init_on_shapes_after_a_short_pretraining(tmp_path):
    torch.set_num_threads(1)
    assert PretrainConfig().recipe == "mae_laptop"
    config = PretrainConfig.for_recipe(data="shapes", seed=0, steps=400)   # its lr (2e-3); 3,000 steps in the demo
    assert config.lr is None and config.blr * config.batch_size / 256 == 2e-3
    assert config.colour_jitter == 0.4                                 # issue 26: the colour shortcut removed
    run = pretrain(config, tmp_path / "run", progress=False)
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    pixels = [float(r["loss"]) - float(r["position"]) for r in rows]    # the loss is pixels + position task
    first, last = sum(pixels[:20]) / 20, sum(pixels[-20:]) / 20
    assert last < 0.7 * first, f"pixel reconstruction loss {first:.3f} -> {last:.3f}"
    model, raw = load_run(run)
    reading = PretrainConfig.from_dict(raw).features
    assert reading == "grid3"                                           # what `anymae probe RUN` reads
    _, train, test = probe_splits(PretrainConfig.from_dict(raw), model, "shapes")
    ys = train.labels.numpy(), test.labels.numpy()
    accuracy = {}
    for name, encoder in (("pretrained", model), ("random init", build_untrained(raw, seed=0))):
        features = encoder_features(encoder, train, reading), encoder_features(encoder, test, reading)
        accuracy[name] = evaluate(name, features[0], ys[0], features[1], ys[1]).linear
    pixels = baselines("image", train, test)[0]
    assert pixels[0] == "raw pixels"
    accuracy["raw pixels"] = evaluate("raw pixels", pixels[1], ys[0], pixels[2], ys[1]).linear
    # measured at seed 0, 400 steps, read as grid3: 19.7% vs 13.6% (random init) and 12.4% (raw pixels); 1,000
    # test images: one accuracy's s.e. ~1.2 points. HOG (23.4%) is not asserted: 400 steps do not reach it (the
    # 3,000-step default does at seed 0, 23.9%, not at seed 1, 21.7%: docs/defaults.md)
    assert accuracy["pretrained"] > accuracy["random init"] + 0.03, accuracy
    assert accuracy["pretrained"] > accuracy["raw pixels"] + 0.03, accuracy
