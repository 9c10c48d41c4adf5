"""The Target contract: the sample / Tokens (/ a teacher) -> per-token targets [B,N,T], with its loss."""
from __future__ import annotations

from torch import Tensor, nn


class Target(nn.Module):
    """Base of every target. `forward(x, tokens) -> [B,N,T]` for every token; the model gathers the
    predicted ones. The hooks below default to doing nothing; a target overrides the ones it needs."""

    pixel_space = True  # predictions are the tokenizer's values (reconstruction pictures can be drawn)

    def dim(self, tokenizer) -> int:
        """T: values per token the decoder must predict."""
        raise NotImplementedError

    def make_loss(self, tokenizer) -> nn.Module:
        """The loss that goes with this target when it is swapped into a recipe (`--target`)."""
        from ..losses import MSELoss
        return MSELoss()

    def install(self, model) -> None:
        """Structural needs when swapped into a built model (MP3's position target drops positions)."""

    def prepare(self, model) -> None:
        """Change the student before any part copies it (called before every `bind`)."""

    def bind(self, model) -> None:
        """Read the built student (EMA teachers copy it here)."""

    def after_step(self) -> None:
        """Called after each optimizer step (EMA teachers update)."""

    def monitor(self, target: Tensor) -> dict[str, Tensor]:
        """Logged, never added to the loss (collapse guards)."""
        return {}

    def invert(self, pred: Tensor, values: Tensor) -> Tensor:
        """pred [B,N,T] -> the tokenizer's value space [B,N,P], for pictures (`values`: the tokens' own)."""
        return pred
