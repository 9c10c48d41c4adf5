"""Samplers for `MaskedTokenGenerator`, one file each, registered in `SAMPLERS` by name (`--sampler`):
`maskgit` (full pass every step), `enat` (row 47: reuse the encoded visible tokens across steps), `recap`
(row 21: cheap steps that reuse the context tokens' cached keys/values between full passes), `joint`
(row 49: a trained one-block sampler layer unmasks several tokens per full pass); for continuous tokens
`mar` (rows 34, 51, 31: random-order unmasking, each token drawn by the per-token diffusion head) and `umd`
(row 1: ancestral diffusion sampling of every token at once).

`sample(model, name, count, labels, steps, ...)` -> (pixels [B,C,H,W] in [0,1], cost dict).
"""
from .base import SAMPLERS, Predictor, masked_decode, sample
from . import maskgit, enat, recap, joint, mar, umd  # noqa: F401,E402  (register)

__all__ = ["SAMPLERS", "Predictor", "masked_decode", "sample"]
