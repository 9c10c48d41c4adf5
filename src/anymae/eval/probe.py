"""Frozen-feature probes: logistic regression and kNN (k=20, cosine) on a train/test split, with the
baselines every table must show: the same architecture at random init, raw pixels, and HOG. `attentive=True`
adds a column: the attentive probe (eval/attentive.py) on every row's tokens."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm.auto import tqdm
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

from ..io.files import write_text
from .baselines import baselines, token_baselines
from .split import held_out_split
from .svm import linear_svm_probe


@dataclass
class ProbeResult:
    name: str
    dim: int
    linear: float
    knn: float
    attentive: float | None = None  # the attentive probe on the row's tokens, when asked for


def linear_probe(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                 seed: int = 0) -> float:
    """Accuracy of an L2 logistic regression on standardised features; C picked on a held-out 20% of train."""
    scaler = StandardScaler().fit(train_x)
    train_x, test_x = scaler.transform(train_x), scaler.transform(test_x)
    val, fit = held_out_split(len(train_x), seed)
    best_c, best = 1.0, -1.0
    for c in (0.01, 0.1, 1.0):
        clf = LogisticRegression(C=c, max_iter=2000).fit(train_x[fit], train_y[fit])
        score = clf.score(train_x[val], train_y[val])
        if score > best:
            best_c, best = c, score
    clf = LogisticRegression(C=best_c, max_iter=2000).fit(train_x, train_y)
    return float(clf.score(test_x, test_y))


@dataclass(frozen=True)
class Protocol:
    """How a modality's papers probe: the pooling read by default and the linear classifier."""
    pool: str | None = None              # None: the run's `features`
    classifier: str | None = None        # the linear classifier's name (None: logistic regression)
    linear: Callable = linear_probe      # (train_x, train_y, test_x, test_y, seed) -> accuracy


PROTOCOLS = {"points": Protocol(pool="max+mean", classifier="linear SVM", linear=linear_svm_probe)}  # Point-MAE
PROTOCOLS["text"] = Protocol(pool="cls")  # retrieval encoders: the [CLS] embedding


def knn_probe(train_x, train_y, test_x, test_y, k: int = 20) -> float:
    """Accuracy of a k-nearest-neighbour vote under cosine distance."""
    k = min(k, len(train_x))
    clf = KNeighborsClassifier(n_neighbors=k, metric="cosine", algorithm="brute").fit(train_x, train_y)
    return float(clf.score(test_x, test_y))


def evaluate(name: str, train_x, train_y, test_x, test_y, seed: int = 0, linear=linear_probe) -> ProbeResult:
    """`linear(train_x, train_y, test_x, test_y, seed) -> accuracy`: logistic regression unless a modality says."""
    return ProbeResult(name, int(train_x.shape[1]), linear(train_x, train_y, test_x, test_y, seed),
                       knn_probe(train_x, train_y, test_x, test_y))


def format_table(results: list[ProbeResult], title: str) -> str:
    width = max(len(r.name) for r in results)
    attentive = any(r.attentive is not None for r in results)
    lines = [title, f"{'features':<{width}}  {'dim':>6}  {'linear':>7}  {'kNN-20':>7}" + ("  attentive" * attentive)]
    for r in results:
        line = f"{r.name:<{width}}  {r.dim:>6}  {100 * r.linear:>6.1f}%  {100 * r.knn:>6.1f}%"
        if attentive:
            line += f"  {100 * r.attentive:>8.1f}%" if r.attentive is not None else f"  {'-':>9}"
        lines.append(line)
    return "\n".join(lines)


def write_results(results: list[ProbeResult], path: Path, extra: dict) -> None:
    payload = {**extra, "results": [r.__dict__ for r in results]}
    write_text(path, json.dumps(payload, indent=2))


