"""An honest score for generated images, with no downloaded weights.

Feature space: a small CNN classifier trained here, on the run's real training split (its held-out accuracy
is reported). FID and precision/recall in *that* feature space are not Inception FID and not comparable to
published numbers; they compare rows of the same table. Every row is scored against the real training split:

- `real test vs train`: the floor (what a perfect generator of new images scores);
- `tokenizer reconstructions`: the test images through the tokenizer (the ceiling of any generator over it);
- `per-class Gaussian (pixels)`: each class's mean and covariance of training pixels, sampled (a classical
  baseline);
- one row per sampler and step count of the generator.

Columns: full / cheap network passes (and, for MAR-style samplers, the passes of the per-token diffusion head,
counted apart), measured FLOPs of the generator per image (the tokenizer's decoding,
the same for every sampler, left out) and seconds per image (decoding included), FID, precision and recall
(k-NN manifolds, Kynkäänniemi et al. 2019, k=3), the classifier's accuracy on the class-conditional samples
(requested class = the test split's labels, so every row has the same class mix), and the mean RMS pixel
distance from each image to its nearest training image (memorization: far below the floor row's = copies).
"""
from __future__ import annotations

import time
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from scipy import linalg
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

NOTE = ("FID, precision and recall are computed in the feature space of a CNN classifier trained here on the "
        "real training split: this is NOT Inception FID and is not comparable to published numbers.")


class FeatureClassifier(nn.Module):
    """Two conv stages and a 128-d feature layer: [B,C,H,W] in [0,1] -> logits; `features` the 128-d layer."""

    def __init__(self, channels: int, classes: int, width: int = 32):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(2 * width, 4 * width, 3, padding=1), nn.BatchNorm2d(4 * width), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * width, 128), nn.ReLU())
        self.out = nn.Linear(128, classes)

    def features(self, x: Tensor) -> Tensor:
        return self.body(x * 2 - 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.features(x))


