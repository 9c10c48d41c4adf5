"""What every generator of continuous tokens shares (MAR, LMD, Harmon: `mar.py`; UMD: `umd.py`).

A frozen tokenizer gives real-valued tokens [B,N,T] (`tokenizers/continuous.py`: patch pixels or a KL
autoencoder's latent); the generator standardises them with one mean and one standard deviation measured on
its training tokens (`fit_tokens`, stored with the weights) and undoes it before decoding (`decode_tokens`).

The transformer is MAE's split, as MAR's: an encoder over the prefix tokens (class, and for UMD the timestep)
and the *visible* tokens only, then a decoder over every position (mask tokens where hidden) that gives one
vector per position. `features(x)` is the encoder over a whole, clean image with the "no class" token:
mean-pooled, what the linear probe reads (UMD's and Harmon's claim that one network also represents).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .model import Block, gather_rows, run_blocks


class ContinuousGenerator(nn.Module):
    """Encoder (prefix + visible tokens) / decoder (every position) transformer over continuous tokens."""

    kind = "generator"
    continuous = True
    samplers: tuple[str, ...] = ()
    num_prefix = 1          # the class token

    def __init__(self, tokenizer: nn.Module, dim: int = 64, enc_depth: int = 2, depth: int = 2, heads: int = 4,
                 num_classes: int = 10, class_dropout: float = 0.1, mlp_ratio: float = 4.0):
        super().__init__()
        if not 0.0 <= class_dropout < 1.0:
            raise ValueError(f"class_dropout={class_dropout}: must be in [0, 1)")
        self.tokenizer = tokenizer
        for p in self.tokenizer.parameters():
            p.requires_grad_(False)
        self.num_tokens, self.token_dim = tokenizer.num_tokens, tokenizer.token_dim
        self.num_classes, self.class_dropout, self.dim = num_classes, class_dropout, dim
        self.register_buffer("token_mean", torch.zeros(()))
        self.register_buffer("token_std", torch.ones(()))
        self.token_embed = nn.Linear(self.token_dim, dim)
        self.pos = nn.Parameter(torch.zeros(1, self.num_tokens, dim))
        self.class_embed = nn.Embedding(num_classes + 1, dim)      # the last id: no class
        self.enc_blocks = nn.ModuleList([Block(dim, heads, mlp_ratio) for _ in range(enc_depth)])
        self.enc_norm = nn.LayerNorm(dim)
        self.mask_token = nn.Parameter(torch.zeros(dim))
        self.dec_pos = nn.Parameter(torch.zeros(1, self.num_tokens, dim))
        self.blocks = nn.ModuleList([Block(dim, heads, mlp_ratio) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        for p in (self.pos, self.mask_token, self.dec_pos):
            nn.init.trunc_normal_(p, std=0.02)
        nn.init.trunc_normal_(self.class_embed.weight, std=0.02)

    @property
    def masker(self) -> None:
        """No MAE masker: each generator draws its own masks."""
        return None

    def train(self, mode: bool = True):
        super().train(mode)
        self.tokenizer.eval()
        return self

    # ---------------------------------------------------------------- tokens
    @torch.no_grad()
    def fit_tokens(self, tokens: Tensor) -> Tensor:
        """Store the mean and standard deviation of raw training tokens [M,N,T]; -> them standardised."""
        self.token_mean.fill_(float(tokens.mean()))
        self.token_std.fill_(float(tokens.std().clamp_min(1e-6)))
        return (tokens - self.token_mean) / self.token_std

    @torch.no_grad()
    def tokenize(self, x: Tensor) -> Tensor:
        """pixels [B,C,H,W] in [-1,1] -> standardised tokens [B,N,T] from the frozen tokenizer."""
        return (self.tokenizer.encode(x) - self.token_mean) / self.token_std

    def token_range(self, latent_bound: float = 4.0) -> tuple[float, float]:
        """Bounds of standardised tokens for clipping a predicted x_0 at sampling: the pixel range [-1, 1] for
        patch pixels; +-`latent_bound` standard deviations for a tokenizer's latent (our choice)."""
        if getattr(self.tokenizer, "trainable", True) is False:
            return float((-1 - self.token_mean) / self.token_std), float((1 - self.token_mean) / self.token_std)
        return -latent_bound, latent_bound

    def decode_tokens(self, tokens: Tensor) -> Tensor:
        """standardised tokens [B,N,T] -> pixels [B,C,H,W] in about [-1,1]."""
        return self.tokenizer.decode(tokens * self.token_std + self.token_mean)

    # ---------------------------------------------------------------- the transformer
    def class_token(self, labels: Tensor | None, batch: int, device) -> Tensor:
        """labels [B] (None or -1: no class) -> [B,1,dim]."""
        if labels is None:
            labels = torch.full((batch,), self.num_classes, device=device, dtype=torch.long)
        labels = torch.where(labels < 0, torch.full_like(labels, self.num_classes), labels)
        return self.class_embed(labels).unsqueeze(1)

    def drop_labels(self, labels: Tensor | None, generator: torch.Generator | None) -> Tensor | None:
        """While training, each label becomes "no class" (-1) with probability class_dropout (for guidance)."""
        if labels is None or not self.training or self.class_dropout == 0:
            return labels
        drop = torch.rand(labels.shape, generator=generator, device=labels.device) < self.class_dropout
        return torch.where(drop, torch.full_like(labels, -1), labels)

    def encode(self, tokens: Tensor, visible: Tensor, prefix: Tensor) -> Tensor:
        """tokens [B,N,T], visible [B,Nv] positions, prefix [B,P,dim] -> encoder output [B,P+Nv,dim]."""
        h = gather_rows(self.token_embed(tokens) + self.pos, visible)
        return self.enc_norm(run_blocks(self.enc_blocks, torch.cat([prefix, h], 1))[0])

    def decode(self, encoded: Tensor, visible: Tensor) -> Tensor:
        """encoder output [B,P+Nv,dim] -> one vector a position [B,N,dim]: the encoded visible tokens at their
        positions, mask tokens elsewhere, + decoder positions, through the decoder blocks (prefix kept)."""
        b, p = encoded.shape[0], encoded.shape[1] - visible.shape[1]
        full = self.mask_token.to(encoded.dtype).expand(b, self.num_tokens, -1).clone()
        full = full.scatter(1, visible.unsqueeze(-1).expand(-1, -1, self.dim), encoded[:, p:])
        h = run_blocks(self.blocks, torch.cat([encoded[:, :p], full + self.dec_pos], 1))[0]
        return self.norm(h)[:, p:]

    def clean_prefix(self, batch: int, device) -> Tensor:
        """The prefix of a clean, unconditioned input [B,P,dim] (the class token "no class")."""
        return self.class_token(None, batch, device)

    def features_of(self, tokens: Tensor) -> Tensor:
        """standardised tokens [B,N,T] -> the encoder's mean-pooled output over every token of a clean input
        with no class given [B,dim]."""
        every = torch.arange(self.num_tokens, device=tokens.device).expand(len(tokens), -1)
        return self.encode(tokens, every, self.clean_prefix(len(tokens), tokens.device))[:, self.num_prefix:].mean(1)

    @torch.no_grad()
    def features(self, x: Tensor) -> Tensor:
        """pixels [B,C,H,W] in [-1,1] -> `features_of` its tokens [B,dim] (what the linear probe reads)."""
        return self.features_of(self.tokenize(x))

    def forward(self, x: Tensor, labels: Tensor | None = None, generator: torch.Generator | None = None, **_):
        """pixels [B,C,H,W] in [-1,1] (labels [B] or None) -> the generator's training loss."""
        return self.loss_on_codes(self.tokenize(x), labels, generator)

    def after_step(self) -> None:
        """Nothing to update after an optimizer step."""


def hidden_mask(batch: int, num_tokens: int, count: int, device, generator: torch.Generator | None) -> Tensor:
    """[B,N] bool with `count` hidden positions a row, at random positions."""
    order = torch.rand(batch, num_tokens, generator=generator, device=device).argsort(1)
    return torch.zeros(batch, num_tokens, dtype=torch.bool, device=device).scatter(1, order[:, :count], True)
