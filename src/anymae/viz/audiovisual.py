"""Pictures of audio-visual reconstructions (HiCMAE, row 16): per clip, the log-mel spectrogram and the frames,
each as original | masked (hidden patches grey) | reconstruction (hidden patches predicted, visible ones kept)."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from .grid import write_figure

TITLES = ["original", "masked", "reconstruction + visible"]


@torch.no_grad()
def audiovisual_rows(model, sample: dict, seed: int = 0) -> dict[str, list[Tensor]]:
    """sample {"video": [B,C,T,H,W], "audio": [B,S]} -> {name: [original, masked (NaN where hidden), pasted]},
    each sample-shaped in the tokenizer's value space (video normalised [B,C,T,H,W], audio log-mel [B,1,F,T])."""
    model.eval()
    tokens = model.tokenize(sample)
    mask = model.draw_mask(tokens, torch.Generator().manual_seed(seed))
    preds = model.predict_modalities(sample, mask)
    out = {}
    for name, (s, e) in tokens.extra["spans"].items():
        part = model.tokenizer.parts[name]
        values = tokens.values[:, s:e, :part.patch_dim]
        hidden = mask.bool[:, s:e].unsqueeze(-1)
        pasted = torch.where(hidden, part.patchify(preds[name]), values)
        out[name] = [part.unpatchify(values), part.unpatchify(values.masked_fill(hidden, float("nan"))),
                     part.unpatchify(pasted)]
    return out


def frame_strip(clip: Tensor) -> Tensor:
    """[C,T,H,W] in [0,1] (NaN = hidden) -> [H, T*W, C] frames side by side, hidden pixels mid-grey."""
    c, t, h, w = clip.shape
    strip = clip.permute(2, 1, 3, 0).reshape(h, t * w, c)
    return torch.nan_to_num(strip, nan=0.5).clamp(0, 1)


def audiovisual_picture(model, sample: dict, transform, path: str | Path, seed: int = 0, count: int = 3) -> Path:
    """Draw `audiovisual_rows` for the first `count` clips: a spectrogram row and a frames row per clip."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    sample = {k: v[:count] for k, v in sample.items()}
    rows = audiovisual_rows(model, sample, seed)
    n = next(iter(sample.values())).shape[0]
    fig, axes = plt.subplots(2 * n, len(TITLES), figsize=(4 * len(TITLES), 2.0 * 2 * n), squeeze=False)
    cmap = matplotlib.colormaps["magma"].with_extremes(bad="#9a9a9a")
    for i in range(n):
        spec = [r[i, 0].cpu().numpy() for r in rows["audio"]]
        lo, hi = float(spec[0].min()), float(spec[0].max())
        for c in range(len(TITLES)):
            ax = axes[2 * i][c]
            ax.imshow(spec[c], origin="lower", aspect="auto", cmap=cmap, vmin=lo, vmax=hi, interpolation="nearest")
            ax.set_title(f"log-mel: {TITLES[c]}" if i == 0 else "", fontsize=9)
            strip = frame_strip(transform.invert_video(rows["video"][c][i]))
            ax = axes[2 * i + 1][c]
            ax.imshow(strip[..., 0].cpu().numpy() if strip.shape[-1] == 1 else strip.cpu().numpy(), cmap="gray",
                      vmin=0, vmax=1, interpolation="nearest")
            ax.set_title(f"frames: {TITLES[c]}" if i == 0 else "", fontsize=9)
        for ax in list(axes[2 * i]) + list(axes[2 * i + 1]):
            ax.set_xticks([]), ax.set_yticks([])
    fig.tight_layout()
    return write_figure(fig, path)
