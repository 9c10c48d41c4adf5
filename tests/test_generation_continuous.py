"""Masked generation II: continuous tokens (patch pixels, the KL autoencoder), MAR's per-token diffusion head
and sampler, LMD's mask-ratio schedule (row 31), Harmon's shared encoder (row 34), UMD's corruption schedule
(row 1), and `anymae pretrain` / `anymae generate` on them at tiny sizes."""
from __future__ import annotations

import math

import pytest
import torch

import anymae
from anymae.cli import main
from anymae.generate.diffusion import GaussianDiffusion
from anymae.generate.samplers import sample
from anymae.tokenizers.continuous import KLAutoencoder, PixelPatchTokenizer

torch.set_num_threads(1)
SMALL = dict(dim=16, heads=2, head_width=32, head_depth=2, num_classes=3)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def mar():
    torch.manual_seed(0)
    return anymae.create("mar_tiny", **SMALL).eval()


# ---------------------------------------------------------------- tokens
def test_pixel_patch_tokens_are_the_patches_and_invert_exactly():
    tok = PixelPatchTokenizer(image_size=8, channels=3, patch_size=4)
    x = torch.rand(2, 3, 8, 8)
    tokens = tok.encode(x)
    assert tokens.shape == (2, 4, 48)
    assert torch.equal(tokens[1, 1].reshape(4, 4, 3).permute(2, 0, 1), x[1, :, :4, 4:])   # row 0, column 1
    assert torch.equal(tok.decode(tokens), x)


def test_kl_autoencoder_tokens_are_the_posterior_mean_and_the_kl_term_is_weighted():
    torch.manual_seed(0)
    tok = KLAutoencoder(image_size=8, channels=1, width=8, dims=3, downsample=2, kl_weight=0.5)
    x = torch.rand(4, 1, 8, 8) * 2 - 1
    mean, logvar = tok.moments(x)
    assert torch.equal(tok.encode(x), mean.flatten(1, 2)) and tok.encode(x).shape == (4, 16, 3)
    out = tok(x, generator=gen(0))
    kl = 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar).sum(-1).mean()
    assert torch.allclose(out.terms["kl"], 0.5 * kl) and set(out.terms) == {"reconstruction", "kl"}
    assert tok.decode(tok.encode(x)).shape == x.shape


# ---------------------------------------------------------------- the diffusion itself
def test_diffusion_sampler_draws_a_gaussian_given_its_exact_noise_predictor():
    """For data x_0 ~ N(mu, s^2) the optimal eps is known in closed form; the respaced ancestral sampler must
    then return samples of that distribution."""
    d, mu, s = GaussianDiffusion(1000), 0.7, 0.3

    def eps(x, t):
        ab = d.alpha_bar[t].unsqueeze(-1)
        return (1 - ab).sqrt() * (x - ab.sqrt() * mu) / (ab * s * s + 1 - ab)

    x, passes = d.sample(eps, (20000, 1), 1000, gen(0))                 # every timestep: exact
    assert passes == 1000
    assert abs(float(x.mean()) - mu) < 0.01 and abs(float(x.std()) - s) < 0.01
    few, passes = d.sample(eps, (20000, 1), 50, gen(0))                 # respaced: the mean holds, a little
    assert passes == 50 and abs(float(few.mean()) - mu) < 0.01           # variance is lost (ancestral, few steps)
    assert 0.85 * s < float(few.std()) < s
    cold, _ = d.sample(eps, (20000, 1), 50, gen(0), temperature=0.0)     # no noise added: a narrower draw
    assert float(cold.std()) < 0.5 * s


# ---------------------------------------------------------------- MAR
def test_mar_diffusion_loss_is_computed_on_masked_tokens_only():
    torch.manual_seed(0)
    mar = anymae.create("mar_tiny", **SMALL).train()
    for layer in (mar.denoiser.out, mar.denoiser.final_ada[1], *(b.ada[1] for b in mar.denoiser.blocks)):
        torch.nn.init.normal_(layer.weight, std=0.1)         # adaLN-zero at init: no gradient would reach z yet
    mar.draw_ratio = lambda device, generator=None: 0.75      # 12 of 16 hidden, 4 visible
    codes = torch.randn(4, 16, 4, generator=gen(0))
    out = mar.loss_on_codes(codes, torch.tensor([0, 1, 2, -1]), gen(1))
    out.loss.backward()
    grad = mar.head_pos.grad[0].abs().sum(-1)                # added to z at every position; only hidden z is read
    hidden = out.hidden.any(0)
    assert out.hidden.sum(1).eq(12).all() and set(out.terms) == {"diffusion"}
    assert (grad[~hidden] == 0).all() and (grad[hidden] > 0).all()


