"""`recap` (row 21, ReCAP): interleave full passes with cheap steps. A full pass runs every position and
caches each block's keys/values; a cheap step recomputes only the positions that were masked at the last
full pass (still masked, or revealed since), attending to the cached keys/values of the context tokens
(the class token and the tokens visible at the last full pass), whose features are reused.

`full_every=k`: a full pass at steps 0, k, 2k, ...; `full_every=1` is exactly `maskgit`.
"""
from __future__ import annotations

import torch

from ..model import gather_rows, run_blocks, visible_positions
from .base import SAMPLERS, Predictor, masked_decode


class RecapPredictor(Predictor):
    def __init__(self, model, labels, guidance=0.0, full_every: int = 2):
        super().__init__(model, labels, guidance)
        if model.split:
            raise ValueError("--sampler recap runs a MaskGIT-type generator (every position through the same "
                             "blocks); this one has ENAT's split: use --sampler enat")
        if full_every < 1:
            raise ValueError(f"--full-every {full_every}: must be >= 1")
        self.full_every = full_every
        self.kvs = self.known_full = None

    def predict(self, codes, known, step):
        model = self.model
        cls = model.class_token(self.labels, codes.shape[0], codes.device)
        inputs = model.embed(codes, known)
        if step % self.full_every == 0:
            h, self.kvs = run_blocks(model.blocks, torch.cat([cls, inputs], 1))
            self.known_full = known.clone()
            self.full_passes += 1
            return model.head_logits(h[:, 1:])
        context = torch.cat([torch.zeros_like(codes[:, :1, 0]), 1 + visible_positions(self.known_full)], 1)
        fresh = visible_positions(~self.known_full)
        index = lambda t: torch.gather(t, 2, context[:, None, :, None].expand(-1, t.shape[1], -1, t.shape[3]))
        past = [(index(k), index(v)) for k, v in self.kvs]
        h, _ = run_blocks(model.blocks, gather_rows(inputs, fresh), past)
        self.cheap_passes += 1
        logits = model.head_logits(h)
        out = logits.new_zeros(codes.shape[0], model.num_tokens, *logits.shape[2:])
        return out.scatter(1, fresh[:, :, None, None].expand_as(logits), logits)


@SAMPLERS.register("recap")
def recap(model, count, labels, steps, generator=None, temperature=1.0, guidance=0.0, choice_temperature=4.5,
          full_every=2, trace=None):
    """-> (codes [B,N,D], {full_passes, cheap_passes})."""
    predictor = RecapPredictor(model, labels, guidance, full_every)
    codes = masked_decode(model, predictor, count, steps, generator, temperature, choice_temperature, trace=trace)
    return codes, {"full_passes": predictor.full_passes, "cheap_passes": predictor.cheap_passes}
