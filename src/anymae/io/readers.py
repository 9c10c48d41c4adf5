"""Reading other tools' weight files safely: safetensors, torch files (`weights_only=True`), sharded indexes."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from safetensors.torch import load_file

TORCH_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt")


def read_torch(path: Path):
    """A torch file, unpickled with `weights_only=True` (tensors, containers, numbers, argparse.Namespace).

    facebookresearch/mae saves its training `args` as an argparse.Namespace beside the weights; that one
    class is allowed, nothing that can run code is.
    """
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as err:
        first = str(err).strip().split("\n")[0]
        raise ValueError(f"{path}: refused to load (only plain tensors are read, never pickled code): "
                         f"{first}") from None


def unwrap(obj, path: Path) -> tuple[dict, dict]:
    """A loaded object -> (state dict of tensors, extras such as MAE's training `args` as a dict)."""
    extras = {}
    if isinstance(obj, dict):
        args = obj.get("args")
        if isinstance(args, argparse.Namespace):
            extras["args"] = vars(args)
        elif isinstance(args, dict):
            extras["args"] = args
        for key in ("model", "state_dict", "module"):
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a state dict (a mapping of names to tensors), got {type(obj).__name__}")
    bad = sorted(k for k, v in obj.items() if not isinstance(v, torch.Tensor))
    if bad:
        raise ValueError(f"{path}: entries that are not tensors: {bad[:12]}")
    return dict(obj), extras


def read_state_file(path: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    """One weights file (safetensors, torch, or a `*.index.json` of shards) -> (state dict, extras)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    if path.name.endswith(".index.json"):
        try:
            index = json.loads(path.read_text())
            shards = sorted(set(index["weight_map"].values()))
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(f"{path}: not a shard index with a weight_map ({err})") from None
        state: dict[str, torch.Tensor] = {}
        for shard in shards:
            part, _ = read_state_file(path.parent / shard)
            state.update(part)
        return state, {}
    if path.suffix == ".safetensors":
        try:
            return load_file(str(path)), {}
        except Exception as err:  # safetensors raises its own error types
            raise ValueError(f"{path}: not a valid safetensors file ({err})") from None
    if path.suffix in TORCH_SUFFIXES:
        return unwrap(read_torch(path), path)
    raise ValueError(f"{path}: unknown weights file type {path.suffix!r}; expected .safetensors, "
                     f"{', '.join(TORCH_SUFFIXES)} or a *.index.json")


def read_json(path: Path) -> dict:
    try:
        value = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except ValueError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return value
