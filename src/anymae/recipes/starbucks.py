"""Starbucks (PAPERS.md row 27): 2-D Matryoshka masked-autoencoder pretraining (SMAE) of a BERT encoder.

Facts from ielab/Starbucks (`smae/modelling.py`, `smae/pretrain_smae.sh`): the (layer, width) pairs
(2,32) (4,64) (6,128) (8,256) (10,512) (12,768) of BERT-base, all in every step, each with the encoder's MLM
(mask 0.2) and a one-layer decoder's MLM on a second copy masked at 0.4 whose [CLS] is the sub-model's;
lr 1e-4, cosine schedule, weight decay 0.001, warm-up 0.05. `starbucks_tiny` is the laptop size of
recipes/text.py (128-d x 4) with one pair per layer (the default): (1,16) (2,32) (3,64) (4,128); pass the
paper's list for a BERT-base with `--arg pairs=2x32,4x64,6x128,8x256,10x512,12x768`.
"""
from __future__ import annotations

from functools import partial

from ..encoders.bert import BertEncoder, BertLayer, init_bert_weights
from ..masking.text import MLMMasker
from ..terms.matryoshka import MatryoshkaMLMTerm, check_pairs
from ..text_model import TextMaskedAutoencoder
from ..tokenizers.text import TextTokenizer
from .registry import register
from .text import TINY, TINY_TRAIN



def parse_pairs(pairs) -> list[tuple[int, int]]:
    """'2x32,4x64' (or ['2x32', '4x64'] as `--arg pairs=2x32,4x64` gives it, or [(2, 32), (4, 64)]) ->
    [(2, 32), (4, 64)]; ValueError naming the setting otherwise."""
    items = pairs.replace(" ", "").split(",") if isinstance(pairs, str) else list(pairs)
    try:
        out = [tuple(int(v) for v in (item.split("x") if isinstance(item, str) else item)) for item in items]
    except (ValueError, TypeError):
        out = []
    if not out or any(len(p) != 2 for p in out):
        raise ValueError(f"pairs={pairs!r}: write (layer, width) pairs as LAYERxWIDTH,... e.g. 2x32,4x64")
    return out


def starbucks(vocab_size=30522, max_len=512, dim=768, depth=12, heads=12, mlp_ratio=4.0, dropout=0.1,
              mask_ratio=0.2, decoder_mask_ratio=0.4, pairs=None, pad_id=0, cls_id=2,
              sep_id=3, mask_id=4) -> TextMaskedAutoencoder:
    """BERT encoder trained only through the 2-D Matryoshka term (its last pair is the whole model).
    `pairs` None: one pair per layer, the width halving from the full one at the last layer downwards."""
    if pairs is None:
        pairs = [(layer, max(1, dim >> (depth - layer))) for layer in range(1, depth + 1)]
    pairs = check_pairs(parse_pairs(pairs), depth, dim)
    decoder = BertLayer(dim, heads, mlp_ratio, dropout)
    decoder.apply(init_bert_weights)
    term = MatryoshkaMLMTerm(pairs, decoder, MLMMasker(decoder_mask_ratio))
    return TextMaskedAutoencoder(
        tokenizer=TextTokenizer(vocab_size, max_len, dim, pad_id, cls_id, sep_id, mask_id),
        masker=MLMMasker(mask_ratio), encoder=BertEncoder(dim, depth, heads, mlp_ratio, dropout),
        decoder=None, encoder_mlm=0.0, aux=[term], representation="cls")


TINY_SIZE = {k: v for k, v in TINY.items() if k != "bow_dim"}

register("starbucks_tiny", paper=27, modality="text", train=TINY_TRAIN,
         summary="Starbucks SMAE, 128-d x 4, (layer, width) pairs 1x16..4x128: laptop size")(
    partial(starbucks, **TINY_SIZE))
