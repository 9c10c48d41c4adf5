"""`joint` (row 49, approximate joint sampling): a light one-block *sampler layer* on top of the frozen
generator, trained to mimic sequential (one token per pass) sampling, so one full pass of the generator is
followed by several passes of the layer alone, each unmasking one more token.

The layer reads the generator's last hidden states of the full pass [B,1+N,dim] plus the embeddings of the
tokens unmasked since that pass, runs one transformer block and the generator's output head (copied), and
is trained (`train_joint_layer`) so that its distribution over the still-masked positions matches the frozen
generator's distribution *after* those tokens are revealed (KL, teacher = a second full pass). The revealed
tokens during training are the data's own tokens at random masked positions (our choice; the paper's
distillation target, the frozen model's conditional, is the same).

`tokens_per_pass=1` never calls the layer and is exactly sequential sampling (`maskgit` with one step per
token, tested); `use_layer=False` unmasks the same number of tokens per pass from the full pass's
marginals: the baseline the layer is measured against.
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..model import Block
from .base import SAMPLERS, draw, gumbel, reveal


class JointSamplerLayer(nn.Module):
    """One block over the generator's hidden states + the newly revealed tokens -> logits [B,N,D,V]."""

    def __init__(self, generator):
        super().__init__()
        self.token_dims, self.levels = generator.token_dims, generator.levels
        self.token_embed = copy.deepcopy(generator.token_embed)
        self.block = Block(generator.dim, generator.heads)
        for layer in (self.block.proj, self.block.mlp[-1]):   # start as the identity: the full pass's marginals
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        self.norm, self.head = copy.deepcopy(generator.norm), copy.deepcopy(generator.head)

    def forward(self, hidden: Tensor, codes: Tensor, revealed: Tensor) -> Tensor:
        """hidden [B,1+N,dim] of a full pass, codes [B,N,D], revealed [B,N] bool (unmasked since) -> [B,N,D,V]."""
        offsets = torch.arange(self.token_dims, device=codes.device) * self.levels
        add = self.token_embed(codes + offsets).sum(2) * revealed.unsqueeze(-1)
        h, _ = self.block(hidden + F.pad(add, (0, 0, 1, 0)))
        out = self.head(self.norm(h[:, 1:]))
        return out.reshape(*out.shape[:2], self.token_dims, self.levels)


def train_joint_layer(generator, codes: Tensor, labels: Tensor | None, steps: int = 300, batch_size: int = 64,
                      tokens_per_pass: int = 4, lr: float = 1e-3, seed: int = 0, progress=None) -> JointSamplerLayer:
    """Distil sequential sampling into a `JointSamplerLayer` on `codes [M,N,D]` (the data's tokens)."""
    if tokens_per_pass < 2:
        raise ValueError("tokens_per_pass must be >= 2 to train a joint sampler layer")
    device = codes.device
    layer = JointSamplerLayer(generator).to(device)
    optimizer = torch.optim.AdamW(layer.parameters(), lr=lr, weight_decay=0.0)
    g = torch.Generator(device=device).manual_seed(seed)
    generator.eval()
    for step in range(steps):
        idx = torch.randint(len(codes), (batch_size,), generator=g, device=device)
        x, y = codes[idx], (labels[idx] if labels is not None else None)
        if y is not None:   # as the generator was trained: some rows without their class (guidance)
            y = torch.where(torch.rand(len(y), generator=g, device=device) < generator.class_dropout, -1, y)
        hidden = generator.draw_hidden(batch_size, device, g)
        extra = int(torch.randint(1, tokens_per_pass, (1,), generator=g, device=device))
        extra = min(extra, int(hidden.sum(1).min()) - 1)
        if extra < 1:
            continue
        noise = torch.rand(hidden.shape, generator=g, device=device).masked_fill(~hidden, 2.0)
        revealed = torch.zeros_like(hidden).scatter(1, noise.argsort(1)[:, :extra], True)
        with torch.no_grad():
            h = generator.hidden(x, ~hidden, y)
            teacher = generator.logits(x, ~hidden | revealed, y).log_softmax(-1)
        student = layer(h, x, revealed).log_softmax(-1)
        target = hidden & ~revealed
        kl = (teacher.exp() * (teacher - student)).sum(-1).mean(-1)   # [B,N]
        loss = kl[target].mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if progress is not None:
            progress(step, float(loss.detach()))
    return layer.eval()


@SAMPLERS.register("joint")
@torch.no_grad()
def joint(model, count, labels, steps=8, generator=None, temperature=1.0, guidance=0.0, choice_temperature=4.5,
          tokens_per_pass=None, layer: JointSamplerLayer | None = None, use_layer=True, trace=None):
    """Unmask `tokens_per_pass` tokens per full pass (default ceil(N / steps): `steps` full passes), one at a
    time (the layer between them; or the full pass's marginals with `use_layer=False`).
    -> (codes [B,N,D], {full_passes, cheap_passes})."""
    tokens_per_pass = tokens_per_pass or -(-model.num_tokens // steps)
    if tokens_per_pass < 1:
        raise ValueError(f"--tokens-per-pass {tokens_per_pass}: must be >= 1")
    if use_layer and tokens_per_pass > 1 and layer is None:
        raise ValueError("--sampler joint needs a trained sampler layer (anymae generate trains one)")
    n, device = model.num_tokens, model.pos.device
    guided = labels is not None and guidance != 0.0
    cond = torch.cat([labels, torch.full_like(labels, -1)]) if guided else labels
    expand = (lambda t: torch.cat([t, t])) if guided else (lambda t: t)

    def combine(logits):
        if not guided:
            return logits
        c, u = logits.chunk(2)
        return c + guidance * (c - u)

    codes = torch.zeros(count, n, model.token_dims, dtype=torch.long, device=device)
    known = torch.zeros(count, n, dtype=torch.bool, device=device)
    cost = {"full_passes": 0, "cheap_passes": 0}
    while int(known.sum(1).min()) < n:
        hidden = model.hidden(expand(codes), expand(known), cond)
        cost["full_passes"] += 1
        logits = combine(model.head_logits(hidden[:, 1:]))
        since = torch.zeros_like(known)
        for i in range(min(tokens_per_pass, n - int(known.sum(1).min()))):
            if i and use_layer:
                logits = combine(layer(hidden, expand(codes), expand(since)))
                cost["cheap_passes"] += 1
            tokens, logp = draw(logits.float(), temperature, generator)
            done = int(known.sum(1).min()) + 1
            noise = choice_temperature * (1.0 - done / n) * gumbel(logp.shape, generator, device)
            before = known
            codes, known = reveal(codes, known, tokens, logp + noise, 1)
            since = since | (known & ~before)
            if trace is not None:
                trace.append(done)
    return codes, cost
