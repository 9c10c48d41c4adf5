"""Issue 22's objectives as recipes: MixedAE (row 11), CrossVideoMAE (row 39), I2P-MAE (row 20). Masked
feature modelling (row 28) and MTO (row 30) are options of any recipe (recipes/options.py); SMARTIES'
cross-sensor mixup (row 3) is on in the SMARTIES recipes (recipes/channels.py); DMJD's dual branch (row 33)
is in its recipes (recipes/targets.py, recipes/paper_sizes.py)."""
from __future__ import annotations

from ..decoders import MAEDecoder
from ..encoders import ViTEncoder
from ..losses import MSELoss
from ..masking import GuidedMasker
from ..masking.mixing import MixingMasker
from ..model import MaskedAutoencoder
from ..targets import PixelTarget
from ..terms.crossvideo import CrossVideoContrast
from ..terms.homologous import HomologousRecognition
from ..terms.i2p import ImageToPointGuidance
from ..tokenizers import PatchTokenizer
from .pointmae import point_mae
from .registry import register
from .videomae import videomae_vit


@register("mixedae_vit_tiny", paper=11)
def mixedae_vit_tiny(image_size=32, patch_size=4, channels=3, mask_ratio=0.75, norm_pix=True, dim=192, depth=12,
                     heads=3, decoder_dim=128, decoder_depth=4, decoder_heads=4, homologous_weight=0.5,
                     temperature=0.07):
    """MixedAE: 4 images mixed patch-wise (each keeps 25% of its patches), each reconstructed from its own
    tokens, plus homologous recognition (as mae_vit_tiny otherwise)."""
    return MaskedAutoencoder(
        tokenizer=PatchTokenizer(image_size, patch_size, channels, dim=dim),
        masker=MixingMasker(mask_ratio),
        encoder=ViTEncoder(dim=dim, depth=depth, heads=heads),
        decoder=MAEDecoder(dim=decoder_dim, depth=decoder_depth, heads=decoder_heads),
        target=PixelTarget(norm=norm_pix), loss=MSELoss(),
        aux=[HomologousRecognition(homologous_weight, temperature)] if homologous_weight > 0 else [])


@register("crossvideomae_tiny", paper=39, modality="video")
def crossvideomae_tiny(frames=16, image_size=32, patch_size=8, tubelet=2, channels=3, mask_ratio=0.9, norm_pix=True,
                       frame_stride=1, dim=128, depth=4, heads=4, decoder_dim=96, decoder_depth=2, decoder_heads=4,
                       video_weight=1.0, frame_weight=1.0, sampled_frames=2, temperature=0.1):
    """CrossVideoMAE, CPU-sized (as videomae_vit_tiny): VideoMAE + video-level and frame-level contrast
    between each clip and frames sampled from it."""
    model = videomae_vit("tiny", frames, image_size, patch_size, tubelet, channels, mask_ratio, None, norm_pix,
                         frame_stride, dim, depth, heads, decoder_dim, decoder_depth, decoder_heads)
    model.add_term(CrossVideoContrast(video_weight, frame_weight, sampled_frames, temperature))
    return model


@register("i2pmae_tiny", paper=20, modality="points", train={"batch_size": 64, "epochs": 60, "blr": 4e-3})
def i2pmae_tiny(num_points=256, num_groups=32, group_size=16, mask_ratio=0.6, dim=96, depth=4, heads=3,
                decoder_dim=64, decoder_depth=2, decoder_heads=2, drop_path=0.0, pointnet_width=16, position="mlp",
                pos_every_block=True, feature_weight=1.0):
    """I2P-MAE, CPU-sized (as pointmae_tiny): 2-D-guided masking keeps the groups a trained image encoder
    finds salient in 3 depth views visible, and they regress its back-projected 2-D features
    (needs --teacher IMAGE_RUN)."""
    model = point_mae(num_points, num_groups, group_size, mask_ratio, dim, depth, heads, decoder_dim, decoder_depth,
                      decoder_heads, drop_path, pointnet_width, position, pos_every_block)
    model.add_term(ImageToPointGuidance(feature_weight))
    model.set_masker(GuidedMasker(mask_ratio, keep_top=True, source="term:i2p"))
    return model


# ------------------------------------------------------------------ at the papers' sizes (docs/paper_recipes.md)
@register("mixedae_vit_base", paper=11)
def mixedae_vit_base(image_size=224, patch_size=16, channels=3, mask_ratio=0.75, norm_pix=True, homologous_weight=0.5,
                     temperature=0.07):
    """MixedAE at ViT-B/16 (768-d x 12), MAE's 512-d x 8 decoder: 4-image mixing + homologous recognition."""
    return mixedae_vit_tiny(image_size, patch_size, channels, mask_ratio, norm_pix, 768, 12, 12, 512, 8, 16,
                            homologous_weight, temperature)


@register("crossvideomae_base", paper=39, modality="video")
def crossvideomae_base(frames=16, image_size=224, patch_size=16, tubelet=2, channels=3, mask_ratio=0.9, norm_pix=True,
                       frame_stride=4, video_weight=1.0, frame_weight=1.0, sampled_frames=2, temperature=0.1):
    """CrossVideoMAE at VideoMAE's ViT-B/16 (768-d x 12, 384-d x 4 decoder), video- and frame-level contrast."""
    return crossvideomae_tiny(frames, image_size, patch_size, tubelet, channels, mask_ratio, norm_pix, frame_stride,
                              768, 12, 12, 384, 4, 6, video_weight, frame_weight, sampled_frames, temperature)
