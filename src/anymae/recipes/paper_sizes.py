"""The target recipes of recipes/targets.py at each paper's own size and settings (docs/paper_recipes.md).

`<family>_vit_tiny` are laptop variants (64-d x 6 on 32 px, plus MP3's position task); the recipes here
are the papers' ViT-B/16 models on 224 px with the published mask ratio, masking, target and loss, and
no position task (`position_task=0`). They reuse the builders of recipes/targets.py. Where a paper's
part cannot be had here (a DALL-E tokenizer, CLIP/DINO teachers, a ConvViT backbone) the nearest part
stands in; each docstring and the table say what changed. Teachers come from `--teacher RUN`.

`train=` holds the paper's pretraining settings in PretrainConfig terms: `blr` is the learning rate per
256 samples (lr = blr * batch / 256), `warmup` the warm-up epochs as a fraction of the run.
"""
from __future__ import annotations

from ..decoders import LinearHead
from ..losses import MSELoss
from ..masking import BlockMasker, DisjointMasker, FrequencyMasker, PredictVisible, RandomMasker
from ..model import MaskedAutoencoder
from ..targets import FrequencyTarget, HOGTarget, PixelTarget, TeacherLatentTarget
from ..terms import DynamicAlignment, IntermediateDistill, DualBranch
from .registry import register
from .targets import (cae_vit_tiny, hybrid_distill_vit_tiny, latent_ema_vit_tiny, lut_vit_tiny, mae_decoder,
                      maskfeat_vit_tiny, mp3_vit_tiny, mrmae_vit_tiny, parts, random_masked_mae, salt_vit_tiny)


def schedule(epochs, warmup_epochs, blr, batch_size, betas=(0.9, 0.95), weight_decay=0.05) -> dict:
    """A paper's pretraining run as PretrainConfig settings (`warmup` as a fraction of the epochs)."""
    return {"epochs": epochs, "warmup": warmup_epochs / epochs, "blr": blr, "batch_size": batch_size,
            "betas": betas, "weight_decay": weight_decay}


def blr_of(lr, batch_size) -> float:
    """The base learning rate (per 256 samples) of an absolute `lr` at `batch_size`."""
    return lr * 256 / batch_size


def block_masked(model, ratio, min_block=16):
    """BEiT's block-wise masking (masking/block.py) instead of the builder's random masking."""
    model.set_masker(BlockMasker(ratio, min_area=min_block))
    return model


@register("maskfeat_vit_base", paper=0,
          train=schedule(300, 30, 2e-4, 256, betas=(0.9, 0.999)))  # SlowFast in1k_VIT_B_MaskFeat_PT.yaml
def maskfeat_vit_base(image_size=224, patch_size=16, channels=3, mask_ratio=0.4, dim=768, depth=12, heads=12,
                      decoder_dim=512, decoder_depth=8, decoder_heads=16, hog_cells=2, hog_orientations=9,
                      min_block=16):
    """MaskFeat (no PAPERS row), ViT-B/16: HOG of 40% block-masked patches (grey HOG, MAE decoder here).

    Changed: MaskFeat's encoder reads mask tokens and a linear head predicts; here the encoder sees the
    visible patches only, so MAE's 512-d x 8 decoder predicts. HOG is one grey histogram per patch
    (2x2 cells of 8 px, 9 bins: 36 values), not one per RGB channel with a Gaussian window (108).
    """
    model = maskfeat_vit_tiny(image_size, patch_size, channels, mask_ratio, dim, depth, heads, decoder_dim,
                              decoder_depth, decoder_heads, hog_cells, hog_orientations, position_task=0.0)
    return block_masked(model, mask_ratio, min_block)


@register("mfm_vit_base", paper=40, train=schedule(300, 20, blr_of(3e-4 * 2048 / 512, 2048), 2048))
def mfm_vit_base(image_size=224, patch_size=16, channels=3, radius=16 / 112, low_prob=0.5, dim=768, depth=12,
                 heads=12):
    """Masked Frequency Modeling (PAPERS.md row 40), ViT-B/16: low/high-pass radius 16, linear head, spectrum loss.

    MFM's configs/vit_base/mfm_pretrain__vit_base__img224__300ep.yaml: radius 16 frequency bins of the
    224-px spectrum (16/112 of Nyquist here), low- or high-pass with probability 0.5, decoder depth 0
    (a linear prediction head). Changed: the loss is the squared spectrum error on the hidden band
    (targets/frequency.py), not MFM's FrequencyLoss weighting.
    """
    tok, enc = parts(image_size, patch_size, channels, dim, depth, heads)
    target = FrequencyTarget()
    return MaskedAutoencoder(tok, FrequencyMasker(radius, low_prob), enc, LinearHead(norm=False), target,
                             target.make_loss(tok))


@register("mp3_vit_base", paper=42)
def mp3_vit_base(image_size=224, patch_size=16, channels=3, mask_ratio=0.5, dim=768, depth=12, heads=12):
    """MP3 (PAPERS.md row 42), ViT-B/16 without position embeddings: classify each visible token's position.

    Changed: MP3 lets every patch query a masked context; here the visible tokens predict their own
    positions. The mask ratio (0.5) and the training schedule are anymae's, not sourced from the paper.
    """
    return mp3_vit_tiny(image_size, patch_size, channels, mask_ratio, dim, depth, heads)


