"""MixedAE (PAPERS.md row 11): image mixing as MAE's masking, with a source map for homologous recognition.

Each image of the batch is mixed with `group - 1` others at the patch level: it keeps round(N(1-ratio))
of its own patches at random positions and the rest of the grid is split between its partners (drawn
by a random cycle over the batch). The encoder sees the whole mixed image; the decoder reconstructs the
image from its own tokens, the partners' positions being its hidden tokens (MixedAE's "mixing as
masking": at ratio 0.75 four images share one grid). `MixMask.source` [B,N] says which image of the batch
each token came from: the homologous-recognition term (terms/homologous.py) asks every token to recognise
the tokens of its own source.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import Mask, Masker, MaskerExample, check_sample_args, mask_from_permutation, num_visible, uniform
from .registry import register_masker


@dataclass
class MixMask(Mask):
    """The encoder's view (`keep` = every token of the mixed input) plus `own`, each image's MAE mask
    (keep = the positions holding its own patches, hidden = its partners' positions; `predict` likewise),
    and `source` [B,N], the batch index of the image each mixed token comes from."""

    own: Mask | None = None
    source: Tensor | None = None

    def with_predict(self, predict: Tensor) -> "MixMask":
        return MixMask(self.keep, self.hidden, self.restore, self.bool, predict, own=self.own.with_predict(predict),
                       source=self.source)

    def to(self, device) -> "MixMask":
        base = super().to(device)
        return MixMask(base.keep, base.hidden, base.restore, base.bool, base.predict, own=self.own.to(device),
                       source=self.source.to(device))


def mixing_sources(batch: int, num_tokens: int, num_own: int, group: int, generator, device) -> tuple[Tensor, Mask]:
    """-> (source [B,N] batch index of each position's patch, own Mask). Row j keeps `num_own` of its own
    positions; the other positions go in near-equal runs to its `group - 1` partners, the next images of a
    random cycle through the batch."""
    if batch < 2:
        raise ValueError("mixing masker (MixedAE) needs at least 2 images in a batch to mix")
    own = mask_from_permutation(torch.argsort(uniform((batch, num_tokens), generator, device), dim=1), num_own)
    cycle = torch.argsort(uniform((batch,), generator, device))         # a random cycle over the batch
    place = torch.argsort(cycle)                                         # row j sits at place[j] in the cycle
    partners = torch.stack([cycle[(place + r) % batch] for r in range(1, group)], dim=1)  # [B,group-1]
    others = num_tokens - num_own
    run = torch.arange(others, device=device) * (group - 1) // others   # [Nh] which partner fills each slot
    source = torch.empty(batch, num_tokens, dtype=torch.long, device=device)
    source.scatter_(1, own.keep, torch.arange(batch, device=device).unsqueeze(1).expand(-1, num_own))
    source.scatter_(1, own.hidden, partners[:, run])
    return source, own


@register_masker("mixing")
class MixingMasker(Masker):
    """MixedAE's mixing: each image keeps round(N(1-ratio)) own patches, `group` = round(1/(1-ratio)) images
    share a grid. `corrupt(x, generator) -> (mixed x, MixMask)`; without an input to mix (pictures, tools)
    the masker gives the image's own mask, a random mask at the ratio."""

    corrupts_input = True

    def __init__(self, ratio: float = 0.75, group: int | None = None, grid: tuple[int, int] | None = None):
        super().__init__()
        num_visible(4, ratio)
        self.ratio = ratio
        self.group = group or max(2, round(1.0 / (1.0 - ratio)))
        self.grid = tuple(grid) if grid else None   # the token grid (a model binds it; pictures may give it)

    @classmethod
    def example(cls, spatial=(14, 14)) -> MaskerExample:
        return MaskerExample(grid=tuple(spatial), variants=[{"grid": tuple(spatial)}],
                             note="mixed copies of one picture: each keeps its own cells, partners fill the rest")

    def bind(self, owner) -> None:
        grid = tuple(getattr(owner, "tokenizer", owner).grid)
        if len(grid) != 2:
            raise ValueError(f"mixing masker (MixedAE) mixes 2-D patch grids, got a token grid {grid}")
        self.grid = grid

    def corrupt(self, x: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, MixMask]:
        """x [B,C,H,W] -> (mixed images [B,C,H,W], MixMask); patch p of mixed row j is patch p of x[source[j,p]]."""
        if not isinstance(x, Tensor) or x.ndim != 4:
            raise ValueError(f"mixing masker (MixedAE) mixes images [B,C,H,W], got {getattr(x, 'shape', type(x))}")
        if self.grid is None:
            raise ValueError("mixing masker is not bound to a patch tokenizer (MaskedAutoencoder binds it)")
        b, n = x.shape[0], self.grid[0] * self.grid[1]
        source, own = mixing_sources(b, n, num_visible(n, self.ratio), self.group, generator, x.device)
        pixels = F.interpolate(source.reshape(b, 1, *self.grid).float(), size=x.shape[-2:], mode="nearest")
        pixels = pixels[:, 0].long()                                       # [B,H,W] the source of each pixel
        rows = torch.arange(x.shape[2], device=x.device).unsqueeze(1)
        cols = torch.arange(x.shape[3], device=x.device).unsqueeze(0)
        mixed = x.permute(0, 2, 3, 1)[pixels, rows, cols].permute(0, 3, 1, 2)
        everything = torch.arange(n, device=x.device).expand(b, -1)
        return mixed, MixMask(everything, own.hidden, own.restore, own.bool, own.hidden, own=own, source=source)

    def sample(self, batch_size: int, grid: tuple[int, ...], generator: torch.Generator | None = None,
               device="cpu", noise: Tensor | None = None) -> Mask:
        n = check_sample_args(batch_size, grid)
        if noise is None:
            noise = uniform((batch_size, n), generator, device)
        return mask_from_permutation(torch.argsort(noise, dim=1), num_visible(n, self.ratio))

    def extra_repr(self) -> str:
        return f"ratio={self.ratio}, group={self.group}, grid={self.grid}"
