"""`anymae finetune`: MAE's fine-tuning recipe (layer-wise lr decay, drop path, mixup) and linear probe."""
from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file

from anymae.config import PretrainConfig
from anymae.io.checkpoint import load_run, save_weights
from anymae.train.finetune import (EncoderClassifier, FinetuneConfig, FinetuneModule, encoder_blocks, finetune_run,
                                   layer_decay_groups, make_finetune_optimizer)
from anymae.train.module import warmup_cosine
from anymae.train.run import resolve, write_config

DEPTH = 3


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A run folder of a small mae_laptop (64-d x 3) on digits at init: what `anymae finetune` reads."""
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("run")
    config = PretrainConfig.for_recipe("mae_laptop", data="digits", recipe_args={"depth": DEPTH})
    model, _ = resolve(config)
    save_weights(model.state_dict(), folder / "model.safetensors")
    write_config(config, folder)
    return folder


def small(**kw) -> FinetuneConfig:
    return FinetuneConfig(**{"epochs": 2, "batch_size": 128, "accelerator": "cpu", **kw})


def test_layer_decay_gives_each_block_the_lr_of_the_formula(run):
    """MAE's param_groups_lrd: lr of block i = lr x decay^(depth - i); embeddings decay^(depth + 1); head lr."""
    model, _ = load_run(run)
    config = small(layer_decay=0.6).resolved(has_cls=True)
    classifier = EncoderClassifier(model.tokenizer, model.encoder, 10, config.pool)
    peak, total, steps_per_epoch = 1e-3, 40, 10
    module = FinetuneModule(classifier, config, 10, total, steps_per_epoch, peak)
    optimizer = make_finetune_optimizer(classifier, config, peak)
    names = {id(p): n for n, p in classifier.named_parameters()}
    for step in (0, 7, 25):
        module.set_lr(optimizer, step)
        schedule = warmup_cosine(step, total, round(config.warmup_epochs * steps_per_epoch),
                                 config.min_lr / peak)
        seen = set()
        for group in optimizer.param_groups:
            for p in group["params"]:
                name = names[id(p)]
                if name.startswith("encoder.blocks."):
                    layer = int(name.split(".")[2]) + 1
                elif name.startswith("tokenizer.") or name == "encoder.cls_token":
                    layer = 0
                else:
                    layer = DEPTH + 1
                assert group["lr"] == pytest.approx(peak * schedule * 0.6 ** (DEPTH + 1 - layer), rel=1e-9), name
                seen.add(layer)
        assert seen == set(range(DEPTH + 2))
    # weight decay only on matrices
    for group in layer_decay_groups(classifier, 0.05, 0.6):
        for name, p in zip(group["names"], group["params"]):
            assert group["weight_decay"] == (0.0 if p.ndim <= 1 or "cls_token" in name else 0.05), name


def encoder_state(folder_or_state):
    state = load_file(str(folder_or_state)) if not isinstance(folder_or_state, dict) else folder_or_state
    return {k: v for k, v in state.items() if k.startswith(("tokenizer.", "encoder."))}


@pytest.mark.parametrize("linear", [True, False])
def test_linear_probe_keeps_the_encoder_frozen_and_fine_tune_does_not(run, tmp_path, linear):
    before = encoder_state(run / "model.safetensors")
    finetune_run(run, tmp_path, small(epochs=1, linear=linear), rows=("pretrained",), progress=False)
    after = load_file(str(tmp_path / "pretrained" / "classifier.safetensors"))
    changed = [k for k, v in before.items() if k in after and not torch.equal(v, after[k])]
    if linear:
        assert changed == []  # every frozen parameter bit-identical
        assert not any(k.startswith("head.0.weight") or k.startswith("head.0.bias") for k in after)  # BN: no affine
        assert "head.0.running_mean" in after and after["head.0.running_mean"].abs().sum() > 0
    else:
        assert len(changed) > len(before) // 2  # end to end: the blocks moved
    result = json.loads((tmp_path / "finetune.json").read_text())["results"]["pretrained"]
    assert result["steps"] == 1258 // 128 and 0.0 <= result["accuracy"] <= 1.0


