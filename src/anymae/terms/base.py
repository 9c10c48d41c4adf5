"""The extra-term stage (the seventh beside the six parts): what one forward made -> named, weighted
scalars added to the loss. Contract in docs/design.md."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn


@dataclass
class StepContext:
    """Everything one forward pass made, for extra terms. `model` gives the named steps
    (`tokenize`, `draw_mask`, `encode_visible`, `decode`, `targets_for`, `token_loss`) to run more views."""

    model: nn.Module
    x: Tensor
    tokens: object
    mask: object
    latents: Tensor      # [B,P+Nv,D] encoder output, visible tokens in `mask.keep` order
    pred: Tensor         # [B,Np,T] for `mask.predict`
    target: Tensor       # [B,Np,T]
    token_loss: Tensor   # [B,Np]
    generator: torch.Generator | None = None
    layers: dict | None = None  # {block index: [B,L,D]} encoder layer outputs a term asked for (`layers`)


class ExtraTerm(nn.Module):
    """Base of every extra term: `forward(ctx) -> {name: weighted scalar}`, each added to the loss and logged.

    `prepare(model)` may change the student before any part copies it; `bind(model)` creates layers that
    depend on the built model; `after_step()` runs after each optimizer step (EMA teachers)."""

    def prepare(self, model) -> None:
        """Change the student before any part copies it (MP3's task drops the encoder's positions)."""

    def bind(self, model) -> None:
        """Create what depends on the built model (heads sized to the encoder, EMA copies)."""

    def after_step(self) -> None:
        """Called after each optimizer step."""

    def forward(self, ctx: StepContext) -> dict[str, Tensor]:
        raise NotImplementedError
