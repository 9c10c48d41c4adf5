"""MAE (He et al. 2022, PAPERS.md row 0) at the paper's sizes, plus CPU-sized tiny/small."""
from __future__ import annotations

from ..decoders import MAEDecoder
from ..encoders import ViTEncoder
from ..losses import MSELoss
from ..masking import RandomMasker
from ..model import MaskedAutoencoder
from ..targets import PixelTarget
from ..tokenizers import PatchTokenizer
from .registry import register

# (encoder dim, depth, heads, decoder dim, depth, heads); base and up use the paper's 512-d x 8 decoder
SIZES = {
    "tiny": (192, 12, 3, 128, 4, 4),
    "small": (384, 12, 6, 256, 4, 8),
    "base": (768, 12, 12, 512, 8, 16),
    "large": (1024, 24, 16, 512, 8, 16),
    "huge": (1280, 32, 16, 512, 8, 16),
}


def mae_vit(size: str, image_size=224, patch_size=16, channels=3, mask_ratio=0.75, norm_pix=True,
            depth=None, dim=None, heads=None, decoder_dim=None, decoder_depth=None, decoder_heads=None,
            drop_path=0.0, mlp_ratio=4.0, decoder_mlp_ratio=4.0, learnable_pos=False,
            decoder_learnable_pos=False, norm_eps=1e-6) -> MaskedAutoencoder:
    e_dim, e_depth, e_heads, d_dim, d_depth, d_heads = SIZES[size]
    dim, depth, heads = dim or e_dim, depth or e_depth, heads or e_heads
    return MaskedAutoencoder(
        tokenizer=PatchTokenizer(image_size, patch_size, channels, dim=dim, learnable_pos=learnable_pos),
        masker=RandomMasker(mask_ratio),
        encoder=ViTEncoder(dim=dim, depth=depth, heads=heads, mlp_ratio=mlp_ratio, drop_path=drop_path,
                           norm_eps=norm_eps),
        decoder=MAEDecoder(dim=decoder_dim or d_dim, depth=decoder_depth or d_depth, heads=decoder_heads or d_heads,
                           mlp_ratio=decoder_mlp_ratio, learnable_pos=decoder_learnable_pos, norm_eps=norm_eps),
        target=PixelTarget(norm=norm_pix), loss=MSELoss())


# Every size takes the same arguments (so an imported checkpoint of any shape has a recipe); the
# architecture ones default to the size's row in SIZES. `learnable_pos` holds a position table that is
# not MAE's sin-cos (an imported, interpolated or learned one); `norm_eps` is the LayerNorm eps
# (MAE's 1e-6; Hugging Face's ViTMAE configs say 1e-12).
@register("mae_vit_tiny", paper=0)
def mae_vit_tiny(image_size=32, patch_size=4, channels=3, mask_ratio=0.75, norm_pix=True, depth=12,
                 dim=192, heads=3, decoder_dim=128, decoder_depth=4, decoder_heads=4, drop_path=0.0,
                 mlp_ratio=4.0, decoder_mlp_ratio=4.0, learnable_pos=False, decoder_learnable_pos=False,
                 norm_eps=1e-6):
    """MAE, ViT-Tiny encoder (192-d x 12) and a light 128-d x 4 decoder; CPU-sized defaults."""
    return mae_vit("tiny", image_size, patch_size, channels, mask_ratio, norm_pix, depth, dim, heads,
                   decoder_dim, decoder_depth, decoder_heads, drop_path, mlp_ratio, decoder_mlp_ratio,
                   learnable_pos, decoder_learnable_pos, norm_eps)


@register("mae_vit_small", paper=0)
def mae_vit_small(image_size=224, patch_size=16, channels=3, mask_ratio=0.75, norm_pix=True, drop_path=0.0,
                  depth=12, dim=384, heads=6, decoder_dim=256, decoder_depth=4, decoder_heads=8,
                  mlp_ratio=4.0, decoder_mlp_ratio=4.0, learnable_pos=False, decoder_learnable_pos=False,
                 norm_eps=1e-6):
    """MAE, ViT-S/16 encoder (384-d x 12), 256-d x 4 decoder."""
    return mae_vit("small", image_size, patch_size, channels, mask_ratio, norm_pix, depth, dim, heads,
                   decoder_dim, decoder_depth, decoder_heads, drop_path, mlp_ratio, decoder_mlp_ratio,
                   learnable_pos, decoder_learnable_pos, norm_eps)


@register("mae_vit_base", paper=0)
def mae_vit_base(image_size=224, patch_size=16, channels=3, mask_ratio=0.75, norm_pix=True, drop_path=0.0,
                 depth=12, dim=768, heads=12, decoder_dim=512, decoder_depth=8, decoder_heads=16,
                 mlp_ratio=4.0, decoder_mlp_ratio=4.0, learnable_pos=False, decoder_learnable_pos=False,
                 norm_eps=1e-6):
    """MAE, ViT-B/16 encoder (768-d x 12), 512-d x 8 decoder (the paper's)."""
    return mae_vit("base", image_size, patch_size, channels, mask_ratio, norm_pix, depth, dim, heads,
                   decoder_dim, decoder_depth, decoder_heads, drop_path, mlp_ratio, decoder_mlp_ratio,
                   learnable_pos, decoder_learnable_pos, norm_eps)


@register("mae_vit_large", paper=0)
def mae_vit_large(image_size=224, patch_size=16, channels=3, mask_ratio=0.75, norm_pix=True, drop_path=0.0,
                  depth=24, dim=1024, heads=16, decoder_dim=512, decoder_depth=8, decoder_heads=16,
                  mlp_ratio=4.0, decoder_mlp_ratio=4.0, learnable_pos=False, decoder_learnable_pos=False,
                 norm_eps=1e-6):
    """MAE, ViT-L/16 encoder (1024-d x 24), 512-d x 8 decoder (the paper's)."""
    return mae_vit("large", image_size, patch_size, channels, mask_ratio, norm_pix, depth, dim, heads,
                   decoder_dim, decoder_depth, decoder_heads, drop_path, mlp_ratio, decoder_mlp_ratio,
                   learnable_pos, decoder_learnable_pos, norm_eps)


@register("mae_vit_huge", paper=0)
def mae_vit_huge(image_size=224, patch_size=14, channels=3, mask_ratio=0.75, norm_pix=True, drop_path=0.0,
                 depth=32, dim=1280, heads=16, decoder_dim=512, decoder_depth=8, decoder_heads=16,
                 mlp_ratio=4.0, decoder_mlp_ratio=4.0, learnable_pos=False, decoder_learnable_pos=False,
                 norm_eps=1e-6):
    """MAE, ViT-H/14 encoder (1280-d x 32), 512-d x 8 decoder (the paper's)."""
    return mae_vit("huge", image_size, patch_size, channels, mask_ratio, norm_pix, depth, dim, heads,
                   decoder_dim, decoder_depth, decoder_heads, drop_path, mlp_ratio, decoder_mlp_ratio,
                   learnable_pos, decoder_learnable_pos, norm_eps)
