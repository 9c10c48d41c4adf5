"""The architecture issue: the layering of src/anymae (read with `ast`), every recipe reproducing the two
training steps recorded before the refactor, and a run folder written before it still loading, probing
and resuming."""
from __future__ import annotations

import ast
import json
import math
import shutil
import sys
from collections import defaultdict
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "anymae"
FIXTURES = Path(__file__).parent / "fixtures"
PARTS = {"tokenizers", "masking", "encoders", "decoders", "targets", "losses", "terms"}  # six parts + extra terms
CONTRACTS = {"registry", "errors"}  # what any part may import besides parts


# ------------------------------------------------------------------ layering
def top_level_imports() -> dict[str, dict[str, set[str]]]:
    """{top-level unit: {imported top-level unit: {file}}} for every import inside src/anymae (function-local
    imports included); a unit is a sub-package (`data`) or a module (`model`)."""
    graph: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts in (("__init__",), ("__main__",)):
            continue
        unit = parts[0]
        package = list(parts[:-1])  # the file's package inside anymae
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[list[str]] = []
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package[:len(package) - (node.level - 1)]
                module = base + (node.module.split(".") if node.module else [])
                targets = [module] if module else [[a.name] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("anymae."):
                targets = [node.module.split(".")[1:]]
            elif isinstance(node, ast.Import):
                targets = [a.name.split(".")[1:] for a in node.names if a.name.startswith("anymae.")]
            for module in targets:
                if module and module[0] != unit:
                    graph[unit][module[0]].add(str(path.relative_to(PACKAGE)))
    return graph


def cycles(graph) -> list[list[str]]:
    """Every elementary cycle found by a depth-first walk (enough to show one of each)."""
    found, state = [], {}

    def walk(unit, trail):
        state[unit] = "open"
        for nxt in sorted(graph.get(unit, {})):
            if state.get(nxt) == "open":
                found.append(trail[trail.index(nxt):] + [nxt])
            elif nxt not in state:
                walk(nxt, trail + [nxt])
        state[unit] = "done"

    for unit in sorted(graph):
        if unit not in state:
            walk(unit, [unit])
    return found


def offending(graph, unit: str, allowed=None, forbidden=None) -> dict[str, set[str]]:
    return {dep: files for dep, files in graph.get(unit, {}).items()
            if (allowed is not None and dep not in allowed) or (forbidden is not None and dep in forbidden)}


def test_no_cycle_between_top_level_packages():
    assert cycles(top_level_imports()) == []


def test_parts_and_extra_terms_import_only_parts_and_contracts():
    graph = top_level_imports()
    for part in sorted(PARTS):
        assert offending(graph, part, allowed=PARTS | CONTRACTS) == {}, part


def test_data_imports_no_model_viz_eval_or_train():
    graph = top_level_imports()
    assert offending(graph, "data", forbidden={"viz", "eval", "encoders", "decoders", "train", "model", "spec"}) == {}


def test_io_and_eval_import_nothing_from_train():
    graph = top_level_imports()
    assert offending(graph, "io", forbidden={"train", "cli"}) == {}
    assert offending(graph, "eval", forbidden={"train", "cli"}) == {}


def test_the_layering_check_sees_a_back_arrow(tmp_path):
    """The reader above must catch a cycle and a forbidden arrow (so a passing check means something)."""
    graph = {"data": {"viz": {"data/x.py"}}, "viz": {"data": {"viz/y.py"}}}
    assert cycles(graph) == [["data", "viz", "data"]]
    assert offending(graph, "data", forbidden={"viz"}) == {"viz": {"data/x.py"}}


def test_one_builder_one_model_spec():
    """Every model is built by `anymae.spec.build_model`: no other module calls `create(` on a recipe
    outside recipes/ (the teachers' skeletons and the probe baseline included)."""
    callers = sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                     if "create(" in p.read_text() and p.parts[-2] != "recipes" and p.name not in ("spec.py",))
    assert callers == []


# ------------------------------------------------------------------ behaviour stays: two steps of every recipe
sys.path.insert(0, str(FIXTURES))
import recipe_steps  # noqa: E402  (tests/fixtures/recipe_steps.py, the recorder)

RECORDED = json.loads(recipe_steps.FIXTURE.read_text())


def close(a: float, b: float, scale: float = 0.0) -> bool:
    """Equal to float32 rounding. A signed sum cancels, so its error is relative to the `scale` of its terms
    (the sum of their magnitudes): CPUs with other vector units (AVX2, AVX-512) round such sums differently."""
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=max(1e-6, 1e-6 * scale))


@pytest.mark.parametrize("key", sorted(RECORDED))
def test_recipe_reproduces_the_steps_recorded_before_the_refactor(key):
    torch.set_num_threads(1)
    name, swap = recipe_steps.rows()[key]
    got, want = recipe_steps.two_steps(name, swap), RECORDED[key]
    for field in ("loss0", "loss1", "grad_abs"):
        assert close(got[field], want[field]), (field, got[field], want[field])
    assert close(got["grad_weighted"], want["grad_weighted"], scale=want["grad_abs"]), (got, want)
    for field in ("terms0", "terms1"):
        assert set(got[field]) == set(want[field])
        assert all(close(got[field][t], want[field][t]) for t in want[field]), (field, got[field], want[field])


def test_every_recipe_of_the_recorded_kinds_is_covered():
    """Each recipe registered before the refactor has a recorded row (new paper-size recipes are pinned by
    tests/test_paper_recipes.py instead)."""
    from anymae.recipes import list_recipes
    new = {r.name for r in list_recipes()} - set(RECORDED)
    assert all(n.endswith("_base") for n in new), sorted(new)


# ------------------------------------------------------------------ a run folder written before the refactor
@pytest.fixture
def old_run(tmp_path) -> Path:
    run = tmp_path / "old_run"
    shutil.copytree(FIXTURES / "old_run", run)
    return run


def test_old_run_folder_loads_with_the_same_features(old_run):
    from anymae.io.checkpoint import load_run
    want = json.loads((FIXTURES / "old_run_expect.json").read_text())
    model, config = load_run(old_run)
    x = torch.randn(3, 1, 32, 32, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        features = model.encode(x).double()
        loss = float(model(x, generator=torch.Generator().manual_seed(3)).loss)
    assert close(float(features.abs().sum()), want["encode_abs"])
    assert close(float(features.sum()), want["encode_sum"], scale=want["encode_abs"])
    assert close(loss, want["loss"])


def test_old_run_folder_probes_and_resumes(old_run, capsys):
    from anymae.cli import main
    from anymae.io.checkpoint import read_config
    assert main(["probe", str(old_run)]) == 0
    assert "random init" in capsys.readouterr().out
    assert main(["pretrain", "--resume", str(old_run), "--epochs", "2"]) == 0
    summary = read_config(old_run / "config.yaml")["summary"]
    assert summary["steps"] == 2 * 78  # the first epoch's 78 steps, then one more epoch
