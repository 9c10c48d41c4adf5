"""Interop (MAE, row 0): official MAE / Hugging Face ViTMAE / timm weights in and out, proven by parity.

Random weights only, no downloads: HF models are built from a ViTMAEConfig, timm models with pretrained=False.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import anymae
from anymae.io.checkpoint import load_run
from anymae.io.hf_vitmae import hf_to_official, official_to_hf
from anymae.io.interop import export_run, import_checkpoint, write_run
from anymae.io.official_mae import anymae_to_official
from anymae.io.pos_embed import zeros_row
from anymae.tokenizers import sincos_grid
from anymae.train.config import PretrainConfig

transformers = pytest.importorskip("transformers")
timm = pytest.importorskip("timm")
from transformers import ViTMAEConfig, ViTMAEForPreTraining, ViTMAEModel  # noqa: E402

TOL = 1e-5
# (hidden, layers, heads, decoder hidden, decoder layers, decoder heads, image, patch)
# tiny-shaped: anymae's mae_vit_tiny at full depth, MAE's LayerNorm eps 1e-6; base-shaped: ViT-B/16's width,
# heads, patch and image, MAE's 512-wide 16-head decoder, the Hub configs' eps 1e-12, with 2 encoder layers and
# 1 decoder layer to stay fast on a CPU (benchmarks/interop_parity.py measures the full 12 + 8 blocks).
SHAPES = {"tiny": (192, 12, 3, 128, 4, 4, 32, 4), "base": (768, 2, 12, 512, 1, 16, 224, 16)}
EPS = {"tiny": 1e-6, "base": 1e-12}


def perturb(module: torch.nn.Module, seed: int, keep=("pos_embed", "position_embeddings", "pos.table")) -> None:
    """Add noise to every parameter (LayerNorms, biases, mask token too) except position tables."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if not any(k in name for k in keep):
                p.add_(torch.randn(p.shape, generator=gen) * 0.05)


def hf_model(shape: str, norm_pix: bool, seed: int = 0, eps: float | None = None) -> ViTMAEForPreTraining:
    dim, depth, heads, d_dim, d_depth, d_heads, image, patch = SHAPES[shape]
    cfg = ViTMAEConfig(hidden_size=dim, num_hidden_layers=depth, num_attention_heads=heads,
                       intermediate_size=4 * dim, decoder_hidden_size=d_dim, decoder_num_hidden_layers=d_depth,
                       decoder_num_attention_heads=d_heads, decoder_intermediate_size=4 * d_dim,
                       image_size=image, patch_size=patch, layer_norm_eps=eps or EPS.get(shape, 1e-6),
                       norm_pix_loss=norm_pix)
    torch.manual_seed(seed)
    model = ViTMAEForPreTraining(cfg).eval()
    grid = (image // patch, image // patch)
    with torch.no_grad():  # MAE's fixed sin-cos tables, as every released checkpoint holds
        model.vit.embeddings.position_embeddings.copy_(zeros_row(sincos_grid(dim, grid)[None]))
        model.decoder.decoder_pos_embed.copy_(zeros_row(sincos_grid(d_dim, grid)[None]))
    perturb(model, seed)
    return model


def tiny_run(tmp: Path, name: str = "run", seed: int = 0, **args) -> tuple[Path, torch.nn.Module]:
    """A run folder holding a perturbed 2-layer mae_vit_tiny."""
    args = {"depth": 2, "decoder_depth": 1, **args}
    torch.manual_seed(seed)
    model = anymae.create("mae_vit_tiny", **args).eval()
    perturb(model, seed)
    config = PretrainConfig(recipe="mae_vit_tiny", recipe_args=args, mean=[0.5] * 3, std=[0.25] * 3, channels=3)
    write_run(model, config, tmp / name, {})
    return tmp / name, model


def compare_with_hf(model, hf, x: torch.Tensor, noise: torch.Tensor) -> dict[str, float]:
    """Same weights, same noise: -> largest |difference| of loss and predictions; asserts the same mask."""
    with torch.no_grad():
        theirs = hf(pixel_values=x, noise=noise)
        ours = model(x, noise=noise)
    assert torch.equal(ours.mask.bool, theirs.mask.bool()), "hidden-token sets differ"
    hidden = ours.mask.hidden.unsqueeze(-1).expand(-1, -1, theirs.logits.shape[-1])
    return {"loss": float((ours.loss - theirs.loss).abs()),
            "pred": float((ours.pred - torch.gather(theirs.logits, 1, hidden)).abs().max())}


@pytest.mark.parametrize("norm_pix", [True, False])
@pytest.mark.parametrize("shape", ["tiny", "base"])
def test_hf_checkpoint_imports_with_parity(tmp_path, shape, norm_pix):
    hf = hf_model(shape, norm_pix)
    hf.save_pretrained(tmp_path / "hf")
    run, report = import_checkpoint(tmp_path / "hf", "hf-vitmae", tmp_path / "run", progress=False)
    model, config = load_run(run)
    assert model.target.norm is norm_pix and config["recipe"] == f"mae_vit_{shape}"
    assert not config["recipe_args"]["learnable_pos"]  # recognised as MAE's fixed sin-cos
    assert config["recipe_args"]["norm_eps"] == EPS[shape] == model.encoder.norm.eps
    image = SHAPES[shape][6]
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, image, image, generator=gen)
    noise = torch.rand(2, model.tokenizer.num_tokens, generator=gen)
    diff = compare_with_hf(model, hf, x, noise)
    assert diff["loss"] <= TOL and diff["pred"] <= TOL, diff


