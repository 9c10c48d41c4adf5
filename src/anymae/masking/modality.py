"""Modality masking: MultiMAE's Dirichlet budget (row 50) with whole-modality dropout (BM-MAE row 15,
PHG-MAE row 35)."""
from __future__ import annotations

import torch
from torch import Tensor

from .base import Mask, Masker, num_visible, uniform
from .registry import register_masker


def normal(shape, generator: torch.Generator | None, device) -> Tensor:
    gen_device = generator.device if generator is not None else device
    return torch.randn(shape, generator=generator, device=gen_device).to(device)


def gamma(shape_param: Tensor, generator: torch.Generator | None) -> Tensor:
    """Gamma(shape_param, 1) draws, same shape, from `generator` (Marsaglia-Tsang; boosted below 1)."""
    device = shape_param.device
    a = shape_param.clamp_min(1e-6)
    boost = a < 1
    d = torch.where(boost, a + 1, a) - 1.0 / 3.0
    c = 1.0 / torch.sqrt(9.0 * d)
    out = torch.zeros_like(a)
    todo = torch.ones_like(a, dtype=torch.bool)
    for _ in range(100):
        x = normal(a.shape, generator, device)
        v = (1 + c * x) ** 3
        u = uniform(a.shape, generator, device)
        ok = (v > 0) & (u.clamp_min(1e-12).log() < 0.5 * x * x + d - d * v + d * v.clamp_min(1e-12).log())
        take = todo & ok
        out = torch.where(take, d * v, out)
        todo = todo & ~ok
        if not bool(todo.any()):
            break
    u = uniform(a.shape, generator, device).clamp_min(1e-12)
    return torch.where(boost, out * u ** (1.0 / a), out)


def dirichlet(alpha: Tensor, generator: torch.Generator | None) -> Tensor:
    """alpha [B,M] -> proportions [B,M] summing to 1 (normalised Gamma draws)."""
    g = gamma(alpha, generator)
    total = g.sum(-1, keepdim=True)
    fallback = torch.full_like(g, 1.0 / g.shape[-1])
    return torch.where(total > 0, g / total.clamp_min(1e-30), fallback)


def split_budget(proportions: Tensor, capacity: Tensor, budget: int) -> Tensor:
    """proportions [B,M], capacity [B,M] tokens each modality holds -> counts [B,M] summing to `budget`.

    Largest-remainder rounding; counts above a modality's capacity spill over to the others with room.
    """
    raw = proportions * budget
    counts = raw.floor()
    left = budget - counts.sum(-1, keepdim=True)                       # [B,1] units still to give
    order = torch.argsort(raw - counts, dim=-1, descending=True)
    rank = torch.argsort(order, dim=-1)
    counts = counts + (rank < left).float()
    capacity = capacity.float()
    for _ in range(proportions.shape[-1] + 1):
        spill = (counts - capacity).clamp_min(0).sum(-1, keepdim=True)
        counts = torch.minimum(counts, capacity)
        if not bool((spill > 0).any()):
            break
        room = capacity - counts
        # give the spill to the modality with the most room first, then the next, ...
        roomiest = torch.argsort(room, dim=-1, descending=True)
        room_sorted = torch.gather(room, -1, roomiest)
        before = room_sorted.cumsum(-1) - room_sorted
        give_sorted = (spill - before).clamp_min(0).minimum(room_sorted)
        counts = counts + torch.zeros_like(counts).scatter(-1, roomiest, give_sorted)
    return counts.long()


def modality_mask(group: Tensor, counts: Tensor, generator: torch.Generator | None = None) -> Mask:
    """group [N] modality id per token, counts [B,M] visible tokens per modality -> Mask.

    Within each modality the visible tokens are a uniformly random subset of the asked size.
    """
    b, m = counts.shape
    device = counts.device
    group = group.to(device)
    n = group.numel()
    noise = uniform((b, n), generator, device)
    order = torch.argsort(group.float() * 2.0 + noise, dim=1)           # by modality, then random
    sizes = torch.bincount(group, minlength=m)
    start = sizes.cumsum(0) - sizes                                      # first slot of each modality
    ranked_group = group[order]                                          # [B,N]
    rank_in_modality = torch.arange(n, device=device).expand(b, -1) - start[ranked_group]
    keep_sorted = rank_in_modality < torch.gather(counts, 1, ranked_group)
    keep = torch.zeros(b, n, dtype=torch.bool, device=device).scatter(1, order, keep_sorted)
    return Mask.from_bool(~keep)


