"""Hard patches mining (HPM, row 24): a loss-predictor head learns which tokens are hard to
reconstruct, and the masker hides the hardest ones, easy-to-hard over training.

- `LossPredictor` is an auxiliary loss part (`model.aux`): a light decoder over the encoder's
  latents (mask tokens at hidden slots, as the MAE decoder) that predicts a loss score per token.
  It is trained with HPM's relative objective: for every pair (i, j) of predicted tokens, a binary
  cross-entropy on sigmoid(s_j - s_i) against [loss_j > loss_i], so it learns the order of the
  losses, not their values. Its gradient also reaches the encoder, as in HPM.
- `HardPatchMasker.scorer(model, tokens)` runs the encoder on every token and the head on the
  result (HPM scores the unmasked image), giving scores [B,N].
- The easy-to-hard schedule: of the Nh hidden tokens, the int(Nh * a) with the highest scores are
  hidden and the rest are drawn at random among the others, with a moving linearly from
  `hard_start` (0: random masking) to `hard_end` (HPM: 0.5) over training (`set_progress`).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..encoders.vit import encode_tokens, init_mae_weights, make_blocks
from .base import Mask, Masker, MaskerExample, mask_from_permutation, num_visible, uniform, check_sample_args
from .registry import register_masker


def relative_loss(pred: Tensor, target: Tensor) -> Tensor:
    """HPM's relative objective. pred, target [B,M] -> scalar: mean over ordered pairs (i, j) with
    target_i != target_j of BCE(sigmoid(pred_j - pred_i), target_j > target_i)."""
    target = target.detach()
    above = target.unsqueeze(1) > target.unsqueeze(2)   # [B,i,j]: target_j > target_i
    valid = above | (target.unsqueeze(1) < target.unsqueeze(2))
    logits = pred.unsqueeze(1) - pred.unsqueeze(2)      # pred_j - pred_i
    per_pair = F.binary_cross_entropy_with_logits(logits, above.to(logits.dtype), reduction="none")
    return (per_pair * valid).sum() / valid.sum().clamp_min(1)


def gather_rows(x: Tensor, index: Tensor) -> Tensor:
    """x [B,N,D], index [B,M] -> [B,M,D]."""
    return torch.gather(x, 1, index.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


class LossPredictor(nn.Module):
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
        x = gather_rows(torch.cat([visible, fill], dim=1), mask.restore) + self.pos(tokens)
        x = torch.cat([prefix, x], dim=1)
        for block in self.blocks:
            x = block(x)
        return self.pred(self.norm(x[:, self.num_prefix:])).squeeze(-1)

    def forward(self, ctx) -> dict[str, Tensor]:
        scores = torch.gather(self.predict(ctx.latents, ctx.mask, ctx.tokens), 1, ctx.mask.predict)  # [B,Np]
        return {"loss_prediction": self.weight * relative_loss(scores, ctx.token_loss)}


def find_loss_predictor(model) -> LossPredictor:
    for part in getattr(model, "aux", []):
        if isinstance(part, LossPredictor):
            return part
    raise ValueError("hard_patch masker needs a LossPredictor in model.aux (install the masker with "
                     "anymae.masking.install_masker, or `anymae pretrain --masker hard_patch`)")


@register_masker("hard_patch")
class HardPatchMasker(Masker):
    """HPM masking: hide the int(Nh * a) tokens with the highest predicted loss plus random others,
    a = hard_start -> hard_end linearly over training; exact count; ties broken at random.

    head_dim / head_depth / weight configure the `LossPredictor` it adds to the model (`aux_parts`).
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

    def aux_parts(self) -> list[nn.Module]:
        return [LossPredictor(dim=self.head_dim, depth=self.head_depth, weight=self.weight)]

    def hard_fraction(self) -> float:
        """a: the share of the hidden tokens chosen by score at the current progress."""
        p = 1.0 if self.progress is None else self.progress
        return self.hard_start + (self.hard_end - self.hard_start) * p

    def scorer(self, model, tokens) -> Tensor | None:
        """Predicted loss of every token [B,N]: the encoder on all tokens, then the loss predictor.
        None while the schedule still picks no token by score (no scoring pass is spent then)."""
        head = find_loss_predictor(model)
        num_keep = num_visible(tokens.num_tokens, self.ratio)
        if int((tokens.num_tokens - num_keep) * self.hard_fraction()) == 0:
            return None
        latents = encode_tokens(model.encoder, tokens)
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
