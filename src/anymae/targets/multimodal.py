"""Targets for several modalities at once (MultiMAE, row 50): each modality's own target, padded
into one [B,N,T] tensor; class maps are predicted as per-pixel class scores."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..tokenizers.base import Tokens
from .registry import register_target
from .base import Target


@register_target("class")
class ClassTarget(Target):
    """tokens.values [B,N,p*p] holding class ids -> the same ids; predictions are [B,N,p*p*classes] scores."""

    def __init__(self, classes: int):
        super().__init__()
        self.classes = classes

    def dim(self, tokenizer) -> int:
        return tokenizer.patch_dim

    def pred_dim(self, tokenizer) -> int:
        return tokenizer.patch_dim * self.classes

    def forward(self, x, tokens) -> Tensor:
        return tokens.values

    def invert(self, pred: Tensor, values: Tensor) -> Tensor:
        """Class scores [B,N,p*p*classes] -> class ids [B,N,p*p] (float, as the tokens' values)."""
        b, n, _ = pred.shape
        return pred.view(b, n, -1, self.classes).argmax(-1).float()

    def extra_repr(self) -> str:
        return f"classes={self.classes}"


class MultiModalTarget(Target):
    """{name: target} -> per-token targets [B,N,T] (T = the widest; narrower ones zero-padded).

    `widths` = the tokenizer's value width per modality (MultiModalTokenizer.widths).
    """

    def __init__(self, parts: dict[str, nn.Module], widths: dict[str, int]):
        super().__init__()
        missing = sorted(set(widths) - set(parts))
        if missing:
            raise ValueError(f"no target for modalities {missing}")
        self.parts = nn.ModuleDict(parts)
        self.widths = dict(widths)

    def dims(self, tokenizer) -> dict[str, int]:
        return {n: self.parts[n].dim(tokenizer.parts[n]) for n in tokenizer.names}

    def pred_dims(self, tokenizer) -> dict[str, int]:
        return {n: getattr(self.parts[n], "pred_dim", self.parts[n].dim)(tokenizer.parts[n]) for n in tokenizer.names}

    def dim(self, tokenizer) -> int:
        return max(self.dims(tokenizer).values())

    def forward(self, x: dict, tokens: Tokens) -> Tensor:
        out = []
        for name, (s, e) in tokens.extra["spans"].items():
            sub = Tokens(values=tokens.values[:, s:e, :self.widths[name]], embed=tokens.embed[:, s:e],
                         pos=tokens.pos[:, s:e], grid=(e - s,))
            out.append(self.parts[name](x.get(name), sub))
        width = max([*self.widths.values(), *(t.shape[-1] for t in out)])  # a motion target is wider than its tokens
        return torch.cat([F.pad(t, (0, width - t.shape[-1])) for t in out], dim=1)

    def invert_modalities(self, preds: dict[str, Tensor], tokens: Tokens, tokenizer) -> dict[str, Tensor]:
        """{name: predictions [B,Nm,Tm]} -> {name: sample-shaped values} (class maps as long ids)."""
        out = {}
        for name, pred in preds.items():
            tok, part = tokenizer.parts[name], self.parts[name]
            s, e = tokens.extra["spans"][name]
            values = part.invert(pred, tokens.values[:, s:e, :tok.patch_dim])
            out[name] = tok.unpatchify(values).long() if isinstance(part, ClassTarget) else tok.unpatchify(values)
        return out
