"""facebookresearch/mae's key layout (MAE, row 0) <-> anymae's, and the architecture a checkpoint holds.

The official layout is the hub every converter meets at: timm's ViT is its encoder half, Hugging Face
ViTMAE renames it and splits q/k/v. Keys: `cls_token`, `pos_embed` [1,1+N,D] (a zero cls row),
`patch_embed.proj`, `blocks.i.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}`, `norm`, `decoder_embed`,
`mask_token`, `decoder_pos_embed` [1,1+N,Dd], `decoder_blocks.i.*`, `decoder_norm`, `decoder_pred`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace

import torch
from torch import Tensor, nn

from .pos_embed import zeros_row

BLOCK_PARTS = ("norm1", "attn.qkv", "attn.proj", "norm2", "mlp.fc1", "mlp.fc2")
# anymae prefix -> official prefix (whole parameter names below them keep their suffix)
PREFIXES = (("tokenizer.proj.", "patch_embed.proj."), ("encoder.blocks.", "blocks."), ("encoder.norm.", "norm."),
            ("decoder.embed.", "decoder_embed."), ("decoder.blocks.", "decoder_blocks."),
            ("decoder.norm.", "decoder_norm."), ("decoder.pred.", "decoder_pred."))
EXACT = {"encoder.cls_token": "cls_token", "decoder.mask_token": "mask_token"}
POS_TABLES = {"tokenizer.pos.table": "pos_embed", "decoder.pos.table": "decoder_pos_embed"}
DECODER_KEYS = re.compile(r"^(decoder_|mask_token$)")
BLOCK_KEY = re.compile(r"^(decoder_)?blocks\.\d+\.(norm1|attn\.qkv|attn\.proj|norm2|mlp\.fc1|mlp\.fc2)\.(weight|bias)$")

# standard ViT widths -> heads (64-wide heads); MAE's decoders use 16 heads at every size
VIT_HEADS = {192: 3, 384: 6, 768: 12, 1024: 16, 1280: 16, 1408: 16}
MAE_DECODER_HEADS = 16


@dataclass(frozen=True)
class Arch:
    """Everything needed to rebuild an MAE: sizes of the tokenizer, encoder and decoder, and its objective."""

    image_size: tuple[int, int]
    patch_size: int
    channels: int
    dim: int
    depth: int
    heads: int
    mlp_ratio: float
    decoder_dim: int
    decoder_depth: int
    decoder_heads: int
    decoder_mlp_ratio: float
    mask_ratio: float = 0.75
    norm_pix: bool = True
    has_decoder: bool = True
    norm_eps: float = 1e-6

    @property
    def grid(self) -> tuple[int, int]:
        return self.image_size[0] // self.patch_size, self.image_size[1] // self.patch_size

    def with_(self, **changes) -> "Arch":
        return replace(self, **changes)


def is_decoder_key(key: str) -> bool:
    return bool(DECODER_KEYS.match(key))


def to_official_name(key: str) -> str | None:
    """anymae parameter name -> official name (None for the position tables and anything MAE lacks)."""
    if key in EXACT:
        return EXACT[key]
    for ours, theirs in PREFIXES:
        if key.startswith(ours):
            name = theirs + key[len(ours):]
            if "blocks." in theirs and not BLOCK_KEY.match(name):
                return None  # a block part MAE's Block has not (layer scale, q/k norm, ...)
            return name
    return None


def to_anymae_name(key: str) -> str | None:
    for ours, theirs in EXACT.items():
        if key == theirs:
            return ours
    for ours, theirs in PREFIXES:
        if key.startswith(theirs):
            return ours + key[len(theirs):]
    return None


def grid_table(module: nn.Module | None, count: int, dim: int) -> Tensor:
    """A GridPosition's table [1,N,D], or zeros when a tokenizer has no position."""
    if module is None:
        return torch.zeros(1, count, dim)
    return module.table.detach().reshape(1, count, dim)


