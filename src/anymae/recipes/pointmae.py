"""Point-MAE (Pang et al. 2022, PAPERS.md row 10): FPS + kNN point groups, 60% random masking,
mask tokens only in the decoder, L2 Chamfer loss on the hidden groups."""
from __future__ import annotations

from ..decoders import MAEDecoder
from ..encoders import ViTEncoder
from ..losses import ChamferLoss
from ..masking import RandomMasker
from ..model import MaskedAutoencoder
from ..targets import PixelTarget
from ..tokenizers import PointGroupTokenizer
from .registry import register


def point_mae(num_points, num_groups, group_size, mask_ratio, dim, depth, heads, decoder_dim, decoder_depth,
              decoder_heads, drop_path, pointnet_width, position="mlp", pos_every_block=False) -> MaskedAutoencoder:
    """The target is each hidden group's points relative to its centre, tokens.values [B,G,k*3]
    (PixelTarget(norm=False) returns exactly those); the Chamfer loss reads them as k points."""
    return MaskedAutoencoder(
        tokenizer=PointGroupTokenizer(num_points, num_groups, group_size, dim=dim, pointnet_width=pointnet_width,
                                      position=position),
        masker=RandomMasker(mask_ratio),
        encoder=ViTEncoder(dim=dim, depth=depth, heads=heads, drop_path=drop_path, cls_token=False,
                           pos_every_block=pos_every_block),
        decoder=MAEDecoder(dim=decoder_dim, depth=decoder_depth, heads=decoder_heads),
        target=PixelTarget(norm=False), loss=ChamferLoss())


@register("pointmae", paper=10, modality="points",
          train={"blr": 2e-3, "batch_size": 128, "epochs": 300, "warmup": 10 / 300})  # lr 1e-3 at batch 128
def pointmae(num_points=1024, num_groups=64, group_size=32, mask_ratio=0.6, dim=384, depth=12, heads=6,
             decoder_dim=384, decoder_depth=4, decoder_heads=6, drop_path=0.1, pointnet_width=128,
             pos_every_block=True):
    """Point-MAE at the paper's size: 384-d x 12 encoder, 4-block decoder, 64 groups of 32 on 1,024 points."""
    return point_mae(num_points, num_groups, group_size, mask_ratio, dim, depth, heads, decoder_dim, decoder_depth,
                     decoder_heads, drop_path, pointnet_width, pos_every_block=pos_every_block)


# lr 1e-3 at batch 64 and 60 epochs (1,860 steps, ~4 min on one core): measured in docs/points.md
@register("pointmae_tiny", paper=10, modality="points", train={"batch_size": 64, "epochs": 60, "blr": 4e-3})
def pointmae_tiny(num_points=256, num_groups=32, group_size=16, mask_ratio=0.6, dim=96, depth=4, heads=3,
                  decoder_dim=64, decoder_depth=2, decoder_heads=2, drop_path=0.0, pointnet_width=16,
                  position="mlp", pos_every_block=True):
    """Point-MAE sized for a CPU: 96-d x 4 encoder, 64-d x 2 decoder, 32 groups of 16 on 256 points."""
    return point_mae(num_points, num_groups, group_size, mask_ratio, dim, depth, heads, decoder_dim, decoder_depth,
                     decoder_heads, drop_path, pointnet_width, position, pos_every_block)