def test_mar_training_ratio_is_a_truncated_normal_on_0_7_to_1(mar):
    ratios = torch.tensor([mar.draw_ratio("cpu", gen(s)) for s in range(2000)])
    assert ratios.min() >= 0.7 and ratios.max() <= 1.0
    z = torch.randn(200000, generator=gen(9)).abs() * 0.25
    want = float((1 - z[z <= 0.3]).mean())                  # N(1, 0.25) truncated to [0.7, 1]
    assert abs(float(ratios.mean()) - want) < 0.01
    counts = torch.stack([mar.draw_hidden(2, "cpu", gen(s)).sum(1) for s in range(50)])
    assert (counts[:, 0] == counts[:, 1]).all() and counts.min() >= math.ceil(0.7 * 16)


def test_mar_sampler_reveals_the_cosine_count_in_random_order_and_counts_head_passes(mar):
    trace = []
    images, cost = sample(mar, "mar", 3, torch.tensor([0, 1, 2]), steps=4, generator=gen(0), diffusion_steps=7,
                          trace=trace)
    assert trace == [2, 5, 10, 16]                          # N - masked_counts(16, 4) = 16 - [14, 11, 6, 0]
    assert cost == {"full_passes": 4, "cheap_passes": 0, "denoiser_passes": 28}
    assert images.shape == (3, 1, 8, 8) and images.min() >= 0 and images.max() <= 1
    again, _ = sample(mar, "mar", 3, torch.tensor([0, 1, 2]), steps=4, generator=gen(0), diffusion_steps=7)
    assert torch.equal(images, again)
    guided, _ = sample(mar, "mar", 3, torch.tensor([0, 1, 2]), steps=4, generator=gen(0), diffusion_steps=7,
                       guidance=2.0)
    assert guided.shape == images.shape
    from anymae.generate.samplers.mar import mar as mar_sampler
    tokens, _ = mar_sampler(mar, 3, None, 4, gen(0), diffusion_steps=7)
    low, high = mar.token_range()                            # x_0 clipped to the pixel range at every step
    assert tokens.min() >= low - 1e-5 and tokens.max() <= high + 1e-5


def test_samplers_refuse_the_other_kind_of_tokens(mar):
    with pytest.raises(ValueError, match="continuous tokens takes mar"):
        sample(mar, "maskgit", 2, None, steps=2)
    torch.manual_seed(0)
    umd = anymae.create("umd_tiny", dim=16, heads=2, num_classes=3).eval()
    with pytest.raises(ValueError, match="takes umd"):
        sample(umd, "mar", 2, None, steps=2)


# ---------------------------------------------------------------- LMD, Harmon
def test_lmd_mask_ratio_follows_its_progressive_schedule():
    torch.manual_seed(0)
    lmd = anymae.create("lmd_tiny", tokenizer_args={"image_size": 8, "channels": 1}, **SMALL)
    for progress, top in ((0.0, 0.5), (0.3, 0.5 + 0.49 / 3), (0.6, 0.5 + 2 * 0.49 / 3), (0.99, 0.99)):
        lmd.set_progress(progress)
        assert math.isclose(lmd.ratio_schedule(progress), top, rel_tol=1e-9)
        ratios = torch.tensor([lmd.draw_ratio("cpu", gen(s)) for s in range(400)])
        assert ratios.min() >= 0.1 and ratios.max() <= top
        assert abs(float(ratios.mean()) - (0.1 + top) / 2) < 0.03   # uniform on [floor, schedule(progress)]


def test_harmon_shares_the_encoder_with_an_understanding_head_that_sees_no_label():
    torch.manual_seed(0)
    harmon = anymae.create("harmon_tiny", **SMALL).train()
    codes, labels = torch.randn(6, 16, 4, generator=gen(0)), torch.tensor([0, 1, 2, 0, 1, 2])
    out = harmon.loss_on_codes(codes, labels, gen(1))
    logits = harmon.understanding(harmon.features_of(codes))
    assert torch.allclose(out.terms["understanding"], 0.5 * torch.nn.functional.cross_entropy(logits, labels))
    out.terms["understanding"].backward()
    assert harmon.enc_blocks[0].qkv.weight.grad.abs().sum() > 0          # the shared encoder learns from it
    assert harmon.class_embed.weight.grad[:3].abs().sum() == 0           # no class token in the understanding pass


