"""Reconstruction pictures as in the MAE paper: original | masked | prediction | prediction + visible."""
from __future__ import annotations

from pathlib import Path

import torch

from ..data import EvalTransform

TITLES = ["original", "masked", "prediction", "pred + visible"]


@torch.no_grad()
def reconstruction_rows(model, images: torch.Tensor, transform: EvalTransform, seed: int = 0) -> list[list[torch.Tensor]]:
    """images [B,C,H,W] normalised -> rows of four [C,H,W] pictures in [0,1]."""
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    mask, pred = model.reconstruct(images, generator=generator)
    tok = model.tokenizer
    values = tok.patchify(images)
    hidden = mask.bool.unsqueeze(-1)
    prediction = tok.unpatchify(pred)
    pasted = tok.unpatchify(torch.where(hidden, pred, values))
    hidden_pixels = hidden_map(tok, mask.bool)  # [B,C,H,W], 1 where hidden
    rows = []
    for i in range(images.shape[0]):
        original = transform.invert(images[i])
        masked = original * (1 - hidden_pixels[i]) + 0.5 * hidden_pixels[i]  # hidden patches grey
        rows.append([original, masked, transform.invert(prediction[i]), transform.invert(pasted[i])])
    return rows


def hidden_map(tokenizer, hidden_bool: torch.Tensor) -> torch.Tensor:
    """[B,N] -> [B,C,H,W] ones where a token is hidden."""
    ones = hidden_bool.float().unsqueeze(-1).expand(-1, -1, tokenizer.patch_dim)
    return tokenizer.unpatchify(ones)


def reconstruction_picture(model, config, path: str | Path, data: str | None = None, count: int = 8, seed: int = 0,
                           images: torch.Tensor | None = None) -> Path:
    """Draw `count` samples of the run's data (the test split when there is one) through the model."""
    from ..data import MODALITIES, load_dataset
    modality = MODALITIES[config.modality]
    dataset = None
    if images is None:
        spec, size = data or config.data, modality.sample_size(model, config)
        try:
            dataset = load_dataset(spec, split="test", image_size=size, channels=config.channels)
        except ValueError:
            dataset = load_dataset(spec, split="train", image_size=size, channels=config.channels)
    return modality.picture(model, config, dataset, Path(path), count=count, seed=seed, images=images)