@register("salt_vit_base", paper=54)
def salt_vit_base(image_size=224, patch_size=16, channels=3, mask_ratio=0.9, dim=768, depth=12, heads=12,
                  decoder_dim=384, decoder_depth=12, decoder_heads=12, teacher_layer=None):
    """SALT stage 2 (PAPERS.md row 54), ViT-B/16: predict a frozen pixel-MAE teacher's latents of 90% hidden patches.

    SALT keeps V-JEPA's layout: a 384-d x 12 predictor and ~90% multi-block masking, L1 loss. Changed:
    images rather than video clips, random masking at 0.9, MSE on layer-normed teacher latents; the
    teacher is `--teacher RUN` (stage 1: e.g. a `mae_vit_base` run). SALT's code is not public: the
    predictor heads and the schedule are not sourced.
    """
    return salt_vit_tiny(image_size, patch_size, channels, mask_ratio, dim, depth, heads, decoder_dim,
                         decoder_depth, decoder_heads, teacher_layer, position_task=0.0)


@register("latent_ema_vit_base", paper=26,  # fairseq data2vec base_imagenet_d2v1.yaml
          train=schedule(300, 10, blr_of(5e-4, 2048), 2048, betas=(0.9, 0.999)))
def latent_ema_vit_base(image_size=224, patch_size=16, channels=3, mask_ratio=0.6, dim=768, depth=12, heads=12,
                        decoder_dim=512, decoder_depth=8, decoder_heads=16, momentum=0.9998, top_k=6,
                        min_block=16):
    """data2vec-style EMA latents (PAPERS.md row 26), ViT-B/16: mean of the EMA teacher's top 6 blocks, 60% blocks.

    data2vec (vision): block-wise masking of 60%, targets the layer-normed average of the teacher's top 6
    blocks, EMA 0.999 -> 0.9998, smooth-L1 (beta 2). Changed: the encoder sees visible patches only
    and MAE's 512-d x 8 decoder predicts (data2vec: mask tokens in the encoder, a linear head); the
    momentum is fixed at the final 0.9998; MSE instead of smooth L1.
    """
    model = latent_ema_vit_tiny(image_size, patch_size, channels, mask_ratio, dim, depth, heads, decoder_dim,
                                decoder_depth, decoder_heads, momentum, top_k, position_task=0.0)
    return block_masked(model, mask_ratio, min_block)


@register("maskalign_vit_base", paper=6, train=schedule(200, 20, 1.5e-4, 1024))  # OpenDriveLab/maskalign README
def maskalign_vit_base(image_size=224, patch_size=16, channels=3, mask_ratio=0.7, dim=768, depth=12, heads=12,
                       align_layers=5, align_weight=1.0):
    """MaskAlign (PAPERS.md row 6), ViT-B/16: 30% visible features aligned to a frozen teacher's top 5 blocks.

    Changed: MaskAlign's teacher is CLIP ViT-B/16 (here `--teacher RUN`), its visible patches are picked
    by the teacher's attention (here random) and its loss is smooth L1 on whitened targets (here MSE).
    """
    tok, enc = parts(image_size, patch_size, channels, dim, depth, heads)
    layers = tuple(range(-align_layers, 0))
    return MaskedAutoencoder(tok, PredictVisible(RandomMasker(mask_ratio)), enc, LinearHead(),
                             TeacherLatentTarget(), MSELoss(),
                             aux=[DynamicAlignment(layers, layers, weight=align_weight)])


@register("mrmae_vit_base", paper=13, train={"epochs": 400})
def mrmae_vit_base(image_size=224, patch_size=16, channels=3, mask_ratio=0.75, dim=768, depth=12, heads=12,
                   decoder_dim=512, decoder_depth=8, decoder_heads=16, mimic_weight=1.0):
    """MR-MAE (PAPERS.md row 13), ViT-B/16: teacher features on the 25% visible tokens + pixels on the 75% hidden.

    Changed: MR-MAE mimics CLIP and DINO (here one `--teacher RUN`); its 85.8% model is the ConvMAE-style
    MR-MCMAE (here a plain ViT). MR-MAE's code is not public: the decoder (MAE's 512-d x 8), the
    normalised pixels, the mimic weight and the optimiser settings are MAE's, not sourced.
    """
    return mrmae_vit_tiny(image_size, patch_size, channels, mask_ratio, dim, depth, heads, decoder_dim,
                          decoder_depth, decoder_heads, mimic_weight, position_task=0.0)


