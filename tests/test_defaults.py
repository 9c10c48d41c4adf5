"""Issue 26's levers for the laptop default: the colour augmentation keeps shape and scrambles colour."""
from __future__ import annotations

import pytest
import torch

from anymae.data import TensorImageDataset
from anymae.data.datasets import SeededSamples
from anymae.data.transforms import PretrainTransform, jitter_colour, sample_generator
from anymae.train.config import PretrainConfig
from anymae.train.validate import validate_config


def two_colour_image(inside=(0.9, 0.2, 0.1), outside=(0.1, 0.3, 0.6)) -> tuple[torch.Tensor, torch.Tensor]:
    """[3,16,16]: a square of one colour on a background of another, and its mask [16,16]."""
    mask = torch.zeros(16, 16, dtype=torch.bool)
    mask[4:12, 5:13] = True
    image = torch.where(mask, torch.tensor(inside).view(3, 1, 1), torch.tensor(outside).view(3, 1, 1))
    return image, mask


def test_jitter_changes_colour_but_keeps_the_shape():
    image, mask = two_colour_image()
    colours = set()
    for seed in range(20):
        out = jitter_colour(image, 0.4, torch.Generator().manual_seed(seed))
        assert out.shape == image.shape and 0 <= out.min() and out.max() <= 1
        inside, outside = out[:, mask], out[:, ~mask]
        # one colour map for every pixel: the square and the background each stay one flat colour ...
        assert torch.allclose(inside, inside[:, :1]) and torch.allclose(outside, outside[:, :1])
        # ... and still differ, so the outline is where it was
        assert (inside[:, 0] - outside[:, 0]).abs().max() > 0.02
        colours.add(tuple(inside[:, 0].mul(100).round().tolist()))
    assert len(colours) >= 15, "the shape's colour should vary from draw to draw"


