"""The small-data invariance term (SDMAE-style): a second masked view and InfoNCE between pooled latents."""
import torch

import anymae
from anymae.terms import info_nce, second_view


def test_info_nce_prefers_matching_rows():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(16, 8, generator=g)
    matched = info_nce(a, a + 0.01 * torch.randn(16, 8, generator=g), temperature=0.2)
    order = torch.randperm(16, generator=g)
    assert (order != torch.arange(16)).sum() > 12  # a real shuffle: few rows keep their partner
    shuffled = info_nce(a, a[order], temperature=0.2)
    assert matched < 0.5 < shuffled
    assert matched >= 0


def test_second_view_is_seeded_and_differs_from_the_input():
    x = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    a = second_view(x, torch.Generator().manual_seed(0))
    b = second_view(x, torch.Generator().manual_seed(0))
    c = second_view(x, torch.Generator().manual_seed(1))
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, c)
    assert not torch.allclose(a, x)
    grey = second_view(torch.rand(4, 1, 16, 16, generator=torch.Generator().manual_seed(3)),
                       torch.Generator().manual_seed(0))
    assert grey.shape == (4, 1, 16, 16)


def test_invariance_term_is_added_and_trains_the_encoder():
    model = anymae.create("mae_vit_tiny", depth=1, dim=32, heads=2, decoder_dim=32, decoder_depth=1,
                          decoder_heads=2, invariance=0.5)
    out = model(torch.randn(8, 3, 32, 32), generator=torch.Generator().manual_seed(0))
    assert set(out.terms) == {"reconstruction", "invariance"}
    assert torch.allclose(out.loss, out.terms["reconstruction"] + out.terms["invariance"])
    out.loss.backward()
    assert model.aux[0].proj[0].weight.grad.abs().sum() > 0
    assert model.encoder.blocks[0].attn.qkv.weight.grad.abs().sum() > 0
