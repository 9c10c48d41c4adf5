"""MaskedAutoencoder: Tokenizer -> Masker -> Encoder(visible only) -> Decoder, Target -> Loss."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from .decoders.mae import gather_tokens
from .masking.base import Mask
from .tokenizers.base import Tokens


@dataclass
class MAEOutput:
    """What one forward pass gives.

    loss        scalar: mean of `token_loss` plus any extra weighted terms
    token_loss  [B,Np] per predicted token
    pred        [B,Np,T] predictions for `mask.predict`
    target      [B,Np,T] targets for the same tokens
    mask        the Mask used
    latents     [B,P+Nv,D] encoder output (P prefix tokens, then visible tokens in `mask.keep` order)
    tokens      the Tokens of the input
    terms       named loss terms (detached), for logging
    """

    loss: Tensor
    token_loss: Tensor
    pred: Tensor
    target: Tensor
    mask: Mask
    latents: Tensor
    tokens: Tokens
    terms: dict[str, Tensor] = field(default_factory=dict)


class MaskedAutoencoder(nn.Module):
    """Wires the six parts of DESIGN.md; nothing else knows how a recipe is built."""

    def __init__(self, tokenizer: nn.Module, masker: nn.Module, encoder: nn.Module, decoder: nn.Module,
                 target: nn.Module, loss: nn.Module):
        super().__init__()
        if tokenizer.dim != encoder.dim:
            raise ValueError(f"tokenizer width {tokenizer.dim} != encoder width {encoder.dim}")
        self.tokenizer, self.masker, self.encoder = tokenizer, masker, encoder
        self.decoder, self.target, self.loss = decoder, target, loss
        decoder.bind(encoder.dim, target.dim(tokenizer), tokenizer.position(decoder.dim, decoder.learnable_pos))

    def forward(self, x: Tensor, generator: torch.Generator | None = None, mask: Mask | None = None) -> MAEOutput:
        """x: a batch of the tokenizer's modality (images [B,C,H,W], ...)."""
        tokens = self.tokenizer(x)
        if mask is None:
            mask = self.masker(tokens, generator)
        visible = gather_tokens(tokens.embed + tokens.pos, mask.keep)  # [B,Nv,D]: hidden tokens are dropped
        latents = self.encoder(visible)
        pred = self.decoder(latents, mask, tokens, self.encoder.num_prefix)
        with torch.no_grad():
            target = gather_tokens(self.target(x, tokens), mask.predict)
        token_loss = self.loss(pred, target)
        loss = token_loss.mean()
        return MAEOutput(loss=loss, token_loss=token_loss, pred=pred, target=target, mask=mask,
                         latents=latents, tokens=tokens, terms={"reconstruction": loss.detach()})

    def encode(self, x: Tensor) -> Tensor:
        """x -> latents of every token, no masking: [B,P+N,D] (P prefix tokens first)."""
        tokens = self.tokenizer(x)
        return self.encoder(tokens.embed + tokens.pos)

    def encode_layers(self, x: Tensor, layers) -> list[Tensor]:
        """x -> outputs of the given encoder blocks, no masking: each [B,P+N,D]."""
        tokens = self.tokenizer(x)
        return self.encoder(tokens.embed + tokens.pos, return_layers=layers)[1]

    @torch.no_grad()
    def reconstruct(self, x: Tensor, generator: torch.Generator | None = None, mask: Mask | None = None):
        """-> (mask, predicted values of every token [B,N,P] in the tokenizer's value space).

        The decoder predicts every token (visible ones too, as the MAE paper's figures show);
        norm-pix predictions are mapped back with each patch's own mean and std.
        """
        tokens = self.tokenizer(x)
        if mask is None:
            mask = self.masker(tokens, generator)
        everything = torch.arange(tokens.num_tokens, device=x.device).expand(tokens.batch_size, -1)
        out = self.forward(x, mask=mask.with_predict(everything))
        values = out.tokens.values
        pred = out.pred
        if getattr(self.target, "norm", False):
            mean, var = values.mean(-1, keepdim=True), values.var(-1, keepdim=True)
            pred = pred * (var + self.target.eps) ** 0.5 + mean
        return mask, pred
