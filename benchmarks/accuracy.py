"""Accuracy benchmark: ours vs a naive scikit-learn pipeline vs fastText, across writers.

Every contender is trained and measured the same way, in one run:

* **cross-writer validation** (the headline): folds hold out whole writers; only
  writers who wrote both labels are tested (a one-label batch is in every fold's
  training part, since on it "who wrote it" predicts the label). The same folds for
  every contender; each one's threshold is chosen from its own out-of-fold scores by
  the same rule (highest recall at the target precision, default 0.95);
* then each is fitted on the whole store and measured at that threshold on
  **held-out writers** (``datasets/heldout``, writers whose rows are nowhere in the
  store), on the team's first held-out set (written like the store's first batches:
  **optimistic**), on **real public texts** (``datasets/real``), on one-word and
  everyday probes, and on the real corpora in ``../shared/corpora`` (share flagged;
  every row there is label 0);
* ours is also cross-validated with folds by row group, which the model card used to
  lead with: the same writers on both sides of every fold, so **optimistic**.

Usage::

    pip install '.[bench]'          # fastText (fasttext-numpy2-wheel)
    python benchmarks/accuracy.py [--target-precision 0.95] [--seed 0] [--no-corpora]

Prints a Markdown table (the README's quality table) and the slices behind it.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from _common import ROOT, corpora_files, naive_pipeline, train_fasttext
from sklearn.base import clone

from classifier.evaluation import EVERYDAY_PROBES, binary_metrics, metrics_by
from classifier.labels import load_store
from classifier.model import build_pipeline, choose_threshold, grouped_folds
from classifier.scorer import LinearScorer
from classifier.training import TEAM_PREFIX, contrast_pair_accuracy, cross_writer_plan, fit_cross_writer

PROBES = list(EVERYDAY_PROBES)


class Ours:
    def __init__(self, seed, combine="stack", grouping="writer"):
        self.seed, self.combine, self.grouping = seed, combine, grouping
        self.name = {"stack": "ours: condition heads, stacked", "direct": "ours: one head (direct)"}[combine]
        if grouping != "writer":
            self.name += ", folds by row group (OPTIMISTIC)"

    def oof(self, store, folds):
        pipeline, oof, _, _, _ = fit_cross_writer(
            build_pipeline(seed=self.seed, combine=self.combine), store, grouping=self.grouping
        )
        self.model = pipeline  # fitted on all rows as part of the cross-writer fit
        self.scorer = LinearScorer.from_pipeline(pipeline)  # what `score` serves
        return oof["score"].to_numpy()

    def fit(self, store):
        return self

    def score(self, texts):
        return self.scorer.predict_proba(texts)


class Naive:
    name = "naive sklearn (tfidf word1-2 + char_wb2-5, LR)"

    def __init__(self, seed):
        self.template = naive_pipeline(seed)

    def oof(self, store, folds):
        texts, y = np.array(store["text"].tolist(), dtype=object), store["label"].to_numpy()
        scores = np.full(len(y), np.nan)
        for train, test in folds:
            scores[test] = clone(self.template).fit(texts[train], y[train]).predict_proba(texts[test])[:, 1]
        return scores

    def fit(self, store):
        self.model = clone(self.template).fit(store["text"].tolist(), store["label"].to_numpy())
        return self

    def score(self, texts):
        return self.model.predict_proba(texts)[:, 1]


class FastText:
    name = "fastText supervised (char 2-5, word bigrams)"

    def __init__(self, seed):
        import fasttext  # noqa: F401 - fail early with a clear ImportError

        self.seed = seed

    def _proba(self, model, texts):
        labels, probs = model.predict([" ".join(t.split()) for t in texts], k=2)
        out = np.zeros(len(texts))
        for i, (lab, pr) in enumerate(zip(labels, probs, strict=True)):
            d = dict(zip(lab, pr, strict=True))
            out[i] = d.get("__label__1", 1.0 - d.get("__label__0", 0.0))
        return np.clip(out, 0, 1)

    def oof(self, store, folds):
        texts, y = np.array(store["text"].tolist(), dtype=object), store["label"].to_numpy()
        scores = np.full(len(y), np.nan)
        for train, test in folds:
            scores[test] = self._proba(train_fasttext(texts[train], y[train], self.seed), list(texts[test]))
        return scores

    def fit(self, store):
        self.model = train_fasttext(store["text"].tolist(), store["label"].to_numpy(), self.seed)
        return self

    def score(self, texts):
        return self._proba(self.model, texts)


def _f1(m):
    return float("nan") if m["f1"] is None else m["f1"]


def _worst(by):
    scored = {k: v["f1"] for k, v in by.items() if v["f1"] == v["f1"] and v["positives"]}
    return min(scored.items(), key=lambda kv: kv[1]) if scored else ("-", float("nan"))


def _max_negative_fpr(frame, threshold):
    negatives = frame[frame["label"] == 0]
    shares = {cat: float((part["score"] >= threshold).mean()) for cat, part in negatives.groupby("category")}
    return max(shares.items(), key=lambda kv: kv[1]) if shares else ("-", float("nan"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target-precision", type=float, default=0.95)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-corpora", action="store_true", help="skip the corpus false-positive columns")
    parser.add_argument("--no-baselines", action="store_true", help="ours only (quicker)")
    args = parser.parse_args()

    store = load_store([ROOT / "datasets" / "labelled"])
    y = store["label"].to_numpy()
    plan = cross_writer_plan(store)
    folds = grouped_folds(y, plan.groups, n_splits=5, random_state=args.seed, rows=plan.cv_rows)
    sets = {}
    if (ROOT / "datasets" / "heldout").is_dir():
        ho = load_store([ROOT / "datasets" / "heldout"])
        team = ho["writer"].str.startswith(TEAM_PREFIX)
        sets["held-out writers"], sets["team held-out (optimistic)"] = ho[~team], ho[team]
    if (ROOT / "datasets" / "real").is_dir():
        sets["real texts"] = load_store([ROOT / "datasets" / "real"])
    corpora = {}
    if not args.no_corpora:
        seen = set(store["text"])
        for path in corpora_files():
            df = pd.read_csv(path, dtype=str, keep_default_na=False)
            corpora[path.stem] = [t for t in df["text"] if t not in seen]

    tested = plan.cv_rows
    print(
        f"label store: {len(store)} rows ({int(y.sum())} positive) by {store['writer'].nunique()} writers; "
        f"cross-writer folds: {len(folds)} over {store.loc[tested, 'writer'].nunique()} writers who wrote both "
        f"labels ({int(tested.sum())} rows tested); "
        + "; ".join(f"{k}: {len(v)} rows" for k, v in sets.items())
        + f"; threshold: highest recall at precision >= {args.target_precision} on each one's OOF scores"
    )
    contenders = [Ours(args.seed), Ours(args.seed, "direct")]
    if not args.no_baselines:
        contenders.append(Naive(args.seed))
        try:
            contenders.append(FastText(args.seed))
        except ImportError:
            print("fastText not installed (pip install '.[bench]'); its row is left out")
    contenders.append(Ours(args.seed, grouping="group"))

    rows, slices = [], {}
    for c in contenders:
        t0 = time.perf_counter()
        oof = c.oof(store, folds)
        rows_tested = ~np.isnan(oof)
        frame = store[rows_tested].assign(score=oof[rows_tested])
        threshold, met = choose_threshold(frame["label"], frame["score"], args.target_precision)
        c.fit(store)
        cv = binary_metrics(frame["label"], frame["score"], threshold)
        worst = _worst(metrics_by(frame, "writer", threshold))
        cat, cat_fpr = _max_negative_fpr(frame, threshold)
        row = {
            "model": c.name,
            "CV P": cv["precision"],
            "CV R": cv["recall"],
            "CV F1": cv["f1"],
            "worst writer F1": worst[1],
            "max neg. category FPR": cat_fpr,
            "contrast pairs": contrast_pair_accuracy(frame, threshold)["accuracy"],
        }
        by_lang = {"CV": metrics_by(frame, "lang", threshold)}
        held_cat = "-"
        for name, part in sets.items():
            scored = part.assign(score=c.score(part["text"].tolist()))
            m = binary_metrics(scored["label"], scored["score"], threshold)
            row[f"{name} F1"] = m["f1"]
            if name == "real texts":
                row[f"{name} P / R"] = f"{m['precision']:.3f} / {m['recall']:.3f}"
            if name == "held-out writers":
                row[f"{name} P"] = m["precision"]
                by_lang[name] = metrics_by(scored, "lang", threshold)
                hcat, hfpr = _max_negative_fpr(scored, threshold)
                row["held-out max neg. FPR"] = hfpr
                held_cat = hcat
        row["probes flagged"] = f"{int((c.score(PROBES) >= threshold).sum())}/{len(PROBES)}"
        for name, texts in corpora.items():
            row[f"{name} flagged"] = float(np.mean(c.score(texts) >= threshold))
        row["threshold"] = threshold if met else float("nan")
        row["secs"] = time.perf_counter() - t0
        rows.append(row)
        slices[c.name] = (by_lang, worst, cat, held_cat)
        print(f"  done: {c.name} ({row['secs']:.0f} s)", flush=True)

    table = pd.DataFrame(rows).set_index("model")
    print()
    print(table.T.to_markdown(floatfmt=".3f"))
    print()
    for name, (by_lang, worst, cat, held_cat) in slices.items():
        print(
            f"{name}: worst writer {worst[0]}, most flagged negative category (CV) {cat}"
            f", (held-out writers) {held_cat}"
        )
        for where, langs in by_lang.items():
            print(
                f"  F1 by language, {where}: "
                + ", ".join(f"{k} {_f1(v):.3f} (n={v['n']})" for k, v in langs.items())
            )
    if corpora:
        print(
            "corpora (share flagged, every row label 0): "
            + ", ".join(f"../shared/corpora/{n}.csv" for n in corpora)
        )

    # Per-language thresholds: chosen on the cross-writer OOF scores, judged on the held-out writers.
    ours = contenders[0]
    if "held-out writers" in sets:
        oof_frame = store[~np.isnan(ours_oof := ours.model.named_steps["clf"].oof_proba_)].assign(
            score=ours_oof[~np.isnan(ours_oof)]
        )
        global_t, _ = choose_threshold(oof_frame["label"], oof_frame["score"], args.target_precision)
        part = sets["held-out writers"].assign(score=ours.score(sets["held-out writers"]["text"].tolist()))
        flagged = part["score"] >= global_t
        for lang, sub in oof_frame.groupby("lang"):
            if sub["label"].nunique() == 2:
                t, _ = choose_threshold(sub["label"], sub["score"], args.target_precision)
                flagged[part["lang"] == lang] = part.loc[part["lang"] == lang, "score"] >= t
        one = binary_metrics(part["label"], part["score"], global_t)
        per = binary_metrics(part["label"], flagged.astype(float), 0.5)
        print(
            f"threshold per language vs one threshold (ours, held-out writers): F1 {per['f1']:.3f} "
            f"(P {per['precision']:.3f}) vs {one['f1']:.3f} (P {one['precision']:.3f})"
        )


if __name__ == "__main__":
    main()
