"""Image <-> text retrieval of an image-text encoder (M3AE, row 43): each modality alone through the one encoder,
its tokens' features mean-pooled, cosine similarity; R@1 / R@5 in both directions on the test pairs, beside the
same architecture at random init, a classical pair (TF-IDF of the captions and HOG of the images, joined by CCA
fitted on the training pairs) and chance."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..io.files import write_text


@dataclass
class CrossModalResult:
    name: str
    image_to_text_r1: float
    image_to_text_r5: float
    text_to_image_r1: float
    text_to_image_r5: float


def recall_at(similarity: np.ndarray, k: int) -> float:
    """similarity [M,M] (row i: query i against every candidate; candidate i is its pair) -> recall@k."""
    true = np.diag(similarity)[:, None]
    rank = (similarity > true).sum(1)               # candidates scored above the pair (ties count for the pair)
    return float((rank < k).mean())


def retrieval_scores(name: str, image_feats: np.ndarray, text_feats: np.ndarray) -> CrossModalResult:
    """image_feats [M,F], text_feats [M,F'] (row i of each is pair i; F == F' after any projection) -> R@1/R@5."""
    a = image_feats / np.maximum(np.linalg.norm(image_feats, axis=1, keepdims=True), 1e-12)
    b = text_feats / np.maximum(np.linalg.norm(text_feats, axis=1, keepdims=True), 1e-12)
    sim = a @ b.T
    return CrossModalResult(name, recall_at(sim, 1), recall_at(sim, 5), recall_at(sim.T, 1), recall_at(sim.T, 5))


@torch.no_grad()
def modality_features(model, dataset, name: str, batch_size: int = 256) -> np.ndarray:
    """Every sample's modality `name` alone through the encoder (no masking), its tokens mean-pooled: [M,D]."""
    model.eval()
    prefix = model.encoder.num_prefix
    out = []
    for start in range(0, len(dataset), batch_size):
        batch = torch.stack([dataset[i][0][name] for i in range(start, min(start + batch_size, len(dataset)))])
        out.append(model.encode({name: batch})[:, prefix:].mean(1).float())
    return torch.cat(out).numpy()


def classical_pairs(train, test, components: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """TF-IDF of the captions and HOG of the images, each projected by a CCA fitted on the training pairs ->
    (test image features, test caption features), both [M,components]."""
    from sklearn.cross_decomposition import CCA
    from sklearn.feature_extraction.text import TfidfVectorizer
    from .baselines import hog_features
    tfidf = TfidfVectorizer(token_pattern=r"\S+").fit(train.captions)
    hog = [hog_features(torch.stack([d.transform.invert("image", d[i][0]["image"]) for i in range(len(d))])
                        .clamp(0, 1)) for d in (train, test)]
    cca = CCA(n_components=components, max_iter=1000).fit(hog[0], tfidf.transform(train.captions).toarray())
    image, text = cca.transform(hog[1], tfidf.transform(test.captions).toarray())
    return image, text


def format_table(rows: list[CrossModalResult], title: str) -> str:
    width = max(len(r.name) for r in rows)
    lines = [title, f"{'model':<{width}}  {'i->t R@1':>8}  {'i->t R@5':>8}  {'t->i R@1':>8}  {'t->i R@5':>8}"]
    for r in rows:
        lines.append(f"{r.name:<{width}}  {100 * r.image_to_text_r1:>7.1f}%  {100 * r.image_to_text_r5:>7.1f}%  "
                     f"{100 * r.text_to_image_r1:>7.1f}%  {100 * r.text_to_image_r5:>7.1f}%")
    return "\n".join(lines)


def crossmodal_run(run: str | Path, data: str | None = None, seed: int = 0) -> tuple[list[CrossModalResult], str]:
    """Image <-> text retrieval of run `run` on the test split of its data (or `data`); writes RUN/crossmodal.json."""
    from ..config import PretrainConfig
    from ..data import MODALITIES, load_dataset
    from ..io.checkpoint import build_untrained, load_run
    run = Path(run)
    model, raw = load_run(run)
    config = PretrainConfig.from_dict(raw)
    names = getattr(model.tokenizer, "names", ())
    if config.modality != "image-text" or set(names) != {"image", "text"}:
        raise ValueError(f"{run}: cross-modal retrieval needs an image-text run (m3ae_tiny, ...); "
                         f"recipe {raw.get('recipe')!r} is {config.modality}")
    spec = data or config.data
    modality = MODALITIES[config.modality]
    size, transform = modality.sample_size(model, config), modality.eval_transform(model, config)
    train, test = (load_dataset(spec, split=s, image_size=size, channels=config.channels).with_transform(transform)
                   for s in ("train", "test"))
    if not getattr(test, "captions", None):
        raise ValueError(f"{spec}: cross-modal retrieval needs image-caption pairs (e.g. shapes-captions)")
    rows = [retrieval_scores(label, modality_features(m, test, "image"), modality_features(m, test, "text"))
            for label, m in (("anymae encoder (mean of each modality's tokens)", model),
                             ("random init, same architecture", build_untrained(raw, seed=seed)))]
    rows.append(retrieval_scores("HOG + TF-IDF, CCA-16 on train pairs", *classical_pairs(train, test)))
    n = len(test)
    rows.append(CrossModalResult("chance", 1 / n, 5 / n, 1 / n, 5 / n))
    distinct = len(set(test.captions))
    title = f"image <-> text retrieval on {spec} test: {n} pairs ({distinct} distinct captions), cosine"
    write_text(run / "crossmodal.json", json.dumps({"data": spec, "pairs": n, "distinct_captions": distinct,
                                                    "results": [r.__dict__ for r in rows]}, indent=2))
    return rows, format_table(rows, title)
