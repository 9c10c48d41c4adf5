"""Options any recipe takes (`--arg NAME=VALUE`) besides its own arguments: objectives that plug into a
built model whatever its recipe.

  feature_mask_layer   MFM (row 28): mask block k's features and rebuild them (terms/mfm.py); None: off
  feature_mask_ratio   the fraction of visible tokens whose features are masked (default 0.5)
  feature_mask_weight  the weight of that path's loss (default 1.0)
  mto_layers           MTO (row 30): the first k decoder blocks never attend to mask tokens (decoders/mae.py)
"""
from __future__ import annotations

from ..terms import FeatureMasking

MODEL_OPTIONS = {"feature_mask_layer": None, "feature_mask_ratio": 0.5, "feature_mask_weight": 1.0, "mto_layers": 0}


def split_options(args: dict) -> tuple[dict, dict]:
    """-> (the recipe's own arguments, the model options among `args`)."""
    return ({k: v for k, v in args.items() if k not in MODEL_OPTIONS},
            {k: v for k, v in args.items() if k in MODEL_OPTIONS})


def apply_options(model, feature_mask_layer=None, feature_mask_ratio=0.5, feature_mask_weight=1.0, mto_layers=0):
    """Add the options' parts to a built model (defaults change nothing) and return it."""
    if feature_mask_layer is not None:
        if not hasattr(model, "add_term"):
            raise ValueError(f"feature_mask_layer: {type(model).__name__} takes no extra terms")
        model.add_term(FeatureMasking(int(feature_mask_layer), float(feature_mask_ratio), float(feature_mask_weight)))
    if mto_layers:
        decoder = getattr(model, "decoder", None)
        depth = len(getattr(decoder, "blocks", []))
        if not hasattr(decoder, "mto_layers"):
            raise ValueError(f"mto_layers: the decoder {type(decoder).__name__} has no MTO option (MAEDecoder has)")
        if not 0 < int(mto_layers) <= depth:
            raise ValueError(f"mto_layers={mto_layers}: must be in 1..{depth} (the decoder's blocks)")
        decoder.mto_layers = int(mto_layers)
    return model
