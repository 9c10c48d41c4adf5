"""A ViT whose tokens also see across patch borders without reading a hidden patch (issue 26's overlapping
convolutional stem for small data, as SCOTT's sparse convolutional tokenizer; the sparse view of SparK, row 48).

A linear patch embedding sees one patch. Convolutions whose 3x3 windows overlap patch borders see the edges
that cross them, the cue HOG's overlapping cells keep. Under masking such a stem would carry hidden pixels
into visible tokens, so, as SparK's sparse CNN does, hidden patches are zero at the input and every
convolution's output is set back to zero at hidden positions: a visible token reads visible pixels only.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import torch
from torch import Tensor, nn

from ..tokenizers.base import Tokens
from .sparse_cnn import SparseContext, active_map
from .vit import ViTEncoder, encoder_inputs


class SparseConvStem(nn.Module):
    """x [B,C,H,W] and the visible patches active bool [B,1,gh,gw] (None: all) -> [B,D,gh,gw].

    log2(patch) stages of (3x3 stride-2 conv, GELU), the width doubling from `width`, then a 1x1 conv to
    `dim` (zero at init, so the encoder starts as the plain patch embedding it is added to). No normalisation:
    batch or layer statistics would mix hidden positions in, and GELU(0) = 0 keeps hidden positions zero.
    """

    def __init__(self, channels: int, dim: int, patch_size: int, width: int = 16):
        super().__init__()
        stages = patch_size.bit_length() - 1
        if patch_size != 1 << stages or stages < 1:
            raise ValueError(f"stem: patch_size must be a power of two >= 2 (each stage halves), got {patch_size}")
        self.convs = nn.ModuleList()
        c = channels
        for i in range(stages):
            self.convs.append(nn.Conv2d(c, width << i, 3, stride=2, padding=1))
            c = width << i
        self.out = nn.Conv2d(c, dim, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        self.act = nn.GELU()

    def forward(self, x: Tensor, active: Tensor | None = None) -> Tensor:
        ctx = SparseContext()
        ctx.set(active)

        def visible(h: Tensor) -> Tensor:
            return h if active is None else h * ctx.at(h.shape[2:]).to(h.dtype)

        h = visible(x)
        for conv in self.convs:
            h = self.act(visible(conv(h)))
        return visible(self.out(h))


class StemViTEncoder(ViTEncoder):
    """ViTEncoder whose input tokens are the patch embeddings plus a `SparseConvStem` over the whole image:
    Tokens (the image in `extra["image"]`, PatchTokenizer(keep_image=True)) and keep [B,Nv] -> [B,1+Nv,D].

    The stem is a residual branch on the linear patch embedding (the tokenizer's), so the patch embedding
    keeps its timm names; `stem.*` are the only parameters a plain timm ViT lacks.
    """

    reads_input = True

    def __init__(self, channels: int, patch_size: int, stem_width: int = 16, **vit_args):
        super().__init__(**vit_args)
        self.stem = SparseConvStem(channels, self.dim, patch_size, stem_width)

    def encode_tokens(self, tokens: Tokens, keep: Tensor | None = None,
                      return_layers: Sequence[int] | None = None):
        """latents [B,1+Nv,D] of the tokens at keep [B,Nv] (all when None), as ViTEncoder.forward."""
        image = tokens.extra.get("image")
        if image is None:
            raise ValueError("StemViTEncoder reads the image: its tokenizer must keep it (PatchTokenizer(keep_image=True))")
        active = active_map(keep, image.shape[0], tokens.grid, image.device)
        stem = self.stem(image.to(tokens.embed.dtype), active).flatten(2).transpose(1, 2)  # [B,N,D]
        inputs = encoder_inputs(self, replace(tokens, embed=tokens.embed + stem), keep)
        return self(inputs.pop("x"), return_layers=return_layers, **inputs)
