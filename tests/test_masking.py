"""The masking library: the properties each masker's paper states (issue 3), with fixed seeds."""
from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
import yaml
from scipy.stats import chi2

import anymae
from anymae.masking import (MASKERS, BlockMasker, GridMasker, GuidedMasker, HardPatchMasker,
                            Mask, NoiseMasker, RandomMasker, make_masker, make_schedule)
from anymae.masking.block import draw_blocks, valid_shapes
from anymae.terms import LossPredictor
from anymae.terms.loss_prediction import relative_loss
from anymae.masking.noise import radial_power, spectrum_summary

GRID = (14, 14)
N = 196
MINE = ["random", "block", "grid", "noise", "hard_patch", "guided"]


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def draw(name: str, batch: int = 64, grid=GRID, seed: int = 0, ratio: float = 0.75, scores=None, **kwargs) -> Mask:
    masker = make_masker(name, ratio, **kwargs)
    if name in ("guided", "hard_patch"):
        scores = torch.rand(batch, math.prod(grid), generator=gen(seed + 100)) if scores is None else scores
        return masker.sample(batch, grid, gen(seed), scores=scores)
    return masker.sample(batch, grid, gen(seed))


def check_contract(mask: Mask, n: int) -> None:
    """keep/hidden partition every row; restore undoes the order; bool marks the hidden set."""
    b = mask.keep.shape[0]
    both = torch.cat([mask.keep, mask.hidden], 1)
    assert torch.equal(torch.sort(both, 1).values, torch.arange(n).expand(b, -1))
    assert torch.equal(torch.gather(both, 1, mask.restore), torch.arange(n).expand(b, -1))
    assert mask.bool.gather(1, mask.hidden).all() and not mask.bool.gather(1, mask.keep).any()


