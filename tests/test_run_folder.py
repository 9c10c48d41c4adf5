"""A run folder is never damaged by another command; interrupts keep the run; disk use is bounded
(issue 25, guarantees 7-9 of docs/reliability.md).

The signal tests start real `python -m anymae pretrain` subprocesses (a signal needs a process); the
rest run in this process.
"""
from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import anymae
from anymae.cli import main
from anymae.io.checkpoint import read_config
from anymae.train.run_folder import RunFolderLock, folder_bytes

SRC = Path(anymae.__file__).resolve().parent
TINY = ["--data", "digits", "--image-size", "8", "--patch-size", "2", "--arg", "depth=1", "--arg", "dim=32",
        "--arg", "heads=2", "--arg", "decoder_dim=32", "--arg", "decoder_depth=1", "--arg", "decoder_heads=2"]
# 9 steps of 128 per epoch on digits' 1258 training images; 4 epochs = 36 steps
# long enough (90 steps) that a child run cannot finish while a loaded machine keeps the parent from
# polling it: the signal test stops the child once 12 steps are logged and needs it to be mid-run then
RESUMABLE = TINY + ["--batch-size", "128", "--epochs", "10", "--seed", "5", "--arg", "drop_path=0.1"]
TOTAL_STEPS = 90


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def metrics(run: Path) -> list[dict]:
    with open(run / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def rows_written(run: Path) -> int:
    try:
        return len(metrics(run))
    except (FileNotFoundError, KeyError, ValueError):
        return 0


def child_env() -> dict:
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(torch.get_num_threads())
    env["PYTHONPATH"] = os.pathsep.join([str(SRC.parent)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("reference") / "run"
    assert main(["pretrain", *RESUMABLE, "--out", str(run)]) == 0
    assert len(metrics(run)) == TOTAL_STEPS
    return run


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("finished") / "run"
    assert main(["pretrain", *TINY, "--batch-size", "256", "--epochs", "1", "--out", str(run)]) == 0
    return run


def test_overwrite_clears_the_old_run_first(finished, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    (run / "probe.json").write_text("{}")              # results of the old run that would contradict the new one
    (run / "skipped_files.txt").write_text("old.png\n")
    (run / "checkpoints" / "epoch=7.ckpt").write_bytes(b"old")
    assert main(["pretrain", *TINY, "--batch-size", "256", "--epochs", "2", "--out", str(run)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (run / "probe.json").exists()               # refused: untouched
    assert main(["pretrain", *TINY, "--batch-size", "256", "--epochs", "2", "--out", str(run), "--overwrite"]) == 0
    for stale in ("probe.json", "skipped_files.txt", "checkpoints/epoch=7.ckpt"):
        assert not (run / stale).exists(), stale
    assert read_config(run / "config.yaml")["summary"]["steps"] == 8 and len(metrics(run)) == 8


def test_overwrite_refuses_a_folder_that_is_not_a_run(tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "holiday.jpg").write_bytes(b"precious")
    assert main(["pretrain", *TINY, "--out", str(folder), "--overwrite"]) == 2
    assert "not an anymae run folder" in capsys.readouterr().err
    assert (folder / "holiday.jpg").read_bytes() == b"precious"


def test_a_locked_run_folder_is_refused_and_left_alone(finished, tmp_path, capsys):
    """The lock another process would hold (flock on the folder: one per open file description, so a
    second open in this process conflicts the same way)."""
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    with RunFolderLock(run):
        assert main(["pretrain", *TINY, "--batch-size", "256", "--epochs", "1", "--out", str(run),
                     "--overwrite"]) == 2
        assert "another anymae process is writing" in capsys.readouterr().err
        assert main(["pretrain", "--resume", str(run), "--epochs", "2"]) == 2
        assert "another anymae process is writing" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before
    new = tmp_path / "new"
    with RunFolderLock(new):  # a run that has just started: its folder is still empty
        assert main(["pretrain", *TINY, "--batch-size", "256", "--epochs", "1", "--out", str(new)]) == 2
    assert not any(new.iterdir())


def test_refused_resume_changes_nothing_and_a_plain_resume_then_works(finished, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    config = (run / "config.yaml").read_bytes()
    assert main(["pretrain", "--resume", str(run), "--batch-size", "32", "--epochs", "3"]) == 2
    assert "batch_size" in capsys.readouterr().err
    assert (run / "config.yaml").read_bytes() == config    # epochs and batch size not written, summary kept
    assert main(["pretrain", "--resume", str(run), "--epochs", "2"]) == 0
    assert read_config(run / "config.yaml")["summary"]["steps"] == 8


def test_step_checkpoints_rotate_and_the_summary_gives_the_disk_use(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["pretrain", *TINY, "--batch-size", "128", "--epochs", "2", "--save-every-n-steps", "2",
                 "--keep-checkpoints", "2", "--out", str(run)]) == 0
    out = capsys.readouterr().out
    steps = sorted(p.name for p in (run / "checkpoints").glob("step=*.ckpt"))
    assert steps == ["step=16.ckpt", "step=18.ckpt"]   # 9 written (2, 4, ..., 18), the newest 2 kept
    assert torch.load(run / "checkpoints" / "step=18.ckpt", weights_only=True)["global_step"] == 18
    summary = read_config(run / "config.yaml")["summary"]
    assert abs(summary["disk_bytes"] - folder_bytes(run)) < 16_384  # all but config.yaml's own rewrite
    assert "the run folder holds" in out and "MB" in out or "KB" in out


def test_default_keeps_three_step_checkpoints(tmp_path):
    run = tmp_path / "run"
    assert main(["pretrain", *TINY, "--batch-size", "256", "--epochs", "2", "--save-every-n-steps", "1",
                 "--out", str(run)]) == 0
    assert sorted(p.name for p in (run / "checkpoints").glob("step=*.ckpt")) == \
        ["step=6.ckpt", "step=7.ckpt", "step=8.ckpt"]


@pytest.mark.parametrize("sig, code, name", [(signal.SIGINT, 130, "SIGINT"), (signal.SIGTERM, 143, "SIGTERM")])
def test_signal_writes_a_last_checkpoint_says_how_to_resume_and_the_resume_is_exact(reference, tmp_path, capsys,
                                                                                   sig, code, name):
    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "anymae", "pretrain", *RESUMABLE, "--out", str(run)],
                            env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 900  # a shared, loaded machine can be slow to start a process
    while True:  # the child is held while its rows are counted, so it cannot run to the end unseen
        proc.send_signal(signal.SIGSTOP)  # (the fresh-clone CI twice saw a child finish before the parent looked)
        if rows_written(run) >= 12:  # mid epoch 1: hold it there (and holding its lock) while this process tries
            break
        proc.send_signal(signal.SIGCONT)
        assert proc.poll() is None, proc.stderr.read()[-2000:]
        assert time.monotonic() < deadline, "the run did not start"
        time.sleep(0.01)
    try:
        if sig == signal.SIGINT:  # while it trains, another start into its folder is refused by the lock
            assert main(["pretrain", *TINY, "--out", str(run), "--overwrite"]) == 2
            assert "another anymae process is writing" in capsys.readouterr().err
        proc.send_signal(sig)  # delivered when it continues
    finally:
        proc.send_signal(signal.SIGCONT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err[-2000:]
    last = [line for line in err.splitlines() if line.startswith("anymae pretrain:")]
    assert len(last) == 1 and "Traceback" not in err
    step = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"]
    assert f"interrupted at step {step} — resume with `anymae pretrain --resume {run}`" in last[0] and name in last[0]
    assert 12 <= step < TOTAL_STEPS and not (run / "model.safetensors").exists()
    assert read_config(run / "config.yaml")["summary"]["stopped"] == "interrupted"

    assert main(["pretrain", "--resume", str(run)]) == 0
    ours, theirs = metrics(run), metrics(reference)
    assert [(r["step"], r["lr"], r["loss"]) for r in ours] == [(r["step"], r["lr"], r["loss"]) for r in theirs]
    a, b = load_file(str(run / "model.safetensors")), load_file(str(reference / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_run_records_every_recipe_argument_and_keeps_its_model_when_a_default_changes(finished, monkeypatch):
    """config.yaml holds every argument of the recipe, given or default, so a later change of a recipe's
    default (here `mlp_ratio` 4 -> 2) does not change the model an earlier run loads as."""
    import dataclasses
    import functools
    from anymae.io.checkpoint import load_run
    from anymae.recipes.registry import RECIPES
    recorded = read_config(finished / "config.yaml")["recipe_args"]
    recipe = RECIPES["mae_laptop"]
    assert set(recipe.defaults()) <= set(recorded) and recorded["mlp_ratio"] == 4.0
    monkeypatch.setitem(RECIPES, "mae_laptop", dataclasses.replace(recipe, build=functools.partial(recipe.build,
                                                                                                   mlp_ratio=2.0)))
    assert RECIPES["mae_laptop"].defaults()["mlp_ratio"] == 2.0
    model, _ = load_run(finished)  # with 2.0 the MLP weights would be half the size and fail to load
    assert model.encoder.blocks[0].mlp.fc1.out_features == 4 * 32


def test_a_checkpoint_that_does_not_fit_the_run_is_one_line_on_resume(finished, tmp_path, capsys):
    import yaml
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    config = read_config(run / "config.yaml")
    config["recipe_args"]["dim"] = 48
    (run / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    before = {p.name: p.read_bytes() for p in (run / "checkpoints").iterdir()}
    assert main(["pretrain", "--resume", str(run), "--epochs", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "last.ckpt: the checkpoint does not fit recipe 'mae_laptop'" in err[0]
    assert "tokenizer.proj.weight is [32, 1, 2, 2] in the file, [48, 1, 2, 2] in the recipe" in err[0]
    assert {p.name: p.read_bytes() for p in (run / "checkpoints").iterdir()} == before


def test_a_run_made_before_every_argument_was_recorded_loads_with_the_recipes_legacy_defaults(finished, tmp_path,
                                                                                             monkeypatch):
    """Older runs recorded only the given arguments; a recipe whose default changed names the old value
    (`register(legacy_defaults=...)`) and such runs load, and resume, with it."""
    import dataclasses
    import functools
    import yaml
    from anymae.io.checkpoint import load_run
    from anymae.recipes.registry import RECIPES
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    config = read_config(run / "config.yaml")
    defaults = RECIPES["mae_laptop"].defaults()
    config["recipe_args"] = {k: v for k, v in config["recipe_args"].items() if k not in defaults or v != defaults[k]}
    assert "mlp_ratio" not in config["recipe_args"]        # as an old run wrote it: the given arguments only
    (run / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    recipe = RECIPES["mae_laptop"]
    changed = dataclasses.replace(recipe, build=functools.partial(recipe.build, mlp_ratio=2.0))
    monkeypatch.setitem(RECIPES, "mae_laptop", changed)
    with pytest.raises(ValueError, match="weights do not fit recipe 'mae_laptop'"):
        load_run(run)
    monkeypatch.setitem(RECIPES, "mae_laptop", dataclasses.replace(changed, legacy={"mlp_ratio": 4.0}))
    model, loaded = load_run(run)
    assert model.encoder.blocks[0].mlp.fc1.out_features == 4 * 32 and loaded["recipe_args"]["mlp_ratio"] == 4.0
    assert main(["pretrain", "--resume", str(run), "--epochs", "2"]) == 0
    assert read_config(run / "config.yaml")["recipe_args"]["mlp_ratio"] == 4.0   # now written down
