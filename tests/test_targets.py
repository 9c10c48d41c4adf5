"""Targets and teachers (issue 8): each test asserts the property the issue's table names."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import anymae
from anymae.cli import main
from anymae.decoders.mae import gather_tokens
from anymae.io.checkpoint import load_run, read_config
from anymae.spec import ModelSpec, build_model
from anymae.masking import MASKERS, DisjointMasker, FrequencyMasker
from anymae.terms import PositionPrediction
from anymae.targets import (HOGTarget, TARGETS, Teacher, attach_teachers, position_accuracy,
                            teacher_parts)
from anymae.terms.tap import attention_map
from anymae.tokenizers import PatchTokenizer, Tokens

SMALL = dict(image_size=16, patch_size=4, dim=32, depth=2, heads=2)
DEC = dict(decoder_dim=32, decoder_depth=1, decoder_heads=2)
PAPER = dict(position_task=0.0)  # a target recipe as its paper has it: no position task on top


def images(n=4, size=16, seed=0):
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def mae_teacher(seed=1, **over):
    torch.manual_seed(seed)
    return anymae.create("mae_vit_tiny", **{**SMALL, **DEC, **over})


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


# ------------------------------------------------------------------ HOG (MaskFeat)
def test_hog_target_equals_skimage_hog_on_each_patch():
    from skimage.feature import hog
    tok = PatchTokenizer(16, 8, 3, dim=8)
    x = torch.rand(2, 3, 16, 16, generator=gen(3), dtype=torch.float64)
    tokens = Tokens(values=tok.patchify(x), embed=torch.zeros(2, 4, 8), pos=torch.zeros(1, 4, 8), grid=tok.grid)
    ours = HOGTarget(cells=2, orientations=9)(x, tokens)                          # [2,4,36]
    grey = x.mean(1)                                                                 # what the target reads
    for b in range(2):
        for i, (r, c) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
            patch = grey[b, 8 * r:8 * r + 8, 8 * c:8 * c + 8].numpy()
            ref = hog(patch, orientations=9, pixels_per_cell=(4, 4), cells_per_block=(2, 2), block_norm="L2",
                      feature_vector=True)
            np.testing.assert_allclose(ours[b, i].numpy(), ref, atol=1e-6)


# ------------------------------------------------------------------ frequency (MFM, row 40)
def test_frequency_masker_zeroes_the_hidden_band_and_is_registered():
    assert MASKERS["frequency"] is FrequencyMasker
    masker = FrequencyMasker(radius=0.4, low_prob=0.5)
    masker.bind(PatchTokenizer(16, 4, 3, dim=8))
    x = images(8)
    corrupted, mask = masker.corrupt(x, gen(0))
    spectrum = torch.fft.fft2(corrupted.double(), norm="ortho")
    band = mask.band.expand_as(spectrum)
    assert float(spectrum[band].abs().max()) < 1e-5                       # hidden band: no energy left
    kept = torch.fft.fft2(x.double(), norm="ortho")
    assert torch.allclose(spectrum[~band], kept[~band], atol=1e-5)       # visible band untouched
    lows = mask.band[:, 0, 0, 0]                                           # zero frequency hidden = low-pass masking
    assert 0 < int(lows.sum()) < 8                                         # both kinds drawn
    assert mask.keep.shape == (8, 16) and torch.equal(mask.predict, mask.keep)   # encoder sees every token
    again, mask2 = masker.corrupt(x, gen(0))
    assert torch.equal(again, corrupted) and torch.equal(mask2.band, mask.band)


def test_spectrum_loss_counts_the_hidden_band_only():
    model = anymae.create("mfm_vit_tiny", **SMALL, **PAPER, **DEC)
    x = images(2)
    _, mask = model.masker.corrupt(x, gen(1))
    tokens = model.tokenizer(x)
    target = tokens.values
    spectrum = torch.fft.fft2(torch.randn(2, 3, 16, 16, generator=gen(2)), norm="ortho")
    band = mask.band.expand_as(spectrum)
    in_visible = torch.fft.ifft2(spectrum * (~band), norm="ortho").real
    in_hidden = torch.fft.ifft2(spectrum * band, norm="ortho").real
    loss = model.loss
    assert float(loss(target, target, mask).max()) == 0
    assert float(loss(target + model.tokenizer.patchify(in_visible), target, mask).max()) < 1e-8
    assert float(loss(target + model.tokenizer.patchify(in_hidden), target, mask).min()) > 1e-3
    out = model(x, generator=gen(1))                                       # the model's own forward uses it
    assert out.loss.ndim == 0 and torch.isfinite(out.loss)


def test_spectrum_loss_runs_under_bf16_autocast():
    """bf16-mixed hands the loss a bf16 prediction: the error image goes to the FFT in fp32 (a GPU run found this)."""
    model = anymae.create("mfm_vit_tiny", **SMALL, **PAPER, **DEC)
    x = images(2)
    _, mask = model.masker.corrupt(x, gen(1))
    target = model.tokenizer(x).values
    pred = (target + 0.1 * torch.randn(target.shape, generator=gen(2))).to(torch.bfloat16)
    loss = model.loss(pred, target, mask)
    assert loss.dtype == torch.float32 and torch.isfinite(loss).all()
    assert torch.allclose(loss, model.loss(pred.float(), target, mask), rtol=1e-5)


# ------------------------------------------------------------------ positions (MP3, row 42)
def test_mp3_encoder_gets_no_position_information():
    model = anymae.create("mp3_vit_tiny", **SMALL)
    seen = {}
    model.encoder.register_forward_pre_hook(lambda m, args: seen.__setitem__("x", args[0]))
    x = images(2)
    out = model(x, generator=gen(0))
    embed = model.tokenizer.proj(x).flatten(2).transpose(1, 2)
    assert torch.allclose(seen["x"], gather_tokens(embed, out.mask.keep))   # content only, no position added
    # and so the encoder is blind to where a patch sits: shuffling the patches permutes its outputs
    perm = torch.randperm(16, generator=gen(5))
    values = model.tokenizer.patchify(x)
    shuffled = model.tokenizer.unpatchify(values[:, perm])
    a, b = model.encode(x)[:, 1:], model.encode(shuffled)[:, 1:]
    assert torch.allclose(a[:, perm], b, atol=1e-5)
    assert torch.equal(out.mask.predict, out.mask.keep)


def test_position_task_on_mae_blinds_the_encoder_and_scores_visible_tokens_only():
    """`mae_vit_tiny(position_task=w)`: pixels on hidden tokens as MAE, plus w * cross-entropy of each
    visible token's grid index from its latent; the encoder gets no positions, the decoder keeps its own."""
    torch.manual_seed(0)
    model = anymae.create("mae_vit_tiny", **SMALL, **DEC, position_task=0.5)
    seen = {}
    model.encoder.register_forward_pre_hook(lambda m, args: seen.__setitem__("x", args[0]))
    x = images(2)
    out = model(x, generator=gen(0))
    embed = model.tokenizer.proj(x).flatten(2).transpose(1, 2)
    assert torch.allclose(seen["x"], gather_tokens(embed, out.mask.keep))      # no position added
    assert model.decoder.pos is not None                                       # the decoder still has them
    head = model.aux[0].head
    logits = head(out.latents[:, model.encoder.num_prefix:])
    by_hand = torch.nn.functional.cross_entropy(logits.flatten(0, 1), out.mask.keep.flatten())
    assert torch.allclose(out.terms["position"], 0.5 * by_hand)
    assert torch.allclose(out.loss, out.terms["reconstruction"] + out.terms["position"])
    # hidden patches never reach the position term: change them and it stays the same
    values = model.tokenizer.patchify(x)
    changed = model.tokenizer.unpatchify(torch.where(out.mask.bool.unsqueeze(-1), torch.randn_like(values), values))
    again = model(changed, mask=out.mask)
    assert torch.allclose(again.terms["position"], out.terms["position"])
    assert not torch.allclose(again.terms["reconstruction"], out.terms["reconstruction"])


