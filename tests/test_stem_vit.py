"""The sparse convolutional stem (encoders/stem_vit.py, issue 26's overlapping-stem lever): its 3x3 windows
cross patch borders, yet a visible token never reads a hidden pixel, and at init it is the plain MAE."""
from __future__ import annotations

import torch

from anymae.recipes.mae import mae_vit

LAPTOP = dict(image_size=32, patch_size=8, dim=32, depth=2, heads=2, decoder_dim=32, decoder_depth=1,
              decoder_heads=2, mask_ratio=0.5)


def build(seed=0, **args):
    torch.manual_seed(seed)
    return mae_vit(**{**LAPTOP, **args})


def trained_like(model):
    """Give the zero-initialised output conv of the stem weights, as training does."""
    torch.manual_seed(5)
    for p in model.encoder.stem.out.parameters():
        torch.nn.init.normal_(p, std=0.2)
    return model


def test_hidden_pixels_never_reach_visible_latents():
    model = trained_like(build(sparse_stem=8)).eval()
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    mask = model.draw_mask(model.tokenize(x), torch.Generator().manual_seed(2))
    patches = model.tokenizer.patchify(x)
    changed = model.tokenizer.unpatchify(patches + 3 * torch.randn_like(patches) * mask.bool.unsqueeze(-1))
    assert (changed - x).abs().amax() > 1  # hidden patches really changed
    with torch.no_grad():
        before = model.encode_visible(model.tokenize(x), mask.keep)
        after = model.encode_visible(model.tokenize(changed), mask.keep)
        assert torch.equal(before, after)
        # without a mask the stem does read across borders: a visible token changes with its neighbours
        dense_before = model.encode_visible(model.tokenize(x))
        dense_after = model.encode_visible(model.tokenize(changed))
    visible = torch.ones(3, 16, dtype=torch.bool).scatter_(1, mask.hidden, False)
    moved = (dense_after - dense_before)[:, 1:].abs().amax(-1)  # [B,N] past the cls token
    assert moved[visible].amax() > 1e-3


def test_stem_windows_overlap_patch_borders():
    """A pixel next to a patch border moves the stem's output of the neighbouring patch (a linear patch
    embedding would not), when both patches are visible."""
    model = trained_like(build(sparse_stem=8)).eval()
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    nudged = x.clone()
    nudged[0, :, 3, 7] += 1.0  # last column of patch (0, 0)
    with torch.no_grad():
        out = model.encoder.stem(nudged) - model.encoder.stem(x)  # [1,D,4,4]
    assert out[0, :, 0, 1].abs().amax() > 1e-4  # patch (0, 1) saw it


def test_stem_starts_as_the_plain_mae():
    """The stem's last conv is zero at init, so the first step is plain MAE's: same loss, same seed."""
    x = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    plain, stem = build(seed=7), build(seed=7, sparse_stem=8)
    stem.load_state_dict(plain.state_dict(), strict=False)
    a = plain(x, generator=torch.Generator().manual_seed(8)).loss
    b = stem(x, generator=torch.Generator().manual_seed(8)).loss
    torch.testing.assert_close(a, b)
    b.backward()
    assert stem.encoder.stem.out.weight.grad.abs().sum() > 0  # and it learns from the first step
