"""MEAP (PAPERS.md row 38): a small decoder-only LM trained by next-token prediction on inputs with a fraction
of their tokens replaced by [MASK]; ratio 0 is plain next-token prediction (NTP), its comparison.

The parts are the text ones (TextTokenizer, a causal BertEncoder, the tied MLMHead as the LM head,
CausalInputMasker); this class wires them into the one forward -> TextOutput the trainer, the probe and the
tools read, and adds what an LM is measured by (per-token log-likelihood of the next token)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .encoders.bert import BertEncoder
from .masking.text import CausalInputMasker
from .text_model import TextMaskedAutoencoder, TextOutput
from .tokenizers.text import TextTokenizer


class CausalTextLM(TextMaskedAutoencoder):
    """ids [B,L] ([CLS] = begin, [SEP] = end, pads after) -> TextOutput with loss = mean cross-entropy of
    every next token of the clean input (pads never a target nor attended to), read from the masked input."""

    def __init__(self, tokenizer: TextTokenizer, masker: CausalInputMasker, encoder: BertEncoder):
        if not encoder.causal:
            raise ValueError("a decoder-only LM needs a causal encoder (BertEncoder(causal=True))")
        super().__init__(tokenizer, masker, encoder, decoder=None, encoder_mlm=0.0)

    def next_token_logits(self, ids: Tensor) -> Tensor:
        """ids [B,L] -> logits [B,L,V]: at position t, the prediction of token t+1."""
        return self.head(self.encode_tokens(self.tokenizer(ids)))

    def forward(self, ids: Tensor, generator: torch.Generator | None = None, mask=None) -> TextOutput:
        tokens = self.tokenize(ids)
        valid = tokens.extra["valid"]
        inputs, chosen = self.masker.corrupt(ids, tokens.extra["ordinary"], self.tokenizer.mask_id,
                                             self.tokenizer.vocab_size, generator)
        latents = self.encode_tokens(self.tokenizer(inputs))
        predict = valid[:, 1:]                                             # targets: every real next token
        logits = self.head(latents[:, :-1][predict])
        loss = F.cross_entropy(logits.float(), ids[:, 1:][predict])
        return TextOutput(loss=loss, latents=latents, chosen=chosen, tokens=tokens,
                          terms={"next_token": loss.detach()})

    @torch.no_grad()
    def token_nll(self, ids: Tensor) -> tuple[Tensor, Tensor]:
        """Clean ids [B,L] -> (negative log-likelihood of each next token [B,L-1], which are real [B,L-1])."""
        logits = self.next_token_logits(ids)[:, :-1].float()
        nll = F.cross_entropy(logits.transpose(1, 2), ids[:, 1:], reduction="none")
        return nll, ids[:, 1:] != self.tokenizer.pad_id

    def text_features(self, ids: Tensor, pool: str = "cls") -> Tensor:
        """A causal LM's summary is its last real token (the only one that saw the whole text): cls and
        retrieval read it ([CLS] itself saw nothing); mean and cls+mean as the encoder recipes."""
        tokens = self.tokenize(ids)
        latents, valid = self.encode_tokens(tokens), tokens.extra["valid"]
        last = latents[torch.arange(ids.shape[0]), valid.sum(1).clamp_min(1) - 1]
        mean = (latents * valid[..., None]).sum(1) / valid.sum(1, keepdim=True).clamp_min(1)
        if pool == "cls":
            return last
        if pool == "retrieval":
            return F.normalize(last, dim=-1)
        if pool == "mean":
            return mean
        if pool == "cls+mean":
            return torch.cat([last, mean], 1)
        raise ValueError(f"unknown pooling {pool!r} for a text LM; choose cls, mean, cls+mean, retrieval")
