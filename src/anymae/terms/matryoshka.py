"""Starbucks' 2-D Matryoshka masked autoencoding (SMAE, PAPERS.md row 27): the masked-language losses of
several (layer, width) sub-models of one BERT encoder, all in every step.

For each pair (l, w) of a fixed list, small to large (the paper's finding: a fixed list, all pairs every
step, beats sampling one), the first w dimensions of layer l's output are
- the encoder's MLM: through the shared MLM head (its dense layer reads its first w input columns) on the
  tokens the encoder's masker chose;
- the MAE loss: that sub-model's [CLS] (through the head's transform, back to the full width) replaces the
  [CLS] of a second, more heavily masked copy of the input, which a one-layer BERT decoder reads (plain
  self-attention over the non-pad tokens) to predict its masked tokens.
Each pair contributes (MLM + MAE) / 2 / pairs, as ielab/Starbucks `smae/modelling.py` does; one named
term per pair."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..masking.text import MLMMasker
from .base import ExtraTerm
from .registry import TERMS


def check_pairs(pairs, depth: int, dim: int) -> tuple[tuple[int, int], ...]:
    """pairs ((layer, width), ...) with 1 <= layer <= depth and 1 <= width <= dim, else ValueError."""
    pairs = tuple((int(layer), int(width)) for layer, width in pairs)
    if not pairs:
        raise ValueError("Starbucks needs at least one (layer, width) pair")
    for layer, width in pairs:
        if not (1 <= layer <= depth and 1 <= width <= dim):
            raise ValueError(f"(layer, width) pair ({layer}, {width}) is outside the encoder's {depth} layers "
                             f"x {dim} dimensions")
    return pairs


@TERMS.register("matryoshka_mlm")
class MatryoshkaMLMTerm(ExtraTerm):
    """pairs ((layer 1-based, width), ...); decoder: one BERT layer (x [B,L,D], allowed [B,1,1,L] -> [B,L,D]);
    decoder_masker: the heavier MLM corruption of the decoder's copy of the input. Reads `ctx.layers`
    (the model runs the encoder once and hands over the layers named in `self.layers`)."""

    def __init__(self, pairs, decoder: nn.Module, decoder_masker: MLMMasker, weight: float = 1.0):
        super().__init__()
        self.pairs = tuple((int(layer), int(width)) for layer, width in pairs)
        self.layers = sorted({layer - 1 for layer, _ in self.pairs})   # block indices the term reads
        self.decoder, self.decoder_masker, self.weight = decoder, decoder_masker, weight

    def forward(self, ctx) -> dict[str, Tensor]:
        model, ids, chosen = ctx.model, ctx.x, ctx.mask
        valid, ordinary = ctx.tokens.extra["valid"], ctx.tokens.extra["ordinary"]
        tok = model.tokenizer
        dec_ids, dec_chosen = self.decoder_masker.corrupt(ids, ordinary, tok.mask_id, tok.vocab_size, ctx.generator)
        dec_embed = model.embed_for_decoder(tok(dec_ids))                             # [B,L,D]
        allowed = valid[:, None, None, :]
        out = {}
        for layer, width in self.pairs:
            sub = ctx.layers[layer - 1][..., :width]                                  # [B,L,w]
            mlm = F.cross_entropy(model.head(sub[chosen]).float(), ids[chosen])
            cls = model.head.transform(sub[:, :1])                                    # [B,1,D]
            hidden = self.decoder(torch.cat([cls, dec_embed[:, 1:]], dim=1), allowed)
            mae = F.cross_entropy(model.head(hidden[dec_chosen]).float(), ids[dec_chosen])
            out[f"starbucks_l{layer}_w{width}"] = self.weight * (mlm + mae) / (2 * len(self.pairs))
        return out

