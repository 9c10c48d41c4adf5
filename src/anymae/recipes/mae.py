"""MAE (He et al. 2022, PAPERS.md row 0) at the paper's sizes, plus CPU-sized tiny/small."""
from __future__ import annotations

from functools import partial

from ..decoders import MAEDecoder
from ..encoders import ViTEncoder
from ..encoders.stem_vit import StemViTEncoder
from ..losses import MSELoss
from ..masking import RandomMasker
from ..model import MaskedAutoencoder
from ..targets import PixelHOGTarget, PixelTarget
from ..terms import PositionPrediction, ViewInvariance
from ..tokenizers import PatchTokenizer
from .registry import register


def mae_vit(image_size=224, patch_size=16, channels=3, mask_ratio=0.75, norm_pix=True, dim=768, depth=12,
            heads=12, decoder_dim=512, decoder_depth=8, decoder_heads=16, drop_path=0.0, mlp_ratio=4.0,
            decoder_mlp_ratio=4.0, learnable_pos=False, decoder_learnable_pos=False, norm_eps=1e-6,
            invariance=0.0, mask_rounding="round", stem_width=0, position_task=0.0,
            hog_weight=0.0, pixel_grad=True, sparse_stem=0) -> MaskedAutoencoder:
    """MAE: patches -> random masking -> ViT on visible patches -> light decoder -> (norm-)pixels, MSE on hidden.

    `invariance` > 0 adds the small-data view-invariance term (losses/invariance.py) with that weight;
    `mask_rounding="floor"` keeps int(N(1-r)) tokens as MAE's and Hugging Face's code do;
    `stem_width` > 0 embeds patches with a per-patch CNN (tokenizers/patch.py `PatchStem`) instead of a linear map;
    `position_task` > 0: the encoder gets no positions and predicts each visible token's (MP3's task, that weight);
    `hog_weight` > 0: each hidden patch's HOG joins its pixels in the target (targets/pixel_hog.py), that weight;
    `pixel_grad=False`: the decoder learns the pictures from detached latents, so only the extra terms train the encoder;
    `sparse_stem` > 0 adds overlapping convolutions of that first width that never read a hidden patch to the
    patch embedding (encoders/stem_vit.py).
    """
    vit = dict(dim=dim, depth=depth, heads=heads, mlp_ratio=mlp_ratio, drop_path=drop_path, norm_eps=norm_eps)
    aux = ([ViewInvariance(weight=invariance)] if invariance > 0 else []) + \
        ([PositionPrediction(weight=position_task)] if position_task > 0 else [])
    return MaskedAutoencoder(
        tokenizer=PatchTokenizer(image_size, patch_size, channels, dim=dim, learnable_pos=learnable_pos,
                                 stem_width=stem_width, keep_image=sparse_stem > 0),
        masker=RandomMasker(mask_ratio, rounding=mask_rounding),
        encoder=StemViTEncoder(channels, patch_size, sparse_stem, **vit) if sparse_stem > 0 else ViTEncoder(**vit),
        decoder=MAEDecoder(dim=decoder_dim, depth=decoder_depth, heads=decoder_heads, mlp_ratio=decoder_mlp_ratio,
                           learnable_pos=decoder_learnable_pos, norm_eps=norm_eps, detach_latents=not pixel_grad),
        target=PixelHOGTarget(hog_weight, norm=norm_pix) if hog_weight > 0 else PixelTarget(norm=norm_pix),
        loss=MSELoss(),
        aux=aux)


# size: (image, patch, encoder dim, depth, heads, decoder dim, depth, heads, summary);
# base and up use the paper's 512-d x 8 decoder, tiny/small a lighter one.
SIZES = {
    "tiny": (32, 4, 192, 12, 3, 128, 4, 4, "ViT-Tiny encoder (192-d x 12), 128-d x 4 decoder; CPU-sized, 32 px"),
    "small": (224, 16, 384, 12, 6, 256, 4, 8, "ViT-S/16 encoder (384-d x 12), 256-d x 4 decoder"),
    "base": (224, 16, 768, 12, 12, 512, 8, 16, "ViT-B/16 encoder (768-d x 12), 512-d x 8 decoder (the paper's)"),
    "large": (224, 16, 1024, 24, 16, 512, 8, 16, "ViT-L/16 encoder (1024-d x 24), 512-d x 8 decoder (the paper's)"),
    "huge": (224, 14, 1280, 32, 16, 512, 8, 16, "ViT-H/14 encoder (1280-d x 32), 512-d x 8 decoder (the paper's)"),
}

for _size, (_img, _patch, _dim, _depth, _heads, _ddim, _ddepth, _dheads, _summary) in SIZES.items():
    register(f"mae_vit_{_size}", paper=0, summary=f"MAE, {_summary}")(
        partial(mae_vit, image_size=_img, patch_size=_patch, dim=_dim, depth=_depth, heads=_heads,
                decoder_dim=_ddim, decoder_depth=_ddepth, decoder_heads=_dheads))


# The laptop-budget default (docs/defaults.md): chosen by probe accuracy on shapes, digits and faces.
# MAE's pixel target plus MP3's position task (the encoder sees no positions and must place each visible
# patch from its content), a 64-d x 6 encoder on 8x8 patches, half the patches hidden, 3,000 steps at
# lr 2e-3 (batch 128): a few minutes on 2 CPU cores. Colour augmentation (`colour_jitter=0.4`: channels
# shuffled, brightness / contrast / saturation jittered, 20% grey) takes away the colour shortcut a
# pixel target rewards, so the features key on shape (issue 26: +0.9 linear, +3.2 kNN on `shapes`).
# Probes read the `grid3` pooling (the means of 3x3 overlapping windows of the token grid, as HOG's blocks
# overlap), chosen once over shapes, digits, faces and ihc-stains (docs/defaults.md).
register("mae_laptop", paper=0, train={"steps": 3000, "blr": 4e-3, "colour_jitter": 0.4, "features": "grid3"},
         summary="MAE + position task (MP3), 64-d x 6 encoder, 8x8 patches, mask 0.5, colour jitter: the laptop default")(
    partial(mae_vit, image_size=32, patch_size=8, dim=64, depth=6, heads=4, decoder_dim=64, decoder_depth=2,
            decoder_heads=4, mask_ratio=0.5, position_task=1.0))
