"""Text: data sets of documents, the WordPiece vocabulary trained on them (Hugging Face `tokenizers`), folders
of `.txt` / `.md` / `.jsonl` files, BEIR folders, and the built-in `pydocs` sets (data/pydocs.py).

A sample is a string; the text modality's transform turns it into token ids [L] (`[CLS] ... [SEP]`, padded
with [PAD] to the model's length, over-long documents cut). Nothing is downloaded: a vocabulary is trained
on the training corpus at pretrain time, or read from a local file (`--tokenizer PATH`).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import warnings
from functools import lru_cache
from pathlib import Path

import torch
from torch import Tensor

from .builtin import builtin
from .datasets import SeededSamples, check_split, folder_labels, folder_split
from .modality import Modality, register_modality

log = logging.getLogger("anymae.data")

TEXT_SUFFIXES = {".txt", ".md", ".jsonl"}
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")  # ids 0..4 in a vocabulary trained here


class TextDataset(SeededSamples):
    """Documents (a list of str) with labels [N] (-1 = unlabelled); items (token ids [L] through the
    transform, or the raw string without one, label, index)."""

    modality = "text"
    store = "texts"

    def __init__(self, texts: list[str], labels: Tensor | None = None, transform=None, seed: int = 0,
                 classes: list[str] | None = None, name: str = "text"):
        super().__init__(len(texts), labels, transform, seed, classes, name)
        self.texts = list(texts)
        self.truncated = 0  # documents longer than the model's length (set by TextModality.configure)

    def _rebuilt(self, samples, labels, transform, seed, name):
        out = super()._rebuilt(samples, labels, transform, seed, name)
        out.truncated = self.truncated
        return out

    def __len__(self) -> int:
        return len(self.texts)

    def pixels(self, index: int) -> str:
        return self.texts[index]


# ---------------------------------------------------------------- vocabulary
def train_wordpiece(texts: list[str], vocab_size: int):
    """A BERT-style WordPiece vocabulary (lower-cased, BERT pre-tokenizer) trained on `texts`;
    [PAD] [UNK] [CLS] [SEP] [MASK] are ids 0..4, the rest in a canonical order. The same texts give the same
    vocabulary unless merges tie at the size limit (then `tokenizers` breaks ties in hash order; the
    vocabulary cache, keyed by the corpus, keeps a machine's runs on one file)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS),
                                        min_frequency=2, show_progress=False)
    tok.train_from_iterator(texts, trainer)
    # ids in a canonical order (the trainer numbers tokens in hash order, which changes from run to run)
    learned = tok.get_vocab()
    order = list(SPECIAL_TOKENS) + sorted((t for t in learned if t not in SPECIAL_TOKENS),
                                          key=lambda t: (t.startswith("##"), len(t), t))
    tok.model = models.WordPiece(vocab={t: i for i, t in enumerate(order)}, unk_token="[UNK]",
                                 max_input_chars_per_word=100)
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
                                                       special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    return tok


def tokenizer_file(path: str | Path) -> Path:
    """`--tokenizer PATH`: a tokenizer.json, or a folder holding one."""
    path = Path(path)
    if path.is_dir():
        path = path / "tokenizer.json"
    if not path.is_file():
        raise ValueError(f"--tokenizer {path}: no tokenizer.json there (give a Hugging Face tokenizer.json file "
                         "or a folder holding one)")
    return path


@lru_cache(maxsize=8)
def load_tokenizer(path: str):
    """A `tokenizers.Tokenizer` from a tokenizer.json; ValueError naming the file when it is not one."""
    from tokenizers import Tokenizer
    try:
        tok = Tokenizer.from_file(str(tokenizer_file(path)))
    except ValueError:
        raise
    except Exception as err:  # tokenizers raises its own exception type
        raise ValueError(f"--tokenizer {path}: not a Hugging Face tokenizer.json ({err})") from None
    missing = [t for t in ("[PAD]", "[CLS]", "[SEP]", "[MASK]") if tok.token_to_id(t) is None]
    if missing:
        raise ValueError(f"--tokenizer {path}: the vocabulary lacks the BERT special tokens {missing}")
    return tok


def special_ids(tok) -> dict[str, int]:
    return {"pad_id": tok.token_to_id("[PAD]"), "cls_id": tok.token_to_id("[CLS]"),
            "sep_id": tok.token_to_id("[SEP]"), "mask_id": tok.token_to_id("[MASK]")}


def encode_texts(tok, texts: list[str], max_len: int) -> tuple[Tensor, int]:
    """texts -> (ids [M,max_len] as `[CLS] tokens [SEP] [PAD]...`, count of documents cut to fit)."""
    ids = special_ids(tok)
    rows, cut = [], 0
    for enc in tok.encode_batch(list(texts), add_special_tokens=False):
        body = enc.ids
        if len(body) > max_len - 2:
            cut += 1
            body = body[:max_len - 2]
        row = [ids["cls_id"], *body, ids["sep_id"]]
        rows.append(row + [ids["pad_id"]] * (max_len - len(row)))
    return torch.tensor(rows, dtype=torch.long).reshape(len(rows), max_len), cut