TARGET_RECIPES = ["maskfeat_vit_tiny", "mfm_vit_tiny", "salt_vit_tiny", "latent_ema_vit_tiny", "maskalign_vit_tiny",
                  "mrmae_vit_tiny", "dmae_vit_tiny", "hybrid_distill_vit_tiny", "cae_vit_tiny", "lut_vit_tiny",
                  "dmjd_vit_tiny"]


@pytest.mark.parametrize("name", TARGET_RECIPES)
def test_every_target_recipe_takes_the_position_task(name):
    """`position_task=w` on any target recipe: the student and every teacher copied from it (EMA, LUT) get
    no positions, the term is w * CE of the head on the visible latents and part of the loss."""
    from anymae.recipes import get_recipe
    accepted = get_recipe(name).defaults()
    torch.manual_seed(0)
    model = anymae.create(name, **SMALL, **{k: v for k, v in DEC.items() if k in accepted}, position_task=0.5)
    if teacher_parts(model):
        attach_teachers(model, [mae_teacher(), mae_teacher(seed=2)])
    x = images(2)
    tokens = model.tokenizer(x)
    assert model.tokenizer.pos is None and torch.count_nonzero(tokens.pos) == 0
    if not teacher_parts(model):                                # EMA copies of the student match it
        assert all(t.pos is None for t in model.modules() if isinstance(t, PatchTokenizer))
    out = model(x, generator=gen(0))
    position = next(p for p in model.aux if isinstance(p, PositionPrediction))
    logits = position.head(out.latents[:, model.encoder.num_prefix:])
    by_hand = torch.nn.functional.cross_entropy(logits.flatten(0, 1), out.mask.keep.flatten())
    assert torch.allclose(out.terms["position"], 0.5 * by_hand, atol=1e-6)
    assert torch.allclose(out.loss, sum(v for k, v in out.terms.items() if k != "target_std"), atol=1e-6)


