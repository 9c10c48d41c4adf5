"""Recipes that change what is predicted (issue: targets and teachers): HOG (MaskFeat), spectrum (MFM, 40),
positions (MP3, 42), teacher latents (SALT, 54; EMA, 26), MaskAlign (6), MR-MAE (13), DMAE (29),
Hybrid Distillation (36), CAE (5), LUT (7), DMJD (33). Recipes that read a frozen teacher need
`--teacher RUN` (e.g. a `mae_laptop` run).

Laptop-budget defaults, `mae_laptop`'s (docs/targets.md: every row then beats its random init on `shapes`):
32x32 images, 8x8 patches, a 64-d x 6 encoder, a 64-d x 2 decoder, MP3's position task added
(`position_task=1.0`; 0 gives the paper's encoder with position embeddings), 3,000 steps at blr 4e-3."""
from __future__ import annotations

from ..decoders import CAEDecoder, LinearHead, MAEDecoder
from ..encoders import ViTEncoder
from ..losses import CrossEntropyLoss, MSELoss
from ..masking import DisjointMasker, FrequencyMasker, PredictVisible, RandomMasker
from ..model import MaskedAutoencoder
from ..targets import EMALatentTarget, FrequencyTarget, HOGTarget, PixelTarget, PositionTarget, TeacherLatentTarget
from ..terms import (DynamicAlignment, IntermediateDistill, DualBranch, LatentAlignment, PositionPrediction,
                     TokenRelation, VisibleMimic, VisibleTokenTerm)
from ..tokenizers import PatchTokenizer
from .registry import register


LAPTOP_TRAINING = {"steps": 3000, "blr": 4e-3}  # as mae_laptop (recipes/mae.py)


def parts(image_size, patch_size, channels, dim, depth, heads, use_pos=True):
    """The tokenizer and encoder every recipe here shares."""
    return (PatchTokenizer(image_size, patch_size, channels, dim=dim, use_pos=use_pos),
            ViTEncoder(dim=dim, depth=depth, heads=heads))


def with_position_task(aux, position_task):
    """`aux` + MP3's position task (targets/position.py) when `position_task` > 0: the encoder then gets
    no positions."""
    return list(aux or []) + ([PositionPrediction(weight=position_task)] if position_task > 0 else [])


def mae_decoder(decoder_dim, decoder_depth, decoder_heads):
    return MAEDecoder(dim=decoder_dim, depth=decoder_depth, heads=decoder_heads)


def random_masked_mae(image_size, patch_size, channels, mask_ratio, dim, depth, heads, decoder_dim, decoder_depth,
                      decoder_heads, target, aux=None, position_task=0.0) -> MaskedAutoencoder:
    """MAE's layout (row 0) that recipes here vary by what they predict: patches, random masking, a ViT,
    an MAE decoder for the hidden tokens, MSE against `target` (+ `aux` terms, + the position task)."""
    tok, enc = parts(image_size, patch_size, channels, dim, depth, heads)
    return MaskedAutoencoder(tok, RandomMasker(mask_ratio), enc, mae_decoder(decoder_dim, decoder_depth, decoder_heads),
                             target, MSELoss(), aux=with_position_task(aux, position_task))


@register("maskfeat_vit_tiny", paper=0, train=LAPTOP_TRAINING)
def maskfeat_vit_tiny(image_size=32, patch_size=8, channels=3, mask_ratio=0.75, dim=64, depth=6, heads=4,
                      decoder_dim=64, decoder_depth=2, decoder_heads=4, hog_cells=2, hog_orientations=9,
                      position_task=1.0):
    """MaskFeat (mmpretrain; no PAPERS row): predict the HOG of each hidden patch."""
    return random_masked_mae(image_size, patch_size, channels, mask_ratio, dim, depth, heads, decoder_dim, decoder_depth,
                             decoder_heads, HOGTarget(hog_cells, hog_orientations), position_task=position_task)


