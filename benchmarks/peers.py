"""The peers `step_throughput.py` runs anymae against, each built at a workload's shape.

- `hf`: Hugging Face `transformers` `ViTMAEForPreTraining`, random init from a config (SDPA attention).
- `lightly`: lightly's `MaskedVisionTransformerTIMM` + `MaskedVisionTransformerDecoderTIMM`, wired as
  lightly's own MAE example (decoder embed and prediction head outside the decoder, loss = MSE on
  the hidden patches' raw pixels).
- `official`: a plain MAE written here in the style of the MAE paper's public `models_mae.py`
  (timm `Block`s, argsort masking, decoder over all tokens, loss on hidden patches only).

Each builder returns (model, step_loss) where `step_loss(images) -> scalar loss` is one forward with
masking and loss; the optimizer is each project's default `torch.optim.AdamW`.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
from torch import nn


@dataclass(frozen=True)
class Workload:
    """One benchmark shape (issue #9)."""

    name: str
    image_size: int
    patch_size: int
    dim: int
    depth: int
    heads: int
    decoder_dim: int
    decoder_depth: int
    decoder_heads: int
    batch: int
    mask_ratio: float = 0.75

    @property
    def num_patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2


WORKLOADS = {
    "tiny32": Workload("tiny32", 32, 4, 192, 12, 3, 128, 4, 4, batch=256),
    "base224": Workload("base224", 224, 16, 768, 12, 12, 512, 8, 16, batch=8),
}


def sincos_2d(dim: int, grid: int, cls_token: bool) -> torch.Tensor:
    """MAE's fixed 2-D sin-cos table [1, (1)+grid*grid, dim] (a zero row for the cls token)."""
    def one_axis(d, pos):
        omega = 1.0 / 10000 ** (torch.arange(d // 2, dtype=torch.float64) / (d / 2.0))
        out = pos.reshape(-1, 1).double() * omega.reshape(1, -1)
        return torch.cat([out.sin(), out.cos()], dim=1)
    hh, ww = torch.meshgrid(torch.arange(grid), torch.arange(grid), indexing="ij")
    table = torch.cat([one_axis(dim // 2, ww), one_axis(dim // 2, hh)], dim=1).float()
    if cls_token:
        table = torch.cat([torch.zeros(1, dim), table], dim=0)
    return table.unsqueeze(0)


# ------------------------------------------------------------------ official-style reference
class ReferenceMAE(nn.Module):
    """The MAE paper's public model, rewritten plainly: encoder on visible patches, decoder on all."""

    def __init__(self, w: Workload, norm_pix_loss: bool = True):
        super().__init__()
        from timm.models.vision_transformer import Block, PatchEmbed
        norm = partial(nn.LayerNorm, eps=1e-6)
        self.w, self.norm_pix_loss = w, norm_pix_loss
        self.patch_embed = PatchEmbed(w.image_size, w.patch_size, 3, w.dim)
        n = self.patch_embed.num_patches
        self.cls_token = nn.Parameter(torch.zeros(1, 1, w.dim))
        self.pos_embed = nn.Parameter(sincos_2d(w.dim, w.image_size // w.patch_size, True), requires_grad=False)
        self.blocks = nn.ModuleList(Block(w.dim, w.heads, 4.0, qkv_bias=True, norm_layer=norm) for _ in range(w.depth))
        self.norm = norm(w.dim)
        self.decoder_embed = nn.Linear(w.dim, w.decoder_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, w.decoder_dim))
        self.decoder_pos_embed = nn.Parameter(sincos_2d(w.decoder_dim, w.image_size // w.patch_size, True),
                                              requires_grad=False)
        self.decoder_blocks = nn.ModuleList(Block(w.decoder_dim, w.decoder_heads, 4.0, qkv_bias=True, norm_layer=norm)
                                            for _ in range(w.decoder_depth))
        self.decoder_norm = norm(w.decoder_dim)
        self.decoder_pred = nn.Linear(w.decoder_dim, w.patch_size ** 2 * 3)
        assert n == w.num_patches
        self.apply(self._init)
        nn.init.normal_(self.cls_token, std=0.02)
        nn.init.normal_(self.mask_token, std=0.02)

    @staticmethod
    def _init(m):
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    def patchify(self, imgs):
        p, b = self.w.patch_size, imgs.shape[0]
        h = imgs.shape[2] // p
        x = imgs.reshape(b, 3, h, p, h, p)
        return torch.einsum("nchpwq->nhwpqc", x).reshape(b, h * h, p * p * 3)

    def random_masking(self, x, mask_ratio):
        b, n, d = x.shape
        keep = int(n * (1 - mask_ratio))
        noise = torch.rand(b, n, device=x.device)
        ids_shuffle = torch.argsort(noise, dim=1)
        ids_restore = torch.argsort(ids_shuffle, dim=1)
        ids_keep = ids_shuffle[:, :keep]
        x_masked = torch.gather(x, 1, ids_keep.unsqueeze(-1).repeat(1, 1, d))
        mask = torch.ones(b, n, device=x.device)
        mask[:, :keep] = 0
        mask = torch.gather(mask, 1, ids_restore)
        return x_masked, mask, ids_restore

    def forward_encoder(self, x, mask_ratio):
        x = self.patch_embed(x) + self.pos_embed[:, 1:, :]
        x, mask, ids_restore = self.random_masking(x, mask_ratio)
        cls = (self.cls_token + self.pos_embed[:, :1, :]).expand(x.shape[0], -1, -1)
        x = torch.cat((cls, x), dim=1)
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x), mask, ids_restore

    def forward_decoder(self, x, ids_restore):
        x = self.decoder_embed(x)
        fill = self.mask_token.repeat(x.shape[0], ids_restore.shape[1] + 1 - x.shape[1], 1)
        x_ = torch.cat([x[:, 1:, :], fill], dim=1)
        x_ = torch.gather(x_, 1, ids_restore.unsqueeze(-1).repeat(1, 1, x.shape[2]))
        x = torch.cat([x[:, :1, :], x_], dim=1) + self.decoder_pos_embed
        for blk in self.decoder_blocks:
            x = blk(x)
        x = self.decoder_norm(x)
        return self.decoder_pred(x)[:, 1:, :]

    def forward_loss(self, imgs, pred, mask):
        target = self.patchify(imgs)
        if self.norm_pix_loss:
            mean = target.mean(dim=-1, keepdim=True)
            var = target.var(dim=-1, keepdim=True)
            target = (target - mean) / (var + 1.0e-6) ** 0.5
        loss = ((pred - target) ** 2).mean(dim=-1)
        return (loss * mask).sum() / mask.sum()

    def forward(self, imgs):
        latent, mask, ids_restore = self.forward_encoder(imgs, self.w.mask_ratio)
        pred = self.forward_decoder(latent, ids_restore)
        return self.forward_loss(imgs, pred, mask)


def build_official(w: Workload):
    model = ReferenceMAE(w)
    return model, model


# ------------------------------------------------------------------ Hugging Face
def build_hf(w: Workload):
    from transformers import ViTMAEConfig, ViTMAEForPreTraining
    config = ViTMAEConfig(hidden_size=w.dim, num_hidden_layers=w.depth, num_attention_heads=w.heads,
                          intermediate_size=4 * w.dim, image_size=w.image_size, patch_size=w.patch_size,
                          decoder_hidden_size=w.decoder_dim, decoder_num_hidden_layers=w.decoder_depth,
                          decoder_num_attention_heads=w.decoder_heads, decoder_intermediate_size=4 * w.decoder_dim,
                          mask_ratio=w.mask_ratio, norm_pix_loss=True, layer_norm_eps=1e-6)
    config._attn_implementation = "sdpa"
    model = ViTMAEForPreTraining(config)

    def step_loss(images):
        return model(pixel_values=images).loss
    return model, step_loss


# ------------------------------------------------------------------ lightly
class LightlyMAE(nn.Module):
    """lightly's MAE example (examples/pytorch/mae.py), at the workload's shape."""

    def __init__(self, w: Workload):
        super().__init__()
        from lightly.models import utils
        from lightly.models.modules import MaskedVisionTransformerDecoderTIMM, MaskedVisionTransformerTIMM
        from lightly.models.modules.masked_vision_transformer_timm import init_weights
        from timm.models.vision_transformer import VisionTransformer
        self.utils = utils
        vit = VisionTransformer(img_size=w.image_size, patch_size=w.patch_size, embed_dim=w.dim, depth=w.depth,
                                num_heads=w.heads, num_classes=0, qkv_bias=True)
        self.mask_ratio, self.patch_size = w.mask_ratio, w.patch_size
        self.backbone = MaskedVisionTransformerTIMM(vit=vit)
        self.sequence_length = self.backbone.sequence_length
        self.decoder_embed = nn.Linear(vit.embed_dim, w.decoder_dim)
        self.decoder = MaskedVisionTransformerDecoderTIMM(
            num_patches=vit.patch_embed.num_patches, embed_dim=w.decoder_dim, depth=w.decoder_depth,
            num_heads=w.decoder_heads, num_prefix_tokens=vit.num_prefix_tokens, mlp_ratio=4.0)
        self.prediction_head = nn.Linear(w.decoder_dim, w.patch_size ** 2 * 3)
        self.decoder_embed.apply(init_weights)
        self.prediction_head.apply(init_weights)
        self.criterion = nn.MSELoss()

    def forward(self, images):
        u = self.utils
        b = images.shape[0]
        idx_keep, idx_mask = u.random_token_mask(size=(b, self.sequence_length), mask_ratio=self.mask_ratio,
                                                 device=images.device)
        x_encoded = self.backbone.encode(images=images, idx_keep=idx_keep)
        x_decode = self.decoder_embed(x_encoded)
        x_masked = x_decode.new_zeros(b, self.sequence_length, x_decode.shape[-1])
        x_masked = u.set_at_index(x_masked, idx_keep, x_decode.type_as(x_masked))
        x_decoded = self.decoder(x_masked, idx_mask=idx_mask)
        x_pred = self.prediction_head(u.get_at_index(x_decoded, idx_mask))
        target = u.get_at_index(u.patchify(images, self.patch_size), idx_mask - 1)
        return self.criterion(x_pred, target)


def build_lightly(w: Workload):
    model = LightlyMAE(w)
    return model, model


PEERS = {"hf": build_hf, "lightly": build_lightly, "official": build_official}
