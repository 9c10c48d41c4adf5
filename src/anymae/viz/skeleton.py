"""Stick-figure pictures of skeleton reconstructions (SkeletonMAE, row 18): original | masked | reconstruction,
a few frames each, joints projected on the (x, y) plane (y up)."""
from __future__ import annotations

from pathlib import Path

import torch

from .grid import write_figure

TITLES = ["original", "masked", "reconstruction"]


@torch.no_grad()
def skeleton_rows(model, sequences: torch.Tensor, seed: int = 0):
    """sequences [B,T,J,C] -> per sample (original [T,J,C], hidden joints [T,J] bool, reconstruction [T,J,C]):
    the reconstruction keeps the visible tokens and takes the decoder's prediction for the hidden ones."""
    model.eval()
    tok = model.tokenizer
    mask, pred = model.reconstruct(sequences, generator=torch.Generator().manual_seed(seed))
    values = tok.patchify(sequences)
    hidden = mask.bool.unsqueeze(-1)
    pasted = tok.unpatchify(torch.where(hidden, pred, values))
    hidden_joints = tok.unpatchify(hidden.float().expand_as(values))[..., 0] > 0.5             # [B,T,J]
    return [(sequences[i], hidden_joints[i], pasted[i]) for i in range(sequences.shape[0])]


def stick_figure_picture(model, sequences: torch.Tensor, path: str | Path, seed: int = 0, frames: int = 4) -> Path:
    """Draw `skeleton_rows`: a row per sample and panel, `frames` evenly spaced frames side by side; hidden joints
    and their bones red (dashed where the masked panel leaves them out)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = skeleton_rows(model, sequences, seed)
    edges = model.tokenizer.edges
    t = sequences.shape[1]
    picked = torch.linspace(0, t - 1, frames).round().long().tolist()
    fig, axes = plt.subplots(len(rows) * len(TITLES), frames, figsize=(1.6 * frames, 1.7 * len(rows) * len(TITLES)),
                             squeeze=False)
    for r, (original, hidden, recon) in enumerate(rows):
        lo, hi = original[..., :2].amin((0, 1)), original[..., :2].amax((0, 1))
        for p, title in enumerate(TITLES):
            seq = recon if p == 2 else original
            for c, f in enumerate(picked):
                ax = axes[r * len(TITLES) + p][c]
                xy, gone = seq[f, :, :2].cpu().numpy(), hidden[f].cpu().numpy()
                for a, b in edges:
                    red = gone[a] or gone[b]
                    if p == 1 and red:
                        continue
                    ax.plot(xy[[a, b], 0], xy[[a, b], 1], color="#d62728" if red and p == 2 else "#333333", lw=1.2)
                keep = ~gone if p == 1 else slice(None)
                colours = ["#d62728" if g and p == 2 else "#1f77b4" for g in gone]
                ax.scatter(xy[keep, 0], xy[keep, 1], s=5, c=[colours[j] for j in range(len(gone)) if p != 1 or not gone[j]])
                ax.set_xlim(float(lo[0]) - 0.2, float(hi[0]) + 0.2), ax.set_ylim(float(lo[1]) - 0.2, float(hi[1]) + 0.2)
                ax.set_aspect("equal"), ax.set_xticks([]), ax.set_yticks([])
                if c == 0:
                    ax.set_ylabel(title, fontsize=8)
                if r == 0 and p == 0:
                    ax.set_title(f"frame {f}", fontsize=8)
    fig.tight_layout()
    return write_figure(fig, path)
