"""3-D volumes: the VolumeTokenizer, 3-D random and block masks, the built-in volume-shapes, reading NIfTI / .npy /
.npz / TIFF stacks with their spacing (bad files skipped and named), and a folder of NIfTI files trained on."""
from __future__ import annotations

import os
import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest
import tifffile
import torch

import anymae
from anymae.data import load_dataset
from anymae.data.volume import load_volume_folder, read_raw_volume
from anymae.masking import make_masker
from anymae.tokenizers.position import sincos_grid
from anymae.tokenizers.volume import VolumeTokenizer

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
SMALL = ["--arg", "dim=24", "--arg", "depth=1", "--arg", "heads=2", "--arg", "decoder_dim=24",
         "--arg", "decoder_depth=1", "--arg", "decoder_heads=2", "--arg", "volume_size=16", "--arg", "patch_size=4"]


def test_volume_tokenizer_patches_are_cuboids_with_3d_sincos_positions():
    tok = VolumeTokenizer((8, 12, 16), (2, 4, 4), channels=3, dim=12)
    assert tok.grid == (4, 3, 4) and tok.patch_dim == 2 * 4 * 4 * 3
    x = torch.randn(2, 3, 8, 12, 16, generator=torch.Generator().manual_seed(0))
    tokens = tok(x)
    assert tokens.values.shape == (2, 48, 96) and tokens.embed.shape == (2, 48, 12)
    assert torch.equal(tok.unpatchify(tok.patchify(x)), x)
    # token (1, 2, 3) holds voxels [2:4, 8:12, 12:16] of every channel, laid out (pd, ph, pw, C)
    index = 1 * 12 + 2 * 4 + 3
    assert torch.equal(tokens.values[:, index].reshape(2, 2, 4, 4, 3), x[:, :, 2:4, 8:12, 12:16].permute(0, 2, 3, 4, 1))
    assert torch.allclose(tokens.pos[0], sincos_grid(12, (4, 3, 4)))
    with pytest.raises(ValueError, match="not divisible"):
        VolumeTokenizer(10, 4, dim=12)
    with pytest.raises(ValueError, match="expected 3 channels"):
        tok(torch.randn(1, 1, 8, 12, 16))


@pytest.mark.parametrize("masking", ["random", "block3d"])
def test_3d_masks_hide_whole_3d_patches_at_the_ratio(masking):
    tok = VolumeTokenizer(16, 4, channels=1, dim=12)
    masker = make_masker(masking, 0.75)
    mask = masker.sample(3, tok.grid, torch.Generator().manual_seed(1))
    assert (mask.bool.sum(1) == 48).all()  # 75% of 64 patches
    voxels = tok.unpatchify(mask.bool.float().unsqueeze(-1).expand(-1, -1, tok.patch_dim))  # [B,1,16,16,16]
    assert voxels.mean().item() == pytest.approx(0.75)
    blocks = voxels.reshape(3, 1, 4, 4, 4, 4, 4, 4).permute(0, 1, 2, 4, 6, 3, 5, 7).reshape(3, 64, 64)
    assert ((blocks == 0) | (blocks == 1)).all() and (blocks.amin(-1) == blocks.amax(-1)).all()  # whole cuboids


def neighbour_agreement(mask, grid) -> float:
    """Mean fraction of a hidden token's 6 neighbours that are hidden too."""
    h = mask.bool.view(-1, *grid).float()
    pad = torch.nn.functional.pad(h, (1, 1, 1, 1, 1, 1))
    near = sum(pad.roll(s, d)[:, 1:-1, 1:-1, 1:-1] for d in (1, 2, 3) for s in (1, -1))
    return float((near * h).sum() / (6 * h.sum()))


def test_block3d_masks_are_contiguous_cuboids_unlike_random():
    grid = (6, 6, 6)
    g = torch.Generator().manual_seed(0)
    block = make_masker("block3d", 0.5).sample(16, grid, g)
    rand = make_masker("random", 0.5).sample(16, grid, g)
    assert neighbour_agreement(block, grid) > neighbour_agreement(rand, grid) + 0.15
    with pytest.raises(ValueError, match="3-D token grid"):
        make_masker("block3d", 0.5).sample(1, (4, 4), g)


def test_volume_shapes_is_a_fixed_balanced_labelled_split():
    a, b = load_dataset("volume-shapes", "test", image_size=(16, 16, 16)), load_dataset("volume-shapes", "test", image_size=16)
    assert torch.equal(a.volumes, b.volumes) and a.volumes.shape == (300, 1, 16, 16, 16)
    assert torch.bincount(a.labels).tolist() == [50] * 6 and a.modality == "volume"
    train = load_dataset("volume-shapes", "train", image_size=16)
    assert len(train) == 600 and not torch.equal(train.volumes[:300], a.volumes)
    inside = a.pixels(0)
    assert 0.0 <= inside.min() and inside.max() <= 1.0 and inside.std() > 0.05


def ball(shape, spacing, radius_mm=10.0) -> np.ndarray:
    """A bright ball of `radius_mm` in (z, y, x) voxels of `spacing` mm, centred."""
    axes = [(np.arange(n) - (n - 1) / 2) * s for n, s in zip(shape, spacing)]
    z, y, x = np.meshgrid(*axes, indexing="ij")
    return ((z ** 2 + y ** 2 + x ** 2) <= radius_mm ** 2).astype(np.float32) * 100.0 + 10.0


