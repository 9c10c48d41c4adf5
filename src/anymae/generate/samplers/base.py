"""The loop every masked sampler shares (MaskGIT): start fully masked; at each of S steps predict every
masked position, draw a token there, and keep the most confident draws so that exactly the schedule's number
of tokens is revealed; confidences get Gumbel noise annealed to zero over the steps.

A sampler differs only in its `Predictor` (how it gets the logits at a step: a full pass, or a cheaper pass
reusing features of earlier steps). Classifier-free guidance: with `guidance` w > 0 and labels, the predictor
runs the conditional and the "no class" rows in one batch and returns cond + w * (cond - uncond).
"""
from __future__ import annotations

import torch
from torch import Tensor

from ...registry import Registry
from ..schedule import masked_counts

SAMPLERS = Registry("sampler")


def gumbel(shape, generator: torch.Generator | None, device) -> Tensor:
    u = torch.rand(shape, generator=generator, device=device).clamp(1e-10, 1 - 1e-10)
    return -torch.log(-torch.log(u))


class Predictor:
    """Logits for every position at a step, with classifier-free guidance; counts its passes.

    `full_passes`: evaluations of the whole network on every position; `cheap_passes`: evaluations that
    run part of it (reused features). Subclasses give `predict(codes, known, step)` on the (guidance-doubled)
    batch."""

    def __init__(self, model, labels: Tensor | None, guidance: float = 0.0):
        self.model, self.guidance = model, float(guidance)
        self.guided = labels is not None and self.guidance != 0.0
        self.labels = torch.cat([labels, torch.full_like(labels, -1)]) if self.guided else labels
        self.full_passes = self.cheap_passes = 0

    def expand(self, x: Tensor) -> Tensor:
        return torch.cat([x, x]) if self.guided else x

    def __call__(self, codes: Tensor, known: Tensor, step: int) -> Tensor:
        logits = self.predict(self.expand(codes), self.expand(known), step)
        if self.guided:
            cond, uncond = logits.chunk(2)
            logits = cond + self.guidance * (cond - uncond)
        return logits

    def predict(self, codes: Tensor, known: Tensor, step: int) -> Tensor:
        self.full_passes += 1
        return self.model.logits(codes, known, self.labels)


def draw(logits: Tensor, temperature: float, generator) -> tuple[Tensor, Tensor]:
    """logits [B,N,D,V] -> (tokens [B,N,D] drawn at `temperature` (0: argmax), their log-probability summed
    over the D heads [B,N] under the untempered model)."""
    if temperature > 0:
        tokens = (logits / temperature + gumbel(logits.shape, generator, logits.device)).argmax(-1)
    else:
        tokens = logits.argmax(-1)
    logp = torch.log_softmax(logits, -1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1).sum(-1)
    return tokens, logp


def reveal(codes: Tensor, known: Tensor, tokens: Tensor, confidence: Tensor, count: int) -> tuple[Tensor, Tensor]:
    """Reveal the `count` most confident masked positions: (codes, known) with them filled in."""
    confidence = confidence.masked_fill(known, float("-inf"))
    pick = confidence.topk(count, dim=1).indices
    new = torch.zeros_like(known).scatter(1, pick, True)
    return torch.where(new.unsqueeze(-1), tokens, codes), known | new


@torch.no_grad()
def masked_decode(model, predictor: Predictor, batch: int, steps: int, generator: torch.Generator | None = None,
                  temperature: float = 1.0, choice_temperature: float = 4.5, schedule: str | None = None,
                  trace: list | None = None) -> Tensor:
    """MaskGIT's iterative decoding -> codes [B,N,D]. `trace`, when a list, gets the revealed count per step."""
    n, device = model.num_tokens, model.pos.device
    counts = masked_counts(n, steps, schedule or model.schedule)
    codes = torch.zeros(batch, n, model.token_dims, dtype=torch.long, device=device)
    known = torch.zeros(batch, n, dtype=torch.bool, device=device)
    for t in range(steps):
        tokens, logp = draw(predictor(codes, known, t).float(), temperature, generator)
        noise = choice_temperature * (1.0 - (t + 1) / steps) * gumbel(logp.shape, generator, device)
        codes, known = reveal(codes, known, tokens, logp + noise, counts[t] - counts[t + 1])
        if trace is not None:
            trace.append(int(known.sum(1).min()))
    return codes


def check_sampling(model, labels: Tensor | None, steps: int, temperature: float) -> None:
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"--steps {steps}: must be a whole number >= 1")
    if temperature < 0:
        raise ValueError(f"--temperature {temperature}: must be >= 0")
    if labels is not None:
        if not model.num_classes:
            raise ValueError("--class: this generator was trained without classes (unconditional)")
        bad = labels[(labels < 0) | (labels >= model.num_classes)]
        if len(bad):
            raise ValueError(f"--class {int(bad[0])}: out of range; this generator knows classes 0..{model.num_classes - 1}")


@torch.no_grad()
def sample(model, sampler: str = "maskgit", count: int = 16, labels: Tensor | None = None, steps: int = 8,
           generator: torch.Generator | None = None, temperature: float = 1.0, guidance: float = 0.0,
           **options) -> tuple[Tensor, dict]:
    """`count` images from `model` with sampler `sampler` -> (pixels [B,C,H,W] in [0,1], {full_passes,
    cheap_passes}). `labels [B]` (None: unconditional); `options` go to the sampler."""
    check_sampling(model, labels, steps, temperature)
    model.eval()
    run = SAMPLERS.get(sampler)
    takes = getattr(model, "samplers", None)
    if takes and sampler not in takes:   # continuous tokens: only their own samplers
        raise ValueError(f"--sampler {sampler}: this generator of continuous tokens takes {', '.join(takes)}")
    device = model.pos.device
    labels = labels.to(device) if labels is not None else None
    codes, cost = run(model, count=count, labels=labels, steps=steps, generator=generator, temperature=temperature,
                      guidance=guidance, **options)
    decode = getattr(model, "decode_tokens", None) or model.tokenizer.decode
    images = decode(codes).clamp(-1, 1)
    return (images + 1) / 2, cost