def test_export_to_hf_loads_in_transformers_with_both_key_namings(tmp_path):
    run, model = tiny_run(tmp_path, norm_pix=False, mask_ratio=0.6, mask_rounding="floor")
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(2, 3, 32, 32, generator=gen)
    noise = torch.rand(2, 64, generator=gen)
    for naming in ("4", "5"):
        out, files, _ = export_run(run, "hf", tmp_path / f"hf{naming}", naming=naming, progress=False)
        assert set(files) == {"model.safetensors", "config.json", "preprocessor_config.json"}
        hf = ViTMAEForPreTraining.from_pretrained(out).eval()
        assert hf.config.mask_ratio == 0.6 and hf.config.norm_pix_loss is False
        diff = compare_with_hf(model, hf, x, noise)
        assert diff["loss"] <= TOL and diff["pred"] <= TOL, (naming, diff)
    # the default export uses the installed version's names: they load into its model strictly, key for key
    from anymae.io.readers import read_state_file
    out, _, _ = export_run(run, "hf", tmp_path / "hf-default", progress=False)
    fresh = ViTMAEForPreTraining(ViTMAEConfig.from_pretrained(out))
    fresh.load_state_dict(read_state_file(out / "model.safetensors")[0], strict=True)


def test_hf_readers_accept_both_namings():
    hf = hf_model("tiny", True)
    state5 = hf.state_dict()  # transformers 5.x in-memory names
    official, naming, _ = hf_to_official(state5)
    assert naming == "5"
    state4 = official_to_hf(official, "4")  # synthesised 4.x names (the Hub's)
    assert any(".attention.attention.query." in k for k in state4)
    again, naming4, _ = hf_to_official(state4)
    assert naming4 == "4" and again.keys() == official.keys()
    assert all(torch.equal(again[k], official[k]) for k in official)
    back5 = official_to_hf(official, "5")
    assert back5.keys() == state5.keys() and all(torch.equal(back5[k], state5[k]) for k in state5)


def test_export_to_timm_matches_forward_features(tmp_path):
    for name, size in (("square", 32), ("wide", [24, 40])):
        run, model = tiny_run(tmp_path, name, image_size=size)
        out, _, _ = export_run(run, "timm", tmp_path / f"timm-{name}", progress=False)
        import json
        meta = json.loads((out / "config.json").read_text())
        vit = timm.create_model(meta["architecture"], pretrained=False, num_classes=0, **meta["model_args"])
        from anymae.io.readers import read_state_file
        vit.load_state_dict(read_state_file(out / "model.safetensors")[0], strict=True)
        local = timm.create_model(f"local-dir:{out}", pretrained=True, num_classes=0)
        h, w = (size, size) if isinstance(size, int) else size
        x = torch.randn(2, 3, h, w, generator=torch.Generator().manual_seed(3))
        with torch.no_grad():
            ours = model.encode(x)
            assert (ours - vit.eval().forward_features(x)).abs().max() <= TOL
            assert (ours - local.eval().forward_features(x)).abs().max() <= TOL
    with pytest.raises(ValueError, match="square images only"):  # transformers' ViTMAE cannot run 24x40
        export_run(run, "hf", tmp_path / "hf-wide", progress=False)


