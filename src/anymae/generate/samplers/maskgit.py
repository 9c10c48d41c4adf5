"""`maskgit`: one full pass of the generator every step (MaskGIT's sampler, the reference the others are
measured against)."""
from __future__ import annotations

from .base import SAMPLERS, Predictor, masked_decode


@SAMPLERS.register("maskgit")
def maskgit(model, count, labels, steps, generator=None, temperature=1.0, guidance=0.0, choice_temperature=4.5,
            trace=None):
    """-> (codes [B,N,D], {full_passes, cheap_passes})."""
    predictor = Predictor(model, labels, guidance)
    codes = masked_decode(model, predictor, count, steps, generator, temperature, choice_temperature, trace=trace)
    return codes, {"full_passes": predictor.full_passes, "cheap_passes": predictor.cheap_passes}