@register("dmae_vit_base", paper=29, train=schedule(100, 20, 1.5e-4, 4096))  # UCSC-VLAA/DMAE pretrain.sh
def dmae_vit_base(image_size=224, patch_size=16, channels=3, mask_ratio=0.75, dim=768, depth=12, heads=12,
                  decoder_dim=512, decoder_depth=8, decoder_heads=16, student_layer=8, teacher_layer=17,
                  distill_weight=1.0, norm_pix=False):
    """DMAE (PAPERS.md row 29), ViT-B/16 student: raw pixels + student block 9 matched to teacher block 18.

    DMAE's pretrain.sh: a ViT-L MAE teacher (`--teacher RUN` of `mae_vit_large`), aligned blocks 8 -> 17
    (0-based), 75% masking, pixels without per-patch normalisation. Changed: the feature distance is
    MSE to the layer-normed teacher block (DMAE: L1).
    """
    return random_masked_mae(image_size, patch_size, channels, mask_ratio, dim, depth, heads, decoder_dim,
                             decoder_depth, decoder_heads, PixelTarget(norm=norm_pix),
                             aux=[IntermediateDistill({student_layer: teacher_layer}, weight=distill_weight)])


@register("hybrid_distill_vit_base", paper=36)
def hybrid_distill_vit_base(image_size=224, patch_size=16, channels=3, mask_ratio=0.5, dim=768, depth=12, heads=12,
                            relation_weight=1.0, relation_layer=-1):
    """Hybrid Distillation (PAPERS.md row 36), ViT-B/16: CL teacher's features + MIM teacher's token relations.

    Changed: the teachers are `--teacher A --teacher B` runs (the paper: CLIP/DeiT and MAE ViT-B), and the
    progressive redundant-token masking is a fixed random ratio. The code is not public: the ratio
    (0.5), the relation layer and the schedule are anymae's, not sourced.
    """
    return hybrid_distill_vit_tiny(image_size, patch_size, channels, mask_ratio, dim, depth, heads,
                                   relation_weight, relation_layer, position_task=0.0)


@register("cae_vit_base", paper=5,  # Atten4Vis/CAE scripts/cae_base_800e.sh (32 GPUs x 64)
          train=schedule(800, 20, blr_of(1.5e-3, 2048), 2048, betas=(0.9, 0.999)))
def cae_vit_base(image_size=224, patch_size=16, channels=3, mask_ratio=0.5, dim=768, depth=12, heads=12,
                 regressor_depth=4, decoder_depth=4, alignment_weight=2.0, min_block=16):
    """CAE (PAPERS.md row 5), ViT-B/16: 4-block latent regressor + 4-block decoder, 98 of 196 patches block-masked.

    Changed: CAE's decoder predicts DALL-E tokens (cross-entropy); no DALL-E tokenizer here, so it
    predicts normalised pixels (MSE). Alignment weight 2 as CAE's.
    """
    model = cae_vit_tiny(image_size, patch_size, channels, mask_ratio, dim, depth, heads, regressor_depth,
                         decoder_depth, alignment_weight, position_task=0.0)
    return block_masked(model, mask_ratio, min_block)


@register("lut_vit_base", paper=7, train=schedule(1600, 40, 1.5e-4, 4096))  # naver-ai/lut docs/PRETRAIN.md
def lut_vit_base(image_size=224, patch_size=16, channels=3, mask_ratio=0.75, dim=768, depth=12, heads=12,
                 decoder_dim=512, decoder_depth=8, decoder_heads=16, visible_weight=0.25, momentum=0.996):
    """LUT (PAPERS.md row 7), ViT-B/16: MAE + 0.25 x visible-token term against an EMA (0.996) teacher.

    Changed: LUT's term runs through a 2-layer MLP head and predictor (4096-d, BN); here the
    visible-token term of terms/lut.py.
    """
    return lut_vit_tiny(image_size, patch_size, channels, mask_ratio, dim, depth, heads, decoder_dim, decoder_depth,
                        decoder_heads, visible_weight, momentum, position_task=0.0)


@register("dmjd_vit_base", paper=33,  # mx-mark/DMJD PRETRAIN.md: blr 6e-4 per 256 x (1 / 0.6), 512 images x 2 views
          train=schedule(400, 20, 6e-4 / 0.6, 512))
def dmjd_vit_base(image_size=224, patch_size=16, channels=3, mask_ratio=0.5, views=2, dim=768, depth=12, heads=12,
                  decoder_dim=512, decoder_depth=8, decoder_heads=16, hog_cells=2, hog_orientations=9,
                  distill_weight=1.0):
    """DMJD (PAPERS.md row 33), ViT-B/16: 2 disjoint 50% views, HOG of hidden and visible patches (dual branch).

    Changed: DMJD hides 60% per view with the overlap kept small; `DisjointMasker` needs ratio x views
    <= 1, so 50% each (fully disjoint). DMJD's backbone is ConvMAE's ConViT-B (here a plain ViT-B), its
    views are block-masked (here random). Its joint distillation is the dual branch of terms/dmjd.py: the
    decoder regresses hidden-token HOG (L2), a projector visible-token HOG (smooth L1, beta 2). HOG is grey
    (36 values per patch).
    """
    tok, enc = parts(image_size, patch_size, channels, dim, depth, heads)
    return MaskedAutoencoder(tok, DisjointMasker(mask_ratio, views), enc,
                             mae_decoder(decoder_dim, decoder_depth, decoder_heads),
                             HOGTarget(hog_cells, hog_orientations), MSELoss(),
                             aux=[DualBranch(distill_weight)])
