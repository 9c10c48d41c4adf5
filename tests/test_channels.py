"""Beyond RGB: channel / spectral tokenizers, channel-patch and modality maskers, per-modality decoders,
multi-modal data and `anymae impute` (PAPERS.md rows 3, 15, 35, 45, 50)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import anymae
from anymae.masking import ChannelPatchMasker, ModalityMasker, present_mask
from anymae.tokenizers import ChannelTokenizer, SpectralTokenizer, Tokens

S2 = [(443, 20), (490, 65), (560, 35), (665, 30), (705, 15), (740, 15), (783, 20), (842, 115), (865, 20),
      (945, 20), (1375, 30), (1610, 90), (2190, 180)]
FOUR = [(475, 70), (555, 80), (650, 60), (810, 100)]


def fake_tokens(group: torch.Tensor, batch: int) -> Tokens:
    n = group.numel()
    return Tokens(values=torch.zeros(batch, n, 1), embed=torch.zeros(batch, n, 4), pos=torch.zeros(1, n, 4),
                  grid=(n,), group=group)


# ---------------------------------------------------------------- channel tokenizer (ChA-MAEViT)
@pytest.mark.parametrize("channels", [1, 3, 5])
def test_channel_tokenizer_takes_any_channel_count(channels):
    tok = ChannelTokenizer(16, 4, channels=5, dim=32)
    x = torch.randn(2, channels, 16, 16)
    t = tok(x)
    assert t.embed.shape == (2, channels * 16, 32)
    assert t.group.tolist() == [c for c in range(channels) for _ in range(16)]
    assert torch.equal(tok.unpatchify(t.values), x)


def test_channel_embeddings_are_distinct():
    torch.manual_seed(0)
    tok = ChannelTokenizer(8, 4, channels=4, dim=32)
    same = torch.randn(1, 1, 8, 8).expand(1, 4, 8, 8).contiguous()   # the same picture in every channel
    t = tok(same).embed.view(4, 4, 32)                                # [channel, patch, D]
    for a in range(4):
        for b in range(a + 1, 4):
            assert not torch.allclose(t[a], t[b]), f"channels {a} and {b} give the same tokens"
    assert torch.linalg.matrix_rank(tok.channel_embed.detach()) == 4


def test_model_trained_on_five_channels_encodes_a_subset():
    torch.manual_seed(0)
    model = anymae.create("chamaevit_tiny", image_size=16, patch_size=4, channels=5, dim=32, depth=1, heads=2,
                          decoder_dim=32, decoder_depth=1, decoder_heads=2, memory=2)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(3):
        out = model(torch.randn(4, 5, 16, 16), generator=g)
        out.loss.backward()
        opt.step()
        opt.zero_grad()
    model.eval()
    x = torch.randn(2, 5, 16, 16)
    subset = {"pixels": x[:, [0, 2, 4]], "channels": torch.tensor([0, 2, 4])}
    latents = model.encode(subset)
    assert latents.shape == (2, model.encoder.num_prefix + 3 * 16, 32)
    # each subset token is the full input's token of the same channel and patch
    full, part = model.tokenizer(x), model.tokenizer(subset)
    keep = torch.cat([torch.arange(c * 16, (c + 1) * 16) for c in (0, 2, 4)])
    assert torch.allclose(part.embed, full.embed[:, keep])
    assert torch.equal(part.group, full.group[keep])
    with pytest.raises(ValueError, match="channels"):
        model.encode(torch.randn(1, 6, 16, 16))


# ---------------------------------------------------------------- spectral tokenizer (SMARTIES)
def test_two_sensors_give_tokens_of_the_same_shape():
    tok = SpectralTokenizer(16, 4, channels=13, dim=32)
    a = tok({"pixels": torch.rand(2, 13, 16, 16), "bands": torch.tensor(S2, dtype=torch.float32)})
    b = tok({"pixels": torch.rand(2, 4, 16, 16), "bands": torch.tensor(FOUR, dtype=torch.float32)})
    assert a.embed.shape == b.embed.shape == (2, 16, 32)


def test_band_order_does_not_matter():
    torch.manual_seed(0)
    tok = SpectralTokenizer(16, 4, channels=13, dim=32)
    x, bands = torch.rand(3, 13, 16, 16), torch.tensor(S2, dtype=torch.float32)
    perm = torch.randperm(13)
    base = tok({"pixels": x, "bands": bands}).embed
    shuffled = tok({"pixels": x[:, perm], "bands": bands[perm]}).embed
    assert torch.allclose(base, shuffled, atol=1e-5)
    # ... while the wavelengths do matter: the same values said to be other bands give other tokens
    shifted = tok({"pixels": x, "bands": bands + torch.tensor([300.0, 0.0])}).embed
    assert not torch.allclose(base, shifted, atol=1e-3)


def test_band_mask_equals_a_sensor_with_only_the_seen_bands():
    """Cross-sensor training hides bands: the tokens are those of a sensor that has only the seen bands."""
    torch.manual_seed(0)
    tok = SpectralTokenizer(16, 4, channels=13, dim=32)
    x, bands = torch.rand(2, 13, 16, 16), torch.tensor(S2, dtype=torch.float32)
    seen = torch.tensor([0, 2, 3, 7, 11])
    mask = torch.zeros(2, 13)
    mask[:, seen] = 1
    hidden = tok({"pixels": x, "bands": bands, "band_mask": mask})
    subset = tok({"pixels": x[:, seen], "bands": bands[seen]})
    assert torch.allclose(hidden.embed, subset.embed, atol=1e-5)
    assert hidden.values.shape[-1] == 16 * 13, "the targets keep every band"


def test_same_scene_two_sensors_tokens_agree_more_than_other_scenes():
    """Resampled onto the shared anchors, one scene seen by two sensors is closer than two scenes."""
    from anymae.data.spectral import band_values, material_curves
    tok = SpectralTokenizer(4, 4, channels=13, dim=32)
    curves = np.stack(list(material_curves().values()))
    s2, four = band_values(curves, S2), band_values(curves, FOUR)           # [M,C]
    img = lambda v: torch.tensor(v, dtype=torch.float32)[:, :, None, None].expand(-1, -1, 4, 4)
    a = tok.resample(img(s2), torch.tensor(S2, dtype=torch.float32).expand(len(s2), -1, -1))[0][:, :, 0, 0]
    b = tok.resample(img(four), torch.tensor(FOUR, dtype=torch.float32).expand(len(four), -1, -1))[0][:, :, 0, 0]
    covered = tok.resample(img(four), torch.tensor(FOUR, dtype=torch.float32).expand(len(four), -1, -1))[1][0] > 0.5
    d = torch.cdist(a[:, covered], b[:, covered])                          # [M,M] distances between sensors
    assert bool((d.diag() < d.masked_fill(torch.eye(len(d), dtype=torch.bool), 1e9).min(1).values).float().mean() >= 0.75)


# ---------------------------------------------------------------- channel-patch masking
def test_channel_patch_masker_hides_whole_channels_and_patches():
    masker = ChannelPatchMasker(ratio=0.75, channel_ratio=0.5)
    grid = (4, 4, 4)
    g = torch.Generator().manual_seed(0)
    mask = masker.sample(500, grid, g)
    n = 64
    assert bool((mask.bool.sum(1) == n - round(n * 0.25)).all())
    assert bool((~mask.bool).any(1).all()), "every sample keeps a token"
    whole = masker.hidden_channels(mask, grid)                              # [B,C]
    counts = whole.sum(1)
    assert counts.max() <= 2 and counts.max() >= 1 and (counts == 0).any()  # k in 0..floor(4*0.5)
    assert bool((~whole).any(1).all()), "at least one channel is not hidden whole"
    per_channel_hidden = mask.bool.view(500, 4, 16).sum(-1)
    partial = (per_channel_hidden > 0) & (per_channel_hidden < 16)
    assert bool(partial.any(1).float().mean() > 0.9), "patches within channels are hidden too"


# ---------------------------------------------------------------- modality masking (MultiMAE, BM-MAE)
@pytest.mark.parametrize("alpha", [0.5, 4.0])
def test_dirichlet_budget_sums_and_follows_alpha(alpha):
    m, per, draws = 3, 64, 4000
    group = torch.arange(m).repeat_interleave(per)
    masker = ModalityMasker(visible=48, alpha=alpha)
    counts = masker.counts(torch.bincount(group), draws, torch.Generator().manual_seed(1)).float()
    assert bool((counts.sum(1) == 48).all())
    frac = counts / 48
    assert torch.allclose(frac.mean(0), torch.full((m,), 1 / m), atol=0.02)
    expected_var = (1 / m) * (1 - 1 / m) / (m * alpha + 1)                 # Dirichlet(alpha,...) variance
    assert abs(float(frac.var(0).mean()) - expected_var) < 0.15 * expected_var + 2e-4
    mask = ModalityMasker(visible=48, alpha=alpha)(fake_tokens(group, 8), torch.Generator().manual_seed(2))
    assert bool((mask.bool.sum(1) == m * per - 48).all())


def test_whole_modality_dropout_hides_every_token_of_that_modality():
    m, per, draws, drop = 3, 16, 4000, 0.3
    group = torch.arange(m).repeat_interleave(per)
    masker = ModalityMasker(visible=12, alpha=50.0, drop=drop)             # large alpha: no zeros by chance
    counts = masker.counts(torch.bincount(group), draws, torch.Generator().manual_seed(3))
    zero = (counts == 0).float().mean()
    assert abs(float(zero) - (drop - drop ** 3 / m)) < 0.03                 # one modality is rescued when all drop
    assert bool((counts > 0).any(1).all())
    mask = masker(fake_tokens(group, 256), torch.Generator().manual_seed(4))
    visible_per_modality = (~mask.bool).view(256, m, per).sum(-1)
    dropped = visible_per_modality == 0
    assert bool(dropped.any()), "some samples lose a whole modality"
    assert bool(mask.bool.view(256, m, per)[dropped].all()), "a dropped modality has no visible token"


# ---------------------------------------------------------------- per-modality decoders
def tiny_multimae(**kw):
    args = dict(image_size=16, patch_size=4, dim=32, depth=1, heads=2, decoder_dim=32, decoder_depth=1,
                decoder_heads=2, classes=11)
    args.update(kw)
    return anymae.create("multimae_tiny", **args)


def multimodal_batch(b=4, size=16):
    g = torch.Generator().manual_seed(0)
    return {"rgb": torch.randn(b, 3, size, size, generator=g), "depth": torch.randn(b, 1, size, size, generator=g),
            "semseg": torch.randint(0, 11, (b, size, size), generator=g)}


def test_each_decoder_predicts_only_its_modality_hidden_tokens():
    torch.manual_seed(0)
    model = tiny_multimae().eval()
    x = multimodal_batch()
    g = torch.Generator().manual_seed(5)
    tokens = model.tokenizer(x)
    mask = model.draw_mask(tokens, g)
    out = model(x, mask=mask)
    predicted_group = tokens.group[mask.predict]                            # [B,Np]
    assert bool(torch.gather(mask.bool, 1, mask.predict).all()), "only hidden tokens are predicted"
    with torch.no_grad():
        for p in model.decoder.decoders["depth"].parameters():
            p.add_(0.5 * torch.randn_like(p))
    changed = (model(x, mask=mask).pred - out.pred).abs().amax(-1) > 1e-6   # [B,Np]
    depth_id = model.tokenizer.names.index("depth")
    assert bool(changed[predicted_group == depth_id].all())
    assert not bool(changed[predicted_group != depth_id].any())
    # the semseg head's width is classes x pixels, the rgb head's pixels x 3
    widths = model.decoder.outputs
    assert widths == {"rgb": 48, "depth": 16, "semseg": 16 * 11}


def test_present_mask_keeps_the_source_and_predicts_the_asked_modality():
    group = torch.arange(3).repeat_interleave(16)
    mask = present_mask(group, 2, visible=[0], predict=[1])
    assert bool((group[mask.keep] == 0).all()) and mask.keep.shape[1] == 16
    assert bool((group[mask.predict] == 1).all()) and mask.predict.shape[1] == 16


# ---------------------------------------------------------------- data
def test_shapes_multimodal_modalities_agree():
    from anymae.data import load_dataset
    data = load_dataset("shapes-multimodal", "test", image_size=16)
    sample = data.pixels(0)
    assert set(sample) == {"rgb", "depth", "semseg"}
    label = int(data.labels[0])
    assert set(sample["semseg"].unique().tolist()) <= {0, label + 1}
    shape = sample["semseg"] > 0
    assert float(sample["depth"][0][shape].mean()) < float(sample["depth"][0][~shape].mean()), "shapes are nearer"


def test_array_folder_layout_inferred_stated_or_refused(tmp_path):
    from anymae.data import load_dataset
    rng = np.random.default_rng(0)
    (tmp_path / "chw").mkdir()
    (tmp_path / "hwc").mkdir()
    for i in range(3):
        np.save(tmp_path / "chw" / f"{i}.npy", rng.random((5, 20, 24)).astype(np.float32))
        np.save(tmp_path / "hwc" / f"{i}.npy", rng.random((20, 24, 5)).astype(np.float32))
    for name in ("chw", "hwc"):
        data = load_dataset(str(tmp_path / name), image_size=8)
        assert data.modality == "multichannel" and data.channels == 5
    square = tmp_path / "square"
    square.mkdir()
    np.save(square / "a.npy", rng.random((6, 10, 6)).astype(np.float32))
    with pytest.raises(ValueError, match="layout: CHW"):
        load_dataset(str(square), image_size=8)
    (square / "anymae.yaml").write_text("layout: HWC\n")
    assert load_dataset(str(square), image_size=8).channels == 6


def test_modality_folders_load_as_multimodal_samples(tmp_path):
    from PIL import Image
    from anymae.data import load_dataset
    rng = np.random.default_rng(0)
    for sub in ("rgb", "depth", "semseg"):
        (tmp_path / sub).mkdir()
    for name in ("a", "b"):
        Image.fromarray((rng.random((12, 12, 3)) * 255).astype(np.uint8)).save(tmp_path / "rgb" / f"{name}.png")
        np.save(tmp_path / "depth" / f"{name}.npy", rng.random((12, 12)).astype(np.float32))
        np.save(tmp_path / "semseg" / f"{name}.npy", rng.integers(0, 3, (12, 12)))
    data = load_dataset(str(tmp_path), image_size=8)
    assert data.modality == "multimodal" and len(data) == 2
    sample = data.pixels(1)
    assert sample["rgb"].shape == (3, 16, 16) and sample["depth"].shape == (1, 16, 16)
    assert sample["semseg"].dtype == torch.long and sample["semseg"].shape == (16, 16)


# ---------------------------------------------------------------- learning: depth from RGB alone
def test_short_training_predicts_depth_from_rgb_better_than_the_mean():
    from anymae.data.multimodal import MultiModalTransform, modality_stats, shapes_multimodal
    from anymae.eval.impute import impute_batch
    torch.manual_seed(0)
    train = shapes_multimodal("train", 16, train_count=400)
    test = shapes_multimodal("test", 16, test_count=100)
    mean, std = modality_stats(train)
    stats = {k: (mean[k], std[k]) for k in ("rgb", "depth")}
    tf = MultiModalTransform((16, 16), stats, augment=False)
    stack = lambda d: {k: torch.stack([tf(d.pixels(i))[k] for i in range(len(d))]) for k in ("rgb", "depth")}
    xs, xt = stack(train), stack(test)
    model = tiny_multimae(modalities="rgb,depth", drop=0.5, mask_ratio=0.5)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    g = torch.Generator().manual_seed(0)
    for step in range(150):
        idx = torch.randint(0, len(train), (32,), generator=g)
        out = model({k: v[idx] for k, v in xs.items()}, generator=g)
        out.loss.backward()
        opt.step()
        opt.zero_grad()
    model.eval()
    pred = tf.invert("depth", impute_batch(model, xt, ["rgb"], ["depth"])["depth"])
    truth = tf.invert("depth", xt["depth"])
    rmse = float(((pred - truth) ** 2).mean().sqrt())
    baseline = float(((mean["depth"][0] - truth) ** 2).mean().sqrt())
    assert rmse < 0.9 * baseline, f"depth RMSE {rmse:.4f} vs predict-the-mean {baseline:.4f}"


# ---------------------------------------------------------------- the command
def test_impute_command_writes_arrays_panel_and_metrics(tmp_path):
    import yaml
    from anymae.cli import main
    from anymae.io.checkpoint import save_weights
    from anymae.data import load_dataset
    from anymae.data.multimodal import modality_stats
    torch.manual_seed(0)
    args = dict(image_size=16, patch_size=4, dim=32, depth=1, heads=2, decoder_dim=32, decoder_depth=1, decoder_heads=2)
    model = anymae.create("multimae_tiny", **args)
    mean, std = modality_stats(load_dataset("shapes-multimodal", "test", image_size=16))
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump({"recipe": "multimae_tiny", "data": "shapes-multimodal",
                                                     "modality": "multimodal", "recipe_args": args,
                                                     "mean": mean, "std": std}))
    save_weights(model.state_dict(), run / "model.safetensors")
    out = tmp_path / "imputed"
    assert main([ "impute", str(run), "--data", "shapes-multimodal", "--from", "rgb", "--predict", "depth,semseg",
                  "--out", str(out), "--count", "10"]) == 0
    assert (out / "panel.png").exists()
    assert len(list((out / "depth").glob("*.npy"))) == 10 and len(list((out / "semseg").glob("*.npy"))) == 10
    import json
    metrics = json.loads((out / "metrics.json").read_text())["metrics"]
    assert set(metrics) == {"depth", "semseg"} and metrics["depth"]["metric"] == "RMSE"
    assert np.load(out / "depth" / "00000.npy").shape == (16, 16)
    # a folder of plain images is read as the rgb modality; no truth, so no errors, but arrays and a panel
    from PIL import Image
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("x", "y"):
        Image.fromarray((np.random.default_rng(1).random((20, 20, 3)) * 255).astype(np.uint8)).save(photos / f"{name}.png")
    assert main(["impute", str(run), "--input", str(photos), "--predict", "depth", "--out", str(tmp_path / "p")]) == 0
    assert sorted(p.name for p in (tmp_path / "p" / "depth").glob("*.npy")) == ["x.npy", "y.npy"]
    with pytest.raises(SystemExit):
        main(["impute", "--help"])
