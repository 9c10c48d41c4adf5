"""`MaskedTokenGenerator`: a bidirectional transformer that fills in masked tokens of a frozen tokenizer.

MaskGIT-style training: each batch draws a mask ratio from a schedule (cosine by default), hides that many
random positions and predicts their tokens with cross-entropy counted on hidden positions only. Class
conditioning: a class token in front of the sequence (id `num_classes` is the "no class" token used for
classifier-free guidance; each label is dropped to it with probability `class_dropout` while training).

Tokens: the tokenizer gives each position D integer codes in [0, V) (QLAE: one per latent dimension). The
generator embeds a position as the sum of D embeddings and predicts it with one categorical head per
dimension (D x V logits) rather than one head over the product codebook of V^D codes: the heads grow with
D*V instead of V^D (8^4 = 4096 codes for the tiny tokenizer, most never seen on a small data set). The D
values of one position are sampled independently given the context (a factorised approximation; the
confidence of a position is the sum of its D log-probabilities). `head="joint"` predicts the position's code
as one of the V^D product codes instead (one embedding and one head over V^D; the tokenizer's D codes are
joined into one integer and split again to decode): exact for the position, at V^D logits a position.

`enc_depth > 0` is ENAT's split (row 47): the visible tokens (and the class token) are encoded on their own by
`enc_depth` blocks, then `depth` decoder blocks see the encoded visible tokens and the mask tokens together.
`enc_depth = 0` is MaskGIT: every position, mask tokens included, goes through the same `depth` blocks.

Every block can run on a subset of positions with the keys/values of the others given (`past`): the
samplers use it to reuse features across steps (ENAT, ReCAP).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .schedule import SCHEDULES

KV = tuple[Tensor, Tensor]   # keys, values [B,H,M,hd]
HEADS = ("per_dimension", "joint")   # one categorical a latent dimension, or one over the product codes


@dataclass
class GenerationOutput:
    """One training forward: loss (cross-entropy on the hidden positions), its named terms, logits
    [B,N,D,V], the bool mask of hidden positions [B,N]."""

    loss: Tensor
    terms: dict[str, Tensor] = field(default_factory=dict)
    logits: Tensor | None = None
    hidden: Tensor | None = None


class Block(nn.Module):
    """Pre-norm transformer block whose attention can read cached keys/values of other positions."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim={dim} is not divisible by heads={heads}")
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, h: Tensor, past: KV | None = None) -> tuple[Tensor, KV]:
        """h [B,M,D] (with `past` keys/values [B,H,P,hd] of P other positions) -> (h [B,M,D], this call's k, v)."""
        b, m, d = h.shape
        q, k, v = self.qkv(self.norm1(h)).reshape(b, m, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        keys, values = (torch.cat([past[0], k], 2), torch.cat([past[1], v], 2)) if past is not None else (k, v)
        a = F.scaled_dot_product_attention(q, keys, values).transpose(1, 2).reshape(b, m, d)
        h = h + self.proj(a)
        return h + self.mlp(self.norm2(h)), (k, v)


def run_blocks(blocks: nn.ModuleList, h: Tensor, past: list[KV] | None = None) -> tuple[Tensor, list[KV]]:
    """Run `blocks` over h [B,M,D], each reading its cached `past[i]` too -> (h, per-block (k, v) of h)."""
    kvs = []
    for i, block in enumerate(blocks):
        h, kv = block(h, past[i] if past is not None else None)
        kvs.append(kv)
    return h, kvs


def gather_rows(x: Tensor, index: Tensor) -> Tensor:
    """x [B,N,...], index [B,M] -> x at those positions [B,M,...]."""
    shape = index.shape + x.shape[2:]
    return torch.gather(x, 1, index.reshape(*index.shape, *([1] * (x.ndim - 2))).expand(shape))


class MaskedTokenGenerator(nn.Module):
    """MaskGIT-style generator over a frozen tokenizer (`enc_depth > 0`: ENAT's encoder/decoder split)."""

    kind = "generator"

    def __init__(self, tokenizer: nn.Module, dim: int = 128, depth: int = 4, heads: int = 4, enc_depth: int = 0,
                 num_classes: int = 10, class_dropout: float = 0.1, schedule: str = "cosine",
                 mlp_ratio: float = 4.0, head: str = "per_dimension"):
        super().__init__()
        SCHEDULES.get(schedule)
        if not 0.0 <= class_dropout < 1.0:
            raise ValueError(f"class_dropout={class_dropout}: must be in [0, 1)")
        if head not in HEADS:
            raise ValueError(f"head={head!r}: must be one of {', '.join(HEADS)}")
        self.tokenizer = tokenizer
        for p in self.tokenizer.parameters():
            p.requires_grad_(False)
        self.num_tokens, self.head_kind = tokenizer.num_tokens, head
        self.code_dims, self.code_levels = tokenizer.dims, tokenizer.levels   # the tokenizer's D codes of V values
        joint = head == "joint"
        self.token_dims, self.levels = (1, self.code_levels ** self.code_dims) if joint else (self.code_dims,
                                                                                                self.code_levels)
        self.num_classes, self.class_dropout, self.schedule = num_classes, class_dropout, schedule
        self.dim, self.heads = dim, heads
        self.token_embed = nn.Embedding(self.token_dims * self.levels, dim)
        self.mask_token = nn.Parameter(torch.zeros(dim))
        self.pos = nn.Parameter(torch.zeros(1, self.num_tokens, dim))
        self.class_embed = nn.Embedding(num_classes + 1, dim)      # the last id: no class
        self.enc_blocks = nn.ModuleList([Block(dim, heads, mlp_ratio) for _ in range(enc_depth)])
        self.blocks = nn.ModuleList([Block(dim, heads, mlp_ratio) for _ in range(depth)])
        if enc_depth:
            self.dec_pos = nn.Parameter(torch.zeros(1, self.num_tokens, dim))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, self.token_dims * self.levels)
        for p in (self.mask_token, self.pos, *([self.dec_pos] if enc_depth else [])):
            nn.init.trunc_normal_(p, std=0.02)
        nn.init.trunc_normal_(self.token_embed.weight, std=0.02)
        nn.init.trunc_normal_(self.class_embed.weight, std=0.02)

    @property
    def masker(self) -> None:
        """No MAE masker: the mask ratio is drawn from `schedule` inside `loss_on_codes`."""
        return None

    @property
    def split(self) -> bool:
        """True for ENAT's encoder/decoder split."""
        return len(self.enc_blocks) > 0

    def train(self, mode: bool = True):
        super().train(mode)
        self.tokenizer.eval()   # frozen: its norms stay in inference mode
        return self

    # ---------------------------------------------------------------- embeddings
    def embed_codes(self, codes: Tensor) -> Tensor:
        """codes [B,M,D] -> summed per-dimension embeddings [B,M,dim]."""
        offsets = torch.arange(self.token_dims, device=codes.device) * self.levels
        return self.token_embed(codes + offsets).sum(2)

    def embed(self, codes: Tensor, known: Tensor) -> Tensor:
        """codes [B,N,D], known [B,N] bool -> inputs [B,N,dim]: the code's embedding or the mask token, + position."""
        h = torch.where(known.unsqueeze(-1), self.embed_codes(codes), self.mask_token.to(self.pos.dtype))
        return h + self.pos

    def class_token(self, labels: Tensor | None, batch: int, device) -> Tensor:
        """labels [B] (None or -1: no class) -> [B,1,dim]."""
        if labels is None:
            labels = torch.full((batch,), self.num_classes, device=device, dtype=torch.long)
        labels = torch.where(labels < 0, torch.full_like(labels, self.num_classes), labels)
        return self.class_embed(labels).unsqueeze(1)

    def head_logits(self, h: Tensor) -> Tensor:
        """h [B,M,dim] -> logits [B,M,D,V]."""
        return self.head(self.norm(h)).reshape(*h.shape[:2], self.token_dims, self.levels)

    # ---------------------------------------------------------------- one full evaluation
    def encode_visible(self, codes: Tensor, visible: Tensor, labels: Tensor | None) -> tuple[Tensor, list[KV]]:
        """ENAT encoder: visible [B,Nv] positions (same count each row) -> ([B,1+Nv,dim] with the class token
        first, per-block keys/values)."""
        h = gather_rows(self.embed_codes(codes) + self.pos, visible)
        h = torch.cat([self.class_token(labels, codes.shape[0], codes.device), h], 1)
        return run_blocks(self.enc_blocks, h)

    def decoder_inputs(self, encoded: Tensor, visible: Tensor, known: Tensor) -> Tensor:
        """ENAT decoder inputs [B,1+N,dim]: encoded class token, encoded visible tokens at their positions,
        mask tokens elsewhere, + decoder positions."""
        b, n = known.shape
        full = self.mask_token.expand(b, n, -1).clone()
        full = full.scatter(1, visible.unsqueeze(-1).expand(-1, -1, self.dim), encoded[:, 1:])
        return torch.cat([encoded[:, :1], full + self.dec_pos], 1)

    def hidden(self, codes: Tensor, known: Tensor, labels: Tensor | None = None) -> Tensor:
        """codes [B,N,D] (read where known), known [B,N] bool -> last block's output [B,1+N,dim] (class first)."""
        cls = self.class_token(labels, codes.shape[0], codes.device)
        if not self.split:
            return run_blocks(self.blocks, torch.cat([cls, self.embed(codes, known)], 1))[0]
        visible = visible_positions(known)
        encoded, _ = self.encode_visible(codes, visible, labels)
        return run_blocks(self.blocks, self.decoder_inputs(encoded, visible, known))[0]

    def logits(self, codes: Tensor, known: Tensor, labels: Tensor | None = None) -> Tensor:
        """codes [B,N,D] (read where known), known [B,N] bool -> logits [B,N,D,V] for every position."""
        return self.head_logits(self.hidden(codes, known, labels)[:, 1:])

    # ---------------------------------------------------------------- training
    def draw_hidden(self, batch: int, device, generator: torch.Generator | None = None) -> Tensor:
        """[B,N] bool: ceil(r*N) hidden positions a row (r = schedule(u), u ~ U(0,1), one r for the batch so the
        ENAT encoder sees rows of equal length), at random positions."""
        u = float(torch.rand(1, generator=generator, device=device))
        count = min(self.num_tokens, max(1, math.ceil(SCHEDULES.get(self.schedule)(u) * self.num_tokens)))
        noise = torch.rand(batch, self.num_tokens, generator=generator, device=device)
        order = noise.argsort(1)
        hidden = torch.zeros(batch, self.num_tokens, dtype=torch.bool, device=device)
        return hidden.scatter(1, order[:, :count], True)

    def loss_on_codes(self, codes: Tensor, labels: Tensor | None = None,
                      generator: torch.Generator | None = None) -> GenerationOutput:
        """codes [B,N,D] -> cross-entropy on the hidden positions only (mean over hidden positions and heads)."""
        b, device = codes.shape[0], codes.device
        hidden = self.draw_hidden(b, device, generator)
        if labels is not None and self.training and self.class_dropout > 0:
            drop = torch.rand(b, generator=generator, device=device) < self.class_dropout
            labels = torch.where(drop, torch.full_like(labels, -1), labels)
        logits = self.logits(codes, ~hidden, labels)
        ce = F.cross_entropy(logits[hidden].reshape(-1, self.levels), codes[hidden].reshape(-1))
        return GenerationOutput(loss=ce, terms={"cross_entropy": ce}, logits=logits, hidden=hidden)

    @torch.no_grad()
    def tokenize(self, x: Tensor) -> Tensor:
        """pixels [B,C,H,W] in [-1,1] -> the generator's codes [B,N,token_dims] from the frozen tokenizer."""
        return self.join_codes(self.tokenizer.encode(x))

    def decode_tokens(self, codes: Tensor) -> Tensor:
        """the generator's codes [B,N,token_dims] -> pixels [B,C,H,W] in about [-1,1]."""
        return self.tokenizer.decode(self.split_codes(codes))

    def join_codes(self, codes: Tensor) -> Tensor:
        """tokenizer codes [B,N,D] -> [B,N,1] product-code ids (`head="joint"`); unchanged otherwise."""
        if self.head_kind != "joint":
            return codes
        place = self.code_levels ** torch.arange(self.code_dims, device=codes.device)
        return (codes * place).sum(-1, keepdim=True)

    def split_codes(self, codes: Tensor) -> Tensor:
        """The inverse of `join_codes`: [B,N,1] product-code ids -> tokenizer codes [B,N,D]."""
        if self.head_kind != "joint":
            return codes
        place = self.code_levels ** torch.arange(self.code_dims, device=codes.device)
        return torch.div(codes, place, rounding_mode="floor") % self.code_levels

    def forward(self, x: Tensor, labels: Tensor | None = None, generator: torch.Generator | None = None,
                **_) -> GenerationOutput:
        """pixels [B,C,H,W] in [-1,1] (labels [B] or None: unconditional) -> the masked-token loss."""
        return self.loss_on_codes(self.tokenize(x), labels, generator)

    def after_step(self) -> None:
        """Nothing to update after an optimizer step."""


def visible_positions(known: Tensor) -> Tensor:
    """known [B,N] bool with the same count a row -> their positions [B,Nv] in increasing order."""
    counts = known.sum(1)
    if not bool((counts == counts[0]).all()):
        raise ValueError("ENAT's encoder needs the same number of visible tokens in every row")
    return known.float().argsort(dim=1, descending=True, stable=True)[:, :int(counts[0])].sort(1).values
