"""Hugging Face `ViTMAEForPreTraining` (MAE, row 0) <-> the official layout, in transformers 4.x and 5.x names.

4.x (and every checkpoint on the Hub): `vit.encoder.layer.i.attention.attention.{query,key,value}`,
`...attention.output.dense`, `...intermediate.dense`, `...output.dense`.
5.x: `vit.layers.i.attention.{q,k,v,o}_proj`, `...mlp.fc1`, `...mlp.fc2`. Both: `layernorm_before/after`,
`vit.embeddings.*`, `vit.layernorm`, `decoder.decoder_*`, `decoder.decoder_layers.i.*` (layers as above).
"""
from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import Tensor

from .official_mae import Arch
from .readers import read_json, read_state_file

TOP = {  # official -> HF, for both versions
    "cls_token": "vit.embeddings.cls_token",
    "pos_embed": "vit.embeddings.position_embeddings",
    "patch_embed.proj.weight": "vit.embeddings.patch_embeddings.projection.weight",
    "patch_embed.proj.bias": "vit.embeddings.patch_embeddings.projection.bias",
    "norm.weight": "vit.layernorm.weight", "norm.bias": "vit.layernorm.bias",
    "mask_token": "decoder.mask_token", "decoder_pos_embed": "decoder.decoder_pos_embed",
    **{f"decoder_{part}.{p}": f"decoder.decoder_{part}.{p}"
       for part in ("embed", "norm", "pred") for p in ("weight", "bias")},
}
# official block part -> HF layer part
LAYER = {
    "4": {"norm1": "layernorm_before", "norm2": "layernorm_after", "attn.proj": "attention.output.dense",
          "mlp.fc1": "intermediate.dense", "mlp.fc2": "output.dense"},
    "5": {"norm1": "layernorm_before", "norm2": "layernorm_after", "attn.proj": "attention.o_proj",
          "mlp.fc1": "mlp.fc1", "mlp.fc2": "mlp.fc2"},
}
QKV = {"4": ("attention.attention.query", "attention.attention.key", "attention.attention.value"),
       "5": ("attention.q_proj", "attention.k_proj", "attention.v_proj")}
ENCODER_LAYERS = {"4": "vit.encoder.layer.", "5": "vit.layers."}
DECODER_LAYERS = "decoder.decoder_layers."
# transformers 5.x `save_pretrained` writes 4.x names back, turning `decoder_layers.` into
# `decoder_encoder.layer.` (its own loader maps that back); read it as the decoder's layers.
SAVED_BY_5X = "decoder.decoder_encoder.layer."
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")


def installed_naming() -> str:
    """'5' when transformers >= 5 is installed, else '4' (the Hub's names, which every version reads)."""
    try:
        from importlib.metadata import version
        return "5" if int(version("transformers").split(".")[0]) >= 5 else "4"
    except Exception:
        return "4"


def official_to_hf(official: dict[str, Tensor], naming: str) -> dict[str, Tensor]:
    """Official layout -> ViTMAEForPreTraining state dict in transformers `naming` ('4' or '5')."""
    if naming not in LAYER:
        raise ValueError(f"transformers naming must be '4' or '5', got {naming!r}")
    out = {}
    for key, value in official.items():
        if key in TOP:
            out[TOP[key]] = value
            continue
        m = re.match(r"^(blocks|decoder_blocks)\.(\d+)\.(.+)\.(weight|bias)$", key)
        if not m:
            raise ValueError(f"no Hugging Face name for {key!r}")
        stack, i, part, kind = m.groups()
        prefix = (ENCODER_LAYERS[naming] if stack == "blocks" else DECODER_LAYERS) + f"{i}."
        if part == "attn.qkv":
            for name, chunk in zip(QKV[naming], value.chunk(3, dim=0)):
                out[f"{prefix}{name}.{kind}"] = chunk.clone()
        elif part in LAYER[naming]:
            out[f"{prefix}{LAYER[naming][part]}.{kind}"] = value
        else:
            raise ValueError(f"no Hugging Face name for {key!r}")
    return out


