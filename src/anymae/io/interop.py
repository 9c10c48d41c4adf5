"""Import official MAE / Hugging Face ViTMAE / timm checkpoints as anymae runs; export runs to timm and HF.

Every import goes: source -> official layout (facebookresearch/mae names) -> position tables resampled to
the wanted grid -> strict key/shape check against the rebuilt model -> anymae state dict -> run folder.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
import yaml
from torch import Tensor
from tqdm.auto import tqdm

from ..masking.base import num_visible
from .checkpoint import load_run, save_weights
from .files import write_text
from .hf_vitmae import hf_config, installed_naming, official_to_hf, pair, preprocessor_config, read_hf
from .official_mae import Arch, anymae_to_official, arch_of, infer_arch, official_to_anymae
from .pos_embed import is_sincos, resample_grid, sincos_distance
from .readers import read_state_file
from .timm_vit import read_timm, timm_config

FORMATS = ("official-mae", "hf-vitmae", "timm")
TARGETS = ("timm", "hf")
IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
ARCH_ARGS = ("heads", "decoder_heads", "mask_ratio", "norm_pix", "norm_eps")  # recipe args that also steer reading


def read_official(src: str | Path) -> tuple[dict[str, Tensor], dict, list[str]]:
    """facebookresearch/mae checkpoint (`{"model": state_dict, "args": ...}` or a bare state dict)."""
    state, extras = read_state_file(src)
    hints, notes = {}, []
    args = extras.get("args") or {}
    if args:
        if "input_size" in args:
            hints["image_size"] = pair(args["input_size"])
        if "mask_ratio" in args:
            hints["mask_ratio"] = float(args["mask_ratio"])
        if "norm_pix_loss" in args:
            hints["norm_pix"] = bool(args["norm_pix_loss"])
        notes.append(f"read the training args saved in the checkpoint (model {args.get('model', '?')})")
    return state, hints, notes


READERS = {"official-mae": read_official, "hf-vitmae": read_hf, "timm": read_timm}


def check_keys(source: dict[str, Tensor], expected: dict[str, Tensor], what: str) -> None:
    """ValueError listing unknown, missing and shape-mismatched keys; silent only when all fit."""
    unknown = sorted(set(source) - set(expected))
    missing = sorted(set(expected) - set(source))
    mismatched = [f"{k}: {tuple(source[k].shape)} != {tuple(expected[k].shape)}"
                  for k in sorted(set(source) & set(expected)) if source[k].shape != expected[k].shape]
    if not (unknown or missing or mismatched):
        return
    parts = []
    for title, items in (("unknown keys", unknown), ("missing keys", missing),
                         ("shape mismatches (checkpoint != model)", mismatched)):
        if items:
            more = f" ... and {len(items) - 20} more" if len(items) > 20 else ""
            parts.append(f"  {title} ({len(items)}): {', '.join(items[:20])}{more}")
    raise ValueError(f"{what} does not fit the model it describes:\n" + "\n".join(parts))


def choose_recipe(arch: Arch) -> str:
    """The MAE size recipe whose encoder matches (every architecture argument is written out anyway)."""
    from ..recipes import get_recipe
    best, best_score = "mae_vit_base", -1
    for size in ("tiny", "small", "base", "large", "huge"):
        d = get_recipe(f"mae_vit_{size}").defaults()
        score = sum([d["dim"] == arch.dim, d["heads"] == arch.heads, d["depth"] == arch.depth,
                     d["patch_size"] == arch.patch_size, d["decoder_dim"] == arch.decoder_dim,
                     d["decoder_depth"] == arch.decoder_depth]) if d["dim"] == arch.dim else 0
        if score > best_score:
            best, best_score = f"mae_vit_{size}", score
    return best


def recipe_args(arch: Arch, learnable_pos: bool, decoder_learnable_pos: bool) -> dict:
    h, w = arch.image_size
    return {"image_size": h if h == w else [h, w], "patch_size": arch.patch_size, "channels": arch.channels,
            "mask_ratio": arch.mask_ratio, "norm_pix": arch.norm_pix, "dim": arch.dim, "depth": arch.depth,
            "heads": arch.heads, "mlp_ratio": arch.mlp_ratio, "decoder_dim": arch.decoder_dim,
            "decoder_depth": arch.decoder_depth, "decoder_heads": arch.decoder_heads,
            "decoder_mlp_ratio": arch.decoder_mlp_ratio, "learnable_pos": learnable_pos,
            "decoder_learnable_pos": decoder_learnable_pos, "norm_eps": arch.norm_eps,
            "mask_rounding": "floor"}  # MAE's and HF's len_keep = int(N(1-r)), for the same masks


def fit_positions(official: dict[str, Tensor], source: Arch, target: Arch, notes: list[str]) -> dict[str, Tensor]:
    """Resample pos_embed / decoder_pos_embed from the source grid to the target grid (cls rows kept)."""
    out = dict(official)
    for key in ("pos_embed", "decoder_pos_embed"):
        if key not in out:
            continue
        table = out[key]
        rows = source.grid[0] * source.grid[1]
        if table.ndim != 3 or table.shape[1] != rows + 1:
            raise ValueError(f"{key} has shape {tuple(table.shape)}; a {source.grid[0]}x{source.grid[1]} grid "
                             f"needs [1,{rows + 1},D] (give the checkpoint's size with --source-size HxW)")
        if source.grid != target.grid:
            out[key] = torch.cat([table[:, :1], resample_grid(table[:, 1:], source.grid, target.grid)], dim=1)
            notes.append(f"{key} resampled from {source.grid[0]}x{source.grid[1]} to "
                         f"{target.grid[0]}x{target.grid[1]} patches (bicubic, as timm)")
    return out


def parse_size(text) -> tuple[int, int] | None:
    """'224' -> (224, 224), '160x224' -> (160, 224); None stays None."""
    if text is None:
        return None
    if isinstance(text, (tuple, list)):
        return int(text[0]), int(text[1])
    if isinstance(text, int):
        return text, text
    try:
        parts = [int(p) for p in str(text).lower().replace("*", "x").split("x")]
    except ValueError:
        raise ValueError(f"image size {text!r}: expected N or HxW") from None
    if len(parts) == 1:
        parts *= 2
    if len(parts) != 2 or min(parts) <= 0:
        raise ValueError(f"image size {text!r}: expected N or HxW")
    return parts[0], parts[1]


def import_checkpoint(src: str | Path, fmt: str, out: str | Path, image_size=None, source_size=None,
                      overrides: dict | None = None, seed: int = 0, data: str | None = None,
                      force: bool = False, progress: bool = True) -> tuple[Path, dict]:
    """Read `src` in format `fmt`, write an anymae run folder `out`; -> (run folder, import summary)."""
    from ..config import PretrainConfig
    from ..spec import ModelSpec, build_model
    if fmt not in READERS:
        raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    out = Path(out)
    if (out / "model.safetensors").exists() and not force:
        raise ValueError(f"{out}: already holds a model.safetensors; choose another --out (or --force)")
    overrides = dict(overrides or {})
    if "image_size" in overrides:  # the size to run at; the weights decide everything else
        image_size = overrides.pop("image_size")
    bar = tqdm(total=4, desc=f"import {fmt}", disable=not progress, leave=False)
    official, hints, notes = READERS[fmt](src)
    bar.update()

    if source_size is not None:
        hints["image_size"] = parse_size(source_size)
    arch_hints = {k: hints[k] for k in ("image_size", "heads", "decoder_heads") if k in hints}
    objective = {k: hints[k] for k in ("mask_ratio", "norm_pix", "norm_eps") if k in hints}
    for key in ARCH_ARGS:
        if key in overrides:
            (arch_hints if "heads" in key else objective)[key] = overrides.pop(key)
    source = infer_arch(official, **arch_hints, **objective)
    target = source.with_(image_size=parse_size(image_size) or source.image_size)
    if target.image_size[0] % target.patch_size or target.image_size[1] % target.patch_size:
        raise ValueError(f"image size {target.image_size} is not divisible by the checkpoint's patch size "
                         f"{target.patch_size}")
    official = fit_positions(official, source, target, notes)
    enc_table = official["pos_embed"][:, 1:]
    learnable = not is_sincos(enc_table, target.grid)
    dec_learnable = target.has_decoder and not is_sincos(official["decoder_pos_embed"][:, 1:], target.grid)
    for key, flag in (("pos_embed", learnable), ("decoder_pos_embed", dec_learnable)):
        if key in official:
            dist = sincos_distance(official[key][:, 1:], target.grid)
            notes.append(f"{key}: stored as a learnable table (max |x - MAE sin-cos| = {dist:.3g})" if flag else
                         f"{key}: MAE's fixed sin-cos (max |x - sin-cos| = {dist:.2g})")

    recipe = choose_recipe(target)
    args = recipe_args(target, learnable, dec_learnable)
    spec = ModelSpec(recipe, {**args, **overrides})
    spec.validate()
    args = spec.recipe_args
    model = build_model(spec, seed=seed)
    bar.update()

    expected = anymae_to_official(model, encoder_only=not target.has_decoder)
    check_keys(official, expected, f"{src} ({fmt})")
    state = official_to_anymae(official, model)
    missing, unexpected = model.load_state_dict(state, strict=False)
    random_init = sorted(missing)
    if unexpected or any(not k.startswith("decoder.") for k in missing) or (missing and target.has_decoder):
        raise ValueError(f"{src}: converted weights do not fit: missing {missing[:12]}, unexpected {unexpected[:12]}")
    if random_init:
        notes.append(f"the checkpoint has no decoder: {len(random_init)} decoder tensors are at random init "
                     f"(seed {seed}); probe the encoder, fine-tune or pretrain before `reconstruct`")
    bar.update()

    mean = hints.get("mean") or (IMAGENET_MEAN if target.channels == 3 else [0.5] * target.channels)
    std = hints.get("std") or (IMAGENET_STD if target.channels == 3 else [0.5] * target.channels)
    if "mean" not in hints:
        notes.append("normalisation: ImageNet mean/std assumed" if target.channels == 3 else
                     "normalisation: mean 0.5 / std 0.5 assumed")
    config = PretrainConfig(recipe=recipe, recipe_args=args, mean=[float(m) for m in mean],
                            std=[float(s) for s in std], channels=target.channels, seed=seed,
                            **({"data": data} if data else {}))
    summary = {"imported": {"source": str(src), "format": fmt, "notes": notes,
                            "random_init": ["decoder"] if random_init else []}}
    write_run(model, config, out, summary)
    bar.update()
    bar.close()
    return out, summary["imported"]


def write_run(model, config, out: Path, summary: dict) -> None:
    """A run folder as `anymae pretrain` leaves one: config.yaml, model.safetensors, encoder.safetensors."""
    state = model.state_dict()
    save_weights(state, out / "model.safetensors")
    save_weights({k: v for k, v in state.items() if k.startswith(("tokenizer.", "encoder."))},
                 out / "encoder.safetensors")
    d = config.to_dict()
    d["summary"] = summary
    write_text(out / "config.yaml", yaml.safe_dump(d, sort_keys=False))


def export_run(run: str | Path, to: str, out: str | Path, naming: str | None = None,
               progress: bool = True) -> tuple[Path, list[str], list[str]]:
    """Write run `run` as a timm ViT (encoder) or a Hugging Face ViTMAEForPreTraining folder.

    -> (folder, files written, notes)."""
    if to not in TARGETS:
        raise ValueError(f"unknown export target {to!r}; choose from {', '.join(TARGETS)}")
    out = Path(out)
    bar = tqdm(total=3, desc=f"export {to}", disable=not progress, leave=False)
    model, config = load_run(run)
    if hasattr(model, "text_features"):  # a text encoder: a Hugging Face BertModel folder
        if to != "hf":
            raise ValueError(f"{run}: a text encoder exports --to hf (a BertModel folder), not {to!r}")
        from .hf_bert import export_bert
        bar.close()
        return export_bert(model, config, Path(run), out)
    if hasattr(model.encoder, "timm_state_dict"):  # a CNN encoder (SparK): its timm backbone
        from .timm_cnn import export_timm_cnn
        bar.close()
        return export_timm_cnn(model, config, to, out)
    arch = arch_of(model)
    mean = config.get("mean") or IMAGENET_MEAN[:arch.channels]
    std = config.get("std") or IMAGENET_STD[:arch.channels]
    bar.update()
    notes = []
    if getattr(model.tokenizer, "pos", None) is None:
        notes.append("this encoder was trained without position embeddings (position task): pos_embed is "
                     "written as zeros, which reproduces it exactly")
    if to == "hf" and next(model.aux.parameters(), None) is not None:
        names = sorted({type(part).__name__ for part in model.aux})
        notes.append(f"the training-only heads of {', '.join(names)} are not part of ViTMAE and are not exported")
    if to == "timm":
        weights = anymae_to_official(model, encoder_only=True)
        if arch.norm_eps != 1e-6:
            notes.append(f"timm's ViT builds its LayerNorms with eps 1e-6; this run uses {arch.norm_eps:g}, so "
                         f"timm's features differ slightly from anymae's")
        meta = timm_config(arch, mean, std)
        files = {"config.json": meta}
        bar.update()
    else:
        from ..losses.mse import MSELoss
        from ..targets.pixel import PixelTarget
        if not arch.has_decoder or not isinstance(model.target, PixelTarget) or not isinstance(model.loss, MSELoss):
            raise ValueError(f"{run}: Hugging Face ViTMAEForPreTraining holds MAE's decoder with a pixel MSE "
                             f"objective; recipe {config.get('recipe')!r} is not that")
        if arch.image_size[0] != arch.image_size[1]:
            raise ValueError(f"{run}: transformers' ViTMAEForPreTraining runs square images only; this run takes "
                             f"{arch.image_size[0]}x{arch.image_size[1]} (export --to timm works)")
        masker = model.masker
        n = arch.image_size[0] // arch.patch_size * (arch.image_size[1] // arch.patch_size)
        if getattr(masker, "rounding", "floor") == "round" and \
                num_visible(n, masker.ratio, "round") != num_visible(n, masker.ratio, "floor"):
            notes.append(f"transformers keeps int(N(1-r)) = {num_visible(n, masker.ratio, 'floor')} of {n} tokens "
                         f"at mask ratio {masker.ratio}; this run kept {num_visible(n, masker.ratio, 'round')}")
        naming = naming or installed_naming()
        weights = official_to_hf(anymae_to_official(model), naming)
        files = {"config.json": hf_config(arch), "preprocessor_config.json": preprocessor_config(arch, mean, std)}
        bar.update()
    save_weights(weights, out / "model.safetensors", metadata={"format": "pt"})
    for name, payload in files.items():
        write_text(out / name, json.dumps(payload, indent=2) + "\n")
    bar.update()
    bar.close()
    return out, ["model.safetensors", *files], notes
