"""Hard patches mining (HPM, row 24): a loss-predictor head learns which tokens are hard to
reconstruct, and the masker hides the hardest ones, easy-to-hard over training.

- The head is the extra term `loss_prediction` (terms/loss_prediction.py), which this masker asks the
  model for (`term_specs`); it is trained with HPM's relative objective.
- `HardPatchMasker.scorer(model, tokens)` runs the encoder on every token and the head on the
  result (HPM scores the unmasked image), giving scores [B,N].
- The easy-to-hard schedule: of the Nh hidden tokens, the int(Nh * a) with the highest scores are
  hidden and the rest are drawn at random among the others, with a moving linearly from
  `hard_start` (0: random masking) to `hard_end` (HPM: 0.5) over training (`set_progress`).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from .base import Mask, Masker, MaskerExample, mask_from_permutation, num_visible, uniform, check_sample_args
from .registry import register_masker


@register_masker("hard_patch")
class HardPatchMasker(Masker):
    """HPM masking: hide the int(Nh * a) tokens with the highest predicted loss plus random others,
    a = hard_start -> hard_end linearly over training; exact count; ties broken at random.

    head_dim / head_depth / weight configure the loss predictor it asks the model for (`term_specs`).
    Before the trainer sets a progress (`set_progress`), the end of the schedule is used.
    """

    def __init__(self, ratio: float = 0.75, hard_start: float = 0.0, hard_end: float = 0.5,
                 head_dim: int | None = None, head_depth: int = 1, weight: float = 1.0):
        super().__init__()
        num_visible(4, ratio)
        for name, value in (("hard_start", hard_start), ("hard_end", hard_end)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"hard_patch masker: {name} must be in [0, 1], got {value}")
        self.ratio, self.hard_start, self.hard_end = ratio, hard_start, hard_end
        self.head_dim, self.head_depth, self.weight = head_dim, head_depth, weight

    @classmethod
    def example(cls, spatial=(14, 14)) -> MaskerExample:
        return MaskerExample(grid=tuple(spatial), scores=True, progress=1.0,
                             note="end of schedule; scores: patch contrast standing in for predicted loss")

    def term_specs(self) -> list[tuple[str, dict]]:
        return [("loss_prediction", {"dim": self.head_dim, "depth": self.head_depth, "weight": self.weight})]

    def hard_fraction(self) -> float:
        """a: the share of the hidden tokens chosen by score at the current progress."""
        p = 1.0 if self.progress is None else self.progress
        return self.hard_start + (self.hard_end - self.hard_start) * p

    def scorer(self, model, tokens) -> Tensor | None:
        """Predicted loss of every token [B,N]: the encoder on all tokens, then the loss predictor.
        None while the schedule still picks no token by score (no scoring pass is spent then)."""
        head = model.term_named("loss_prediction")
        if head is None:
            raise ValueError("hard_patch masker needs the loss_prediction term (LossPredictor) in the model "
                             "(MaskedAutoencoder.set_masker adds it, as `anymae pretrain --masker hard_patch` does)")
        num_keep = num_visible(tokens.num_tokens, self.ratio)
        if int((tokens.num_tokens - num_keep) * self.hard_fraction()) == 0:
            return None
        latents = model.encode_visible(tokens)
        everything = torch.arange(tokens.num_tokens, device=latents.device).expand(tokens.batch_size, -1)
        return head.predict(latents, Mask.from_order(everything, tokens.num_tokens), tokens)

    def forward(self, tokens, generator: torch.Generator | None = None, scores: Tensor | None = None) -> Mask:
        return self.sample(tokens.batch_size, tokens.grid, generator, tokens.embed.device, scores=scores)

    def sample(self, batch_size: int, grid: tuple[int, ...], generator: torch.Generator | None = None,
               device="cpu", scores: Tensor | None = None) -> Mask:
        check_sample_args(batch_size, grid)
        n = math.prod(grid)
        num_keep = num_visible(n, self.ratio)
        num_hard = int((n - num_keep) * self.hard_fraction())
        perm = torch.argsort(uniform((batch_size, n), generator, device), dim=1)  # a random order of tokens
        if num_hard == 0:
            return mask_from_permutation(perm, num_keep)
        if scores is None:
            raise ValueError("hard_patch masker needs per-token scores [B,N] once the schedule is past random")
        if tuple(scores.shape) != (batch_size, n):
            raise ValueError(f"hard_patch masker: scores must have shape {(batch_size, n)}, got {tuple(scores.shape)}")
        # the hardest tokens: top-k of the randomly permuted scores; whichever way top-k settles ties by
        # position, positions are in random order, so ties fall uniformly at random
        top = torch.topk(torch.gather(scores.to(device).float(), 1, perm), num_hard, dim=1).indices
        hard = torch.zeros(batch_size, n, dtype=torch.bool, device=device)
        hard.scatter_(1, torch.gather(perm, 1, top), True)
        # final order: the other tokens in random (perm) order, then the hard ones; the first num_keep are kept
        hard_in_perm = torch.gather(hard, 1, perm)
        position = torch.where(hard_in_perm, (n - num_hard) + torch.cumsum(hard_in_perm, 1) - 1,
                               torch.cumsum(~hard_in_perm, 1) - 1)
        order = torch.empty_like(perm).scatter_(1, position, perm)
        return mask_from_permutation(order, num_keep)

    def extra_repr(self) -> str:
        return f"ratio={self.ratio}, hard={self.hard_start}->{self.hard_end}"
