"""Text maskers: BERT's masked-LM corruption (ratio, 80/10/10 replacement), span masking, and RetroMAE's
asymmetric masking (PAPERS.md row 2): a light ratio for the encoder's input and, for the one-layer decoder,
a heavy ratio applied per row of its attention (enhanced decoding: each token sees its own random context).

Only ordinary tokens are ever chosen: never [CLS], [SEP] or [PAD]."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .base import uniform


def choose_tokens(ordinary: Tensor, ratio: float, generator: torch.Generator | None, span: int = 1) -> Tensor:
    """ordinary [...,L] bool -> chosen [...,L] bool: exactly round(ratio * n) of each row's n ordinary tokens
    (at least one when n >= 1). `span` > 1: whole runs of `span` consecutive tokens (a random offset per row)
    are chosen together, the last run possibly cut (span masking)."""
    if not 0.0 < ratio < 1.0:
        raise ValueError(f"mask ratio must be in (0, 1), got {ratio!r}")
    scores = uniform(ordinary.shape, generator, ordinary.device)
    if span > 1:
        length = ordinary.shape[-1]
        offset = (uniform(ordinary.shape[:-1] + (1,), generator, ordinary.device) * span).long()
        block = (torch.arange(length, device=ordinary.device) + offset) // span          # [...,L]
        block_scores = uniform(ordinary.shape[:-1] + (length // span + 2,), generator, ordinary.device)
        scores = torch.gather(block_scores, -1, block) + scores * 1e-3                    # ties: in-run order
    scores = scores.masked_fill(~ordinary, 2.0)
    rank = scores.argsort(-1).argsort(-1)
    count = ordinary.sum(-1, keepdim=True)
    k = torch.where(count > 0, (count * ratio).round().clamp_min(1), count)
    return rank < k


class MLMMasker(nn.Module):
    """BERT's masked-LM (Devlin et al.; RetroMAE's encoder side): choose `ratio` of the ordinary tokens
    (in runs of `span` for span masking); of those, 80% become [MASK], 10% a random token, 10% stay."""

    def __init__(self, ratio: float = 0.15, span: int = 1, replace: tuple[float, float] = (0.8, 0.1)):
        super().__init__()
        self.ratio, self.span, self.replace = ratio, span, tuple(replace)

    def corrupt(self, ids: Tensor, ordinary: Tensor, mask_id: int, vocab_size: int,
                generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """ids [B,L] -> (corrupted ids [B,L], chosen [B,L] bool: the tokens the MLM loss covers)."""
        chosen = choose_tokens(ordinary, self.ratio, generator, self.span)
        u = uniform(ids.shape, generator, ids.device)
        to_mask = chosen & (u < self.replace[0])
        to_random = chosen & (u >= self.replace[0]) & (u < self.replace[0] + self.replace[1])
        gen_device = generator.device if generator is not None else ids.device
        random_ids = torch.randint(0, vocab_size, ids.shape, generator=generator, device=gen_device).to(ids.device)
        out = torch.where(to_mask, torch.full_like(ids, mask_id), ids)
        return torch.where(to_random, random_ids, out), chosen

    def set_progress(self, fraction: float) -> None:
        """A fixed ratio: the trainer's progress changes nothing."""


class AsymmetricTextMasker(MLMMasker):
    """RetroMAE's asymmetric masking: the encoder's input is corrupted at `ratio` (light, 15-30%); the
    decoder reconstructs from [CLS] and a context masked at `decoder_ratio` (heavy, 50-70%), drawn anew for
    every row of its attention (enhanced decoding)."""

    def __init__(self, ratio: float = 0.3, decoder_ratio: float = 0.5, span: int = 1):
        super().__init__(ratio, span)
        if not 0.0 < decoder_ratio < 1.0:
            raise ValueError(f"decoder mask ratio must be in (0, 1), got {decoder_ratio!r}")
        self.decoder_ratio = decoder_ratio

    def context(self, ordinary: Tensor, valid: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """-> allowed [B,L,L] bool: row i (the query predicting token i) may attend to key j. Each row hides
        exactly round(decoder_ratio * n) ordinary tokens drawn for that row alone, and its own token; keys
        [CLS] (position 0: the sentence embedding) and [SEP] stay visible, pads never are."""
        batch, length = ordinary.shape
        rows = ordinary[:, None, :].expand(batch, length, length)
        hidden = choose_tokens(rows, self.decoder_ratio, generator)
        allowed = valid[:, None, :] & ~hidden
        allowed = allowed & ~torch.eye(length, dtype=torch.bool, device=ordinary.device)
        allowed[:, :, 0] = True  # [CLS]: the bottleneck every row reads
        return allowed


class CausalInputMasker(nn.Module):
    """MEAP (PAPERS.md row 38): replace `ratio` of each row's ordinary tokens by [MASK] in the input of a
    decoder-only LM, which still predicts every next token of the clean sequence (the masked tokens' own
    ids included). No 80/10/10: every chosen token becomes [MASK] (scitix/MEAP's pretraining)."""

    def __init__(self, ratio: float = 0.1):
        super().__init__()
        self.ratio = ratio

    def corrupt(self, ids: Tensor, ordinary: Tensor, mask_id: int, vocab_size: int,
                generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """ids [B,L] -> (input ids [B,L], chosen [B,L] bool); ratio 0: the input unchanged (plain NTP)."""
        if self.ratio == 0:
            return ids, torch.zeros_like(ordinary)
        chosen = choose_tokens(ordinary, self.ratio, generator)
        return ids.masked_fill(chosen, mask_id), chosen

    def set_progress(self, fraction: float) -> None:
        """A fixed ratio."""
