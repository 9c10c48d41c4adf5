"""`umd` (row 1, UMD): every token at once, from Gaussian noise, by ancestral diffusion sampling over `steps`
respaced timesteps with the transformer's eps prediction (every token visible, timestep t + 1, the class);
x_0 clipped to the pixel range for pixel tokens. Guidance: eps = cond + w (cond - uncond). Each step is one full
pass of the transformer."""
from __future__ import annotations

import torch

from .base import SAMPLERS
from .mar import check_continuous


@SAMPLERS.register("umd")
@torch.no_grad()
def umd(model, count, labels, steps, generator=None, temperature=1.0, guidance=0.0, **_):
    """-> (standardised tokens [B,N,T], {full_passes, cheap_passes})."""
    check_continuous(model, "umd")
    guided = labels is not None and guidance != 0.0
    cond_labels = torch.cat([labels, torch.full_like(labels, -1)]) if guided else labels

    def eps_fn(x, t):
        if not guided:
            return model.eps(x, t, cond_labels)
        cond, uncond = model.eps(torch.cat([x, x]), torch.cat([t, t]), cond_labels).chunk(2)
        return cond + guidance * (cond - uncond)

    tokens, passes = model.diffusion.sample(eps_fn, (count, model.num_tokens, model.token_dim), steps, generator,
                                            temperature, clip=model.clip_range())
    return tokens, {"full_passes": passes, "cheap_passes": 0}
