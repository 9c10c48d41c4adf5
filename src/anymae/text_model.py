"""RetroMAE / DupMAE (PAPERS.md row 2) as one model: TextTokenizer -> AsymmetricTextMasker -> BertEncoder ->
EnhancedDecoder, token ids -> cross-entropy (+ DupMAE's bag-of-words term).

Why not `MaskedAutoencoder` (docs/design.md, "Text"): its encoder sees the visible tokens only and a `Mask`
holds the same count of tokens in every row. RetroMAE's encoder reads the whole, BERT-corrupted sequence
([MASK] in place, padding masks, rows of different lengths); its decoder reads the clean sequence through a
per-row attention matrix; and two losses (the encoder's MLM and the decoder's reconstruction) share one
vocabulary head. The parts are the project's (tokenizers/, masking/, encoders/, decoders/, terms/); this class
wires them and gives the trainer, the probe and the tools what they ask of a model (forward -> loss and
terms, encode, after_step, grid_mask)."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .decoders.retromae import EnhancedDecoder, MLMHead
from .encoders.bert import BertEncoder
from .masking.text import AsymmetricTextMasker
from .terms.base import ExtraTerm, StepContext
from .terms.bow import pooled_logits, reduce_bag
from .tokenizers.base import Tokens
from .tokenizers.text import TextTokenizer


@dataclass
class TextOutput:
    """loss: scalar (every term summed); terms: named detached terms; latents [B,L,D] of the corrupted input;
    chosen [B,L] the tokens the encoder's MLM covered; tokens: the clean input's Tokens."""

    loss: Tensor
    latents: Tensor
    chosen: Tensor
    tokens: Tokens
    terms: dict[str, Tensor] = field(default_factory=dict)


class TokenIdTarget(nn.Module):
    """The target of every text objective here: the input's own token ids (not pixels)."""

    pixel_space = False

    def forward(self, ids: Tensor) -> Tensor:
        return ids


class TokenCrossEntropy(nn.Module):
    """logits [M,V], ids [M] -> per-token cross-entropy [M]."""

    def forward(self, logits: Tensor, ids: Tensor) -> Tensor:
        return F.cross_entropy(logits.float(), ids, reduction="none")