def test_mp3_predicts_positions_above_chance_after_training():
    from anymae.data import load_dataset
    raw = load_dataset("shapes", "train", image_size=16).images[:512].float() / 255.0
    mean, std = raw.mean((0, 2, 3), keepdim=True), raw.std((0, 2, 3), keepdim=True)
    xs = (raw - mean) / std
    torch.manual_seed(0)
    model = anymae.create("mp3_vit_tiny", image_size=16, patch_size=4, dim=32, depth=2, heads=2, mask_ratio=0.5)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for step in range(120):
        batch = xs[(step * 64) % 512:(step * 64) % 512 + 64]
        loss = model(batch, generator=gen(step)).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    test = (load_dataset("shapes", "test", image_size=16).images[:256].float() / 255.0 - mean) / std
    acc = position_accuracy(model.eval(), test, gen(999))   # 256 x 8 visible tokens; chance is 1/16
    assert acc > 2 / 16, f"position accuracy {acc:.3f} is not well above chance (1/16)"


# ------------------------------------------------------------------ frozen teacher (SALT, row 54)
def test_frozen_teacher_gets_no_gradients_and_never_changes():
    student = anymae.create("salt_vit_tiny", **SMALL, **PAPER, **DEC)
    attach_teachers(student, [mae_teacher()])
    teacher = student.target.teacher
    before = copy.deepcopy(teacher.state_dict())
    opt = torch.optim.AdamW([p for p in student.parameters() if p.requires_grad], lr=1e-2)
    for step in range(2):
        out = student.train()(images(4, seed=step), generator=gen(step))
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        student.after_step()
    assert not teacher.training
    assert all(p.grad is None and not p.requires_grad for p in teacher.parameters())
    assert all(torch.equal(before[k], v) for k, v in teacher.state_dict().items())


