"""Runs that survive (issue 6): exact resume after SIGKILL, atomic checkpoints, bad data, NaNs,
untrusted weights, config validation. docs/reliability.md maps each guarantee to its test here.

The kill tests start real subprocesses (`python -m anymae pretrain ...`) and kill them with SIGKILL;
the uninterrupted reference and the resumes run in this process with the same thread count.
"""
from __future__ import annotations

import csv
import errno
import inspect
import io
import logging
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from safetensors.torch import load_file

import anymae
from anymae.cli import main
from anymae.errors import RunError
from anymae.io.checkpoint import load_weights, read_config, save_weights
from anymae.io.files import atomic_path, write_text
from anymae.masking import MASKERS, Mask
from anymae.tokenizers import Tokenizer, Tokens

SRC = Path(anymae.__file__).resolve().parent
TINY = ["--data", "digits", "--image-size", "8", "--patch-size", "2", "--arg", "depth=1", "--arg", "dim=32",
        "--arg", "heads=2", "--arg", "decoder_dim=32", "--arg", "decoder_depth=1", "--arg", "decoder_heads=2"]
# digits' train split has 1258 images: 9 steps of 128 per epoch, 27 steps in 3 epochs. Two blocks so the
# second has a drop-path rate of 0.1: it draws from the global RNG, which the resume must replay too.
RESUMABLE = TINY + ["--arg", "depth=2", "--batch-size", "128", "--epochs", "3", "--save-every-n-steps", "3",
                    "--arg", "drop_path=0.1", "--seed", "3", "--keep-checkpoints", "9"]  # every step checkpoint kept
