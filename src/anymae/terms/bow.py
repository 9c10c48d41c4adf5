"""DupMAE's bag-of-words task (RetroMAE v2, PAPERS.md row 2): the ordinary tokens' masked-LM logits,
max-pooled over positions, must predict the set of tokens of the input."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import ExtraTerm
from .registry import TERMS


def pooled_logits(logits: Tensor, valid: Tensor) -> Tensor:
    """logits [B,L,V] of every position -> [B,V]: the max over the ordinary positions (all but [CLS] and pads),
    DupMAE's ordinary-token (OT) vector before its activation."""
    keep = valid.clone()
    keep[:, 0] = False
    return logits.masked_fill(~keep[..., None], float("-inf")).amax(1)


def bag_of_words(ids: Tensor, ordinary: Tensor, vocab_size: int) -> Tensor:
    """ids [B,L] -> [B,V]: the input's set of ordinary tokens as a distribution (1/|set| on each)."""
    bag = torch.zeros(ids.shape[0], vocab_size, device=ids.device)
    bag.scatter_(1, ids.masked_fill(~ordinary, 0), ordinary.float())
    bag = (bag > 0).float()
    return bag / bag.sum(1, keepdim=True).clamp_min(1.0)


def bag_of_words_loss(pooled: Tensor, bag: Tensor) -> Tensor:
    """pooled [B,V], bag [B,V] -> [B]: KL(bag || softmax(pooled)). DupMAE's cross-entropy -sum(bag log p)
    minus the bag's own entropy (a constant): the same gradients, and zero for a perfect prediction."""
    log_p = F.log_softmax(pooled.float(), dim=-1)
    entropy = -(bag * bag.clamp_min(1e-12).log()).sum(-1)
    return -(bag * log_p).sum(-1) - entropy


def reduce_bag(pooled: Tensor, dim: int) -> Tensor:
    """pooled [B,V] -> [B,dim]: DupMAE's dimension reduction of the OT vector. log(1 + relu(x)) (a sparse,
    non-negative term weight), then the max within each of `dim` buckets of consecutive vocabulary ids."""
    weights = torch.log1p(F.relu(pooled))
    size = -(-weights.shape[-1] // dim)
    weights = F.pad(weights, (0, size * dim - weights.shape[-1]))
    return weights.view(weights.shape[0], dim, size).amax(-1)


@TERMS.register("bag_of_words")
class BagOfWordsTerm(ExtraTerm):
    """weight x mean over the batch of `bag_of_words_loss`; reads the encoder's masked-LM logits of every
    position (`ctx.pred` [B,L,V]) and the input ids (`ctx.x` [B,L], `ctx.tokens.extra['valid']`)."""

    needs_logits = True  # the model computes the MLM logits of every position for this term

    def __init__(self, weight: float = 1.0, vocab_size: int | None = None):
        super().__init__()
        self.weight = weight

    def forward(self, ctx) -> dict[str, Tensor]:
        valid, ordinary = ctx.tokens.extra["valid"], ctx.tokens.extra["ordinary"]
        pooled = pooled_logits(ctx.pred, valid)
        loss = bag_of_words_loss(pooled, bag_of_words(ctx.x, ordinary, ctx.pred.shape[-1])).mean()
        return {"bag_of_words": self.weight * loss}
