"""CRATE-MAE (PAPERS.md row 8): white-box layers (MSSA compression + ISTA sparsification), ~30% of MAE's
parameters at the same configuration, and a CRATE-MAE that trains as any recipe."""
from __future__ import annotations

import pytest
import torch

from anymae.encoders.crate import CRATEBlock, CRATEEncoder, ISTAStep, SubspaceAttention
from anymae.recipes.crate import crate_mae
from anymae.recipes.mae import mae_vit
from anymae.spec import ModelSpec, build_model


def params(module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("dim,depth,heads,image,patch", [(768, 12, 12, 224, 16), (192, 12, 3, 32, 4)])
def test_parameters_are_about_thirty_percent_of_mae_with_the_same_configuration(dim, depth, heads, image, patch):
    """The paper: ~30% of the parameters of MAE with the same configuration (encoder and decoder of
    dim x depth). A CRATE layer holds 3 dim^2 weights, a ViT block 12 dim^2."""
    size = dict(image_size=image, patch_size=patch, dim=dim, depth=depth, heads=heads, decoder_dim=dim,
                decoder_depth=depth, decoder_heads=heads)
    torch.manual_seed(0)
    crate, mae = crate_mae(**size), mae_vit(**size)
    ratio = params(crate) / params(mae)
    assert 0.22 < ratio < 0.35, ratio
    block = CRATEBlock(dim, heads)
    assert params(block.attn) == 2 * dim * dim + dim          # one shared q=k=v map, output projection
    assert params(block.ista) == dim * dim                    # the dictionary D


def test_ista_step_is_a_nonnegative_proximal_gradient_step_on_the_lasso():
    """ISTA(z) = ReLU(a - eta grad_a 1/2 |z - D a|^2 - eta lambda) at a = z, checked against autograd."""
    torch.manual_seed(0)
    ista = ISTAStep(16, step=0.1, lambd=0.5)
    z = torch.randn(3, 5, 16)
    a = z.clone().requires_grad_(True)
    (0.5 * (z - a @ ista.weight.T).pow(2).sum()).backward()
    want = torch.relu(z - 0.1 * a.grad - 0.1 * 0.5)
    torch.testing.assert_close(ista(z), want)


def test_ista_output_is_sparse_and_sparser_with_a_larger_penalty():
    torch.manual_seed(0)
    z = torch.nn.functional.layer_norm(torch.randn(8, 64, 96), (96,))
    zeros = []
    for lambd in (0.0, 0.5, 2.0, 5.0):
        ista = ISTAStep(96, step=0.1, lambd=lambd)
        torch.manual_seed(1)
        torch.nn.init.kaiming_uniform_(ista.weight)
        out = ista(z)
        assert (out >= 0).all()
        zeros.append(float((out == 0).float().mean()))
    assert zeros[1] > 0.4                                   # CRATE's lambda 0.5: about half the entries are exactly 0
    assert zeros == sorted(zeros) and zeros[-1] > zeros[0] + 0.1


def test_subspace_attention_shares_query_key_and_value():
    """MSSA per head: softmax(w w^T / sqrt(d)) w with w = U_k^T x, the heads joined by one linear map."""
    torch.manual_seed(0)
    attn = SubspaceAttention(12, heads=3)
    x = torch.randn(2, 7, 12)
    w = attn.qkv(x).view(2, 7, 3, 4).transpose(1, 2)
    heads = torch.softmax(w @ w.transpose(-1, -2) / 2.0, dim=-1) @ w
    torch.testing.assert_close(attn(x), attn.proj(heads.transpose(1, 2).reshape(2, 7, 12)))


def test_crate_mae_trains_on_hidden_patches_and_its_encoder_codes_are_sparse():
    model = build_model(ModelSpec("crate_mae_vit_tiny", {"image_size": 16, "depth": 2, "decoder_depth": 1}), seed=0)
    assert isinstance(model.encoder, CRATEEncoder)
    x = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    out = model(x, generator=torch.Generator().manual_seed(0))
    assert out.latents.shape == (4, 1 + 4, 192)                  # cls + the 4 visible of 16 patches
    assert out.pred.shape == (4, 12, 48)                         # every hidden patch, and only those
    out.loss.backward()
    assert model.encoder.blocks[0].ista.weight.grad.abs().sum() > 0
    _, layers = model.encoder(torch.randn(2, 16, 192), return_layers=[0, 1])
    assert all(float((h[:, 1:] == 0).float().mean()) > 0.3 for h in layers)   # ISTA's codes: many exact zeros


def test_crate_mae_tiny_is_mae_laptop_with_crate_layers_and_without_the_position_task():
    """The laptop CRATE-MAE, crate_mae_tiny (docs/modalities.md), differs from the CLI default only in its
    layers: the same token grid, width, depth, mask ratio and training settings, MP3's position task off; a
    quarter of the encoder."""
    import anymae
    from anymae.config import PretrainConfig
    from anymae.encoders.vit import ViTEncoder
    crate, mae = anymae.create("crate_mae_tiny"), anymae.create("mae_laptop", position_task=0)
    assert isinstance(crate.encoder, CRATEEncoder) and isinstance(mae.encoder, ViTEncoder)
    assert crate.tokenizer.grid == mae.tokenizer.grid == (4, 4) and crate.masker.ratio == mae.masker.ratio == 0.5
    assert (crate.encoder.dim, len(crate.encoder.blocks)) == (mae.encoder.dim, len(mae.encoder.blocks)) == (64, 6)
    assert not crate.aux
    a, b = PretrainConfig.for_recipe("crate_mae_tiny"), PretrainConfig.for_recipe("mae_laptop")
    assert (a.steps, a.blr, a.colour_jitter, a.features) == (b.steps, b.blr, b.colour_jitter, b.features)
    assert 0.2 < params(crate.encoder) / params(mae.encoder) < 0.3


def test_a_run_made_when_crate_mae_tiny_was_192_wide_still_loads(tmp_path):
    """`crate_mae_tiny` built the 192-d x 12 model before the name passed to the laptop model (`crate_mae_laptop`
    until then); such a run loads as `crate_mae_vit_tiny`, a `crate_mae_laptop` run as `crate_mae_tiny`, and
    weights that fit neither give one line naming the file."""
    import yaml
    from anymae.io.checkpoint import load_run, save_weights
    args = {"image_size": 16, "depth": 2, "decoder_depth": 1}
    old = build_model(ModelSpec("crate_mae_vit_tiny", args), seed=0)
    save_weights(old.state_dict(), tmp_path / "model.safetensors")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"recipe": "crate_mae_tiny", "recipe_args": args}))
    model, config = load_run(tmp_path)
    assert config["recipe"] == "crate_mae_vit_tiny" and model.encoder.dim == 192
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(model.encoder(model.tokenizer(x).embed), old.eval().encoder(old.tokenizer(x).embed))
    other = build_model(ModelSpec("mae_vit_tiny", args), seed=0)
    save_weights(other.state_dict(), tmp_path / "model.safetensors")
    with pytest.raises(ValueError, match=r"model\.safetensors: weights do not fit recipe 'crate_mae_tiny'"):
        load_run(tmp_path)
    laptop = build_model(ModelSpec("crate_mae_tiny", {}), seed=0)
    save_weights(laptop.state_dict(), tmp_path / "model.safetensors")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"recipe": "crate_mae_laptop", "recipe_args": {}}))
    model, config = load_run(tmp_path)
    assert config["recipe"] == "crate_mae_tiny" and model.encoder.dim == 64