def detect_naming(state: dict[str, Tensor]) -> str:
    old = any(".attention.attention." in k or ".intermediate.dense." in k or "vit.encoder.layer." in k
              for k in state)
    new = any(re.search(r"\.attention\.[qkvo]_proj\.|\.mlp\.fc[12]\.", k) or k.startswith("vit.layers.")
              for k in state)
    if old and new:
        raise ValueError("the state dict mixes transformers 4.x and 5.x key names")
    return "5" if new else "4"


def hf_to_official(state: dict[str, Tensor], qkv_bias: bool = True) -> tuple[dict[str, Tensor], str, list[str]]:
    """ViTMAEForPreTraining (or ViTMAEModel) state dict in either naming -> (official layout, naming, notes).

    Raises ValueError listing every key it does not know and every q/k/v part that is missing.
    """
    if state and not any(k.startswith(("vit.", "decoder.")) for k in state):
        state = {f"vit.{k}": v for k, v in state.items()}  # a bare ViTMAEModel
    state = {(DECODER_LAYERS + k[len(SAVED_BY_5X):] if k.startswith(SAVED_BY_5X) else k): v
             for k, v in state.items()}
    naming = detect_naming(state)
    back_top = {v: k for k, v in TOP.items()}
    back_layer = {v: k for k, v in LAYER[naming].items()}
    stacks = f"{re.escape(ENCODER_LAYERS[naming])}|{re.escape(DECODER_LAYERS)}"
    layer_re = re.compile(rf"^({stacks})(\d+)\.(.+)\.(weight|bias)$")
    out, unknown, notes = {}, [], []
    qkv: dict[tuple[str, str, str], dict[int, Tensor]] = {}
    for key, value in state.items():
        if key in back_top:
            out[back_top[key]] = value
            continue
        m = layer_re.match(key)
        if not m:
            unknown.append(key)
            continue
        stack, i, part, kind = m.groups()
        stack = "blocks" if stack == ENCODER_LAYERS[naming] else "decoder_blocks"
        if part in QKV[naming]:
            qkv.setdefault((stack, i, kind), {})[QKV[naming].index(part)] = value
        elif part in back_layer:
            out[f"{stack}.{i}.{back_layer[part]}.{kind}"] = value
        else:
            unknown.append(key)
    if unknown:
        raise ValueError(f"keys that are not Hugging Face ViTMAE (transformers {naming}.x names): "
                         f"{sorted(unknown)[:12]}"
                         + (f" and {len(unknown) - 12} more" if len(unknown) > 12 else ""))
    missing = []
    for (stack, i, kind), parts in sorted(qkv.items()):
        if len(parts) != 3:
            names = [QKV[naming][j] for j in range(3) if j not in parts]
            missing += [f"{stack}.{i}: {n}.{kind}" for n in names]
            continue
        out[f"{stack}.{i}.attn.qkv.{kind}"] = torch.cat([parts[0], parts[1], parts[2]], dim=0)
    if missing:
        raise ValueError(f"q/k/v parts missing: {missing[:12]}")
    if not qkv_bias:  # a model without q/k/v biases equals one with zero biases
        for key in [k for k in out if k.endswith("attn.qkv.weight")]:
            bias = key[:-len("weight")] + "bias"
            out.setdefault(bias, out[key].new_zeros(out[key].shape[0]))
        notes.append("the checkpoint has no q/k/v biases (qkv_bias=false); they were set to zero")
    return out, naming, notes


def pair(value) -> tuple[int, int]:
    return (int(value), int(value)) if isinstance(value, (int, float)) else (int(value[0]), int(value[1]))


