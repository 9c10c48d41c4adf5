"""Streaming shards (issue 23): `anymae shard` keeps samples, labels and the skipped-files report; the
ChunkSampler gives every sample exactly once per epoch across ranks and workers (2 gloo processes);
a streamed run resumes mid-epoch with identical losses."""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from anymae.cli import main
from anymae.data import load_dataset
from anymae.data.shards import ShardDataset, write_shards
from anymae.train.sampler import ChunkSampler, make_sampler

TINY = ["--recipe", "mae_vit_tiny", "--image-size", "16", "--patch-size", "4", "--arg", "dim=32", "--arg", "depth=2",
        "--arg", "heads=2", "--arg", "decoder_dim=32", "--arg", "decoder_depth=1", "--arg", "decoder_heads=2",
        "--arg", "drop_path=0.1", "--accelerator", "cpu", "--seed", "3"]


@pytest.fixture(scope="module")
def pictures(tmp_path_factory) -> Path:
    """48 PNGs (16x16) in classes a/b, 8 JPEGs (96x80) in c, and one truncated file that must be skipped."""
    root = tmp_path_factory.mktemp("shards") / "pictures"
    rng = np.random.default_rng(0)
    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
        for i in range(24):
            smooth = rng.random((4, 4, 3)).repeat(4, 0).repeat(4, 1)
            pixels = (255 * np.clip(smooth + 0.1 * rng.standard_normal((16, 16, 3)), 0, 1)).astype(np.uint8)
            Image.fromarray(pixels).save(root / label / f"{i}.png")
    (root / "c").mkdir()
    for i in range(8):
        big = (255 * rng.random((5, 6, 3))).repeat(16, 0).repeat(16, 1).astype(np.uint8)
        Image.fromarray(big).save(root / "c" / f"{i}.jpg", quality=95)
    (root / "a" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return root


@pytest.fixture(scope="module")
def shards(pictures, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("out") / "shards"
    # the CLI names a skipped file in one log line (its UserWarning is silenced there); the report is checked below
    assert main(["shard", "--data", str(pictures), "--out", str(out), "--shard-size-mb", "0.004"]) == 0
    return out


def test_shards_hold_the_folders_samples_labels_and_skipped_report(pictures, shards):
    meta = json.loads((shards / "anymae.json").read_text())
    assert meta["count"] == 56 and meta["classes"] == ["a", "b", "c"]
    assert meta["skipped"] == [str(pictures / "a" / "broken.png")]
    assert "broken.png" in (shards / "skipped_files.txt").read_text()
    assert len(meta["chunk_sizes"]) > 4  # several chunks, as --shard-size-mb asked
    folder = load_dataset(str(pictures), split="all", image_size=16)
    streamed = load_dataset(str(shards), split="all", image_size=16)
    assert len(streamed) == len(folder) == 56 and streamed.skipped == folder.skipped
    by_name = {}
    for i in range(len(streamed)):
        by_name[Path(streamed.raw(i)["name"]).relative_to(pictures).as_posix()] = i
    names = sorted(p.relative_to(pictures).as_posix() for p in pictures.rglob("*.*") if p.name != "broken.png")
    for j, name in enumerate(names):  # the folder loader reads files in sorted order
        i = by_name[name]
        assert int(streamed.labels[i]) == int(folder.labels[j])
        if name.endswith(".png"):  # lossless: the same pixels as the folder loader
            assert torch.equal(streamed.pixels(i), folder.pixels(j))
        else:  # JPEG read in draft mode (1/2 scale here), then resized: close to the full decode
            assert (streamed.pixels(i) - folder.pixels(j)).abs().mean() < 0.03
    # the same 70/30 train/test split as the folder's, sample for sample
    for split in ("train", "test"):
        part_f, part_s = load_dataset(str(pictures), split, 16), load_dataset(str(shards), split, 16)
        assert len(part_s) == len(part_f) and torch.equal(part_s.labels, part_f.labels)
        assert all(torch.equal(part_s.pixels(i), part_f.pixels(i)) for i in range(0, len(part_f), 5)
                   if part_s.raw(i)["name"].endswith(".png"))


def test_shard_refuses_to_overwrite_and_names_bad_input(pictures, shards, capsys):
    assert main(["shard", "--data", str(pictures), "--out", str(shards)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert main(["shard", "--data", "no-such-set", "--out", str(shards.parent / "x")]) == 2
    assert "neither a built-in" in capsys.readouterr().err
    broken = shards.parent / "broken"
    broken.mkdir()
    (broken / "a.png").write_bytes(b"not a picture")
    assert main(["shard", "--data", str(broken), "--out", str(shards.parent / "y")]) == 2
    assert "none of the 1 files could be read" in capsys.readouterr().err
    assert not (shards.parent / "y").exists()  # nothing half-written is left behind


@pytest.mark.parametrize("name", ["digits", "moving-digits"])
def test_builtin_sets_shard_sample_for_sample(name, tmp_path):
    report = write_shards(name, tmp_path / name, shard_size_mb=0.05, split="test", image_size=8, progress=False)
    source = load_dataset(name, split="test", image_size=8)
    streamed = load_dataset(str(tmp_path / name), split="test", image_size=8)
    assert report.count == len(source) == len(streamed) and streamed.modality == source.modality
    for i in (0, 7, len(source) - 1):
        j = int(streamed.raw(i)["name"].rsplit("[", 1)[1][:-1])
        assert torch.equal(streamed.pixels(i), source.pixels(j)) and streamed.labels[i] == source.labels[j]
    with pytest.raises(ValueError, match="holds only the test split"):
        load_dataset(str(tmp_path / name), split="train", image_size=8)


def test_video_points_and_array_folders_shard(tmp_path):
    from test_video import write_mp4
    (tmp_path / "v").mkdir()
    for i in range(3):
        write_mp4(tmp_path / "v" / f"{i}.mp4", frames=6, size=32)
    (tmp_path / "v" / "bad.mp4").write_bytes(b"nope")
    with pytest.warns(UserWarning, match="bad.mp4"):
        write_shards(str(tmp_path / "v"), tmp_path / "vs", progress=False)
    video = load_dataset(str(tmp_path / "vs"), image_size=16)
    assert video.modality == "video" and len(video) == 3 and video.skipped == [str(tmp_path / "v" / "bad.mp4")]
    direct = load_dataset(str(tmp_path / "v"), image_size=16)
    assert torch.equal(video.pixels(0), direct.pixels(int(Path(video.raw(0)["name"]).stem)))
    rng = np.random.default_rng(1)
    for kind, shape in (("p", (300, 3)), ("m", (5, 12, 12))):
        (tmp_path / kind).mkdir()
        for i in range(4):
            np.save(tmp_path / kind / f"{i}.npy", rng.random(shape).astype(np.float32))
        write_shards(str(tmp_path / kind), tmp_path / f"{kind}s", progress=False, image_size=8)
        streamed, direct = load_dataset(str(tmp_path / f"{kind}s"), image_size=8), load_dataset(str(tmp_path / kind), image_size=8)
        assert streamed.modality == direct.modality and len(streamed) == 4
        j = int(Path(streamed.raw(0)["name"]).stem)
        assert torch.allclose(streamed.pixels(0), direct.pixels(j), atol=1e-6)


# ---------------------------------------------------------------- the sampler
def groups_of(sizes):
    bounds = np.cumsum([0, *sizes])
    return [torch.arange(a, b) for a, b in zip(bounds[:-1], bounds[1:])]


@pytest.mark.parametrize("world,window", [(1, None), (2, 2), (3, 1)])
def test_chunk_sampler_covers_every_sample_once_across_ranks(world, window):
    groups = groups_of([7, 9, 4, 11, 6, 8])  # 45 samples
    per_rank = [list(ChunkSampler(groups, seed=5, rank=r, world=world, window=window)) for r in range(world)]
    seen = [i for part in per_rank for i in part]
    assert all(len(p) == 45 // world for p in per_rank)
    assert len(seen) == len(set(seen)) == 45 - 45 % world
    again = [list(ChunkSampler(groups, seed=5, rank=r, world=world, window=window)) for r in range(world)]
    assert again == per_rank  # seeded
    other = ChunkSampler(groups, seed=5, rank=0, world=world, window=window)
    other.set_epoch(1)
    assert list(other) != per_rank[0] and set(i - 45 for i in other) <= set(range(45))


def test_chunk_sampler_windows_keep_reads_within_few_chunks():
    groups = groups_of([10] * 12)
    order = list(ChunkSampler(groups, seed=0, window=3))
    for start in range(0, 120, 30):  # each run of 30 samples comes from exactly 3 chunks
        assert len({i // 10 for i in order[start:start + 30]}) == 3
    assert order != sorted(order)


def test_resume_at_skips_what_was_trained():
    groups = groups_of([5, 5, 5, 5])
    s = ChunkSampler(groups, seed=1, rank=1, world=2, window=2)
    full = list(s)
    s.resume_at(0, 4)
    assert list(s) == full[4:] and list(s) == full


def _gloo_rank(rank: int, world: int, shards: str, out: str) -> None:
    """One of two gloo processes: its loader (2 workers) over one epoch; the indices it drew, gathered."""
    import torch.distributed as dist
    from torch.utils.data import DataLoader
    dist.init_process_group("gloo", init_method=f"file://{out}.rendezvous", rank=rank, world_size=world)
    data = load_dataset(shards, split="all", image_size=16)
    sampler = make_sampler(data, seed=7, rank=rank, world=world)
    seen = {}
    loader = DataLoader(data, batch_size=4, sampler=sampler, num_workers=2, drop_last=True, persistent_workers=True)
    for epoch in (0, 1):
        sampler.set_epoch(epoch)
        mine = torch.cat([batch[2] for batch in loader])
        gathered = [torch.zeros_like(mine) for _ in range(world)]
        dist.all_gather(gathered, mine)
        seen[epoch] = [g.tolist() for g in gathered]
    if rank == 0:
        Path(out).write_text(json.dumps(seen))
    dist.destroy_process_group()


def test_two_gloo_processes_with_workers_see_every_sample_exactly_once(shards, tmp_path):
    import torch.multiprocessing as mp
    out = tmp_path / "seen.json"
    # fork: the children reuse this process's imports (spawn would import torch and anymae twice more)
    mp.start_processes(_gloo_rank, args=(2, str(shards), str(out)), nprocs=2, join=True, start_method="fork")
    seen = json.loads(out.read_text())
    for epoch, ranks in seen.items():
        flat = [i for r in ranks for i in r]
        assert len(ranks[0]) == len(ranks[1]) == 28  # 56 samples / 2 ranks, 7 batches of 4 each
        assert sorted(flat) == list(range(56))  # every sample once, none twice, none left out
    assert seen["0"] != seen["1"]  # reshuffled each epoch


# ---------------------------------------------------------------- streamed pretraining resumes exactly
def metrics(run: Path) -> list[dict]:
    with open(run / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def streamed_run(shards, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("streamed") / "run"
    assert main(["pretrain", "--data", str(shards), *TINY, "--batch-size", "8", "--epochs", "2",
                 "--save-every-n-steps", "1", "--keep-checkpoints", "20", "--workers", "2", "--out", str(run)]) == 0
    return run


def test_streamed_run_records_shards_and_skipped_files(streamed_run):
    import yaml
    config = yaml.safe_load((streamed_run / "config.yaml").read_text())
    assert config["summary"]["samples"] == 40 and config["summary"]["skipped_files"] == 1  # 17 + 17 + 6 train
    assert [int(r["step"]) for r in metrics(streamed_run)] == list(range(10))  # 40 // 8 = 5 steps an epoch
    assert config["summary"]["precision"] == "32-true" and "precision_reason" in config["summary"]
    assert main(["probe", str(streamed_run)]) == 0  # the probe reads the shards' own 70/30 split
    probe = json.loads((streamed_run / "probe.json").read_text())
    assert probe["results"][0]["linear"] >= 0


@pytest.mark.parametrize("knock_out", [False, True])
def test_interrupted_streamed_run_resumes_mid_epoch_with_identical_losses(streamed_run, tmp_path, monkeypatch,
                                                                          knock_out):
    """Interrupted after step 6 (mid epoch 1): the run folder as a killed run leaves it (atomic checkpoints,
    last.ckpt = the newest) resumes to the same losses and weights; without the sampler's saved position
    (knock_out) it would not."""
    from anymae.train.callbacks import SamplerResume
    run = tmp_path / "run"
    shutil.copytree(streamed_run, run)
    (run / "model.safetensors").unlink()
    shutil.copy(run / "checkpoints" / "step=6.ckpt", run / "checkpoints" / "last.ckpt")
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["global_step"] == 6 and 0 < ckpt["anymae_sampler"]["batches"] < 5  # mid epoch
    if knock_out:
        monkeypatch.setattr(SamplerResume, "on_load_checkpoint", lambda *a: None)
    assert main(["pretrain", "--resume", str(run), "--workers", "0"]) == 0
    ours = [(r["step"], r["loss"]) for r in metrics(run) if int(r["step"]) >= 6]
    theirs = [(r["step"], r["loss"]) for r in metrics(streamed_run) if int(r["step"]) >= 6]
    assert len(ours) == len(theirs) == 4
    if knock_out:
        assert ours != theirs
        return
    assert ours == theirs
    a, b = load_file(str(run / "model.safetensors")), load_file(str(streamed_run / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_on_another_process_count_is_refused(streamed_run, tmp_path):
    from anymae.train.callbacks import SamplerResume

    class Fake:
        same_world_to_resume, world = True, 2
    with pytest.raises(ValueError, match="resume it on 1 process"):
        SamplerResume(Fake(), 4).on_load_checkpoint(None, None, {"anymae_sampler": {"epoch": 0, "batches": 1,
                                                                                       "batch_size": 8, "world": 1}})


def test_a_remote_url_streams_through_the_chunk_cache(shards, tmp_path, monkeypatch):
    """`local:/path` is litdata's stand-in for an object store (s3://, gs://): the description and the
    chunks are downloaded into the cache as they are read, and give the local shards' samples."""
    monkeypatch.setenv("ANYMAE_SHARD_CACHE", str(tmp_path / "cache"))
    remote = load_dataset(f"local:{shards}", split="train", image_size=16)
    local = load_dataset(str(shards), split="train", image_size=16)
    assert remote.shuffle_window == 8 and local.shuffle_window is None
    assert torch.equal(remote.labels, local.labels)
    for i in (0, 9, len(local) - 1):
        assert torch.equal(remote.pixels(i), local.pixels(i))
    assert list((tmp_path / "cache").rglob("chunk-*.bin"))  # chunks came through the cache



def test_two_process_ddp_pretrain_streams_shards(shards, tmp_path):
    """The real thing: `anymae pretrain --devices 2 --strategy ddp` (gloo, CPU) on shards, 1 epoch."""
    import os
    import subprocess
    import sys
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore",
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1] / "src"),
                                          os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "anymae", "pretrain", "--data", str(shards), *TINY, "--epochs", "1",
           "--batch-size", "8", "--devices", "2", "--strategy", "ddp", "--out", str(run)]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert [int(r["step"]) for r in metrics(run)] == [0, 1]  # 40 samples / 2 ranks / 8 = 2 steps
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["anymae_sampler"]["world"] == 2
