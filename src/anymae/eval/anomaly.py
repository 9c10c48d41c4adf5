"""Anomaly detection from masked reconstruction error (MemMC-MAE, row 19), with PHG-MAE's mask ensembles
(row 35) and the baselines every anomaly table prints.

A model trained on normal images only reconstructs each test image under K random masks; the K
predictions of every pixel are averaged (the ensemble) and the squared error to the input, summed over
channels and smoothed by a Gaussian (sigma 2 px at 64 px), is the anomaly map; the image score is its
maximum. Baselines scored the same way: the same architecture at random init, a per-pixel Gaussian of the
normal training images (squared z-score), and the distance of each raw-pixel patch to its nearest
neighbour among the training images' patches (PatchCore's scoring on raw pixels, random subsample of the
memory bank instead of its coreset).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score
from torch import Tensor
from tqdm.auto import tqdm

from ..ensemble import ensemble_prediction
from ..io.files import write_text


# ---------------------------------------------------------------- masked-reconstruction maps
def smooth(maps: Tensor, sigma: float) -> Tensor:
    """maps [B,H,W] -> Gaussian-blurred [B,H,W]."""
    if sigma <= 0:
        return maps
    from torchvision.transforms.functional import gaussian_blur
    size = int(2 * round(3 * sigma) + 1)
    return gaussian_blur(maps.unsqueeze(1), [size, size], [sigma, sigma]).squeeze(1)


@torch.no_grad()
def reconstruction_maps(model, data, k: int = 8, seed: int = 0, batch_size: int = 64, progress: bool = False,
                        desc: str = "masks") -> Tensor:
    """Anomaly maps [M,H,W]: squared error of the k-mask ensemble prediction, summed over channels."""
    from torch.utils.data import DataLoader
    model.eval()
    g = torch.Generator().manual_seed(seed)
    out = []
    for x, _, _ in tqdm(DataLoader(data, batch_size=batch_size), desc=desc, disable=not progress, leave=False):
        out.append((ensemble_prediction(model, x, k, g) - x).pow(2).sum(1))
    return torch.cat(out)


# ---------------------------------------------------------------- baselines
def stack(data) -> Tensor:
    return torch.stack([data[i][0] for i in range(len(data))])


def gaussian_maps(train: Tensor, test: Tensor) -> Tensor:
    """Per-pixel Gaussian of the normal images: sum over channels of ((x - mean) / std)^2 -> [M,H,W]."""
    mean, std = train.mean(0), train.std(0).clamp_min(1e-3)
    return ((test - mean) / std).pow(2).sum(1)


def patch_maps(train: Tensor, test: Tensor, patch: int = 8, stride: int = 4, bank: int = 16384, seed: int = 0) -> Tensor:
    """Nearest-neighbour raw-patch distance (PatchCore-style, raw pixels): every test patch's L2 distance to
    its nearest training patch (a random `bank` of them), spread back over its pixels (mean of the
    overlapping patches) -> [M,H,W]."""
    def patches(x):  # [B,C,H,W] -> [B, L, C*p*p]
        return F.unfold(x, patch, stride=stride).transpose(1, 2)
    memory = patches(train).reshape(-1, train.shape[1] * patch * patch)
    g = torch.Generator().manual_seed(seed)
    if len(memory) > bank:
        memory = memory[torch.randperm(len(memory), generator=g)[:bank]]
    h, w = test.shape[-2:]
    out = []
    for chunk in test.split(32):
        q = patches(chunk)  # [b,L,P]
        d = torch.cdist(q.reshape(-1, q.shape[-1]), memory).min(1).values.reshape(q.shape[0], q.shape[1])
        spread = F.fold(d.unsqueeze(1).expand(-1, patch * patch, -1), (h, w), patch, stride=stride)
        count = F.fold(torch.ones_like(d).unsqueeze(1).expand(-1, patch * patch, -1), (h, w), patch, stride=stride)
        out.append((spread / count.clamp_min(1)).squeeze(1))
    return torch.cat(out)


# ---------------------------------------------------------------- metrics
def aupro(maps: np.ndarray, masks: np.ndarray, max_fpr: float = 0.3, thresholds: int = 200) -> float:
    """MVTec AD's per-region overlap: mean over ground-truth connected regions of the share of the region
    above a threshold, integrated over the false-positive rate of normal pixels in [0, max_fpr], / max_fpr."""
    from skimage.measure import label
    regions = []
    for i in range(len(masks)):
        lab = label(masks[i] == 1)
        for r in range(1, lab.max() + 1):
            regions.append((i, lab == r))
    normal = maps[masks == 0]
    if not regions or normal.size == 0:
        return float("nan")
    levels = np.unique(np.quantile(np.concatenate([normal, *(maps[i][r] for i, r in regions)]),
                                   np.linspace(0, 1, thresholds)))[::-1]  # high to low: fpr rises
    fpr = np.array([(normal >= t).mean() for t in levels])
    region_scores = [maps[i][r] for i, r in regions]
    pro = np.array([np.mean([(s >= t).mean() for s in region_scores]) for t in levels])
    fpr, pro = np.concatenate([[0.0], fpr]), np.concatenate([[0.0], pro])
    keep = fpr <= max_fpr
    fpr, pro = np.append(fpr[keep], max_fpr), np.append(pro[keep], np.interp(max_fpr, fpr, pro))
    return float(np.trapezoid(pro, fpr) / max_fpr)


@dataclass
class AnomalyResult:
    name: str
    image_auroc: float
    pixel_auroc: float | None
    aupro: float | None


def score(name: str, maps: Tensor, labels: np.ndarray, masks: np.ndarray | None) -> AnomalyResult:
    """Image AUROC from the maps' maxima; pixel AUROC / AUPRO over images whose mask is known."""
    image = roc_auc_score(labels, maps.flatten(1).max(1).values.numpy())
    if masks is None:
        return AnomalyResult(name, float(image), None, None)
    known = (masks != 255).all(axis=(1, 2))
    m, mk = maps.numpy()[known], masks[known]
    pixel = roc_auc_score(mk.reshape(-1), m.reshape(-1)) if (mk == 1).any() else float("nan")
    return AnomalyResult(name, float(image), float(pixel), aupro(m, mk))


