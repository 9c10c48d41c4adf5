"""Beyond RGB: ChA-MAEViT (row 45) for multi-channel images, SMARTIES (row 3) for spectral images from
any sensor, MultiMAE (row 50) for several modalities with per-modality decoders (+ BM-MAE row 15 /
PHG-MAE row 35 whole-modality dropout)."""
from __future__ import annotations

from ..decoders import FusionDecoder, MAEDecoder, MultiModalDecoder
from ..encoders import MemoryViTEncoder, ViTEncoder
from ..losses import MSELoss, MultiModalLoss, PixelCrossEntropy
from ..masking import ChannelPatchMasker, ModalityMasker, RandomMasker
from ..model import MaskedAutoencoder
from ..targets import ClassTarget, MultiModalTarget, PixelTarget
from ..tokenizers import ChannelTokenizer, MultiModalTokenizer, PatchTokenizer, SegmentationTokenizer, SpectralTokenizer
from .registry import register

SENTINEL2_BANDS = [(443, 20), (490, 65), (560, 35), (665, 30), (705, 15), (740, 15), (783, 20), (842, 115),
                   (865, 20), (945, 20), (1375, 30), (1610, 90), (2190, 180)]  # centre, width (nm)


def chamaevit(image_size, patch_size, channels, mask_ratio, channel_ratio, memory, fusion, norm_pix,
              dim, depth, heads, decoder_dim, decoder_depth, decoder_heads) -> MaskedAutoencoder:
    return MaskedAutoencoder(
        tokenizer=ChannelTokenizer(image_size, patch_size, channels, dim=dim),
        masker=ChannelPatchMasker(mask_ratio, channel_ratio),
        encoder=MemoryViTEncoder(dim=dim, depth=depth, heads=heads, memory=memory),
        decoder=FusionDecoder(dim=decoder_dim, depth=decoder_depth, heads=decoder_heads, fusion=fusion),
        target=PixelTarget(norm=norm_pix), loss=MSELoss())


@register("chamaevit_tiny", paper=45, modality="multichannel")
def chamaevit_tiny(image_size=32, patch_size=4, channels=3, mask_ratio=0.75, channel_ratio=0.5, memory=4,
                   fusion=True, norm_pix=True, dim=192, depth=12, heads=3, decoder_dim=128, decoder_depth=2,
                   decoder_heads=4):
    """ChA-MAEViT: per-channel tokens, channel+patch masking, memory tokens, hybrid token fusion."""
    return chamaevit(image_size, patch_size, channels, mask_ratio, channel_ratio, memory, fusion, norm_pix,
                     dim, depth, heads, decoder_dim, decoder_depth, decoder_heads)


@register("chamaevit_base", paper=45, modality="multichannel")
def chamaevit_base(image_size=224, patch_size=16, channels=5, mask_ratio=0.75, channel_ratio=0.5, memory=4,
                   fusion=True, norm_pix=True):
    """ChA-MAEViT at ViT-B/16 (768-d x 12), 512-d x 8 channel-aware decoder."""
    return chamaevit(image_size, patch_size, channels, mask_ratio, channel_ratio, memory, fusion, norm_pix,
                     768, 12, 12, 512, 8, 16)


def smarties(image_size, patch_size, channels, mask_ratio, anchors, norm_pix, dim, depth, heads,
             decoder_dim, decoder_depth, decoder_heads, mixup=0.5) -> MaskedAutoencoder:
    """`mixup`: SMARTIES' cross-sensor token mixup, the fraction of each pretraining sample's tokens taken
    from a second sensor (tokenizers/spectral.py; drawn by data/spectral.py); 0 turns it off."""
    return MaskedAutoencoder(
        tokenizer=SpectralTokenizer(image_size, patch_size, channels, dim=dim, anchors=anchors,
                                    bands=SENTINEL2_BANDS if channels == len(SENTINEL2_BANDS) else None,
                                    mixup=mixup),
        masker=RandomMasker(mask_ratio),
        encoder=ViTEncoder(dim=dim, depth=depth, heads=heads),
        decoder=MAEDecoder(dim=decoder_dim, depth=decoder_depth, heads=decoder_heads),
        target=PixelTarget(norm=norm_pix), loss=MSELoss())


