"""The score of generated point clouds (MAR-3D, row 51): the point-cloud generation metrics of PointFlow
(Yang et al. 2019) with the L2 Chamfer distance (Point-MAE's, `losses/chamfer.py`), against a reference set
(the test split, the same class mix in every row):

- MMD-CD: for each reference cloud the Chamfer distance to its nearest generated cloud, averaged (fidelity;
  lower is better);
- COV-CD: the share of reference clouds that are the nearest reference of at least one generated cloud
  (coverage, against mode collapse; higher is better);
- 1-NNA-CD: the leave-one-out accuracy of a 1-nearest-neighbour classifier telling generated from reference
  clouds in their union (50% when the two sets come from one distribution, 100% when they are told apart
  every time; nearer 50% is better);
- class agreement: the share of generated clouds whose nearest reference cloud has the requested class.

Rows computed the same way: `real train vs test (floor)` (training clouds with the reference's class mix),
the tokenizer ceiling (those training clouds through the generator's tokens and back), two simple
baselines (`uniform_box`: uniform random points in the class's bounding box of training points; `medoid`:
the class's Chamfer medoid training cloud under a random rotation plus Gaussian jitter), and one row a
sampler setting.
"""
from __future__ import annotations

import math
import time

import torch
from torch import Tensor

from ..losses.chamfer import chamfer_distance
from ..tokenizers.point_patches import random_rotations


def pairwise_chamfer(a: Tensor, b: Tensor, progress=None) -> Tensor:
    """a [n,P,3], b [m,Q,3] -> L2 Chamfer distances [n,m] (float64)."""
    rows = []
    for i in range(len(a)):
        rows.append(chamfer_distance(a[i:i + 1].expand(len(b), -1, -1), b).double())
        if progress is not None:
            progress()
    return torch.stack(rows) if rows else torch.zeros(0, len(b), dtype=torch.float64)


def mmd(gen_ref: Tensor) -> float:
    """gen_ref [g,r] distances -> mean over references of the distance to the nearest generated cloud."""
    return float(gen_ref.min(0).values.mean())


def coverage(gen_ref: Tensor) -> float:
    """gen_ref [g,r] -> share of references that are the nearest reference of some generated cloud."""
    return len(gen_ref.argmin(1).unique()) / gen_ref.shape[1]


def one_nna(gen_gen: Tensor, ref_ref: Tensor, gen_ref: Tensor) -> float:
    """Leave-one-out 1-NN accuracy over generated (label 1) and reference (label 0) clouds, from the three
    distance blocks [g,g], [r,r], [g,r]."""
    g, r = len(gen_gen), len(ref_ref)
    full = torch.cat([torch.cat([gen_gen, gen_ref], 1), torch.cat([gen_ref.t(), ref_ref], 1)], 0).clone()
    full.fill_diagonal_(float("inf"))
    labels = torch.cat([torch.ones(g), torch.zeros(r)])
    return float((labels[full.argmin(1)] == labels).double().mean())


def set_metrics(gen_gen: Tensor, ref_ref: Tensor, gen_ref: Tensor, gen_labels: Tensor | None = None,
                ref_labels: Tensor | None = None) -> dict:
    """MMD-CD, COV-CD, 1-NNA-CD (and class agreement when labels are given) from the three distance blocks."""
    out = {"mmd_cd": mmd(gen_ref), "cov_cd": coverage(gen_ref), "one_nna": one_nna(gen_gen, ref_ref, gen_ref)}
    if gen_labels is not None and ref_labels is not None:
        out["class_agreement"] = float((ref_labels[gen_ref.argmin(1)].cpu() == gen_labels.cpu()).double().mean())
    return out


# ---------------------------------------------------------------- baselines
def matching_index(train_labels: Tensor, want: Tensor, generator: torch.Generator) -> Tensor:
    """Indices [K] of distinct training clouds with the class mix of `want` [K]."""
    index = torch.empty(len(want), dtype=torch.long)
    for c in want.unique():
        rows = (want == c).nonzero().squeeze(1)
        pool = (train_labels == c).nonzero().squeeze(1)
        if len(pool) < len(rows):
            raise ValueError(f"class {int(c)}: {len(pool)} training clouds, fewer than the {len(rows)} asked for")
        index[rows] = pool[torch.randperm(len(pool), generator=generator)[:len(rows)]]
    return index


def matching_training(train: Tensor, train_labels: Tensor, want: Tensor, generator: torch.Generator) -> Tensor:
    """Distinct training clouds with the class mix of `want` [K] (the floor row) -> [K,P,3]."""
    return train[matching_index(train_labels, want, generator)]


