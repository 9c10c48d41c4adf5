"""Position prediction (MP3, row 42): the encoder gets no position embedding; each visible token's
position is predicted from its content alone, as a classification over all N positions."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..losses import CrossEntropyLoss
from .base import Target
from .registry import register_target


@register_target("position")
class PositionTarget(Target):
    """-> each token's index in the grid [B,N,1] (stored as float); the decoder predicts N logits.

    `install(model)` turns any recipe into MP3: no position in the tokenizer, a linear head on the
    encoder's visible tokens (no decoder positions either) and `predict = keep`.
    """

    pixel_space = False  # predictions are not pixels: no reconstruction pictures

    def dim(self, tokenizer) -> int:
        return tokenizer.num_tokens

    def make_loss(self, tokenizer) -> nn.Module:
        return CrossEntropyLoss()

    def forward(self, x: Tensor, tokens) -> Tensor:
        b, n = tokens.batch_size, tokens.num_tokens
        return torch.arange(n, device=tokens.embed.device, dtype=torch.float32).view(1, n, 1).expand(b, n, 1)

    def install(self, model) -> None:
        from ..decoders.head import LinearHead
        from ..masking.visible import PredictVisible
        drop_positions(model.tokenizer)
        if not isinstance(model.masker, PredictVisible):
            model.masker = PredictVisible(model.masker)
        model.decoder = LinearHead()


def drop_positions(tokenizer) -> None:
    """Remove a tokenizer's position embedding (it then gives zeros), as MP3's encoder input."""
    if not hasattr(tokenizer, "pos"):
        raise ValueError(f"{type(tokenizer).__name__} has no position embedding to remove")
    tokenizer.pos = None
    tokenizer.use_pos = False


@torch.no_grad()
def position_accuracy(model, x: Tensor, generator: torch.Generator | None = None) -> float:
    """Share of visible tokens whose predicted position (argmax) is right."""
    out = model(x, generator=generator)
    return float((out.pred.argmax(-1) == out.target[..., 0].long()).float().mean())