@register("mfm_vit_tiny", paper=40, train=LAPTOP_TRAINING)
def mfm_vit_tiny(image_size=32, patch_size=8, channels=3, radius=0.4, low_prob=0.5, dim=64, depth=6, heads=4,
                 decoder_dim=64, decoder_depth=2, decoder_heads=4, position_task=1.0):
    """Masked Frequency Modeling: hide a low- or high-pass band of the spectrum, predict it (loss on that band)."""
    tok, enc = parts(image_size, patch_size, channels, dim, depth, heads)
    return MaskedAutoencoder(tok, FrequencyMasker(radius, low_prob), enc,
                             mae_decoder(decoder_dim, decoder_depth, decoder_heads), FrequencyTarget(),
                             FrequencyTarget().make_loss(tok), aux=with_position_task(None, position_task))


@register("mp3_vit_tiny", paper=42, train=LAPTOP_TRAINING)
def mp3_vit_tiny(image_size=32, patch_size=8, channels=3, mask_ratio=0.5, dim=64, depth=6, heads=4):
    """MP3: no position embedding in the encoder; classify each visible token's position from content."""
    tok, enc = parts(image_size, patch_size, channels, dim, depth, heads, use_pos=False)
    return MaskedAutoencoder(tok, PredictVisible(RandomMasker(mask_ratio)), enc, LinearHead(), PositionTarget(),
                             CrossEntropyLoss())


@register("salt_vit_tiny", paper=54, train=LAPTOP_TRAINING)
def salt_vit_tiny(image_size=32, patch_size=8, channels=3, mask_ratio=0.75, dim=64, depth=6, heads=4,
                  decoder_dim=64, decoder_depth=2, decoder_heads=4, teacher_layer=None, position_task=1.0):
    """SALT stage 2: predict a frozen pixel-MAE teacher's latents of the hidden tokens (--teacher RUN)."""
    return random_masked_mae(image_size, patch_size, channels, mask_ratio, dim, depth, heads, decoder_dim, decoder_depth,
                             decoder_heads, TeacherLatentTarget(layer=teacher_layer), position_task=position_task)


@register("latent_ema_vit_tiny", paper=26, train=LAPTOP_TRAINING)
def latent_ema_vit_tiny(image_size=32, patch_size=8, channels=3, mask_ratio=0.75, dim=64, depth=6, heads=4,
                        decoder_dim=64, decoder_depth=2, decoder_heads=4, momentum=0.996, top_k=2,
                        position_task=1.0):
    """Latent prediction (data2vec / JEPA-style): predict an EMA teacher's latents of the hidden tokens."""
    return random_masked_mae(image_size, patch_size, channels, mask_ratio, dim, depth, heads, decoder_dim, decoder_depth,
                             decoder_heads, EMALatentTarget(momentum, top_k), position_task=position_task)


@register("maskalign_vit_tiny", paper=6, train=LAPTOP_TRAINING)
def maskalign_vit_tiny(image_size=32, patch_size=8, channels=3, mask_ratio=0.7, dim=64, depth=6, heads=4,
                       align_weight=1.0, position_task=1.0):
    """MaskAlign: no decoder on hidden tokens; visible features aligned to a frozen teacher (+ Dynamic Alignment)."""
    tok, enc = parts(image_size, patch_size, channels, dim, depth, heads)
    return MaskedAutoencoder(tok, PredictVisible(RandomMasker(mask_ratio)), enc, LinearHead(),
                             TeacherLatentTarget(), MSELoss(),
                             aux=with_position_task([DynamicAlignment(weight=align_weight)], position_task))


@register("mrmae_vit_tiny", paper=13, train=LAPTOP_TRAINING)
def mrmae_vit_tiny(image_size=32, patch_size=8, channels=3, mask_ratio=0.75, dim=64, depth=6, heads=4,
                   decoder_dim=64, decoder_depth=2, decoder_heads=4, mimic_weight=1.0, position_task=1.0):
    """MR-MAE: pixels on hidden tokens (decoder) + a frozen teacher's features on visible tokens (encoder)."""
    return random_masked_mae(image_size, patch_size, channels, mask_ratio, dim, depth, heads, decoder_dim, decoder_depth,
                             decoder_heads, PixelTarget(norm=True),
                             aux=[VisibleMimic(weight=mimic_weight)], position_task=position_task)


