"""Evasion robustness: recall on perturbed positives next to the unperturbed recall.

Takes the held-out positives (never trained on) and the held-out negatives, applies
each perturbation an evader might use, and scores them with a model trained on the
label store, at its own threshold:

* homoglyphs: 40% of letters that have a look-alike are swapped between Latin and
  Cyrillic;
* zero-width: a zero-width space or joiner inserted after 25% of letters;
* spaced-out: every other word of 4+ letters spelled with spaces ("в и х о д ь т е");
* leetspeak: о→0, е→3, а→4, і/и→1, т→7, з→3, s→5, after 50% of those letters;
* all four together.

It prints recall on the positives and the false-positive rate on the negatives under
each perturbation, with the unperturbed figures first. Seeded, so repeatable.

Usage::

    python benchmarks/robustness.py [--seed 0]
"""

from __future__ import annotations

import argparse
import random

import pandas as pd
from _common import ROOT, train_default

from classifier.labels import load_store

SWAP = dict(zip("аеорсхуіАЕОРСХІТМНКВ", "aeopcxyiAEOPCXITMHKB", strict=True))
SWAP.update({v: k for k, v in SWAP.items()})
LEET = {
    "о": "0",
    "o": "0",
    "е": "3",
    "e": "3",
    "а": "4",
    "a": "4",
    "і": "1",
    "и": "1",
    "i": "1",
    "т": "7",
    "t": "7",
    "з": "3",
    "s": "5",
}


def homoglyphs(text, rng):
    return "".join(SWAP[c] if c in SWAP and rng.random() < 0.4 else c for c in text)


def zero_width(text, rng):
    return "".join(
        c + rng.choice(["\u200b", "\u200d"]) if c.isalpha() and rng.random() < 0.25 else c for c in text
    )


def spaced_out(text, rng):
    words = text.split(" ")
    return " ".join(
        " ".join(w) if len(w) >= 4 and w.isalpha() and i % 2 == 0 else w for i, w in enumerate(words)
    )


def leetspeak(text, rng):
    return "".join(LEET[c.lower()] if c.lower() in LEET and rng.random() < 0.5 else c for c in text)


def everything(text, rng):
    for f in (leetspeak, homoglyphs, zero_width, spaced_out):
        text = f(text, rng)
    return text


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    model, _ = train_default(args.seed)
    heldout = load_store([ROOT / "datasets" / "heldout"])
    pos = heldout[heldout["label"] == 1]["text"].tolist()
    neg = heldout[heldout["label"] == 0]["text"].tolist()
    rows = []
    perturbations = [("none", lambda t, r: t), ("homoglyphs", homoglyphs), ("zero-width", zero_width),
                     ("spaced-out", spaced_out), ("leetspeak", leetspeak), ("all four", everything)]  # fmt: skip
    base = None
    for name, f in perturbations:
        rng = random.Random(args.seed)
        p_scores = model.predict_proba([f(t, rng) for t in pos])
        n_scores = model.predict_proba([f(t, rng) for t in neg])
        recall = float((p_scores >= model.threshold).mean())
        base = recall if base is None else base
        rows.append(
            {
                "perturbation": name,
                "recall": recall,
                "recall drop": base - recall,
                "mean positive score": float(p_scores.mean()),
                "FPR": float((n_scores >= model.threshold).mean()),
            }
        )
    print(f"held-out: {len(pos)} positives, {len(neg)} negatives; threshold {model.threshold:.3f}")
    with pd.option_context("display.width", 160, "display.float_format", "{:.3f}".format):
        print(pd.DataFrame(rows).set_index("perturbation").to_string())


if __name__ == "__main__":
    main()