def anymae_to_official(model: nn.Module, encoder_only: bool = False) -> dict[str, Tensor]:
    """A MaskedAutoencoder with MAE's parts -> state dict in facebookresearch/mae's names.

    Auxiliary loss parts (`aux.*`: the position task's head, projectors) are training-only and left out.
    Raises ValueError listing any parameter MAE's layout has no place for.
    """
    tok, enc = model.tokenizer, model.encoder
    if getattr(enc, "cls_token", None) is None:
        raise ValueError("MAE's layout needs an encoder with a cls token")
    out, unplaced = {}, []
    for key, value in model.state_dict().items():
        if key in POS_TABLES or key.startswith("aux.") or \
                (encoder_only and not key.startswith(("tokenizer.", "encoder."))):
            continue
        name = to_official_name(key)
        if name is None:
            unplaced.append(key)
        else:
            out[name] = value.detach()
    if unplaced:
        raise ValueError(f"these parameters have no place in MAE's layout: {unplaced[:12]}")
    n = tok.num_tokens
    out["pos_embed"] = zeros_row(grid_table(tok.pos, n, tok.dim))
    if not encoder_only:
        dec = model.decoder
        out["decoder_pos_embed"] = zeros_row(grid_table(dec.pos, n, dec.dim))
    return out


def official_to_anymae(official: dict[str, Tensor], model: nn.Module) -> dict[str, Tensor]:
    """Official-layout tensors (already checked against `model`) -> anymae state dict for `model`.

    The cls token's position row is added to the cls token (anymae gives the cls token no position;
    the sum is what both feed the first block). Position tables go to learnable tables, or are dropped
    when the model keeps MAE's fixed sin-cos (the caller checked they are that table).
    """
    state = {}
    for key, value in official.items():
        if key in ("pos_embed", "decoder_pos_embed"):
            continue
        name = to_anymae_name(key)
        if name is None:
            raise ValueError(f"no anymae parameter for {key!r}")
        state[name] = value
    pos = official["pos_embed"]
    state["encoder.cls_token"] = official["cls_token"] + pos[:, :1]
    if isinstance(getattr(model.tokenizer.pos, "table", None), nn.Parameter):
        state["tokenizer.pos.table"] = pos[:, 1:].clone()
    if "decoder_pos_embed" in official:
        dpos = official["decoder_pos_embed"]
        if bool(dpos[:, :1].ne(0).any()):
            raise ValueError("decoder_pos_embed has a non-zero cls row; anymae's decoder gives the cls token no "
                             "position, so this checkpoint cannot be represented exactly")
        if isinstance(getattr(model.decoder.pos, "table", None), nn.Parameter):
            state["decoder.pos.table"] = dpos[:, 1:].clone()
    return state


def block_count(official: dict[str, Tensor], prefix: str) -> int:
    ids = {int(m.group(1)) for k in official if (m := re.match(rf"^{re.escape(prefix)}(\d+)\.", k))}
    if ids and ids != set(range(max(ids) + 1)):
        gaps = sorted(set(range(max(ids) + 1)) - ids)
        raise ValueError(f"{prefix}N blocks are not numbered 0..{max(ids)}: missing {gaps}")
    return len(ids)


def mlp_ratio(official: dict[str, Tensor], prefix: str, dim: int) -> float:
    key = f"{prefix}0.mlp.fc1.weight"
    if key not in official:
        return 4.0
    hidden = official[key].shape[0]
    ratio = hidden / dim
    if int(dim * ratio) != hidden:
        raise ValueError(f"{key}: MLP width {hidden} is not a ratio of the width {dim} that timm's Block can build")
    return ratio


def default_heads(dim: int, what: str) -> int:
    if dim in VIT_HEADS:
        return VIT_HEADS[dim]
    if dim % 64 == 0:
        return dim // 64
    raise ValueError(f"cannot tell the {what} head count for width {dim}; give it with --arg heads=N")


