"""M3AE (PAPERS.md row 43): image patches and caption words in one encoder, a mask ratio per modality, pixel MSE +
word cross-entropy on the hidden tokens only; the built-in `shapes-captions` pairs; cross-modal retrieval."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import anymae
from anymae.data.builtin import shapes
from anymae.data.captions import CAPTION_WORDS, caption_vocabulary, describe, shapes_captions
from anymae.eval.crossmodal import recall_at, retrieval_scores

SMALL = dict(image_size=16, patch_size=4, dim=32, depth=2, heads=2, decoder_dim=32, decoder_depth=1, decoder_heads=2)


def pairs(model, batch=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    image, text = model.tokenizer.parts["image"], model.tokenizer.parts["text"]
    return {"image": torch.randn(batch, 3, *image.image_size, generator=g),
            "text": torch.randint(0, text.vocab_size, (batch, text.length), generator=g)}


@pytest.mark.parametrize("ratios", [(0.75, 0.5), (0.6, 0.25), (0.9, 0.75)])
def test_each_modality_hides_exactly_its_own_ratio(ratios):
    torch.manual_seed(0)
    model = anymae.create("m3ae_tiny", **SMALL, image_mask_ratio=ratios[0], text_mask_ratio=ratios[1])
    tokens = model.tokenize(pairs(model, batch=16))
    (s_i, e_i), (s_t, e_t) = tokens.extra["spans"]["image"], tokens.extra["spans"]["text"]
    mask = model.draw_mask(tokens, torch.Generator().manual_seed(3))
    hidden = mask.bool
    assert (hidden[:, s_i:e_i].sum(1) == round((e_i - s_i) * ratios[0])).all()
    assert (hidden[:, s_t:e_t].sum(1) == round((e_t - s_t) * ratios[1])).all()
    assert len({tuple(r.tolist()) for r in hidden}) > 1          # each pair its own random positions


def test_loss_is_image_mse_plus_weighted_text_cross_entropy_on_hidden_tokens_only():
    torch.manual_seed(0)
    model = anymae.create("m3ae_tiny", **SMALL)
    x = pairs(model)
    out = model(x, generator=torch.Generator().manual_seed(1))
    tokens = model.tokenize(x)
    (s_i, e_i), (s_t, e_t) = tokens.extra["spans"]["image"], tokens.extra["spans"]["text"]
    predict = out.mask.predict
    assert torch.equal(predict, out.mask.hidden)                  # the loss covers the hidden tokens, no others
    is_image = (predict >= s_i) & (predict < e_i)
    patches = model.tokenizer.parts["image"].patchify(x["image"])                  # raw pixels: norm_pix off
    image_pred = out.pred[is_image].view(4, -1, out.pred.shape[-1])[..., :patches.shape[-1]]
    image_idx = predict[is_image].view(4, -1) - s_i
    image_true = torch.gather(patches, 1, image_idx.unsqueeze(-1).expand(-1, -1, patches.shape[-1]))
    mse = ((image_pred - image_true) ** 2).mean()
    vocab = model.tokenizer.parts["text"].vocab_size
    text_logits = out.pred[~is_image].view(4, -1, out.pred.shape[-1])[..., :vocab]
    text_idx = predict[~is_image].view(4, -1) - s_t
    ce = F.cross_entropy(text_logits.reshape(-1, vocab), torch.gather(x["text"], 1, text_idx).reshape(-1))
    assert float(out.loss.detach()) == pytest.approx(float(mse + 0.1 * ce), rel=1e-5)


def test_visible_tokens_and_hidden_inputs_do_not_reach_the_loss_but_both_modalities_share_one_encoder():
    torch.manual_seed(0)
    model = anymae.create("m3ae_tiny", **SMALL).eval()
    x = pairs(model, batch=2)
    mask = model.draw_mask(model.tokenize(x), torch.Generator().manual_seed(2))
    tokens = model.tokenize(x)
    s_t, _ = tokens.extra["spans"]["text"]
    hidden_word = int(mask.hidden[0][mask.hidden[0] >= s_t][0]) - s_t
    # a hidden word's input is never read: the predictions stay the same when it changes
    changed = {"image": x["image"], "text": x["text"].clone()}
    changed["text"][0, hidden_word] = (changed["text"][0, hidden_word] + 1) % model.tokenizer.parts["text"].vocab_size
    with torch.no_grad():
        a = model.decode(model.encode_visible(model.tokenize(x), mask.keep), mask, tokens)
        b = model.decode(model.encode_visible(model.tokenize(changed), mask.keep), mask, model.tokenize(changed))
        assert torch.allclose(a, b)
        # one encoder: an image token's features depend on the caption beside it
        full = model.encode(x)
        other = dict(x, text=torch.roll(x["text"], 1, dims=1))
        assert not torch.allclose(full[:, 1:5], model.encode(other)[:, 1:5])


def test_m3ae_tiny_reads_the_built_in_captions():
    from anymae.recipes import get_recipe
    defaults = get_recipe("m3ae_tiny").defaults()
    assert (defaults["vocab_size"], defaults["text_length"]) == (len(caption_vocabulary()), CAPTION_WORDS)


def test_decoder_has_a_mask_token_and_a_head_per_modality():
    model = anymae.create("m3ae_tiny", **SMALL)
    dec = model.decoder
    assert dec.mask_tokens.shape == (2, 32) and not torch.allclose(dec.mask_tokens[0], dec.mask_tokens[1])
    assert dec.predictors["image"].out_features == 4 * 4 * 3
    assert dec.predictors["text"].out_features == len(caption_vocabulary())


def test_shapes_captions_are_the_shapes_images_described_by_their_draws():
    pairs_ = shapes_captions("test")
    assert torch.equal(pairs_.arrays["image"], shapes("test").images)
    assert torch.equal(pairs_.labels, shapes("test").labels)
    assert pairs_.arrays["text"].shape == (1000, CAPTION_WORDS)
    names = list(pairs_.classes)
    assert all(names[int(y)] in c.split() for c, y in zip(pairs_.captions, pairs_.labels))
    assert pairs_.captions == shapes_captions("test").captions                    # fixed, seeded
    assert describe(0, {"radius": 0.4, "cx": -0.5, "cy": 0.6, "colour": np.array([0.9, 0.1, 0.05])}) == \
        {"shape": "circle", "colour": "red", "size": "small", "pos": "bottom-left"}
    assert describe(3, {"radius": 0.7, "cx": 0.0, "cy": -0.5, "colour": np.array([0.95, 0.9, 0.7])}) == \
        {"shape": "square", "colour": "white", "size": "large", "pos": "top"}


def test_recall_counts_the_pair_and_scores_chance_for_a_random_model():
    sim = np.eye(5) + 0.01
    assert recall_at(sim, 1) == 1.0 and recall_at(-sim, 1) == 0.0 and recall_at(-sim, 5) == 1.0
    rng = np.random.default_rng(0)
    r = retrieval_scores("noise", rng.normal(size=(400, 8)), rng.normal(size=(400, 8)))
    assert r.image_to_text_r5 < 0.05 and r.text_to_image_r5 < 0.05
    same = rng.normal(size=(50, 8))
    assert retrieval_scores("same", same, same).image_to_text_r1 == 1.0


def test_pretrain_then_crossmodal_retrieval_writes_its_table(tmp_path, capsys):
    from anymae.cli import main
    run = tmp_path / "m3ae"
    assert main(["pretrain", "--recipe", "m3ae_tiny", "--data", "shapes-captions", "--epochs", "1",
                 "--batch-size", "500", "--out", str(run)]) == 0
    assert (run / "reconstructions.png").is_file()
    assert main(["crossmodal", str(run)]) == 0
    assert f"run folder: {run}" in capsys.readouterr().out
    result = json.loads((run / "crossmodal.json").read_text())
    names = [r["name"] for r in result["results"]]
    assert any("random init" in n for n in names) and any("TF-IDF" in n for n in names) and "chance" in names
    assert result["pairs"] == 1000
    # the classical pair, fitted on training pairs, retrieves well above chance (the baseline is real)
    classical = next(r for r in result["results"] if "TF-IDF" in r["name"])
    assert classical["image_to_text_r5"] > 2 * 5 / 1000
    # a folder that is no image-text run is refused with one clear line (exit 2)
    assert main(["crossmodal", str(tmp_path / "missing")]) == 2
    assert "Traceback" not in capsys.readouterr().err
