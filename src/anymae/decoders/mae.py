"""MAE decoder (row 0): latents + mask tokens in original order -> predictions of hidden tokens."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..encoders.vit import init_mae_weights, make_blocks
from ..masking.base import Mask
from ..tokenizers.base import gather_tokens
from .base import Decoder, decoder_tokens


def mto_attention_mask(length: int, context: int, device=None) -> Tensor:
    """[L,L] bool, True where query i may attend to key j: only the first `context` tokens (prefix and
    visible) are keys, so no token reads a mask token (MTO, row 30)."""
    allowed = torch.zeros(length, length, dtype=torch.bool, device=device)
    allowed[:, :context] = True
    return allowed


class MAEDecoder(Decoder):
    """Projects latents to the decoder width, adds a learnable mask token for each hidden token,
    adds the decoder's own position embedding, runs `depth` blocks and predicts `out_dim` values
    for each token in `mask.predict`.

    `decoder_masking=True` (VideoMAE V2, row 9): when the mask asks for a subset of its hidden tokens
    (`mask.predict` shorter than `mask.hidden`), the blocks run on the visible tokens and that subset
    only, not on every token; otherwise (and by default) the decoder is MAE's.

    `mto_layers=k` > 0 (MTO, row 30, masked token optimisation): in the first k blocks no token attends to a
    mask token (`mto_attention_mask`): mask tokens carry no data (their "data singularity"), so they only
    read the visible tokens and never each other; later blocks attend as MAE's.

    `detach_latents=True`: the decoder reads the latents without sending gradients back into the encoder (a
    picture-only decoder beside an encoder trained by other terms, e.g. MP3's position task alone).

    `bind(in_dim, out_dim, position)` is called by MaskedAutoencoder to size the in/out layers.
    Parameter names follow facebookresearch/mae (`decoder_embed`, `mask_token`, `decoder_blocks`,
    `decoder_norm`, `decoder_pred`) minus the `decoder_` prefix.
    """

    def __init__(self, dim: int = 512, depth: int = 8, heads: int = 16, mlp_ratio: float = 4.0,
                 learnable_pos: bool = False, norm_eps: float = 1e-6, decoder_masking: bool = False,
                 mto_layers: int = 0, detach_latents: bool = False):
        super().__init__()
        self.mto_layers, self.detach_latents = mto_layers, detach_latents
        self.dim, self.depth, self.heads, self.mlp_ratio = dim, depth, heads, mlp_ratio
        self.learnable_pos, self.decoder_masking = learnable_pos, decoder_masking
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.blocks = make_blocks(dim, depth, heads, mlp_ratio, norm_eps=norm_eps)
        self.norm = nn.LayerNorm(dim, eps=norm_eps)
        self.embed: nn.Module | None = None
        self.pred: nn.Module | None = None
        self.pos: nn.Module | None = None

    def bind(self, in_dim: int, out_dim: int, position: nn.Module) -> None:
        """Create the layers that depend on the encoder width, target width and token layout."""
        self.embed = nn.Linear(in_dim, self.dim)
        self.pred = nn.Linear(self.dim, out_dim)
        self.pos = position
        self.apply(init_mae_weights)
        nn.init.normal_(self.mask_token, std=0.02)

    def forward(self, latents: Tensor, mask: Mask, tokens=None, num_prefix: int = 1) -> Tensor:
        """latents [B,P+Nv,E] -> predictions [B,Np,out_dim] for `mask.predict`.

        Attention with added positions does not depend on the order of the tokens, so the blocks run
        on [prefix, visible, mask tokens] as they come (no un-shuffling gather; MAE's math, reordered)
        and the predictions are read where they sit. With `decoder_masking` and a `mask.predict`
        shorter than `mask.hidden` (a subset of it: VideoMAE V2), only those mask tokens enter the
        blocks; otherwise every hidden token gets a mask token, as in MAE.
        """
        own = getattr(mask, "own", None)
        if own is not None:  # MixedAE: the encoder saw the whole mixed image; decode it from its own tokens only
            latents = torch.cat([latents[:, :num_prefix], gather_tokens(latents[:, num_prefix:], own.keep)], dim=1)
            mask = own
        if self.detach_latents:
            latents = latents.detach()
        x = self.embed(latents)
        nv = latents.shape[1] - num_prefix
        subset = self.decoder_masking and mask.predict.shape[1] < mask.hidden.shape[1]
        queries = mask.predict if subset else mask.hidden  # [B,Nq] the mask tokens' token indices
        x = decoder_tokens(x, self.pos(tokens), self.mask_token, mask.keep, queries, num_prefix)  # [B,P+Nv+Nq,Dd]
        context = mto_attention_mask(x.shape[1], num_prefix + nv, x.device) if self.mto_layers else None
        for i, block in enumerate(self.blocks):
            x = block(x, attn_mask=context) if i < self.mto_layers else block(x)
        if subset or mask.predict is mask.hidden:
            out = x[:, num_prefix + nv:]  # the mask tokens, in `mask.predict` order
        else:  # token t sits at restore[t] in cat(visible, hidden)
            out = gather_tokens(x, mask.restore.gather(1, mask.predict) + num_prefix)
        return self.pred(self.norm(out))