class TextMaskedAutoencoder(nn.Module):
    """ids [B,L] -> TextOutput. `decoder` None: plain BERT masked-LM; `encoder_mlm`: the weight of the
    encoder's own MLM loss (RetroMAE adds it, weight 1); `aux`: extra terms (DupMAE's bag of words);
    `representation`: "cls" (RetroMAE) or "cls+bow" ([CLS] joined with the reduced OT vector, DupMAE)."""

    def __init__(self, tokenizer: TextTokenizer, masker: AsymmetricTextMasker, encoder: BertEncoder,
                 decoder: EnhancedDecoder | None, encoder_mlm: float = 1.0, aux: list[ExtraTerm] | None = None,
                 representation: str = "cls", bow_dim: int = 768):
        super().__init__()
        if tokenizer.dim != encoder.dim:
            raise ValueError(f"tokenizer width {tokenizer.dim} != encoder width {encoder.dim}")
        if representation not in ("cls", "cls+bow"):
            raise ValueError(f"representation must be 'cls' or 'cls+bow', got {representation!r}")
        self.tokenizer, self.masker, self.encoder, self.decoder = tokenizer, masker, encoder, decoder
        self.head = MLMHead(tokenizer.word, encoder.eps)
        self.target, self.loss = TokenIdTarget(), TokenCrossEntropy()
        self.aux = nn.ModuleList(aux or [])
        self.encoder_mlm, self.representation, self.bow_dim = encoder_mlm, representation, bow_dim
        self.decoder_keep_ratio = 1.0

    # ------------------------------------------------------------ named steps
    def tokenize(self, ids: Tensor) -> Tokens:
        tokens = self.tokenizer(ids)
        tokens.extra["ordinary"] = self.tokenizer.ordinary(ids)
        return tokens

    def encode_tokens(self, tokens: Tokens, return_layers=None):
        """The encoder on every token (pads masked out): latents [B,L,D] (and layer outputs if asked)."""
        return self.encoder(tokens.embed + tokens.pos, tokens.extra["valid"], return_layers=return_layers)

    def embed_for_decoder(self, tokens: Tokens) -> Tensor:
        """The clean input through the shared embeddings (word + position + type, LayerNorm): [B,L,D]."""
        return F.dropout(self.encoder.embed_norm(tokens.embed + tokens.pos), self.encoder.dropout, self.training)

    def grid_mask(self, batch_size, generator, device):
        """None: text masks depend on each sample's length, the trainer draws them per sample."""
        return None

    def forward(self, ids: Tensor, generator: torch.Generator | None = None, mask=None) -> TextOutput:
        tokens = self.tokenize(ids)
        valid, ordinary = tokens.extra["valid"], tokens.extra["ordinary"]
        corrupted, chosen = self.masker.corrupt(ids, ordinary, self.tokenizer.mask_id, self.tokenizer.vocab_size,
                                                generator)
        wanted = sorted({i for part in self.aux for i in getattr(part, "layers", ())})   # Starbucks' sub-layers
        layers = None
        if wanted:
            latents, outs = self.encode_tokens(self.tokenizer(corrupted), return_layers=wanted)
            layers = dict(zip(wanted, outs))
        else:
            latents = self.encode_tokens(self.tokenizer(corrupted))
        loss, terms = latents.new_zeros(()), {}
        needs_logits = any(getattr(part, "needs_logits", False) for part in self.aux)
        full_logits = self.head(latents) if needs_logits else None           # [B,L,V] for the bag of words
        if self.encoder_mlm > 0:
            logits = full_logits[chosen] if full_logits is not None else self.head(latents[chosen])
            mlm = self.loss(logits, ids[chosen]).mean()
            loss = loss + self.encoder_mlm * mlm
            terms["encoder_mlm"] = mlm.detach()
        if self.decoder is not None:
            allowed = self.masker.context(ordinary, valid, generator)
            hidden = self.decoder(latents[:, 0], self.embed_for_decoder(tokens), tokens.pos, allowed)
            rebuilt = self.loss(self.head(hidden[ordinary]), ids[ordinary]).mean()
            loss = loss + rebuilt
            terms["decoder_mlm"] = rebuilt.detach()
        ctx = StepContext(self, ids, tokens, chosen, latents, full_logits, ids, None, generator, layers)
        for part in self.aux:
            for name, value in part(ctx).items():
                loss = loss + value
                terms[name] = value.detach()
        return TextOutput(loss=loss, latents=latents, chosen=chosen, tokens=tokens, terms=terms)

    def after_step(self) -> None:
        for part in self.aux:
            part.after_step()

    # ------------------------------------------------------------ features
    def encode(self, ids: Tensor) -> Tensor:
        """ids [B,L] -> latents of every token, no masking: [B,L,D] ([CLS] first; pads' rows are meaningless)."""
        return self.encode_tokens(self.tokenize(ids))

    def encode_layers(self, ids: Tensor, layers) -> list[Tensor]:
        return self.encode_tokens(self.tokenize(ids), return_layers=layers)[1]

    @property
    def matryoshka_pairs(self) -> tuple:
        """Starbucks: the (layer, width) sub-models trained (and evaluated) besides the whole; () otherwise."""
        return next((part.pairs for part in self.aux if hasattr(part, "pairs")), ())

    def sub_features(self, ids: Tensor, layer: int, width: int) -> Tensor:
        """ids [B,L] -> [B,width]: the L2-normalised [CLS] of sub-model (layer 1-based, width): the first
        `width` dimensions of layer `layer`'s output (Starbucks' 2-D Matryoshka embedding)."""
        (hidden,) = self.encode_layers(ids, [layer - 1])
        return F.normalize(hidden[:, 0, :width], dim=-1)

    def text_features(self, ids: Tensor, pool: str = "cls") -> Tensor:
        """ids [B,L] -> [B,F]. cls: the [CLS] latent; mean: the mean over non-pad tokens; cls+mean; retrieval:
        what retrieval scores with (dot product): the L2-normalised [CLS], joined for DupMAE by the
        L2-normalised reduced bag-of-words vector."""
        tokens = self.tokenize(ids)
        latents, valid = self.encode_tokens(tokens), tokens.extra["valid"]
        cls = latents[:, 0]
        mean = (latents * valid[..., None]).sum(1) / valid.sum(1, keepdim=True).clamp_min(1)
        if pool == "cls":
            return cls
        if pool == "mean":
            return mean
        if pool == "cls+mean":
            return torch.cat([cls, mean], 1)
        if pool != "retrieval":
            raise ValueError(f"unknown pooling {pool!r} for a text encoder; choose cls, mean, cls+mean, retrieval")
        rep = F.normalize(cls, dim=-1)
        if self.representation == "cls+bow":
            bag = reduce_bag(pooled_logits(self.head(latents), valid), self.bow_dim)
            rep = torch.cat([rep, F.normalize(bag, dim=-1)], 1)
        return rep