class TextIds:
    """transform: a document -> token ids [max_len] with the run's vocabulary (no randomness)."""

    def __init__(self, tokenizer: str, max_len: int):
        self.tokenizer, self.max_len = str(tokenizer), int(max_len)

    def __call__(self, text: str, generator=None) -> Tensor:
        return encode_texts(load_tokenizer(self.tokenizer), [text], self.max_len)[0][0]


def cached_vocabulary(texts: list[str], vocab_size: int) -> Path:
    """Train (or find, keyed by the corpus and the size) a WordPiece vocabulary in the cache folder."""
    from .pydocs import cache_dir
    digest = hashlib.sha1(f"{vocab_size}\n".encode())
    for t in texts:
        digest.update(t.encode("utf-8", "replace"))
        digest.update(b"\0")
    path = cache_dir() / "tokenizers" / f"wordpiece-{vocab_size}-{digest.hexdigest()[:16]}.json"
    if not path.exists():
        tok = train_wordpiece(texts, vocab_size)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tok.save(str(tmp))
        os.replace(tmp, path)
    return path


@register_modality
class TextModality(Modality):
    """Documents -> token ids [L]; the vocabulary is the run's `tokenizer` (trained on its corpus)."""

    name = "text"

    def configure(self, config, data, args: dict) -> None:
        """Before the model is built: train the vocabulary on the corpus (or read `--tokenizer`), give its
        size and special ids to the recipe, and count the documents that will be cut to `max_len`."""
        if config.tokenizer:
            path = tokenizer_file(config.tokenizer)
        else:
            path = cached_vocabulary(data.texts, int(args.get("vocab_size", 8000)))
        tok = load_tokenizer(str(path))
        config.tokenizer = str(path)
        config.recipe_args.update(vocab_size=tok.get_vocab_size(), **special_ids(tok))
        max_len = int(args.get("max_len", 128))
        lengths = [len(e.ids) for e in tok.encode_batch(data.texts, add_special_tokens=False)]
        data.truncated = sum(n > max_len - 2 for n in lengths)
        if data.truncated:
            log.warning("%d of %d documents are longer than the model's %d tokens and are cut",
                        data.truncated, len(lengths), max_len)

    def sample_size(self, model, config):
        return model.tokenizer.max_len

    def pretrain_transform(self, model, config):
        if not config.tokenizer:
            raise ValueError("this text run names no tokenizer (config.yaml `tokenizer`)")
        return TextIds(config.tokenizer, model.tokenizer.max_len)

    def eval_transform(self, model, config):
        return self.pretrain_transform(model, config)


# ---------------------------------------------------------------- user folders
def read_text_file(path: Path) -> list[str]:
    """The documents of one file: a .txt/.md file is one document, a .jsonl file one per line (`text`
    field, with `title` in front when there is one). ValueError naming the file when it is unusable."""
    raw = path.read_bytes()
    if b"\0" in raw[:8192]:
        raise ValueError(f"{path}: binary file (NUL bytes), not text")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    if path.suffix.lower() != ".jsonl":
        if not text.strip():
            raise ValueError(f"{path}: empty file")
        return [text.strip()]
    docs = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: line {n} is not JSON ({err.msg})") from None
        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
            raise ValueError(f"{path}: line {n} has no string `text` field")
        body = " ".join(p for p in (row.get("title") or "", row["text"]) if isinstance(p, str) and p.strip())
        if body.strip():
            docs.append(body.strip())
    if not docs:
        raise ValueError(f"{path}: no documents (empty file or empty `text` fields)")
    return docs


def is_beir_folder(root: Path) -> bool:
    return (root / "corpus.jsonl").is_file()


def load_text_folder(root: str | Path, image_size=None, channels=None, split: str = "all",
                     test_fraction: float = 0.3) -> TextDataset:
    """Every .txt/.md/.jsonl file under `root` (a BEIR folder: its corpus.jsonl only). Unreadable, binary,
    non-UTF-8 and empty files are skipped and named once; an empty corpus is an error. Labels: the
    sub-folder of each file when every file sits in one."""
    root = Path(root)
    check_split(split)
    if is_beir_folder(root):
        paths = [root / "corpus.jsonl"]
    else:
        paths = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES)
    texts, folders, skipped, reasons = [], [], [], []
    for path in paths:
        try:
            docs = read_text_file(path)
        except (ValueError, OSError) as err:
            skipped.append(str(path))
            reasons.append(str(err))
            continue
        texts += docs
        folders += [path.relative_to(root).parent.as_posix()] * len(docs)
    if skipped:
        shown = "; ".join(reasons[:5]) + (f"; ... ({len(reasons) - 5} more)" if len(reasons) > 5 else "")
        warnings.warn(f"{root}: skipped {len(skipped)} file(s): {shown}", stacklevel=2)
    if not texts:
        raise ValueError(f"{root}: no text documents found (looked for {', '.join(sorted(TEXT_SUFFIXES))}; "
                         f"{len(skipped)} file(s) skipped)")
    classes, labels = folder_labels(folders)
    data = TextDataset(texts, labels, classes=classes, name=str(root))
    data.skipped = skipped
    return folder_split(data, root, split, test_fraction)


