"""Skeleton masking (SkeletonMAE, PAPERS.md row 18): over a (time segment, joint) token grid, hide joints or
whole body parts across every frame, so a hidden joint must be rebuilt from the joints the graph joins it to."""
from __future__ import annotations

import torch

from .base import Mask, Masker, MaskerExample, check_sample_args, num_visible, uniform
from .registry import register_masker

MODES = ("part", "joint", "random")
# NTU RGB+D's body parts (torso + head, arms, legs), as tokenizers/skeleton.py; the masker's default for 25 joints
_NTU_PARTS = ((0, 1, 2, 3, 20), (4, 5, 6, 7, 21, 22), (8, 9, 10, 11, 23, 24), (12, 13, 14, 15), (16, 17, 18, 19))


@register_masker("skeleton")
class SkeletonMasker(Masker):
    """Masks of a (S, J) grid: rows are time segments, columns joints (token n = s*J + j).

    mode "part" (default): whole body parts in a random order per sample, then joints of the next part, until
    round(J * ratio) joints are hidden, each in every segment; "joint": round(J * ratio) random joints, hidden in
    every segment; "random": round(N * ratio) random tokens. Body parts come from the tokenizer (`bind`).
    """

    def __init__(self, ratio: float = 0.4, mode: str = "part"):
        super().__init__()
        num_visible(4, ratio)
        if mode not in MODES:
            raise ValueError(f"skeleton masking mode must be one of {', '.join(MODES)}, got {mode!r}")
        self.ratio, self.mode = ratio, mode
        self.parts: tuple[tuple[int, ...], ...] | None = None

    def bind(self, tokenizer) -> None:
        self.parts = getattr(tokenizer, "parts", None)

    @classmethod
    def example(cls, spatial: tuple[int, int] = (8, 25)) -> MaskerExample:
        return MaskerExample(grid=tuple(spatial), variants=[{"mode": m} for m in MODES],
                             note="rows: time segments, columns: joints (25 columns: NTU RGB+D's body parts)")

    def part_of_joint(self, joints: int, device) -> torch.Tensor:
        """[J] the body part of every joint (each joint its own part without a graph's parts)."""
        parts = self.parts if self.parts is not None and sum(map(len, self.parts)) == joints else \
            (_NTU_PARTS if joints == 25 else tuple((j,) for j in range(joints)))
        out = torch.empty(joints, dtype=torch.long)
        for p, members in enumerate(parts):
            out[list(members)] = p
        return out.to(device)

    def sample(self, batch_size: int, grid: tuple[int, ...], generator: torch.Generator | None = None,
               device="cpu") -> Mask:
        n = check_sample_args(batch_size, grid)
        if len(grid) != 2:
            raise ValueError(f"skeleton masking needs a (segments, joints) token grid, got {tuple(grid)}")
        segments, joints = (int(g) for g in grid)
        if self.mode == "random":
            order = torch.argsort(uniform((batch_size, n), generator, device), dim=1)
            return Mask.from_order(order, num_visible(n, self.ratio))
        hide = joints - num_visible(joints, self.ratio)
        noise = uniform((batch_size, joints), generator, device)                       # order inside a part
        if self.mode == "part":
            part = self.part_of_joint(joints, device)
            rank = uniform((batch_size, int(part.max()) + 1), generator, device)       # order of the parts
            noise = rank.gather(1, part.expand(batch_size, -1)) * 2 + noise * 1e-3     # parts first, then joints
        order = torch.argsort(noise, dim=1)
        hidden_joint = torch.zeros(batch_size, joints, dtype=torch.bool, device=device)
        hidden_joint.scatter_(1, order[:, :hide], True)
        hidden = hidden_joint[:, None, :].expand(-1, segments, -1).reshape(batch_size, n)
        return Mask.from_bool(hidden.contiguous(), num_hidden=hide * segments)

    def extra_repr(self) -> str:
        return f"ratio={self.ratio}, mode={self.mode!r}"
