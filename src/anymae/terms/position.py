"""MP3's position task (row 42) as an extra term on any recipe: the encoder gets no position embedding
and a linear head classifies each visible token's grid index from its latent."""
from __future__ import annotations

from torch import Tensor, nn

from ..losses import CrossEntropyLoss
from ..targets.position import drop_positions
from .base import ExtraTerm
from .registry import TERMS


@TERMS.register("position")
class PositionPrediction(ExtraTerm):
    """MP3's task as an extra loss on any recipe (the localisation lever of SDMAE for small data): the
    encoder gets no position embedding, and a linear head classifies each visible token's grid index
    from its latent. weight * mean cross-entropy over the visible tokens; the decoder keeps its own
    positions, so the recipe's target (pixels) is unchanged."""

    def __init__(self, weight: float = 1.0, name: str = "position"):
        super().__init__()
        self.weight, self.name = weight, name
        self.head: nn.Module | None = None
        self.loss = CrossEntropyLoss()

    def prepare(self, model) -> None:
        drop_positions(model.tokenizer)  # before EMA teachers copy the student (MaskedAutoencoder's order)

    def bind(self, model) -> None:
        self.head = nn.Linear(model.encoder.dim, model.tokenizer.num_tokens)

    def forward(self, ctx) -> dict[str, Tensor]:
        visible = ctx.latents[:, ctx.model.encoder.num_prefix:]               # [B,Nv,D], keep order
        logits = self.head(visible)                                          # [B,Nv,N]
        per_token = self.loss(logits, ctx.mask.keep.unsqueeze(-1).float())   # [B,Nv]
        return {self.name: self.weight * per_token.mean()}