def test_jitter_is_seeded_and_greys_some_draws():
    image, _ = two_colour_image()
    a = jitter_colour(image, 0.4, torch.Generator().manual_seed(3))
    b = jitter_colour(image, 0.4, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    grey = [jitter_colour(image, 0.4, torch.Generator().manual_seed(s)) for s in range(200)]
    share = sum(bool(torch.allclose(g, g[:1].expand_as(g))) for g in grey) / len(grey)
    assert 0.1 < share < 0.3, share          # grey with probability 0.2


def test_pretrain_transform_without_jitter_is_unchanged():
    image, _ = two_colour_image()
    stats = torch.zeros(3), torch.ones(3)
    plain = PretrainTransform((16, 16), *stats, scale=(1.0, 1.0), flip=False)
    jittered = PretrainTransform((16, 16), *stats, scale=(1.0, 1.0), flip=False, colour_jitter=0.4)
    g = torch.Generator().manual_seed(0)
    assert torch.allclose(plain(image, g), image, atol=1e-6)
    assert not torch.allclose(jittered(image, torch.Generator().manual_seed(0)), image, atol=1e-2)


@pytest.mark.parametrize("height,width,size", [(32, 32, (32, 32)), (48, 40, (32, 32)), (20, 28, (32, 32)),
                                               (64, 64, (16, 24))])
def test_batched_crops_resize_like_interpolate_on_every_crop(height, width, size):
    """The batch's matrices cut each drawn box and resize it as F.interpolate does for one image (antialiased
    when shrinking), then flip and jitter it the same way."""
    images = torch.rand(16, 3, height, width, generator=torch.Generator().manual_seed(0))
    transform = PretrainTransform(size, torch.zeros(3), torch.ones(3), colour_jitter=0.4)
    out = transform.batch(images, [sample_generator(5, 1, i) for i in range(16)])
    assert out.shape == (16, 3, *size)
    for i, (image, picture) in enumerate(zip(images, out)):
        assert torch.allclose(picture, transform(image, sample_generator(5, 1, i)), atol=1e-5)
    flips = sum(transform.draw(3, height, width, sample_generator(5, 1, i)).flip for i in range(16))
    assert 0 < flips < 16


def test_a_loaders_batch_draws_what_each_item_draws():
    """`__getitems__` (one transform call per batch) gives each sample the crop, flip and colour that reading it
    alone gives, at any epoch, so resumed runs and pictures see the same augmentations."""
    images = (torch.rand(12, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 255).to(torch.uint8)
    transform = PretrainTransform((32, 32), torch.full((3,), 0.5), torch.full((3,), 0.25), colour_jitter=0.4)
    data = TensorImageDataset(images, torch.arange(12), transform, seed=3)
    indices = [0, 5, 11, 12 + 4, 3 * 12 + 7]                 # EpochSampler's indices reach later epochs
    batch = data.__getitems__(indices)
    for (x, label, index), i in zip(batch, indices):
        alone, alone_label, alone_index = data[i]
        assert (label, index) == (alone_label, alone_index) and torch.allclose(x, alone, atol=1e-5)
    assert not torch.allclose(batch[1][0], data.__getitems__([5 + 12])[0][0])     # another epoch, another draw


class ImagesOfManySizes(SeededSamples):
    """A list of images [C,H_i,W_i] of different sizes (what a user's shard of photos can hold)."""

    def __init__(self, images, labels, transform, seed, classes=None, name="many sizes"):
        super().__init__(len(images), labels, transform, seed, classes, name)
        self.images = images

    def __len__(self):
        return len(self.images)

    def pixels(self, index):
        return self.images[index]


def test_a_batch_of_images_of_several_sizes_is_transformed_one_by_one():
    sizes = [(32, 32), (40, 24), (17, 50)]
    images = [torch.rand(3, h, w, generator=torch.Generator().manual_seed(h)) for h, w in sizes]
    transform = PretrainTransform((32, 32), torch.zeros(3), torch.ones(3), colour_jitter=0.4)
    data = ImagesOfManySizes(images, None, transform, seed=0)
    batch = data.__getitems__([0, 1, 2])
    assert [label for _, label, _ in batch] == [-1, -1, -1]
    for (x, _, i) in batch:
        assert x.shape == (3, 32, 32) and torch.allclose(x, data[i][0], atol=1e-5)


def test_colour_jitter_out_of_range_is_a_clear_error():
    with pytest.raises(ValueError, match="colour_jitter"):
        validate_config(PretrainConfig(colour_jitter=1.5))


def test_grid_pool_keeps_where_things_are():
    from anymae.eval.features import pool_latents
    tokens = torch.zeros(1, 1 + 16, 2)                     # a prefix token, then a 4x4 grid
    tokens[0, 1 + 0, 0] = 4.0                              # top-left token
    tokens[0, 1 + 15, 1] = 8.0                             # bottom-right token
    grid = pool_latents(tokens, 1, "grid").view(2, 4)      # [D, quarters] (channel-major)
    assert torch.allclose(grid, torch.tensor([[1.0, 0, 0, 0], [0, 0, 0, 2.0]]))
    flipped = tokens.clone()
    flipped[0, 1:] = tokens[0, 1:].flip(0)
    assert not torch.allclose(pool_latents(flipped, 1, "grid"), pool_latents(tokens, 1, "grid"))
    assert torch.allclose(pool_latents(flipped, 1, "mean"), pool_latents(tokens, 1, "mean"))
    with pytest.raises(ValueError, match="square grid"):
        pool_latents(torch.zeros(1, 15, 2), 0, "grid")


def test_grid3_pool_reads_overlapping_windows_like_hogs_blocks():
    from anymae.eval.features import pool_latents
    tokens = torch.zeros(1, 1 + 16, 1)                     # a prefix token, then a 4x4 grid of one channel
    tokens[0, 1 + 5, 0] = 4.0                              # the token at row 1, column 1
    windows = pool_latents(tokens, 1, "grid3").view(3, 3)  # 2x2-token windows at stride 1
    # the token lies in the four windows that start at rows / columns 0 and 1, a quarter of each window's mean
    assert torch.allclose(windows, torch.tensor([[1.0, 1, 0], [1, 1, 0], [0, 0, 0]]))
    moved = torch.zeros_like(tokens)
    moved[0, 1 + 15, 0] = 4.0                              # the same token at the bottom-right corner
    assert torch.allclose(pool_latents(moved, 1, "grid3").view(3, 3)[2, 2], torch.tensor(1.0))
    assert torch.allclose(pool_latents(moved, 1, "mean"), pool_latents(tokens, 1, "mean"))
    with pytest.raises(ValueError, match="square grid of at least 3x3"):
        pool_latents(torch.zeros(1, 4, 2), 0, "grid3")


def test_the_default_recipe_trains_with_colour_jitter_and_probes_the_grid():
    config = PretrainConfig.for_recipe("mae_laptop")
    assert config.colour_jitter == 0.4 and config.features == "grid3" and config.steps == 3000
    assert PretrainConfig.for_recipe("mae_laptop", colour_jitter=0.0).colour_jitter == 0.0


@pytest.mark.parametrize("w,h", [(640, 480), (300, 900)])
def test_photo_crops_train_and_test_crops_never_share_a_pixel(w, h):
    """`photo-crops` (the fifth labelled image set of issue 26): train crops lie in the first 70% of the
    photo's longer side, test crops in the last 30%, so a probe cannot match a test crop to its own pixels."""
    import numpy as np
    from anymae.data.builtin import region_box
    rng = np.random.default_rng(0)
    longer = max(w, h)
    for region in ((0.0, 0.7), (0.7, 1.0)):
        for _ in range(200):
            left, top, side = region_box(w, h, region, rng.uniform(0.1, 0.25), rng)
            along = left if w >= h else top
            assert 0 <= left and left + side <= w and 0 <= top and top + side <= h
            assert int(region[0] * longer) <= along and along + side <= int(region[1] * longer)  # [along, along + side) never overlaps the other split
            assert side >= int(min(w, h) * 0.1)


def test_photo_crops_is_a_fixed_balanced_labelled_set():
    from anymae.data.builtin import BUILTIN, PHOTOS
    train, test = BUILTIN["photo-crops"]("train", 16), BUILTIN["photo-crops"]("test", 16)
    assert train.images.shape == (1800, 3, 16, 16) and test.images.shape == (900, 3, 16, 16)
    assert train.labels.bincount().tolist() == [100] * len(PHOTOS) and test.labels.bincount().tolist() == [50] * 18
    assert torch.equal(BUILTIN["photo-crops"]("test", 16, seed=3).images, test.images)  # fixed, whatever the seed