# ---------------------------------------------------------------- UMD
def test_umd_schedule_has_the_noise_free_high_mask_step_and_mixed_steps():
    torch.manual_seed(0)
    umd = anymae.create("umd_tiny", dim=16, heads=2, num_classes=3)
    plan = umd.corruption(8, "cpu", gen(0))
    clean, noised = ~plan.noised, plan.noised
    assert int(clean.sum()) == 4 and int(noised.sum()) == 4                 # half the batch each (clean_share 0.5)
    assert (plan.step[clean] == 0).all() and (plan.step[noised] >= 1).all()
    assert (plan.hidden[clean].sum(1) == 12).all()                          # 0.75 of 16 tokens, no noise
    assert (plan.hidden[noised].sum(1) == 6).all()                          # 0.375 of 16, noised at t
    steps = torch.cat([umd.corruption(8, "cpu", gen(s)).step[:4] for s in range(300)]) - 1
    assert steps.min() >= 0 and steps.max() <= 999 and abs(float(steps.float().mean()) - 499.5) < 25
    out = umd.loss_on_codes(torch.randn(8, 16, 4, generator=gen(1)), torch.tensor([0, 1, 2] * 2 + [0, 1]), gen(2))
    assert set(out.terms) == {"diffusion", "mae"}


def test_umd_sampler_uses_one_full_pass_a_diffusion_step():
    torch.manual_seed(0)
    umd = anymae.create("umd_tiny", dim=16, heads=2, num_classes=3).eval()
    images, cost = sample(umd, "umd", 2, torch.tensor([0, 2]), steps=6, generator=gen(0))
    assert cost == {"full_passes": 6, "cheap_passes": 0} and images.shape == (2, 1, 8, 8)
    assert umd.features(torch.rand(2, 1, 8, 8) * 2 - 1).shape == (2, 16)


# ---------------------------------------------------------------- the commands
def test_pretrain_and_generate_continuous_runs(tmp_path, capsys):
    tiny = ["--steps", "3", "--batch-size", "16", "--arg", "dim=16", "--arg", "heads=2"]
    assert main(["pretrain", "--recipe", "mar_tiny", "--data", "digits", *tiny, "--out", str(tmp_path / "mar")]) == 0
    assert (tmp_path / "mar" / "samples.png").exists()
    assert main(["generate", str(tmp_path / "mar"), "--n", "10", "--steps", "4", "--diffusion-steps", "3",
                 "--out", str(tmp_path / "m.png")]) == 0
    assert "4 full and 0 cheap passes of the network per image, 12 passes of the diffusion head" in \
        capsys.readouterr().out
    assert main(["generate", str(tmp_path / "mar"), "--sampler", "maskgit", "--out", str(tmp_path / "x.png")]) == 2
    assert "takes mar" in capsys.readouterr().err
    assert main(["pretrain", "--recipe", "umd_tiny", "--data", "digits", *tiny, "--out", str(tmp_path / "umd")]) == 0
    assert main(["generate", str(tmp_path / "umd"), "--n", "10", "--steps", "5", "--out", str(tmp_path / "u.png")]) == 0
    assert "5 full and 0 cheap passes" in capsys.readouterr().out
    # LMD over a KL tokenizer run; a discrete tokenizer is refused with one line
    assert main(["pretrain", "--recipe", "klae_tiny", "--data", "digits", "--image-size", "8", "--steps", "3",
                 "--batch-size", "16", "--out", str(tmp_path / "kl")]) == 0
    assert (tmp_path / "kl" / "latent.json").exists()
    assert main(["pretrain", "--recipe", "lmd_tiny", "--tokenizer", str(tmp_path / "kl"), "--data", "digits", *tiny,
                 "--out", str(tmp_path / "lmd")]) == 0
    assert main(["pretrain", "--recipe", "lmd_tiny", "--data", "digits", *tiny, "--out", str(tmp_path / "no")]) == 2
    assert "--tokenizer RUN" in capsys.readouterr().err


def test_a_discrete_tokenizer_is_refused_by_a_continuous_generator():
    with pytest.raises(ValueError, match="not a continuous tokenizer"):
        anymae.create("mar_tiny", tokenizer_recipe="qlae_tiny")
