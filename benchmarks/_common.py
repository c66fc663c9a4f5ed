"""Helpers shared by the benchmark scripts (not part of the package)."""

from __future__ import annotations

import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPORA = ROOT.parent / "shared" / "corpora"
sys.path.insert(0, str(ROOT))


def corpora_files() -> list[Path]:
    """The real public corpora next to the repository (see ../shared/corpora/README.md)."""
    return sorted(CORPORA.glob("*.csv"))


def realistic_messages(n: int, seed: int = 0) -> list[str]:
    """``n`` messages of 20-400 characters in Ukrainian, Russian and English.

    Built from the label store (all classes): each message is a labelled text cut at
    a random length, or two joined, so lengths spread evenly over 20-400 characters.
    """
    from classifier.labels import load_store

    store = load_store([ROOT / "datasets" / "labelled"])
    texts = [" ".join(t.split()) for t in store["text"] if len(t) >= 20]
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        length = rng.randint(20, 400)
        text = rng.choice(texts)
        while len(text) < length:
            text += " " + rng.choice(texts)
        out.append(text[:length].strip())
    return out


def train_default(seed: int = 0):
    """Our pipeline fitted on the label store, as a LoadedModel (threshold from cross-writer OOF)."""
    from classifier.labels import load_store
    from classifier.model import build_pipeline
    from classifier.registry import LoadedModel
    from classifier.training import fit_cross_writer

    store = load_store([ROOT / "datasets" / "labelled"])
    pipeline, _, threshold, _, _ = fit_cross_writer(build_pipeline(seed=seed), store)
    return LoadedModel(
        version="benchmark", path=ROOT, pipeline=pipeline, card={"threshold": threshold}
    ), store


def naive_pipeline(seed: int = 0):
    """The baseline: TfidfVectorizer word 1-2 + char_wb 2-5, LogisticRegression."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline

    features = FeatureUnion(
        [
            ("word", TfidfVectorizer(analyzer="word", ngram_range=(1, 2))),
            ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5))),
        ]
    )
    return Pipeline([("features", features), ("clf", LogisticRegression(max_iter=1000, random_state=seed))])


def train_fasttext(texts, labels, seed: int = 0):
    """fastText supervised with character 2-5-grams and word bigrams (the baseline's settings)."""
    import os
    import tempfile

    import fasttext

    fd, path = tempfile.mkstemp(suffix=".txt")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        for text, label in zip(texts, labels, strict=True):
            fh.write(f"__label__{label} {' '.join(text.split())}\n")  # one example per line
    try:
        return fasttext.train_supervised(
            path, minn=2, maxn=5, wordNgrams=2, epoch=25, lr=0.5, dim=100, thread=1, seed=seed, verbose=0
        )
    finally:
        os.unlink(path)
