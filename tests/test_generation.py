"""Masked generation I: the QLAE tokenizer (row 52), the MaskGIT-style generator, its samplers (maskgit, enat
row 47, recap row 21, joint row 49), the score, and `anymae pretrain` / `anymae generate` at tiny sizes."""
from __future__ import annotations

import json
import math

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from anymae.cli import main
from anymae.generate import MaskedTokenGenerator, masked_counts
from anymae.generate.samplers import sample
from anymae.generate.samplers.joint import JointSamplerLayer, train_joint_layer
from anymae.tokenizers.qlae import QuantizedAutoencoder
from anymae.tokenizers.quantize import FiniteScalarQuantizer, LatentQuantizer, codebook_use
from anymae.eval.generation import frechet_distance, precision_recall

torch.set_num_threads(1)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def tokenizer():
    torch.manual_seed(0)
    return QuantizedAutoencoder(image_size=8, channels=1, width=8, dims=3, levels=5, downsample=2).eval()


@pytest.fixture(scope="module")
def maskgit(tokenizer):
    torch.manual_seed(1)
    return MaskedTokenGenerator(tokenizer, dim=16, depth=2, heads=2, num_classes=3).eval()


@pytest.fixture(scope="module")
def enat(tokenizer):
    torch.manual_seed(2)
    return MaskedTokenGenerator(tokenizer, dim=16, depth=1, heads=2, enc_depth=2, num_classes=3).eval()


# ---------------------------------------------------------------- tokenizer (QLAE, row 52)
def test_quantized_latents_take_only_codebook_values_and_the_codebook_learns():
    q = LatentQuantizer(dims=3, levels=4)
    with torch.no_grad():
        q.codebook.add_(torch.randn(3, 4) * 0.1)   # learnable: no longer the even grid
    z = torch.randn(50, 3, requires_grad=True)
    out, codes, losses = q(z)
    for d in range(3):
        assert torch.isin(out[:, d].detach(), q.codebook[d].detach()).all()
    assert torch.equal(out.detach(), q.lookup(codes))
    (out.sum() + sum(losses.values())).backward()
    assert torch.equal(z.grad.abs() > 0, torch.ones_like(z, dtype=torch.bool))   # straight-through to the encoder
    assert q.codebook.grad is not None and q.codebook.grad.abs().sum() > 0        # the quantization loss moves values


def test_fsq_option_rounds_onto_a_fixed_grid():
    q = FiniteScalarQuantizer(dims=2, levels=5)
    out, codes, losses = q(torch.randn(100, 2) * 3)
    assert losses == {} and not list(q.parameters())
    assert torch.isin(out, torch.linspace(-1, 1, 5)).all() and codes.min() >= 0 and codes.max() <= 4


def test_codebook_use_reports_a_collapse():
    full = codebook_use(torch.arange(8).repeat(10).reshape(-1, 1).repeat(1, 2), levels=8)
    collapsed = codebook_use(torch.zeros(80, 2, dtype=torch.long), levels=8)
    assert full["values_used"] == 1.0 and math.isclose(full["entropy_bits"], 3.0, rel_tol=1e-6)
    assert collapsed["values_used"] == 1 / 8 and collapsed["entropy_bits"] == 0.0


def test_tokenizer_round_trip_shapes(tokenizer):
    x = torch.rand(2, 1, 8, 8) * 2 - 1
    codes = tokenizer.encode(x)
    assert codes.shape == (2, 16, 3) and codes.dtype == torch.long and codes.max() < 5
    assert tokenizer.decode(codes).shape == x.shape
    out = tokenizer(x)
    assert set(out.terms) == {"reconstruction", "quantize", "commit"}


# ---------------------------------------------------------------- generator
def test_generator_loss_counts_hidden_tokens_only(maskgit):
    codes = torch.randint(0, 5, (4, 16, 3), generator=gen(0))
    grads = {}

    def keep_grad(module, inputs, output):
        output.register_hook(lambda g: grads.setdefault("g", g))

    handle = maskgit.head.register_forward_hook(keep_grad)
    try:
        out = maskgit.loss_on_codes(codes, torch.tensor([0, 1, 2, -1]), gen(1))
        out.loss.backward()
    finally:
        handle.remove()
        maskgit.zero_grad(set_to_none=True)
    per_position = grads["g"].abs().sum(-1)          # [B,N]
    assert (per_position[~out.hidden] == 0).all() and (per_position[out.hidden] > 0).all()
    want = torch.nn.functional.cross_entropy(out.logits[out.hidden].reshape(-1, 5), codes[out.hidden].reshape(-1))
    assert torch.allclose(out.loss, want)


