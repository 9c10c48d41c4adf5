"""DMJD (row 33) joint distillation: every disjoint view is reconstructed, and the views teach each other.

With the `disjoint` masker a token hidden in view v is visible in view u = v+1 (mod k). The decoder's
state for that token in view v (through a small head) is pulled towards view u's encoding of it
(mapped by the decoder's input layer, no gradient): the distillation term couples the views.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..tokenizers.base import gather_tokens
from .tap import LayerTap
from .base import ExtraTerm
from .registry import TERMS


@TERMS.register("joint_distillation")
class JointDistillation(ExtraTerm):
    """Adds `views_reconstruction` (the other views' target loss) and weight * `joint_distillation`."""

    def __init__(self, weight: float = 1.0, name: str = "joint_distillation"):
        super().__init__()
        self.weight, self.name = weight, name
        self.head: nn.Module | None = None
        self._tap: LayerTap | None = None

    def bind(self, model) -> None:
        self.head = nn.Linear(model.decoder.dim, model.decoder.dim)
        self._tap = LayerTap([model.decoder.norm])

    @staticmethod
    def run_view(model, tokens, mask, full_target: Tensor):
        """One more masked view through the model's encode and decode steps -> (latents, per-token loss)."""
        latents = model.encode_visible(tokens, mask.keep)
        pred = model.decode(latents, mask, tokens)
        return latents, model.token_loss(pred, gather_tokens(full_target, mask.predict), mask, tokens)

    def coupling(self, model, views, latents, states) -> Tensor:
        """views: k Masks; latents[v] [B,P+Nv,D]; states[v] [B,Nh,Dd] the decoder's (normalised) states of
        view v's hidden tokens in `hidden` order: what the MAE decoder's final norm sees (decoders/mae.py
        normalises only the tokens it predicts, and a view predicts its hidden tokens)."""
        p = model.encoder.num_prefix
        losses = []
        k = len(views)
        for v in range(k):
            u = (v + 1) % k
            with torch.no_grad():  # the teaching view: its encoding of the tokens it sees
                taught = model.decoder.embed(latents[u][:, p:])                   # [B,Nv_u,Dd] in keep order
                b, n = views[u].restore.shape
                spread = taught.new_zeros(b, n, taught.shape[-1])
                spread.scatter_(1, views[u].keep.unsqueeze(-1).expand(-1, -1, taught.shape[-1]), taught)
                target = F.layer_norm(gather_tokens(spread, views[v].hidden), taught.shape[-1:])
            if states[v].shape[1] != views[v].hidden.shape[1]:
                raise ValueError(f"joint distillation: view {v}'s decoder states cover {states[v].shape[1]} tokens, "
                                 f"its hidden tokens are {views[v].hidden.shape[1]} (each view must predict its "
                                 "hidden tokens)")
            student = self.head(states[v])
            losses.append(F.mse_loss(student, target))
        return torch.stack(losses).mean()

    def forward(self, ctx) -> dict[str, Tensor]:
        views = getattr(ctx.mask, "views", None)
        model = ctx.model
        if not views or len(views) < 2:
            if hasattr(model.masker, "sample_views"):
                return {}  # a mask given from outside (reconstruction pictures): one view, nothing to couple
            raise ValueError("JointDistillation needs the `disjoint` masker with at least 2 views")
        states, latents, extra = [self._tap[0]], [ctx.latents], []
        full_target = model.targets_for(ctx.x, ctx.tokens)
        for mask in views[1:]:
            z, token_loss = self.run_view(model, ctx.tokens, mask, full_target)
            latents.append(z)
            states.append(self._tap[0])
            extra.append(token_loss.mean())
        return {"views_reconstruction": torch.stack(extra).sum(),
                self.name: self.weight * self.coupling(model, views, latents, states)}
