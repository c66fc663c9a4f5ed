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
    """Our pipeline fitted on the label store, as a LoadedModel (threshold from OOF)."""
    from classifier.evaluation import out_of_fold_scores
    from classifier.labels import load_store
    from classifier.model import build_pipeline, choose_threshold
    from classifier.registry import LoadedModel

    store = load_store([ROOT / "datasets" / "labelled"])
    texts, y, groups = store["text"].tolist(), store["label"].to_numpy(), store["group"].to_numpy()
    oof, _ = out_of_fold_scores(build_pipeline(seed=seed), texts, y, groups, seed=seed)
    threshold, _ = choose_threshold(y, oof)
    pipeline = build_pipeline(seed=seed).fit(texts, y, clf__groups=groups)
    return LoadedModel(
        version="benchmark", path=ROOT, pipeline=pipeline, card={"threshold": threshold}
    ), store