def test_joint_head_predicts_whole_product_codes_and_decodes_like_the_tokenizer(tokenizer):
    """`head="joint"`: a position's D codes of V values are one of V^D classes; joining and splitting are exact
    inverses, the loss is one cross-entropy a hidden position over V^D logits, and samples decode through the
    same tokenizer."""
    torch.manual_seed(3)
    joint = MaskedTokenGenerator(tokenizer, dim=16, depth=2, heads=2, num_classes=3, head="joint").eval()
    assert (joint.token_dims, joint.levels) == (1, 5 ** 3) and joint.head.out_features == 125
    codes = torch.randint(0, 5, (4, 16, 3), generator=gen(0))
    ids = joint.join_codes(codes)
    assert ids.shape == (4, 16, 1) and int(ids.max()) < 125 and torch.equal(joint.split_codes(ids), codes)
    assert len(set(joint.join_codes(torch.cartesian_prod(*[torch.arange(5)] * 3)[None]).flatten().tolist())) == 125
    x = torch.rand(4, 1, 8, 8, generator=gen(2)) * 2 - 1
    assert torch.equal(joint.tokenize(x), joint.join_codes(tokenizer.encode(x)))
    assert torch.equal(joint.decode_tokens(joint.tokenize(x)), tokenizer.decode(tokenizer.encode(x)))
    out = joint.loss_on_codes(ids, torch.tensor([0, 1, 2, -1]), gen(1))
    want = torch.nn.functional.cross_entropy(out.logits[out.hidden].reshape(-1, 125), ids[out.hidden].reshape(-1))
    assert torch.allclose(out.loss, want)
    trace = []
    images, _ = sample(joint, "maskgit", 3, torch.tensor([0, 1, 2]), steps=4, generator=gen(0), trace=trace)
    assert trace == [16 - m for m in masked_counts(16, 4)[1:]] and images.shape == (3, 1, 8, 8)
    with pytest.raises(ValueError, match="head='product'"):
        MaskedTokenGenerator(tokenizer, dim=16, depth=1, heads=2, head="product")


def test_training_mask_ratio_follows_the_cosine_schedule(maskgit):
    counts = torch.tensor([int(maskgit.draw_hidden(2, "cpu", gen(s)).sum(1)[0]) for s in range(400)]).float()
    assert counts.min() >= 1 and counts.max() <= 16
    # E[ceil(16 cos(pi u / 2))] = 16 * 2/pi + ~0.5
    assert abs(counts.mean() - (16 * 2 / math.pi + 0.5)) < 0.6


def test_schedule_counts_and_bad_steps():
    assert masked_counts(16, 4) == [16, 14, 11, 6, 0]
    assert masked_counts(16, 16) == list(range(16, -1, -1))
    with pytest.raises(ValueError, match="--steps 0"):
        masked_counts(16, 0)


def test_maskgit_reveals_exactly_the_scheduled_number_each_step(maskgit):
    trace = []
    images, cost = sample(maskgit, "maskgit", 3, torch.tensor([0, 1, 2]), steps=5, generator=gen(0), trace=trace)
    assert trace == [16 - m for m in masked_counts(16, 5)[1:]]
    assert cost == {"full_passes": 5, "cheap_passes": 0} and images.shape == (3, 1, 8, 8)
    assert images.min() >= 0 and images.max() <= 1


def test_same_seed_same_samples_and_guidance_changes_them(maskgit):
    labels = torch.tensor([0, 1, 2])
    a, _ = sample(maskgit, "maskgit", 3, labels, 4, gen(5))
    b, _ = sample(maskgit, "maskgit", 3, labels, 4, gen(5))
    c, _ = sample(maskgit, "maskgit", 3, labels, 4, gen(5), guidance=3.0)
    assert torch.equal(a, b) and not torch.equal(a, c)


