"""Pixels of every dtype, whatever is installed (issue 25, guarantee 10 of docs/reliability.md).

Each file is built with tifffile, pypng or Pillow from known values; reading it must give back every
value scaled by its dtype's range (data/pixels.py), or refuse the file naming the package to install.
"""
from __future__ import annotations

import builtins
import sys

import numpy as np
import png
import pytest
import tifffile
import torch
from PIL import Image

from anymae.data import load_dataset
from anymae.data.arrays import read_array
from anymae.data.folder import load_image_folder, read_image

RNG = np.random.default_rng(0)
TWELVE_BIT = RNG.integers(0, 4096, (10, 12, 3), dtype=np.uint16)   # a 12-bit camera in 16-bit files
TWELVE_BIT[0, :3] = [[0, 1, 255], [256, 257, 4095], [17, 300, 2]]  # values below 256 must not turn black


def write_png16(path, rgb: np.ndarray) -> None:
    h, w, c = rgb.shape
    png.from_array(rgb.reshape(h, w * c), {3: "RGB;16", 4: "RGBA;16", 2: "LA;16"}[c]).save(str(path))


def exact(read: np.ndarray, values: np.ndarray, top: float) -> bool:
    """`read` [C,H,W] holds exactly `values` [H,W,C] / top (float64 from the reader)."""
    return np.array_equal(np.rint(read.transpose(1, 2, 0) * top).astype(np.int64), values.astype(np.int64))


@pytest.mark.parametrize("kind", ["png16_rgb", "tiff16_rgb", "tiff16_grey", "png16_grey", "tiff_float_rgb",
                                  "png8_rgb", "png8_grey", "tiff8_rgb", "tiff_int16", "tiff_uint32"])
def test_every_dtype_is_read_at_full_precision(tmp_path, kind):
    path = tmp_path / f"{kind}.{'png' if kind.startswith('png') else 'tif'}"
    grey = TWELVE_BIT[..., 0]
    if kind == "png16_rgb":
        write_png16(path, TWELVE_BIT)
        assert exact(read_image(path, 3), TWELVE_BIT, 65535)
    elif kind == "tiff16_rgb":
        tifffile.imwrite(path, TWELVE_BIT)
        assert exact(read_image(path, 3), TWELVE_BIT, 65535)
    elif kind == "tiff16_grey":
        tifffile.imwrite(path, grey)
        assert exact(read_image(path, 1), grey[..., None], 65535)
    elif kind == "png16_grey":
        Image.fromarray(grey).save(path)  # Pillow writes 16-bit grey PNGs (mode I;16) exactly
        assert exact(read_image(path, 1), grey[..., None], 65535)
    elif kind == "tiff_float_rgb":
        values = RNG.random((10, 12, 3)).astype(np.float32)
        tifffile.imwrite(path, values, photometric="rgb")
        assert np.array_equal(read_image(path, 3).transpose(1, 2, 0), values.astype(np.float64))
    elif kind == "png8_rgb":
        values = (TWELVE_BIT >> 4).astype(np.uint8)
        Image.fromarray(values).save(path)
        assert exact(read_image(path, 3), values, 255)
    elif kind == "png8_grey":
        Image.fromarray((grey >> 4).astype(np.uint8)).save(path)
        assert exact(read_image(path, 1), (grey >> 4)[..., None], 255)
    elif kind == "tiff8_rgb":
        values = (TWELVE_BIT >> 4).astype(np.uint8)
        tifffile.imwrite(path, values)
        assert exact(read_image(path, 3), values, 255)
    elif kind == "tiff_int16":  # signed: the dtype's [min, max] onto [0, 1]
        values = (grey.astype(np.int16) - 2000)
        tifffile.imwrite(path, values)
        got = read_image(path, 1)[0] * 65535 - 32768
        assert np.array_equal(np.rint(got).astype(np.int64), values.astype(np.int64))
    elif kind == "tiff_uint32":
        values = grey.astype(np.uint32) * 100_000
        tifffile.imwrite(path, values)
        assert np.allclose(read_image(path, 1)[0] * 4294967295.0, values, rtol=0, atol=1e-3)


