"""Text (issue 17): the vocabulary, the maskers' stated properties, RetroMAE's decoder bottleneck, DupMAE's
bag of words, padding everywhere, user folders and BEIR folders through the CLI, probe and Hugging Face export."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch

import anymae
from anymae.cli import main
from anymae.data.text import encode_texts, load_text_folder, read_beir, train_wordpiece, write_beir
from anymae.masking.text import AsymmetricTextMasker, MLMMasker, choose_tokens
from anymae.terms.bow import bag_of_words, bag_of_words_loss, pooled_logits

WORDS = ("masked autoencoder retrieval encoder decoder token sentence embedding vocabulary corpus query document "
         "python numpy torch array tensor function returns value default parameter string list dict").split()
SMALL = dict(vocab_size=300, max_len=24, dim=32, depth=2, heads=2, bow_dim=16)


def sentences(count: int, seed: int, length: int = 40) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(length // 2, length))) for _ in range(count)]


def batch(model, lengths=(24, 17, 9, 5), seed=0) -> torch.Tensor:
    """ids [B,max_len]: [CLS] ordinary tokens [SEP] then pads, one row per length."""
    tok = model.tokenizer
    g = torch.Generator().manual_seed(seed)
    ids = torch.full((len(lengths), tok.max_len), tok.pad_id)
    for row, n in enumerate(lengths):
        ids[row, :n] = torch.randint(5, tok.vocab_size, (n,), generator=g)
        ids[row, 0], ids[row, n - 1] = tok.cls_id, tok.sep_id
    return ids


# ---------------------------------------------------------------- vocabulary
def test_wordpiece_is_deterministic_with_bert_special_ids():
    """Real docstrings (stdlib json + email, as pydocs reads them): the same vocabulary, ids included, twice."""
    import sysconfig
    from anymae.data.pydocs import docstrings_of, source_files
    root = Path(sysconfig.get_paths()["stdlib"])
    texts = [d for p in source_files(root / "json") + source_files(root / "email") for _, d in docstrings_of(p, "m")]
    a, b = train_wordpiece(texts, 300), train_wordpiece(texts, 300)
    assert a.to_str() == b.to_str()
    assert [a.token_to_id(t) for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")] == [0, 1, 2, 3, 4]
    ids, cut = encode_texts(a, ["the", " ".join(["the"] * 50)], max_len=10)
    assert ids.shape == (2, 10) and cut == 1
    assert ids[0, 0] == 2 and 3 in ids[0].tolist() and ids[0, -1] == 0   # [CLS] ... [SEP] [PAD]
    assert ids[1, 0] == 2 and ids[1, -1] == 3                            # cut to fit, [SEP] kept


# ---------------------------------------------------------------- maskers
def test_chosen_tokens_are_exact_and_ordinary_only():
    ordinary = torch.zeros(3, 30, dtype=torch.bool)
    ordinary[0, 1:29], ordinary[1, 1:11], ordinary[2, 1:4] = True, True, True
    for span in (1, 3):
        chosen = choose_tokens(ordinary, 0.3, torch.Generator().manual_seed(span), span=span)
        assert not (chosen & ~ordinary).any()
        assert chosen.sum(1).tolist() == [round(28 * 0.3), round(10 * 0.3), max(1, round(3 * 0.3))]


def test_span_masking_chooses_runs():
    ordinary = torch.ones(200, 60, dtype=torch.bool)
    chosen = choose_tokens(ordinary, 0.3, torch.Generator().manual_seed(0), span=4)
    starts = (chosen[:, 1:] & ~chosen[:, :-1]).sum() + chosen[:, 0].sum()
    assert chosen.sum() / starts > 3.0   # mean run length near 4 (1 for token-wise masking)


def test_mlm_replacement_is_80_10_10():
    ids = torch.randint(5, 1000, (400, 64), generator=torch.Generator().manual_seed(0))
    corrupted, chosen = MLMMasker(0.15).corrupt(ids, torch.ones_like(ids, dtype=torch.bool), 4, 1000,
                                                torch.Generator().manual_seed(1))
    assert not (corrupted[~chosen] != ids[~chosen]).any()    # only chosen tokens change
    masked = (corrupted[chosen] == 4).float().mean()
    kept = (corrupted[chosen] == ids[chosen]).float().mean()
    assert abs(masked - 0.8) < 0.02 and abs(kept - 0.1) < 0.02


def test_decoder_context_rows_hide_their_own_draw_and_token():
    masker = AsymmetricTextMasker(0.3, 0.5)
    model = anymae.create("retromae_tiny", **SMALL)
    ids = batch(model)
    ordinary, valid = model.tokenizer.ordinary(ids), ids != 0
    allowed = masker.context(ordinary, valid, torch.Generator().manual_seed(0))
    n = ordinary.sum(1)
    for b in range(ids.shape[0]):
        assert allowed[b, :, 0].all()                              # [CLS] for every row
        assert not allowed[b][:, ~valid[b]].any()                  # never a pad
        assert not allowed[b].diagonal()[1:].any()                 # never its own token
        hidden_ordinary = (~allowed[b] & ordinary[b][None, :]).sum(1)
        own = ordinary[b].long()                 # a row's own token is hidden too (it may be in the draw)
        k = round(float(n[b]) * 0.5)
        assert ((hidden_ordinary >= k) & (hidden_ordinary <= k + own)).all()
    rows = allowed[0, 1:10, 1:23]
    assert len({tuple(r.tolist()) for r in rows}) > 1              # each row its own random context


# ---------------------------------------------------------------- RetroMAE's bottleneck
def test_decoder_sees_only_cls_positions_and_its_context():
    """Changing a token that row i may not attend to leaves row i's decoder output unchanged; changing the
    [CLS] embedding changes every row."""
    torch.manual_seed(0)
    model = anymae.create("retromae_tiny", **SMALL).eval()
    ids = batch(model)
    tokens = model.tokenize(ids)
    allowed = model.masker.context(tokens.extra["ordinary"], tokens.extra["valid"], torch.Generator().manual_seed(3))
    cls = torch.randn(ids.shape[0], model.encoder.dim)
    out = model.decoder(cls, model.embed_for_decoder(tokens), tokens.pos, allowed)
    row, b = 5, 0
    unseen = [j for j in range(1, 23) if not allowed[b, row, j]]
    changed = ids.clone()
    changed[b, unseen] = 7
    t2 = model.tokenize(changed)
    out2 = model.decoder(cls, model.embed_for_decoder(t2), t2.pos, allowed)
    assert torch.allclose(out[b, row], out2[b, row], atol=1e-6)
    assert row in unseen                                           # its own token is among what it cannot see
    out3 = model.decoder(cls + 1.0, model.embed_for_decoder(tokens), tokens.pos, allowed)
    assert (out3 - out).abs().amax(-1)[0, :20].min() > 1e-3


def test_encoder_ignores_pads():
    """Latents of the real tokens and every pooled feature are the same with 5 or 15 pads after them."""
    torch.manual_seed(0)
    model = anymae.create("dupmae_tiny", **{**SMALL, "max_len": 32}).eval()
    short = batch(model, lengths=(17, 9))[:, :17]
    longer = torch.nn.functional.pad(short, (0, 15), value=0)
    with torch.no_grad():
        a, b = model.encode(short), model.encode(longer)
        assert torch.allclose(a[0, :17], b[0, :17], atol=1e-5) and torch.allclose(a[1, :9], b[1, :9], atol=1e-5)
        for pool in ("cls", "mean", "retrieval"):
            assert torch.allclose(model.text_features(short, pool), model.text_features(longer, pool), atol=1e-5)


def test_pads_are_never_masked_or_predicted_and_loss_is_finite():
    torch.manual_seed(0)
    model = anymae.create("dupmae_tiny", **SMALL)
    ids = batch(model)
    out = model(ids, generator=torch.Generator().manual_seed(0))
    assert not (out.chosen & (ids == 0)).any() and not out.chosen[:, 0].any()
    assert set(out.terms) == {"encoder_mlm", "decoder_mlm", "bag_of_words"} and torch.isfinite(out.loss)
    out.loss.backward()
    assert model.decoder.layer.query.weight.grad.abs().sum() > 0


# ---------------------------------------------------------------- DupMAE
def test_bag_of_words_loss_is_zero_for_a_perfect_prediction():
    ids = torch.tensor([[2, 7, 9, 7, 11, 3, 0, 0]])
    ordinary = (ids > 4)
    bag = bag_of_words(ids, ordinary, 20)
    assert torch.allclose(bag[0, [7, 9, 11]], torch.full((3,), 1 / 3)) and bag.sum() == pytest.approx(1.0)
    perfect = torch.full((1, 20), -1e4)
    perfect[0, [7, 9, 11]] = 10.0
    assert float(bag_of_words_loss(perfect, bag)) == pytest.approx(0.0, abs=1e-5)
    wrong = torch.full((1, 20), -1e4)
    wrong[0, [7, 12]] = 10.0
    assert float(bag_of_words_loss(wrong, bag)) > 1.0
    logits = torch.randn(1, 8, 20)
    pooled = pooled_logits(logits, ids != 0)                       # max over positions 1..5 only
    assert torch.allclose(pooled, logits[:, 1:6].amax(1))


def test_dupmae_representation_joins_cls_and_reduced_bag():
    model = anymae.create("dupmae_tiny", **SMALL).eval()
    with torch.no_grad():
        rep = model.text_features(batch(model), "retrieval")
    assert rep.shape == (4, 32 + 16)
    assert torch.allclose(rep[:, :32].norm(dim=1), torch.ones(4), atol=1e-5)
    assert (rep[:, 32:] >= 0).all()                                # log(1 + relu): non-negative term weights
    retro = anymae.create("retromae_tiny", **SMALL).eval()
    assert retro.text_features(batch(retro), "retrieval").shape == (4, 32)


# ---------------------------------------------------------------- data
@pytest.fixture(scope="module")
def text_folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("texts")
    for label, seed in (("api", 0), ("prose", 100)):
        (root / label).mkdir()
        for i, text in enumerate(sentences(8, seed)):
            (root / label / f"doc{i}.{'md' if i % 2 else 'txt'}").write_text(text)
    (root / "api" / "lines.jsonl").write_text(json.dumps({"title": "numpy", "text": sentences(1, 7)[0]}) + "\n")
    (root / "api" / "binary.txt").write_bytes(b"\x00\x01\x02binary")
    (root / "api" / "latin1.txt").write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    (root / "prose" / "empty.md").write_text("   \n")
    return root


def test_text_folder_skips_bad_files_and_names_them(text_folder):
    with pytest.warns(UserWarning, match="skipped 3 file"):
        data = load_text_folder(text_folder)
    assert len(data) == 17 and data.classes == ["api", "prose"]
    assert sorted(Path(p).name for p in data.skipped) == ["binary.txt", "empty.md", "latin1.txt"]


def test_empty_corpus_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "a.txt").write_text("")
    assert main(["pretrain", "--recipe", "retromae_tiny", "--data", str(tmp_path), "--out", str(tmp_path / "r")]) == 2
    assert "no text documents" in capsys.readouterr().err and not (tmp_path / "r").exists()


def test_beir_folder_roundtrip_and_errors(tmp_path):
    write_beir(tmp_path / "b", {"d1": "alpha", "d2": "beta"}, {"q1": "alpha?"}, {"q1": {"d1": 1}})
    corpus, queries, qrels = read_beir(tmp_path / "b")
    assert corpus == {"d1": "alpha", "d2": "beta"} and queries == {"q1": "alpha?"} and qrels == {"q1": {"d1": 1}}
    (tmp_path / "b" / "qrels" / "test.tsv").unlink()
    with pytest.raises(ValueError, match="missing qrels/test.tsv"):
        read_beir(tmp_path / "b")


# ---------------------------------------------------------------- through the CLI
@pytest.fixture(scope="module")
def text_run(text_folder, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "retro"
    args = ["pretrain", "--recipe", "dupmae_tiny", "--data", str(text_folder), "--steps", "2", "--batch-size", "4",
            "--out", str(out)] + [f"--arg={k}={v}" for k, v in {**SMALL, "vocab_size": 120}.items()]
    with pytest.warns(UserWarning):
        assert main(args) == 0
    return out


def test_pretrain_on_a_folder_keeps_its_vocabulary(text_run):
    config = anymae.io.read_config(text_run / "config.yaml")
    assert (text_run / "tokenizer.json").is_file() and config["modality"] == "text"
    assert config["summary"]["skipped_files"] == 3 and config["recipe_args"]["vocab_size"] <= 120


def test_retrieve_on_a_beir_folder(text_run, text_folder, tmp_path, capsys):
    docs = {f"d{i}": f"{t} marker{i}" for i, t in enumerate(sentences(12, 3))}
    beir = write_beir(tmp_path / "beir", docs, {"q1": "marker1", "q2": "marker5 numpy"},
                      {"q1": {"d1": 1}, "q2": {"d5": 1}})
    assert main(["retrieve", str(text_run), "--beir", str(beir)]) == 0
    out = capsys.readouterr().out
    assert "random init" in out and "BM25" in out
    result = json.loads((text_run / "retrieve.json").read_text())
    assert [r["name"].split(" [")[0] for r in result["results"]] == ["anymae encoder", "random init", "BM25 (bm25s)"]
    bm25 = result["results"][2]
    assert bm25["mrr10"] == pytest.approx(1.0)                     # each query names its document's marker
    assert main(["retrieve", str(text_run), "--beir", str(tmp_path / "nothing")]) == 2


def test_probe_a_text_run_with_tfidf_baseline(text_run, text_folder, capsys):
    assert main(["probe", str(text_run), "--data", str(text_folder)]) == 0
    out = capsys.readouterr().out
    assert "random init [cls]" in out and "TF-IDF" in out


def test_export_to_hugging_face_bert_matches_cls(text_run, tmp_path):
    transformers = pytest.importorskip("transformers")
    from anymae.io.checkpoint import load_run
    assert main(["export", str(text_run), "--to", "hf", "--out", str(tmp_path / "hf")]) == 0
    hf = transformers.AutoModel.from_pretrained(tmp_path / "hf").eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(tmp_path / "hf")
    enc = tokenizer(["numpy array function returns", "masked autoencoder " * 4], padding=True, truncation=True, return_tensors="pt")
    ours, _ = load_run(text_run)
    with torch.no_grad():
        theirs = hf(**enc).last_hidden_state[:, 0]
        mine = ours.encode(enc["input_ids"])[:, 0]
    assert type(hf).__name__ == "BertModel" and (theirs - mine).abs().max() <= 1e-5