def present_mask(group: Tensor, batch_size: int, visible: list[int], predict: list[int] | None = None) -> Mask:
    """Keep every token of the `visible` modality ids, hide the rest; predict the hidden tokens of `predict`
    (all hidden ones when None). Used to predict a missing modality from the present ones."""
    group = group.view(1, -1).expand(batch_size, -1)
    visible_t = torch.tensor(visible, device=group.device)
    hidden = ~torch.isin(group, visible_t)
    mask = Mask.from_bool(hidden)
    if predict is None:
        return mask
    wanted = torch.isin(group.gather(1, mask.hidden), torch.tensor(predict, device=group.device))
    count = int(wanted[0].sum())
    predict_idx = torch.sort((~wanted).to(torch.int8), dim=1, stable=True).indices[:, :count]
    return mask.with_predict(mask.hidden.gather(1, predict_idx))


@register_masker("modality")
class ModalityMasker(Masker):
    """Tokens with `group` = modality id (MultiModalTokenizer). Each sample keeps `budget` tokens
    (round(N(1-ratio)), or `visible` when given) split over the modalities by Dirichlet(alpha)
    proportions (MultiMAE: small alpha puts most of the budget on one modality, large alpha spreads
    it evenly). With `drop` > 0 each present modality is dropped whole with that probability (at
    least one stays; a sample whose survivors cannot hold the budget keeps them all), so the model
    learns to work with modalities missing (BM-MAE, PHG-MAE).
    """

    def __init__(self, ratio: float = 0.75, alpha: float = 1.0, drop: float = 0.0, visible: int | None = None):
        super().__init__()
        num_visible(4, ratio)
        if alpha <= 0:
            raise ValueError(f"alpha must be positive, got {alpha}")
        if not 0.0 <= drop < 1.0:
            raise ValueError(f"drop must be in [0, 1), got {drop}")
        if visible is not None and visible < 1:
            raise ValueError(f"visible must be at least 1, got {visible}")
        self.ratio, self.alpha, self.drop, self.visible = ratio, alpha, drop, visible

    @classmethod
    def example(cls, spatial: tuple[int, int] = (14, 14)):
        """For the mask gallery (`MaskerExample` protocol of masking/base.py): 3 modalities side by side."""
        from .base import MaskerExample
        group = torch.arange(3).repeat_interleave(spatial[0] * spatial[1])
        return MaskerExample(grid=(3, *spatial), group=group,
                             variants=[{"alpha": 0.2}, {"alpha": 1.0}, {"alpha": 10.0}, {"alpha": 1.0, "drop": 0.5}],
                             note="3 modalities of one image, one panel each")

    def budget(self, num_tokens: int) -> int:
        if self.visible is not None:
            if self.visible > num_tokens:
                raise ValueError(f"visible={self.visible} is more than the {num_tokens} tokens of the sample")
            return self.visible
        return num_visible(num_tokens, self.ratio)

    def counts(self, sizes: Tensor, batch_size: int, generator: torch.Generator | None = None) -> Tensor:
        """sizes [M] tokens per modality -> visible counts [B,M] (sum = budget in every row)."""
        device = sizes.device
        m = sizes.numel()
        budget = self.budget(int(sizes.sum()))
        present = (sizes > 0).expand(batch_size, -1)
        alive = present.clone()
        if self.drop > 0:
            u = uniform((batch_size, m), generator, device)
            alive = present & (u >= self.drop)
            none_left = ~alive.any(-1, keepdim=True)
            rescue = u.masked_fill(~present, -1.0).argmax(-1, keepdim=True)      # one present modality
            alive = alive | (none_left & torch.zeros_like(alive).scatter(1, rescue, True))
            too_small = (alive * sizes).sum(-1, keepdim=True) < budget
            alive = torch.where(too_small, present, alive)
        alpha = torch.full((batch_size, m), float(self.alpha), device=device)
        proportions = dirichlet(alpha, generator) * alive
        proportions = proportions / proportions.sum(-1, keepdim=True).clamp_min(1e-30)
        return split_budget(proportions, alive * sizes, budget)

    def forward(self, tokens, generator: torch.Generator | None = None, scores: Tensor | None = None) -> Mask:
        if tokens.group is None:
            raise ValueError("modality masking needs tokens with a group (modality id) per token")
        group = tokens.group.to(tokens.embed.device)
        sizes = torch.bincount(group, minlength=int(group.max()) + 1)
        return modality_mask(group, self.counts(sizes, tokens.batch_size, generator), generator)

    def extra_repr(self) -> str:
        return f"ratio={self.ratio}, alpha={self.alpha}, drop={self.drop}, visible={self.visible}"
