"""Multi-channel images whose channels are not colours (ChA-MAEViT, row 45): their modality and the real
immunohistochemistry stains scikit-image ships."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from .arrays import MultiChannelDataset
from .builtin import builtin
from .image import ImageModality
from .modality import register_modality
from .transforms import PretrainTransform


@register_modality
class MultiChannelModality(ImageModality):
    """Images [C,H,W] with any C (channels are not colours): the image transforms and per-channel stats."""

    name = "multichannel"

    def pretrain_transform(self, model, config):
        """The image crops and flips, never `colour_jitter`: these channels are measurements, not colours."""
        return PretrainTransform(model.tokenizer.image_size, torch.tensor(config.mean), torch.tensor(config.std),
                                 scale=tuple(config.crop_scale))


@lru_cache(maxsize=1)
def stain_image() -> np.ndarray:
    """scikit-image's real immunohistochemistry image split into haematoxylin, eosin and DAB stain
    concentrations (`rgb2hed`), each rescaled to [0,1] by its 99.5th percentile: [3,512,512]."""
    from skimage.color import rgb2hed
    from skimage.data import immunohistochemistry
    hed = rgb2hed(immunohistochemistry()).transpose(2, 0, 1)
    hed = np.clip(hed, 0, None)
    scale = np.percentile(hed.reshape(3, -1), 99.5, axis=1)
    return np.clip(hed / np.maximum(scale, 1e-6)[:, None, None], 0.0, 1.0)


STAIN_CLASSES = ["low DAB", "medium DAB", "high DAB"]


@lru_cache(maxsize=4)
def _stain_split(split: str, cache: int, count: int):
    from PIL import Image
    stains = stain_image()
    _, h, w = stains.shape
    tile = 128                                   # the slide as 4x4 tiles; test tiles (r + c) % 4 == 0
    tiles = [(r, c) for r in range(h // tile) for c in range(w // tile) if ((r + c) % 4 == 0) == (split == "test")]
    rng = np.random.default_rng({"train": 41, "test": 42}[split])
    planes = [Image.fromarray(s.astype(np.float32), mode="F") for s in stains]
    out = np.empty((count, 3, cache, cache), dtype=np.float32)
    for i in range(count):
        r, c0 = tiles[int(rng.integers(len(tiles)))]
        side = int(rng.integers(48, tile + 1))
        top, left = r * tile + int(rng.integers(0, tile - side + 1)), c0 * tile + int(rng.integers(0, tile - side + 1))
        box = (left, top, left + side, top + side)
        for c, plane in enumerate(planes):
            out[i, c] = np.asarray(plane.resize((cache, cache), Image.Resampling.BILINEAR, box=box))
    return torch.from_numpy(out)


@builtin("ihc-stains")
def ihc_stains(split: str = "train", image_size=32, seed: int = 0, train_count: int = 1500,
               test_count: int = 400) -> MultiChannelDataset:
    """Random crops of the real immunohistochemistry slide (scikit-image), as its 3 stain channels
    (haematoxylin, eosin, DAB via `rgb2hed`), not RGB. Labels: the crop's mean DAB concentration in tertiles
    of the training crops (low / medium / high), a stand-in task for probes. The slide is cut into 4x4
    tiles of 128 px; crops stay inside a tile; 4 spread-out tiles give the test crops, 12 the training crops."""
    if split not in ("train", "test"):
        raise ValueError(f"ihc-stains has train and test splits, got {split!r}")
    side = image_size if isinstance(image_size, int) else int(image_size[0])
    images = _stain_split(split, 2 * side, train_count if split == "train" else test_count)
    train = _stain_split("train", 2 * side, train_count)
    positive = lambda x: x[:, 2].mean((1, 2))                           # mean DAB concentration
    edges = torch.quantile(positive(train), torch.tensor([1 / 3, 2 / 3]))
    labels = torch.bucketize(positive(images), edges)
    return MultiChannelDataset(images, labels, classes=STAIN_CLASSES, name=f"ihc-stains:{split}")
