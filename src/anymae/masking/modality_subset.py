"""Whole-modality masks for imputation (BM-MAE, row 15): some steps keep every token of a random subset of the
modalities and hide the others whole, the setting in which a missing modality is imputed."""
from __future__ import annotations

import torch
from torch import Tensor

from .base import Mask, uniform
from .modality import ModalityMasker
from .registry import register_masker


def subset_mask(group: Tensor, batch_size: int, num_kept: int, generator: torch.Generator | None = None) -> Mask:
    """group [N] modality id per token -> Mask keeping every token of `num_kept` modalities per sample (a uniformly
    random subset of the modalities present, each row; the same subset for the whole batch when they differ in
    size, so that every row keeps as many tokens) and hiding, and predicting, every token of the others."""
    device = group.device
    sizes = torch.bincount(group)
    present = torch.nonzero(sizes).flatten()  # modality ids with tokens
    m = present.numel()
    if not 1 <= num_kept < m:
        raise ValueError(f"keep 1..{m - 1} of {m} modalities whole, got {num_kept}")
    rows = batch_size if bool((sizes[present] == sizes[present[0]]).all()) else 1
    kept = present[torch.argsort(uniform((max(rows, 1), m), generator, device), dim=1)[:, :num_kept]]  # [rows,k]
    visible = (group.view(1, -1, 1) == kept.view(-1, 1, num_kept)).any(-1)  # [rows,N]
    hidden = ~visible.expand(batch_size, -1) if rows else ~visible[:1].expand(0, -1)
    return Mask.from_bool(hidden, num_hidden=int((~visible[0]).sum()))


@register_masker("modality_subset")
class ModalitySubsetMasker(ModalityMasker):
    """With probability `whole` a step keeps k whole modalities (k uniform in 1..M-1, the same k for the batch)
    and predicts every token of the others (imputation); otherwise the modality masker's Dirichlet budget with
    whole-modality dropout (`ratio`, `alpha`, `drop`)."""

    def __init__(self, ratio: float = 0.75, alpha: float = 1.0, drop: float = 0.0, visible: int | None = None,
                 whole: float = 0.5):
        super().__init__(ratio, alpha, drop, visible)
        if not 0.0 <= whole <= 1.0:
            raise ValueError(f"whole must be in [0, 1], got {whole}")
        self.whole = whole

    @classmethod
    def example(cls, spatial: tuple[int, int] = (14, 14)):
        example = super().example(spatial)
        example.variants = [{"whole": 1.0}, {"whole": 0.0, "drop": 0.5}]
        return example

    def forward(self, tokens, generator: torch.Generator | None = None, scores: Tensor | None = None) -> Mask:
        if tokens.group is None:
            raise ValueError("modality masking needs tokens with a group (modality id) per token")
        group = tokens.group.to(tokens.embed.device)
        m = int((torch.bincount(group) > 0).sum())  # modalities present
        u = uniform((2,), generator, tokens.embed.device)
        if m < 2 or float(u[0]) >= self.whole:
            return super().forward(tokens, generator)
        num_kept = 1 + min(int(float(u[1]) * (m - 1)), m - 2)
        return subset_mask(group, tokens.batch_size, num_kept, generator)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, whole={self.whole}"
