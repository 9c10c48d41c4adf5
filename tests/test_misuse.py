"""No traceback reaches a user (issue 25, guarantee 2 of docs/reliability.md "Misuse").

Every command is given impossible values, missing / wrong files and refused combinations, in this process
(`cli.main`, fast): each must end with exit code 2, one line on stderr naming the flag / file / setting, no
"Traceback", and no change to a finished run folder that already exists. A bug (any other exception) ends
with exit code 1 and the path of a log holding the traceback, for built-in commands and for a command
added later as a file of `anymae/commands/`.
"""
from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from anymae.cli import main

TINY = ["--data", "digits", "--image-size", "8", "--patch-size", "2", "--arg", "depth=1", "--arg", "dim=32",
        "--arg", "heads=2", "--arg", "decoder_dim=32", "--arg", "decoder_depth=1", "--arg", "decoder_heads=2",
        "--batch-size", "256", "--epochs", "1"]


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` -> the SHA-256 of its bytes (names, contents: any change shows)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def place(tmp_path_factory):
    """A finished tiny run and the bad files the invocations point at, made once."""
    return make_place(tmp_path_factory.mktemp("misuse"))


def make_place(root: Path) -> Path:
    run = root / "run"
    torch.manual_seed(0)
    assert main(["pretrain", *TINY, "--out", str(run)]) == 0
    (root / "a_file").write_text("not a folder\n")
    (root / "bad.yaml").write_text("recipe: [unclosed\n")
    (root / "garbage.pth").write_bytes(b"\x00not a torch file at all")
    only_text = root / "only_text"
    only_text.mkdir()
    (only_text / "notes.doc").write_text("hello\n")
    (root / "empty").mkdir()
    spectral = root / "spectral"
    spectral.mkdir()
    for i in range(4):
        np.save(spectral / f"{i}.npy", np.random.default_rng(i).random((3, 8, 8)).astype(np.float32))
    (spectral / "anymae.yaml").write_text(yaml.safe_dump({"bands": [[math.nan, 3], [500, 10], [600, 10]]}))
    export = root / "export_here"
    export.mkdir()
    (export / "keep.txt").write_text("someone's file\n")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(root / "ok.png")
    return root


def cases(root: Path) -> list[tuple[list[str], str]]:
    """(argv, a text the one-line message must hold: the flag, file or setting at fault)."""
    run, new = str(root / "run"), str(root / "new")
    f = lambda name: str(root / name)  # noqa: E731
    return [
        # pretrain: the run folder
        (["pretrain", *TINY, "--out", run], "--overwrite"),
        (["pretrain", *TINY, "--out", run, "--overwrite", "--devices", "0"], "--devices"),
        (["pretrain", *TINY, "--out", run, "--overwrite", "--accelerator", "gpu"], "--accelerator"),
        (["pretrain", *TINY, "--out", run, "--overwrite", "--arg", "drop_path=5"], "drop_path"),
        (["pretrain", *TINY, "--out", run, "--overwrite", "--precision", "17-bogus"], "17-bogus"),
        (["pretrain", *TINY, "--out", run, "--overwrite", "--strategy", "bogus"], "bogus"),
        (["pretrain", *TINY, "--out", f("a_file")], "a_file"),
        (["pretrain", *TINY, "--out", f("a_file") + "/run"], "a_file"),
        (["pretrain", *TINY, "--out", f("only_text"), "--overwrite"], "not an anymae run folder"),
        (["pretrain", "--resume", run, "--batch-size", "32"], "batch_size"),
        (["pretrain", "--resume", run, "--overwrite"], "--overwrite"),
        (["pretrain", "--resume", f("nowhere")], "nowhere"),
        # pretrain: impossible values
        (["pretrain", *TINY, "--out", new, "--mask-ratio", "1.5"], "--mask-ratio"),
        (["pretrain", *TINY, "--out", new, "--mask-ratio", "nan"], "--mask-ratio"),
        (["pretrain", *TINY, "--out", new, "--batch-size", "0"], "--batch-size"),
        (["pretrain", *TINY, "--out", new, "--epochs", "-1"], "--epochs"),
        (["pretrain", *TINY, "--out", new, "--steps", "0"], "--steps"),
        (["pretrain", *TINY, "--out", new, "--data", "digits:500"], "fixed size"),
        (["pretrain", *TINY, "--out", new, "--data", "shapes:many"], "shapes:many"),
        (["pretrain", *TINY, "--out", new, "--lr", "-1"], "--lr"),
        (["pretrain", *TINY, "--out", new, "--blr", "0"], "--blr"),
        (["pretrain", *TINY, "--out", new, "--warmup", "1.5"], "--warmup"),
        (["pretrain", *TINY, "--out", new, "--workers", "-1"], "--workers"),
        (["pretrain", *TINY, "--out", new, "--accumulate", "0"], "--accumulate"),
        (["pretrain", *TINY, "--out", new, "--num-nodes", "0"], "--num-nodes"),
        (["pretrain", *TINY, "--out", new, "--keep-checkpoints", "0"], "--keep-checkpoints"),
        (["pretrain", *TINY, "--out", new, "--save-every-n-steps", "-3"], "--save-every-n-steps"),
        (["pretrain", *TINY, "--out", new, "--max-nonfinite-steps", "0"], "--max-nonfinite-steps"),
        (["pretrain", *TINY, "--out", new, "--decoder-keep-ratio", "0"], "--decoder-keep-ratio"),
        (["pretrain", *TINY, "--out", new, "--seed", "-5"], "--seed"),
        (["pretrain", *TINY, "--out", new, "--image-size", "30", "--patch-size", "4"], "not divisible"),
        (["pretrain", *TINY, "--out", new, "--arg", "dim=30"], "'dim': 30"),
        (["pretrain", *TINY, "--out", new, "--arg", "oops"], "--arg"),
        (["pretrain", *TINY, "--out", new, "--recipe", "no_such_recipe"], "no_such_recipe"),
        (["pretrain", *TINY, "--out", new, "--masker", "no_such_masker"], "no_such_masker"),
        (["pretrain", *TINY, "--out", new, "--target", "no_such_target"], "no_such_target"),
        (["pretrain", *TINY, "--out", new, "--teacher", f("empty")], "empty"),
        (["pretrain", *TINY, "--out", new, "--config", f("missing.yaml")], "missing.yaml"),
        (["pretrain", *TINY, "--out", new, "--config", f("bad.yaml")], "bad.yaml"),
        # pretrain: data
        (["pretrain", "--data", "no-such-data", "--out", new], "no-such-data"),
        (["pretrain", "--data", f("only_text"), "--out", new], ".doc"),
        (["pretrain", "--data", f("empty"), "--out", new], "empty"),
        (["pretrain", "--data", f("ok.png"), "--out", new], "ok.png"),
        (["pretrain", "--data", f("spectral"), "--recipe", "smarties_tiny", "--out", new], "bands"),
        # probe
        (["probe", run, "--seed", "-1"], "--seed"),
        (["probe", f("nowhere")], "nowhere"),
        (["probe", f("empty")], "empty"),
        (["probe", run, "--pool", "bogus"], "bogus"),
        (["probe", run, "--data", "no-such-data"], "no-such-data"),
        # reconstruct
        (["reconstruct", run, "--count", "0", "--out", f("r.png")], "--count"),
        (["reconstruct", run, "--count", "-2", "--out", f("r.png")], "--count"),
        (["reconstruct", run, "--mask-ratio", "1", "--out", f("r.png")], "--mask-ratio"),
        (["reconstruct", run, "--input", f("missing.png"), "--out", f("r.png")], "missing.png"),
        (["reconstruct", run, "--gif", "--out", f("r.png")], "--gif"),
        (["reconstruct", run, "--seed", "-1", "--out", f("r.png")], "--seed"),
        # masks
        (["masks", "--masker", "no_such_masker", "--out", f("m.png")], "no_such_masker"),
        (["masks", "--masker", "random", "--samples", "0", "--out", f("m.png")], "--samples"),
        (["masks", "--masker", "random", "--mask-ratio", "2", "--out", f("m.png")], "--mask-ratio"),
        (["masks", "--masker", "random", "--grid", "1", "--out", f("m.png")], "--grid"),
        (["masks", "--masker", "random", "--image", f("missing.png"), "--out", f("m.png")], "missing.png"),
        # export / import
        (["export", run, "--to", "timm", "--out", f("export_here")], "--overwrite"),
        (["export", run, "--to", "timm", "--out", f("a_file")], "a_file"),
        (["export", f("nowhere"), "--to", "timm", "--out", f("x")], "nowhere"),
        (["import", f("missing.pth"), "--format", "timm", "--out", f("imp")], "missing.pth"),
        (["import", f("garbage.pth"), "--format", "official-mae", "--out", f("imp")], "garbage.pth"),
        (["import", str(root / "run" / "model.safetensors"), "--format", "timm", "--out", run], "model.safetensors"),
        # decode / impute
        (["decode", run, "--steps", "0", "--out", f("dec")], "--steps"),
        (["decode", run, "--batch-size", "0", "--out", f("dec")], "--batch-size"),
        (["decode", run, "--lr", "0", "--out", f("dec")], "--lr"),
        (["impute", run, "--out", f("imp2")], run),
        (["impute", run, "--input", f("empty"), "--data", "shapes", "--out", f("imp2")], "--input"),
    ]


def test_forty_and_more_bad_invocations_end_with_one_line_and_change_nothing(place, capsys):
    run = place / "run"
    before = snapshot(run)
    invocations = cases(place)
    assert len(invocations) >= 40
    failures = []
    for argv, culprit in invocations:
        code = main(argv)
        out, err = capsys.readouterr()
        lines = [line for line in err.splitlines() if line.startswith(f"anymae {argv[0]}:")]
        problem = []
        if code != 2:
            problem.append(f"exit {code}")
        if "Traceback" in err or "Traceback" in out:
            problem.append("a traceback")
        if len(lines) != 1 or culprit not in lines[0]:
            problem.append(f"no one line naming {culprit!r}: {lines}")
        if snapshot(run) != before:
            problem.append("the run folder changed")
        if problem:
            failures.append(f"anymae {' '.join(argv)}: {'; '.join(problem)}\n{err[-600:]}")
    assert not failures, "\n\n".join(failures)
    assert not (place / "new").exists()  # no refused start left a folder behind
    # a plain --resume still works after the refused one (nothing was half-written)
    assert main(["pretrain", "--resume", str(run)]) == 0


@pytest.mark.parametrize("argv", [["pretrain", "--epochs", "abc"], ["frobnicate"], ["probe"],
                                  ["export", "x", "--to", "onnx"]])
def test_argparse_refusals_are_one_usage_line_and_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "Traceback" not in err and "error:" in err


def test_a_bug_ends_with_exit_1_and_a_log_holding_the_traceback(tmp_path, monkeypatch, capsys):
    import anymae.cli as cli
    monkeypatch.setenv("ANYMAE_LOG_DIR", str(tmp_path / "logs"))

    def broken(args):
        return {}["no such key"]
    monkeypatch.setattr(cli, "run_recipes", broken)
    assert main(["recipes"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "internal error: KeyError" in err
    logs = list((tmp_path / "logs").glob("anymae-recipes-*.log"))
    assert len(logs) == 1 and str(logs[0]) in err
    text = logs[0].read_text()
    assert "Traceback" in text and "in broken" in text and "no such key" in text


def test_a_command_added_as_a_file_inherits_the_guarantee(tmp_path, monkeypatch, capsys):
    """Commands are discovered in anymae/commands/; one that raises ValueError exits 2 with its line, one
    with a bug exits 1 with a log, one interrupted exits 130."""
    import anymae.commands
    monkeypatch.setenv("ANYMAE_LOG_DIR", str(tmp_path / "logs"))
    failures = {"bad-input": ValueError("--thing 7: must be even"), "bug": ZeroDivisionError("division by zero"),
                "stopped": KeyboardInterrupt()}

    def adder(name, error):
        def add(sub):
            p = sub.add_parser(name)
            def run(args):
                raise error
            p.set_defaults(handler=run)
        return add
    adders = anymae.commands.command_adders()
    monkeypatch.setattr(anymae.commands, "command_adders",
                        lambda: [*adders, *(adder(n, e) for n, e in failures.items())])
    assert main(["bad-input"]) == 2
    assert capsys.readouterr().err.strip() == "anymae bad-input: error: --thing 7: must be even"
    assert main(["bug"]) == 1
    err = capsys.readouterr().err
    assert "internal error: ZeroDivisionError" in err and "Traceback" not in err
    assert main(["stopped"]) == 130
    assert "interrupted" in capsys.readouterr().err
