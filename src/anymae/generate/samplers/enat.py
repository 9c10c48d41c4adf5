"""`enat` (row 47, ENAT): on a generator with ENAT's split (`enc_depth > 0`), the visible tokens are encoded
on their own and the mask tokens decoded from them; across steps only the tokens revealed since the last
step (the "critical" ones) go through the encoder, reading the cached keys/values of the tokens encoded
earlier, whose encoded features are reused instead of recomputed. `reuse=False` re-encodes every visible
token each step: then it is exactly `maskgit` on the same model (tested).

Our reading of the paper's temporal reuse: a token's encoder features are computed once, when it becomes
visible (attending to itself, the class token and the tokens visible before it), and reused afterwards.
"""
from __future__ import annotations

import torch

from ..model import gather_rows, run_blocks, visible_positions
from .base import SAMPLERS, Predictor, masked_decode


class EnatPredictor(Predictor):
    def __init__(self, model, labels, guidance=0.0, reuse: bool = True):
        super().__init__(model, labels, guidance)
        if not model.split:
            raise ValueError("--sampler enat needs a generator with ENAT's encoder/decoder split "
                             "(train one with --recipe enat_tiny)")
        self.reuse = reuse
        self.positions = self.encoded = self.kvs = None   # [B,E], [B,1+E,dim], per block (k, v) [B,H,1+E,hd]

    def encode(self, codes, known):
        model = self.model
        old = self.positions is not None and self.reuse
        if old:
            was = torch.zeros_like(known).scatter(1, self.positions, True)
            new = visible_positions(known & ~was)
            h = gather_rows(model.embed_codes(codes) + model.pos, new)
            out, kvs = run_blocks(model.enc_blocks, h, self.kvs)
            self.positions = torch.cat([self.positions, new], 1)
            self.encoded = torch.cat([self.encoded, out], 1)
            self.kvs = [(torch.cat([k0, k], 2), torch.cat([v0, v], 2)) for (k0, v0), (k, v) in zip(self.kvs, kvs)]
            self.cheap_passes += 1
        else:
            self.positions = visible_positions(known)
            self.encoded, self.kvs = model.encode_visible(codes, self.positions, self.labels)
            self.full_passes += 1

    def predict(self, codes, known, step):
        self.encode(codes, known)
        model = self.model
        h, _ = run_blocks(model.blocks, model.decoder_inputs(self.encoded, self.positions, known))
        return model.head_logits(h[:, 1:])


@SAMPLERS.register("enat")
def enat(model, count, labels, steps, generator=None, temperature=1.0, guidance=0.0, choice_temperature=4.5,
         reuse=True, trace=None):
    """-> (codes [B,N,D], {full_passes: steps that re-encoded every visible token, cheap_passes: steps that
    encoded only the newly revealed ones})."""
    predictor = EnatPredictor(model, labels, guidance, reuse)
    codes = masked_decode(model, predictor, count, steps, generator, temperature, choice_temperature, trace=trace)
    return codes, {"full_passes": predictor.full_passes, "cheap_passes": predictor.cheap_passes}