class Interrupted(RuntimeError):
    pass


def test_resumed_finetune_continues_exactly(run, tmp_path, monkeypatch):
    """Killed after epoch 1 (last.ckpt written), resumed: the same losses, lrs and final weights as one
    uninterrupted run (data order, augmentations, mixup draws and drop path replayed)."""
    import anymae.train.finetune as ft
    config = small(epochs=2, mixup=0.8, cutmix=1.0, drop_path=0.2)
    reference = tmp_path / "reference"
    finetune_run(run, reference, config, rows=("pretrained",), progress=False)

    class DiesInEpoch2(ft.MetricsCSV):
        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            super().on_train_batch_end(trainer, module, outputs, batch, batch_idx)
            if trainer.global_step == 1258 // 128 + 3:
                raise Interrupted("killed")

    killed = tmp_path / "killed"
    monkeypatch.setattr(ft, "MetricsCSV", DiesInEpoch2)
    with pytest.raises(Interrupted):
        finetune_run(run, killed, config, rows=("pretrained",), progress=False)
    monkeypatch.undo()
    assert not (killed / "pretrained" / "result.json").exists()
    finetune_run(run, killed, config, rows=("pretrained",), progress=False, resume=True)
    lines = lambda f: (f / "pretrained" / "metrics.csv").read_text().splitlines()
    assert lines(killed) == lines(reference)  # every step's loss and lr, bit for bit
    a = load_file(str(killed / "pretrained" / "classifier.safetensors"))
    b = load_file(str(reference / "pretrained" / "classifier.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in b)


def test_cli_prints_both_rows_and_refuses_bad_settings(run, tmp_path, capsys):
    from anymae.cli import main
    out = tmp_path / "ft"
    assert main(["finetune", str(run), "--epochs", "1", "--batch-size", "128", "--out", str(out),
                 "--accelerator", "cpu"]) == 0
    text = capsys.readouterr().out
    assert "pretrained" in text and "from-scratch" in text and f"run folder: {out}" in text
    assert set(json.loads((out / "finetune.json").read_text())["results"]) == {"pretrained", "from-scratch"}
    assert main(["finetune", str(run), "--out", str(out)]) == 2  # nothing overwritten
    assert main(["finetune", str(run), "--layer-decay", "1.5", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "--layer-decay" in err and "Traceback" not in err


def test_a_recipes_own_finetune_settings_start_it_unless_a_flag_sets_them():
    """The laptop video recipe fine-tunes at its measured setting (docs/evaluation.md); a flag wins; the linear
    probe and recipes without their own settings keep MAE's defaults."""
    from anymae.recipes import get_recipe
    own = get_recipe("videomae_vit_tiny").finetune
    assert own["layer_decay"] == 1.0 and own["blr"] > 1e-3
    config = FinetuneConfig.for_recipe("videomae_vit_tiny")
    assert (config.blr, config.layer_decay, config.epochs) == (own["blr"], own["layer_decay"], own["epochs"])
    config = FinetuneConfig.for_recipe("videomae_vit_tiny", blr=1e-3, seed=2)
    assert (config.blr, config.layer_decay, config.seed) == (1e-3, own["layer_decay"], 2)
    linear = FinetuneConfig.for_recipe("videomae_vit_tiny", linear=True).resolved(has_cls=False)
    assert (linear.blr, linear.layer_decay, linear.epochs) == (0.1, 0.75, 30)
    assert FinetuneConfig.for_recipe("mae_laptop") == FinetuneConfig()
    assert FinetuneConfig.for_recipe("no-such-recipe", epochs=3) == FinetuneConfig(epochs=3)


@pytest.mark.parametrize("recipe", ["videomae_vit_tiny", "pointmae_tiny", "chamaevit_tiny", "memmc_tiny",
                                    "volmae_tiny", "retromae_tiny"])
def test_every_modality_encoder_gets_a_head_and_layer_decay_groups(recipe):
    """Video, point-cloud, multi-channel, volume and text (and MemMC) encoders: logits, gradients to every block,
    each trainable parameter in exactly one layer-decay group."""
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).parent / "fixtures"))
    from recipe_steps import build, sample_batch
    model, modality = build(recipe, {})
    x = sample_batch(model, modality, batch=3)
    classifier = EncoderClassifier(model.tokenizer, model.encoder, 5, "mean", drop_path=0.1)
    logits = classifier(x)
    assert logits.shape == (3, 5)
    logits.sum().backward()
    for block in encoder_blocks(classifier.encoder):
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in block.parameters())
    groups = layer_decay_groups(classifier, 0.05, 0.75)
    assert len({g["layer"] for g in groups}) == len(encoder_blocks(classifier.encoder)) + 2  # embeddings, blocks, head
    grouped = [id(p) for g in groups for p in g["params"]]
    assert sorted(grouped) == sorted(id(p) for p in classifier.parameters() if p.requires_grad)


