"""The linear probe of a generator's encoder (UMD row 1, Harmon row 34: one network that generates and
represents): features of the labelled train / test splits through `model.features` (the encoder over a
whole, clean image, mean-pooled), against the same architecture at random init and raw pixels, with
`eval/probe.py`'s logistic regression and kNN, computed the same way for every row."""
from __future__ import annotations

import numpy as np
import torch

from .probe import ProbeResult, evaluate


@torch.no_grad()
def generator_features(model, images: torch.Tensor, batch: int = 256) -> np.ndarray:
    """images [M,C,H,W] in [-1,1] -> the generator's features [M,dim]."""
    model.eval()
    return torch.cat([model.features(images[i:i + batch]) for i in range(0, len(images), batch)]).cpu().numpy()


def probe_generator(model, random_model, train: torch.Tensor, train_y: np.ndarray, test: torch.Tensor,
                    test_y: np.ndarray, seed: int = 0) -> list[ProbeResult]:
    """Rows: the trained encoder, the same architecture at random init (the same frozen tokenizer and token
    statistics), raw pixels. images in [-1,1]."""
    random_model.tokenizer.load_state_dict(model.tokenizer.state_dict())
    random_model.token_mean.copy_(model.token_mean)
    random_model.token_std.copy_(model.token_std)
    rows = []
    for name, m in (("generator encoder [mean]", model), ("random init [mean]", random_model)):
        rows.append(evaluate(name, generator_features(m, train), train_y, generator_features(m, test), test_y, seed))
    rows.append(evaluate("raw pixels", train.flatten(1).cpu().numpy(), train_y, test.flatten(1).cpu().numpy(),
                         test_y, seed))
    return rows
