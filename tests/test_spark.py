"""SparK on timm CNNs (rows 48, 17): the sparse encoder's defining properties, the hierarchical decoder's loss on
masked patches only, and the export to a plain timm model."""
from __future__ import annotations

import json

import numpy as np
import pytest
import timm
import torch
import torch.nn.functional as F

import anymae
from anymae.config import PretrainConfig
from anymae.encoders.sparse_cnn import SparseBatchNorm2d, active_map
from anymae.io.interop import export_run, write_run
from anymae.io.readers import read_state_file

SMALL_CONVNEXT = {"model": "convnext_tiny", "densify_norm": "ln", "decoder_dim": 32, "image_size": 64,
                  "model_args": {"depths": [1, 1, 1, 1], "dims": [16, 32, 48, 64]}}


def build(seed: int = 0, **args):
    torch.manual_seed(seed)
    return anymae.create("spark_resnet_tiny", **args)


def image(model, batch=4, seed=1):
    h, w = model.tokenizer.image_size
    return torch.randn(batch, 3, h, w, generator=torch.Generator().manual_seed(seed))


def fixed_mask(model, batch=4, seed=2):
    tokens = model.tokenize(image(model, batch))
    return model.draw_mask(tokens, torch.Generator().manual_seed(seed))


def channels_last_layer(name: str) -> bool:
    """Inside a ConvNeXt block, timm runs the norm and the MLP on [B,H,W,C]."""
    return ".blocks." in name and (name.endswith(".norm") or ".mlp" in name)


def record_outputs(cnn):
    """Forward hooks on every layer of `cnn` (added after SparK's own): name -> 4-D output."""
    seen, handles = {}, []
    for name, module in cnn.named_modules():
        if name:
            handles.append(module.register_forward_hook(
                lambda m, i, o, name=name: seen.__setitem__(name, o) if torch.is_tensor(o) and o.ndim == 4 else None))
    return seen, handles


@pytest.mark.parametrize("args", [{}, SMALL_CONVNEXT], ids=["resnet18", "convnext"])
def test_masked_positions_stay_exactly_zero_through_every_layer(args):
    """Every convolution, norm, activation, block and stage output is exactly 0 on the masked patches,
    and the visible ones carry signal: the CNN runs on the visible pixels only."""
    model = build(**args).train()
    x, mask = image(model), fixed_mask(model)
    seen, handles = record_outputs(model.encoder.cnn)
    model(x, mask=mask)
    for h in handles:
        h.remove()
    active = active_map(mask.keep, x.shape[0], model.tokenizer.grid, x.device)
    assert len(seen) > 30
    for name, out in seen.items():
        if channels_last_layer(name):
            out = out.permute(0, 3, 1, 2)
        here = model.encoder.context.__class__()
        here.set(active)
        up = here.at(out.shape[2:])
        assert out.masked_select(~up).abs().max() == 0, name
        assert out.masked_select(up).abs().max() > 0, name


def test_masked_pixels_cannot_reach_the_encoder_or_the_decoder():
    """Changing the pixels of the masked patches changes no latent and no prediction."""
    model = build().eval()
    x, mask = image(model), fixed_mask(model)
    hidden_pixels = model.tokenizer.unpatchify(mask.bool.unsqueeze(-1).float().expand(-1, -1, model.tokenizer.patch_dim))
    noisy = x + 5.0 * torch.randn_like(x) * hidden_pixels
    with torch.no_grad():
        a, b = model(x, mask=mask), model(noisy, mask=mask)
    assert torch.equal(a.latents, b.latents) and torch.equal(a.pred, b.pred)
    assert not torch.equal(a.target, b.target)  # the targets do see them (as they should)