def test_rgba_16bit_is_composited_on_black_at_full_precision(tmp_path):
    alpha = np.full((10, 12, 1), 65535, np.uint16)
    alpha[0, 0] = 0
    write_png16(tmp_path / "a.png", np.concatenate([TWELVE_BIT, alpha], axis=2))
    tifffile.imwrite(tmp_path / "a.tif", np.concatenate([TWELVE_BIT, alpha], axis=2), photometric="rgb",
                     extrasamples=["unassalpha"])
    for name in ("a.png", "a.tif"):
        got = read_image(tmp_path / name, 3)
        assert got[:, 0, 0].tolist() == [0.0, 0.0, 0.0]
        assert exact(got[:, 1:], TWELVE_BIT[1:], 65535)


def test_a_folder_of_16bit_images_keeps_every_level(tmp_path):
    """The issue's case: 12-bit data in 16-bit RGB files keeps its 4096 levels (Pillow alone kept 16)."""
    files = [np.random.default_rng(i).integers(0, 4096, (10, 12, 3), dtype=np.uint16) for i in range(4)]
    for i, values in enumerate(files):
        write_png16(tmp_path / f"{i}.png", values)
    data = load_image_folder(tmp_path, (5, 6), channels=3)  # cached at twice (5, 6): the files' own size
    assert data.images.dtype == torch.float32          # not the 8-bit cache
    stored = torch.round(data.images.double() * 65535).long()
    assert torch.equal(stored, torch.from_numpy(np.stack(files).transpose(0, 3, 1, 2).astype(np.int64)))
    assert len(torch.unique(stored)) > 1000


def test_multi_page_tiff_is_a_stack_of_channels_in_an_array_folder(tmp_path):
    stack = RNG.integers(0, 65536, (5, 8, 8), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "s.tif", stack, photometric="minisblack")
    got = read_array(tmp_path / "s.tif")
    assert got.shape == (5, 8, 8) and np.array_equal(np.rint(got * 65535).astype(np.int64), stack)
    with pytest.raises(ValueError, match="s.tif.*multi-page"):
        read_image(tmp_path / "s.tif", 3)


@pytest.fixture
def without(monkeypatch):
    """Make `import NAME` fail, as on a machine where the package is not installed."""
    def hide(*names):
        real = builtins.__import__
        for name in names:
            monkeypatch.delitem(sys.modules, name, raising=False)

        def fake(name, *args, **kwargs):
            if name.split(".")[0] in names:
                raise ImportError(f"No module named {name!r}")
            return real(name, *args, **kwargs)
        monkeypatch.setattr(builtins, "__import__", fake)
    return hide


def test_without_tifffile_16bit_colour_and_multi_page_tiffs_are_refused_naming_it(tmp_path, without):
    tifffile.imwrite(tmp_path / "rgb16.tif", TWELVE_BIT)
    tifffile.imwrite(tmp_path / "pages.tif", RNG.integers(0, 255, (4, 8, 8), dtype=np.uint8), photometric="minisblack")
    tifffile.imwrite(tmp_path / "grey16.tif", TWELVE_BIT[..., 0])
    tifffile.imwrite(tmp_path / "rgb8.tif", (TWELVE_BIT >> 4).astype(np.uint8))
    without("tifffile")
    for name in ("rgb16.tif", "pages.tif"):
        with pytest.raises(ValueError, match=f"{name}.*pip install tifffile"):
            read_image(tmp_path / name, 3)
        with pytest.raises(ValueError, match=f"{name}.*pip install tifffile"):
            read_array(tmp_path / name)
    # what Pillow reads exactly is still read, exactly
    assert exact(read_image(tmp_path / "grey16.tif", 1), TWELVE_BIT[..., :1], 65535)
    assert exact(read_image(tmp_path / "rgb8.tif", 3), (TWELVE_BIT >> 4).astype(np.uint8), 255)


def test_without_pypng_16bit_colour_pngs_are_refused_naming_it(tmp_path, without, capsys):
    write_png16(tmp_path / "rgb16.png", TWELVE_BIT)
    Image.fromarray((TWELVE_BIT >> 4).astype(np.uint8)).save(tmp_path / "rgb8.png")
    without("png")
    with pytest.raises(ValueError, match="rgb16.png.*pip install pypng"):
        read_image(tmp_path / "rgb16.png", 3)
    data = load_dataset(str(tmp_path), split="all", image_size=4)  # the 8-bit file is read, the other named
    assert len(data) == 1 and [p.rsplit("/", 1)[-1] for p in data.skipped] == ["rgb16.png"]
