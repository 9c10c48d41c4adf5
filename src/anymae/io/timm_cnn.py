"""Export a CNN encoder (SparK, rows 48 and 17) as a plain timm model: its backbone state dict and a
config.json in timm's hub format, so `timm.create_model('local-dir:DIR', pretrained=True)` or
`timm.create_model(name, num_classes=0, **model_args)` + `load_state_dict` gives the same features."""
from __future__ import annotations

import json
from pathlib import Path

from .checkpoint import save_weights
from .files import write_text


def backbone_state(encoder) -> tuple[dict, list[str]]:
    """The encoder's timm weights without the classifier it never trained -> (state dict, notes)."""
    import timm
    if not timm.is_model(encoder.name):
        raise ValueError(f"this run's CNN ({encoder.name}) is anymae's own, not a timm model: nothing to export to timm "
                         f"(its weights are the run's encoder.safetensors)")
    state = encoder.timm_state_dict()
    plain = timm.create_model(encoder.name, pretrained=False, num_classes=0, **encoder.model_args)
    wanted = set(plain.state_dict())
    dropped = sorted(k for k in state if k not in wanted)
    missing = sorted(wanted - set(state))
    if missing:
        raise ValueError(f"timm's {encoder.name} has weights the encoder lacks: {missing[:8]}")
    notes = [f"dropped the classifier that pretraining never used ({', '.join(dropped)})"] if dropped else []
    return {k: v for k, v in state.items() if k in wanted}, notes


def timm_cnn_config(encoder, image_size, channels: int, mean, std) -> dict:
    """config.json in timm's hub format for the backbone (num_classes 0: pooled features)."""
    h, w = image_size
    return {"architecture": encoder.name, "num_classes": 0, "num_features": encoder.dim,
            "model_args": dict(encoder.model_args),
            "pretrained_cfg": {"input_size": [channels, h, w], "fixed_input_size": False, "interpolation": "bicubic",
                               "crop_pct": 1.0, "mean": list(mean), "std": list(std), "num_classes": 0,
                               "license": "your own pretraining run (anymae, SparK)"}}


def export_timm_cnn(model, config: dict, to: str, out: Path) -> tuple[Path, list[str], list[str]]:
    """Write run `model` (a SparseCNNEncoder inside) as a timm backbone folder -> (folder, files, notes)."""
    if to != "timm":
        raise ValueError(f"a CNN encoder ({model.encoder.name}) exports to timm only, not {to!r}")
    encoder, tokenizer = model.encoder, model.tokenizer
    state, notes = backbone_state(encoder)
    mean = config.get("mean") or [0.5] * tokenizer.channels
    std = config.get("std") or [0.5] * tokenizer.channels
    meta = timm_cnn_config(encoder, tokenizer.image_size, tokenizer.channels, mean, std)
    save_weights(state, out / "model.safetensors", metadata={"format": "pt"})
    write_text(out / "config.json", json.dumps(meta, indent=2) + "\n")
    notes.append(f"load: timm.create_model('local-dir:{out}', pretrained=True) or "
                 f"timm.create_model({encoder.name!r}, num_classes=0, **model_args) + load_state_dict")
    return out, ["model.safetensors", "config.json"], notes