def test_teacher_that_does_not_fit_is_a_clear_error():
    student = anymae.create("salt_vit_tiny", **SMALL, **PAPER, **DEC)
    with pytest.raises(ValueError, match="patch_size 8 does not fit the student's 4"):
        attach_teachers(student, [mae_teacher(patch_size=8)], ["runs/t"])
    # a wider teacher fits: the decoder's output is re-made at the teacher's width
    attach_teachers(student, [mae_teacher(dim=48, heads=2)])
    assert student(images(2), generator=gen(0)).pred.shape[-1] == 48


@pytest.fixture(scope="module")
def teacher_run(tmp_path_factory):
    """Stage 1: a tiny pixel-MAE run made by the CLI (a few steps on digits)."""
    out = tmp_path_factory.mktemp("runs") / "teacher"
    argv = ["pretrain", "--recipe", "mae_vit_tiny", "--data", "digits",
           "--image-size", "16", "--patch-size", "4", "--arg", "dim=32", "--arg", "depth=2", "--arg", "heads=2",
           "--arg", "decoder_dim=32", "--arg", "decoder_depth=1", "--arg", "decoder_heads=2",
           "--epochs", "1", "--batch-size", "256", "--lr", "1e-3", "--out", str(out)]
    assert main(argv) == 0
    return out


def test_salt_stage_two_loads_stage_one_by_teacher_run(teacher_run, tmp_path, capsys):
    out = tmp_path / "student"
    argv = ["pretrain", "--recipe", "salt_vit_tiny", "--data", "digits",
           "--image-size", "16", "--patch-size", "4", "--arg", "dim=32", "--arg", "depth=2", "--arg", "heads=2",
           "--arg", "decoder_dim=32", "--arg", "decoder_depth=1", "--arg", "decoder_heads=2",
           "--teacher", str(teacher_run), "--epochs", "1", "--batch-size", "256", "--out", str(out)]
    assert main(argv) == 0
    config = read_config(out / "config.yaml")
    assert config["teacher"] == [str(teacher_run)] and config["teacher_configs"][0]["recipe"] == "mae_vit_tiny"
    student, _ = load_run(out)
    teacher, _ = load_run(teacher_run)
    got = student.target.teacher.encoder.state_dict()
    assert all(torch.equal(v, got[k]) for k, v in teacher.encoder.state_dict().items())   # frozen all along
    assert main(["pretrain", "--recipe", "salt_vit_tiny", "--data", "digits", "--print-config"]) == 2
    assert "--teacher RUN" in capsys.readouterr().err


# ------------------------------------------------------------------ EMA teacher (JEPA / data2vec, row 26)
def test_ema_teacher_update_formula_no_gradient_and_collapse_guard():
    model = anymae.create("latent_ema_vit_tiny", **SMALL, **PAPER, **DEC, momentum=0.9)
    teacher = model.target.teacher
    out = model(images(4), generator=gen(0))
    assert "target_std" in out.terms and float(out.terms["target_std"]) > 0      # logged, not added
    assert torch.allclose(out.loss, out.token_loss.mean())
    out.loss.backward()
    assert all(p.grad is None for p in teacher.parameters())
    with torch.no_grad():
        for p in model.encoder.parameters():
            p.add_(1.0)
    old = copy.deepcopy(teacher.encoder.state_dict())
    model.after_step()
    new, student = teacher.encoder.state_dict(), model.encoder.state_dict()
    for k in old:
        assert torch.allclose(new[k], 0.9 * old[k] + 0.1 * student[k], atol=1e-6)


# ------------------------------------------------------------------ visible-token terms
def corrupt_teacher_at(teacher: Teacher, index: torch.Tensor, seed: int = 0):
    """Make `teacher` return noise at the tokens `index` [B,M] (every layer it is asked for)."""
    original = teacher.forward

    def noisy(x, layers=None):
        got = original(x, layers)
        outs = got if isinstance(got, list) else [got]
        for z in outs:
            noise = torch.randn(index.shape + z.shape[-1:], generator=gen(seed))
            z.scatter_(1, index.unsqueeze(-1).expand(-1, -1, z.shape[-1]), noise)
        return got
    teacher.forward = noisy