STEPS_PER_EPOCH, TOTAL_STEPS = 9, 27


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models run fastest on one thread (and the killed subprocesses use the same count)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def metrics(run: Path) -> list[dict]:
    with open(run / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def same_weights(a: Path, b: Path) -> bool:
    wa, wb = load_file(str(a)), load_file(str(b))
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def child_env() -> dict:
    """The subprocess computes with this process's thread count, so its floats match ours bit for bit."""
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(torch.get_num_threads())
    env["PYTHONPATH"] = os.pathsep.join([str(SRC.parent)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


def wait_for(condition, proc: subprocess.Popen, what: str, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"the run ended (code {proc.returncode}) before {what}:\n{proc.stderr.read()[-3000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def rows_written(run: Path) -> int:
    try:
        return len(metrics(run))
    except (FileNotFoundError, KeyError, ValueError):
        return 0


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The uninterrupted run every resumed run must match."""
    run = tmp_path_factory.mktemp("reference") / "run"
    assert main(["pretrain", *RESUMABLE, "--out", str(run)]) == 0
    assert len(metrics(run)) == TOTAL_STEPS
    return run


# ------------------------------------------------------------------ 1. exact resume after SIGKILL
def test_sigkill_mid_epoch_then_resume_matches_uninterrupted_run(reference, tmp_path):
    run = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "anymae", "pretrain", *RESUMABLE, "--out", str(run)],
                            env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    # steps 0..13 trained: checkpoints at steps 3, 6, 9 (epoch end), 12 exist; step 12 is mid epoch 1
    wait_for(lambda: rows_written(run) >= 14, proc, "step 13")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert not (run / "model.safetensors").exists()  # it really died before the end

    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    resume_step = ckpt["global_step"]
    batches_done = ckpt["anymae_sampler"]["batches"]
    assert 0 < batches_done < STEPS_PER_EPOCH, "the kill must land mid-epoch for this test to mean anything"

    assert main(["pretrain", "--resume", str(run)]) == 0
    ours, theirs = metrics(run), metrics(reference)
    assert [int(r["step"]) for r in ours] == list(range(TOTAL_STEPS))
    after = [(r["step"], r["epoch"], r["lr"], r["loss"]) for r in ours if int(r["step"]) >= resume_step]
    expected = [(r["step"], r["epoch"], r["lr"], r["loss"]) for r in theirs if int(r["step"]) >= resume_step]
    assert len(after) == TOTAL_STEPS - resume_step > 0
    assert after == expected  # bit-identical loss and learning rate, step for step
    assert same_weights(run / "model.safetensors", reference / "model.safetensors")


@pytest.mark.parametrize("knock_out", ["sampler position", "per-step RNG seed"])
def test_resume_without_each_piece_would_not_match(reference, tmp_path, monkeypatch, knock_out):
    """The check above can fail: without the sampler's position (Lightning restarts the epoch) or without
    the per-step seeding of the global RNG (drop path), the losses after the resume point differ."""
    import shutil
    import anymae.train.module
    from anymae.train.callbacks import SamplerResume
    run = tmp_path / "run"
    shutil.copytree(reference, run)
    shutil.copy(run / "checkpoints" / "step=12.ckpt", run / "checkpoints" / "last.ckpt")
    if knock_out == "sampler position":
        monkeypatch.setattr(SamplerResume, "on_load_checkpoint", lambda *args: None)
    else:
        monkeypatch.setattr(anymae.train.module, "seed_step_rng", lambda *args: None)
    assert main(["pretrain", "--resume", str(run)]) == 0
    after = [r["loss"] for r in metrics(run) if int(r["step"]) >= 12]
    expected = [r["loss"] for r in metrics(reference) if int(r["step"]) >= 12]
    assert len(after) == len(expected) == TOTAL_STEPS - 12 and after != expected


# ------------------------------------------------------------------ 2. atomic checkpoints
SLOW_WRITER = r'''
import os, sys, time
from pathlib import Path
import anymae.train.checkpoint_io as cio

marker, slow_step = Path(sys.argv[1]), int(sys.argv[2])
save, write = cio.save_checkpoint_file, cio.write_file
slow = {"now": False}

def slow_save(checkpoint, path):
    slow["now"] = Path(path).name == "last.ckpt" and checkpoint["global_step"] == slow_step
    save(checkpoint, path)

def slow_write(f, data):
    if not slow["now"]:
        return write(f, data)
    half = len(data) // 2
    f.write(data[:half]); f.flush(); os.fsync(f.fileno())
    marker.write_text(f.name)  # half of last.ckpt is on disk, in the temporary file
    time.sleep(600)
    f.write(data[half:])

cio.save_checkpoint_file, cio.write_file = slow_save, slow_write
from anymae.cli import main
sys.exit(main(sys.argv[3:]))
'''


def test_kill_during_checkpoint_write_keeps_previous_checkpoint(reference, tmp_path):
    run, marker = tmp_path / "run", tmp_path / "writing"
    driver = tmp_path / "slow_writer.py"
    driver.write_text(SLOW_WRITER)
    proc = subprocess.Popen([sys.executable, str(driver), str(marker), "15", "pretrain", *RESUMABLE, "--out", str(run)],
                            env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_for(marker.exists, proc, "the slow write of last.ckpt at step 15")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    partial = Path(marker.read_text())
    assert partial.parent == run / "checkpoints" and partial.exists()  # the interrupted write, beside its target
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)  # intact and loadable
    assert ckpt["global_step"] == 12  # the previous last.ckpt, untouched
    assert partial.stat().st_size < (run / "checkpoints" / "last.ckpt").stat().st_size
    saved = read_config(run / "config.yaml")
    model = anymae.create(saved["recipe"], **saved["recipe_args"])
    model.load_state_dict({k.removeprefix("model."): v for k, v in ckpt["state_dict"].items()})

    assert main(["pretrain", "--resume", str(run)]) == 0  # and the run goes on from it
    assert not partial.exists()  # the stale temporary file was cleared
    assert [r["loss"] for r in metrics(run)] == [r["loss"] for r in metrics(reference)]
    assert same_weights(run / "model.safetensors", reference / "model.safetensors")


@pytest.mark.parametrize("error", [errno.ENOSPC, errno.EACCES])
def test_disk_full_or_no_permission_names_the_path_and_keeps_checkpoints(tmp_path, monkeypatch, capsys, error):
    import anymae.train.checkpoint_io as cio
    write = cio.write_file
    calls = {"n": 0}

    def failing_write(f, data):
        calls["n"] += 1
        if calls["n"] > 2:  # step=2.ckpt and last.ckpt at step 2 succeed; the next write fails
            f.write(data[: len(data) // 3])
            raise OSError(error, os.strerror(error))
        write(f, data)

    monkeypatch.setattr(cio, "write_file", failing_write)
    run = tmp_path / "run"
    code = main(["pretrain", *TINY, "--batch-size", "256", "--epochs", "1", "--save-every-n-steps", "2",
                 "--out", str(run)])
    message = capsys.readouterr().err
    assert code == 1
    assert os.strerror(error) in message and str(run / "checkpoints") in message
    assert "intact" in message
    kept = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert kept["global_step"] == 2
    torch.load(run / "checkpoints" / "step=2.ckpt", weights_only=True)
    assert not list((run / "checkpoints").glob(".*.tmp"))  # no half-written leftovers


def test_exported_weights_are_replaced_atomically(tmp_path, monkeypatch):
    path = tmp_path / "encoder.safetensors"
    old = {"w": torch.arange(6.0)}
    save_weights(old, path)
    import safetensors.torch as st_torch

    def dies_half_way(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"\0" * 10)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("anymae.io.checkpoint.save_file", dies_half_way)
    with pytest.raises(OSError, match=re.escape(str(path))):
        save_weights({"w": torch.zeros(6)}, path)
    assert torch.equal(load_weights(path)["w"], old["w"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["encoder.safetensors"]
    del st_torch


def test_atomic_path_is_flushed_and_renamed(tmp_path, monkeypatch):
    target = tmp_path / "config.yaml"
    write_text(target, "a: 1\n")
    synced = []
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd))
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            assert tmp.parent == target.parent and tmp != target
            tmp.write_text("a: 2\n")
            raise KeyboardInterrupt  # a kill-like interruption mid-write
    assert target.read_text() == "a: 1\n" and not synced
    write_text(target, "a: 3\n")
    assert target.read_text() == "a: 3\n" and len(synced) == 2  # the file, then its folder
    from anymae.io.files import DEFAULT_MODE
    assert target.stat().st_mode & 0o777 == DEFAULT_MODE  # not mkstemp's 0600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml"]


# ------------------------------------------------------------------ 3. bad data
def bad_and_good_folder(root: Path) -> tuple[list[str], list[str]]:
    """A folder with every kind of file the reader must convert or skip -> (kept names, skipped names)."""
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(root / "rgb.png")
    Image.fromarray(rgb[..., 0]).save(root / "grey.png")
    rgba = np.concatenate([rgb, np.zeros((12, 12, 1), np.uint8)], axis=2)  # fully transparent
    Image.fromarray(rgba).save(root / "rgba.png")
    Image.fromarray(np.full((12, 12), 65535, dtype=np.uint16)).save(root / "sixteen.png")
    Image.fromarray(rgb).convert("P").save(root / "palette.png")
    Image.fromarray(rgb).convert("CMYK").save(root / "cmyk.jpg")
    Image.fromarray(np.full((12, 12), 0.25, dtype=np.float32)).save(root / "float.tif")
    Image.fromarray(np.linspace(0, 1000, 144, dtype=np.float32).reshape(12, 12)).save(root / "wide.tif")
    Image.fromarray(rgb[:3, :5]).save(root / "small.png")  # upscaled, kept
    kept = ["rgb.png", "grey.png", "rgba.png", "sixteen.png", "palette.png", "cmyk.jpg", "float.tif", "wide.tif",
            "small.png"]
    nan = np.full((12, 12), 0.5, dtype=np.float32)
    nan[3, 4] = np.nan
    Image.fromarray(nan).save(root / "nan.tif")
    inf = np.full((12, 12), 0.5, dtype=np.float32)
    inf[0, 0] = np.inf
    Image.fromarray(inf).save(root / "inf.tif")
    (root / "empty.png").write_bytes(b"")
    (root / "noise.jpg").write_bytes(rng.integers(0, 256, 500, dtype=np.uint8).tobytes())
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    (root / "truncated.png").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    (root / "text.png").write_text("not an image\nat all\n")
    Image.fromarray(rgb[:1, :1]).save(root / "pixel.png")
    skipped = ["nan.tif", "inf.tif", "empty.png", "noise.jpg", "truncated.png", "text.png", "pixel.png"]
    return kept, skipped


def test_bad_files_are_converted_or_skipped_with_one_line_each(tmp_path, caplog):
    from anymae.data.folder import load_image_folder, read_image
    root = tmp_path / "images"
    kept, skipped = bad_and_good_folder(root)
    with caplog.at_level(logging.WARNING, logger="anymae.data"):
        data = load_image_folder(root, (8, 8), channels=3)
    assert len(data) == len(kept)
    assert sorted(Path(p).name for p in data.skipped) == sorted(skipped)
    lines = [r.getMessage() for r in caplog.records if r.name == "anymae.data"]
    assert len(lines) == len(skipped)
    for name in skipped:
        assert sum(name in line for line in lines) == 1
    assert all("\n" not in line for line in lines)

    grey = read_image(root / "grey.png", 3)
    assert grey.shape == (3, 12, 12) and np.array_equal(grey[0], grey[2])
    assert read_image(root / "rgba.png", 3).max() == 0.0  # transparent composited on black
    assert np.allclose(read_image(root / "sixteen.png", 3), 1.0)  # 65535 -> 1
    assert np.allclose(read_image(root / "float.tif", 1), 0.25)  # already in [0,1]: kept
    wide = read_image(root / "wide.tif", 1)
    assert wide.min() == 0.0 and wide.max() == 1.0  # min-max scaled
    assert read_image(root / "rgb.png", 1).shape == (1, 12, 12)
    with pytest.raises(ValueError, match="1 or 3 channels"):
        load_image_folder(root, (8, 8), channels=4)


def test_run_summary_counts_skipped_files(tmp_path, capsys, caplog):
    """Through the CLI, which reads the folder for training and again for the reconstruction picture: the
    summary counts each bad file and each is named by exactly one line."""
    root = tmp_path / "images"
    kept, skipped = bad_and_good_folder(root)
    run = tmp_path / "run"
    caplog.set_level(logging.WARNING, logger="anymae.data")
    code = main(["pretrain", "--data", str(root), "--image-size", "8", "--patch-size", "4", "--arg", "depth=1",
                 "--arg", "dim=32", "--arg", "heads=2", "--arg", "decoder_dim=32", "--arg", "decoder_depth=1",
                 "--arg", "decoder_heads=2", "--batch-size", "4", "--epochs", "1", "--out", str(run)])
    assert code == 0
    assert f"({len(skipped)} files skipped)" in capsys.readouterr().out
    assert read_config(run / "config.yaml")["summary"]["skipped_files"] == len(skipped)
    assert sorted(Path(p).name for p in (run / "skipped_files.txt").read_text().split()) == sorted(skipped)
    lines = [r.getMessage() for r in caplog.records if r.name == "anymae.data"]
    assert len(lines) == len(skipped)
    for name in skipped:
        assert sum(f"/{name}:" in line for line in lines) == 1, name


def test_all_bad_data_fails_at_once(tmp_path, capsys):
    root = tmp_path / "broken"
    root.mkdir()
    (root / "a.png").write_bytes(b"")
    (root / "b.jpg").write_text("nope")
    run = tmp_path / "run"
    assert main(["pretrain", "--data", str(root), *TINY[2:], "--out", str(run)]) == 2
    err = capsys.readouterr().err
    assert "none of the 2 image files could be read" in err and "a.png" in err
    assert not (run / "checkpoints").exists()


def test_nan_in_array_data_is_rejected_naming_the_samples():
    from anymae.data import TensorImageDataset
    from anymae.train.config import PretrainConfig
    from anymae.train.validate import validate_data
    images = torch.rand(10, 3, 8, 8)
    images[4, 0, 1, 1] = float("nan")
    images[7, 2, 0, 0] = float("inf")
    with pytest.raises(ValueError, match=r"2 sample\(s\) hold NaN or Inf values \(indices \[4, 7\]"):
        validate_data(PretrainConfig(batch_size=2), TensorImageDataset(images, name="arrays"), "arrays")


# ---- property tests: every registered tokenizer and masker
def anymae_tokenizers() -> list[type]:
    found, stack = [], list(Tokenizer.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls.__module__.startswith("anymae.") and cls not in found:
            found.append(cls)
    return sorted(found, key=lambda c: f"{c.__module__}.{c.__qualname__}")


def declares_examples(cls) -> bool:
    return bool(cls.examples()) and cls.example_input is not Tokenizer.example_input


TOKENIZERS = [c for c in anymae_tokenizers() if declares_examples(c)]


def test_every_tokenizer_declares_examples():
    """A tokenizer joins the property tests by declaring `examples()` and `example_input()` (tokenizers/base.py)."""
    leaves = [c for c in anymae_tokenizers() if not any(s in anymae_tokenizers() for s in c.__subclasses__())]
    missing = [f"{c.__module__}.{c.__qualname__}" for c in leaves if not declares_examples(c)]
    assert TOKENIZERS and not missing, f"tokenizers without examples()/example_input(): {missing}"


def check_tokens(tokens: Tokens, batch: int, tokenizer) -> None:
    assert isinstance(tokens, Tokens)
    b, n, d = tokens.embed.shape
    assert b == batch and d == tokenizer.dim and n == math.prod(tokens.grid)
    assert tokens.values.shape[:2] == (b, n)
    assert tokens.pos.shape[0] in (1, b) and tokens.pos.shape[1:] == (n, d)
    assert tokens.group is None or tokens.group.shape == (n,)
    assert torch.isfinite(tokens.embed).all() and torch.isfinite(tokens.values).all()


def tokenizer_ids(cls) -> str:
    return cls.__qualname__


def valid_input(cls, data) -> tuple:
    kwargs = data.draw(st.sampled_from(cls.examples()), label="init")
    torch.manual_seed(0)
    tokenizer = cls(**kwargs).eval()
    batch = data.draw(st.integers(1, 3), label="batch")
    x = tokenizer.example_input(batch, torch.Generator().manual_seed(data.draw(st.integers(0, 2**31 - 1))))
    if isinstance(x, torch.Tensor) and x.is_floating_point():
        x = x * data.draw(st.floats(1e-3, 1e3), label="scale")
    return tokenizer, batch, x


PROPERTY = settings(max_examples=25, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@pytest.mark.parametrize("cls", TOKENIZERS, ids=tokenizer_ids)
@PROPERTY
@given(data=st.data())
def test_tokenizer_takes_valid_input(cls, data):
    tokenizer, batch, x = valid_input(cls, data)
    with torch.no_grad():
        check_tokens(tokenizer(x), batch, tokenizer)


def mutate(x, data) -> object:
    """Random shape / dtype / value faults of a valid input (for a dict of modalities: of one of them)."""
    if isinstance(x, dict):
        name = data.draw(st.sampled_from(sorted(x)), label="modality")
        return {**x, name: mutate(x[name], data)}
    kind = data.draw(st.sampled_from(["shape", "ndim", "dtype", "nonfinite", "empty", "python"]), label="fault")
    if kind == "shape":
        axis = data.draw(st.integers(0, x.ndim - 1), label="axis")
        size = data.draw(st.integers(0, 2 * x.shape[axis] + 3).filter(lambda s: s != x.shape[axis]), label="size")
        shape = list(x.shape)
        shape[axis] = size
        return torch.randn(shape).to(x.dtype) if x.is_floating_point() else torch.zeros(shape, dtype=x.dtype)
    if kind == "ndim":
        return data.draw(st.sampled_from([x[0], x.unsqueeze(0), x.unsqueeze(-1), x.flatten(), x.reshape(-1)[:0]]))
    if kind == "dtype":
        dtype = data.draw(st.sampled_from([torch.float16, torch.bfloat16, torch.float64, torch.int64, torch.int32,
                                           torch.uint8, torch.bool, torch.complex64]), label="dtype")
        return x.to(dtype)
    if kind == "nonfinite":
        if not x.is_floating_point() or x.numel() == 0:
            return x
        y = x.clone().flatten()
        y[data.draw(st.integers(0, y.numel() - 1))] = data.draw(st.sampled_from([math.nan, math.inf, -math.inf]))
        return y.view_as(x)
    if kind == "empty":
        return x[:0]
    return data.draw(st.sampled_from([x.tolist(), x.numpy(), None, "image.png", 3.0]))


@pytest.mark.parametrize("cls", TOKENIZERS, ids=tokenizer_ids)
@PROPERTY
@given(data=st.data())
def test_tokenizer_rejects_bad_input_with_valueerror(cls, data):
    tokenizer, batch, x = valid_input(cls, data)
    bad = mutate(x, data)
    try:
        with torch.no_grad():
            tokens = tokenizer(bad)
    except ValueError as err:
        assert str(err).strip(), "a ValueError must say what is wrong"
        return
    # accepted: then the result must be whole (e.g. float64 follows the weights, a batch of 0 gives 0 rows)
    check_tokens(tokens, tokens.embed.shape[0], tokenizer)
    for part in (bad.values() if isinstance(bad, dict) else [bad]):
        if isinstance(part, torch.Tensor) and part.is_floating_point() and part.numel():
            assert torch.isfinite(part).all(), "NaN/Inf input must be refused"


def masker_setup(cls) -> dict:
    """From the masker's own `example()` (masking branch protocol) when it has one, else a 4x4 grid."""
    if hasattr(cls, "example"):
        ex = cls.example()
        return {"grid": tuple(ex.grid), "group": getattr(ex, "group", None), "scores": getattr(ex, "scores", False),
                "variants": list(getattr(ex, "variants", [{}])), "progress": getattr(ex, "progress", None)}
    return {"grid": (4, 4), "group": None, "scores": False, "variants": [{}], "progress": None}


def fake_tokens(batch: int, grid, group=None) -> Tokens:
    n = math.prod(grid)
    return Tokens(values=torch.zeros(batch, n, 3), embed=torch.zeros(batch, n, 4), pos=torch.zeros(1, n, 4),
                  grid=tuple(grid), group=group)


def check_mask(mask: Mask, batch: int, n: int) -> None:
    nv, nh = mask.keep.shape[1], mask.hidden.shape[1]
    assert mask.keep.shape == (batch, nv) and mask.hidden.shape == (batch, nh)
    assert nv >= 1 and nh >= 1, "something to see and something to predict"
    assert nv + nh == n and mask.restore.shape == (batch, n) and mask.bool.shape == (batch, n)
    order = torch.cat([mask.keep, mask.hidden], dim=1)
    assert torch.equal(order.sort(dim=1).values, torch.arange(n).expand(batch, n))  # a permutation per row
    assert torch.equal(torch.gather(order, 1, mask.restore), torch.arange(n).expand(batch, n))
    assert bool(mask.bool.gather(1, mask.hidden).all()) and not bool(mask.bool.gather(1, mask.keep).any())
    assert bool((mask.predict.unsqueeze(-1) == mask.hidden.unsqueeze(1)).any(-1).all())  # predicts hidden ones


def build_masker(cls, setup, data, **override):
    kwargs = {**data.draw(st.sampled_from(setup["variants"]), label="variant"), **override}
    masker = cls(**kwargs)
    if setup["progress"] is not None and hasattr(masker, "set_progress"):
        masker.set_progress(setup["progress"])
    return masker


def run_masker(masker, setup, batch, grid, seed):
    tokens = fake_tokens(batch, grid, setup["group"])
    g = torch.Generator().manual_seed(seed)
    scores = torch.rand(batch, math.prod(grid), generator=g) if setup["scores"] else None
    return masker(tokens, g, scores=scores) if scores is not None else masker(tokens, g)


def takes_ratio(cls) -> bool:
    return "ratio" in inspect.signature(cls.__init__).parameters


# Maskers that corrupt the input instead of hiding tokens (frequency masking) keep every token visible;
# their property (the masked band is gone) is pinned in tests/test_targets.py.
MASKER_NAMES = sorted(n for n in MASKERS if not getattr(MASKERS[n], "corrupts_input", False))


@pytest.mark.parametrize("name", MASKER_NAMES)
@PROPERTY
@given(data=st.data())
def test_masker_gives_a_whole_mask_for_valid_input(name, data):
    cls, setup = MASKERS[name], masker_setup(MASKERS[name])
    override = {"ratio": data.draw(st.floats(0.1, 0.9), label="ratio")} if takes_ratio(cls) else {}
    if name == "running_cell":  # hides k of the cell's 4 tokens: only k/4 ratios exist
        override = {"ratio": data.draw(st.sampled_from([0.25, 0.5, 0.75]), label="ratio")}
    if name == "disjoint":  # two views whose hidden sets do not overlap: each hides at most half
        override = {"ratio": data.draw(st.floats(0.1, 0.45), label="ratio")}
    masker = build_masker(cls, setup, data, **override)
    batch = data.draw(st.integers(1, 4), label="batch")
    mask = run_masker(masker, setup, batch, setup["grid"], data.draw(st.integers(0, 2**31 - 1)))
    check_mask(mask, batch, math.prod(setup["grid"]))


@pytest.mark.parametrize("name", [n for n in MASKER_NAMES if takes_ratio(MASKERS[n])])
@PROPERTY
@given(data=st.data())
def test_masker_rejects_impossible_ratio(name, data):
    cls, setup = MASKERS[name], masker_setup(MASKERS[name])
    ratio = data.draw(st.one_of(st.floats(max_value=0.0), st.floats(min_value=1.0), st.just(math.nan),
                                st.sampled_from(["0.5", None, True, [0.5]])), label="ratio")
    with pytest.raises(ValueError, match=r"\S"):
        build_masker(cls, setup, data, ratio=ratio)


@pytest.mark.parametrize("name", MASKER_NAMES)
@PROPERTY
@given(data=st.data())
def test_masker_odd_grids_give_a_whole_mask_or_valueerror(name, data):
    cls, setup = MASKERS[name], masker_setup(MASKERS[name])
    masker = build_masker(cls, setup, data)
    base = list(setup["grid"])
    grid = data.draw(st.one_of(
        st.lists(st.integers(1, 6), min_size=1, max_size=4),
        st.just([1] * len(base)), st.just(base[:-1] or [1]), st.just(base + [2])), label="grid")
    batch = data.draw(st.integers(0, 3), label="batch")
    group = setup["group"]
    if group is not None and group.numel() != math.prod(grid):
        setup = {**setup, "group": None}
    try:
        mask = run_masker(masker, setup, batch, tuple(grid), data.draw(st.integers(0, 2**31 - 1)))
    except ValueError as err:
        assert str(err).strip()
        return
    check_mask(mask, batch, math.prod(grid))


@pytest.mark.parametrize("name", [n for n in MASKER_NAMES if MASKERS[n].sample is not anymae.masking.Masker.sample])
@PROPERTY
@given(data=st.data())
def test_masker_sample_rejects_bad_arguments(name, data):
    cls, setup = MASKERS[name], masker_setup(MASKERS[name])
    masker = build_masker(cls, setup, data)
    batch, grid = data.draw(st.sampled_from([
        (-1, setup["grid"]), (2, (0,) + tuple(setup["grid"][1:])), (2, ()), (2, (-3, 4)), (2.5, setup["grid"]),
        (2, (4.0, 4)), (2, "44"), (2, (1,))]), label="arguments")
    with pytest.raises(ValueError, match=r"\S"):
        masker.sample(batch, grid, torch.Generator().manual_seed(0))


def test_a_single_token_cannot_be_masked_and_some_token_is_always_hidden():
    from anymae.masking import num_visible
    with pytest.raises(ValueError, match="at least 2"):
        num_visible(1, 0.75)
    assert num_visible(4, 0.05) == 3  # round(3.8) would hide nothing and make the loss NaN
    assert num_visible(4, 0.99) == 1


# ------------------------------------------------------------------ 4. numerics
@pytest.fixture
def nan_loss_on(monkeypatch):
    """Make the MSE loss NaN on chosen training steps (counted in calls; one call per step)."""
    from anymae.losses.mse import MSELoss
    forward = MSELoss.forward
    state = {"calls": 0, "bad": set()}

    def poisoned(self, pred, target):
        out = forward(self, pred, target)
        step = state["calls"]
        state["calls"] += 1
        return out * math.nan if step in state["bad"] else out

    monkeypatch.setattr(MSELoss, "forward", poisoned)
    return state


def steps_args(out: Path, *extra: str) -> list[str]:
    return ["pretrain", *TINY, "--batch-size", "256", "--epochs", "2", "--save-every-n-steps", "1",
            "--keep-checkpoints", "9", "--out", str(out), *extra]


def state_of(path: Path) -> dict:
    return torch.load(path, weights_only=True)["state_dict"]


def test_nonfinite_steps_are_skipped_and_logged(tmp_path, nan_loss_on, caplog):
    nan_loss_on["bad"] = {2, 3}
    run = tmp_path / "run"
    with caplog.at_level(logging.WARNING, logger="anymae.train"):
        assert main(steps_args(run, "--max-nonfinite-steps", "3")) == 0
    skipped = [r.getMessage() for r in caplog.records if "not finite; step skipped" in r.getMessage()]
    assert len(skipped) == 2 and "step 2:" in skipped[0] and "step 3:" in skipped[1]
    assert read_config(run / "config.yaml")["summary"]["skipped_steps"] == 2
    rows = metrics(run)
    assert [math.isnan(float(r["loss"])) for r in rows[:5]] == [False, False, True, True, False]
    before, after = state_of(run / "checkpoints" / "step=2.ckpt"), state_of(run / "checkpoints" / "step=4.ckpt")
    assert all(torch.equal(before[k], after[k]) for k in before)  # the skipped steps changed nothing
    after_good = state_of(run / "checkpoints" / "step=5.ckpt")
    assert not all(torch.equal(after[k], after_good[k]) for k in after)  # training went on
    assert all(torch.isfinite(v).all() for v in load_file(str(run / "model.safetensors")).values())


def test_too_many_nonfinite_steps_stop_with_last_good_checkpoint(tmp_path, nan_loss_on, capsys):
    nan_loss_on["bad"] = set(range(3, 1000))
    run = tmp_path / "run"
    assert main(steps_args(run, "--max-nonfinite-steps", "3")) == 1
    err = capsys.readouterr().err
    assert "max_nonfinite_steps=3" in err and "last-good.ckpt" in err
    good = state_of(run / "checkpoints" / "last-good.ckpt")
    last_finite = state_of(run / "checkpoints" / "step=3.ckpt")  # after steps 0, 1, 2
    assert all(torch.equal(good[k], last_finite[k]) for k in good)
    assert all(torch.isfinite(v).all() for v in good.values())
    assert len(metrics(run)) == 6  # steps 3, 4, 5 were bad; nothing ran after the third
    assert read_config(run / "config.yaml")["summary"]["skipped_steps"] == 3


def test_nonfinite_gradients_with_finite_loss_are_skipped():
    from anymae.train.guard import NonFiniteGuard
    guard = NonFiniteGuard(patience=2)
    p, q = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(2))
    p.grad, q.grad = torch.tensor([1.0, math.inf, 0.0]), torch.ones(2)
    assert not guard.check(7, True, [p, q])
    assert p.grad is None and q.grad is None and guard.in_a_row == 1 and not guard.exhausted
    p.grad, q.grad = torch.ones(3), torch.ones(2)
    assert guard.check(8, True, [p, q]) and guard.in_a_row == 0 and guard.skipped == 1


# ------------------------------------------------------------------ 5. untrusted weights and configs
class Payload:
    """Unpickling this runs code: it writes the marker file."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('pwned')",))


def malicious_file(path: Path, marker: Path, wrap=lambda p: {"state_dict": {"w": torch.ones(2)}, "extra": p}) -> Path:
    torch.save(wrap(Payload(marker)), path)
    return path


@pytest.mark.parametrize("name", ["weights.pth", "model.ckpt", "model.bin"])
def test_malicious_pickle_is_refused(tmp_path, name):
    marker = tmp_path / "pwned"
    path = malicious_file(tmp_path / name, marker)
    with pytest.raises(ValueError, match="refused to load"):
        load_weights(path)
    from anymae.train.checkpoint_io import AtomicCheckpointIO
    with pytest.raises(ValueError, match="refused to load"):
        AtomicCheckpointIO().load_checkpoint(path)
    with pytest.raises(ValueError, match="weights_only=False"):
        AtomicCheckpointIO().load_checkpoint(path, weights_only=False)
    assert not marker.exists()
    torch.load(path, weights_only=False)  # the payload is live: unpickling it does run code
    assert marker.read_text() == "pwned"


def test_resume_refuses_a_malicious_checkpoint(reference, tmp_path, capsys):
    import shutil
    run = tmp_path / "run"
    shutil.copytree(reference, run)
    marker = tmp_path / "pwned"
    malicious_file(run / "checkpoints" / "last.ckpt", marker)
    assert main(["pretrain", "--resume", str(run)]) == 2
    assert "refused to load checkpoint" in capsys.readouterr().err
    assert not marker.exists()


def test_configs_are_read_with_safe_yaml(tmp_path, capsys):
    marker = tmp_path / "pwned"
    evil = tmp_path / "config.yaml"
    evil.write_text(f"recipe: mae_vit_tiny\nseed: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        read_config(evil)
    assert main(["pretrain", "--config", str(evil), "--print-config"]) == 2
    assert "not valid YAML" in capsys.readouterr().err
    assert not marker.exists()
    with pytest.raises(yaml.YAMLError):
        yaml.safe_load(evil.read_text())


def test_no_unsafe_loading_anywhere_in_the_package():
    """Every torch.load passes weights_only=True; no pickle.load, yaml.load or unsafe YAML loader."""
    problems = []
    for path in SRC.rglob("*.py"):
        text = path.read_text()
        for call in re.finditer(r"torch\.load\((?:[^()]|\([^()]*\))*\)", text):
            if "weights_only=True" not in call.group(0):
                problems.append(f"{path.relative_to(SRC)}: {call.group(0)[:80]}")
        for pattern in (r"\bpickle\.loads?\(", r"\byaml\.load\(", r"yaml\.unsafe_load", r"yaml\.(Unsafe|Full)?Loader\b",
                        r"\bdill\.", r"\bjoblib\.load\("):
            problems += [f"{path.relative_to(SRC)}: {m.group(0)}" for m in re.finditer(pattern, text)]
    assert not problems, problems


# ------------------------------------------------------------------ 6. config validation
@pytest.mark.parametrize("flags, setting", [
    (["--mask-ratio", "1.0"], "mask_ratio"),
    (["--mask-ratio", "0"], "mask_ratio"),
    (["--mask-ratio", "-0.5"], "mask_ratio"),
    (["--image-size", "8", "--patch-size", "3"], "patch_size"),
    (["--arg", "decoder_dim=30", "--arg", "decoder_heads=4"], "decoder_dim"),
    (["--arg", "dim=33", "--arg", "heads=2"], "dim"),
    (["--batch-size", "5000"], "batch_size"),
    (["--batch-size", "0"], "batch_size"),
    (["--epochs", "0"], "epochs"),
    (["--warmup", "1.5"], "warmup"),
    (["--accumulate", "20", "--batch-size", "100"], "accumulate"),
])
def test_impossible_settings_are_rejected_before_training(tmp_path, capsys, flags, setting):
    run = tmp_path / "run"
    args = ["pretrain", "--data", "digits", "--image-size", "8", "--patch-size", "2", "--arg", "depth=1",
            "--arg", "dim=32", "--arg", "heads=2", "--arg", "decoder_dim=32", "--arg", "decoder_heads=2", "--epochs", "1"]
    code = main([*args, *flags, "--out", str(run)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("anymae pretrain: error: ") and setting in err
    assert not (run / "checkpoints").exists() and not (run / "metrics.csv").exists()

