"""Masked autoencoders on 3-D volumes (CT / MRI; PAPERS.md rows 15, 17, 25 work on them): MAE's recipe with
cuboid patches, a 3-D sin-cos position, and random or 3-D block masking."""
from __future__ import annotations

from ..decoders import MAEDecoder
from ..encoders import ViTEncoder
from ..losses import MSELoss
from ..masking import RandomMasker
from ..masking.block3d import BlockMasker3D
from ..model import MaskedAutoencoder
from ..targets import PixelTarget
from ..terms import PositionPrediction
from ..tokenizers.volume import VolumeTokenizer
from .registry import register

MASKINGS = ("random", "block")


def volume_masker(masking: str, ratio: float):
    if masking not in MASKINGS:
        raise ValueError(f"masking must be one of {MASKINGS}, got {masking!r}")
    return RandomMasker(ratio) if masking == "random" else BlockMasker3D(ratio)


def volume_mae(volume_size=32, patch_size=8, channels=1, mask_ratio=0.75, masking="random", dim=96, depth=6,
               heads=4, decoder_dim=96, decoder_depth=2, decoder_heads=4, norm_pix=True,
               position_task=0.0) -> MaskedAutoencoder:
    """MAE on volumes: cuboid patches -> random / 3-D block masking -> ViT on the visible ones -> MAE decoder ->
    (norm-)voxels, MSE on hidden patches; `position_task` > 0 adds MP3's position term with that weight."""
    return MaskedAutoencoder(
        tokenizer=VolumeTokenizer(volume_size, patch_size, channels, dim=dim),
        masker=volume_masker(masking, mask_ratio),
        encoder=ViTEncoder(dim=dim, depth=depth, heads=heads),
        decoder=MAEDecoder(dim=decoder_dim, depth=decoder_depth, heads=decoder_heads),
        target=PixelTarget(norm=norm_pix), loss=MSELoss(),
        aux=[PositionPrediction(weight=position_task)] if position_task > 0 else [])


# More, smaller updates: batch 16 at lr 1e-3 (blr 1.6e-2) for 3,000 steps, half the samples of the earlier
# 1,500 x 64 at the same peak lr (docs/volumes.md: the lever the BM-MAE diagnosis found)
@register("volmae_tiny", paper=0, modality="volume",
          train={"data": "volume-shapes", "steps": 3000, "blr": 1.6e-2, "batch_size": 16})
def volmae_tiny(volume_size=32, patch_size=8, channels=1, mask_ratio=0.75, masking="random", dim=96, depth=6,
                heads=4, decoder_dim=96, decoder_depth=2, decoder_heads=4, norm_pix=True, position_task=1.0):
    """MAE on 3-D volumes, laptop size: 32^3 voxels in 8^3 patches (64 tokens), 96-d x 6 encoder, + MP3 position task.

    Changed from MAE: cuboid patches and a 3-D sin-cos table; the width, depth and volume size are laptop-sized, and
    MP3's position term is added (as `mae_laptop`; `position_task=0` for plain MAE); `masking='block'` hides 3-D
    cuboids of patches instead of random ones.
    """
    return volume_mae(volume_size, patch_size, channels, mask_ratio, masking, dim, depth, heads, decoder_dim,
                      decoder_depth, decoder_heads, norm_pix, position_task)


@register("spark3d_tiny", paper=17, modality="volume",
          train={"data": "volume-shapes", "steps": 1500, "blr": 8e-3, "batch_size": 32, "weight_decay": 0.04})
def spark3d_tiny(volume_size=32, channels=1, mask_ratio=0.6, widths=(16, 32, 64), depths=(1, 1, 1), decoder_dim=32):
    """SparK with 3-D convolutions (row 17's medical setting), laptop size: a 3-stage 3-D ResNet (16-64 channels,
    stride 8), 32^3 voxels masked in 8^3 patches (a 4x4x4 grid), 32-d 3-D UNet decoder, norm-voxel MSE on masked.

    Changed from SparK: a small 3-D ResNet instead of a timm 2-D CNN (so no timm export), three scales (strides 2,
    4, 8) instead of four, a 32-d decoder.
    """
    from ..decoders.spark import SparKDecoder
    from ..encoders.resnet3d import ResNet3d
    from ..encoders.sparse_cnn import SparseCNNEncoder
    from ..tokenizers.volume import VoxelGridTokenizer
    cnn = ResNet3d(channels, list(widths), list(depths))
    encoder = SparseCNNEncoder(cnn, "resnet3d", {"in_chans": channels, "widths": list(widths), "depths": list(depths)},
                               hierarchy=len(widths))
    return MaskedAutoencoder(
        tokenizer=VoxelGridTokenizer(volume_size, encoder.downsample, channels),
        masker=RandomMasker(mask_ratio),
        encoder=encoder,
        decoder=SparKDecoder(encoder.widths, dim=decoder_dim, upsample=encoder.downsample, densify_norm="bn",
                             spatial=3, strides=encoder.strides),
        target=PixelTarget(norm=True), loss=MSELoss())