def run_with_fixed_mask(model, x, seed=0):
    tokens = model.tokenizer(x)
    mask = model.draw_mask(tokens, gen(seed))
    return mask, model(x, mask=mask)


def test_maskalign_uses_visible_tokens_only():
    model = anymae.create("maskalign_vit_tiny", **SMALL, **PAPER)
    attach_teachers(model, [mae_teacher()])
    x = images(2)
    mask, out = run_with_fixed_mask(model, x)
    assert torch.equal(mask.predict, mask.keep) and set(out.terms) >= {"reconstruction", "align_visible"}
    for part in teacher_parts(model):
        corrupt_teacher_at(part.teacher, mask.hidden)
    _, again = run_with_fixed_mask(model, x)
    assert torch.allclose(out.loss, again.loss)                       # the teacher's hidden tokens do not count
    corrupt_teacher_at(model.target.teacher, mask.keep)
    _, moved = run_with_fixed_mask(model, x)
    assert not torch.allclose(out.loss, moved.loss)


def test_mrmae_pixels_on_hidden_and_teacher_features_on_visible():
    model = anymae.create("mrmae_vit_tiny", **SMALL, **PAPER, **DEC)
    attach_teachers(model, [mae_teacher()])
    x = images(2)
    mask, out = run_with_fixed_mask(model, x)
    assert out.terms["reconstruction"] > 0 and out.terms["mimic_visible"] > 0
    assert torch.equal(out.mask.predict, mask.hidden)                 # pixel term: hidden tokens
    assert out.target.shape[-1] == model.tokenizer.patch_dim
    teacher = model.aux[0].teacher
    corrupt_teacher_at(teacher, mask.hidden)
    _, again = run_with_fixed_mask(model, x)
    assert torch.allclose(out.terms["mimic_visible"], again.terms["mimic_visible"])   # mimic term: visible only
    corrupt_teacher_at(teacher, mask.keep, seed=1)
    _, moved = run_with_fixed_mask(model, x)
    assert not torch.allclose(out.terms["mimic_visible"], moved.terms["mimic_visible"])


def test_lut_visible_term_is_visible_only_and_weighted():
    torch.manual_seed(0)
    a = anymae.create("lut_vit_tiny", **SMALL, **PAPER, **DEC, visible_weight=1.0)
    b = copy.deepcopy(a)
    b.aux[0].weight = 0.25
    x = images(2)
    mask, out_a = run_with_fixed_mask(a, x)
    _, out_b = run_with_fixed_mask(b, x)
    assert torch.allclose(out_a.terms["visible_tokens"] * 0.25, out_b.terms["visible_tokens"])
    corrupt_teacher_at(a.aux[0].teacher, mask.hidden)
    _, again = run_with_fixed_mask(a, x)
    assert torch.allclose(out_a.terms["visible_tokens"], again.terms["visible_tokens"])


# ------------------------------------------------------------------ DMAE (row 29)
def test_dmae_maps_student_layer_to_teacher_layer_and_runs_teacher_partially():
    model = anymae.create("dmae_vit_tiny", **SMALL, **PAPER, **DEC, student_layer=0, teacher_layer=1)
    big = mae_teacher(dim=48, depth=4, heads=2)
    attach_teachers(model, [big])
    part = model.aux[0]
    assert part.pairs() == [(0, 1)]
    x = images(2)
    mask, out = run_with_fixed_mask(model, x)
    assert part.teacher_blocks_run == 2                                 # blocks 0..1 of 4
    # the term by hand: student block 0 on the visible tokens vs teacher block 1 on the same tokens
    tokens = model.tokenizer(x)
    _, (s0,) = model.encoder(gather_tokens(tokens.embed + tokens.pos, mask.keep), return_layers=[0])
    t_tokens = big.tokenizer(x)
    _, (t1,) = big.encoder(gather_tokens(t_tokens.embed + t_tokens.pos, mask.keep), return_layers=[1])
    want = torch.nn.functional.mse_loss(part.proj[0](s0), torch.nn.functional.layer_norm(t1, (48,)))
    assert torch.allclose(out.terms["distill_features"], want, atol=1e-5)
    out.loss.backward()
    assert all(p.grad is None and not p.requires_grad for p in part.teacher.parameters())


