"""The core MAE data flow (PAPERS.md row 0): tokenizer, random masker, encoder, decoder, target, loss."""
import math

import numpy as np
import pytest
import torch

import anymae
from anymae.masking import Mask, RandomMasker
from anymae.targets import PixelTarget
from anymae.tokenizers import PatchTokenizer, sincos_grid


def tiny_model(**kw):
    args = dict(depth=1, dim=32, heads=2, decoder_dim=32, decoder_depth=1, decoder_heads=2)
    args.update(kw)
    return anymae.create("mae_vit_tiny", **args)


@pytest.mark.parametrize("size,patch,channels", [((32, 32), 4, 3), ((16, 24), 8, 1), ((28, 14), 7, 13), ((8, 8), 8, 2)])
def test_patchify_unpatchify_are_exact_inverses(size, patch, channels):
    tok = PatchTokenizer(size, patch, channels, dim=16)
    x = torch.randn(3, channels, *size)
    patches = tok.patchify(x)
    assert patches.shape == (3, (size[0] // patch) * (size[1] // patch), patch * patch * channels)
    assert torch.equal(tok.unpatchify(patches), x)
    # a patch holds the pixels of its square, (p, p, C) ordered as MAE's patchify
    r, c = 0, min(1, size[1] // patch - 1)
    expect = x[0, :, r * patch:(r + 1) * patch, c * patch:(c + 1) * patch].permute(1, 2, 0).reshape(-1)
    assert torch.equal(patches[0, r * (size[1] // patch) + c], expect)


def test_tokenizer_rejects_bad_sizes_and_inputs():
    with pytest.raises(ValueError, match="not divisible"):
        PatchTokenizer(30, 4, 3, dim=16)
    tok = PatchTokenizer(32, 4, 3, dim=16)
    with pytest.raises(ValueError, match="channels"):
        tok(torch.randn(2, 1, 32, 32))
    with pytest.raises(ValueError, match="32x32"):
        tok(torch.randn(2, 3, 16, 16))


def mae_2d_sincos_reference(dim, grid_size):
    """facebookresearch/mae util/pos_embed.py, written out in numpy for comparison."""
    def one_d(d, pos):
        omega = np.arange(d // 2, dtype=np.float64) / (d / 2.0)
        omega = 1.0 / 10000 ** omega
        out = np.einsum("m,d->md", pos.reshape(-1), omega)
        return np.concatenate([np.sin(out), np.cos(out)], axis=1)
    gh = np.arange(grid_size, dtype=np.float32)
    gw = np.arange(grid_size, dtype=np.float32)
    grid = np.stack(np.meshgrid(gw, gh), axis=0)
    return np.concatenate([one_d(dim // 2, grid[0]), one_d(dim // 2, grid[1])], axis=1)


def test_sincos_matches_mae():
    ours = sincos_grid(64, (5, 5)).numpy()
    np.testing.assert_allclose(ours, mae_2d_sincos_reference(64, 5), atol=1e-6)


def test_learnable_position_option():
    tok = PatchTokenizer(16, 4, 3, dim=16, learnable_pos=True)
    assert any(name.startswith("pos") for name, _ in tok.named_parameters())
    assert not any(name.startswith("pos") for name, _ in PatchTokenizer(16, 4, 3, dim=16).named_parameters())


@pytest.mark.parametrize("patch", [4, 7, 8])
def test_conv_stem_tokens_see_only_their_own_patch(patch):
    """The per-patch CNN stem must not leak pixels across patches, or hidden patches would reach the encoder."""
    torch.manual_seed(0)
    tok = PatchTokenizer(patch * 3, patch, 3, dim=16, stem_width=8)
    x = torch.randn(2, 3, patch * 3, patch * 3)
    y = x.clone()
    y[:, :, patch:2 * patch, patch:2 * patch] += torch.randn(2, 3, patch, patch)  # change the centre patch (token 4)
    changed = (tok(x).embed - tok(y).embed).abs().amax(dim=(0, 2)) > 1e-6
    assert changed.tolist() == [i == 4 for i in range(9)]


@pytest.mark.parametrize("n,ratio", [(64, 0.75), (196, 0.75), (49, 0.9), (10, 0.33), (7, 0.5)])
def test_random_masker_exact_counts_and_partition(n, ratio):
    masker = RandomMasker(ratio)
    mask = masker.sample(16, (n,), torch.Generator().manual_seed(0))
    n_hidden = n - round(n * (1 - ratio))
    assert mask.hidden.shape == (16, n_hidden)
    assert mask.keep.shape == (16, n - n_hidden)
    both = torch.cat([mask.keep, mask.hidden], 1).sort(1).values
    assert torch.equal(both, torch.arange(n).expand(16, -1))  # disjoint and complete
    assert torch.equal(mask.bool.sum(1), torch.full((16,), n_hidden))
    assert torch.equal(mask.bool.gather(1, mask.hidden), torch.ones_like(mask.hidden, dtype=torch.bool))
    # restore undoes the keep/hidden order
    order = torch.cat([mask.keep, mask.hidden], 1)
    assert torch.equal(order.gather(1, mask.restore), torch.arange(n).expand(16, -1))


def test_random_masker_deterministic_and_varied():
    masker = RandomMasker(0.75)
    a = masker.sample(8, (8, 8), torch.Generator().manual_seed(3))
    b = masker.sample(8, (8, 8), torch.Generator().manual_seed(3))
    c = masker.sample(8, (8, 8), torch.Generator().manual_seed(4))
    assert torch.equal(a.keep, b.keep)
    assert not torch.equal(a.keep, c.keep)
    assert len({tuple(row.sort().values.tolist()) for row in a.keep}) == 8  # samples differ in a batch


def test_mask_ratio_is_validated():
    for bad in (0.0, 1.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="mask ratio"):
            RandomMasker(bad)


def test_mask_from_bool_round_trip():
    hidden = torch.tensor([[True, False, True, False], [False, False, True, True]])
    mask = Mask.from_bool(hidden)
    assert torch.equal(mask.bool, hidden)
    assert torch.equal(mask.keep.sort(1).values, torch.tensor([[1, 3], [0, 1]]))


def test_norm_pix_target_is_standardised_per_patch():
    tok = PatchTokenizer(16, 4, 3, dim=16)
    x = torch.rand(2, 3, 16, 16) * 5 + 2
    t = PixelTarget(norm=True)(x, tok(x))
    assert torch.allclose(t.mean(-1), torch.zeros(2, 16), atol=1e-5)
    assert torch.allclose(t.var(-1), torch.ones(2, 16), atol=1e-3)
    assert torch.equal(PixelTarget(norm=False)(x, tok(x)), tok.patchify(x))


def test_encoder_sees_only_visible_tokens():
    model = tiny_model(mask_ratio=0.75)
    seen = []
    model.encoder.blocks[0].register_forward_pre_hook(lambda m, args: seen.append(args[0].shape[1]))
    model(torch.randn(2, 3, 32, 32), generator=torch.Generator().manual_seed(0))
    assert seen == [1 + 16]  # cls + round(64 * 0.25)


def test_loss_ignores_predictions_at_visible_positions():
    model = tiny_model()
    x = torch.randn(4, 3, 32, 32)
    out = model(x, generator=torch.Generator().manual_seed(0))
    seen = 1 + out.mask.num_visible  # the decoder's blocks run on [cls, visible tokens, mask tokens]

    def scramble_visible(module, args, output):
        noise = torch.randn_like(output[:, :seen]) * 100
        return torch.cat([output[:, :seen] + noise, output[:, seen:]], dim=1)

    handle = model.decoder.blocks[-1].register_forward_hook(scramble_visible)
    out2 = model(x, mask=out.mask)
    handle.remove()
    assert torch.allclose(out.loss, out2.loss)
    # and the loss is the mean over hidden tokens of the per-token MSE
    assert out.token_loss.shape == out.mask.hidden.shape
    assert torch.allclose(out.loss, ((out.pred - out.target) ** 2).mean())


def test_output_and_encode_shapes():
    model = tiny_model()
    x = torch.randn(2, 3, 32, 32)
    out = model(x, generator=torch.Generator().manual_seed(0))
    assert out.pred.shape == (2, 48, 48) and out.target.shape == (2, 48, 48)
    assert out.latents.shape == (2, 17, 32)
    assert model.encode(x).shape == (2, 65, 32)


def test_same_seed_same_loss():
    torch.manual_seed(0)
    model = tiny_model()
    x = torch.randn(2, 3, 32, 32)
    a = model(x, generator=torch.Generator().manual_seed(5)).loss
    b = model(x, generator=torch.Generator().manual_seed(5)).loss
    assert torch.equal(a, b)


def test_recipes_registry():
    names = {r.name for r in anymae.list_recipes()}
    assert {"mae_vit_tiny", "mae_vit_small", "mae_vit_base", "mae_vit_large", "mae_vit_huge"} <= names
    with pytest.raises(ValueError, match="unknown recipe"):
        anymae.create("nope")
    with pytest.raises(ValueError, match="takes no argument"):
        anymae.create("mae_vit_tiny", bogus=1)


def test_paper_sizes():
    counts = {}
    for size in ("base", "large"):
        m = anymae.create(f"mae_vit_{size}")
        assert m.decoder.dim == 512 and m.decoder.depth == 8
        counts[size] = sum(p.numel() for p in m.encoder.parameters())
    assert 85e6 < counts["base"] < 87e6  # ViT-B/16 blocks
    assert 302e6 < counts["large"] < 304e6


def test_warmup_cosine_schedule():
    from anymae.train.module import warmup_cosine
    total, warm = 100, 10
    values = [warmup_cosine(s, total, warm) for s in range(total)]
    assert values[0] == pytest.approx(0.1) and values[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(values[10:], values[11:]))  # cosine decays monotonically
    assert values[-1] < 0.01


def test_no_weight_decay_on_norms_biases_tokens():
    from anymae.train.module import param_groups
    model = tiny_model()
    decay, no_decay = param_groups(model, 0.05)
    names = {id(p): n for n, p in model.named_parameters()}
    assert all(p.ndim > 1 for p in decay["params"])
    nd = {names[id(p)] for p in no_decay["params"]}
    assert "encoder.cls_token" in nd and "decoder.mask_token" in nd
    assert any(n.endswith("norm.weight") for n in nd) and any(n.endswith(".bias") for n in nd)