@register("dmae_vit_tiny", paper=29, train=LAPTOP_TRAINING)
def dmae_vit_tiny(image_size=32, patch_size=8, channels=3, mask_ratio=0.75, dim=64, depth=6, heads=4,
                  decoder_dim=64, decoder_depth=2, decoder_heads=4, student_layer=-1, teacher_layer=-2,
                  distill_weight=1.0, position_task=1.0):
    """DMAE: pixel loss + a frozen (larger) MAE teacher's intermediate features, teacher run partially."""
    return random_masked_mae(image_size, patch_size, channels, mask_ratio, dim, depth, heads, decoder_dim, decoder_depth,
                             decoder_heads, PixelTarget(norm=True),
                             aux=[IntermediateDistill({student_layer: teacher_layer}, weight=distill_weight)],
                             position_task=position_task)


@register("hybrid_distill_vit_tiny", paper=36, train=LAPTOP_TRAINING)
def hybrid_distill_vit_tiny(image_size=32, patch_size=8, channels=3, mask_ratio=0.5, dim=64, depth=6, heads=4,
                            relation_weight=1.0, relation_layer=-1, position_task=1.0):
    """Hybrid Distillation: features of teacher 1 + attention relations of MIM teacher 2 (--teacher A --teacher B)."""
    tok, enc = parts(image_size, patch_size, channels, dim, depth, heads)
    return MaskedAutoencoder(tok, PredictVisible(RandomMasker(mask_ratio)), enc, LinearHead(),
                             TeacherLatentTarget(teacher_index=0), MSELoss(),
                             aux=with_position_task([TokenRelation(relation_layer, relation_weight, teacher_index=1)],
                                                    position_task))


@register("cae_vit_tiny", paper=5, train=LAPTOP_TRAINING)
def cae_vit_tiny(image_size=32, patch_size=8, channels=3, mask_ratio=0.5, dim=64, depth=6, heads=4,
                 regressor_depth=2, decoder_depth=2, alignment_weight=2.0, position_task=1.0):
    """CAE: a latent regressor predicts hidden latents from visible ones, aligned with the encoder's own."""
    tok, enc = parts(image_size, patch_size, channels, dim, depth, heads)
    return MaskedAutoencoder(tok, RandomMasker(mask_ratio), enc, CAEDecoder(dim, regressor_depth, decoder_depth, heads),
                             PixelTarget(norm=True), MSELoss(),
                             aux=with_position_task([LatentAlignment(alignment_weight)], position_task))


@register("lut_vit_tiny", paper=7, train=LAPTOP_TRAINING)
def lut_vit_tiny(image_size=32, patch_size=8, channels=3, mask_ratio=0.75, dim=64, depth=6, heads=4,
                 decoder_dim=64, decoder_depth=2, decoder_heads=4, visible_weight=0.5, momentum=0.996,
                 position_task=1.0):
    """LUT: MAE + a weighted term on the encoded visible tokens against an EMA teacher of the full image."""
    return random_masked_mae(image_size, patch_size, channels, mask_ratio, dim, depth, heads, decoder_dim, decoder_depth,
                             decoder_heads, PixelTarget(norm=True),
                             aux=[VisibleTokenTerm(visible_weight, momentum)], position_task=position_task)


@register("dmjd_vit_tiny", paper=33, train=LAPTOP_TRAINING)
def dmjd_vit_tiny(image_size=32, patch_size=8, channels=3, mask_ratio=0.5, views=2, dim=64, depth=6, heads=4,
                  decoder_dim=64, decoder_depth=2, decoder_heads=4, distill_weight=1.0, position_task=1.0,
                  hog_cells=2, hog_orientations=9):
    """DMJD: k views with disjoint hidden sets; on each, the decoder predicts the hidden tokens' HOG and a
    projector the visible tokens' HOG (the dual branch of joint distillation, terms/dmjd.py)."""
    tok, enc = parts(image_size, patch_size, channels, dim, depth, heads)
    return MaskedAutoencoder(tok, DisjointMasker(mask_ratio, views), enc,
                             mae_decoder(decoder_dim, decoder_depth, decoder_heads),
                             HOGTarget(hog_cells, hog_orientations), MSELoss(),
                             aux=with_position_task([DualBranch(distill_weight)], position_task))