def probe_splits(config, model, spec: str):
    """The labelled train and test splits of `spec`, each carrying the model's eval transform."""
    from ..data import MODALITIES, load_dataset
    modality = MODALITIES[config.modality]
    size = modality.sample_size(model, config)
    transform = modality.eval_transform(model, config)
    out = []
    for split in ("train", "test"):
        data = load_dataset(spec, split=split, image_size=size, channels=config.channels)
        if not data.labelled:
            raise ValueError(f"{spec}: the probe needs labels (a labelled built-in set, or one sub-folder per class)")
        out.append(data.with_transform(transform))
    return modality, out[0], out[1]


def patch_side(model, sample) -> int:
    """The side of the encoder's patches (image recipes), else a quarter of the image's side."""
    return int(getattr(model.tokenizer, "patch_size", 0) or max(1, sample.shape[-1] // 4))


def probe_run(run: str | Path, data: str | None = None, pool: str | None = None, seed: int = 0,
              progress: bool = True, attentive: bool = False) -> tuple[list[ProbeResult], str]:
    """Probe a run's encoder against random init and the modality's hand-made baselines; writes probe.json.
    `attentive`: every row is also read by the attentive probe (images and multi-channel images)."""
    from ..io.checkpoint import build_untrained, load_run
    from ..config import PretrainConfig
    from .attentive import attentive_probe
    from .features import POOLS, encoder_features, fit_batch_norm
    run = Path(run)
    model, raw_config = load_run(run)
    config = PretrainConfig.from_dict(raw_config)
    spec = data or config.data
    modality, train, test = probe_splits(config, model, spec)
    protocol = PROTOCOLS.get(modality.name, Protocol())
    pool = pool or protocol.pool or config.features
    if pool not in POOLS:   # a linear probe reads one vector a sample (unpooled "tokens" are the attentive probe's)
        raise ValueError(f"unknown pooling {pool!r}; choose from {POOLS}")
    linear = protocol.linear
    train_y, test_y = train.labels.numpy(), test.labels.numpy()
    tokens = {}   # row name -> (train tokens, test tokens), for the attentive probe
    if attentive:
        tokens = {name: (tr, te) for name, tr, te in token_baselines(modality.name, train, test,
                                                                     patch_side(model, train[0][0]))}
    random_model = build_untrained(raw_config, seed=seed)
    rows, refit = [], False
    for name, m in (("anymae encoder", model), ("random init", random_model)):
        refit = fit_batch_norm(m, train) or refit  # both rows normalise with statistics of the same data
        tr = encoder_features(m, train, pool, progress=progress, desc=f"{name} (train)")
        te = encoder_features(m, test, pool, progress=progress, desc=f"{name} (test)")
        if attentive:
            tokens[name] = tuple(encoder_features(m, d, "tokens", progress=progress, desc=f"{name} tokens")
                                 for d in (train, test))
        rows.append(evaluate(f"{name} [{pool}]", tr, train_y, te, test_y, seed, linear))
    for name, tr, te in baselines(modality.name, train, test):
        rows.append(evaluate(name, tr, train_y, te, test_y, seed, linear))
    for row in tqdm(rows, desc="attentive probe", disable=not (progress and attentive), leave=False):
        pair = tokens.get(row.name.split(" [")[0])
        if pair is not None:
            row.attentive = attentive_probe(pair[0], train_y, pair[1], test_y, seed=seed)
    title = f"probe on {spec}: {len(train_y)} train / {len(test_y)} test samples, {len(np.unique(train_y))} classes"
    if protocol.classifier:
        title += f"; linear = {protocol.classifier}"
    if refit:
        title += "; batch-norm statistics of both networks re-estimated on the training split"
    if attentive:
        title += "; attentive = one learned query over each row's tokens (eval/attentive.py)"
    write_results(rows, run / "probe.json", {"data": spec, "pool": pool, "batch_norm_refit": refit,
                                            "linear": protocol.classifier or "logistic regression",
                                            "train": len(train_y), "test": len(test_y)})
    return rows, format_table(rows, title)
