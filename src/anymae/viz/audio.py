"""Spectrogram pictures of audio reconstructions (row 16): log-mel | masked | reconstruction | + visible."""
from __future__ import annotations

from pathlib import Path

import torch

from .grid import write_figure

TITLES = ["log-mel spectrogram", "masked", "reconstruction", "reconstruction + visible"]


@torch.no_grad()
def spectrogram_rows(model, waves: torch.Tensor, seed: int = 0) -> list[list[torch.Tensor]]:
    """waves [B,S] -> per sample the four [F,T] spectrograms of `TITLES` (hidden patches NaN in "masked")."""
    model.eval()
    tok = model.tokenizer
    mask, pred = model.reconstruct(waves, generator=torch.Generator().manual_seed(seed))
    values = tok.patchify(waves)                                            # [B,N,p*p]
    hidden = mask.bool.unsqueeze(-1)
    original = tok.unpatchify(values)[:, 0]
    masked = tok.unpatchify(values.masked_fill(hidden, float("nan")))[:, 0]
    prediction = tok.unpatchify(pred)[:, 0]
    pasted = tok.unpatchify(torch.where(hidden, pred, values))[:, 0]
    return [[original[i], masked[i], prediction[i], pasted[i]] for i in range(waves.shape[0])]


def spectrogram_picture(model, waves: torch.Tensor, path: str | Path, seed: int = 0) -> Path:
    """Draw `spectrogram_rows` (low frequencies at the bottom, one colour scale per sample; hidden patches grey)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = spectrogram_rows(model, waves, seed)
    fig, axes = plt.subplots(len(rows), len(TITLES), figsize=(3 * len(TITLES), 2.2 * len(rows)), squeeze=False)
    cmap = matplotlib.colormaps["magma"].copy()
    cmap.set_bad("#9a9a9a")
    for r, row in enumerate(rows):
        lo, hi = float(row[0].min()), float(row[0].max())
        for c, spec in enumerate(row):
            ax = axes[r][c]
            ax.imshow(spec.cpu().numpy(), origin="lower", aspect="auto", cmap=cmap, vmin=lo, vmax=hi,
                      interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            if r == 0:
                ax.set_title(TITLES[c], fontsize=9)
    fig.tight_layout()
    return write_figure(fig, path)