def config_hints(config: dict, path: Path) -> tuple[dict, list[str]]:
    """A ViTMAEConfig as JSON -> (infer_arch keyword hints, notes). Refuses settings anymae cannot match."""
    if config.get("model_type", "vit_mae") != "vit_mae":
        raise ValueError(f"{path}: model_type is {config.get('model_type')!r}, not 'vit_mae'")
    act = config.get("hidden_act", "gelu")
    if act != "gelu":
        raise ValueError(f"{path}: hidden_act {act!r}; anymae's blocks use exact GELU ('gelu')")
    patch = pair(config.get("patch_size", 16))
    if patch[0] != patch[1]:
        raise ValueError(f"{path}: patch_size {patch} is not square")
    notes = []
    eps = float(config.get("layer_norm_eps", 1e-12))
    if eps != 1e-6:
        notes.append(f"LayerNorm eps {eps:g} as the source config says (MAE's is 1e-6)")
    hints = dict(image_size=pair(config.get("image_size", 224)), heads=int(config.get("num_attention_heads", 12)),
                 decoder_heads=int(config.get("decoder_num_attention_heads", 16)),
                 mask_ratio=float(config.get("mask_ratio", 0.75)),
                 norm_pix=bool(config.get("norm_pix_loss", False)), norm_eps=eps)
    return hints, notes


def find_weights(folder: Path) -> Path:
    for name in WEIGHT_FILES:
        if (folder / name).is_file():
            return folder / name
    raise ValueError(f"{folder}: no weights found (looked for {', '.join(WEIGHT_FILES)})")


def read_hf(src: str | Path) -> tuple[dict[str, Tensor], dict, list[str]]:
    """A ViTMAE folder (config.json + weights) or one weights file with config.json beside it ->
    (official layout, infer_arch hints + mean/std, notes)."""
    src = Path(src)
    folder = src if src.is_dir() else src.parent
    weights = find_weights(src) if src.is_dir() else src
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise ValueError(f"{folder}: no config.json beside the weights; Hugging Face ViTMAE needs its config")
    config = read_json(config_path)
    hints, notes = config_hints(config, config_path)
    state, _ = read_state_file(weights)
    official, naming, more = hf_to_official(state, qkv_bias=bool(config.get("qkv_bias", True)))
    notes = [f"read transformers {naming}.x key names from {weights.name}"] + notes + more
    pre = folder / "preprocessor_config.json"
    if pre.is_file():
        p = read_json(pre)
        if "image_mean" in p and "image_std" in p:
            hints["mean"], hints["std"] = list(p["image_mean"]), list(p["image_std"])
    return official, hints, notes


def hf_config(arch: Arch) -> dict:
    """The config.json of a ViTMAEForPreTraining with `arch`."""
    h, w = arch.image_size
    return {
        "architectures": ["ViTMAEForPreTraining"], "model_type": "vit_mae",
        "hidden_size": arch.dim, "num_hidden_layers": arch.depth, "num_attention_heads": arch.heads,
        "intermediate_size": int(arch.dim * arch.mlp_ratio), "hidden_act": "gelu",
        "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0, "initializer_range": 0.02,
        "layer_norm_eps": arch.norm_eps, "image_size": h if h == w else [h, w], "patch_size": arch.patch_size,
        "num_channels": arch.channels, "qkv_bias": True,
        "decoder_num_attention_heads": arch.decoder_heads, "decoder_hidden_size": arch.decoder_dim,
        "decoder_num_hidden_layers": arch.decoder_depth,
        "decoder_intermediate_size": int(arch.decoder_dim * arch.decoder_mlp_ratio),
        "mask_ratio": arch.mask_ratio, "norm_pix_loss": arch.norm_pix,
    }


def preprocessor_config(arch: Arch, mean, std) -> dict:
    """ViTImageProcessor settings matching the run's input size and normalisation."""
    h, w = arch.image_size
    return {"image_processor_type": "ViTImageProcessor", "do_resize": True, "size": {"height": h, "width": w},
            "resample": 3, "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True,
            "image_mean": list(mean), "image_std": list(std)}
