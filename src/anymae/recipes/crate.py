"""CRATE-MAE (Pai et al. 2024, PAPERS.md row 8): MAE with CRATE's white-box layers in encoder and decoder."""
from __future__ import annotations

from ..decoders import CRATEDecoder
from ..encoders import CRATEEncoder
from ..losses import MSELoss
from ..masking import RandomMasker
from ..model import MaskedAutoencoder
from ..targets import PixelTarget
from ..tokenizers import PatchTokenizer
from .registry import register


def crate_mae(image_size=224, patch_size=16, channels=3, mask_ratio=0.75, norm_pix=True, dim=768, depth=12,
              heads=12, decoder_dim=768, decoder_depth=12, decoder_heads=12, step=0.1, lambd=0.5,
              learnable_pos=False) -> MaskedAutoencoder:
    """Patches -> random masking -> CRATE encoder (MSSA + ISTA layers) on the visible patches -> CRATE decoder
    (dictionary + inverted MSSA layers) with mask tokens -> (norm-)pixels, MSE on the hidden patches."""
    return MaskedAutoencoder(
        tokenizer=PatchTokenizer(image_size, patch_size, channels, dim=dim, learnable_pos=learnable_pos),
        masker=RandomMasker(mask_ratio),
        encoder=CRATEEncoder(dim=dim, depth=depth, heads=heads, step=step, lambd=lambd),
        decoder=CRATEDecoder(dim=decoder_dim, depth=decoder_depth, heads=decoder_heads),
        target=PixelTarget(norm=norm_pix), loss=MSELoss())


@register("crate_mae_base", paper=8)
def crate_mae_base(image_size=224, patch_size=16, channels=3, mask_ratio=0.75, norm_pix=True, dim=768, depth=12,
                   heads=12, decoder_dim=768, decoder_depth=12, decoder_heads=12, step=0.1, lambd=0.5):
    """CRATE-MAE-Base: 768-d x 12 CRATE encoder, 768-d x 12 CRATE decoder (12 heads), 224/16, mask 0.75."""
    return crate_mae(image_size, patch_size, channels, mask_ratio, norm_pix, dim, depth, heads, decoder_dim,
                     decoder_depth, decoder_heads, step, lambd)


@register("crate_mae_vit_tiny", paper=8, formerly="crate_mae_tiny")
def crate_mae_vit_tiny(image_size=32, patch_size=4, channels=3, mask_ratio=0.75, norm_pix=True, dim=192, depth=12,
                       heads=3, decoder_dim=128, decoder_depth=4, decoder_heads=4, step=0.1, lambd=0.5):
    """CRATE-MAE with mae_vit_tiny's configuration: 192-d x 12 CRATE encoder, 128-d x 4 CRATE decoder, 32 px.

    The equal-configuration comparison with mae_vit_tiny (benchmarks/crate_vs_mae.py); at laptop budgets it
    does not learn past its random init (docs/modalities.md): crate_mae_tiny is the recipe that trains in minutes.
    """
    return crate_mae(image_size, patch_size, channels, mask_ratio, norm_pix, dim, depth, heads, decoder_dim,
                     decoder_depth, decoder_heads, step, lambd)


# The laptop CRATE-MAE: the CLI default's size and training (mae_laptop, recipes/mae.py, without its MP3 position
# task): 64-d x 6 encoder, 8x8 patches, mask 0.5, 3,000 steps at blr 4e-3, colour jitter, the grid3 probe reading
# (docs/modalities.md, "crate_mae_tiny: CRATE-MAE at the laptop default's size")
@register("crate_mae_tiny", paper=8, formerly="crate_mae_laptop",
          train={"steps": 3000, "blr": 4e-3, "colour_jitter": 0.4, "features": "grid3"})
def crate_mae_tiny(image_size=32, patch_size=8, channels=3, mask_ratio=0.5, norm_pix=True, dim=64, depth=6,
                   heads=4, decoder_dim=64, decoder_depth=2, decoder_heads=4, step=0.1, lambd=0.5):
    """CRATE-MAE sized and trained as mae_laptop (64-d x 6, 8x8 patches, mask 0.5, 3,000 steps): minutes on a CPU.

    Changed from the paper: the laptop size, mask 0.5 and colour jitter (mae_laptop's choices for small data);
    the layers (MSSA compression, one ISTA sparsification step, CRATE's decoder) are the paper's.
    """
    return crate_mae(image_size, patch_size, channels, mask_ratio, norm_pix, dim, depth, heads, decoder_dim,
                     decoder_depth, decoder_heads, step, lambd)

