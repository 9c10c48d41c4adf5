"""Text recipes: RetroMAE (v1's enhanced decoding) and DupMAE (RetroMAE v2), PAPERS.md row 2.

`*_base` is the papers' BERT-base (768-d x 12, 12 heads, 30,522-token vocabulary, 512 tokens, encoder mask
0.3, decoder mask 0.5: staoxiao/RetroMAE's pretraining script); `*_tiny` is a laptop size (128-d x 4, 4,000-token vocabulary trained on the corpus, 64 tokens)
with the same objective. The vocabulary size is
the one asked of the WordPiece trainer; a run records the size it got (and the special ids) in its config.
"""
from __future__ import annotations

from functools import partial

from ..decoders.retromae import EnhancedDecoder
from ..encoders.bert import BertEncoder
from ..masking.text import AsymmetricTextMasker
from ..terms.bow import BagOfWordsTerm
from ..text_model import TextMaskedAutoencoder
from ..tokenizers.text import TextTokenizer
from .registry import register


def retromae(vocab_size=30522, max_len=512, dim=768, depth=12, heads=12, mlp_ratio=4.0, dropout=0.1,
             mask_ratio=0.3, decoder_mask_ratio=0.5, span=1, bow=0.0, bow_dim=768, pad_id=0, cls_id=2, sep_id=3,
             mask_id=4) -> TextMaskedAutoencoder:
    """RetroMAE: BERT encoder on a lightly masked input; its [CLS] alone (plus a heavily masked context per
    row) feeds a one-layer enhanced decoder that rebuilds the input. `bow` > 0: DupMAE's bag-of-words term
    with that weight, and [CLS] + the reduced bag-of-words vector (`bow_dim`) as the representation."""
    tokenizer = TextTokenizer(vocab_size, max_len, dim, pad_id, cls_id, sep_id, mask_id)
    aux = [BagOfWordsTerm(weight=bow)] if bow > 0 else []
    return TextMaskedAutoencoder(
        tokenizer=tokenizer,
        masker=AsymmetricTextMasker(mask_ratio, decoder_mask_ratio, span),
        encoder=BertEncoder(dim, depth, heads, mlp_ratio, dropout),
        decoder=EnhancedDecoder(dim, heads, mlp_ratio, dropout),
        aux=aux, representation="cls+bow" if bow > 0 else "cls", bow_dim=bow_dim)


# RetroMAE's optimiser (AdamW, lr 1e-4, linear warm-up, weight decay 0.01, betas 0.9/0.999); the tiny ones
# use a larger lr for their short budget.
BASE_TRAIN = {"lr": 1e-4, "batch_size": 32, "warmup": 0.1, "weight_decay": 0.01, "betas": (0.9, 0.999),
              "steps": 100000, "features": "cls"}
TINY_TRAIN = {"lr": 1e-3, "batch_size": 32, "warmup": 0.05, "weight_decay": 0.01, "betas": (0.9, 0.999),
              "steps": 200, "features": "cls"}
TINY = dict(vocab_size=4000, max_len=64, dim=128, depth=4, heads=4, bow_dim=128)

register("retromae_base", paper=2, modality="text", train=BASE_TRAIN,
         summary="RetroMAE, BERT-base (768-d x 12), one-layer enhanced decoder, masks 0.3 / 0.5")(
    partial(retromae))
register("dupmae_base", paper=2, modality="text", train=BASE_TRAIN,
         summary="DupMAE (RetroMAE v2), BERT-base: RetroMAE + bag-of-words loss, [CLS] + reduced BoW")(
    partial(retromae, bow=1.0))
register("retromae_tiny", paper=2, modality="text", train=TINY_TRAIN,
         summary="RetroMAE, 128-d x 4, 4k WordPiece, 64 tokens: laptop size")(partial(retromae, **TINY))
register("dupmae_tiny", paper=2, modality="text", train=TINY_TRAIN,
         summary="DupMAE (RetroMAE v2), 128-d x 4, 4k WordPiece, 64 tokens: laptop size")(
    partial(retromae, **TINY, bow=1.0))