@register("bmmae_tiny", paper=15, modality="volume",
          train={"data": "phantom-mri", "steps": 12000, "blr": 3.2e-2, "batch_size": 8},
          legacy_defaults={"decoder_dim": 96, "decoder_depth": 2, "whole": 0.5})
def bmmae_tiny(volume_size=16, patch_size=4, modalities=3, mask_ratio=0.75, drop=0.5, alpha=1.0, dim=96, depth=6,
               heads=4, decoder_dim=192, decoder_depth=4, decoder_heads=4, whole=1.0):
    """BM-MAE (row 15), laptop size: co-registered MRI sequences as modalities of one sample (per-modality Conv3d
    patch embeddings, 3-D sin-cos + modality embedding), whole modalities dropped with probability `drop` and the
    remaining budget split by Dirichlet(alpha) (the modality masker), a ViT on the visible tokens, MAE's decoder
    predicting raw (normalised) voxels of every hidden token, so a missing sequence can be imputed. With probability
    `whole` a step instead keeps every token of k random sequences (k uniform in 1..M-1) and predicts the others
    whole: the setting of imputation, which the budget masks alone never show the encoder.

    Changed: laptop width / depth and 16^3 volumes in 4^3 patches (64 tokens a sequence; a 96-d token is wider than
    the 64 voxels it predicts); BM-MAE's public code masks with MultiMAE's Dirichlet budget (ratio 0.75) alone,
    whole-modality dropout (`drop`) and `whole` are this project's additions; `whole=1.0` (the default) trains on
    the imputation setting alone (`drop`, `alpha` and `mask_ratio` then go unused), `whole=0` gives the paper's
    masks. The decoder (192-d x 4, twice the width and depth of the 96-d x 2 it had) is the lever that lowered the
    imputation error most: it turns the present sequences' tokens into 64 voxels a hidden token (docs/volumes.md).
    Laptop training (`train`): batch 8 at lr 1e-3 for 12,000 steps (about 75 minutes on one CPU thread), because
    the model first learns the mean volume and only after a few hundred updates reads the sequences it is given
    (benchmarks/bmmae_diagnose.py; batch 32 at lr 5e-4 for 800 steps never got there), and it beats copying the
    nearest present sequence only late. Runs made before every argument was recorded were 96-d x 2 decoders
    trained with `whole=0.5` (`legacy_defaults`).
    """
    from ..masking.modality_subset import ModalitySubsetMasker
    from ..tokenizers.volume import ModalityVolumeTokenizer
    return MaskedAutoencoder(
        tokenizer=ModalityVolumeTokenizer(volume_size, patch_size, modalities, dim=dim),
        masker=ModalitySubsetMasker(mask_ratio, alpha=alpha, drop=drop, whole=whole),
        encoder=ViTEncoder(dim=dim, depth=depth, heads=heads),
        decoder=MAEDecoder(dim=decoder_dim, depth=decoder_depth, heads=decoder_heads),
        target=PixelTarget(norm=False), loss=MSELoss())


@register("tokenunify_tiny", paper=25, modality="volume",
          train={"data": "volume-shapes", "steps": 1500, "blr": 4e-3, "batch_size": 64})
def tokenunify_tiny(volume_size=32, patch_size=8, channels=1, mask_ratio=0.75, random_weight=1.0, next_weight=1.0,
                    next_all_weight=1.0, dim=96, depth=6, heads=4, decoder_dim=96, decoder_depth=2, decoder_heads=4,
                    norm_pix=True):
    """TokenUnify (row 25), laptop size: volume tokens (32^3 voxels in 8^3 patches, raster order) and one ViT
    trained on a mixture of random-token (MAE, `mask_ratio`), next-token and next-all-token prediction, each
    step drawing one order with probability proportional to its weight (`random_weight`, `next_weight`,
    `next_all_weight`); norm-voxel MSE on the predicted tokens.

    Changed from the paper: a ViT (96-d x 6, causal attention for the autoregressive orders) instead of Mamba,
    laptop-size volumes, one order per step and one prefix length per next-all step (src/anymae/token_unify.py).
    """
    from ..token_unify import TokenUnifyAutoencoder
    return TokenUnifyAutoencoder(
        VolumeTokenizer(volume_size, patch_size, channels, dim=dim),
        RandomMasker(mask_ratio),
        ViTEncoder(dim=dim, depth=depth, heads=heads),
        MAEDecoder(dim=decoder_dim, depth=decoder_depth, heads=decoder_heads),
        PixelTarget(norm=norm_pix), MSELoss(),
        weights=(random_weight, next_weight, next_all_weight))