def flops(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def test_enat_without_reuse_is_maskgit_and_reuse_costs_less(enat):
    labels = torch.tensor([0, 1, 2])
    a, _ = sample(enat, "maskgit", 3, labels, 6, gen(3), guidance=1.0)
    b, cost = sample(enat, "enat", 3, labels, 6, gen(3), guidance=1.0, reuse=False)
    assert torch.equal(a, b) and cost == {"full_passes": 6, "cheap_passes": 0}
    _, cost = sample(enat, "enat", 3, labels, 6, gen(3), guidance=1.0, reuse=True)
    assert cost == {"full_passes": 1, "cheap_passes": 5}
    full = flops(lambda: sample(enat, "enat", 3, labels, 6, gen(3), reuse=False))
    reused = flops(lambda: sample(enat, "enat", 3, labels, 6, gen(3), reuse=True))
    assert reused < full


def test_recap_every_step_full_is_maskgit_and_cheap_steps_cost_less(maskgit):
    labels = torch.tensor([0, 1, 2])
    a, _ = sample(maskgit, "maskgit", 3, labels, 6, gen(4))
    b, _ = sample(maskgit, "recap", 3, labels, 6, gen(4), full_every=1)
    assert torch.equal(a, b)
    _, cost = sample(maskgit, "recap", 3, labels, 6, gen(4), full_every=3)
    assert cost == {"full_passes": 2, "cheap_passes": 4}
    assert flops(lambda: sample(maskgit, "recap", 3, labels, 6, gen(4), full_every=3)) < \
        flops(lambda: sample(maskgit, "maskgit", 3, labels, 6, gen(4)))


def test_recap_and_enat_refuse_the_other_architecture(maskgit, enat):
    with pytest.raises(ValueError, match="enat_tiny"):
        sample(maskgit, "enat", 2, None, 4, gen(0))
    with pytest.raises(ValueError, match="--sampler enat"):
        sample(enat, "recap", 2, None, 4, gen(0))


def test_joint_with_one_token_per_pass_is_sequential_sampling(maskgit):
    labels = torch.tensor([0, 1, 2])
    a, _ = sample(maskgit, "maskgit", 3, labels, 16, gen(6), guidance=1.0)
    b, cost = sample(maskgit, "joint", 3, labels, 16, gen(6), guidance=1.0, tokens_per_pass=1)
    assert torch.equal(a, b) and cost == {"full_passes": 16, "cheap_passes": 0}


def test_joint_layer_starts_as_the_marginals_and_learns_the_conditionals(maskgit):
    labels = torch.tensor([0, 1, 2])
    layer = JointSamplerLayer(maskgit).eval()
    a, cost = sample(maskgit, "joint", 3, labels, 4, gen(7), layer=layer)
    b, _ = sample(maskgit, "joint", 3, labels, 4, gen(7), use_layer=False)
    assert torch.equal(a, b) and cost == {"full_passes": 4, "cheap_passes": 12}
    codes = torch.randint(0, 5, (64, 16, 3), generator=gen(8))
    losses = []
    train_joint_layer(maskgit, codes, torch.randint(0, 3, (64,), generator=gen(9)), steps=40, batch_size=16,
                      tokens_per_pass=4, lr=3e-3, progress=lambda s, loss: losses.append(loss))
    assert sum(losses[-10:]) / 10 < sum(losses[:10]) / 10


def test_sampling_bad_input(maskgit):
    with pytest.raises(ValueError, match="--class 3"):
        sample(maskgit, "maskgit", 1, torch.tensor([3]), 4, gen(0))
    with pytest.raises(ValueError, match="--steps 0"):
        sample(maskgit, "maskgit", 1, None, 0, gen(0))
    with pytest.raises(ValueError, match="unknown sampler"):
        sample(maskgit, "nope", 1, None, 4, gen(0))


# ---------------------------------------------------------------- score
def test_score_metrics_tell_same_from_different():
    a = torch.randn(200, 8, generator=gen(0))
    b = torch.randn(200, 8, generator=gen(1))
    assert frechet_distance(a, b) < 1.0 < frechet_distance(a, b + 3)
    p, r = precision_recall(a, b)
    assert p > 0.8 and r > 0.8
    assert precision_recall(a, b + 10) == (0.0, 0.0)


# ---------------------------------------------------------------- the commands
TINY_TOK = ["--arg", "width=8", "--arg", "dims=3", "--arg", "levels=5", "--arg", "downsample=2"]
TINY_GEN = ["--arg", "dim=16", "--arg", "depth=1", "--arg", "heads=2"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("gen")
    tok, gen_run = root / "tok", root / "gen"
    assert main(["pretrain", "--recipe", "qlae_tiny", "--data", "digits", "--image-size", "8", *TINY_TOK,
                 "--steps", "3", "--batch-size", "16", "--out", str(tok)]) == 0
    assert main(["pretrain", "--recipe", "maskgit_tiny", "--tokenizer", str(tok), "--data", "digits", *TINY_GEN,
                 "--steps", "3", "--batch-size", "16", "--out", str(gen_run)]) == 0
    return tok, gen_run


def test_pretrain_writes_tokenizer_and_generator_runs(runs):
    tok, gen_run = runs
    report = json.loads((tok / "codebook.json").read_text())
    assert {"test_mse_01", "values_used", "entropy_bits", "codes_used", "collapsed"} <= set(report)
    assert (tok / "reconstructions.png").exists() and (gen_run / "samples.png").exists()
    assert (gen_run / "metrics.csv").read_text().startswith("step,loss,lr,cross_entropy")


def test_generate_writes_a_grid_and_a_score(runs, tmp_path, capsys):
    _, gen_run = runs
    out = tmp_path / "s.png"
    assert main(["generate", str(gen_run), "--n", "20", "--steps", "4", "--out", str(out), "--score",
                 "--score-samplers", "maskgit,recap", "--score-steps", "2", "--score-count", "40",
                 "--classifier-steps", "5"]) == 0
    assert out.exists()
    text = capsys.readouterr().out
    assert "NOT Inception FID" in text and "real test vs train (floor)" in text
    rows = json.loads((gen_run / "generate.json").read_text())["rows"]
    names = [r["row"] for r in rows]
    assert names[:3] == ["real test vs train (floor)", "tokenizer reconstructions (ceiling)",
                         "per-class Gaussian (pixels)"]
    assert {"maskgit S=2", "recap S=2"} <= set(names)


@pytest.mark.parametrize("argv, message", [
    (["--class", "10"], "--class 10: out of range"),
    (["--steps", "0"], "--steps 0"),
    (["--sampler", "enat"], "enat_tiny"),
])
def test_generate_bad_input_is_one_clear_line(runs, tmp_path, capsys, argv, message):
    _, gen_run = runs
    assert main(["generate", str(gen_run), "--n", "2", "--out", str(tmp_path / "x.png"), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_generator_needs_a_tokenizer_run(runs, tmp_path, capsys):
    tok, gen_run = runs
    cases = [([], "pass --tokenizer RUN"), (["--tokenizer", str(tmp_path / "none")], "not an anymae run folder"),
             (["--tokenizer", str(gen_run)], "is not a tokenizer")]
    for extra, message in cases:
        assert main(["pretrain", "--recipe", "maskgit_tiny", "--data", "digits", *extra, "--steps", "1",
                     "--out", str(tmp_path / "g")]) == 2
        assert message in capsys.readouterr().err
    assert main(["pretrain", "--recipe", "maskgit_tiny", "--data", "shapes", "--tokenizer", str(tok), "--steps", "1",
                 "--out", str(tmp_path / "g")]) == 2
    assert "1-channel images" in capsys.readouterr().err
    assert main(["generate", str(tok), "--out", str(tmp_path / "y.png")]) == 2
    assert "is not a generator" in capsys.readouterr().err


def test_interrupted_generator_run_resumes_to_the_same_weights(runs, tmp_path, monkeypatch, capsys):
    from anymae.io.checkpoint import load_weights
    tok, _ = runs
    argv = ["pretrain", "--recipe", "maskgit_tiny", "--tokenizer", str(tok), "--data", "digits", *TINY_GEN,
            "--steps", "6", "--batch-size", "16", "--save-every-n-steps", "2"]
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert main([*argv, "--out", str(whole)]) == 0
    calls = []

    def stop_after_five(self):
        calls.append(1)
        if len(calls) == 5:   # killed during step 5: the checkpoint after step 4 survives
            raise KeyboardInterrupt
    monkeypatch.setattr(MaskedTokenGenerator, "after_step", stop_after_five)
    assert main([*argv, "--out", str(cut)]) == 130
    assert not (cut / "model.safetensors").exists() and (cut / "checkpoints" / "last.pt").exists()
    monkeypatch.undo()
    assert main(["pretrain", "--resume", str(cut), "--batch-size", "8"]) == 2
    assert "must keep it" in capsys.readouterr().err
    assert main(["pretrain", "--resume", str(cut)]) == 0
    a, b = load_weights(whole / "model.safetensors"), load_weights(cut / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert (cut / "metrics.csv").read_text().count("\n") == (whole / "metrics.csv").read_text().count("\n") == 7
    assert main(["pretrain", "--resume", str(cut)]) == 2
    assert "already finished" in capsys.readouterr().err
    assert not (cut / "checkpoints").exists() and not (whole / "checkpoints").exists()   # finished: no checkpoint


def test_a_built_in_set_renders_the_training_size_asked_and_keeps_its_test_split():
    """`--data shapes:N` (a long generator run would learn the 2,000 default shapes by heart)."""
    from anymae.data import load_dataset
    small, large = load_dataset("shapes:40", image_size=8), load_dataset("shapes:60", image_size=8)
    assert len(small) == 40 and len(large) == 60
    assert torch.equal(load_dataset("shapes:40", "test", image_size=8).images,
                       load_dataset("shapes", "test", image_size=8).images)
