"""M3AE (PAPERS.md row 43): multimodal masked autoencoder over image patches and caption words in ONE encoder.

Each modality has its own tokenizer, position table and learned type embedding; each is masked at its own ratio
(image 75%, text 50%, exactly that share of every sample's tokens); one ViT reads the visible tokens of both; one
transformer decoder reads them with a mask token per hidden token (one mask token per modality) and a linear head
per modality predicts pixels (MSE) or words (cross-entropy). Loss = image MSE + `text_loss_weight` x text
cross-entropy, each the mean over that modality's hidden tokens. Facts the abstract lacks are from
young-geng/m3ae_public (`model.py` MaskedMultimodalAutoencoder, `m3ae_main.py`): decoder 512 x 8 with 16 heads,
linear output heads, raw (not per-patch normalised) pixel targets, text loss weight 0.1, a [CLS] in the encoder.
"""
from __future__ import annotations

import torch

from ..decoders.m3ae import M3AEDecoder
from ..encoders.vit import ViTEncoder
from ..losses import MSELoss
from ..losses.multimodal import MultiModalLoss, PixelCrossEntropy
from ..masking.per_modality import PerModalityMasker
from ..masking.random import RandomMasker
from ..model import MaskedAutoencoder
from ..targets import PixelTarget
from ..targets.multimodal import ClassTarget, MultiModalTarget
from ..tokenizers import MultiModalTokenizer, PatchTokenizer
from ..tokenizers.caption import CaptionTokenizer
from .registry import register

MODALITIES = ("image", "text")
CAPTION_VOCABULARY, CAPTION_WORDS = 44, 8  # shapes-captions' word list and caption length (data/captions.py)


def m3ae(image_size, patch_size, channels, vocab_size, text_length, image_mask_ratio, text_mask_ratio, dim, depth,
         heads, decoder_dim, decoder_depth, decoder_heads, text_loss_weight, norm_pix=False) -> MaskedAutoencoder:
    tokenizer = MultiModalTokenizer({"image": PatchTokenizer(image_size, patch_size, channels, dim=dim),
                                     "text": CaptionTokenizer(vocab_size, text_length, dim)}, dim=dim)
    masker = PerModalityMasker({"image": RandomMasker(image_mask_ratio), "text": RandomMasker(text_mask_ratio)})
    target = MultiModalTarget({"image": PixelTarget(norm=norm_pix), "text": ClassTarget(vocab_size)},
                              tokenizer.widths)
    widths = target.pred_dims(tokenizer)
    # M3AE adds the image's mean loss and 0.1 x the text's; the model averages over every hidden token, so each
    # token is weighted by (all hidden tokens) / (hidden tokens of its modality) x its modality's weight
    fixed = torch.Generator().manual_seed(0)
    hidden = {n: masker.parts[n].sample(1, tokenizer.parts[n].grid, fixed).hidden.shape[1] for n in MODALITIES}
    scale = {"image": 1.0, "text": float(text_loss_weight)}
    weights = {n: scale[n] * sum(hidden.values()) / max(hidden[n], 1) for n in MODALITIES}
    loss = MultiModalLoss({"image": MSELoss(), "text": PixelCrossEntropy(vocab_size)}, widths,
                          target.dims(tokenizer), weights)
    return MaskedAutoencoder(tokenizer=tokenizer, masker=masker, encoder=ViTEncoder(dim=dim, depth=depth, heads=heads),
                             decoder=M3AEDecoder(widths, decoder_dim, decoder_depth, decoder_heads),
                             target=target, loss=loss)


@register("m3ae_tiny", paper=43, modality="image-text", train={"steps": 600, "blr": 1.5e-3, "batch_size": 64})
def m3ae_tiny(image_size=32, patch_size=8, channels=3, vocab_size=CAPTION_VOCABULARY,
              text_length=CAPTION_WORDS, image_mask_ratio=0.75, text_mask_ratio=0.5, dim=128, depth=4, heads=4,
              decoder_dim=128, decoder_depth=2, decoder_heads=4, text_loss_weight=0.1, norm_pix=False):
    """M3AE for a CPU, on `shapes-captions`: 32 px images in 8x8 patches (16 tokens) + 8-word captions (44 words),
    128-d x 4 ViT, 128-d x 2 decoder, image 75% / text 50% masked."""
    return m3ae(image_size, patch_size, channels, vocab_size, text_length, image_mask_ratio, text_mask_ratio, dim,
                depth, heads, decoder_dim, decoder_depth, decoder_heads, text_loss_weight, norm_pix)


@register("m3ae_base", paper=43, modality="image-text")
def m3ae_base(image_size=256, patch_size=16, channels=3, vocab_size=30522, text_length=64, image_mask_ratio=0.75,
              text_mask_ratio=0.5, text_loss_weight=0.1):
    """M3AE-B: ViT-B/16 (768-d x 12, 12 heads) over 256 px images (256 patches) + 64 bert-base-uncased tokens,
    512-d x 8 decoder (16 heads), image 75% / text 50% masked, text loss weight 0.1 (m3ae_public's defaults)."""
    return m3ae(image_size, patch_size, channels, vocab_size, text_length, image_mask_ratio, text_mask_ratio, 768, 12,
                12, 512, 8, 16, text_loss_weight)