def infer_arch(official: dict[str, Tensor], image_size: tuple[int, int] | None = None,
               heads: int | None = None, decoder_heads: int | None = None, **objective) -> Arch:
    """Shapes in an official-layout state dict (+ what a config said) -> Arch at the checkpoint's own size."""
    from .pos_embed import square_grid
    needed = ["cls_token", "pos_embed", "patch_embed.proj.weight"]
    lacking = [k for k in needed if k not in official]
    if lacking:
        raise ValueError(f"not an MAE/ViT checkpoint: missing {lacking} (keys start {sorted(official)[:8]})")
    dim = official["cls_token"].shape[-1]
    proj = official["patch_embed.proj.weight"]
    if proj.ndim != 4 or proj.shape[-1] != proj.shape[-2]:
        raise ValueError(f"patch_embed.proj.weight has shape {tuple(proj.shape)}; expected square patches [D,C,p,p]")
    patch, channels = proj.shape[-1], proj.shape[1]
    if image_size is None:
        g = square_grid(official["pos_embed"].shape[1] - 1, "pos_embed")
        image_size = (g[0] * patch, g[1] * patch)
    has_decoder = any(is_decoder_key(k) for k in official)
    if has_decoder:
        if "decoder_embed.weight" not in official:
            raise ValueError("the checkpoint has decoder keys but no decoder_embed.weight")
        d_dim = official["decoder_embed.weight"].shape[0]
        d_depth = block_count(official, "decoder_blocks.")
        d_ratio = mlp_ratio(official, "decoder_blocks.", d_dim)
    else:
        d_dim, d_depth, d_ratio = 512, 8, 4.0
    return Arch(image_size=tuple(image_size), patch_size=patch, channels=channels, dim=dim,
                depth=block_count(official, "blocks."), heads=heads or default_heads(dim, "encoder"),
                mlp_ratio=mlp_ratio(official, "blocks.", dim), decoder_dim=d_dim, decoder_depth=d_depth,
                decoder_heads=decoder_heads or MAE_DECODER_HEADS, decoder_mlp_ratio=d_ratio,
                has_decoder=has_decoder, **objective)


def arch_of(model: nn.Module) -> Arch:
    """The Arch of a built MaskedAutoencoder made of MAE's parts; ValueError naming what does not fit."""
    from ..decoders.mae import MAEDecoder
    from ..encoders.vit import ViTEncoder
    from ..tokenizers.patch import PatchTokenizer
    tok, enc, dec = model.tokenizer, model.encoder, model.decoder
    if not isinstance(tok, PatchTokenizer):
        raise ValueError(f"needs image patches (PatchTokenizer), this model has {type(tok).__name__}")
    if not isinstance(enc, ViTEncoder) or enc.cls_token is None:
        raise ValueError(f"needs a ViT encoder with a cls token, this model has {type(enc).__name__}")
    block = enc.blocks[0] if len(enc.blocks) else None
    ratio = block.mlp.fc1.out_features / enc.dim if block is not None else 4.0
    has_decoder = isinstance(dec, MAEDecoder)
    d_ratio = dec.blocks[0].mlp.fc1.out_features / dec.dim if has_decoder and len(dec.blocks) else 4.0
    return Arch(image_size=tuple(tok.image_size), patch_size=tok.patch_size, channels=tok.channels,
                dim=enc.dim, depth=enc.depth, heads=enc.heads, mlp_ratio=ratio,
                decoder_dim=dec.dim if has_decoder else 0, decoder_depth=dec.depth if has_decoder else 0,
                decoder_heads=dec.heads if has_decoder else 0, decoder_mlp_ratio=d_ratio,
                mask_ratio=float(getattr(model.masker, "ratio", 0.75)),
                norm_pix=bool(getattr(model.target, "norm", True)), has_decoder=has_decoder,
                norm_eps=float(enc.norm.eps))
