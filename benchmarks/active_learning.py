"""Active learning: F1 after rounds of 50 suggested labels vs 50 random labels.

Starts from a stratified 10% of the label store. The rest is the pool, with its
labels hidden. In each round both strategies get the same budget of 50 labels:

* suggested: `classifier.active.select`, the logic behind `coercion-classifier suggest`
  (closest to the threshold, spread over languages, no near-duplicates);
* random: 50 rows drawn at random from the pool.

Both strategies start from the same initial set, and the random draws use a fixed seed.
After every round each model is refitted and measured on the held-out split
(`datasets/heldout`, never in the pool). Reported per round: F1 at the threshold 0.5,
and PR-AUC, which does not depend on a threshold. Over several seeds the script prints
the mean.

Usage::

    python benchmarks/active_learning.py [--rounds 8] [--batch 50] [--seeds 0,1,2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from _common import ROOT
from sklearn.model_selection import train_test_split

from classifier.active import select
from classifier.evaluation import binary_metrics
from classifier.labels import condition_matrix, load_store
from classifier.model import build_pipeline


def fit(store, idx, seed):
    part = store.iloc[idx]
    return build_pipeline(seed=seed).fit(
        part["text"].tolist(),
        part["label"].to_numpy(),
        clf__groups=part["writer"].to_numpy(),
        clf__conditions=condition_matrix(part),
    )


def measure(pipe, heldout):
    scores = pipe.predict_proba(heldout["text"].tolist())[:, 1]
    m = binary_metrics(heldout["label"], scores, 0.5)
    return m["f1"], m["pr_auc"]


def run(store, heldout, seed, rounds, batch):
    rng = np.random.default_rng(seed)
    start, _ = train_test_split(
        np.arange(len(store)), train_size=0.10, stratify=store["label"], random_state=seed
    )
    curves = []
    labelled = {"suggested": list(start), "random": list(start)}
    for r in range(rounds + 1):
        row = {"seed": seed, "round": r, "labelled": len(labelled["random"])}
        for name in ("suggested", "random"):
            pipe = fit(store, labelled[name], seed)
            row[f"f1 {name}"], row[f"pr_auc {name}"] = measure(pipe, heldout)
            if r == rounds:
                continue
            taken = set(labelled[name])
            pool = np.array([i for i in range(len(store)) if i not in taken])
            if name == "random":
                picks = rng.choice(pool, size=batch, replace=False).tolist()
            else:
                texts = store["text"].to_numpy()[pool].tolist()
                scores = pipe.predict_proba(texts)[:, 1]
                chosen, _ = select(
                    texts, scores, 0.5, batch, store["text"].to_numpy()[labelled[name]].tolist()
                )
                picks = pool[chosen].tolist()
            labelled[name] += picks
        curves.append(row)
        print(f"  seed {seed} round {r}: {row['labelled']} labelled, F1 suggested {row['f1 suggested']:.3f} "
              f"random {row['f1 random']:.3f}", flush=True)  # fmt: skip
    return curves


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args()
    store = load_store([ROOT / "datasets" / "labelled"])
    heldout = load_store([ROOT / "datasets" / "heldout"])
    t0 = time.perf_counter()
    rows = []
    for seed in map(int, args.seeds.split(",")):
        rows += run(store, heldout, seed, args.rounds, args.batch)
    table = pd.DataFrame(rows).groupby("round").mean(numeric_only=True).drop(columns="seed")
    table["f1 gain"] = table["f1 suggested"] - table["f1 random"]
    with pd.option_context("display.width", 200, "display.float_format", "{:.3f}".format):
        print(
            f"mean over seeds {args.seeds}; held-out: {len(heldout)} rows; {time.perf_counter() - t0:.0f} s"
        )
        print(table.to_string())


if __name__ == "__main__":
    main()
