"""TokenUnify (Chen et al. 2024, PAPERS.md row 25): one model trained on a mixture of three prediction orders.

- `random`:   random-token prediction, MAE's: a random subset of tokens is visible (bidirectional attention
              among them) and the decoder predicts the hidden ones.
- `next`:     next-token prediction: every token is seen under a causal attention mask (token i attends to the
              start token and tokens <= i), and the encoder output at token i predicts token i+1 (the start
              token, the cls, predicts token 0) through a linear head.
- `next_all`: next-all-token prediction: a prefix of k tokens (k uniform in [1, N-1]) is seen under the causal
              mask and the decoder predicts *all* the tokens after it at once.

The sequence order is the tokenizer's raster order (depth, height, width for volumes). Each training step
draws one order with probability proportional to `weights` (random, next, next_all) from the step's
generator, so the expected loss is the weighted mixture and a step costs one forward pass. The paper's
`next_all` loss sums over every prefix length; one prefix drawn uniformly per step is an unbiased sample of
that sum (up to its normalisation). Features (`encode`, probes, pictures) use full attention, as MAE's.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .encoders.vit import encoder_inputs, init_mae_weights, run_blocks
from .masking.base import Mask
from .model import MAEOutput, MaskedAutoencoder

ORDERS = ("random", "next", "next_all")


def causal_attention(length: int, device=None) -> Tensor:
    """[L,L] bool, True where query i may attend to key j (j <= i): an autoregressive mask."""
    return torch.ones(length, length, dtype=torch.bool, device=device).tril()


def ordered_mask(batch: int, num_tokens: int, num_keep: int, device=None) -> Mask:
    """The first `num_keep` tokens in sequence order are kept, the rest hidden and predicted (next-all)."""
    order = torch.arange(num_tokens, device=device).expand(batch, -1)
    return Mask.from_order(order, num_keep)


def sequence_mask(batch: int, num_tokens: int, device=None) -> Mask:
    """Every token seen (in order) and every token predicted from the ones before it (next-token)."""
    order = torch.arange(num_tokens, device=device).expand(batch, -1)
    empty = order[:, :0]
    return Mask(keep=order, hidden=empty, restore=order, bool=torch.zeros_like(order, dtype=torch.bool),
                predict=order)


def check_weights(weights) -> Tensor:
    w = torch.as_tensor([float(v) for v in weights], dtype=torch.float64)
    if w.numel() != len(ORDERS) or bool((w < 0).any()) or float(w.sum()) <= 0:
        raise ValueError(f"TokenUnify weights must be {len(ORDERS)} numbers >= 0 for {ORDERS} with a positive sum, "
                         f"got {list(weights)}")
    return w / w.sum()


class TokenUnifyAutoencoder(MaskedAutoencoder):
    """A MaskedAutoencoder (ViT encoder with a cls token as the start token) trained on TokenUnify's mixture of
    random-token, next-token and next-all-token prediction; `weights` (random, next, next_all) mix them."""

    def __init__(self, *parts, weights=(1.0, 1.0, 1.0), **kwargs):
        super().__init__(*parts, **kwargs)
        if getattr(self.encoder, "num_prefix", 0) < 1 or not hasattr(self.encoder, "with_prefix"):
            raise ValueError("TokenUnify needs a ViT encoder with a cls token (the start token of next-token "
                             "prediction)")
        self.weights = check_weights(weights)
        self.next_head = nn.Linear(self.encoder.dim, self.target.dim(self.tokenizer))  # next-token predictions
        init_mae_weights(self.next_head)

    def draw_order(self, generator: torch.Generator | None = None) -> str:
        """One of ORDERS, with probability proportional to the weights."""
        device = generator.device if generator is not None else "cpu"
        u = float(torch.rand((), generator=generator, device=device))
        index = int(torch.searchsorted(self.weights.cumsum(0), torch.tensor(u, dtype=torch.float64), right=True))
        return ORDERS[min(index, len(ORDERS) - 1)]

    def plan(self, order: str, batch: int, num_tokens: int, generator: torch.Generator | None = None,
             device=None) -> tuple[Mask | None, Tensor | None]:
        """The mask and the encoder's attention mask [P+Nv,P+Nv] (None: full) of an autoregressive order;
        (None, None) for `random`, whose mask the masker draws."""
        prefix = self.encoder.num_prefix
        if order == "random":
            return None, None
        if order == "next":
            return sequence_mask(batch, num_tokens, device), causal_attention(prefix + num_tokens, device)
        if order == "next_all":
            gen_device = generator.device if generator is not None else "cpu"
            k = int(torch.randint(1, num_tokens, (), generator=generator, device=gen_device))
            return ordered_mask(batch, num_tokens, k, device), causal_attention(prefix + k, device)
        raise ValueError(f"TokenUnify order must be one of {ORDERS}, got {order!r}")

    def encode_causal(self, tokens, keep: Tensor, attention: Tensor) -> Tensor:
        """The encoder on the tokens at `keep` [B,Nv] under `attention` [P+Nv,P+Nv] -> latents [B,P+Nv,D]."""
        inputs = encoder_inputs(self.encoder, tokens, keep)
        x, pos = self.encoder.with_prefix(inputs["x"], inputs.get("pos"))
        checkpointing = self.encoder.grad_checkpointing and self.training
        return run_blocks(self.encoder.blocks, self.encoder.norm, x, None, checkpointing,
                          lambda i, h: self.encoder.block_input(i, h, pos), extra=(attention,))

    def predict_order(self, x, order: str, generator: torch.Generator | None = None):
        """An autoregressive order's forward -> (tokens, mask, latents, pred [B,Np,T], target [B,Np,T])."""
        tokens = self.tokenize(x)
        mask, attention = self.plan(order, tokens.batch_size, tokens.num_tokens, generator, tokens.embed.device)
        latents = self.encode_causal(tokens, mask.keep, attention)
        if order == "next":  # the output at token i-1 (the start token for i = 0) predicts token i
            p = self.encoder.num_prefix
            pred = self.next_head(latents[:, p - 1:p - 1 + tokens.num_tokens])
        else:
            pred = self.decode(latents, mask, tokens)
        return tokens, mask, latents, pred, self.targets_for(x, tokens, mask.predict)

    def forward(self, x, generator: torch.Generator | None = None, mask: Mask | None = None,
                noise: Tensor | None = None) -> MAEOutput:
        """One step of the mixture: the drawn order's loss (its index logged as `order`)."""
        order = self.draw_order(generator)
        if order == "random":
            out = super().forward(x, generator, mask, noise)
        else:
            tokens, mask, latents, pred, target = self.predict_order(x, order, generator)
            token_loss = self.token_loss(pred, target, mask, tokens)
            loss = token_loss.mean()
            out = MAEOutput(loss=loss, token_loss=token_loss, pred=pred, target=target, mask=mask,
                            latents=latents, tokens=tokens, terms={"reconstruction": loss.detach()})
        out.terms["order"] = torch.tensor(float(ORDERS.index(order)))
        return out
