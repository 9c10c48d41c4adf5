"""Image-caption pairs (M3AE, PAPERS.md row 43): the built-in `shapes` images, each with a caption written from
the generator's own draws (shape, colour, size, position) in one of several phrasings, as word ids."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from torch import Tensor

from .builtin import SHAPES, _to_uint8, balanced_labels, builtin, render_shapes
from .modality import register_modality
from .multimodal import DictDataset, MultiModalModality, PerModalityNormalisation, modality_stats

# every caption is exactly CAPTION_WORDS words, so the text modality needs no padding and a text mask ratio
# hides the same count of words in every caption
TEMPLATES = (
    "a {size} {colour} {shape} in the {pos} .",
    "the {pos} holds a {size} {colour} {shape} .",
    "{size} {colour} {shape} placed at the {pos} .",
    "a {shape} , {size} and {colour} , {pos}",
    "photo : {colour} {shape} , {size} , {pos}",
    "at {pos} there is a {size} {colour} {shape}",
)
CAPTION_WORDS = 8
SIZES = ("small", "medium", "large")
COLOURS = {(0, 0, 0): "black", (1, 0, 0): "red", (0, 1, 0): "green", (0, 0, 1): "blue", (1, 1, 0): "yellow",
           (0, 1, 1): "cyan", (1, 0, 1): "magenta", (1, 1, 1): "white"}
POSITIONS = (("top-left", "top", "top-right"), ("left", "centre", "right"), ("bottom-left", "bottom", "bottom-right"))
PAD = "[PAD]"  # id 0, never produced by the captions (kept so the vocabulary has the usual pad slot)


def caption_vocabulary() -> list[str]:
    """Every word a caption can hold, sorted, after [PAD] (id 0)."""
    words = {w for t in TEMPLATES for w in t.split() if not w.startswith("{")}
    words |= set(SIZES) | set(COLOURS.values()) | {p for row in POSITIONS for p in row} | set(SHAPES)
    return [PAD] + sorted(words)


def describe(label: int, drawn: dict) -> dict[str, str]:
    """The generator's draws for one image -> its attribute words: shape, colour (the nearest corner of the RGB
    cube), size (radius below 0.5 / 0.65 / above, of 0.35-0.8) and position (which third, across and down)."""
    corner = tuple(int(c > 0.5) for c in drawn["colour"])
    size = SIZES[int(drawn["radius"] >= 0.5) + int(drawn["radius"] >= 0.65)]
    third = lambda v: 0 if v < -1 / 3 else (2 if v > 1 / 3 else 1)  # noqa: E731  [-1,1] -> 0 / 1 / 2
    return {"shape": list(SHAPES)[label], "colour": COLOURS[corner], "size": size,
            "pos": POSITIONS[third(drawn["cy"])][third(drawn["cx"])]}


def write_captions(labels: np.ndarray, attributes: list[dict], seed: int) -> list[str]:
    """One caption per image, its phrasing drawn from `seed` (apart from the images' own random stream)."""
    rng = np.random.default_rng(seed)
    choice = rng.integers(len(TEMPLATES), size=len(labels))
    return [TEMPLATES[t].format(**describe(int(lab), drawn)) for t, lab, drawn in zip(choice, labels, attributes)]


def caption_ids(captions: list[str], vocabulary: list[str]) -> Tensor:
    """Captions -> word ids [N, CAPTION_WORDS] (long)."""
    index = {w: i for i, w in enumerate(vocabulary)}
    ids = [[index[w] for w in c.split()] for c in captions]
    if any(len(r) != CAPTION_WORDS for r in ids):
        raise ValueError(f"every caption must have {CAPTION_WORDS} words")
    return torch.tensor(ids, dtype=torch.long)


@lru_cache(maxsize=4)
def _captioned_split(split: str, image_size: int, count: int):
    """The exact images and labels of `shapes` (same seeds and draws), with the draws that made them."""
    rng = np.random.default_rng({"train": 11, "test": 12}[split])
    labels = balanced_labels(count, len(SHAPES), rng)
    attributes: list[dict] = []
    images = render_shapes(labels, image_size, rng, attributes=attributes)
    captions = write_captions(labels, attributes, seed={"train": 41, "test": 42}[split])
    return _to_uint8(images), torch.as_tensor(labels), tuple(captions)


class CaptionedImages(DictDataset):
    """{"image": [N,3,H,W] uint8, "text": [N,L] word ids} with shape labels, the caption strings and vocabulary."""

    def __init__(self, arrays, labels=None, transform=None, seed=0, classes=None, name="data", modality="image-text"):
        super().__init__(arrays, labels, transform, seed, classes, name, modality)
        self.captions: list[str] = []
        self.vocabulary: list[str] = caption_vocabulary()

    def with_transform(self, transform, seed: int | None = None) -> "CaptionedImages":
        copy = CaptionedImages(self.arrays, self.labels, transform, self.seed if seed is None else seed,
                               self.classes, self.name, self.modality)
        copy.skipped, copy.files, copy.captions = self.skipped, self.files, self.captions
        return copy


@builtin("shapes-captions")
def shapes_captions(split: str = "train", image_size=32, seed: int = 0, train_count: int = 2000,
                    test_count: int = 1000) -> CaptionedImages:
    """`shapes` (the same images, fixed split) with an 8-word caption per image from the generator's draws:
    shape (10), colour (8 names), size (3), position (9), in one of 6 phrasings. Labelled by shape."""
    if split not in ("train", "test"):
        raise ValueError(f"shapes-captions has train and test splits, got {split!r}")
    side = image_size if isinstance(image_size, int) else int(image_size[0])
    images, labels, captions = _captioned_split(split, side, train_count if split == "train" else test_count)
    vocabulary = caption_vocabulary()
    data = CaptionedImages({"image": images, "text": caption_ids(list(captions), vocabulary)}, labels,
                           classes=list(SHAPES), name=f"shapes-captions:{split}")
    data.captions = list(captions)
    return data


@builtin("shapes-captions-image")
def shapes_captions_image(split: str = "train", image_size=32, seed: int = 0) -> CaptionedImages:
    """`shapes-captions` with its images only: probes what an image-text encoder gives from an image alone."""
    data = shapes_captions(split, image_size, seed)
    out = CaptionedImages({"image": data.arrays["image"]}, data.labels, classes=data.classes,
                          name=f"shapes-captions-image:{split}")
    out.captions = data.captions
    return out


class CaptionTransform(PerModalityNormalisation):
    """{"image": [3,H,W] in [0,1], "text": [L]} -> the image normalised by the training data's statistics, the
    words as they are. No crop or flip: either would falsify the caption's size and position."""

    def __call__(self, sample: dict, generator: torch.Generator | None = None) -> dict:
        out = dict(sample)
        if "image" in out and "image" in self.stats:
            mean, std = self.stats["image"]
            out["image"] = (out["image"] - mean) / std
        return out


@register_modality
class ImageTextModality(MultiModalModality):
    """Image-caption pairs (M3AE): normalised images, word ids, no augmentation."""

    name = "image-text"

    def stats(self, dataset):
        return modality_stats(dataset)

    def pretrain_transform(self, model, config):
        return CaptionTransform(self._stats(config))

    def eval_transform(self, model, config):
        return CaptionTransform(self._stats(config))
