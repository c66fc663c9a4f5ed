"""Accuracy benchmark: our pipeline vs a naive scikit-learn pipeline vs fastText.

All three are trained and evaluated the same way:

* grouped, stratified 5-fold cross-validation on the label store (the same folds for
  all three), out-of-fold scores pooled;
* each contender's threshold is chosen from its own out-of-fold scores by the same
  rule (highest recall at the target precision, default 0.95);
* then each is fitted on the whole store and measured at that threshold on the
  held-out set (``datasets/heldout``, never trained on) and on the real public corpora
  in ``../shared/corpora`` (share of rows flagged; every row there is taken as label 0;
  rows of the Russian corpus that are in the label store are left out).

Usage::

    pip install '.[bench]'          # fastText (fasttext-numpy2-wheel)
    python benchmarks/accuracy.py [--target-precision 0.95] [--seed 0] [--no-corpora]

Prints one table.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from _common import ROOT, corpora_files, naive_pipeline, train_fasttext
from sklearn.base import clone

from classifier.evaluation import binary_metrics, out_of_fold_scores
from classifier.labels import load_store
from classifier.model import build_pipeline, choose_threshold, grouped_folds


class Ours:
    name = "ours (hashed n-grams + calibrated LR)"

    def __init__(self, seed):
        self.seed = seed

    def oof(self, texts, y, groups, folds):
        scores, _ = out_of_fold_scores(build_pipeline(seed=self.seed), texts, y, groups, seed=self.seed)
        return scores

    def fit(self, texts, y, groups):
        self.model = build_pipeline(seed=self.seed).fit(texts, y, clf__groups=groups)
        return self

    def score(self, texts):
        return self.model.predict_proba(texts)[:, 1]


class Naive:
    name = "naive sklearn (tfidf word1-2 + char_wb2-5, LR)"

    def __init__(self, seed):
        self.template = naive_pipeline(seed)

    def oof(self, texts, y, groups, folds):
        scores = np.zeros(len(y))
        arr = np.array(texts, dtype=object)
        for train, test in folds:
            model = clone(self.template).fit(arr[train], y[train])
            scores[test] = model.predict_proba(arr[test])[:, 1]
        return scores

    def fit(self, texts, y, groups):
        self.model = clone(self.template).fit(texts, y)
        return self

    def score(self, texts):
        return self.model.predict_proba(texts)[:, 1]


class FastText:
    name = "fastText supervised (char 2-5, word bigrams)"

    def __init__(self, seed):
        import fasttext  # noqa: F401 - fail early with a clear ImportError

        self.seed = seed

    @staticmethod
    def _clean(text):
        return " ".join(text.split())  # fastText reads one example per line

    def _train(self, texts, y):
        return train_fasttext(texts, y, self.seed)

    def _proba(self, model, texts):
        labels, probs = model.predict([self._clean(t) for t in texts], k=2)
        out = np.zeros(len(texts))
        for i, (lab, pr) in enumerate(zip(labels, probs, strict=True)):
            d = dict(zip(lab, pr, strict=True))
            out[i] = d.get("__label__1", 1.0 - d.get("__label__0", 0.0))
        return np.clip(out, 0, 1)

    def oof(self, texts, y, groups, folds):
        scores = np.zeros(len(y))
        arr = np.array(texts, dtype=object)
        for train, test in folds:
            scores[test] = self._proba(self._train(arr[train], y[train]), list(arr[test]))
        return scores

    def fit(self, texts, y, groups):
        self.model = self._train(texts, y)
        return self

    def score(self, texts):
        return self._proba(self.model, texts)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target-precision", type=float, default=0.95)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-corpora", action="store_true", help="skip the corpus false-positive columns")
    args = parser.parse_args()

    store = load_store([ROOT / "datasets" / "labelled"])
    texts, y, groups = store["text"].tolist(), store["label"].to_numpy(), store["group"].to_numpy()
    heldout_dir = ROOT / "datasets" / "heldout"
    heldout = load_store([heldout_dir]) if heldout_dir.is_dir() else None
    folds = grouped_folds(y, groups, n_splits=5, random_state=args.seed)
    corpora = {}
    if not args.no_corpora:
        train_texts = set(texts)
        for path in corpora_files():
            df = pd.read_csv(path, dtype=str, keep_default_na=False)
            corpora[path.stem] = [t for t in df["text"] if t not in train_texts]

    print(
        f"label store: {len(store)} rows ({int(y.sum())} positive), 5 grouped folds, seed {args.seed}; "
        f"held-out: {0 if heldout is None else len(heldout)} rows; threshold rule: highest recall at "
        f"precision >= {args.target_precision} on out-of-fold scores"
    )
    contenders = [Ours(args.seed), Naive(args.seed)]
    try:
        contenders.append(FastText(args.seed))
    except ImportError:
        print("fastText not installed (pip install '.[bench]'); its row is left out")

    rows = []
    for c in contenders:
        t0 = time.perf_counter()
        oof = c.oof(texts, y, groups, folds)
        threshold, met = choose_threshold(y, oof, args.target_precision)
        cv = binary_metrics(y, oof, threshold)
        c.fit(texts, y, groups)
        row = {
            "model": c.name,
            "thr": threshold if met else float("nan"),
            "cv_P": cv["precision"],
            "cv_R": cv["recall"],
            "cv_F1": cv["f1"],
            "cv_PRAUC": cv["pr_auc"],
        }
        if heldout is not None:
            ho = binary_metrics(heldout["label"], c.score(heldout["text"].tolist()), threshold)
            row.update(ho_P=ho["precision"], ho_R=ho["recall"], ho_F1=ho["f1"])
        for name, corpus_texts in corpora.items():
            flagged = int((c.score(corpus_texts) >= threshold).sum())
            row[f"flagged {name.split('_')[0]} corpus"] = f"{flagged}/{len(corpus_texts)}"
        row["secs"] = time.perf_counter() - t0
        rows.append(row)
        print(f"  done: {c.name} ({row['secs']:.0f} s)", flush=True)

    table = pd.DataFrame(rows).set_index("model")
    with pd.option_context(
        "display.width", 250, "display.max_columns", 30, "display.float_format", "{:.3f}".format
    ):
        print(table.to_string())
    for name in corpora:
        print(f"{name.split('_')[0]} corpus = ../shared/corpora/{name}.csv (label-store rows excluded)")


if __name__ == "__main__":
    main()
