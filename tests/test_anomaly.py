"""`anymae anomaly` and MemMC-MAE (row 19): memory-augmented attention, multi-level decoder, reconstruction-error
scoring averaged over masks, MVTec-layout folders."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from anymae.data.defects import add_defect, texture_crops
from anymae.encoders.memmc import MemMCEncoder, MemoryAttention
from anymae.ensemble import ensemble_prediction
from anymae.eval.anomaly import aupro, patch_maps
from anymae.spec import ModelSpec, build_model

SMALL = dict(image_size=32, patch_size=8, dim=32, depth=2, heads=2, memory=8, decoder_dim=32, decoder_depth=1,
             decoder_heads=2)


def test_memory_is_read_by_attention_and_receives_gradients():
    torch.manual_seed(0)
    attn = MemoryAttention(dim=32, heads=2, memory=4)
    x = torch.randn(2, 5, 32)
    weights = attn.attention(x)  # [B,H,N,N+M]
    assert weights.shape == (2, 2, 5, 9)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 2, 5))
    assert (weights[..., 5:].sum(-1) > 0.05).all()  # every token reads the memory
    out = attn(x)
    with torch.no_grad():
        attn.memory_v.add_(1.0)
    assert not torch.allclose(attn(x), out)  # what is in the memory changes the output
    # the memory learns: gradients reach both slots of every block of the full model
    model = build_model(ModelSpec("memmc_tiny", SMALL), seed=0)
    model(torch.rand(2, 3, 32, 32), generator=torch.Generator().manual_seed(0)).loss.backward()
    for block in model.encoder.blocks:
        assert block.attn.memory_k.grad.abs().sum() > 0 and block.attn.memory_v.grad.abs().sum() > 0
    # the decoder reads every encoder level: each level's gate gets a gradient
    for gate in model.decoder.blocks[0].cross.gates:
        assert gate.weight.grad.abs().sum() > 0


def test_encoder_keeps_one_level_per_block():
    enc = MemMCEncoder(dim=32, depth=3, heads=2, memory=2)
    latents = enc(torch.randn(2, 4, 32))
    assert len(enc.levels) == 3 and torch.equal(enc.levels[-1], latents)
    assert all(level.shape == latents.shape for level in enc.levels)


def trained_memmc(steps: int = 200):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    normal = torch.from_numpy(texture_crops(256, 32, rng)).float()
    model = build_model(ModelSpec("memmc_tiny", SMALL), seed=0)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    g = torch.Generator().manual_seed(0)
    for step in range(steps):
        batch = normal[torch.randint(0, len(normal), (32,), generator=g)]
        loss = model(batch, generator=g).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def test_an_anomaly_reconstructs_worse_than_the_same_normal_sample():
    torch.set_num_threads(1)
    model = trained_memmc()
    rng = np.random.default_rng(5)
    images = texture_crops(6, 32, rng)
    normal, anomalous, masks = [], [], []
    for img in images:
        bad, mask = add_defect(img, "hole", rng)
        normal.append(img), anomalous.append(bad), masks.append(mask)
    normal, anomalous = torch.tensor(np.stack(normal)).float(), torch.tensor(np.stack(anomalous)).float()
    mask = torch.tensor(np.stack(masks))
    err = lambda x: (ensemble_prediction(model, x, 8, torch.Generator().manual_seed(1)) - x).pow(2).sum(1)
    e_normal, e_bad = err(normal), err(anomalous)
    inside_normal = torch.stack([e_normal[i][mask[i]].mean() for i in range(len(mask))])
    inside_bad = torch.stack([e_bad[i][mask[i]].mean() for i in range(len(mask))])
    assert (inside_bad > 2 * inside_normal).all(), (inside_bad, inside_normal)


def test_ensemble_of_k_masks_averages_k_reconstructions():
    model = build_model(ModelSpec("memmc_tiny", SMALL), seed=0).eval()
    x = torch.rand(2, 3, 32, 32)
    g = torch.Generator().manual_seed(3)
    one = [model.tokenizer.unpatchify(model.reconstruct(x, generator=g)[1]) for _ in range(4)]
    mean = ensemble_prediction(model, x, 4, torch.Generator().manual_seed(3))
    assert torch.allclose(mean, torch.stack(one).mean(0), atol=1e-6)


def test_aupro_and_patch_distance_on_known_maps():
    masks = np.zeros((4, 16, 16), dtype=np.uint8)
    masks[1, 2:6, 2:6] = 1
    masks[3, 8:12, 9:14] = 1
    assert aupro(masks.astype(float), masks) == pytest.approx(1.0, abs=0.01)
    assert aupro(np.random.default_rng(0).random((4, 16, 16)), masks) < 0.3
    train = torch.zeros(4, 1, 16, 16)
    test = torch.zeros(2, 1, 16, 16)
    test[1, :, 4:8, 4:8] = 1
    maps = patch_maps(train, test, patch=4, stride=4)
    assert maps[0].max() == 0 and maps[1, 4:8, 4:8].min() == pytest.approx(4.0)  # sqrt(16 ones)


def write_png(path, array):
    from PIL import Image
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_mvtec_layout_folder_works_end_to_end(tmp_path, capsys):
    from anymae.cli import main
    rng = np.random.default_rng(0)
    crops = (texture_crops(24, 32, rng).transpose(0, 2, 3, 1) * 255).astype(np.uint8)
    root = tmp_path / "bottle"
    for i in range(16):
        write_png(root / "train" / "good" / f"{i:03d}.png", crops[i])
    for i in range(16, 20):
        write_png(root / "test" / "good" / f"{i:03d}.png", crops[i])
    for i in range(20, 24):
        bad, mask = add_defect(crops[i].transpose(2, 0, 1) / 255.0, "hole", rng)
        write_png(root / "test" / "hole" / f"{i:03d}.png", (bad.transpose(1, 2, 0) * 255).astype(np.uint8))
        write_png(root / "ground_truth" / "hole" / f"{i:03d}_mask.png", mask.astype(np.uint8) * 255)
    run = tmp_path / "run"
    args = [f"--arg={k}={v}" for k, v in SMALL.items() if k != "image_size"]
    assert main(["pretrain", "--recipe", "memmc_tiny", "--data", str(root), "--image-size", "32", "--steps", "2",
                 "--batch-size", "8", "--out", str(run), *args]) == 0
    out = tmp_path / "scores"
    assert main(["anomaly", str(run), "--ensemble", "2", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "per-pixel Gaussian" in text and "random init" in text and "PatchCore" in text
    report = json.loads((out / "anomaly.json").read_text())
    assert report["normal"] == 4 and report["anomalous"] == 4
    assert all(r["pixel_auroc"] is not None for r in report["results"]) and len(report["results"]) == 4
    assert (out / "heatmaps.png").stat().st_size > 0
    # a labelled set without normal/anomalous test labels is refused in one line
    assert main(["anomaly", str(run), "--data", "digits", "--out", str(tmp_path / "x")]) == 2
    assert "normal (0) and anomalous (1)" in capsys.readouterr().err
