"""M3AE's decoder (row 43): one transformer over the prefix, the visible tokens and a mask token per hidden token
of every modality (each modality its own mask token, its own positions and type embedding), then a linear head
per modality (pixels for image patches, vocabulary logits for words)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..encoders.vit import init_mae_weights, make_blocks
from ..masking.base import Mask
from ..tokenizers.base import gather_tokens
from .base import Decoder, decoder_tokens


class M3AEDecoder(Decoder):
    """latents [B,P+Nv,E] -> predictions [B,Np,T] for `mask.predict`; each token read by its modality's head.

    `outputs` = {modality: prediction width}, in the tokenizer's modality order (`tokens.group` ids); heads
    narrower than T (the widest) are zero-padded, as `MultiModalLoss` expects. Positions come from the
    tokenizer's `MultiModalPosition`: each modality's own table plus its learned type embedding (M3AE's
    `decoder_{image,text}_type_embedding`). Names follow M3AE's code where they map: `mask_tokens` =
    `{image,text}_mask_embedding`, `embed` = `decoder_input_projection`, `predictors` = `decoder_{image,text}_output`.
    """

    def __init__(self, outputs: dict[str, int], dim: int = 512, depth: int = 8, heads: int = 16,
                 mlp_ratio: float = 4.0, learnable_pos: bool = False, norm_eps: float = 1e-6):
        super().__init__()
        if not outputs:
            raise ValueError("an M3AE decoder needs at least one modality's output width")
        self.outputs, self.names = dict(outputs), list(outputs)
        self.dim, self.depth, self.heads, self.learnable_pos = dim, depth, heads, learnable_pos
        self.out_dim = max(self.outputs.values())
        self.mask_tokens = nn.Parameter(torch.zeros(len(outputs), dim))
        self.blocks = make_blocks(dim, depth, heads, mlp_ratio, norm_eps=norm_eps)
        self.norm = nn.LayerNorm(dim, eps=norm_eps)
        self.predictors = nn.ModuleDict({n: nn.Linear(dim, w) for n, w in outputs.items()})
        self.embed: nn.Module | None = None
        self.pos: nn.Module | None = None

    def bind(self, in_dim: int, out_dim: int, position: nn.Module) -> None:
        self.embed = nn.Linear(in_dim, self.dim)
        self.pos = position
        self.apply(init_mae_weights)
        nn.init.normal_(self.mask_tokens, std=0.02)

    def states(self, latents: Tensor, mask: Mask, tokens, num_prefix: int, predict: Tensor) -> Tensor:
        """The decoder's last hidden states [B,Np,Dd] of the tokens `predict` [B,Np]."""
        if tokens is None or tokens.group is None:
            raise ValueError("M3AE's decoder needs multi-modal tokens (a modality id per token)")
        group = tokens.group.to(latents.device)                                  # [N] modality ids
        x = self.embed(latents)
        nv = latents.shape[1] - num_prefix
        fill = self.mask_tokens[group[mask.hidden]].to(x.dtype)                  # [B,Nh,Dd] each its modality's
        x = decoder_tokens(x, self.pos(tokens), fill, mask.keep, mask.hidden, num_prefix)
        for block in self.blocks:
            x = block(x)
        x = self.norm(x)
        if predict is mask.hidden:
            return x[:, num_prefix + nv:]
        return gather_tokens(x, mask.restore.gather(1, predict) + num_prefix)  # token t sits at restore[t]

    def forward(self, latents: Tensor, mask: Mask, tokens=None, num_prefix: int = 1) -> Tensor:
        out = self.states(latents, mask, tokens, num_prefix, mask.predict)
        which = tokens.group.to(latents.device)[mask.predict]                    # [B,Np]
        pred = out.new_zeros(*out.shape[:2], self.out_dim)
        for m, name in enumerate(self.names):
            head = F.pad(self.predictors[name](out), (0, self.out_dim - self.outputs[name]))
            pred = torch.where((which == m).unsqueeze(-1), head, pred)
        return pred

    def predict_all(self, latents: Tensor, mask: Mask, tokens, num_prefix: int = 1) -> dict[str, Tensor]:
        """-> {name: predictions of every token of that modality [B,N_m,w_m]} (pictures)."""
        everything = torch.arange(mask.restore.shape[1], device=latents.device).expand(latents.shape[0], -1)
        out = self.states(latents, mask, tokens, num_prefix, everything)
        return {name: self.predictors[name](out[:, s:e]) for name, (s, e) in tokens.extra["spans"].items()}
