"""Fourier-spectrum target (Masked Frequency Modeling, row 40): the loss lives in the frequency domain.

The decoder predicts pixels; the loss takes the 2-D spectrum of (prediction - image) over the tokens it
predicts and weighs only the hidden band of the spectrum when the masker hid one (`FrequencyMask.band`),
every frequency otherwise (then it equals the pixel MSE summed over the predicted tokens, by Parseval).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .registry import register_target
from ..losses.base import Loss
from .base import Target


class SpectrumLoss(Loss):
    """pred, target [B,Np,P] (pixel tokens), mask -> per-sample mean |FFT(error image)|^2 on the hidden band [B,1].

    It reads the Mask (`token_loss`). Tokens not predicted count as zero error.
    """

    def __init__(self, tokenizer: nn.Module):
        super().__init__()
        self._tokenizer = (tokenizer,)  # a tuple: the model owns the tokenizer

    def error_spectrum(self, pred: Tensor, target: Tensor, mask) -> Tensor:
        """-> complex spectrum [B,C,H,W] of the error image (zero outside the predicted tokens)."""
        tok = self._tokenizer[0]
        b, n = mask.restore.shape
        error = pred.new_zeros(b, n, pred.shape[-1], dtype=torch.float32)  # FFT in fp32, also under bf16 autocast
        error.scatter_(1, mask.predict.unsqueeze(-1).expand(-1, -1, pred.shape[-1]), (pred - target).float())
        return torch.fft.fft2(tok.unpatchify(error), norm="ortho")

    def token_loss(self, pred: Tensor, target: Tensor, mask, tokens) -> Tensor:
        return self(pred, target, mask, tokens)

    def forward(self, pred: Tensor, target: Tensor, mask, tokens=None) -> Tensor:
        power = self.error_spectrum(pred, target, mask).abs() ** 2                      # [B,C,H,W]
        band = getattr(mask, "band", None)
        if band is None:
            return power.flatten(1).mean(1, keepdim=True)
        weight = band.to(power.dtype).expand_as(power)
        return ((power * weight).flatten(1).sum(1) / weight.flatten(1).sum(1).clamp_min(1)).unsqueeze(1)


@register_target("frequency")
class FrequencyTarget(Target):
    """The clean image's own values per token [B,N,P]; its loss (`SpectrumLoss`) compares spectra."""

    def dim(self, tokenizer) -> int:
        return tokenizer.patch_dim

    def make_loss(self, tokenizer) -> nn.Module:
        return SpectrumLoss(tokenizer)

    def forward(self, x: Tensor, tokens) -> Tensor:
        return tokens.values
