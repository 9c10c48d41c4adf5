"""Issue 22: the remaining objectives, each tested on its defining property (PAPERS.md rows 3, 11, 20, 28,
30, 33, 39): DMJD's dual branch, masked feature modelling, MTO, MixedAE, CrossVideoMAE, SMARTIES' cross-sensor
mixup and I2P-MAE's 2-D guidance."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import anymae
from anymae.tokenizers.base import gather_tokens

SMALL = dict(image_size=16, patch_size=4, dim=32, depth=2, heads=2)
DEC = dict(decoder_dim=32, decoder_depth=2, decoder_heads=2)


def images(n=4, size=16, seed=0):
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


# ------------------------------------------------------------------ DMJD (row 33): the dual branch
def test_dmjd_each_branch_is_computed_on_its_token_set_with_its_target():
    torch.manual_seed(0)
    model = anymae.create("dmjd_vit_tiny", **SMALL, **DEC, position_task=0.0)
    assert "joint_distillation" not in anymae.terms.TERMS                     # the old coupling is gone
    x = images(3)
    out = model(x, generator=gen(0))
    assert {"reconstruction", "views_reconstruction", "visible_branch"} == set(out.terms)
    views, term = out.mask.views, model.aux[0]
    full = model.target(x, out.tokens)                                         # HOG of every patch [B,N,36]
    assert full.shape[-1] == 36
    # masked branch: the decoder's predictions of view 0's hidden tokens against their HOG
    assert torch.allclose(out.target, gather_tokens(full, views[0].hidden))
    assert torch.allclose(out.terms["reconstruction"], F.mse_loss(out.pred, out.target), atol=1e-6)
    # visible branch: the projector on each view's encoded visible tokens against the visible tokens' HOG
    want = []
    for m in views:
        z = model.encode_visible(out.tokens, m.keep)[:, 1:]
        want.append(F.smooth_l1_loss(term.head(z), gather_tokens(full, m.keep), beta=2.0))
    assert torch.allclose(out.terms["visible_branch"], torch.stack(want).mean(), atol=1e-6)
    assert not (views[0].bool & views[1].bool).any()                          # disjoint hidden sets


# ------------------------------------------------------------------ Masked feature modelling (row 28)
def test_feature_masking_rebuilder_sees_masked_features_of_layer_k_only():
    torch.manual_seed(0)
    model = anymae.create("mae_vit_tiny", **{**SMALL, "depth": 3}, **DEC, feature_mask_layer=1, feature_mask_ratio=0.5)
    term = model.term_named("feature_masking")
    caught = {}
    for i, block in enumerate(model.encoder.blocks):
        block.register_forward_hook(lambda m, a, o, i=i: caught.update({("block", i): o}))
    term.rebuilder[0].register_forward_pre_hook(lambda m, a: caught.update(rebuilder=a[0]))
    out = model(images(2), generator=gen(0))
    assert "feature_masking" in out.terms and out.terms["feature_masking"] > 0
    seen, layer_k = caught["rebuilder"], caught[("block", 1)]
    assert seen.shape == layer_k.shape                                          # [B,1+Nv,D]
    body_seen, body_k = seen[:, 1:], layer_k[:, 1:]
    masked = (body_seen == term.mask_feature).all(-1)                          # [B,Nv]
    nv = body_k.shape[1]
    assert (masked.sum(1) == round(nv * 0.5)).all()                             # the ratio, exactly
    assert torch.equal(body_seen[~masked], body_k[~masked])                     # the rest is block 1's output
    assert torch.equal(seen[:, :1], layer_k[:, :1])                             # cls untouched
    for other in (0, 2):                                                        # not another layer's output
        assert not torch.allclose(body_seen[~masked], caught[("block", other)][:, 1:][~masked])


def test_feature_masking_leaves_inference_unchanged():
    x = images(2)
    torch.manual_seed(0)
    plain = anymae.create("mae_vit_tiny", **SMALL, **DEC)
    torch.manual_seed(0)
    mfm = anymae.create("mae_vit_tiny", **SMALL, **DEC, feature_mask_layer=0)
    assert torch.equal(plain.encode(x), mfm.encode(x))                          # the Rebuilder never runs
    assert not any("rebuilder" in k for k in mfm.encoder.state_dict())          # nor is it exported
    with pytest.raises(ValueError, match="feature_mask_layer=5"):
        anymae.create("mae_vit_tiny", **SMALL, **DEC, feature_mask_layer=5)


# ------------------------------------------------------------------ MTO (row 30)
def test_mto_mask_tokens_never_attend_to_each_other_in_the_named_layers():
    torch.manual_seed(0)
    model = anymae.create("mae_vit_tiny", **SMALL, **DEC, mto_layers=1)
    assert model.decoder.mto_layers == 1
    x = images(2)
    out = model(x, generator=gen(0))
    from anymae.terms.tap import attention_map
    inputs = {}
    for i, block in enumerate(model.decoder.blocks):
        block.register_forward_pre_hook(lambda m, a, kw, i=i: inputs.update({i: (a[0], kw.get("attn_mask"))}),
                                        with_kwargs=True)
    model.decode(out.latents, out.mask, out.tokens)
    context = 1 + out.mask.num_visible
    h0, allowed0 = inputs[0]
    assert allowed0 is not None and not allowed0[:, context:].any()            # block 0: no key is a mask token
    assert inputs[1][1] is None                                                 # block 1: MAE's full attention
    # the mask token's prediction in block 0 is blind to every other mask token: perturbing them changes nothing
    block = model.decoder.blocks[0]
    a = block(h0, attn_mask=allowed0)
    h1 = h0.clone()
    h1[:, context + 1:] += torch.randn_like(h1[:, context + 1:])
    b = block(h1, attn_mask=allowed0)
    assert torch.allclose(a[:, context], b[:, context], atol=1e-5)
    assert not torch.allclose(block(h0)[:, context], block(h1)[:, context], atol=1e-5)
    with pytest.raises(ValueError, match="mto_layers=9"):
        anymae.create("mae_vit_tiny", **SMALL, **DEC, mto_layers=9)


# ------------------------------------------------------------------ MixedAE (row 11)
def test_mixed_inputs_carry_the_source_map_and_targets_are_the_own_image():
    from anymae.masking.mixing import MixMask
    torch.manual_seed(0)
    model = anymae.create("mixedae_vit_tiny", **SMALL, **DEC)
    x = images(6)
    mixed, mask = model.masker.corrupt(x, gen(0))
    assert isinstance(mask, MixMask) and mask.source.shape == (6, 16)
    tok = model.tokenizer
    src_patches, mixed_patches = tok.patchify(x), tok.patchify(mixed)
    want = src_patches[mask.source, torch.arange(16)]                         # patch p of image source[j,p]
    assert torch.equal(mixed_patches, want)
    rows = torch.arange(6).unsqueeze(1)
    assert torch.equal(mask.source.gather(1, mask.own.keep), rows.expand(-1, 4))   # own patches: 25% of 16
    assert (mask.source.gather(1, mask.own.hidden) != rows).all()                # the rest: partners'
    assert all(len(set(r.tolist())) == 4 for r in mask.source)                  # 4 images share each grid
    assert mask.keep.shape[1] == 16                                             # the encoder sees the whole mix
    out = model(x, generator=gen(0))
    assert torch.allclose(out.target, gather_tokens(model.target(x, tok(x)), out.mask.own.hidden))
    assert set(out.terms) == {"reconstruction", "homologous"}


def test_homologous_positives_are_exactly_the_same_source_patches():
    from anymae.terms.homologous import homologous_loss, homologous_positives
    source = torch.tensor([[0, 0, 1, 2, 1, 0]])
    pos = homologous_positives(source)[0]
    want = torch.tensor([[0, 1, 0, 0, 0, 1], [1, 0, 0, 0, 0, 1], [0, 0, 0, 0, 1, 0],
                         [0, 0, 0, 0, 0, 0], [0, 0, 1, 0, 0, 0], [1, 1, 0, 0, 0, 0]], dtype=torch.bool)
    assert torch.equal(pos, want)
    # features that group tokens by source score a lower loss than the same features with sources swapped
    z = torch.nn.functional.one_hot(source, 3).float() * 5 + 0.01 * torch.randn(1, 6, 3, generator=gen(1))
    right = homologous_loss(z, source, 0.1)
    wrong = homologous_loss(z, torch.tensor([[0, 1, 2, 0, 1, 2]]), 0.1)
    assert right < wrong


# ------------------------------------------------------------------ CrossVideoMAE (row 39)
VIDEO = dict(frames=4, image_size=16, patch_size=8, tubelet=2, dim=32, depth=2, heads=2, decoder_dim=32,
             decoder_depth=1, decoder_heads=2)


def test_crossvideo_both_terms_present_and_positives_are_the_same_clip_and_frame():
    torch.manual_seed(0)
    model = anymae.create("crossvideomae_tiny", **VIDEO)
    clips = torch.randn(3, 3, 4, 16, 16, generator=gen(2))
    out = model(clips, generator=gen(0))
    assert {"reconstruction", "video_frame_contrast", "frame_contrast"} <= set(out.terms)
    term = model.term_named("cross_video")
    from anymae.terms.base import StepContext
    ctx = StepContext(model, clips, out.tokens, out.mask, out.latents, out.pred, out.target, out.token_loss, gen(5))
    got = term.pairs(ctx)
    b, f = got["frame"].shape
    assert (b, f) == (3, 2) and (got["slot"][:, 0] != got["slot"][:, 1]).all()     # distinct time slots
    for i in range(b):
        for k in range(f):
            # the frame branch reads frame `frame[i,k]` of clip i itself ...
            assert torch.equal(got["pictures"][i, k], clips[i, :, got["frame"][i, k]])
            # ... and the frame-level positive pools clip i's visible tokens of that frame's time slot
            keep = out.mask.keep[i]
            slot_tokens = keep // 4 == got["slot"][i, k]
            want = out.latents[i, 1:][slot_tokens].mean(0)
            assert torch.allclose(got["slots"][i, k], want, atol=1e-6)
    assert torch.allclose(got["clip"], out.latents[:, 1:].mean(1))                   # video level: the clip
    # InfoNCE pairs row i with row i: matching (clip, frame) features give a lower loss than shuffled ones
    from anymae.terms.invariance import info_nce
    a = torch.randn(6, 8, generator=gen(3))
    assert info_nce(a, a, 0.1) < info_nce(a, a.roll(1, 0), 0.1)


# ------------------------------------------------------------------ SMARTIES (row 3): cross-sensor token mixup
def test_smarties_mixup_holds_both_sensors_tokens_at_the_drawn_positions():
    from anymae.data.spectral import SpectralTransform
    torch.manual_seed(0)
    model = anymae.create("smarties_tiny", image_size=16, patch_size=4, channels=6, dim=32, depth=2, heads=2,
                          decoder_dim=32, decoder_depth=1, decoder_heads=2, anchors=8)
    tok = model.tokenizer
    assert tok.mixup == 0.5                                                      # on by default
    transform = SpectralTransform((16, 16), {"pixels": (0.0, 1.0)}, mixup=tok.mixup, tokens=tok.num_tokens)
    bands = torch.tensor([[443, 20], [490, 65], [560, 35], [665, 30], [705, 15], [842, 115]], dtype=torch.float32)
    pixels = torch.rand(2, 6, 16, 16, generator=gen(1))
    drawn = [transform.sensor_mixup(6, gen(i)) for i in range(2)]
    sample = {"pixels": pixels, "bands": bands.expand(2, -1, -1),
              "sensor_masks": torch.stack([d["sensor_masks"] for d in drawn]),
              "sensor_map": torch.stack([d["sensor_map"] for d in drawn])}
    where = sample["sensor_map"]
    assert (where.sum(1) == 8).all()                                             # half of 16 positions
    assert not torch.equal(sample["sensor_masks"][0, 0], sample["sensor_masks"][0, 1])   # two different sensors
    tokens = tok(sample)
    assert torch.equal(tokens.extra["sensor_map"], where)
    for s in (0, 1):                      # a token at a position drawn for sensor s is sensor s's token there
        alone = tok({"pixels": pixels, "bands": sample["bands"], "band_mask": sample["sensor_masks"][:, s]})
        at = where == s
        assert torch.allclose(tokens.embed[at], alone.embed[at], atol=1e-6)
        assert not torch.allclose(tokens.embed[~at], alone.embed[~at], atol=1e-4)
        # the targets follow the same positions: each holds its own sensor's bands (and every other band)
        values = tokens.values.reshape(2, 16, 4, 4, 6)
        seen = sample["sensor_masks"][:, s].bool()
        patches = tok.patchify(pixels).reshape(2, 16, 4, 4, 6)
        for b in range(2):
            assert torch.equal(values[b][at[b]][..., seen[b]], patches[b][at[b]][..., seen[b]])
    out = model(sample, generator=gen(0))                                        # the model trains on the mix
    assert torch.isfinite(out.loss)
    plain = anymae.create("smarties_tiny", image_size=16, patch_size=4, dim=32, depth=2, heads=2, decoder_dim=32,
                          decoder_depth=1, decoder_heads=2, anchors=8, mixup=0.0)
    assert plain.tokenizer.mixup == 0.0                                          # the baseline: no mixup


# ------------------------------------------------------------------ I2P-MAE (row 20): 2-D guidance
def test_projection_and_back_projection_are_consistent_on_a_synthetic_cloud():
    from anymae.terms.i2p import back_project, project_points
    g = gen(4)
    points = torch.rand(2, 200, 3, generator=g) * 2 - 1
    size, patch = 16, 4
    images, pixels = project_points(points, size)
    assert images.shape == (2, 3, 16, 16) and pixels.shape == (2, 3, 200)
    # a point lands where its coordinates say: view 2 looks along z, rows from x, columns from y
    cell = ((points + 1) / 2 * size).long().clamp(max=size - 1)
    assert torch.equal(pixels[:, 2], cell[..., 0] * size + cell[..., 1])
    # back-projecting each view's depth image at pixel level gives every point at least its own depth,
    # exactly its own for the nearest point of its pixel
    for view, depth_axis in enumerate((0, 1, 2)):
        own = (points[..., depth_axis] + 1) / 2 * 0.9 + 0.1
        seen = images[:, view].flatten(1).gather(1, pixels[:, view])
        assert (seen >= own - 1e-6).all()
        front = torch.zeros_like(own, dtype=torch.bool)
        for b in range(2):
            for pix in pixels[b, view].unique():
                members = (pixels[b, view] == pix).nonzero().flatten()
                front[b, members[own[b, members].argmax()]] = True
        assert torch.allclose(seen[front], own[front])
    # a patch map that marks one patch of every view reaches exactly the points inside it
    values = torch.zeros(2, 3, (size // patch) ** 2, 1)
    values[:, :, 5] = 3.0                                                       # patch (1, 1) of a 4x4 grid
    per_point = back_project(values, pixels, size, patch)[..., 0]
    row, col = pixels // size, pixels % size
    inside = ((row // patch == 1) & (col // patch == 1)).float()               # [B,V,M]
    assert torch.allclose(per_point, 3.0 * inside.mean(1))


def image_teacher(size=16):
    torch.manual_seed(3)
    return anymae.create("mae_vit_tiny", image_size=size, patch_size=4, dim=32, depth=2, heads=2, decoder_dim=32,
                         decoder_depth=1, decoder_heads=2)


POINTS = dict(num_points=64, num_groups=8, group_size=8, dim=32, depth=2, heads=2, decoder_dim=32, decoder_depth=1,
              decoder_heads=2)


def test_i2p_masker_keeps_the_top_scored_groups_and_visible_groups_regress_2d_features():
    from anymae.masking import GuidedMasker
    from anymae.targets import attach_teachers
    masker = GuidedMasker(0.75, keep_top=True)
    scores = torch.rand(3, 8, generator=gen(2))
    mask = masker.sample(3, (8,), gen(0), scores=scores)
    assert torch.equal(mask.keep.sort(1).values, scores.topk(2, dim=1).indices.sort(1).values)
    torch.manual_seed(0)
    model = anymae.create("i2pmae_tiny", **POINTS)
    with pytest.raises(ValueError, match="teacher"):
        model(torch.rand(2, 64, 3) * 2 - 1)
    attach_teachers(model, [image_teacher()])
    term = model.term_named("i2p")
    clouds = torch.rand(2, 64, 3, generator=gen(5)) * 2 - 1
    out = model(clouds, generator=gen(0))
    assert {"reconstruction", "image_features"} == set(out.terms)
    scores, features = term.guidance(out.tokens)
    kept = out.mask.keep.sort(1).values
    assert torch.equal(kept, scores.topk(out.mask.num_visible, dim=1).indices.sort(1).values)  # the most salient
    assert features.shape == (2, 8, 32)
    # the feature term reads the visible groups only: changing the hidden groups' 2-D features changes nothing
    changed = out.tokens.extra["i2p_features"].clone()
    changed.scatter_(1, out.mask.hidden.unsqueeze(-1).expand(-1, -1, 32), 7.0)
    from anymae.terms.base import StepContext
    ctx = lambda f: StepContext(model, clouds, type(out.tokens)(**{**out.tokens.__dict__, "extra": {"i2p_features": f}}),
                                out.mask, out.latents, out.pred, out.target, out.token_loss)
    assert torch.allclose(term(ctx(out.tokens.extra["i2p_features"]))["image_features"], out.terms["image_features"])
    assert torch.allclose(term(ctx(changed))["image_features"], out.terms["image_features"])
