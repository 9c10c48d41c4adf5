"""Per-channel patches (ChA-MAEViT, row 45): every channel patchified on its own, one shared patch
projection, a learnable channel embedding; tokens carry `group` = channel id."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .base import Tokenizer, Tokens, check_images
from .patching import patch_embedding, patch_grid, patchify_image, unpatchify_image
from .position import sincos_grid


def split_channel_input(x) -> tuple[Tensor, Tensor | None]:
    """x [B,C,H,W] or {"pixels": [B,C,H,W], "channels": [C] ids} -> (pixels, ids or None)."""
    if isinstance(x, dict):
        if "pixels" not in x:
            raise ValueError(f"expected a dict with 'pixels' (and optional 'channels'), got keys {sorted(x)}")
        return x["pixels"], x.get("channels")
    return x, None


class ChannelPosition(nn.Module):
    """Tokens -> [1,N,dim]: the 2-D sin-cos table of the patch grid, repeated per channel, plus a
    learnable per-channel embedding (ChA-MAEViT's channel tokens, read by the channel-aware decoder)."""

    def __init__(self, dim: int, grid: tuple[int, int], max_channels: int, learnable: bool = False):
        super().__init__()
        table = sincos_grid(dim, grid).unsqueeze(0)
        if learnable:
            self.table = nn.Parameter(table)
        else:
            self.register_buffer("table", table, persistent=False)
        self.channel_embed = nn.Parameter(torch.zeros(max_channels, dim))
        nn.init.normal_(self.channel_embed, std=0.02)

    def forward(self, tokens: Tokens) -> Tensor:
        channels = tokens.group.view(-1, self.table.shape[1])[:, 0]  # [C] channel ids, one per channel block
        pos = self.table.unsqueeze(1) + self.channel_embed[channels].view(1, -1, 1, self.table.shape[-1])
        return pos.flatten(1, 2)


class ChannelTokenizer(Tokenizer):
    """[B,C,H,W] with any C <= `channels` -> N = C * (H/p)(W/p) tokens of p*p values each.

    Tokens are laid out channel-major (grid = (C, H/p, W/p)); `group[N]` is the channel id.
    Pass {"pixels": x, "channels": ids [C]} to encode a subset of the training channels (a model
    trained on 5 channels encodes channels [0, 2, 4] with their own embeddings).
    """

    @classmethod
    def examples(cls) -> list[dict]:
        return [{"image_size": 8, "patch_size": 4, "channels": 3, "dim": 16},
                {"image_size": (4, 8), "patch_size": 2, "channels": 5, "dim": 8}]

    def example_input(self, batch_size: int, generator: torch.Generator) -> Tensor:
        return torch.randn(batch_size, self.channels, *self.image_size, generator=generator)

    def __init__(self, image_size: int | tuple[int, int] = 32, patch_size: int = 4, channels: int = 3,
                 dim: int = 192, learnable_pos: bool = False):
        super().__init__()
        self.image_size, self.spatial = patch_grid(image_size, patch_size)
        if channels <= 0:
            raise ValueError(f"channels must be positive, got {channels}")
        self.patch_size, self.channels, self.dim = patch_size, channels, dim
        self.grid = (channels, *self.spatial)
        self.patch_dim = patch_size * patch_size
        self.proj = patch_embedding(1, dim, patch_size)  # shared by every channel
        self.channel_embed = nn.Parameter(torch.zeros(channels, dim))
        self.register_buffer("pos_table", sincos_grid(dim, self.spatial).unsqueeze(0), persistent=False)
        self.pos_learnable = nn.Parameter(self.pos_table.clone()) if learnable_pos else None
        nn.init.normal_(self.channel_embed, std=0.02)

    def channel_ids(self, x: Tensor, ids: Tensor | None) -> Tensor:
        c = x.shape[1]
        if ids is None:
            if c > self.channels:
                raise ValueError(f"got {c} channels, this tokenizer knows {self.channels}; "
                                 f"pass {{'pixels': x, 'channels': ids}} to say which they are")
            return torch.arange(c, device=x.device)
        ids = torch.as_tensor(ids, device=x.device).long().flatten()
        if len(ids) != c:
            raise ValueError(f"{len(ids)} channel ids for {c} channels")
        if len(ids) and (int(ids.min()) < 0 or int(ids.max()) >= self.channels):
            raise ValueError(f"channel ids {ids.tolist()} outside 0..{self.channels - 1}")
        return ids

    def check_input(self, x: Tensor) -> None:
        check_images(x, self.image_size)

    def patchify(self, x) -> Tensor:
        """x [B,C,H,W] -> patches [B,C*S,p*p] (channel-major; S = (H/p)(W/p))."""
        x, _ = split_channel_input(x)
        b, c, h, w = x.shape
        p = self.patch_size
        return patchify_image(x.reshape(b * c, 1, h, w), p).reshape(b, c * (h // p) * (w // p), p * p)

    def unpatchify(self, values: Tensor) -> Tensor:
        """patches [B,C*S,p*p] -> x [B,C,H,W] (exact inverse of `patchify`; C from the token count)."""
        b, n, _ = values.shape
        s = self.spatial[0] * self.spatial[1]
        x = unpatchify_image(values.reshape(b * (n // s), s, self.patch_dim), self.patch_size, self.spatial, 1)
        return x.reshape(b, n // s, *x.shape[-2:])

    def position(self, dim: int, learnable: bool = False) -> nn.Module:
        return ChannelPosition(dim, self.spatial, self.channels, learnable)

    def forward(self, x) -> Tokens:
        x, ids = split_channel_input(x)
        self.check_input(x)
        x = x.to(self.proj.weight.dtype)  # float64 / float16 inputs follow the weights
        ids = self.channel_ids(x, ids)
        b, c, h, w = x.shape
        s = self.spatial[0] * self.spatial[1]
        embed = self.proj(x.reshape(b * c, 1, h, w)).flatten(2).transpose(1, 2)  # [B*C,S,D]
        embed = embed.reshape(b, c, s, self.dim) + self.channel_embed[ids].view(1, c, 1, self.dim)
        table = self.pos_learnable if self.pos_learnable is not None else self.pos_table
        pos = table.expand(c, -1, -1).reshape(1, c * s, self.dim)
        group = ids.repeat_interleave(s)
        return Tokens(values=self.patchify(x), embed=embed.reshape(b, c * s, self.dim), pos=pos,
                      grid=(c, *self.spatial), group=group)
