"""timm `VisionTransformer` state dicts (the encoder of MAE, row 0) <-> the official layout's encoder half.

timm's names are MAE's encoder names (`cls_token`, `pos_embed`, `patch_embed.proj`, `blocks.i.*`, `norm`).
A classifier head is dropped (and said so); anything else the encoder has no place for is an error.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import torch
from torch import Tensor

from .official_mae import Arch
from .readers import read_json, read_state_file

SIZE_WORDS = {"tiny": 3, "small": 6, "base": 12, "large": 16, "huge": 16, "giant": 16}  # timm's default heads
FAMILY = {192: "tiny", 384: "small", 768: "base", 1024: "large", 1280: "huge"}
HEAD_KEYS = re.compile(r"^head\.(weight|bias)$")


def timm_hints(config: dict, path: Path) -> tuple[dict, list[str]]:
    """A timm config.json (architecture, model_args, pretrained_cfg) -> (infer_arch hints, notes)."""
    args = dict(config.get("model_args") or {})
    hints, notes = {}, []
    unsupported = {k: args[k] for k in ("reg_tokens", "fc_norm", "qk_norm", "init_values", "pre_norm")
                   if args.get(k) not in (None, False, 0)}
    if args.get("class_token") is False:
        unsupported["class_token"] = False
    if unsupported:
        raise ValueError(f"{path}: model_args {unsupported} describe a ViT that MAE's encoder is not")
    if "num_heads" in args:
        hints["heads"] = int(args["num_heads"])
    else:
        word = next((w for w in SIZE_WORDS if f"_{w}_" in str(config.get("architecture", ""))), None)
        if word:
            hints["heads"] = SIZE_WORDS[word]
    if "img_size" in args:
        size = args["img_size"]
        hints["image_size"] = (size, size) if isinstance(size, int) else tuple(size)
    cfg = config.get("pretrained_cfg") or config
    if "mean" in cfg and "std" in cfg:
        hints["mean"], hints["std"] = list(cfg["mean"]), list(cfg["std"])
    return hints, notes


def timm_to_official(state: dict[str, Tensor], grid: tuple[int, int] | None) -> tuple[dict[str, Tensor], list[str]]:
    """timm ViT state dict -> official encoder layout (+ notes). A pos_embed without a cls row
    (timm's `no_embed_class`) gets a zero row: the cls token then has no position, as in timm."""
    state = dict(state)
    notes = []
    head = sorted(k for k in state if HEAD_KEYS.match(k))
    for k in head:
        del state[k]
    if head:
        notes.append(f"dropped the classifier head ({', '.join(head)}); MAE's encoder has none")
    pos = state.get("pos_embed")
    if pos is not None:
        rows = pos.shape[1]
        patches = grid[0] * grid[1] if grid else None
        square = math.isqrt(rows) ** 2 == rows and math.isqrt(rows - 1) ** 2 != rows - 1
        if (patches is not None and rows == patches) or (patches is None and square):
            state["pos_embed"] = torch.cat([pos.new_zeros(1, 1, pos.shape[-1]), pos], dim=1)
            notes.append("pos_embed had no cls row (no_embed_class); the cls token gets no position, as in timm")
    return state, notes


def read_timm(src: str | Path) -> tuple[dict[str, Tensor], dict, list[str]]:
    """A timm weights file, or a folder with config.json + model.safetensors / pytorch_model.bin."""
    src = Path(src)
    folder = src if src.is_dir() else src.parent
    if src.is_dir():
        from .hf_vitmae import find_weights
        weights = find_weights(src)
    else:
        weights = src
    hints, notes = {}, []
    if (folder / "config.json").is_file():
        config = read_json(folder / "config.json")
        if "architecture" in config:
            hints, notes = timm_hints(config, folder / "config.json")
    state, _ = read_state_file(weights)
    grid = None
    if "image_size" in hints and "patch_embed.proj.weight" in state:
        p = state["patch_embed.proj.weight"].shape[-1]
        grid = (hints["image_size"][0] // p, hints["image_size"][1] // p)
    official, more = timm_to_official(state, grid)
    return official, hints, notes + more


def timm_name(arch: Arch) -> str:
    """A registered timm ViT name of the same family; `timm_model_args` make the shape exact."""
    import timm
    family = FAMILY.get(arch.dim, "base")
    for name in (f"vit_{family}_patch{arch.patch_size}_224", f"vit_{family}_patch16_224", "vit_base_patch16_224"):
        if timm.is_model(name):
            return name
    raise ValueError("timm has no vit_base_patch16_224; is timm installed?")


def timm_model_args(arch: Arch) -> dict:
    h, w = arch.image_size
    return {"img_size": h if h == w else [h, w], "patch_size": arch.patch_size, "in_chans": arch.channels,
            "embed_dim": arch.dim, "depth": arch.depth, "num_heads": arch.heads, "mlp_ratio": arch.mlp_ratio,
            "qkv_bias": True, "class_token": True, "global_pool": "token"}


def timm_config(arch: Arch, mean, std) -> dict:
    """config.json in timm's hub format: `timm.create_model('local-dir:DIR', pretrained=True, num_classes=0)`."""
    h, w = arch.image_size
    return {"architecture": timm_name(arch), "num_classes": 0, "num_features": arch.dim,
            "global_pool": "token", "model_args": timm_model_args(arch),
            "pretrained_cfg": {"input_size": [arch.channels, h, w], "fixed_input_size": True,
                               "interpolation": "bicubic", "crop_pct": 1.0, "mean": list(mean), "std": list(std),
                               "num_classes": 0, "pool_size": None, "first_conv": "patch_embed.proj",
                               "classifier": "head", "license": "see the source checkpoint"}}
