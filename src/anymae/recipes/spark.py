"""SparK (Tian et al. 2023, PAPERS.md rows 48 and 17): masked modelling for any timm CNN.

The CNN sees the visible patches only (sparse convolution: masked patches zero at the input and after every
layer, batch-norm statistics over visible positions), a light UNet decoder densifies each scale with a mask
embedding and reconstructs the normalised pixels of the masked patches; MSE on those patches only.

Sizes and settings from SparK's public code (`pretrain/models/__init__.py`, `utils/arg_util.py`,
`decoder.py`): mask ratio 0.6 on the stride-32 grid, decoder width 768, densify norm BN for ResNets and LN
for ConvNeXts, drop path 0.05 (ResNet-50) / 0.3 (ConvNeXt-B), 1600 epochs with 40 of warm-up, base lr 2e-4
per 256 at batch 4096, weight decay 0.04 (annealed to 0.2 there). Changed here: AdamW (betas 0.9/0.95) instead
of LAMB, a constant weight decay, and the per-sample normalisation is anymae's PixelTarget (eps 1e-6, as SparK).
"""
from __future__ import annotations

from ..decoders.spark import SparKDecoder
from ..encoders.sparse_cnn import SparseCNNEncoder
from ..losses import MSELoss
from ..masking import RandomMasker
from ..model import MaskedAutoencoder
from ..targets import PixelTarget
from ..tokenizers.pixel_grid import PixelGridTokenizer
from .paper_sizes import schedule
from .registry import register


def timm_cnn(name: str, channels: int, drop_path: float, model_args: dict | None) -> tuple:
    """A timm CNN at random init (no download) -> (module, the arguments that rebuild it in timm)."""
    import timm
    args = {**(model_args or {}), "in_chans": channels}
    if drop_path:
        args["drop_path_rate"] = drop_path
    try:
        cnn = timm.create_model(name, pretrained=False, **args)
    except (RuntimeError, TypeError, KeyError) as err:  # unknown model name / argument
        raise ValueError(f"timm model {name!r} with {args}: {err}") from None
    if not hasattr(cnn, "forward_intermediates") or not getattr(cnn, "feature_info", None):
        raise ValueError(f"timm model {name!r} gives no feature hierarchy (forward_intermediates); SparK needs a CNN")
    return cnn, {k: v for k, v in args.items() if k != "drop_path_rate"}


def spark(model: str = "resnet50", image_size=224, channels=3, mask_ratio=0.6, decoder_dim=768,
          densify_norm="bn", drop_path=0.0, model_args: dict | None = None, hierarchy=4) -> MaskedAutoencoder:
    """SparK on timm CNN `model` (any name timm knows, built with `model_args`): sparse CNN encoder,
    hierarchical UNet decoder, norm-pixel MSE on masked patches."""
    cnn, args = timm_cnn(model, channels, drop_path, model_args)
    encoder = SparseCNNEncoder(cnn, model, args, hierarchy=hierarchy)
    return MaskedAutoencoder(
        tokenizer=PixelGridTokenizer(image_size, encoder.downsample, channels),
        masker=RandomMasker(mask_ratio),
        encoder=encoder,
        decoder=SparKDecoder(encoder.widths, dim=decoder_dim, upsample=encoder.downsample, densify_norm=densify_norm,
                             strides=encoder.strides),
        target=PixelTarget(norm=True), loss=MSELoss())


@register("spark_resnet50_base", paper=48, train=schedule(1600, 40, 2e-4, 4096, weight_decay=0.04))
def spark_resnet50_base(image_size=224, channels=3, mask_ratio=0.6, decoder_dim=768, drop_path=0.05):
    """SparK, ResNet-50 (timm `resnet50`), 224 px, mask 0.6 on the 7x7 stride-32 grid, 768-d UNet decoder."""
    return spark("resnet50", image_size, channels, mask_ratio, decoder_dim, "bn", drop_path)


@register("spark_convnext_base", paper=48, train=schedule(1600, 40, 2e-4, 4096, weight_decay=0.04))
def spark_convnext_base(image_size=224, channels=3, mask_ratio=0.6, decoder_dim=768, drop_path=0.3):
    """SparK, ConvNeXt-B (timm `convnext_base`), 224 px, mask 0.6, LN densify, 768-d UNet decoder."""
    return spark("convnext_base", image_size, channels, mask_ratio, decoder_dim, "ln", drop_path)


TINY_RESNET = {"channels": [16, 32, 64, 128], "stem_width": 16, "output_stride": 8}


@register("spark_resnet_tiny", paper=48, train={"steps": 1000, "blr": 4e-3, "batch_size": 64, "weight_decay": 0.04})
def spark_resnet_tiny(model="resnet18", image_size=32, channels=3, mask_ratio=0.6, decoder_dim=64,
                      densify_norm="bn", drop_path=0.0, model_args=None):
    """SparK, laptop size: timm resnet18 at a quarter width (16-128 channels), last two stages dilated (stride 8),
    32 px (a 4x4 grid of 8-px patches), 64-d decoder.

    Changed from the paper: the CNN's width, `output_stride=8` (timm's dilated stages, so a 32-px image still has
    16 patches to mask), the image size and the decoder width. `model` takes any timm CNN name (`convnext_tiny`
    with densify_norm='ln'; `model_args` {} for its default width and stride 32).
    """
    args = TINY_RESNET if model_args is None and model == "resnet18" else (model_args or {})
    return spark(model, image_size, channels, mask_ratio, decoder_dim, densify_norm, drop_path, dict(args))