def test_position_task_run_exports_exactly_to_timm_and_hf(tmp_path):
    """A run trained with the position task (no encoder positions, a training-only head in `aux`):
    both exports drop the head, write a zero pos_embed, say so, and reproduce anymae's features."""
    args = {"depth": 2, "decoder_depth": 1, "patch_size": 8, "position_task": 1.0}
    torch.manual_seed(0)
    model = anymae.create("mae_vit_tiny", **args).eval()
    perturb(model, 0)
    config = PretrainConfig(recipe="mae_vit_tiny", recipe_args=args, mean=[0.5] * 3, std=[0.25] * 3, channels=3)
    write_run(model, config, tmp_path / "run", {})
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        ours = model.encode(x)
        out, _, notes = export_run(tmp_path / "run", "timm", tmp_path / "timm", progress=False)
        assert any("without position embeddings" in n for n in notes)
        local = timm.create_model(f"local-dir:{out}", pretrained=True, num_classes=0).eval()
        assert (ours - local.forward_features(x)).abs().max() <= TOL
        out, _, notes = export_run(tmp_path / "run", "hf", tmp_path / "hf", progress=False)
        assert any("PositionPrediction" in n for n in notes)
        hf = ViTMAEModel.from_pretrained(out, mask_ratio=0.0).eval()
        in_order = torch.arange(16, dtype=torch.float32).expand(2, 16)
        assert (ours - hf(pixel_values=x, noise=in_order).last_hidden_state).abs().max() <= TOL


