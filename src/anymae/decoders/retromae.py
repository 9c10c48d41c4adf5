"""RetroMAE's enhanced decoding (PAPERS.md row 2) and BERT's masked-LM head.

The decoder is one BERT layer with two streams: the query stream is the encoder's [CLS] embedding plus each
position's embedding (so a query knows where it is, not what is there); the key/value stream is the [CLS]
embedding followed by the embeddings of the input tokens. Row i of the attention sees [CLS] and its own random
context (masking/text.py `AsymmetricTextMasker.context`), never its own token: the sentence must be rebuilt
from the [CLS] bottleneck and a few other tokens."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..encoders.bert import BertLayer, init_bert_weights


class EnhancedDecoder(nn.Module):
    """cls [B,D], token embeddings [B,L,D] (clean input, embedding LayerNorm applied), positions [1,L,D],
    allowed [B,L,L] -> hidden states [B,L,D], one per position to predict."""

    depth = 1

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0, dropout: float = 0.1, eps: float = 1e-12):
        super().__init__()
        self.dim, self.heads = dim, heads
        self.layer = BertLayer(dim, heads, mlp_ratio, dropout, eps)
        self.apply(init_bert_weights)

    def forward(self, cls: Tensor, token_embed: Tensor, pos: Tensor, allowed: Tensor) -> Tensor:
        query = pos + cls[:, None, :]                                         # [B,L,D]: where, not what
        kv = torch.cat([cls[:, None, :], token_embed[:, 1:]], dim=1)          # [CLS] replaces the first token
        return self.layer(query, allowed[:, None], kv)


class MLMHead(nn.Module):
    """BERT's `cls.predictions`: dense + GELU + LayerNorm, then logits over the vocabulary with the decoder
    weights tied to the word embeddings (plus a bias). hidden [...,D] -> logits [...,V]."""

    def __init__(self, word: nn.Embedding, eps: float = 1e-12):
        super().__init__()
        dim = word.embedding_dim
        self.word = [word]  # tied, not registered twice
        self.dense, self.norm = nn.Linear(dim, dim), nn.LayerNorm(dim, eps=eps)
        self.bias = nn.Parameter(torch.zeros(word.num_embeddings))
        self.apply(init_bert_weights)

    def transform(self, hidden: Tensor) -> Tensor:
        """hidden [...,W] (W <= D: the first W dimensions of a sub-model, Starbucks) -> [...,D]: dense (its
        first W input columns) + GELU + LayerNorm."""
        width = hidden.shape[-1]
        return self.norm(F.gelu(F.linear(hidden, self.dense.weight[:, :width], self.dense.bias)))

    def forward(self, hidden: Tensor) -> Tensor:
        return F.linear(self.transform(hidden), self.word[0].weight, self.bias)