def test_batch_norm_statistics_come_from_visible_positions_only():
    """The sparse BN normalises with the mean/var of the visible positions (not of the zero-filled map) and
    its running statistics move towards them."""
    model = build().train()
    x, mask = image(model), fixed_mask(model)
    bn = model.encoder.cnn.bn1
    assert type(bn) is SparseBatchNorm2d
    inputs = {}
    handle = bn.register_forward_hook(lambda m, i, o: inputs.update(x=i[0].detach().clone(), y=o.detach().clone()))
    before = bn.running_mean.clone()
    model(x, mask=mask)
    handle.remove()
    active = active_map(mask.keep, 4, model.tokenizer.grid, "cpu")
    up = active.repeat_interleave(inputs["x"].shape[2] // 4, 2).repeat_interleave(inputs["x"].shape[3] // 4, 3)
    rows = inputs["x"].permute(0, 2, 3, 1)[up.squeeze(1)]  # [M,C] visible positions
    want = F.batch_norm(rows, None, None, bn.weight.detach(), bn.bias.detach(), training=True, eps=bn.eps)
    got = inputs["y"].permute(0, 2, 3, 1)[up.squeeze(1)]
    assert torch.allclose(got, want, atol=1e-4)
    dense = F.batch_norm(inputs["x"], None, None, bn.weight.detach(), bn.bias.detach(), training=True, eps=bn.eps)
    assert not torch.allclose(dense.permute(0, 2, 3, 1)[up.squeeze(1)], want, atol=1e-2)  # zeros would skew it
    moved = bn.running_mean - (1 - bn.momentum) * before
    assert torch.allclose(moved, bn.momentum * rows.mean(0), atol=1e-5)


def test_loss_counts_masked_patches_only_on_normalised_pixels():
    """The gradient of the loss reaches the decoder's reconstruction at masked patches only, and the target
    is each patch's pixels normalised to zero mean, unit variance."""
    model = build().train()
    x, mask = image(model), fixed_mask(model)
    kept = {}
    def keep_rec(module, inputs, rec):
        rec.retain_grad()
        kept["rec"] = rec

    handle = model.decoder.proj.register_forward_hook(keep_rec)
    out = model(x, mask=mask)
    out.loss.backward()
    handle.remove()
    grad = model.tokenizer.patchify(kept["rec"].grad).abs().sum(-1)  # [B,N]
    assert (grad[~mask.bool] == 0).all() and (grad[mask.bool] > 0).all()
    assert out.pred.shape[1] == mask.hidden.shape[1] == 10  # 60% of the 4x4 grid
    patches = model.tokenizer.patchify(x).gather(1, mask.hidden.unsqueeze(-1).expand(-1, -1, model.tokenizer.patch_dim))
    want = (patches - patches.mean(-1, keepdim=True)) / (patches.var(-1, keepdim=True) + 1e-6) ** 0.5
    assert torch.allclose(out.target, want, atol=1e-5)


def test_decoder_densifies_every_scale_with_its_mask_embedding():
    """Each scale's masked positions are filled with that scale's learnable mask embedding before projection."""
    model = build().train()
    x, mask = image(model), fixed_mask(model)
    tokens = model.tokenize(x)
    model.encode_visible(tokens, mask.keep)
    sparse = tokens.extra["sparse"]
    assert len(sparse["maps"]) == len(model.decoder.mask_tokens) == 4
    with torch.no_grad():
        for token in model.decoder.mask_tokens:
            token.fill_(3.0)
    seen = []
    hooks = [p.register_forward_pre_hook(lambda m, i: seen.append(i[0])) for p in model.decoder.densify_projs]
    model.decoder.densify(sparse["maps"], sparse["active"])
    for h in hooks:
        h.remove()
    for fmap in seen:
        up = sparse["active"].repeat_interleave(fmap.shape[2] // 4, 2).repeat_interleave(fmap.shape[3] // 4, 3)
        assert (fmap.masked_select(~up) == 3.0).all()


def test_same_seed_same_model_and_loss():
    a, b = build(seed=5), build(seed=5)
    x, mask = image(a), fixed_mask(a)
    assert torch.equal(a(x, mask=mask).loss, b(x, mask=mask).loss)


def test_refuses_cnns_it_cannot_make_sparse_and_sizes_off_the_grid():
    with pytest.raises(ValueError, match="not divisible"):
        build(image_size=36)
    with pytest.raises(ValueError, match="GroupNorm"):
        build(model="resnet18", model_args={"norm_layer": "groupnorm"})
    with pytest.raises(ValueError, match="timm model 'no_such_cnn'"):
        build(model="no_such_cnn")


@pytest.mark.parametrize("args", [{}, SMALL_CONVNEXT], ids=["resnet18", "convnext"])
def test_export_loads_in_timm_with_identical_outputs(tmp_path, args):
    """`export --to timm`: timm.create_model(name, **model_args) and `local-dir:` load the backbone strictly and
    give the encoder's features exactly (after training steps moved the batch-norm statistics)."""
    model = build(**args).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    for step in range(2):
        out = model(image(model, seed=step), generator=torch.Generator().manual_seed(step))
        out.loss.backward()
        opt.step()
        opt.zero_grad()
    model.eval()
    config = PretrainConfig(recipe="spark_resnet_tiny", recipe_args=args, mean=[0.5] * 3, std=[0.25] * 3, channels=3)
    write_run(model, config, tmp_path / "run", {})
    out, files, notes = export_run(tmp_path / "run", "timm", tmp_path / "timm", progress=False)
    meta = json.loads((out / "config.json").read_text())
    assert meta["architecture"] == model.encoder.name and meta["num_classes"] == 0
    cnn = timm.create_model(meta["architecture"], pretrained=False, num_classes=0, **meta["model_args"]).eval()
    cnn.load_state_dict(read_state_file(out / "model.safetensors")[0], strict=True)
    local = timm.create_model(f"local-dir:{out}", pretrained=True).eval()
    x = image(model, batch=2, seed=9)
    with torch.no_grad():
        ours = model.encode(x)  # [B,N,D], no mask
        theirs = cnn.forward_features(x).flatten(2).transpose(1, 2)
        assert torch.equal(ours, theirs)
        assert torch.equal(local.forward_features(x), cnn.forward_features(x))
        if args == {}:  # resnet: the pooled features are timm's pooled output
            assert torch.allclose(ours.mean(1), cnn(x), atol=1e-6)


def test_probe_reads_the_pooled_deepest_map(tmp_path):
    """`anymae probe` on a SparK run: mean-pooled features of the CNN's deepest map (its width), against the same
    CNN at random init and the image baselines."""
    from PIL import Image

    from anymae.eval.probe import probe_run
    rng = np.random.default_rng(0)
    for label in ("dark", "bright"):
        (tmp_path / "imgs" / label).mkdir(parents=True)
        for i in range(8):
            level = 60 if label == "dark" else 190
            pixels = np.clip(rng.normal(level, 30, (64, 64, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(tmp_path / "imgs" / label / f"{i}.png")
    model = build().eval()
    config = PretrainConfig(recipe="spark_resnet_tiny", data=str(tmp_path / "imgs"), mean=[0.5] * 3, std=[0.25] * 3,
                            channels=3)
    write_run(model, config, tmp_path / "run", {})
    rows, table = probe_run(tmp_path / "run", progress=False)
    assert "batch-norm statistics of both networks re-estimated on the training split" in table
    assert [r.name for r in rows[:2]] == ["anymae encoder [mean]", "random init [mean]"]
    assert rows[0].dim == rows[1].dim == model.encoder.dim == 128
    assert {"raw pixels", "HOG"} <= {r.name for r in rows}


def test_spark3d_keeps_masked_voxels_zero_in_every_3d_layer_and_predicts_masked_patches_only():
    """spark3d_tiny (row 17's 3-D setting): the 3-D ResNet's every layer is zero on masked cuboids, its batch norms
    are the sparse twins, and the loss reaches masked patches only."""
    from anymae.encoders.sparse_cnn import SparseBatchNorm3d
    torch.manual_seed(0)
    model = anymae.create("spark3d_tiny", volume_size=16, widths=(4, 8, 8), decoder_dim=16).train()
    assert model.tokenizer.grid == (2, 2, 2) and model.encoder.strides == [2, 4, 8]
    assert all(type(m) is SparseBatchNorm3d for m in model.encoder.cnn.modules() if isinstance(m, torch.nn.BatchNorm3d))
    x = torch.randn(2, 1, 16, 16, 16, generator=torch.Generator().manual_seed(1))
    mask = model.draw_mask(model.tokenize(x), torch.Generator().manual_seed(2))
    seen, handles = {}, []
    for name, module in model.encoder.cnn.named_modules():
        if name:
            handles.append(module.register_forward_hook(lambda m, i, o, name=name: seen.__setitem__(name, o)))
    kept = {}

    def keep_rec(module, inputs, rec):
        rec.retain_grad()
        kept["rec"] = rec

    handles.append(model.decoder.proj.register_forward_hook(keep_rec))
    out = model(x, mask=mask)
    out.loss.backward()
    for h in handles:
        h.remove()
    active = active_map(mask.keep, 2, model.tokenizer.grid, "cpu")
    for name, o in seen.items():
        up = active
        for axis in range(3):
            up = up.repeat_interleave(o.shape[2 + axis] // 2, dim=2 + axis)
        assert o.masked_select(~up).abs().max() == 0, name
    grad = model.tokenizer.patchify(kept["rec"].grad).abs().sum(-1)
    assert (grad[~mask.bool] == 0).all() and (grad[mask.bool] > 0).all()


def test_probe_reads_both_cnns_with_batch_norm_statistics_of_the_training_split():
    """`fit_batch_norm` (what `anymae probe` runs on both networks): every batch norm's running mean and variance
    become those of its inputs over the data set, unmasked; a network without batch norm is left alone."""
    from anymae.eval.features import fit_batch_norm
    model = build().eval()
    data = [(image(model, batch=1, seed=s)[0] * 2 + 1, 0, s) for s in range(6)]
    seen = []
    first = next(m for m in model.encoder.modules() if isinstance(m, torch.nn.BatchNorm2d))
    hook = first.register_forward_hook(lambda mod, inputs, out: seen.append(inputs[0].detach()))
    assert fit_batch_norm(model, data) and not model.training
    hook.remove()
    inputs = torch.cat(seen)                                               # [6,C,H,W], one pass, no mask
    torch.testing.assert_close(first.running_mean, inputs.mean((0, 2, 3)))
    torch.testing.assert_close(first.running_var, inputs.var((0, 2, 3), unbiased=True))
    assert not fit_batch_norm(anymae.create("mae_vit_tiny", image_size=16, depth=1), data)
