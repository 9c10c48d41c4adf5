"""Losses for several modalities in one prediction tensor (MultiMAE, row 50): each predicted token
is scored by its own modality's loss (MSE for pixels and depth, cross-entropy for class maps)."""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn
from .base import Loss


class PixelCrossEntropy(Loss):
    """pred [B,M,p*p*K] class scores laid out (pixel, class), target [B,M,p*p] class ids -> [B,M] mean CE."""

    def __init__(self, classes: int):
        super().__init__()
        self.classes = classes

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        b, m, area = target.shape
        logits = pred.reshape(b, m, area, self.classes)
        ce = F.cross_entropy(logits.reshape(-1, self.classes), target.reshape(-1).long(), reduction="none")
        return ce.view(b, m, area).mean(-1)


class MultiModalLoss(Loss):
    """{name: loss} in the tokenizer's modality order -> per-token loss [B,Np].

    `pred_widths` / `target_widths` give each modality's slice of the padded tensors. The model passes
    the mask and tokens (`token_loss`), so each predicted token is scored by the loss of its group.
    """

    def __init__(self, parts: dict[str, nn.Module], pred_widths: dict[str, int], target_widths: dict[str, int],
                 weights: dict[str, float] | None = None):
        super().__init__()
        self.parts = nn.ModuleDict(parts)
        self.names = list(parts)
        self.pred_widths, self.target_widths = dict(pred_widths), dict(target_widths)
        self.weights = {n: float((weights or {}).get(n, 1.0)) for n in self.names}

    def forward_group(self, pred: Tensor, target: Tensor, group: Tensor) -> Tensor:
        token_loss = pred.new_zeros(group.shape)
        for m, name in enumerate(self.names):
            sel = group == m
            if not bool(sel.any()):
                continue
            p, t = pred[sel][:, :self.pred_widths[name]], target[sel][:, :self.target_widths[name]]  # [S,w]
            value = self.parts[name](p.unsqueeze(0), t.unsqueeze(0)).squeeze(0)                       # [S]
            token_loss = token_loss.masked_scatter(sel, self.weights[name] * value)
        return token_loss

    def token_loss(self, pred: Tensor, target: Tensor, mask, tokens) -> Tensor:
        return self(pred, target, mask, tokens)

    def forward(self, pred: Tensor, target: Tensor, mask=None, tokens=None) -> Tensor:
        if mask is None or tokens is None or tokens.group is None:
            raise ValueError("a multi-modal loss needs the mask and the tokens' modality ids")
        return self.forward_group(pred, target, tokens.group.to(pred.device)[mask.predict])
