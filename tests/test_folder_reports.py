"""Each bad file named once; folders anymae cannot read say why (issue 25, guarantee 11 of
docs/reliability.md)."""
from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from anymae.cli import main
from anymae.data import load_dataset

TINY = ["--image-size", "8", "--patch-size", "4", "--arg", "depth=1", "--arg", "dim=32", "--arg", "heads=2",
        "--arg", "decoder_dim=32", "--arg", "decoder_depth=1", "--arg", "decoder_heads=2", "--batch-size", "4",
        "--epochs", "1"]


def skip_lines(caplog, name: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "anymae.data" and name in r.getMessage()]


def test_a_bad_image_among_good_ones_is_named_once_for_the_whole_run(tmp_path, caplog, capsys):
    """`pretrain` reads the folder for training, then again for the reconstruction picture: one line."""
    root = tmp_path / "images"
    root.mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(root / f"{i}.png")
    (root / "broken.png").write_bytes(b"not a png")
    with caplog.at_level(logging.WARNING, logger="anymae.data"), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["pretrain", "--data", str(root), *TINY, "--out", str(tmp_path / "run")]) == 0
        assert main(["reconstruct", str(tmp_path / "run"), "--count", "2", "--out", str(tmp_path / "r.png")]) == 0
    assert len(skip_lines(caplog, "broken.png")) == 1
    assert not [w for w in caught if "broken.png" in str(w.message)]  # the CLI shows the log line only
    assert "(1 files skipped)" in capsys.readouterr().out


def test_a_folder_of_unsupported_files_names_what_it_found_and_what_is_read(tmp_path):
    (tmp_path / "notes.doc").write_text("x")
    (tmp_path / "table.csv").write_text("1,2\n")
    (tmp_path / "more.csv").write_text("3,4\n")
    with pytest.raises(ValueError) as err:
        load_dataset(str(tmp_path))
    message = str(err.value)
    assert "2 .csv, 1 .doc" in message
    for kind, suffix in (("image", ".png"), ("point", ".xyz"), ("array", ".npy"), ("video", ".mp4")):
        assert kind in message and suffix in message


def test_a_numeric_txt_that_is_not_a_point_cloud_says_why_and_prose_is_text(tmp_path):
    (tmp_path / "xy.txt").write_text("1.0 2.0\n3.0 4.0\n")  # numbers, but two columns: not a cloud
    with pytest.raises(ValueError, match=r"none of the 1 point-cloud files .*xy.txt: cannot read point cloud "
                                         r".*at least 3 columns, got 2"):
        load_dataset(str(tmp_path))
    prose = tmp_path / "prose"
    prose.mkdir()
    (prose / "readme.txt").write_text("hello world, a document of words\n")  # words: a text document
    data = load_dataset(str(prose), split="all")
    assert type(data).__name__ == "TextDataset" and len(data) == 1


def test_the_most_common_channel_count_wins_and_the_others_are_named(tmp_path, caplog):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "a_first.npy", rng.random((4, 8, 8)).astype(np.float32))  # the first file is the odd one
    for i in range(5):
        np.save(tmp_path / f"b{i}.npy", rng.random((5, 8, 8)).astype(np.float32))
    with caplog.at_level(logging.WARNING, logger="anymae.data"):
        data = load_dataset(str(tmp_path), split="all", image_size=4)
    assert data.channels == 5 and len(data) == 5
    assert [p.rsplit("/", 1)[-1] for p in data.skipped] == ["a_first.npy"]
    (line,) = skip_lines(caplog, "a_first.npy")
    assert "4 channels" in line and "5 of the 6" in line and "have 5" in line


def test_clouds_with_fewer_points_than_the_model_takes_are_named_not_resampled(tmp_path, caplog):
    rng = np.random.default_rng(0)
    for i in range(4):
        np.savetxt(tmp_path / f"{i}.xyz", rng.normal(size=(300, 3)))
    np.savetxt(tmp_path / "three.xyz", rng.normal(size=(3, 3)))
    with caplog.at_level(logging.WARNING, logger="anymae.data"):
        data = load_dataset(str(tmp_path), split="all", image_size=128)  # the model takes 128 points
    assert len(data) == 4 and [p.rsplit("/", 1)[-1] for p in data.skipped] == ["three.xyz"]
    (line,) = skip_lines(caplog, "three.xyz")
    assert "3 points" in line and "128" in line
    assert torch.isfinite(data.clouds).all()
