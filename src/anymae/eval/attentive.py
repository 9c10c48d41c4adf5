"""Attentive probe (V-JEPA, AIM): a second reading of frozen tokens beside the linear probe.

A learnable query cross-attends over a sample's tokens and a small head reads what it gathered, so the
probe chooses where to look instead of a fixed pooling (mean, `grid3`). Only the probe trains; the tokens are
computed once. Every row of a table is read the same way: the encoder's and its random init's tokens, raw
pixels cut into the encoder's patches, HOG's blocks as tokens (`token_baselines` in eval/baselines.py).

Chosen here (V-JEPA's attentive pooler is a cross-attention block with an MLP, as this one): one query,
tokens standardised per feature on the training split and embedded to 64-d, 4 heads, a residual MLP, a layer
norm, a linear classifier; AdamW (lr 1e-3, weight decay 0.05), batch 128, 60 epochs on 80% of the training
split; the epoch that scores best on the other 20% (the linear probe's split) gives the test accuracy. The same
settings for every data set and row.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from .split import held_out_split


class AttentivePooler(nn.Module):
    """tokens [B,T,F] -> class logits [B,K]: one learnable query attends over the tokens."""

    def __init__(self, in_dim: int, classes: int, dim: int = 64, heads: int = 4):
        super().__init__()
        self.embed = nn.Linear(in_dim, dim)
        self.query = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.attend = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.mlp = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, classes)

    def forward(self, tokens: Tensor) -> Tensor:
        x = self.embed(tokens)                                          # [B,T,dim]
        pooled, _ = self.attend(self.query.expand(len(x), -1, -1), x, x)  # [B,1,dim]
        pooled = pooled + self.mlp(pooled)
        return self.head(self.norm(pooled[:, 0]))


def accuracy(model: nn.Module, tokens: Tensor, labels: Tensor, batch_size: int = 512) -> float:
    model.eval()
    with torch.no_grad():
        hits = sum(int((model(tokens[i:i + batch_size]).argmax(-1) == labels[i:i + batch_size]).sum())
                   for i in range(0, len(tokens), batch_size))
    return hits / max(1, len(tokens))


def attentive_probe(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                    seed: int = 0, epochs: int = 60, lr: float = 1e-3, weight_decay: float = 0.05,
                    batch_size: int = 128) -> float:
    """Test accuracy of an attentive probe on tokens train_x [M,T,F], test_x [M',T,F] (labels [M], [M']),
    at the epoch that scores best on a held-out 20% of train (the linear probe's split for the same seed)."""
    if train_x.ndim != 3 or test_x.ndim != 3:
        raise ValueError(f"the attentive probe reads tokens [samples, tokens, features], got {train_x.shape}")
    mean = train_x.reshape(-1, train_x.shape[-1]).mean(0)
    std = train_x.reshape(-1, train_x.shape[-1]).std(0) + 1e-6
    as_tensor = lambda x: torch.from_numpy(((x - mean) / std).astype(np.float32))  # noqa: E731
    train_t, test_t = as_tensor(train_x), as_tensor(test_x)
    train_l, test_l = torch.as_tensor(train_y).long(), torch.as_tensor(test_y).long()
    val, fit = (torch.from_numpy(i) for i in held_out_split(len(train_t), seed))
    classes = int(max(train_l.max(), test_l.max())) + 1
    torch.manual_seed(seed)
    model = AttentivePooler(train_t.shape[-1], classes)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    shuffle = torch.Generator().manual_seed(seed)
    best, best_state = -1.0, None
    for _ in range(epochs):
        model.train()
        for batch in fit[torch.randperm(len(fit), generator=shuffle)].split(batch_size):
            loss = nn.functional.cross_entropy(model(train_t[batch]), train_l[batch])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        score = accuracy(model, train_t[val], train_l[val])
        if score > best:
            best, best_state = score, {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    return accuracy(model, test_t, test_l)
