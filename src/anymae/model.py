"""MaskedAutoencoder: Tokenizer -> Masker -> Encoder(visible only) -> Decoder, Target -> Loss (+ extra terms)."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from .decoders.base import Decoder
from .encoders.vit import encode_tokens
from .losses.base import Loss
from .masking.base import Mask, Masker
from .masking.decoder import decoder_subset
from .targets.base import Target
from .terms import TERMS
from .terms.base import ExtraTerm, StepContext
from .tokenizers.base import Tokens, gather_tokens

__all__ = ["MaskedAutoencoder", "MAEOutput", "StepContext"]


@dataclass
class MAEOutput:
    """What one forward pass gives.

    loss        scalar: mean of `token_loss` plus every extra term
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


def check_part(part, base: type, role: str) -> None:
    if not isinstance(part, base):
        raise TypeError(f"{role} {type(part).__name__} must subclass {base.__module__}.{base.__name__}")


class MaskedAutoencoder(nn.Module):
    """Wires the parts of DESIGN.md: tokenizer, masker, encoder, decoder, target, loss and extra terms
    (`aux`, the terms/ stage). Each step of `forward` is a method that parts and tools call when they
    need part of a forward pass (more views, pictures, imputation) instead of rebuilding it.

    Order at construction: the masker learns the token layout (`masker.bind`); the target and extra terms
    `prepare` the student (the position task drops positions) before anything copies it; the target
    binds (EMA teachers copy the student); the decoder is sized; the extra terms bind.
    """

    def __init__(self, tokenizer: nn.Module, masker: Masker, encoder: nn.Module, decoder: Decoder,
                 target: Target, loss: Loss, aux: list[ExtraTerm] | None = None):
        super().__init__()
        if tokenizer.dim != encoder.dim and not getattr(encoder, "reads_input", False):  # CNNs read the image
            raise ValueError(f"tokenizer width {tokenizer.dim} != encoder width {encoder.dim}")
        for part, base, role in ((masker, Masker, "masker"), (decoder, Decoder, "decoder"), (target, Target, "target"),
                                 (loss, Loss, "loss"), *((t, ExtraTerm, "extra term") for t in aux or [])):
            check_part(part, base, role)
        self.tokenizer, self.masker, self.encoder = tokenizer, masker, encoder
        self.decoder, self.target, self.loss = decoder, target, loss
        self.aux = nn.ModuleList(aux or [])
        self.decoder_keep_ratio = 1.0  # < 1: VideoMAE V2 decoder masking (masking/decoder.py, --decoder-keep-ratio)
        masker.bind(tokenizer)
        for part in (target, *self.aux):
            part.prepare(self)
        target.bind(self)
        self.bind_decoder()
        for part in self.aux:
            part.bind(self)

    # ------------------------------------------------------------ wiring a built model
    def bind_decoder(self) -> None:
        """Size the decoder's in/out layers for the encoder width, the target width and the token layout."""
        self.decoder.bind(self.encoder.dim, self.target.dim(self.tokenizer),
                          self.tokenizer.position(self.decoder.dim, self.decoder.learnable_pos))

    def add_term(self, term: ExtraTerm) -> None:
        check_part(term, ExtraTerm, "extra term")
        term.bind(self)
        self.aux.append(term)

    def set_masker(self, masker: Masker) -> None:
        """Swap the masker, adding the extra terms it needs (HPM's loss predictor) unless present."""
        check_part(masker, Masker, "masker")
        masker.bind(self.tokenizer)
        self.masker = masker
        for name, args in masker.term_specs():
            if self.term_named(name) is None:
                self.add_term(TERMS.build(name, **args))

    def set_target(self, target: Target) -> None:
        """Swap the target and its loss; the decoder's output layer is re-made at the target's width."""
        check_part(target, Target, "target")
        self.target = target
        target.install(self)
        target.bind(self)
        self.loss = target.make_loss(self.tokenizer)
        self.bind_decoder()

    def term_named(self, name: str) -> ExtraTerm | None:
        """The extra term registered as `name` (terms/ registry), or None."""
        return next((t for t in self.aux if getattr(t, "registered_name", None) == name), None)

    # ------------------------------------------------------------ the named steps of one forward pass
    def tokenize(self, x) -> Tokens:
        return self.tokenizer(x)

    def draw_mask(self, tokens: Tokens, generator: torch.Generator | None = None, noise: Tensor | None = None) -> Mask:
        """This step's mask: from the token grid, or from per-token scores when the masker reads them;
        `noise` [B,N]: random masking by argsort of this noise (HF ViTMAE's `noise`)."""
        if noise is not None:
            return self.masker.sample(tokens.batch_size, tokens.grid, generator, tokens.embed.device, noise=noise)
        if not self.masker.reads_scores:
            return self.masker(tokens, generator)
        with torch.no_grad():
            return self.masker(tokens, generator, scores=self.masker.scorer(self, tokens))

    def grid_mask(self, batch_size: int, generator: torch.Generator | None, device) -> Mask | None:
        """A mask drawn from the token grid alone (with decoder masking), or None when the masker reads
        the sample's content (scores, input corruption): the trainer draws those per rank."""
        if self.masker.reads_content or not hasattr(self.tokenizer, "grid"):
            return None
        mask = self.masker.sample(batch_size, self.tokenizer.grid, generator, device)
        return decoder_subset(mask, self.decoder_keep_ratio, generator)

    def encode_visible(self, tokens: Tokens, keep: Tensor | None = None) -> Tensor:
        """The encoder on the tokens at `keep` [B,Nv] (every token when None): latents [B,P+Nv,D]."""
        return encode_tokens(self.encoder, tokens, keep)

    def decode(self, latents: Tensor, mask: Mask, tokens: Tokens) -> Tensor:
        """latents [B,P+Nv,D] -> predictions [B,Np,T] for `mask.predict`."""
        return self.decoder(latents, mask, tokens, self.encoder.num_prefix)

    @torch.no_grad()
    def targets_for(self, x, tokens: Tokens, predict: Tensor | None = None) -> Tensor:
        """Targets of the tokens `predict` [B,Np] -> [B,Np,T] (of every token [B,N,T] when None)."""
        target = self.target(x, tokens)
        return target if predict is None else gather_tokens(target, predict)

    def token_loss(self, pred: Tensor, target: Tensor, mask: Mask, tokens: Tokens) -> Tensor:
        return self.loss.token_loss(pred, target, mask, tokens)

    def forward(self, x, generator: torch.Generator | None = None, mask: Mask | None = None,
                noise: Tensor | None = None) -> MAEOutput:
        """x: a batch of the tokenizer's modality (images [B,C,H,W], ...); noise [B,N] optional."""
        clean = x
        if self.masker.corrupts_input and mask is None:  # SimMIM-style: the encoder sees every (corrupted) token
            x, mask = self.masker.corrupt(x, generator)
        tokens = self.tokenize(x)
        if mask is None:
            mask = decoder_subset(self.draw_mask(tokens, generator, noise), self.decoder_keep_ratio, generator)
        wanted = sorted({i for part in self.aux for i in getattr(part, "layers", ())})  # HiCMAE's paired layers
        if wanted:  # the encoder runs once and hands the terms the block outputs they name (StepContext.layers)
            latents, outs = encode_tokens(self.encoder, tokens, mask.keep, return_layers=wanted)
            layers = dict(zip(wanted, outs))
        else:
            latents, layers = self.encode_visible(tokens, mask.keep), None  # hidden tokens are dropped
        pred = self.decode(latents, mask, tokens)
        target = self.targets_for(clean, tokens if clean is x else self.tokenize(clean), mask.predict)
        token_loss = self.token_loss(pred, target, mask, tokens)
        loss = token_loss.mean()
        terms = {"reconstruction": loss.detach(), **{k: v.detach() for k, v in self.target.monitor(target).items()}}
        ctx = StepContext(self, clean, tokens, mask, latents, pred, target, token_loss, generator, layers)
        for part in self.aux:
            for name, value in part(ctx).items():
                loss = loss + value
                terms[name] = value.detach()
        return MAEOutput(loss=loss, token_loss=token_loss, pred=pred, target=target, mask=mask,
                         latents=latents, tokens=tokens, terms=terms)

    def after_step(self) -> None:
        """Called after each optimizer step: the target and extra terms with EMA teachers update."""
        for part in (self.target, *self.aux):
            part.after_step()

    # ------------------------------------------------------------ features and predictions
    def encode(self, x) -> Tensor:
        """x -> latents of every token, no masking: [B,P+N,D] (P prefix tokens first)."""
        return self.encode_visible(self.tokenize(x))

    def encode_layers(self, x, layers) -> list[Tensor]:
        """x -> outputs of the given encoder blocks, no masking: each [B,P+N,D]."""
        return encode_tokens(self.encoder, self.tokenize(x), return_layers=layers)[1]

    @torch.no_grad()
    def predict_every_token(self, x, mask: Mask) -> tuple[Tokens, Tensor]:
        """The encoder sees `mask.keep`; the decoder predicts every token (visible ones too, as the MAE
        paper's figures show) -> (tokens, predictions [B,N,T] in target space)."""
        tokens = self.tokenize(x)
        everything = torch.arange(tokens.num_tokens, device=tokens.embed.device).expand(tokens.batch_size, -1)
        return tokens, self.decode(self.encode_visible(tokens, mask.keep), mask.with_predict(everything), tokens)

    @torch.no_grad()
    def reconstruct(self, x, generator: torch.Generator | None = None, mask: Mask | None = None):
        """-> (mask, predicted values of every token [B,N,P] in the tokenizer's value space)."""
        if mask is None:
            mask = self.draw_mask(self.tokenize(x), generator)
        tokens, pred = self.predict_every_token(x, mask)
        return mask, self.target.invert(pred, tokens.values)

    @torch.no_grad()
    def predict_modalities(self, sample: dict, mask: Mask) -> dict[str, Tensor]:
        """Multi-modal models: {name: prediction shaped as the sample's modality} for every token of every
        modality (norm-pix undone per patch, class maps as class ids)."""
        if not hasattr(self.decoder, "predict_all"):
            raise ValueError(f"{type(self.decoder).__name__} has no per-modality heads (a MultiMAE-style model)")
        tokens = self.tokenize(sample)
        parts = self.decoder.predict_all(self.encode_visible(tokens, mask.keep), mask, tokens, self.encoder.num_prefix)
        return self.target.invert_modalities(parts, tokens, self.tokenizer)
