"""Dual masking (VideoMAE V2, row 9): tube-masked encoder, running-cell-masked decoder."""
from __future__ import annotations

import torch

from .base import Mask, Masker, check_sample_args, num_visible, uniform
from .registry import make_masker, register_masker
from .running_cell import RunningCellMasker
from .tube import masker_example


@register_masker("dual")
class DualMasker(Masker):
    """The encoder sees what `encoder` (tube, 90%) leaves visible; the decoder reconstructs only the hidden
    tokens that a running-cell mask (`decoder_ratio`, 50%) leaves visible to it (`Mask.predict`).

    `predict` holds round(Nh * (1 - decoder_ratio)) hidden tokens per sample: exactly the hidden tokens
    outside the running-cell mask whenever the time slots cover whole cycles of the cell (T/t a multiple
    of cell^2, as 16 frames in tubelets of 2 with 2 x 2 cells) and the cell divides the spatial grid;
    otherwise the intersection's size varies per sample and it is topped up / trimmed at random so the
    batch stays rectangular. (The official code also decodes running-cell tokens the encoder saw; here
    the loss covers hidden tokens only, as MAE's.)
    With a decoder built with `decoder_masking=True` the decoder then runs on the visible and the
    predicted tokens only, which is where VideoMAE V2 saves its compute.
    """

    def __init__(self, ratio: float = 0.9, decoder_ratio: float = 0.5, encoder: str | Masker = "tube",
                 cell: int = 2):
        super().__init__()
        num_visible(4, ratio)  # validates the ratio (a number in (0, 1))
        self.encoder_masker = make_masker(encoder, ratio) if isinstance(encoder, str) else encoder
        self.decoder_masker = RunningCellMasker(decoder_ratio, cell)
        self.decoder_ratio = decoder_ratio

    @property
    def ratio(self) -> float:
        return self.encoder_masker.ratio

    @ratio.setter
    def ratio(self, value: float) -> None:
        self.encoder_masker.ratio = value

    @classmethod
    def example(cls, spatial: tuple[int, int] = (14, 14)):
        return masker_example((4, *spatial))

    def set_progress(self, fraction: float) -> None:
        """Mask-ratio schedules act on the encoder's masker."""
        self.progress = fraction
        if hasattr(self.encoder_masker, "set_progress"):
            self.encoder_masker.set_progress(fraction)

    def forward(self, tokens, generator: torch.Generator | None = None, scores=None) -> Mask:
        mask = self.encoder_masker(tokens, generator, scores=scores)
        return self.with_decoder_mask(mask, tokens.grid, generator)

    def sample(self, batch_size: int, grid: tuple[int, ...], generator: torch.Generator | None = None,
               device="cpu") -> Mask:
        check_sample_args(batch_size, grid)
        mask = self.encoder_masker.sample(batch_size, grid, generator, device)
        return self.with_decoder_mask(mask, grid, generator)

    def with_decoder_mask(self, mask: Mask, grid: tuple[int, ...], generator: torch.Generator | None) -> Mask:
        """mask (encoder) -> the same mask with `predict` [B,Np] the running-cell-visible hidden tokens."""
        b, n_hidden = mask.hidden.shape
        device = mask.hidden.device
        skipped = self.decoder_masker.hidden_bool(b, grid, generator, device)          # [B,N] decoder skips
        skipped_hidden = torch.gather(skipped, 1, mask.hidden)                         # [B,Nh]
        # rank hidden tokens: decoder-visible first (random order among equals), keep the first Np
        key = skipped_hidden.float() + 0.5 * uniform((b, n_hidden), generator, device)
        n_predict = max(1, int(round(n_hidden * (1.0 - self.decoder_ratio))))
        chosen = torch.argsort(key, dim=1)[:, :n_predict]
        predict = torch.gather(mask.hidden, 1, chosen).sort(dim=1).values
        return mask.with_predict(predict)

    def extra_repr(self) -> str:
        return f"decoder_ratio={self.decoder_ratio}"
