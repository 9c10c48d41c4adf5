"""MemMC-MAE (Tian et al. 2022, PAPERS.md row 19): anomaly detection from masked reconstruction error, with a
memory-augmented self-attention encoder and a multi-level cross-attention decoder.

Only the laptop size is registered: the abstract gives no model size and no public code of the paper
could be found to read one from, so there is no `memmc_base` (docs/evaluation.md says so).
"""
from __future__ import annotations

from ..decoders.memmc import MultiLevelCrossDecoder
from ..encoders.memmc import MemMCEncoder
from ..losses import MSELoss
from ..masking import RandomMasker
from ..model import MaskedAutoencoder
from ..targets import PixelTarget
from ..tokenizers import PatchTokenizer
from .registry import register


@register("memmc_tiny", paper=19, train={"steps": 1500, "blr": 2e-3, "batch_size": 64})
def memmc_tiny(image_size=64, patch_size=8, channels=3, mask_ratio=0.75, dim=96, depth=4, heads=4, memory=16,
               decoder_dim=96, decoder_depth=2, decoder_heads=4, norm_pix=False, drop_path=0.0):
    """MemMC-MAE, CPU-sized: 64 px, 8x8 patches, 96-d x 4 memory-augmented encoder (16 slots a block),
    96-d x 2 multi-level cross-attention decoder, raw-pixel target (so colour shifts are not normalised away)."""
    encoder = MemMCEncoder(dim=dim, depth=depth, heads=heads, memory=memory, drop_path=drop_path)
    return MaskedAutoencoder(
        tokenizer=PatchTokenizer(image_size, patch_size, channels, dim=dim),
        masker=RandomMasker(mask_ratio),
        encoder=encoder,
        decoder=MultiLevelCrossDecoder(encoder, dim=decoder_dim, depth=decoder_depth, heads=decoder_heads),
        target=PixelTarget(norm=norm_pix), loss=MSELoss())
