"""Issue 22's objectives as recipes: MixedAE (row 11), CrossVideoMAE (row 39), I2P-MAE (row 20). Masked
feature modelling (row 28) and MTO (row 30) are options of any recipe (recipes/options.py); SMARTIES'
cross-sensor mixup (row 3) is on in the SMARTIES recipes (recipes/channels.py); DMJD's dual branch (row 33)
is in its recipes (recipes/targets.py, recipes/paper_sizes.py)."""
from __future__ import annotations

from ..decoders import MAEDecoder
from ..encoders import ViTEncoder
from ..losses import MSELoss
from ..masking.mixing import MixingMasker
from ..model import MaskedAutoencoder
from ..targets import PixelTarget
from ..terms.crossvideo import CrossVideoContrast
from ..terms.homologous import HomologousRecognition
from ..tokenizers import PatchTokenizer
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
