"""LV-MAE (PAPERS.md row 14): a masked-embedding autoencoder over a long sequence of precomputed segment
embeddings; random masking of segments, a ViT over the visible ones, MAE's decoder, MSE on the hidden embeddings."""
from __future__ import annotations

from ..decoders import MAEDecoder
from ..encoders import ViTEncoder
from ..losses import MSELoss
from ..masking import RandomMasker
from ..model import MaskedAutoencoder
from ..targets import PixelTarget
from ..tokenizers.embedding import EmbeddingSequenceTokenizer
from .registry import register


@register("lvmae_tiny", paper=14, modality="embeddings", train={"batch_size": 64, "blr": 2e-3})
def lvmae_tiny(length=16, in_dim=128, mask_ratio=0.5, norm_target=True, dim=128, depth=4, heads=4, decoder_dim=96,
               decoder_depth=2, decoder_heads=4):
    """LV-MAE for a CPU: 16 segment embeddings (the data sets `in_dim`), 50% of the segments hidden, 128-d x 4
    encoder, 96-d x 2 decoder; the target is each hidden embedding standardised over its features."""
    return MaskedAutoencoder(
        tokenizer=EmbeddingSequenceTokenizer(length, in_dim, dim=dim),
        masker=RandomMasker(mask_ratio),
        encoder=ViTEncoder(dim=dim, depth=depth, heads=heads),
        decoder=MAEDecoder(dim=decoder_dim, depth=decoder_depth, heads=decoder_heads),
        target=PixelTarget(norm=norm_target), loss=MSELoss())