def format_anomaly_table(results: list[AnomalyResult], title: str) -> str:
    width = max(len(r.name) for r in results)
    pct = lambda v: "      -" if v is None or v != v else f"{100 * v:>6.1f}%"
    lines = [title, f"{'method':<{width}}  {'image AUROC':>11}  {'pixel AUROC':>11}  {'AUPRO':>7}"]
    lines += [f"{r.name:<{width}}  {pct(r.image_auroc):>11}  {pct(r.pixel_auroc):>11}  {pct(r.aupro):>7}"
              for r in results]
    return "\n".join(lines)


# ---------------------------------------------------------------- one run, every row
def anomaly_splits(config, model, spec: str):
    """(normal train split, test split) with the run's eval transform; the test split keeps `masks`/`kinds`."""
    from ..data import MODALITIES, load_dataset
    if config.modality != "image":
        raise ValueError(f"anymae anomaly scores images; this run's modality is {config.modality}")
    modality = MODALITIES["image"]
    size = modality.sample_size(model, config)
    train = load_dataset(spec, split="train", image_size=size, channels=config.channels)
    test = load_dataset(spec, split="test", image_size=size, channels=config.channels)
    if not test.labelled or not set(test.labels.tolist()) <= {0, 1} or len(set(test.labels.tolist())) < 2:
        raise ValueError(f"{spec}: the test split needs normal (0) and anomalous (1) images, as MVTec AD's layout "
                         "gives (test/good and test/<defect>)")
    if train.labelled and (train.labels != 0).any():
        raise ValueError(f"{spec}: the training split holds anomalous images; anomaly detection trains on normal ones")
    masks = getattr(test, "masks", None)
    transform = modality.eval_transform(model, config)
    return train.with_transform(transform), test.with_transform(transform), test, masks


def anomaly_run(run: str | Path, data: str | None = None, ensemble: int = 8, seed: int = 0, sigma: float | None = None,
                progress: bool = True, out: Path | None = None) -> tuple[list[AnomalyResult], str, dict]:
    """Score RUN's model and the baselines on the test split of `data` (default: the run's); writes
    anomaly.json into `out` (default RUN). -> (results, table, maps {name: [M,H,W]} with `raw`, `masks`)."""
    from ..config import PretrainConfig
    from ..io.checkpoint import build_untrained, load_run
    if ensemble < 1:
        raise ValueError(f"--ensemble must be >= 1, got {ensemble}")
    run = Path(run)
    model, raw_config = load_run(run)
    config = PretrainConfig.from_dict(raw_config)
    spec = data or config.data
    if not getattr(model.target, "pixel_space", True):
        raise ValueError(f"{run}: its target ({type(model.target).__name__}) does not predict pixels; anomaly "
                         "maps need a pixel reconstruction")
    train, test, raw_test, masks = anomaly_splits(config, model, spec)
    labels = raw_test.labels.numpy()
    masks_np = masks.numpy() if masks is not None else None
    side = test[0][0].shape[-1]
    sigma = sigma if sigma is not None else side / 32
    maps = {f"{config.recipe} (K={ensemble})": reconstruction_maps(model, test, ensemble, seed, progress=progress,
                                                                  desc="trained"),
            "random init, same architecture": reconstruction_maps(build_untrained(raw_config, seed=seed), test, ensemble,
                                                                  seed, progress=progress, desc="random init")}
    train_x, test_x = stack(train), stack(test)
    maps["per-pixel Gaussian"] = gaussian_maps(train_x, test_x)
    maps["nearest raw patch (PatchCore-style)"] = patch_maps(train_x, test_x, seed=seed)
    maps = {name: smooth(m, sigma) for name, m in maps.items()}
    results = [score(name, m, labels, masks_np) for name, m in maps.items()]
    title = (f"anomaly detection on {spec}: {int((labels == 0).sum())} normal / {int(labels.sum())} anomalous test "
             f"images; {len(train)} normal training images; maps smoothed by sigma {sigma:g} px")
    kinds = getattr(raw_test, "kinds", None)
    by_kind = {}
    if kinds is not None:
        for kind in sorted(set(kinds) - {"good"}):
            pick = np.array([k in ("good", kind) for k in kinds])
            by_kind[kind] = {name: float(roc_auc_score(labels[pick], m.flatten(1).max(1).values.numpy()[pick]))
                             for name, m in maps.items()}
    payload = {"run": str(run), "data": spec, "ensemble": ensemble, "seed": seed, "sigma": sigma,
               "normal": int((labels == 0).sum()), "anomalous": int(labels.sum()),
               "results": [r.__dict__ for r in results], "image_auroc_by_defect": by_kind}
    write_text(Path(out or run) / "anomaly.json", json.dumps(payload, indent=2))
    return results, title, {"maps": maps, "images": test.transform.invert(test_x), "masks": masks, "labels": labels,
                            "kinds": kinds}
