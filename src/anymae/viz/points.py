"""Point-cloud reconstructions (Point-MAE, row 10) as 3-D scatter plots: input | visible groups | reconstruction."""
from __future__ import annotations

from pathlib import Path

import torch

from .grid import write_figure

TITLES = ["input", "visible groups", "reconstruction"]


@torch.no_grad()
def point_reconstruction_rows(model, clouds: torch.Tensor, seed: int = 0) -> list[list[tuple]]:
    """clouds [B,N,3] -> per sample: [(input [N,3],), (visible [V,3],), (visible [V,3], predicted [H,3])]."""
    model.eval()
    mask, pred = model.reconstruct(clouds, generator=torch.Generator().manual_seed(seed))
    tokens = model.tokenizer(clouds)
    tok = model.tokenizer
    rows = []
    for i in range(clouds.shape[0]):
        keep, hidden = mask.keep[i:i + 1], mask.hidden[i:i + 1]
        centres = tokens.coords[i:i + 1]
        visible = tok.unpatchify(tokens.values[i:i + 1, keep[0]], centres[:, keep[0]])[0]
        predicted = tok.unpatchify(pred[i:i + 1, hidden[0]], centres[:, hidden[0]])[0]
        rows.append([(clouds[i],), (visible,), (visible, predicted)])
    return rows


def point_reconstruction_picture(model, clouds: torch.Tensor, path: str | Path, seed: int = 0) -> Path:
    """Draw `point_reconstruction_rows` with matplotlib (grey: seen points, red: predicted hidden groups)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = point_reconstruction_rows(model, clouds, seed)
    colours = ("#555555", "#d62728")
    fig = plt.figure(figsize=(3 * len(TITLES), 3 * len(rows)))
    for r, row in enumerate(rows):
        for c, parts in enumerate(row):
            ax = fig.add_subplot(len(rows), len(TITLES), r * len(TITLES) + c + 1, projection="3d")
            for part, colour in zip(parts, colours):
                p = part.detach().cpu().numpy()
                ax.scatter(p[:, 0], p[:, 2], p[:, 1], s=1.5, c=colour, depthshade=False)
            ax.set_xlim(-1, 1), ax.set_ylim(-1, 1), ax.set_zlim(-1, 1)
            ax.set_axis_off()
            if r == 0:
                ax.set_title(TITLES[c])
    fig.tight_layout()
    return write_figure(fig, path)
