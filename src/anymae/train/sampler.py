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


class ChunkSampler(EpochSampler):
    """EpochSampler's contract (indices `epoch * n + i`, `resume_at`) over a data set stored in chunks.

    Order of an epoch, all from (seed, epoch): the chunks in a random order; the samples of every
    `window` consecutive chunks shuffled together (all chunks when `window` is None: a full shuffle);
    then rank r takes the r-th contiguous block of `n // world` indices, so each rank reads about
    1/world of the chunks and, across ranks, every sample is drawn exactly once per epoch (the last
    `n % world` are left out, as EpochSampler leaves them). The order depends on the number of
    processes, so a run resumes on the same number (SamplerResume checks `same_world_to_resume`).
    `groups`: the data set's indices chunk by chunk (`ShardDataset.chunk_groups()`).
    """

    same_world_to_resume = True

    def __init__(self, groups: list[torch.Tensor], seed: int = 0, rank: int = 0, world: int = 1,
                 window: int | None = None):
        size = int(sum(len(g) for g in groups))
        super().__init__(size, seed=seed, shuffle=True, rank=rank, world=world)
        self.groups, self.window = [g.long() for g in groups], window

    def order(self) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.seed * 7919 + self.epoch)
        chunks = torch.randperm(len(self.groups), generator=g).tolist()
        window = self.window or len(chunks)
        parts = []
        for start in range(0, len(chunks), window):
            part = torch.cat([self.groups[c] for c in chunks[start:start + window]])
            parts.append(part[torch.randperm(len(part), generator=g)])
        order = torch.cat(parts)
        per_rank = self.size // self.world
        return order[self.rank * per_rank:(self.rank + 1) * per_rank]


def make_sampler(data, seed: int, rank: int, world: int) -> EpochSampler:
    """ChunkSampler for a data set stored in chunks (shards), EpochSampler otherwise."""
    if hasattr(data, "chunk_groups"):
        return ChunkSampler(data.chunk_groups(), seed=seed, rank=rank, world=world,
                            window=getattr(data, "shuffle_window", None))
    return EpochSampler(len(data), seed=seed, rank=rank, world=world)