def test_reinit_blocks_redraws_only_the_last_blocks_and_freeze_tokenizer_keeps_it(run, tmp_path):
    """--reinit-blocks 1: the pretrained row's last block starts from the random init of the from-scratch row
    (same seed), every other block from the run; --freeze-tokenizer: the patch embedding ends as loaded."""
    from anymae.io.checkpoint import build_untrained
    from anymae.train.finetune import reinit_last_blocks
    model, config = load_run(run)
    with torch.no_grad():  # make the run's weights differ from any random init
        for p in model.encoder.parameters():
            p.add_(0.5)
    fresh = build_untrained(config, seed=3).encoder
    kept = {k: v.clone() for k, v in model.encoder.state_dict().items()}
    reinit_last_blocks(model.encoder, fresh, 1)
    last = f"blocks.{DEPTH - 1}."
    for k, v in model.encoder.state_dict().items():
        expected = fresh.state_dict()[k] if k.startswith(last) else kept[k]
        assert torch.equal(v, expected), k
    with pytest.raises(ValueError, match="reinit-blocks"):
        reinit_last_blocks(model.encoder, fresh, DEPTH + 1)

    before = encoder_state(run / "model.safetensors")
    finetune_run(run, tmp_path, small(epochs=1, freeze_tokenizer=True, reinit_blocks=1), rows=("pretrained",),
                 progress=False)
    after = load_file(str(tmp_path / "pretrained" / "classifier.safetensors"))
    tokenizer = [k for k in before if k.startswith("tokenizer.") and k in after]
    assert tokenizer and all(torch.equal(before[k], after[k]) for k in tokenizer)
    blocks = [k for k in before if k.startswith("encoder.blocks.") and k in after]
    assert any(not torch.equal(before[k], after[k]) for k in blocks)


def test_text_features_neither_attend_to_nor_pool_the_pads():
    """A text classifier reads its tokens as the text model does: what sits at a pad position changes nothing."""
    import anymae

    class Given(torch.nn.Module):  # a tokenizer that hands over prepared tokens
        def __init__(self, tokens):
            super().__init__()
            self.tokens = tokens

        def forward(self, _):
            return self.tokens

    model = anymae.create("retromae_tiny", vocab_size=64, max_len=12, dim=32, depth=2, heads=2).eval()
    ids = torch.randint(5, 64, (2, 12), generator=torch.Generator().manual_seed(0))
    ids[:, 8:] = model.tokenizer.pad_id
    tokens = model.tokenizer(ids)
    tokens.embed = tokens.embed.detach().clone()
    tokens.embed[:, 10] += 5.0                      # another embedding at a pad; `valid` unchanged
    with torch.no_grad():
        for pool in ("mean", "cls"):
            plain = EncoderClassifier(model.tokenizer, model.encoder, 3, pool).eval().features(ids)
            moved = EncoderClassifier(Given(tokens), model.encoder, 3, pool).eval().features(ids)
            torch.testing.assert_close(moved, plain)
