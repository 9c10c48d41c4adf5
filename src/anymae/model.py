"""MaskedAutoencoder: Tokenizer -> Masker -> Encoder(visible only) -> Decoder, Target -> Loss."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from .decoders.mae import gather_tokens
from .encoders.vit import encode_tokens
from .masking.base import Mask
from .masking.decoder import decoder_subset
from .tokenizers.base import Tokens


@dataclass
class MAEOutput:
    """What one forward pass gives.

    loss        scalar: mean of `token_loss` plus any extra weighted terms
    token_loss  [B,Np] per predicted token
    pred        [B,Np,T] predictions for `mask.predict`
    target      [B,Np,T] targets for the same tokens
    mask        the Mask used
    latents     [B,P+Nv,D] encoder output (P prefix tokens, then visible tokens in `mask.keep` order)
    tokens      the Tokens of the input
    terms       named loss terms (detached), for logging
    """

    loss: Tensor
    token_loss: Tensor
    pred: Tensor
    target: Tensor
    mask: Mask
    latents: Tensor
    tokens: Tokens
    terms: dict[str, Tensor] = field(default_factory=dict)


@dataclass
class StepContext:
    """Everything one forward pass made, for auxiliary loss terms (LUT, MR-MAE, CAE, HPM, ...)."""

    model: "MaskedAutoencoder"
    x: Tensor
    tokens: Tokens
    mask: Mask
    latents: Tensor
    pred: Tensor
    target: Tensor
    token_loss: Tensor
    generator: torch.Generator | None = None


class MaskedAutoencoder(nn.Module):
    """Wires the six parts of DESIGN.md; nothing else knows how a recipe is built.

    Optional hooks, each used by the parts that need them and ignored otherwise:
    - `masker.scorer(model, tokens) -> [B,N]`: per-token scores the masker reads (HPM, guided masking).
    - `masker.bind(tokenizer)` (optional): called at construction.
    - `masker.corrupts_input`: the masker corrupts the input (`masker.corrupt(x, generator) -> (x', Mask)`)
      instead of dropping tokens; the encoder then sees every token (SimMIM-style, frequency masking).
    - `aux`: extra loss parts, `term(StepContext) -> {name: weighted scalar}`, added to the loss.
    - `prepare(model)` on the target or an aux part (optional): called before any `bind`, for parts that
      change the student (the position task removes the tokenizer's positions), so that parts which copy
      the student at `bind` (EMA teachers) copy the final one.
    - `target.bind(model)` (optional): called next, for targets that read the student (EMA teachers);
      `target.monitor(target) -> {name: scalar}`: logged, never added to the loss (collapse guards).
    - `loss.reads_mask`: the loss is called as `loss(pred, target, mask, tokens)` (per-modality losses).
    - `after_step()` on any submodule (EMA teachers) is called by the trainer after each optimizer step.
    """

    def __init__(self, tokenizer: nn.Module, masker: nn.Module, encoder: nn.Module, decoder: nn.Module,
                 target: nn.Module, loss: nn.Module, aux: list[nn.Module] | None = None):
        super().__init__()
        if tokenizer.dim != encoder.dim:
            raise ValueError(f"tokenizer width {tokenizer.dim} != encoder width {encoder.dim}")
        self.tokenizer, self.masker, self.encoder = tokenizer, masker, encoder
        self.decoder, self.target, self.loss = decoder, target, loss
        self.aux = nn.ModuleList(aux or [])
        self.decoder_keep_ratio = 1.0  # < 1: VideoMAE V2 decoder masking (masking/decoder.py, --decoder-keep-ratio)
        if hasattr(masker, "bind"):  # maskers that corrupt the input learn the token layout
            masker.bind(tokenizer)
        for part in (target, *self.aux):
            if hasattr(part, "prepare"):  # parts that change the student go before any part copies it
                part.prepare(self)
        if hasattr(target, "bind"):  # targets that read the student (EMA teachers) see it first
            target.bind(self)
        decoder.bind(encoder.dim, target.dim(tokenizer), tokenizer.position(decoder.dim, decoder.learnable_pos))
        for part in self.aux:
            if hasattr(part, "bind"):
                part.bind(self)

    def make_mask(self, tokens: Tokens, generator: torch.Generator | None = None, noise: Tensor | None = None) -> Mask:
        """Draw this step's mask (reading per-token scores when the masker asks for them)."""
        if noise is not None:
            return self.masker.sample(tokens.batch_size, tokens.grid, generator, tokens.embed.device, noise=noise)
        scorer = getattr(self.masker, "scorer", None)
        if scorer is not None:
            with torch.no_grad():
                return self.masker(tokens, generator, scores=scorer(self, tokens))
        return self.masker(tokens, generator)

    def forward(self, x: Tensor, generator: torch.Generator | None = None, mask: Mask | None = None,
                noise: Tensor | None = None) -> MAEOutput:
        """x: a batch of the tokenizer's modality (images [B,C,H,W], ...).

        noise [B,N] optional: random masking by argsort of this noise (HF ViTMAE's `noise`).
        """
        clean = x
        if getattr(self.masker, "corrupts_input", False) and mask is None:
            x, mask = self.masker.corrupt(x, generator)
        tokens = self.tokenizer(x)
        if mask is None:
            mask = decoder_subset(self.make_mask(tokens, generator, noise), self.decoder_keep_ratio, generator)
        latents = encode_tokens(self.encoder, tokens, mask.keep)  # hidden tokens are dropped
        pred = self.decoder(latents, mask, tokens, self.encoder.num_prefix)
        with torch.no_grad():
            target_tokens = tokens if clean is x else self.tokenizer(clean)
            target = gather_tokens(self.target(clean, target_tokens), mask.predict)
        if getattr(self.loss, "reads_mask", False):  # per-modality losses, frequency-domain losses
            token_loss = self.loss(pred, target, mask, tokens)
        else:
            token_loss = self.loss(pred, target)
        loss = token_loss.mean()
        terms = {"reconstruction": loss.detach()}
        monitor = getattr(self.target, "monitor", None)
        if monitor is not None:  # logged, never added to the loss (collapse guards)
            terms.update({k: v.detach() for k, v in monitor(target).items()})
        if len(self.aux):
            ctx = StepContext(self, clean, tokens, mask, latents, pred, target, token_loss, generator)
            for part in self.aux:
                for name, value in part(ctx).items():
                    loss = loss + value
                    terms[name] = value.detach()
        return MAEOutput(loss=loss, token_loss=token_loss, pred=pred, target=target, mask=mask,
                         latents=latents, tokens=tokens, terms=terms)

    def after_step(self) -> None:
        """Called after each optimizer step: parts with an `after_step` (EMA teachers) update."""
        for module in self.modules():
            if module is not self and hasattr(module, "after_step"):
                module.after_step()

    def encode(self, x: Tensor) -> Tensor:
        """x -> latents of every token, no masking: [B,P+N,D] (P prefix tokens first)."""
        tokens = self.tokenizer(x)
        return encode_tokens(self.encoder, tokens)

    def encode_layers(self, x: Tensor, layers) -> list[Tensor]:
        """x -> outputs of the given encoder blocks, no masking: each [B,P+N,D]."""
        tokens = self.tokenizer(x)
        return encode_tokens(self.encoder, tokens, return_layers=layers)[1]

    @torch.no_grad()
    def reconstruct(self, x: Tensor, generator: torch.Generator | None = None, mask: Mask | None = None):
        """-> (mask, predicted values of every token [B,N,P] in the tokenizer's value space).

        The decoder predicts every token (visible ones too, as the MAE paper's figures show);
        norm-pix predictions are mapped back with each patch's own mean and std.
        """
        tokens = self.tokenizer(x)
        if mask is None:
            mask = self.make_mask(tokens, generator)
        everything = torch.arange(tokens.num_tokens, device=x.device).expand(tokens.batch_size, -1)
        out = self.forward(x, mask=mask.with_predict(everything))
        values = out.tokens.values
        pred = out.pred
        if getattr(self.target, "norm", False):
            mean, var = values.mean(-1, keepdim=True), values.var(-1, keepdim=True)
            pred = pred * (var + self.target.eps) ** 0.5 + mean
        return mask, pred