# ------------------------------------------------------------------ Hybrid Distillation (row 36)
def test_hybrid_has_both_terms_and_relation_compares_attention_maps():
    from timm.models.vision_transformer import Block
    block = Block(32, 2, qkv_bias=True)
    h = torch.randn(2, 5, 32, generator=gen(0))
    attn = attention_map(block, h)                                      # our map reproduces timm's attention
    y = block.norm1(h)
    v = block.attn.qkv(y).reshape(2, 5, 3, 2, 16).permute(2, 0, 3, 1, 4)[2]
    assert torch.allclose(block.attn.proj((attn @ v).transpose(1, 2).reshape(2, 5, 32)), block.attn(y), atol=1e-5)

    model = anymae.create("hybrid_distill_vit_tiny", **SMALL, **PAPER)
    mim = mae_teacher(seed=2)
    attach_teachers(model, [mae_teacher(seed=3), mim])
    x = images(2)
    _, out = run_with_fixed_mask(model, x)
    assert out.terms["reconstruction"] > 0 and out.terms["relation"] > 0
    model.tokenizer.load_state_dict(mim.tokenizer.state_dict())         # student == MIM teacher: same relations
    model.encoder.load_state_dict(mim.encoder.state_dict())
    _, same = run_with_fixed_mask(model, x)
    assert float(same.terms["relation"]) < 1e-6


# ------------------------------------------------------------------ CAE (row 5)
def test_cae_regressor_reads_visible_latents_and_aligns_with_the_encoders_own():
    model = anymae.create("cae_vit_tiny", **SMALL, **PAPER).eval()
    x = images(2)
    mask, out = run_with_fixed_mask(model, x)
    regressed = model.decoder.regressed.clone()
    hidden_pixels = model.tokenizer.unpatchify(
        torch.zeros_like(out.tokens.values).scatter(1, mask.hidden.unsqueeze(-1).expand(-1, -1, 48), 1.0))
    changed = x + 3.0 * hidden_pixels * torch.randn_like(x)           # new content in the hidden patches only
    model(changed, mask=mask)
    assert torch.allclose(model.decoder.regressed, regressed, atol=1e-5)   # predicted from visible latents
    tokens = model.tokenizer(x)
    own = model.encoder(gather_tokens(tokens.embed + tokens.pos, mask.hidden))[:, 1:]
    want = 2.0 * torch.nn.functional.mse_loss(regressed, own)
    assert torch.allclose(out.terms["alignment"], want, atol=1e-5)


# ------------------------------------------------------------------ DMJD (row 33)
def test_disjoint_views_hide_disjoint_sets_at_the_ratio():
    assert MASKERS["disjoint"] is DisjointMasker
    masker = DisjointMasker(ratio=0.25, views=4)
    views = masker.sample_views(3, (4, 4), gen(0))
    hidden = torch.stack([v.bool for v in views]).int()                # [k,B,N]
    assert (hidden.sum(-1) == 4).all()                                  # each view hides 25% of 16
    assert (hidden.sum(0) <= 1).all()                                   # no token hidden twice
    with pytest.raises(ValueError, match="cannot be disjoint"):
        DisjointMasker(ratio=0.75, views=2).sample_views(1, (4, 4))


# ------------------------------------------------------------------ --target swaps; runs reload
def test_target_swap_on_any_recipe_and_reload_from_config():
    config = {"recipe": "mae_vit_tiny", "recipe_args": {**SMALL, **DEC}, "target": "hog", "target_args": {}}
    model = build_model(ModelSpec.from_config(config))
    assert isinstance(model.target, HOGTarget) and model.decoder.pred.out_features == 36
    assert model(images(2), generator=gen(0)).pred.shape[-1] == 36
    mp3 = build_model(ModelSpec.from_config({**config, "target": "position"}))
    assert mp3.tokenizer.pos is None and torch.equal(*(lambda o: (o.mask.predict, o.mask.keep))(mp3(images(2))))
    assert {"pixel", "hog", "frequency", "position", "ema", "teacher"} <= set(TARGETS)