# ---------------------------------------------------------------- every masker of this issue
@pytest.mark.parametrize("name", MINE)
@pytest.mark.parametrize("ratio", [0.4, 0.75, 0.9])
def test_exact_count_and_contract(name, ratio):
    mask = draw(name, ratio=ratio)
    if name == "grid":  # the lattice sets its own count: N - prod(floor(14/s))
        expected = N - math.prod(14 // s for s in GridMasker(ratio).strides(2))
    else:
        expected = N - max(1, round(N * (1 - ratio)))
    assert (mask.bool.sum(1) == expected).all()
    check_contract(mask, N)


@pytest.mark.parametrize("name", MINE)
def test_same_seed_same_masks_other_seed_other_masks(name):
    a, b, c = draw(name, seed=3), draw(name, seed=3), draw(name, seed=4)
    assert torch.equal(a.bool, b.bool) and torch.equal(a.keep, b.keep)
    assert not torch.equal(a.bool, c.bool)


def test_every_registered_masker_declares_an_example():
    """Each masker's example is what `anymae masks` draws: every variant must give whole masks on its grid.
    A masker that keeps the default example must be what the default stands for: a plain 2-D grid, no
    scores, no required arguments (else it has to declare its own)."""
    import re
    from anymae.masking.base import Masker
    from anymae.viz.masks import gallery_rows, shapes_image
    image = shapes_image(56)
    for name, cls in MASKERS.items():
        example = cls.example((14, 14))
        assert tuple(example.grid[-2:]) == (14, 14), name
        assert example.variants, name
        if cls.example.__func__ is Masker.example.__func__:
            assert len(example.grid) == 2 and not cls().reads_scores, f"{name} needs an example() of its own"
        rows = gallery_rows([name], image, samples=2, progress=False)
        assert len(rows) == len(example.variants), name
        for row in rows:
            hidden, total = map(int, re.search(r"hidden (\d+)/(\d+)", row.title).groups())
            assert total == math.prod(example.grid) and hidden < total, (name, row.title)
            assert hidden > 0 or cls.corrupts_input, (name, row.title)  # frequency maskers hide a band instead
            assert len(row.tiles) == 2 and all(tile.std() > 0 for tile in row.tiles), name


# ---------------------------------------------------------------- random (MAE row 0)
def hidden_counts(masker, draws: int, batch: int = 500) -> torch.Tensor:
    g, counts = gen(7), torch.zeros(N)
    for _ in range(draws // batch):
        counts += masker.sample(batch, GRID, g).bool.sum(0).float()
    return counts


def uniformity_p_value(counts: torch.Tensor, draws: int, p: float) -> float:
    """Chi-square of per-position hidden counts against draws*p (binomial variance), N-1 dof."""
    expected = draws * p
    stat = float(((counts - expected) ** 2 / (expected * (1 - p))).sum())
    return float(chi2.sf(stat, df=len(counts) - 1))


def test_random_masks_are_uniform_over_positions_chi_square():
    draws = 5000
    counts = hidden_counts(RandomMasker(0.75), draws)
    assert uniformity_p_value(counts, draws, 147 / N) > 1e-3

    class Skewed(RandomMasker):  # a masker that prefers late positions a little: the test must see it
        def sample(self, batch_size, grid, generator=None, device="cpu"):
            noise = torch.rand(batch_size, N, generator=generator) + 0.15 * torch.arange(N) / N
            return super().sample(batch_size, grid, generator, device, noise=noise)

    assert uniformity_p_value(hidden_counts(Skewed(0.75), draws), draws, 147 / N) < 1e-6


# ---------------------------------------------------------------- block (BEiT block-wise)
def test_block_rectangles_within_bounds_and_make_the_hidden_set():
    min_area, aspect = 16, 0.3
    grid, num_hidden = GRID, 147
    out = draw_blocks(64, grid, num_hidden, min_area=min_area, aspect=aspect, generator=gen(1))
    hidden = out.rank < num_hidden
    assert (hidden.sum(1) == num_hidden).all()
    top, left, h, w = out.rects.unbind(-1)
    ok = out.accepted
    area, ratio = (h * w)[ok], (h.double() / w.double())[ok]
    assert (area >= min_area).all() and (area <= num_hidden).all()
    assert (ratio >= aspect - 1e-9).all() and (ratio <= 1 / aspect + 1e-9).all()
    assert ((top + h) <= grid[0])[ok].all() and ((left + w) <= grid[1])[ok].all() and (top >= 0).all()
    rows = torch.arange(grid[0])
    cols = torch.arange(grid[1])
    for b in range(64):
        idx = ok[b].nonzero().flatten()
        union = torch.zeros(grid, dtype=torch.bool)
        for k, t in enumerate(idx.tolist()):
            r0, c0, hh, ww = out.rects[b, t].tolist()
            rect = ((rows >= r0) & (rows < r0 + hh))[:, None] & ((cols >= c0) & (cols < c0 + ww))[None, :]
            union |= rect
            if k < len(idx) - 1:  # every rectangle but the one that reached the count is hidden whole
                assert hidden[b].reshape(grid)[rect].all()
        assert not (hidden[b].reshape(grid) & ~union).any()  # no hidden token outside the rectangles


def explained_by_rectangles(hidden: torch.Tensor, grid, min_area, max_area, aspect) -> torch.Tensor:
    """hidden [B,N] -> [B,N] True where a token lies in some fully hidden rectangle within the bounds."""
    x = hidden.reshape(-1, 1, *grid).float()
    covered = torch.zeros_like(x)
    for h, w in valid_shapes(grid, min_area, max_area, aspect).tolist():
        kernel = torch.ones(1, 1, h, w)
        full = (F.conv2d(x, kernel) == h * w).float()
        covered += F.conv_transpose2d(full, kernel)
    return (covered > 0).flatten(1) & hidden


def test_block_masker_bank_masks_are_rectangles_after_flips():
    masker = BlockMasker(0.75, bank=256)
    mask = masker.sample(256, GRID, gen(2))
    assert (mask.bool.sum(1) == 147).all()
    explained = explained_by_rectangles(mask.bool, GRID, 16, 147, 0.3)
    unexplained = (mask.bool & ~explained).sum(1)
    assert int(unexplained.max()) <= 147 - 16  # at most the cut part of the last rectangle
    assert float(explained.sum() / mask.bool.sum()) > 0.95
    # a control: random masks are not made of such rectangles
    rand = RandomMasker(0.4).sample(64, GRID, gen(2)).bool
    assert float(explained_by_rectangles(rand, GRID, 16, 147, 0.3).sum() / rand.sum()) < 0.5


def test_block_simmim_style_squares():
    mask = BlockMasker(0.5, min_area=4, max_area=4, aspect=1.0, bank=0).sample(16, GRID, gen(0))
    assert (mask.bool.sum(1) == 98).all()
    explained = explained_by_rectangles(mask.bool, GRID, 4, 4, 1.0)
    assert int((mask.bool & ~explained).sum(1).max()) <= 3


def test_block_masker_rejects_impossible_bounds():
    with pytest.raises(ValueError, match="no rectangle"):
        BlockMasker(0.75, min_area=9, aspect=1.0, bank=0).sample(2, (2, 8), gen(0))  # no 3x3 fits 2 rows
    with pytest.raises(ValueError, match="2-D"):
        BlockMasker(0.75).sample(2, (2, 8, 8), gen(0))


# ---------------------------------------------------------------- grid
@pytest.mark.parametrize("grid,stride", [((14, 14), None), ((15, 13), 2), ((4, 6, 6), 2), ((12, 12), 3)])
def test_grid_keeps_a_regular_lattice(grid, stride):
    mask = GridMasker(0.75, stride=stride).sample(32, grid, gen(0))
    s = stride or 2
    points = [g // s for g in grid]
    kept = ~mask.bool
    assert (kept.sum(1) == math.prod(points)).all()
    coords = torch.stack(torch.unravel_index(torch.arange(math.prod(grid)), grid), -1)  # [N,d]
    offsets = set()
    for b in range(32):
        c = coords[kept[b]]
        origin = c.min(0).values
        offsets.add(tuple(origin.tolist()))
        expected = torch.stack(torch.meshgrid(*[origin[d] + s * torch.arange(k) for d, k in enumerate(points)],
                                              indexing="ij"), -1).reshape(-1, len(grid))
        assert torch.equal(torch.sort(c @ torch.tensor([10_000, 100, 1][-len(grid):])).values,
                           torch.sort(expected @ torch.tensor([10_000, 100, 1][-len(grid):])).values)
    assert len(offsets) > 1  # the lattice's offset is random


# ---------------------------------------------------------------- noise (ColorMAE row 4)
def spectrum(name: str, **kwargs):
    mask = make_masker(name, 0.75, **kwargs).sample(1024, GRID, gen(5))
    return spectrum_summary(*radial_power(mask.bool.reshape(-1, *GRID).float()))


def test_noise_mask_spectra_low_high_band_pass_and_band_stop():
    white = spectrum("random")
    assert max(white.values()) / min(white.values()) < 1.1  # random masks: flat
    red, blue = spectrum("noise", color="red"), spectrum("noise", color="blue")
    green, purple = spectrum("noise", color="green"), spectrum("noise", color="purple")
    assert red["low"] > 10 * red["high"] and red["low"] > 5 * white["low"]          # low-pass
    assert blue["high"] > 1.8 * blue["low"] and blue["low"] < 0.7 * white["low"]   # high-pass
    assert green["mid"] > 2 * green["low"] and green["mid"] > 4 * green["high"]    # band-pass
    assert purple["mid"] < 0.75 * purple["low"] and purple["mid"] < 0.75 * purple["high"]  # band-stop


def test_noise_bank_is_made_once_and_reused():
    masker = NoiseMasker(0.75, color="green")
    masker.sample(4, GRID, gen(0))
    bank = masker.maps(14, "cpu")
    masker.sample(4, GRID, gen(1))
    assert masker.maps(14, "cpu") is bank and len(masker._maps) == 1
    with pytest.raises(ValueError, match="color"):
        NoiseMasker(0.75, color="pink")


# ---------------------------------------------------------------- hard_patch (HPM row 24)
def test_hpm_schedule_moves_from_random_to_score_driven():
    masker = HardPatchMasker(0.75, hard_start=0.0, hard_end=0.5)
    scores = torch.rand(64, N, generator=gen(9))
    masker.set_progress(0.0)
    assert masker.hard_fraction() == 0.0
    a = masker.sample(64, GRID, gen(1), scores=scores)
    b = masker.sample(64, GRID, gen(1), scores=torch.rand(64, N, generator=gen(10)))
    assert torch.equal(a.bool, b.bool)  # at the start the scores play no part: random masking
    masker.set_progress(0.5)
    assert masker.hard_fraction() == pytest.approx(0.25)
    mean_hidden_score = []
    for p in (0.0, 0.5, 1.0):
        masker.set_progress(p)
        m = masker.sample(64, GRID, gen(2), scores=scores)
        mean_hidden_score.append(float((scores * m.bool).sum() / m.bool.sum()))
    assert mean_hidden_score[0] < mean_hidden_score[1] < mean_hidden_score[2]
    # end of schedule: the int(147 * 0.5) = 73 highest-scoring tokens are always hidden, the rest at random
    top = torch.topk(scores, 73, dim=1).indices
    assert m.bool.gather(1, top).all()
    assert not m.bool.gather(1, torch.topk(scores, 147, dim=1).indices).all()


def test_hpm_hides_the_top_predicted_loss_tokens_at_the_end():
    masker = HardPatchMasker(0.75, hard_end=1.0)
    masker.set_progress(1.0)
    scores = torch.rand(32, N, generator=gen(3))
    mask = masker.sample(32, GRID, gen(0), scores=scores)
    top = torch.zeros_like(mask.bool).scatter_(1, torch.topk(scores, 147, dim=1).indices, True)
    assert torch.equal(mask.bool, top)
    with pytest.raises(ValueError, match="scores"):
        masker.sample(2, GRID, gen(0))


def test_relative_loss_is_hpm_pairwise_bce_and_learns_the_order():
    pred = torch.tensor([[0.0, 1.0, -1.0]])
    target = torch.tensor([[1.0, 2.0, 2.0]])
    # ordered pairs with different targets: (0,1), (0,2) label 1; (1,0), (2,0) label 0
    logit = lambda i, j: pred[0, j] - pred[0, i]  # noqa: E731
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    manual = (bce(logit(0, 1), torch.tensor(1.)) + bce(logit(0, 2), torch.tensor(1.)) +
              bce(logit(1, 0), torch.tensor(0.)) + bce(logit(2, 0), torch.tensor(0.))) / 4
    assert float(relative_loss(pred, target)) == pytest.approx(float(manual), rel=1e-6)
    # a linear head fitted with the relative objective recovers the order of the losses
    g = gen(0)
    feats = torch.randn(8, 40, 5, generator=g)
    losses = (feats @ torch.tensor([1.0, -2.0, 0.5, 0.0, 3.0])).exp()  # any monotone map: order is all that counts
    head = torch.nn.Linear(5, 1)
    opt = torch.optim.Adam(head.parameters(), lr=0.05)
    for _ in range(150):
        opt.zero_grad()
        relative_loss(head(feats).squeeze(-1), losses).backward()
        opt.step()
    pred = head(feats).squeeze(-1).detach()
    agree = ((pred[:, :, None] > pred[:, None, :]) == (losses[:, :, None] > losses[:, None, :])).float().mean()
    assert float(agree) > 0.95


def tiny_model():
    torch.manual_seed(0)
    return anymae.create("mae_vit_tiny", image_size=16, patch_size=4, depth=1, dim=32, heads=2, decoder_dim=32,
                         decoder_depth=1, decoder_heads=2)


def test_hpm_head_is_an_aux_term_and_the_masker_reads_its_scores():
    model = tiny_model()
    model.set_masker(HardPatchMasker(0.75))
    assert isinstance(model.aux[0], LossPredictor)
    model.set_masker(HardPatchMasker(0.5))  # a second install adds no second head
    assert len(model.aux) == 1
    x = torch.randn(4, 3, 16, 16)
    tokens = model.tokenizer(x)
    scores = model.masker.scorer(model, tokens)
    assert scores.shape == (4, 16)
    model.masker.set_progress(1.0)
    out = model(x, generator=gen(0))
    assert "loss_prediction" in out.terms and (out.mask.bool.sum(1) == 8).all()
    with torch.no_grad():
        expected = model.masker.sample(4, (4, 4), gen(0), scores=model.masker.scorer(model, tokens))
    assert torch.equal(out.mask.bool, expected.bool)  # the mask is driven by the head's scores
    out.loss.backward()
    assert model.aux[0].pred.weight.grad.abs().sum() > 0
    assert model.encoder.blocks[0].attn.qkv.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="LossPredictor"):
        tiny_model_without_head = tiny_model()
        HardPatchMasker().scorer(tiny_model_without_head, tokens)


# ---------------------------------------------------------------- guided (rows 20, 46, 23)
def test_guided_hides_or_keeps_the_top_scores():
    scores = torch.rand(16, N, generator=gen(4))
    top147 = torch.zeros(16, N, dtype=torch.bool).scatter_(1, torch.topk(scores, 147, 1).indices, True)
    assert torch.equal(GuidedMasker(0.75).sample(16, GRID, gen(0), scores=scores).bool, top147)
    top49 = torch.zeros(16, N, dtype=torch.bool).scatter_(1, torch.topk(scores, 49, 1).indices, True)
    assert torch.equal(~GuidedMasker(0.75, keep_top=True).sample(16, GRID, gen(0), scores=scores).bool, top49)


def test_guided_breaks_ties_at_random():
    # 100 tokens score 2 (all hidden), 96 tie at 1: 47 of them hidden, each equally likely
    scores = torch.ones(N)
    scores[:100] = 2.0
    masker = GuidedMasker(0.75)
    counts = torch.zeros(N)
    draws = 4000
    for seed in range(draws // 500):
        mask = masker.sample(500, GRID, gen(seed), scores=scores.expand(500, -1))
        assert mask.bool[:, :100].all()
        counts += mask.bool.sum(0).float()
    tied = counts[100:]
    assert uniformity_p_value(tied, draws, 47 / 96) > 1e-3
    assert tied.min() > 0.4 * draws  # every tied token gets its turn (expected share 0.49)
    with pytest.raises(ValueError, match="scores"):
        masker.sample(2, GRID, gen(0))


def test_guided_reads_model_side_scores():
    model = tiny_model()
    model.set_masker(GuidedMasker(0.5, source="extra:saliency"))
    x = torch.randn(2, 3, 16, 16)
    with pytest.raises(ValueError, match="saliency"):
        model(x, generator=gen(0))
    model.set_masker(GuidedMasker(0.5))  # contrast: the flattest patches stay visible
    tokens = model.tokenizer(x)
    mask = model.draw_mask(tokens, gen(0))
    contrast = tokens.values.std(-1)
    assert (contrast.gather(1, mask.hidden).min(1).values >= contrast.gather(1, mask.keep).max(1).values).all()


# ---------------------------------------------------------------- mask-ratio schedules (LMD row 31)
def test_ratio_schedules():
    assert make_schedule("constant", None, 0.75)(0.3) == 0.75
    lin, cos = make_schedule("linear", 0.5, 0.75), make_schedule("cosine", 0.5, 0.75)
    assert (lin(0), lin(0.5), lin(1)) == pytest.approx((0.5, 0.625, 0.75))
    assert (cos(0), cos(0.5), cos(1)) == pytest.approx((0.5, 0.625, 0.75)) and cos(0.1) < lin(0.1)
    prog = make_schedule("progressive", 0.15, 0.75, stages=4)
    values = [prog(p) for p in (0.0, 0.2, 0.3, 0.55, 0.8, 1.0)]
    assert values == pytest.approx([0.15, 0.15, 0.35, 0.55, 0.75, 0.75])
    with pytest.raises(ValueError):
        make_schedule("exp", 0.5, 0.75)
    with pytest.raises(ValueError):
        make_schedule("linear", 0.0, 0.75)


@pytest.mark.parametrize("name", ["random", "block", "noise", "guided"])
def test_any_masker_takes_a_schedule(name):
    masker = make_masker(name, 0.75, schedule="linear", ratio_start=0.5)
    masker.set_progress(0.0)
    kw = {"scores": torch.rand(4, N)} if name == "guided" else {}
    assert (masker.sample(4, GRID, gen(0), **kw).bool.sum(1) == 98).all()
    masker.set_progress(1.0)
    assert (masker.sample(4, GRID, gen(0), **kw).bool.sum(1) == 147).all()


def test_trainer_tells_the_masker_its_progress():
    from anymae.train.config import PretrainConfig
    from anymae.train.module import PretrainModule
    model = tiny_model()
    model.set_masker(make_masker("random", 0.75, schedule="linear", ratio_start=0.25))
    module = PretrainModule(model, PretrainConfig(), steps_total=100, lr=1e-3)
    module._trainer = SimpleNamespace(global_step=50)
    module.on_train_batch_start(None, 0)
    assert model.masker.progress == 0.5 and model.masker.ratio == pytest.approx(0.5)


# ---------------------------------------------------------------- command line
def run_cli(*args, cwd, capsys=None):
    """`anymae ARGS` in this process (from `cwd`) -> (exit code, stderr)."""
    import os
    from anymae.cli import main
    here = os.getcwd()
    os.chdir(cwd)
    try:
        code = main(list(args))
    finally:
        os.chdir(here)
    return SimpleNamespace(returncode=code, stderr=capsys.readouterr().err if capsys else "")


def test_pretrain_with_green_noise_masker_end_to_end(tmp_path, capsys):
    out = tmp_path / "run"
    result = run_cli("pretrain", "--masker", "noise", "--masker-arg", "color=green", "--epochs", "1",
                     "--batch-size", "32", "--image-size", "16", "--arg", "depth=1", "--arg", "dim=32",
                     "--arg", "heads=2", "--arg", "decoder_dim=32", "--arg", "decoder_depth=1",
                     "--arg", "decoder_heads=2", "--out", str(out), cwd=tmp_path, capsys=capsys)
    assert result.returncode == 0, result.stderr[-2000:]
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["masker"] == "noise" and config["masker_args"] == {"color": "green"}
    assert config["summary"]["steps"] > 0
    from anymae.io.checkpoint import load_run
    model, _ = load_run(out)
    assert isinstance(model.masker, NoiseMasker) and model.masker.color == "green"


def test_pretrain_rejects_bad_masker_args(tmp_path, capsys):
    result = run_cli("pretrain", "--masker", "noise", "--masker-arg", "color=pink", "--print-config", cwd=tmp_path,
                     capsys=capsys)
    assert result.returncode == 2 and "color" in result.stderr
    result = run_cli("pretrain", "--masker-arg", "color=green", "--print-config", cwd=tmp_path, capsys=capsys)
    assert result.returncode == 2 and "--masker" in result.stderr


def test_masks_gallery_draws_every_registered_masker(tmp_path, capsys):
    from PIL import Image
    from anymae.viz.masks import gallery_rows, shapes_image
    image = shapes_image(112)
    rows = gallery_rows(sorted(MASKERS), image, samples=2, spatial=(7, 7), spectrum_draws=64, progress=False)
    variants = sum(len(MASKERS[n].example((7, 7)).variants) for n in MASKERS)
    assert len(rows) == variants
    assert all(len(r.tiles) == 2 for r in rows)
    assert sum(r.spectrum is not None for r in rows) == 4  # the four noise colours
    result = run_cli("masks", "--masker", "noise", "--masker", "grid", "--samples", "2", "--out",
                     str(tmp_path / "g.png"), cwd=tmp_path, capsys=capsys)
    assert result.returncode == 0, result.stderr[-2000:]
    with Image.open(tmp_path / "g.png") as img:
        assert img.width > 500 and img.height > 4 * 150


def test_pretrain_with_hard_patch_saves_and_reloads_its_head(tmp_path):
    from anymae.io.checkpoint import load_run
    from anymae.train.config import PretrainConfig
    from anymae.train.run import pretrain
    config = PretrainConfig(epochs=1, batch_size=64, masker="hard_patch", masker_args={"hard_start": 0.5},
                            recipe_args={"image_size": 16, "depth": 1, "dim": 32, "heads": 2, "decoder_dim": 32,
                                         "decoder_depth": 1, "decoder_heads": 2})
    run = pretrain(config, tmp_path / "hpm", progress=False)
    metrics = (run / "metrics.csv").read_text().splitlines()
    assert "loss_prediction" in metrics[0] and len(metrics) > 1
    model, raw = load_run(run)
    assert raw["masker"] == "hard_patch" and isinstance(model.masker, HardPatchMasker)
    assert model.masker.hard_start == 0.5 and any(isinstance(part, LossPredictor) for part in model.aux)


def test_gallery_and_benchmark_take_any_masker_that_declares_its_example(monkeypatch):
    """Maskers of other grids (time x space) and input-corrupting maskers are drawn and timed through
    `example()` alone, as the video / channel / frequency maskers will be."""
    from anymae.masking import Masker, MaskerExample
    from anymae.viz.masks import gallery_rows, shapes_image

    class TimeSpaceProbe(Masker):
        ratio = 0.5

        @classmethod
        def example(cls, spatial=(14, 14)):
            return MaskerExample(grid=(3, *spatial), group=torch.arange(3).repeat_interleave(math.prod(spatial)))

        def sample(self, batch_size, grid, generator=None, device="cpu"):
            return RandomMasker(0.5).sample(batch_size, grid, generator, device)

    class CorruptProbe(Masker):
        ratio = 0.5
        corrupts_input = True

        def corrupt(self, x, generator=None):
            n = (x.shape[-2] // 16) * (x.shape[-1] // 16)
            everything = torch.arange(n).expand(x.shape[0], -1)
            return 1.0 - x, Mask.from_order(everything, n)

    monkeypatch.setitem(MASKERS, "_time_space_probe", TimeSpaceProbe)
    monkeypatch.setitem(MASKERS, "_corrupt_probe", CorruptProbe)
    image = shapes_image(112)
    rows = gallery_rows(["_time_space_probe", "_corrupt_probe"], image, samples=2, spatial=(7, 7), progress=False)
    assert rows[0].tiles[0].shape[1] > 3 * rows[0].tiles[0].shape[0]  # three time slots side by side
    assert rows[1].tiles[0] == pytest.approx(1.0 - image.permute(1, 2, 0).numpy(), abs=1e-5)  # corrupted image
    from conftest import benchmark_module
    bench = benchmark_module("maskers")
    for name in ("_time_space_probe", "_corrupt_probe"):
        _, call = bench.example_inputs(name, 4, (7, 7), {}, gen(0))
        mask = call() if name != "_corrupt_probe" else call()[1]
        assert mask.bool.shape == (4, 147 if name == "_time_space_probe" else 49)
