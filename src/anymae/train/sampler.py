"""A seeded, resumable, rank-aware sampler whose indices also carry the epoch."""
from __future__ import annotations

import torch
from torch.utils.data import Sampler


class EpochSampler(Sampler[int]):
    """Yields `epoch * n + i`: the data set reads sample `i` with augmentations of `epoch`.

    Order is a permutation seeded by (seed, epoch), sharded over ranks (`perm[rank::world]`,
    trimmed to equal length), so every rank sees a distinct part and a resume replays it.
    `resume_at(epoch, skip)` makes the next pass over `epoch` start after its first `skip`
    indices (the samples a killed run had already trained on), so a mid-epoch resume continues
    the same order instead of restarting the epoch.
    """

    def __init__(self, size: int, seed: int = 0, shuffle: bool = True, rank: int = 0, world: int = 1):
        self.size, self.seed, self.shuffle, self.rank, self.world = size, seed, shuffle, rank, world
        self.epoch = 0
        self.resume: tuple[int, int] | None = None  # (epoch, indices to skip) for the next pass

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def resume_at(self, epoch: int, skip: int) -> None:
        """The next pass over `epoch` skips its first `skip` indices (a pass over another epoch forgets this)."""
        if skip < 0:
            raise ValueError(f"cannot skip a negative number of samples ({skip})")
        self.resume = (int(epoch), int(skip))

    def order(self) -> torch.Tensor:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 7919 + self.epoch)
            perm = torch.randperm(self.size, generator=g)
        else:
            perm = torch.arange(self.size)
        per_rank = self.size // self.world
        return perm[self.rank::self.world][:per_rank]

    def __iter__(self):
        indices = self.order() + self.epoch * self.size
        if self.resume is not None:
            epoch, skip = self.resume
            self.resume = None
            if epoch == self.epoch:
                indices = indices[skip:]
        return iter(indices.tolist())

    def __len__(self) -> int:
        return self.size // self.world