def test_timm_import_resamples_positions_like_timm_non_square(tmp_path):
    torch.manual_seed(4)
    src = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=10, img_size=32, patch_size=4,
                            depth=2).eval()
    perturb(src, 4, keep=())  # learned position table, cls position row included
    save_file(src.state_dict(), str(tmp_path / "vit.safetensors"))
    run, report = import_checkpoint(tmp_path / "vit.safetensors", "timm", tmp_path / "run",
                                    image_size="24x40", progress=False)
    assert any("head" in n for n in report["notes"]) and report["random_init"] == ["decoder"]
    model, config = load_run(run)
    assert config["recipe_args"]["learnable_pos"] and model.tokenizer.grid == (6, 10)
    # timm's own route to the same size: a model at 24x40 loading the checkpoint through its filter
    from timm.models.vision_transformer import checkpoint_filter_fn
    ref = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=0, img_size=(24, 40),
                            patch_size=4, depth=2).eval()
    state = {k: v for k, v in src.state_dict().items() if not k.startswith("head.")}
    ref.load_state_dict(checkpoint_filter_fn(state, ref), strict=True)
    x = torch.randn(2, 3, 24, 40, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        assert (model.encode(x) - ref.forward_features(x)).abs().max() <= TOL
        assert torch.isfinite(model(x, generator=torch.Generator().manual_seed(0)).loss)


def official_checkpoint(tmp: Path, model, args: dict | None = None, encoder_only: bool = False) -> Path:
    payload = {"model": anymae_to_official(model, encoder_only=encoder_only)}
    if args is not None:
        payload["args"] = argparse.Namespace(**args)
    torch.save(payload, tmp / "mae.pth")
    return tmp / "mae.pth"


def test_round_trip_official_anymae_hf_anymae_is_bit_identical(tmp_path):
    _, model = tiny_run(tmp_path, "source", norm_pix=False)
    official = anymae_to_official(model)
    src = official_checkpoint(tmp_path, model, {"model": "mae_vit_tiny", "input_size": 32, "mask_ratio": 0.75,
                                                 "norm_pix_loss": False})
    run1, _ = import_checkpoint(src, "official-mae", tmp_path / "run1", progress=False)
    export_run(run1, "hf", tmp_path / "hf", progress=False)
    run2, _ = import_checkpoint(tmp_path / "hf", "hf-vitmae", tmp_path / "run2", progress=False)
    first, c1 = load_run(run1)
    second, c2 = load_run(run2)
    a, b = first.state_dict(), second.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert c1["recipe_args"] == c2["recipe_args"] and c1["recipe_args"]["norm_pix"] is False
    back = anymae_to_official(second)
    assert back.keys() == official.keys() and all(torch.equal(back[k], official[k]) for k in official)


def test_official_import_at_another_size_resamples_both_tables(tmp_path):
    _, model = tiny_run(tmp_path, "source")
    src = official_checkpoint(tmp_path, model)
    run, report = import_checkpoint(src, "official-mae", tmp_path / "run", image_size="48x32", progress=False)
    imported, config = load_run(run)
    assert config["recipe_args"]["learnable_pos"] and config["recipe_args"]["decoder_learnable_pos"]
    assert imported.tokenizer.pos.table.shape == (1, 12 * 8, 192)
    assert imported.decoder.pos.table.shape == (1, 12 * 8, 128)
    assert sum("resampled from 8x8 to 12x8" in n for n in report["notes"]) == 2
    x = torch.randn(1, 3, 48, 32)
    assert torch.isfinite(imported(x, generator=torch.Generator().manual_seed(0)).loss)


def test_strict_checks_list_unknown_missing_and_mismatched_keys(tmp_path):
    _, model = tiny_run(tmp_path, "source")
    state = anymae_to_official(model)
    state["blocks.0.mystery.weight"] = torch.zeros(3)
    del state["norm.weight"]
    state["blocks.1.mlp.fc1.bias"] = torch.zeros(5)
    torch.save({"model": state}, tmp_path / "bad.pth")
    with pytest.raises(ValueError) as err:
        import_checkpoint(tmp_path / "bad.pth", "official-mae", tmp_path / "run", progress=False)
    message = str(err.value)
    for key in ("blocks.0.mystery.weight", "norm.weight", "blocks.1.mlp.fc1.bias: (5,) != (768,)"):
        assert key in message
    assert not (tmp_path / "run" / "model.safetensors").exists()
    hf_state = official_to_hf(anymae_to_official(model), "4")
    hf_state["vit.pooler.dense.weight"] = torch.zeros(2, 2)
    with pytest.raises(ValueError, match="vit.pooler.dense.weight"):
        hf_to_official(hf_state)


class Payload:
    """A pickle that would create a file when unpickled."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.mark.parametrize("fmt", ["official-mae", "timm", "hf-vitmae"])
def test_malicious_pickle_is_refused(tmp_path, fmt):
    marker = tmp_path / "pwned"
    evil = {"model": {"cls_token": torch.zeros(1, 1, 8)}, "evil": Payload(marker)}
    src = tmp_path / "evil.pth"
    if fmt == "hf-vitmae":  # a Hub-style folder whose pytorch_model.bin carries the payload
        src = tmp_path / "hf"
        src.mkdir()
        (src / "config.json").write_text('{"model_type": "vit_mae"}')
        torch.save(evil, src / "pytorch_model.bin")
    else:
        torch.save(evil, src)
    with pytest.raises(ValueError, match="refused to load"):
        import_checkpoint(src, fmt, tmp_path / "run", progress=False)
    assert not marker.exists()


def test_masking_keeps_hf_len_keep():
    """With mask_rounding="floor" (what imported runs use), int(N(1-r)) is kept as MAE and HF do:
    N=100, r=0.9 keeps 9 (the default rounding keeps 10)."""
    cfg = ViTMAEConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16,
                       decoder_hidden_size=8, decoder_num_hidden_layers=1, decoder_num_attention_heads=2,
                       decoder_intermediate_size=16, mask_ratio=0.9, image_size=40, patch_size=4)
    embeddings = ViTMAEForPreTraining(cfg).vit.embeddings
    noise = torch.rand(3, 100, generator=torch.Generator().manual_seed(6))
    _, hf_mask, hf_restore = embeddings.random_masking(torch.zeros(3, 100, 8), noise)
    ours = anymae.create("mae_vit_tiny", image_size=40, patch_size=4, depth=1, decoder_depth=1,
                         mask_ratio=0.9, mask_rounding="floor").masker.sample(3, (10, 10), noise=noise)
    assert ours.num_visible == 9
    assert torch.equal(ours.bool, hf_mask.bool()) and torch.equal(ours.restore, hf_restore)


def test_cli_import_then_export_and_reconstruct(tmp_path):
    from anymae.cli import main
    _, model = tiny_run(tmp_path, "source")
    src = official_checkpoint(tmp_path, model, encoder_only=True)
    run = tmp_path / "run"
    assert main(["import", str(src), "--format", "official-mae", "--out", str(run), "--arg", "heads=3",
                 "--arg", "decoder_heads=4", "--arg", "decoder_dim=128", "--arg", "decoder_depth=1"]) == 0
    imported, config = load_run(run)
    assert config["summary"]["imported"]["random_init"] == ["decoder"]
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(imported.encode(x), model.encode(x))
    assert main(["export", str(run), "--to", "timm", "--out", str(tmp_path / "timm")]) == 0
    assert (tmp_path / "timm" / "model.safetensors").is_file()
    assert main(["reconstruct", str(run), "--count", "2", "--out", str(tmp_path / "r.png")]) == 0
    assert (tmp_path / "r.png").is_file()
    assert main(["import", str(src), "--format", "official-mae", "--out", str(run)]) == 2  # refuses to overwrite


def test_hf_encoder_only_vitmaemodel_imports(tmp_path):
    cfg = ViTMAEConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=256,
                       decoder_hidden_size=32, decoder_num_hidden_layers=1, decoder_num_attention_heads=4,
                       decoder_intermediate_size=128, image_size=32, patch_size=4, layer_norm_eps=1e-6)
    torch.manual_seed(7)
    hf = ViTMAEModel(cfg).eval()
    with torch.no_grad():
        hf.embeddings.position_embeddings.copy_(zeros_row(sincos_grid(64, (8, 8))[None]))
    perturb(hf, 7)
    hf.save_pretrained(tmp_path / "hf")
    run, report = import_checkpoint(tmp_path / "hf", "hf-vitmae", tmp_path / "run", progress=False)
    model, _ = load_run(run)
    assert report["random_init"] == ["decoder"]
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(8))
    noise = torch.rand(2, 64, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        assert (model(x, noise=noise).latents - hf(pixel_values=x, noise=noise).last_hidden_state).abs().max() <= TOL


def test_embed_writes_each_images_encoder_features(tmp_path):
    """Row 32 (NViST builds on MAE features): `anymae embed` writes every image's encoder latents as arrays, one
    .npy per image in its class folder, equal to the encoder's own output on the evaluation-transformed image."""
    import numpy as np
    from PIL import Image

    from anymae.cli import main
    from anymae.data import load_dataset
    from anymae.data.transforms import EvalTransform
    images = tmp_path / "images"
    rng = np.random.default_rng(0)
    for cls in ("a", "b"):
        (images / cls).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(rng.integers(0, 255, (40, 36, 3), dtype=np.uint8)).save(images / cls / f"{i}.png")
    run, model = tiny_run(tmp_path)
    out = tmp_path / "features"
    assert main(["embed", str(run), "--data", str(images), "--out", str(out)]) == 0
    files = sorted(out.rglob("*.npy"))
    assert [f.parent.name for f in files] == ["a", "a", "b", "b"]
    data = load_dataset(str(images), split="all", image_size=(32, 32), channels=3)
    transform = EvalTransform((32, 32), torch.full((3,), 0.5), torch.full((3,), 0.25))  # the run's mean / std
    with torch.no_grad():
        latents = model.encode(transform(data.pixels(0))[None])[0, 1:]  # the tokens, past the cls latent
    torch.testing.assert_close(torch.from_numpy(np.load(files[0])), latents)
    assert main(["embed", str(run), "--data", str(images), "--out", str(out), "--pool", "mean"]) == 2  # never over
