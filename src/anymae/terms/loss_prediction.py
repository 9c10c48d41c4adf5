"""HPM's loss predictor (row 24) as an extra term: a light decoder over the encoder's latents (mask
tokens at hidden slots, as the MAE decoder) that predicts a loss score per token, trained with HPM's
relative objective: for every pair (i, j) of predicted tokens, a binary cross-entropy on sigmoid(s_j - s_i)
against [loss_j > loss_i], so it learns the order of the losses, not their values. Its gradient also
reaches the encoder, as in HPM. The `hard_patch` masker reads its scores (masking/hard_patch.py)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..encoders.vit import init_mae_weights, make_blocks
from ..masking.base import Mask
from ..tokenizers.base import gather_tokens
from .base import ExtraTerm
from .registry import TERMS


def relative_loss(pred: Tensor, target: Tensor) -> Tensor:
    """HPM's relative objective. pred, target [B,M] -> scalar: mean over ordered pairs (i, j) with
    target_i != target_j of BCE(sigmoid(pred_j - pred_i), target_j > target_i)."""
    target = target.detach()
    above = target.unsqueeze(1) > target.unsqueeze(2)   # [B,i,j]: target_j > target_i
    valid = above | (target.unsqueeze(1) < target.unsqueeze(2))
    logits = pred.unsqueeze(1) - pred.unsqueeze(2)      # pred_j - pred_i
    per_pair = F.binary_cross_entropy_with_logits(logits, above.to(logits.dtype), reduction="none")
    return (per_pair * valid).sum() / valid.sum().clamp_min(1)


@TERMS.register("loss_prediction")
class LossPredictor(ExtraTerm):
    """HPM's auxiliary loss predictor (row 24): latents -> a score per token, trained with `relative_loss`
    on the reconstruction losses of the tokens the decoder predicted. Term name: `loss_prediction`.

    dim / heads: width and heads of its blocks (default: the model decoder's); depth: its blocks
    (HPM uses the decoder's depth; 1 keeps it cheap); weight: factor on the term (HPM: 1).
    """

    def __init__(self, dim: int | None = None, depth: int = 1, heads: int | None = None, weight: float = 1.0):
        super().__init__()
        if depth < 1:
            raise ValueError(f"loss predictor: depth must be >= 1, got {depth}")
        self.dim, self.depth, self.heads, self.weight = dim, depth, heads, weight
        self.num_prefix = 1

    def bind(self, model) -> None:
        decoder = model.decoder
        self.dim = self.dim or getattr(decoder, "dim", model.encoder.dim)
        self.heads = self.heads or getattr(decoder, "heads", 1)
        if self.dim % self.heads:
            self.heads = 1
        self.num_prefix = model.encoder.num_prefix
        self.embed = nn.Linear(model.encoder.dim, self.dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, self.dim))
        self.blocks = make_blocks(self.dim, self.depth, self.heads)
        self.norm = nn.LayerNorm(self.dim, eps=1e-6)
        self.pred = nn.Linear(self.dim, 1)
        self.pos = model.tokenizer.position(self.dim, False)
        self.apply(init_mae_weights)
        nn.init.normal_(self.mask_token, std=0.02)

    def predict(self, latents: Tensor, mask: Mask, tokens) -> Tensor:
        """latents [B,P+Nv,E] -> predicted loss score of every token [B,N], in token order."""
        x = self.embed(latents)
        prefix, visible = x[:, :self.num_prefix], x[:, self.num_prefix:]
        b, n = mask.restore.shape
        fill = self.mask_token.expand(b, n - visible.shape[1], -1)
        x = gather_tokens(torch.cat([visible, fill], dim=1), mask.restore) + self.pos(tokens)
        x = torch.cat([prefix, x], dim=1)
        for block in self.blocks:
            x = block(x)
        return self.pred(self.norm(x[:, self.num_prefix:])).squeeze(-1)

    def forward(self, ctx) -> dict[str, Tensor]:
        scores = torch.gather(self.predict(ctx.latents, ctx.mask, ctx.tokens), 1, ctx.mask.predict)  # [B,Np]
        return {"loss_prediction": self.weight * relative_loss(scores, ctx.token_loss)}