def test_a_run_made_under_the_old_name_resumes_as_the_recipe_that_fits(tmp_path):
    """`anymae pretrain --resume` of a run whose config still says `crate_mae_tiny` but whose checkpoint holds
    the 192-d model continues it as `crate_mae_vit_tiny` (and says so in config.yaml)."""
    import yaml
    from anymae.cli import main
    from anymae.io.checkpoint import read_config
    run = tmp_path / "run"
    args = ["--arg", "image_size=16", "--arg", "depth=1", "--arg", "decoder_depth=1", "--arg", "dim=48",
            "--arg", "heads=2", "--arg", "decoder_dim=32", "--arg", "decoder_heads=2"]
    assert main(["pretrain", "--recipe", "crate_mae_vit_tiny", "--data", "digits", *args, "--batch-size", "64",
                 "--epochs", "1", "--workers", "0", "--out", str(run)]) == 0
    config = read_config(run / "config.yaml")  # as a run of that time wrote it: the old name, only the given args
    given = {"image_size": 16, "depth": 1, "decoder_depth": 1, "dim": 48, "heads": 2, "decoder_dim": 32,
             "decoder_heads": 2, "channels": 1}
    config.update(recipe="crate_mae_tiny", recipe_args=given)
    (run / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    assert main(["pretrain", "--resume", str(run), "--epochs", "2"]) == 0
    saved = read_config(run / "config.yaml")
    assert saved["recipe"] == "crate_mae_vit_tiny" and saved["summary"]["steps"] == 2 * 19  # 1,258 digits in batches of 64
