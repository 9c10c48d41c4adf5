"""PHG-MAE's inference-time mask ensembles (row 35): `--ensemble K` for reconstruct (and anomaly, test_anomaly.py)."""
from __future__ import annotations

import torch

from anymae.ensemble import masked_ensemble
from anymae.eval.ensemble import error_against_k
from anymae.spec import ModelSpec, build_model

SMALL = dict(image_size=16, patch_size=4, dim=32, depth=1, heads=2, decoder_dim=32, decoder_depth=1, decoder_heads=2)


def model():
    return build_model(ModelSpec("mae_vit_tiny", SMALL), seed=0).eval()


def test_each_hidden_token_is_the_mean_over_the_masks_that_hide_it():
    m, x = model(), torch.randn(3, 3, 16, 16)
    g = torch.Generator().manual_seed(0)
    draws = [m.reconstruct(x, generator=g) for _ in range(4)]
    mask, pred = masked_ensemble(m, x, 4, torch.Generator().manual_seed(0))
    assert torch.equal(mask.keep, draws[0][0].keep)  # the first mask is the one shown
    for b in range(3):
        for t in torch.nonzero(mask.bool[b]).flatten().tolist():
            hiding = [p[b, t] for mk, p in draws if mk.bool[b, t]]
            assert torch.allclose(pred[b, t], torch.stack(hiding).mean(0), atol=1e-6)
    one_mask, one = masked_ensemble(m, x, 1, torch.Generator().manual_seed(0))
    assert torch.allclose(one, draws[0][1])


def test_error_against_k_scores_the_same_tokens_for_every_k():
    from torch.utils.data import TensorDataset
    data = TensorDataset(torch.randn(20, 3, 16, 16), torch.zeros(20), torch.arange(20))
    errors = error_against_k(model(), data, ks=(1, 2, 4), batch_size=8)
    assert set(errors) == {1, 2, 4} and all(e > 0 for e in errors.values())
    assert errors[1] == error_against_k(model(), data, ks=(1,), batch_size=8)[1]  # seeded


def test_reconstruct_cli_draws_an_ensemble(tmp_path, capsys):
    from anymae.cli import main
    from anymae.config import PretrainConfig
    from anymae.io.checkpoint import save_weights
    from anymae.train.run import resolve, write_config
    run = tmp_path / "run"
    run.mkdir()
    config = PretrainConfig.for_recipe("mae_vit_tiny", data="digits", recipe_args=dict(SMALL))
    m, _ = resolve(config)
    save_weights(m.state_dict(), run / "model.safetensors")
    write_config(config, run)
    assert main(["reconstruct", str(run), "--ensemble", "4", "--count", "2", "--out", str(tmp_path / "r.png")]) == 0
    assert (tmp_path / "r.png").stat().st_size > 0
    assert main(["reconstruct", str(run), "--ensemble", "0", "--out", str(tmp_path / "x.png")]) == 2
    assert "--ensemble" in capsys.readouterr().err


def test_impute_ensemble_averages_k_masks_that_each_keep_the_training_budget():
    from anymae.eval.impute import impute_batch
    torch.manual_seed(0)
    model = build_model(ModelSpec("multimae_tiny", dict(image_size=16, patch_size=4, dim=32, depth=1, heads=2,
                                                        decoder_dim=32, decoder_depth=1, decoder_heads=2, classes=11,
                                                        mask_ratio=0.75)), seed=0).eval()
    g = torch.Generator().manual_seed(0)
    batch = {"rgb": torch.randn(2, 3, 16, 16, generator=g), "depth": torch.randn(2, 1, 16, 16, generator=g),
             "semseg": torch.randint(0, 11, (2, 16, 16), generator=g)}
    seen = []
    original = model.predict_modalities

    def spy(inputs, mask):
        seen.append(mask)
        return original(inputs, mask)
    model.predict_modalities = spy
    full = impute_batch(model, batch, ["rgb"], ["depth", "semseg"])
    assert len(seen) == 1 and seen[0].keep.shape[1] == 16  # every rgb token visible
    seen.clear()
    out = impute_batch(model, batch, ["rgb"], ["depth", "semseg"], ensemble=4, generator=torch.Generator().manual_seed(1))
    assert len(seen) == 4
    assert all(m.keep.shape[1] == 12 for m in seen)  # 48 tokens x (1 - 0.75) = the training budget, all rgb
    assert len({tuple(m.keep[0].tolist()) for m in seen}) == 4  # four different masks
    per_mask = [original(impute_inputs_of(model, batch), m) for m in seen]
    assert torch.allclose(out["depth"], torch.stack([p["depth"] for p in per_mask]).mean(0), atol=1e-6)
    assert out["semseg"].dtype == full["semseg"].dtype and out["semseg"].shape == full["semseg"].shape


def impute_inputs_of(model, batch):
    from anymae.eval.impute import impute_inputs
    return impute_inputs(model, batch, ["rgb"])