def train_classifier(images: Tensor, labels: Tensor, classes: int, steps: int = 600, batch_size: int = 128,
                     seed: int = 0) -> FeatureClassifier:
    """The feature space: a classifier on the real training images [M,C,H,W] in [0,1] (shift augmentation)."""
    torch.manual_seed(seed)
    model = FeatureClassifier(images.shape[1], classes).to(images.device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=2e-3, total_steps=steps)
    g = torch.Generator(device=images.device).manual_seed(seed)
    model.train()
    for _ in range(steps):
        idx = torch.randint(len(images), (min(batch_size, len(images)),), generator=g, device=images.device)
        x = images[idx]
        pad = max(1, x.shape[-1] // 16)
        shift = torch.randint(-pad, pad + 1, (2,), generator=g, device=images.device).tolist()
        x = torch.roll(x, shifts=shift, dims=(-2, -1))
        loss = F.cross_entropy(model(x), labels[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
    return model.eval()


@torch.no_grad()
def predict(model: FeatureClassifier, images: Tensor, batch: int = 500) -> tuple[Tensor, Tensor]:
    """-> (features [M,128], predicted class [M])."""
    feats = torch.cat([model.features(images[i:i + batch]) for i in range(0, len(images), batch)])
    return feats, model.out(feats).argmax(1)


def frechet_distance(a: Tensor, b: Tensor) -> float:
    """Fréchet distance between Gaussians fitted to features a [M,F] and b [K,F]."""
    a, b = a.double().cpu().numpy(), b.double().cpu().numpy()
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    with warnings.catch_warnings():   # dead ReLU features make the covariances singular; handled below
        warnings.simplefilter("ignore")
        covmean = linalg.sqrtm(s1 @ s2)
    if not np.isfinite(covmean).all():
        eps = np.eye(len(s1)) * 1e-6
        covmean = linalg.sqrtm((s1 + eps) @ (s2 + eps))
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean.real))


def knn_radii(x: Tensor, k: int) -> Tensor:
    d = torch.cdist(x, x)
    return d.kthvalue(k + 1, dim=1).values   # the 0 to itself is the first


def precision_recall(real: Tensor, fake: Tensor, k: int = 3) -> tuple[float, float]:
    """k-NN manifold precision (fake inside the real manifold) and recall (real inside the fake one)."""
    real, fake = real.double(), fake.double()
    r_real, r_fake = knn_radii(real, k), knn_radii(fake, k)
    d = torch.cdist(fake, real)   # [K,M]
    precision = (d <= r_real.unsqueeze(0)).any(1).double().mean()
    recall = (d.t() <= r_fake.unsqueeze(0)).any(1).double().mean()
    return float(precision), float(recall)


def nearest_train_distance(images: Tensor, train: Tensor, batch: int = 250) -> float:
    """Mean over images [K,C,H,W] of the RMS pixel distance to the nearest training image."""
    t = train.flatten(1).double()
    best = torch.cat([torch.cdist(images[i:i + batch].flatten(1).double(), t).min(1).values
                      for i in range(0, len(images), batch)])
    return float((best / t.shape[1] ** 0.5).mean())


def class_gaussian(train: Tensor, labels: Tensor, want: Tensor, generator: torch.Generator) -> Tensor:
    """Samples of each wanted class from a Gaussian with that class's mean and covariance of training pixels
    (exact: mean + centred training images^T z / sqrt(n-1), z ~ N(0, I_n)), clamped to [0,1]."""
    out = torch.empty(len(want), *train.shape[1:], device=train.device)
    for c in want.unique():
        rows = (want == c).nonzero().squeeze(1)
        x = train[labels == c].flatten(1)
        centred = x - x.mean(0)
        z = torch.randn(len(rows), len(x), generator=generator, device=train.device)
        out[rows] = (x.mean(0) + z @ centred / max(1, len(x) - 1) ** 0.5).reshape(len(rows), *train.shape[1:])
    return out.clamp(0, 1)


def measure_cost(make, count: int) -> dict:
    """FLOPs per image of `make(offset, n) -> (images, cost)` measured on a small batch (the tokenizer's decoding
    included), then seconds per image and network passes for `count` images made in batches."""
    probe = min(4, count)
    with FlopCounterMode(display=False) as counter:
        make(0, probe)
    flops = counter.get_total_flops() / probe
    start, images, cost = time.time(), [], {}
    for i in range(0, count, 250):
        out, cost = make(i, min(250, count - i))
        images.append(out)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return {"images": torch.cat(images), "flops": flops, "seconds": (time.time() - start) / count, **cost}


class GenerationScore:
    """The feature space and real references of one run's data; `row(name, images, labels)` scores a row."""

    def __init__(self, train: Tensor, train_labels: Tensor, test: Tensor, test_labels: Tensor, classes: int,
                 classifier_steps: int = 600, seed: int = 0):
        self.train, self.train_labels, self.test, self.test_labels = train, train_labels, test, test_labels
        self.classifier = train_classifier(train, train_labels, classes, steps=classifier_steps, seed=seed)
        self.train_features, _ = predict(self.classifier, train)
        _, test_pred = predict(self.classifier, test)
        self.classifier_accuracy = float((test_pred == test_labels).float().mean())
        self.rows: list[dict] = []

    def row(self, name: str, images: Tensor, labels: Tensor | None, **extra) -> dict:
        feats, pred = predict(self.classifier, images)
        precision, recall = precision_recall(self.train_features, feats)
        row = {"row": name, **extra, "fid": frechet_distance(self.train_features, feats),
               "precision": precision, "recall": recall,
               "class_accuracy": float((pred == labels).float().mean()) if labels is not None else None,
               "nearest_train_rms": nearest_train_distance(images, self.train)}
        self.rows.append(row)
        return row


def format_table(rows: list[dict]) -> str:
    """The rows as a Markdown table (a "denoiser passes" column when a row has a diffusion head's passes)."""
    head_passes = any("denoiser_passes" in r for r in rows)
    head = ("| row | full passes | cheap passes | " + ("denoiser passes | " if head_passes else "") +
            "generator MFLOPs/img | ms/img | FID | precision | recall | class acc | nearest train |")
    lines = [head, "|" + "---|" * (11 if head_passes else 10)]
    fmt = lambda v, f: "—" if v is None else format(v, f)
    for r in rows:
        denoiser = f"{fmt(r.get('denoiser_passes'), 'd')} | " if head_passes else ""
        lines.append(f"| {r['row']} | {fmt(r.get('full_passes'), 'd')} | {fmt(r.get('cheap_passes'), 'd')} | {denoiser}"
                     f"{fmt(r['flops'] / 1e6 if r.get('flops') is not None else None, '.1f')} | "
                     f"{fmt(r['seconds'] * 1e3 if r.get('seconds') is not None else None, '.2f')} | "
                     f"{r['fid']:.2f} | {r['precision']:.3f} | {r['recall']:.3f} | "
                     f"{fmt(r['class_accuracy'], '.3f')} | {r['nearest_train_rms']:.4f} |")
    return "\n".join(lines)