def uniform_box(train: Tensor, train_labels: Tensor, want: Tensor, generator: torch.Generator) -> Tensor:
    """Uniform random points in each wanted class's bounding box of training points -> [K,P,3]."""
    out = torch.empty(len(want), *train.shape[1:])
    for c in want.unique():
        rows = (want == c).nonzero().squeeze(1)
        points = train[train_labels == c].reshape(-1, 3)
        low, high = points.min(0).values, points.max(0).values
        out[rows] = low + (high - low) * torch.rand(len(rows), train.shape[1], 3, generator=generator)
    return out


def medoid_jitter(train: Tensor, train_labels: Tensor, want: Tensor, generator: torch.Generator,
                  jitter: float = 0.02, pool: int = 32) -> Tensor:
    """Each wanted class's Chamfer medoid (among `pool` training clouds of the class) under a random rotation,
    plus Gaussian jitter of `jitter` (the data's clouds are randomly rotated: a fixed pose would be trivially
    told apart) -> [K,P,3]."""
    out = torch.empty(len(want), *train.shape[1:])
    for c in want.unique():
        rows = (want == c).nonzero().squeeze(1)
        members = train[train_labels == c][:pool]
        medoid = members[pairwise_chamfer(members, members).sum(1).argmin()]
        turned = medoid.unsqueeze(0) @ random_rotations(len(rows), generator).transpose(1, 2)
        out[rows] = turned + jitter * torch.randn(turned.shape, generator=generator)
    return out


BASELINES = {"uniform random points in the class's bounding box (trivial)": uniform_box,
             "per-class medoid shape, random rotation + jitter 0.02": medoid_jitter}


class PointGenerationScore:
    """The reference set (test clouds and labels) and its self-distances; `row(name, clouds, labels)` scores a set."""

    def __init__(self, reference: Tensor, reference_labels: Tensor, progress=None):
        self.reference, self.reference_labels = reference.float().cpu(), reference_labels.long().cpu()
        self.progress = progress
        self.ref_ref = pairwise_chamfer(self.reference, self.reference, progress)
        self.rows: list[dict] = []

    def row(self, name: str, clouds: Tensor, labels: Tensor | None = None, **extra) -> dict:
        clouds = clouds.float().cpu()
        if clouds.shape[0] != len(self.reference):
            raise ValueError(f"{name}: {clouds.shape[0]} clouds; the reference set has {len(self.reference)}")
        gen_gen = pairwise_chamfer(clouds, clouds, self.progress)
        gen_ref = pairwise_chamfer(clouds, self.reference, self.progress)
        row = {"row": name, **extra, **set_metrics(gen_gen, self.ref_ref, gen_ref, labels, self.reference_labels)}
        self.rows.append(row)
        return row


def measure_points(make, count: int, batch: int = 250) -> dict:
    """`make(offset, n) -> (clouds, cost)` for `count` clouds in batches -> {clouds, seconds per cloud, cost}."""
    start, clouds, cost = time.time(), [], {}
    for i in range(0, count, batch):
        out, cost = make(i, min(batch, count - i))
        clouds.append(out.cpu())
    return {"clouds": torch.cat(clouds), "seconds": (time.time() - start) / max(1, count), **cost}


def format_point_table(rows: list[dict]) -> str:
    """The rows as a Markdown table (MMD-CD x 10^3)."""
    fmt = lambda v, f: "—" if v is None else format(v, f)
    lines = ["| row | full passes | denoiser passes | ms/cloud | MMD-CD (x10^3) | COV-CD | 1-NNA-CD | class agreement |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ms = r["seconds"] * 1e3 if r.get("seconds") is not None else None
        lines.append(f"| {r['row']} | {fmt(r.get('full_passes'), 'd')} | {fmt(r.get('denoiser_passes'), 'd')} | "
                     f"{fmt(ms, '.1f')} | {r['mmd_cd'] * 1e3:.2f} | {r['cov_cd']:.3f} | {r['one_nna']:.3f} | "
                     f"{fmt(r.get('class_agreement'), '.3f')} |")
    return "\n".join(lines)


def balanced_reference(labels: Tensor, count: int, classes: int) -> Tensor:
    """Indices [<=count] of the first ceil(count / classes) reference clouds of each class, in data order."""
    per = max(1, math.ceil(count / max(1, classes)))
    index = torch.cat([(labels == c).nonzero().squeeze(1)[:per] for c in range(classes)])
    return index.sort().values[:count]
