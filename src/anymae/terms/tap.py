"""Read intermediate outputs of the student during the model's own forward pass (no second pass):
block outputs for layer-wise distillation (MaskAlign, row 6; DMAE, row 29), block inputs for
attention relations (Hybrid Distillation, row 36), decoder states (DMJD, row 33)."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn


class LayerTap:
    """Forward hooks on `modules` that keep the latest output (or input, `inputs=True`) of each.

    Hooks answer only for the very module objects given, so deep copies of them (EMA teachers)
    do not overwrite what was caught.
    """

    def __init__(self, modules: Sequence[nn.Module], inputs: bool = False):
        self.caught: dict[int, Tensor] = {}
        self._index = {id(m): i for i, m in enumerate(modules)}
        self._handles = []
        for m in modules:
            if inputs:
                self._handles.append(m.register_forward_pre_hook(self._catch_input))
            else:
                self._handles.append(m.register_forward_hook(self._catch_output))

    def _catch_output(self, module, args, output):
        i = self._index.get(id(module))
        if i is not None:
            self.caught[i] = output

    def _catch_input(self, module, args):
        i = self._index.get(id(module))
        if i is not None:
            self.caught[i] = args[0]

    def __deepcopy__(self, memo) -> "LayerTap":
        # a copied model (an EMA teacher) gets a tap that answers to nothing: it never overwrites ours
        return LayerTap([])

    def __getitem__(self, i: int) -> Tensor:
        if i not in self.caught:
            raise RuntimeError("nothing caught yet: the tapped module has not run in this forward pass")
        return self.caught[i]

    def remove(self) -> None:
        for h in self._handles:
            h.remove()


def attention_map(block: nn.Module, x: Tensor) -> Tensor:
    """The attention probabilities of a timm `Block` on its input x [B,N,D] -> [B,heads,N,N]."""
    attn = block.attn
    b, n, d = x.shape
    y = block.norm1(x)
    qkv = attn.qkv(y).reshape(b, n, 3, attn.num_heads, d // attn.num_heads).permute(2, 0, 3, 1, 4)
    q, k = qkv[0], qkv[1]
    q, k = attn.q_norm(q), attn.k_norm(k)
    return torch.softmax((q * attn.scale) @ k.transpose(-2, -1), dim=-1)
