"""Image-caption reconstructions (M3AE, row 43): each pair's image original | masked | hidden patches predicted
(visible ones pasted back), and beside it the caption, its hidden words as ___, and the words predicted there."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from ..data.captions import caption_vocabulary
from .grid import scale_for_view
from .pictures import grey_out, hidden_map


def words(ids: Tensor, vocabulary: list[str], hidden: Tensor | None = None, guess: Tensor | None = None) -> str:
    """ids [L] -> the caption; hidden [L] bool: those words as ___, or as [guess] when `guess` [L] is given."""
    out = []
    for i, t in enumerate(ids):
        if hidden is not None and bool(hidden[i]):
            out.append("___" if guess is None else f"[{vocabulary[int(guess[i])]}]")
        else:
            out.append(vocabulary[int(t)])
    return " ".join(out)


@torch.no_grad()
def image_text_picture(model, sample: dict, transform, path: Path, seed: int = 0, count: int = 6) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    model.eval()
    sample = {k: v[:count] for k, v in sample.items()}
    tokens = model.tokenize(sample)
    mask = model.draw_mask(tokens, torch.Generator().manual_seed(seed))
    pred = model.predict_modalities(sample, mask)
    spans, vocabulary = tokens.extra["spans"], caption_vocabulary()
    s, e = spans["image"]
    hidden_image = hidden_map(model.tokenizer.parts["image"], mask.bool[:, s:e])[:, :1]
    s, e = spans["text"]
    hidden_text = mask.bool[:, s:e]
    truth = transform.invert("image", sample["image"])
    lo, hi = float(truth.min()), float(truth.max())
    view = lambda x: scale_for_view(transform.invert("image", x), lo, hi).permute(1, 2, 0).numpy()  # noqa: E731
    n = sample["image"].shape[0]
    fig, axes = plt.subplots(n, 4, figsize=(11, 1.6 * n), gridspec_kw={"width_ratios": [1, 1, 1, 4]}, squeeze=False)
    for i in range(n):
        panels = (view(sample["image"][i]),
                  grey_out(scale_for_view(truth[i], lo, hi), hidden_image[i]).permute(1, 2, 0).numpy(),
                  view(hidden_image[i] * pred["image"][i] + (1 - hidden_image[i]) * sample["image"][i]))
        for j, (ax, img, title) in enumerate(zip(axes[i], panels, ("image", "masked", "predicted + visible"))):
            ax.imshow(img)
            ax.set_axis_off()
            if i == 0:
                ax.set_title(title, fontsize=9)
        text = (f"caption:    {words(sample['text'][i], vocabulary)}\n"
                f"masked:     {words(sample['text'][i], vocabulary, hidden_text[i])}\n"
                f"predicted:  {words(sample['text'][i], vocabulary, hidden_text[i], pred['text'][i])}")
        axes[i, 3].text(0.0, 0.5, text, family="monospace", fontsize=8, va="center")
        axes[i, 3].set_axis_off()
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
