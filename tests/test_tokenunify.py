"""TokenUnify (PAPERS.md row 25): each prediction order's targets and attention masks, causality of the
autoregressive orders, and the mixture weights as settings."""
from __future__ import annotations

from collections import Counter

import pytest
import torch

import anymae
from anymae.token_unify import ORDERS, causal_attention

SMALL = dict(volume_size=16, patch_size=8, dim=24, depth=2, heads=2, decoder_dim=24, decoder_depth=1, decoder_heads=2)


def small(**kw):
    torch.manual_seed(0)
    return anymae.create("tokenunify_tiny", **{**SMALL, **kw}).eval()


def volumes(batch=2, seed=0):
    return torch.rand(batch, 1, 16, 16, 16, generator=torch.Generator().manual_seed(seed))


def test_each_order_has_its_targets_and_attention_mask():
    model = small()
    n, p = 8, model.encoder.num_prefix  # 2x2x2 patches, one cls (start) token
    x = volumes()
    every_target = model.targets_for(x, model.tokenize(x))  # [B,N,T] norm-voxels of every token

    # random-token prediction: MAE's random mask, full attention among the visible tokens
    mask, attention = model.plan("random", 2, n)
    assert mask is None and attention is None  # the masker draws it; the encoder attends freely
    mask = model.draw_mask(model.tokenize(x), torch.Generator().manual_seed(0))
    assert mask.keep.shape == (2, 2) and torch.equal(mask.predict, mask.hidden)

    # next-token: every token seen, causal, token i predicted from the output at i-1 (the start token for 0)
    mask, attention = model.plan("next", 2, n)
    assert torch.equal(mask.keep[0], torch.arange(n)) and torch.equal(mask.predict[0], torch.arange(n))
    assert torch.equal(attention, torch.ones(p + n, p + n, dtype=torch.bool).tril())
    _, _, _, pred, target = model.predict_order(x, "next", torch.Generator().manual_seed(0))
    assert torch.equal(target, every_target)

    # next-all-token: a prefix of k tokens seen causally, all the tokens after it predicted at once
    ks = set()
    for seed in range(40):
        mask, attention = model.plan("next_all", 2, n, torch.Generator().manual_seed(seed))
        k = mask.keep.shape[1]
        ks.add(k)
        assert torch.equal(mask.keep[1], torch.arange(k)) and torch.equal(mask.predict[1], torch.arange(k, n))
        assert torch.equal(attention, causal_attention(p + k))
    assert ks == set(range(1, n))  # every prefix length 1..N-1 is drawn
    tokens, mask, _, pred, target = model.predict_order(x, "next_all", torch.Generator().manual_seed(3))
    assert torch.equal(target, every_target[:, mask.keep.shape[1]:]) and pred.shape == target.shape


def test_next_token_prediction_is_causal():
    """The prediction of token i reads tokens < i only: changing token j changes predictions i > j alone."""
    model = small()
    x = volumes()
    j = 5  # token (1, 0, 1) of the 2x2x2 grid: voxels [8:16, 0:8, 8:16]
    y = x.clone()
    y[:, :, 8:16, 0:8, 8:16] = torch.rand(2, 1, 8, 8, 8)
    with torch.no_grad():
        a = model.predict_order(x, "next")[3]
        b = model.predict_order(y, "next")[3]
    same = (a - b).abs().amax(dim=(0, 2))  # [N]
    assert torch.all(same[:j + 1] == 0)  # tokens 0..j are predicted from tokens before them
    assert torch.all(same[j + 1:] > 1e-6)  # later ones see token j


def test_next_all_prediction_reads_the_prefix_only():
    model = small()
    x = volumes()
    seed = next(s for s in range(100) if model.plan("next_all", 2, 8, torch.Generator().manual_seed(s))[0].keep.shape[1] <= 4)
    g = lambda: torch.Generator().manual_seed(seed)
    k = model.plan("next_all", 2, 8, g())[0].keep.shape[1]
    y = x.clone()
    y[:, :, 8:16] = torch.rand(2, 1, 8, 16, 16)  # tokens 4..7 (the second depth slab)
    with torch.no_grad():
        a, b = model.predict_order(x, "next_all", g())[3], model.predict_order(y, "next_all", g())[3]
    assert k <= 4 and torch.equal(a, b)


def test_mixture_weights_are_settings():
    counts = Counter(small().draw_order(g) for g in [torch.Generator().manual_seed(0)] for _ in range(600))
    assert set(counts) == set(ORDERS) and all(150 < c < 250 for c in counts.values())  # 1:1:1 by default
    only_next = small(random_weight=0, next_all_weight=0)
    g = torch.Generator().manual_seed(0)
    assert {only_next.draw_order(g) for _ in range(50)} == {"next"}
    skewed = small(random_weight=3, next_weight=1, next_all_weight=0)
    g = torch.Generator().manual_seed(1)
    c = Counter(skewed.draw_order(g) for _ in range(800))
    assert c["next_all"] == 0 and 540 < c["random"] < 660
    with pytest.raises(ValueError, match="weights"):
        small(next_weight=-1)


def test_training_steps_lower_each_orders_loss_and_log_the_order():
    model = small().train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    x = volumes(4)
    g = torch.Generator().manual_seed(0)
    first, last, seen = {}, {}, set()
    for _ in range(60):
        out = model(x, generator=g)
        order = ORDERS[int(out.terms["order"])]
        seen.add(order)
        first.setdefault(order, out.loss.item())
        last[order] = out.loss.item()
        opt.zero_grad()
        out.loss.backward()
        opt.step()
    assert seen == set(ORDERS)
    assert all(last[o] < first[o] for o in ORDERS), (first, last)