def read_beir(root: str | Path, split: str = "test") -> tuple[dict[str, str], dict[str, str], dict[str, dict]]:
    """A BEIR folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv) -> (corpus, queries, qrels); only
    queries with a relevant document are kept. ValueError naming the file on bad input."""
    root = Path(root)
    for need in ("corpus.jsonl", "queries.jsonl", f"qrels/{split}.tsv"):
        if not (root / need).is_file():
            raise ValueError(f"--beir {root}: missing {need} (a BEIR folder holds corpus.jsonl, queries.jsonl "
                             f"and qrels/{split}.tsv)")

    def rows(name):
        out = {}
        for n, line in enumerate((root / name).read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                out[str(row["_id"])] = " ".join(p for p in (row.get("title") or "", row.get("text") or "") if p)
            except (json.JSONDecodeError, KeyError, TypeError):
                raise ValueError(f"{root / name}: line {n} is not a JSON object with `_id` and `text`") from None
        return out

    corpus, queries = rows("corpus.jsonl"), rows("queries.jsonl")
    qrels: dict[str, dict[str, int]] = {}
    for n, line in enumerate((root / "qrels" / f"{split}.tsv").read_text().splitlines(), 1):
        cells = line.strip().split("\t")
        if n == 1 and cells[0] in ("query-id", "query_id", "qid"):
            continue
        if len(cells) < 3:
            if line.strip():
                raise ValueError(f"{root}/qrels/{split}.tsv: line {n} needs query-id, corpus-id, score")
            continue
        try:
            score = int(float(cells[2]))
        except ValueError:
            raise ValueError(f"{root}/qrels/{split}.tsv: line {n}: score {cells[2]!r} is not a number") from None
        if score > 0 and cells[0] in queries and cells[1] in corpus:
            qrels.setdefault(cells[0], {})[cells[1]] = score
    if not corpus or not qrels:
        raise ValueError(f"--beir {root}: {'empty corpus' if not corpus else 'no query has a relevant document'}")
    return corpus, {q: queries[q] for q in qrels}, qrels


def write_beir(root: str | Path, corpus: dict, queries: dict, qrels: dict) -> Path:
    """Write a retrieval set as a BEIR folder (what `read_beir` reads)."""
    root = Path(root)
    (root / "qrels").mkdir(parents=True, exist_ok=True)
    (root / "corpus.jsonl").write_text("".join(json.dumps({"_id": k, "title": "", "text": v}) + "\n"
                                               for k, v in corpus.items()))
    (root / "queries.jsonl").write_text("".join(json.dumps({"_id": k, "text": v}) + "\n" for k, v in queries.items()))
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(
        f"{q}\t{d}\t{s}\n" for q, docs in qrels.items() for d, s in docs.items()))
    return root


# ---------------------------------------------------------------- built-in: docstrings
@builtin("pydocs")
def pydocs(split: str = "train", image_size=None, seed: int = 0) -> TextDataset:
    """Docstrings of the standard library, numpy, torch and scikit-learn (label: the library). train: the
    pretraining corpus; test: the held-out docstrings whose summaries are pydocs-retrieval's queries."""
    from . import pydocs as source
    check_split(split)
    docs = {"train": source.pretraining_docs, "test": source.held_out_docs}.get(split, lambda: list(source.corpus()))()
    labels = torch.tensor([source.LIBRARIES.index(d.library) for d in docs])
    return TextDataset([d.text for d in docs], labels, classes=list(source.LIBRARIES), name=f"pydocs:{split}")


@builtin("pydocs-labels")
def pydocs_labels(split: str = "train", image_size=None, seed: int = 0) -> TextDataset:
    """A balanced labelled set for the probe: which library a docstring documents (4 classes); up to 300
    a class for train (pretraining side), 100 for test (held out of pretraining)."""
    from . import pydocs as source
    check_split(split)
    if split == "all":
        raise ValueError("pydocs-labels has train and test splits")
    texts, labels = source.labelled_docs(split, 300 if split == "train" else 100)
    return TextDataset(texts, torch.tensor(labels), classes=list(source.LIBRARIES), name=f"pydocs-labels:{split}")


def pydocs_retrieval():
    """`pydocs-retrieval` in BEIR form: (corpus, queries, qrels); see data/pydocs.py."""
    from .pydocs import retrieval_set
    return retrieval_set()
