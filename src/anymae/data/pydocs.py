"""`pydocs`: human-written English that ships with Python and the project's dependencies — the docstrings of
the standard library, numpy, torch and scikit-learn — read from their source files with `ast` (nothing is
imported or downloaded), in a fixed order, with a fixed seeded split.

Three uses (docs/text.md): a pretraining corpus (`pydocs`, every documented function/class but the held-out
ones), a retrieval benchmark in BEIR form (`pydocs-retrieval`: query = a held-out docstring's summary line,
relevant document = the rest of it, among distractor documents) and a labelled set for the probe
(`pydocs-labels`: which library a docstring comes from).
"""
from __future__ import annotations

import ast
import gzip
import hashlib
import json
import os
import re
import sysconfig
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

LIBRARIES = ("stdlib", "numpy", "torch", "sklearn")
SKIP_DIRS = {"tests", "test", "testing", "idlelib", "lib2to3", "turtledemo", "ensurepip", "site-packages",
             "dist-packages", "__pycache__", "_vendor", "vendored", "third_party", "_vendored"}
HELD_OUT = 1000        # docstrings whose summary is a retrieval query: never in the pretraining corpus
DISTRACTORS = 4000     # other documents in the retrieval corpus (from the pretraining side)
SPLIT_SEED = 0


def library_root(name: str) -> Path | None:
    """Source folder of a library, found without importing it (None when it is not installed)."""
    if name == "stdlib":
        return Path(sysconfig.get_paths()["stdlib"])
    import importlib.util
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def library_version(name: str) -> str:
    import platform
    if name == "stdlib":
        return platform.python_version()
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("scikit-learn" if name == "sklearn" else name)
    except PackageNotFoundError:
        return "absent"


def source_files(root: Path) -> list[Path]:
    """Every .py under `root` (sorted), outside test / vendored / site-packages folders."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
        out.extend(Path(dirpath) / f for f in sorted(filenames) if f.endswith(".py") and not f.startswith("test_"))
    return sorted(out)


def split_docstring(text: str) -> tuple[str, str]:
    """A docstring -> (summary: its first paragraph on one line, body: the rest)."""
    parts = re.split(r"\n\s*\n", text.strip(), maxsplit=1)
    summary = " ".join(parts[0].split())
    return summary, (parts[1].strip() if len(parts) > 1 else "")


def docstrings_of(path: Path, module: str) -> list[tuple[str, str]]:
    """(qualified name, docstring) of every public function and class defined in one source file."""
    try:
        tree = ast.parse(path.read_bytes())
    except (SyntaxError, ValueError, UnicodeDecodeError, OSError):
        return []
    out = []

    def walk(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                if child.name.startswith("_"):
                    continue
                name = f"{prefix}.{child.name}"
                doc = ast.get_docstring(child, clean=True)
                if doc:
                    out.append((name, doc))
                if isinstance(child, ast.ClassDef):
                    walk(child, name)
    walk(tree, module)
    return out


@dataclass(frozen=True)
class Doc:
    id: str          # library:module.qualname
    library: str
    summary: str
    body: str

    @property
    def text(self) -> str:
        return f"{self.summary}\n\n{self.body}"


def keep(summary: str, body: str) -> bool:
    """A usable docstring: a summary of 4..60 words and a body of at least 20 words of prose."""
    words = len(summary.split())
    return 4 <= words <= 60 and len(body.split()) >= 20 and not summary.startswith((">>>", ".."))


def collect(libraries=LIBRARIES) -> list[Doc]:
    """Every kept docstring of the libraries, deduplicated by text, in a fixed order."""
    docs, seen = [], set()
    for lib in libraries:
        root = library_root(lib)
        if root is None:
            continue
        for path in source_files(root):
            rel = path.relative_to(root).with_suffix("")
            module = ".".join(([] if lib == "stdlib" else [lib]) + [p for p in rel.parts if p != "__init__"])
            for name, doc in docstrings_of(path, module):
                summary, body = split_docstring(doc)
                if not keep(summary, body):
                    continue
                key = hashlib.sha1(doc.encode()).hexdigest()
                if key in seen:
                    continue
                seen.add(key)
                docs.append(Doc(f"{lib}:{name}", lib, summary, body))
    return docs


def cache_dir() -> Path:
    """Where slow-to-build data is kept: $ANYMAE_CACHE, else ~/.cache/anymae."""
    return Path(os.environ.get("ANYMAE_CACHE") or Path.home() / ".cache" / "anymae")


def cache_key() -> str:
    versions = "-".join(f"{lib}{library_version(lib)}" for lib in LIBRARIES)
    return hashlib.sha1(f"pydocs-v1-{versions}".encode()).hexdigest()[:12]


@lru_cache(maxsize=1)
def corpus() -> tuple[Doc, ...]:
    """All kept docstrings (built once per set of library versions, then read from the cache)."""
    path = cache_dir() / f"pydocs-{cache_key()}.json.gz"
    if path.exists():
        try:
            with gzip.open(path, "rt", encoding="utf-8") as f:
                return tuple(Doc(**d) for d in json.load(f))
        except (OSError, ValueError, TypeError):
            pass  # a damaged cache is rebuilt
    docs = collect()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with gzip.open(tmp, "wt", encoding="utf-8") as f:
            json.dump([d.__dict__ for d in docs], f)
        os.replace(tmp, path)  # readers never see a half-written cache
    except OSError:
        pass  # read-only home: build again next time
    return tuple(docs)


@lru_cache(maxsize=1)
def split() -> tuple[np.ndarray, np.ndarray]:
    """(pretraining indices, held-out indices) into `corpus()`: a fixed seeded permutation."""
    n = len(corpus())
    order = np.random.default_rng(SPLIT_SEED).permutation(n)
    held = min(HELD_OUT, n // 10)
    return np.sort(order[held:]), np.sort(order[:held])


def pretraining_docs() -> list[Doc]:
    docs = corpus()
    return [docs[i] for i in split()[0]]


def held_out_docs() -> list[Doc]:
    docs = corpus()
    return [docs[i] for i in split()[1]]


def retrieval_set() -> tuple[dict[str, str], dict[str, str], dict[str, dict[str, int]]]:
    """BEIR form: (corpus {doc id: text}, queries {query id: text}, qrels {query id: {doc id: 1}}).

    Queries: the summaries of the held-out docstrings; each one's relevant document is the rest of its
    docstring. The corpus adds the bodies of DISTRACTORS pretraining docstrings (seeded choice)."""
    train = pretraining_docs()
    rng = np.random.default_rng(SPLIT_SEED + 1)
    picks = np.sort(rng.choice(len(train), size=min(DISTRACTORS, len(train)), replace=False))
    docs = {d.id: d.body for d in held_out_docs()}
    docs.update({train[i].id: train[i].body for i in picks})
    queries = {f"q:{d.id}": d.summary for d in held_out_docs()}
    qrels = {f"q:{d.id}": {d.id: 1} for d in held_out_docs()}
    return docs, queries, qrels


def labelled_docs(split_name: str, per_class: int) -> tuple[list[str], list[int]]:
    """Up to `per_class` docstrings of each library (train: pretraining side; test: held out), seeded."""
    docs = pretraining_docs() if split_name == "train" else held_out_docs()
    rng = np.random.default_rng(SPLIT_SEED + 2)
    texts, labels = [], []
    for label, lib in enumerate(LIBRARIES):
        idx = [i for i, d in enumerate(docs) if d.library == lib]
        chosen = sorted(rng.permutation(idx)[:per_class].tolist()) if idx else []
        texts += [docs[i].text for i in chosen]
        labels += [label] * len(chosen)
    return texts, labels
