"""MEAP (PAPERS.md row 38): next-token prediction on inputs with a few tokens masked, and plain next-token
prediction (NTP) as its comparison, one decoder-only architecture.

Facts from scitix/MEAP (`MEAP-Pretain/pretrained/meap_*.py`): the chosen input tokens become [MASK] (mask
ratio 0.15 in the 1B runs, 0.05-0.2 in the ablations), the targets are the clean sequence shifted by one,
AdamW (betas 0.9/0.95, weight decay 0.05), warm-up 10%, gradient clipping 1.0, no extra loss. The paper's
models are LLaMA-style (pre-RMSNorm, rotary positions, SwiGLU); `meap_tiny` / `ntp_tiny` use this project's
BERT layers with a causal mask and learned positions (128-d x 4, 4k WordPiece, 128 tokens): laptop size.
"""
from __future__ import annotations

from functools import partial

from ..encoders.bert import BertEncoder
from ..masking.text import CausalInputMasker
from ..text_lm import CausalTextLM
from ..tokenizers.text import TextTokenizer
from .registry import register


def causal_lm(vocab_size=4000, max_len=128, dim=128, depth=4, heads=4, mlp_ratio=4.0, dropout=0.0,
              input_mask=0.15, pad_id=0, cls_id=2, sep_id=3, mask_id=4) -> CausalTextLM:
    """A decoder-only LM; `input_mask` > 0: MEAP's share of masked inputs, 0: plain next-token prediction
    (named apart from the masked autoencoders' `mask_ratio`, which must hide something)."""
    if not 0.0 <= input_mask < 1.0:
        raise ValueError(f"input_mask={input_mask!r}: must be in [0, 1) (the share of input tokens MEAP masks)")
    return CausalTextLM(
        tokenizer=TextTokenizer(vocab_size, max_len, dim, pad_id, cls_id, sep_id, mask_id),
        masker=CausalInputMasker(input_mask),
        encoder=BertEncoder(dim, depth, heads, mlp_ratio, dropout, causal=True))


LM_TRAIN = {"lr": 1e-3, "batch_size": 32, "warmup": 0.1, "weight_decay": 0.05, "betas": (0.9, 0.95),
            "steps": 300, "features": "cls"}

register("meap_tiny", paper=38, modality="text", train=LM_TRAIN,
         summary="MEAP: decoder-only LM, next-token prediction on inputs 15% [MASK], 128-d x 4: laptop size")(
    partial(causal_lm, input_mask=0.15))
register("ntp_tiny", paper=38, modality="text", train=LM_TRAIN,
         summary="plain next-token prediction, MEAP's comparison: the same LM with no masked inputs")(
    partial(causal_lm, input_mask=0.0))