def write_nifti(path, zyx: np.ndarray, spacing_zyx) -> None:
    """Write a (z, y, x) volume as NIfTI's (x, y, z) with that spacing."""
    image = nib.Nifti1Image(zyx.transpose(2, 1, 0), affine=np.diag([*spacing_zyx[::-1], 1.0]))
    image.header.set_zooms(tuple(spacing_zyx[::-1]))
    nib.save(image, str(path))


def test_nifti_spacing_is_resampled_so_the_same_anatomy_matches():
    """One ball written at 1 mm and at 2 mm slices (half as many): both read back as the same volume."""
    root = __import__("pathlib").Path
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        folder = root(tmp)
        write_nifti(folder / "fine.nii.gz", ball((32, 32, 32), (1, 1, 1)), (1.0, 1.0, 1.0))
        write_nifti(folder / "coarse.nii", ball((16, 32, 32), (2, 1, 1)), (2.0, 1.0, 1.0))
        raw, spacing = read_raw_volume(folder / "coarse.nii")
        assert raw.shape == (16, 32, 32) and spacing == (2.0, 1.0, 1.0)
        (folder / "anymae.yaml").write_text("spacing: 1\n")
        data = load_volume_folder(folder, image_size=16)
        a, b = data.pixels(0), data.pixels(1)
        assert a.shape == b.shape == (1, 16, 16, 16)
        assert (a - b).abs().mean() < 0.03
        (folder / "anymae.yaml").write_text("spacing: 0.1\n")  # 20x finer than the coarse file: refused, named
        with pytest.warns(UserWarning, match="coarse.nii: voxel spacing"):
            with pytest.raises(ValueError, match="none of the 2 volume files"):
                load_volume_folder(folder, image_size=16)


def test_npy_npz_and_tiff_stacks_read_as_volumes(tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "a.npy", rng.random((1, 20, 20, 20)).astype(np.float32))  # [C,D,H,W]
    np.savez(tmp_path / "b.npz", volume=rng.random((20, 20, 20)).astype(np.float32), spacing=np.array([1.0, 1.0, 1.0]))
    tifffile.imwrite(tmp_path / "c.tif", (rng.random((20, 24, 24)) * 255).astype(np.uint8))
    np.save(tmp_path / "d.npy", rng.random((2, 20, 20, 20)).astype(np.float32))  # two channels: not this run's one
    shapes = [read_raw_volume(tmp_path / n)[0].shape for n in ("a.npy", "b.npz", "c.tif")]
    assert shapes == [(1, 20, 20, 20), (20, 20, 20), (20, 24, 24)]
    from anymae.data import folder_loader
    assert folder_loader(tmp_path).__name__ == "load_volume_folder"
    with pytest.warns(UserWarning, match=r"d.npy: 2 channel\(s\); the run reads 1"):
        data = load_volume_folder(tmp_path, image_size=8)
    assert data.volumes.shape == (3, 1, 8, 8, 8) and data.skipped == [str(tmp_path / "d.npy")]
    assert not data.labelled  # files at the top: no classes


def anymae_cli(*args):
    proc = subprocess.run([sys.executable, "-m", "anymae", *args], capture_output=True, text=True, env=ENV, timeout=900)
    assert proc.returncode == 0, f"anymae {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def test_a_folder_of_nifti_files_trains_and_probes(tmp_path):
    """nibabel writes two classes of NIfTI volumes (balls and cubes, varied spacing) plus a 4-D file, a file with
    NaN and a corrupt one: pretraining skips and names the three, trains, and draws the mid-slice picture."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "scans"
    for label in ("ball", "cube"):
        (folder / label).mkdir(parents=True)
        for i in range(6):
            spacing = (float(rng.choice([1.0, 1.5])), 1.0, 1.0)
            shape = (int(24 / spacing[0]), 24, 24)
            axes = [(np.arange(n) - (n - 1) / 2) * s for n, s in zip(shape, spacing)]
            z, y, x = np.meshgrid(*axes, indexing="ij")
            r = rng.uniform(5, 9)
            inside = (z ** 2 + y ** 2 + x ** 2 <= r ** 2) if label == "ball" else (np.maximum(np.maximum(abs(z), abs(y)), abs(x)) <= r)
            write_nifti(folder / label / f"{i}.nii.gz", inside * 80.0 + rng.normal(0, 5, shape).astype(np.float32), spacing)
    nib.save(nib.Nifti1Image(np.zeros((8, 8, 8, 3), np.float32), np.eye(4)), str(folder / "ball" / "series.nii.gz"))
    nan = np.ones((24, 24, 24), np.float32)
    nan[3, 3, 3] = np.nan
    write_nifti(folder / "cube" / "nan.nii", nan, (1.0, 1.0, 1.0))
    (folder / "cube" / "broken.nii.gz").write_bytes(b"not a nifti file")
    run = tmp_path / "run"
    proc = anymae_cli("pretrain", "--recipe", "volmae_tiny", "--data", str(folder), "--steps", "2", "--batch-size", "4",
                      "--out", str(run), *SMALL)
    assert f"run folder: {run}" in proc.stdout
    log = proc.stdout + proc.stderr
    for name in ("series.nii.gz", "nan.nii", "broken.nii.gz"):
        assert log.count(name) >= 1, name
    assert "(3 files skipped)" in log
    assert (run / "reconstructions.png").is_file() and (run / "model.safetensors").is_file()
    from anymae.eval.probe import probe_run
    rows, table = probe_run(run, progress=False)
    assert [r.name.split(" [")[0] for r in rows] == ["anymae encoder", "random init", "raw voxels (16^3)",
                                                    "HOG of 3 mid-slices"]
    assert all(0.0 <= r.linear <= 1.0 for r in rows)
