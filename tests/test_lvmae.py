"""LV-MAE (PAPERS.md row 14): embedding-sequence tokens, masked-embedding reconstruction, folders of .npy [T,D],
the built-in `digit-sequences`, and `anymae embed` turning a video run's clip features into LV-MAE's input."""
from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import anymae
from anymae.data import load_dataset
from anymae.data.embeddings import ORDERS, digit_sequences
from anymae.tokenizers.embedding import EmbeddingSequenceTokenizer

SRC = Path(__file__).resolve().parents[1] / "src"


def test_tokens_are_the_segment_embeddings_with_a_1d_position():
    tok = EmbeddingSequenceTokenizer(length=8, in_dim=12, dim=16)
    x = torch.randn(2, 8, 12, generator=torch.Generator().manual_seed(0))
    tokens = tok(x)
    assert tokens.grid == (8,) and torch.equal(tokens.values, x) and tokens.embed.shape == (2, 8, 16)
    assert not torch.allclose(tokens.pos[0, 0], tokens.pos[0, 7])
    with pytest.raises(ValueError, match=r"expected embedding sequences \[B,8,12\]"):
        tok(torch.randn(2, 8, 11))


def test_lvmae_reconstructs_the_hidden_segment_embeddings():
    model = anymae.create("lvmae_tiny", length=8, in_dim=12, dim=16, depth=1, heads=2, decoder_dim=16,
                          decoder_depth=1, decoder_heads=2)
    x = torch.randn(3, 8, 12, generator=torch.Generator().manual_seed(0))
    out = model(x, generator=torch.Generator().manual_seed(1))
    assert out.mask.hidden.shape == (3, 4) and out.pred.shape == (3, 4, 12)           # half of the segments
    hidden = torch.gather(x, 1, out.mask.hidden[..., None].expand(-1, -1, 12))
    want = (hidden - hidden.mean(-1, keepdim=True)) / (hidden.var(-1, keepdim=True) + 1e-6).sqrt()
    torch.testing.assert_close(out.target, want)                                     # each hidden embedding, standardised
    out.loss.backward()


def test_built_in_sequences_are_labelled_by_their_order_which_a_mean_cannot_see():
    train = digit_sequences("train", train_count=600)
    assert train.sequences.shape == (600, 16, 128) and sorted(set(train.labels.tolist())) == list(range(6))
    x, y = train.sequences, train.labels
    first = x[:, :8].mean(1)
    a, b = ORDERS.index((0, 2)), ORDERS.index((2, 0))                                 # reversed pairs
    gap_halves = (first[y == a].mean(0) - first[y == b].mean(0)).norm()
    gap_means = (x[y == a].mean((0, 1)) - x[y == b].mean((0, 1))).norm()
    assert gap_means < 0.5 * gap_halves                                               # the order lives in the halves


def test_npy_folder_of_sequences_reads_with_labels_and_bad_files_named_once(tmp_path):
    rng = np.random.default_rng(0)
    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        for i in range(5):
            np.save(tmp_path / cls / f"{i}.npy", rng.normal(size=(10 + i, 20)).astype(np.float32))
    bad = {"nan": tmp_path / "a" / "nan.npy", "short": tmp_path / "b" / "short.npy",
           "wide": tmp_path / "b" / "wide.npy"}
    np.save(bad["nan"], np.full((5, 20), np.nan, np.float32))
    np.save(bad["short"], np.ones((1, 20), np.float32))
    np.save(bad["wide"], np.ones((6, 21), np.float32))
    (tmp_path / "embed.json").write_text("{}")                                         # marks a folder of sequences
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load_dataset(str(tmp_path), split="all")
    assert data.modality == "embeddings" and len(data) == 10 and data.dim == 20 and data.classes == ["a", "b"]
    for path in bad.values():
        assert sum(str(path) in str(w.message) for w in caught) == 1, path
    clouds = tmp_path / "clouds"
    clouds.mkdir()
    np.save(clouds / "c.npy", rng.normal(size=(64, 3)).astype(np.float32))
    assert load_dataset(str(clouds), split="all", image_size=64).modality == "points"   # [N,3] stays a point cloud
    grey = tmp_path.parent / f"{tmp_path.name}-grey"
    grey.mkdir()
    for i in range(3):
        np.save(grey / f"{i}.npy", rng.random((12, 12)).astype(np.float32))
    assert load_dataset(str(grey), split="all", image_size=8).modality != "embeddings"    # no marker: not sequences


def write_long_mp4(path: Path, frames: int, step: int) -> None:
    """A white square moving `step` px a frame (bouncing), encoded with PyAV."""
    import av
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 16, 16, "yuv420p"
        for i in range(frames):
            img = np.zeros((16, 16, 3), np.uint8)
            x = abs((i * step) % 16 - 8)
            img[4:10, x:x + 6] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def test_embed_turns_a_video_run_into_segment_sequences_that_lvmae_reads(tmp_path):
    videos = tmp_path / "videos"
    for cls, step in (("slow", 1), ("fast", 3)):
        (videos / cls).mkdir(parents=True)
        for i in range(2):
            write_long_mp4(videos / cls / f"{i}.mp4", 40 + 4 * i, step)
    env = {"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"}
    cli = [sys.executable, "-m", "anymae"]
    run, out = tmp_path / "run", tmp_path / "emb"
    tiny = ["frames=4", "image_size=16", "patch_size=8", "dim=16", "depth=1", "heads=2", "decoder_dim=16",
            "decoder_depth=1", "decoder_heads=2"]
    subprocess.run(cli + ["pretrain", "--recipe", "videomae_vit_tiny", "--data", str(videos), "--steps", "1",
                          "--batch-size", "2", *[a for t in tiny for a in ("--arg", t)], "--out", str(run)],
                   check=True, env=env, capture_output=True)
    done = subprocess.run(cli + ["embed", str(run), "--out", str(out)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"run folder: {out}" in done.stdout
    files = sorted(out.rglob("*.npy"))
    assert len(files) == 4 and {f.parent.name for f in files} == {"slow", "fast"}
    shapes = sorted(np.load(f).shape for f in files)
    assert shapes == [(10, 16), (10, 16), (11, 16), (11, 16)]                        # 40 / 44 frames in 4-frame segments
    summary = json.loads((out / "embed.json").read_text())
    assert summary["pool"] == "mean" and summary["segment_frames"] == 4
    data = load_dataset(str(out), split="all")
    assert data.modality == "embeddings" and data.dim == 16 and data.classes == ["fast", "slow"]
    again = subprocess.run(cli + ["embed", str(run), "--out", str(out)], env=env, capture_output=True, text=True)
    assert again.returncode == 2 and "already holds .npy files" in again.stderr