@register("smarties_tiny", paper=3, modality="spectral")
def smarties_tiny(image_size=32, patch_size=4, channels=13, mask_ratio=0.75, anchors=16, norm_pix=True, dim=192,
                  depth=12, heads=3, decoder_dim=128, decoder_depth=2, decoder_heads=4, mixup=0.5):
    """SMARTIES: spectrum-aware band projection (any band set, same tokens), cross-sensor token mixup, MAE on top."""
    return smarties(image_size, patch_size, channels, mask_ratio, anchors, norm_pix, dim, depth, heads,
                    decoder_dim, decoder_depth, decoder_heads, mixup)


@register("smarties_base", paper=3, modality="spectral")
def smarties_base(image_size=224, patch_size=16, channels=13, mask_ratio=0.75, anchors=32, norm_pix=True, mixup=0.5):
    """SMARTIES at ViT-B/16 (768-d x 12), 512-d x 8 decoder, cross-sensor token mixup."""
    return smarties(image_size, patch_size, channels, mask_ratio, anchors, norm_pix, 768, 12, 12, 512, 8, 16, mixup)


def modality_list(modalities) -> list[str]:
    names = modalities.split(",") if isinstance(modalities, str) else list(modalities)
    names = [n.strip() for n in names if n.strip()]
    known = {"rgb", "depth", "semseg"}
    if not names or set(names) - known:
        raise ValueError(f"modalities must be some of {sorted(known)}, got {modalities!r}")
    return names


def multimae(image_size, patch_size, modalities, classes, mask_ratio, alpha, drop, dim, depth, heads,
             decoder_dim, decoder_depth, decoder_heads) -> MaskedAutoencoder:
    names = modality_list(modalities)
    make = {"rgb": lambda: PatchTokenizer(image_size, patch_size, 3, dim=dim),
            "depth": lambda: PatchTokenizer(image_size, patch_size, 1, dim=dim),
            "semseg": lambda: SegmentationTokenizer(image_size, patch_size, classes, dim=dim)}
    targets = {"rgb": lambda: PixelTarget(norm=True), "depth": lambda: PixelTarget(norm=False),
               "semseg": lambda: ClassTarget(classes)}
    losses = {"rgb": MSELoss, "depth": MSELoss, "semseg": lambda: PixelCrossEntropy(classes)}
    tokenizer = MultiModalTokenizer({n: make[n]() for n in names}, dim=dim)
    target = MultiModalTarget({n: targets[n]() for n in names}, tokenizer.widths)
    pred_dims = target.pred_dims(tokenizer)
    return MaskedAutoencoder(
        tokenizer=tokenizer,
        masker=ModalityMasker(mask_ratio, alpha=alpha, drop=drop),
        encoder=ViTEncoder(dim=dim, depth=depth, heads=heads),
        decoder=MultiModalDecoder(pred_dims, dim=decoder_dim, depth=decoder_depth, heads=decoder_heads),
        target=target,
        loss=MultiModalLoss({n: losses[n]() for n in names}, pred_dims, target.dims(tokenizer)))


@register("multimae_tiny", paper=50, modality="multimodal")
def multimae_tiny(image_size=32, patch_size=4, modalities="rgb,depth,semseg", classes=11, mask_ratio=0.75,
                  alpha=1.0, drop=0.25, dim=192, depth=12, heads=3, decoder_dim=128, decoder_depth=1,
                  decoder_heads=4):
    """MultiMAE: RGB, depth, segmentation; Dirichlet token budget, modality dropout, per-modality decoders."""
    return multimae(image_size, patch_size, modalities, classes, mask_ratio, alpha, drop, dim, depth, heads,
                    decoder_dim, decoder_depth, decoder_heads)


@register("multimae_base", paper=50, modality="multimodal")
def multimae_base(image_size=224, patch_size=16, modalities="rgb,depth,semseg", classes=40, mask_ratio=5 / 6,
                  alpha=1.0, drop=0.0):
    """MultiMAE at ViT-B/16 (768-d x 12), 256-d cross-attention decoders with 2 blocks (the paper's)."""
    return multimae(image_size, patch_size, modalities, classes, mask_ratio, alpha, drop, 768, 12, 12, 256, 2, 8)