# ------------------------------------------------------------------ RAE (row 44)
def test_rae_decoder_on_frozen_encoder_improves_full_image_reconstructions(teacher_run, tmp_path):
    from anymae.train.decode import DecodeConfig, train_decoder
    encoder_before = load_run(teacher_run)[0].encoder.state_dict()
    rae, rows = train_decoder(teacher_run, tmp_path / "decode",
                              DecodeConfig(steps=40, batch_size=32, dim=32, depth=1, heads=2, eval_every=20,
                                           eval_images=64), progress=False)
    assert rows[-1]["held_out_mse"] < 0.8 * rows[0]["held_out_mse"]
    # the baseline: the same decoder, same batches, on the architecture at random init
    base_start, base_end = rows[0]["random_init_held_out_mse"], rows[-1]["random_init_held_out_mse"]
    assert 0 < base_end < base_start  # trained the same way (its own decoder, same steps), so it improves too
    assert base_end != rows[-1]["held_out_mse"]  # and is another model's number, not a copy
    assert "random_init_held_out_mse" in (tmp_path / "decode" / "decode_metrics.csv").read_text()
    assert all(p.grad is None and not p.requires_grad for p in rae.encoder.parameters())
    assert all(torch.equal(v, rae.encoder.state_dict()[k]) for k, v in encoder_before.items())
    assert (tmp_path / "decode" / "decode.png").exists()


def test_frequency_and_disjoint_follow_the_mask_gallery_protocol():
    base = pytest.importorskip("anymae.masking.base")
    if not hasattr(base, "MaskerExample"):
        pytest.skip("this checkout's masking/base.py has no gallery protocol (MaskerExample)")
    for cls in (FrequencyMasker, DisjointMasker):
        example = cls.example((6, 6))
        assert isinstance(example, base.MaskerExample) and example.variants
        for variant in example.variants:
            masker = cls(**variant)
            if getattr(masker, "corrupts_input", False):
                corrupted, mask = masker.corrupt(torch.rand(2, 3, 24, 24), gen(0))
                assert mask.bool.shape == (2, 36) and not mask.bool.any()
            else:
                assert masker.sample(2, example.grid, gen(0)).bool.shape == (2, 36)


def test_deep_linear_jepa_learns_the_predictive_feature_first_and_mae_the_noisy_one():
    """Row 26 (How JEPA avoids noisy features), its deep-linear result (benchmarks/jepa_linear.py): with a noisy
    feature A (large covariance lambda = 1.2, weak regression coefficient rho = 0.3) and a predictive one B
    (lambda = 0.9, rho = 0.9), a pixel (MAE) target learns A first at every depth, while a latent (JEPA) target
    learns B first and leaves A behind, the more so the deeper the encoder."""
    from conftest import benchmark_module
    bench = benchmark_module("jepa_linear")
    s, rho = [4.0, 1.0], [0.3, 0.9]
    ratios = []
    for depth in (1, 2, 3):
        init = 0.05 ** (1.0 / (depth + 1))
        mae = bench.train("mae", depth, s, rho, steps=400, init=init)
        a, b = bench.learned_at(mae)
        assert a is not None and b is not None and a < b, (depth, a, b)             # MAE: the noisy feature first
        jepa = bench.train("jepa", depth, s, rho, steps=1500, init=init)
        a, b = bench.learned_at(jepa)
        assert b is not None and (a is None or b < a), (depth, a, b)                # JEPA: the predictive one first
        ratios.append(float(jepa[-1, 0] / jepa[-1, 1]))                             # |W e_A| / |W e_B|
    assert ratios[0] > ratios[1] > ratios[2] and ratios[2] < 0.2, ratios            # depth sharpens the bias
