"""CAE (row 5) alignment: the regressor's predicted latents of the hidden patches are pulled towards the
encoder's own latents of those patches (computed without gradient, as CAE's target branch)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import ExtraTerm
from .registry import TERMS


@TERMS.register("latent_alignment")
class LatentAlignment(ExtraTerm):
    """weight * || regressed - sg(encoder(hidden patches)) ||^2; reads `model.decoder.regressed`."""

    def __init__(self, weight: float = 2.0, name: str = "alignment"):
        super().__init__()
        self.weight, self.name = weight, name

    @staticmethod
    def encoder_latents(model, tokens, index: Tensor) -> Tensor:
        """The encoder's own latents of the tokens `index` [B,M] (it sees only those) -> [B,M,D]."""
        with torch.no_grad():
            z = model.encode_visible(tokens, index)
        return z[:, model.encoder.num_prefix:].detach()

    def forward(self, ctx) -> dict[str, Tensor]:
        regressed = getattr(ctx.model.decoder, "regressed", None)
        if regressed is None:
            raise ValueError("LatentAlignment needs a decoder with a latent regressor (CAEDecoder)")
        target = self.encoder_latents(ctx.model, ctx.tokens, ctx.mask.predict)
        return {self.name: self.weight * F.mse_loss(regressed, target)}
