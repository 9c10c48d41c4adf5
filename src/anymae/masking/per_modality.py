"""One masker per modality in a multi-modal token sequence (HiCMAE, row 16: tube masking at 90% for the
video tokens, AudioMAE's unstructured masking at 80% for the spectrogram tokens)."""
from __future__ import annotations

import torch
from torch import nn

from .base import Mask, Masker, check_sample_args


class PerModalityMasker(Masker):
    """{name: masker}: each masks its own modality's token grid; the masks are joined in the tokenizer's
    modality order, so every sample hides the same count of each modality's tokens.

    `bind(tokenizer)` (a MultiModalTokenizer) learns each modality's grid. `ratio` is the share of all tokens
    hidden when every modality is present. A sequence holding only some modalities (a probe of one) is masked
    with those modalities' maskers. Not in the `--masker` registry: it is built from other maskers.
    """

    def __init__(self, parts: dict[str, Masker]):
        super().__init__()
        if not parts:
            raise ValueError("a per-modality masker needs at least one modality's masker")
        self.parts = nn.ModuleDict(parts)
        self.grids: dict[str, tuple[int, ...]] = {}
        self.ratio = float("nan")

    def bind(self, tokenizer) -> None:
        missing = sorted(set(tokenizer.names) - set(self.parts))
        if missing:
            raise ValueError(f"no masker for modalities {missing}")
        self.grids = {n: tuple(tokenizer.parts[n].grid) for n in tokenizer.names}
        sizes = {n: count(g) for n, g in self.grids.items()}
        fixed = torch.Generator().manual_seed(0)  # counts only: the global random stream is left alone
        hidden = sum(sizes[n] - self.parts[n].sample(1, g, fixed).num_visible for n, g in self.grids.items())
        self.ratio = hidden / sum(sizes.values())

    def present(self, total: int) -> list[str]:
        """The modalities whose token counts add up to `total` (all, or a run of them in the tokenizer's order)."""
        names = list(self.grids)
        for i in range(len(names)):
            for j in range(i + 1, len(names) + 1):
                if sum(count(self.grids[n]) for n in names[i:j]) == total:
                    return names[i:j]
        raise ValueError(f"{total} tokens do not match the modalities' token counts "
                         f"{ {n: count(g) for n, g in self.grids.items()} }")

    def sample(self, batch_size: int, grid: tuple[int, ...], generator: torch.Generator | None = None,
               device="cpu") -> Mask:
        if not self.grids:
            raise ValueError("bind the per-modality masker to a multi-modal tokenizer first")
        total = check_sample_args(batch_size, grid)
        hidden = [self.parts[n].sample(batch_size, self.grids[n], generator, device).bool for n in self.present(total)]
        joined = torch.cat(hidden, dim=1)
        return Mask.from_bool(joined, num_hidden=int(joined[0].sum()) if batch_size else 0)

    def extra_repr(self) -> str:
        return f"ratio={self.ratio:.4f}"


def count(grid) -> int:
    n = 1
    for g in grid:
        n *= int(g)
    return n
