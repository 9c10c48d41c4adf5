"""Text tokens (RetroMAE / DupMAE, PAPERS.md row 2): token ids -> embeddings + learned 1-D positions, with the
padding carried as `Tokens.extra["valid"]` so that no part masks, predicts, attends to or pools a pad."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .base import Tokenizer, Tokens


class TextTokenizer(Tokenizer):
    """ids [B,L] (`[CLS] ... [SEP] [PAD]...`) -> Tokens: values ids [B,L,1], embed = word + token-type-0
    embeddings [B,L,D], pos = learned positions [1,L,D], extra {"valid": [B,L] True on non-pad tokens,
    "ids": [B,L]}. Parameter layout is BERT's embeddings (word, position, token type), so the encoder
    exports to a Hugging Face `BertModel`. Special ids come from the run's vocabulary."""

    patch_dim = 1

    def __init__(self, vocab_size: int, max_len: int, dim: int, pad_id: int = 0, cls_id: int = 2, sep_id: int = 3,
                 mask_id: int = 4):
        super().__init__()
        if max_len < 3:
            raise ValueError(f"max_len={max_len}: a text needs at least [CLS], one token and [SEP]")
        self.vocab_size, self.max_len, self.dim = vocab_size, max_len, dim
        self.pad_id, self.cls_id, self.sep_id, self.mask_id = pad_id, cls_id, sep_id, mask_id
        self.grid = (max_len,)
        self.word = nn.Embedding(vocab_size, dim, padding_idx=pad_id)
        self.positions = nn.Embedding(max_len, dim)
        self.token_type = nn.Embedding(2, dim)
        for table in (self.word, self.positions, self.token_type):  # BERT's init
            nn.init.normal_(table.weight, std=0.02)
        with torch.no_grad():
            self.word.weight[pad_id].zero_()

    def check_input(self, ids: Tensor) -> None:
        if not isinstance(ids, Tensor) or ids.ndim != 2 or ids.is_floating_point():
            raise ValueError(f"expected token ids [B,L] (integers), got {getattr(ids, 'shape', type(ids))}")
        if ids.shape[1] > self.max_len:
            raise ValueError(f"{ids.shape[1]} tokens, more than this model's max_len {self.max_len}")
        if bool(((ids < 0) | (ids >= self.vocab_size)).any()):
            raise ValueError(f"token ids outside the vocabulary [0, {self.vocab_size})")

    def ordinary(self, ids: Tensor) -> Tensor:
        """[B,L] True on the ordinary tokens: not [PAD], [CLS] or [SEP] (what MLM may hide and predict)."""
        return (ids != self.pad_id) & (ids != self.cls_id) & (ids != self.sep_id)

    def forward(self, ids: Tensor) -> Tokens:
        self.check_input(ids)
        length = ids.shape[1]
        embed = self.word(ids) + self.token_type.weight[0]
        pos = self.positions.weight[:length].unsqueeze(0)
        return Tokens(values=ids.unsqueeze(-1), embed=embed, pos=pos, grid=(length,),
                      extra={"valid": ids != self.pad_id, "ids": ids})

    def position(self, dim: int, learnable: bool = False) -> nn.Module:
        raise ValueError("text decoders share the tokenizer's position table")

    @classmethod
    def examples(cls) -> list[dict]:
        return [dict(vocab_size=50, max_len=12, dim=16)]

    def example_input(self, batch_size: int, generator: torch.Generator) -> Tensor:
        ids = torch.randint(5, self.vocab_size, (batch_size, self.max_len), generator=generator)
        ids[:, 0], ids[:, -1] = self.cls_id, self.sep_id
        return ids
