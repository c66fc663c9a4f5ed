"""Import the independent writers' batches into the label store and the held-out set.

Each writer (one helper session with its own brief, who saw neither the store nor any
other writer's rows) delivered one ``rows.csv`` with the columns
``text,label,lang,category,group,style,captive_voice,addressed_home,urges_pressure,contrast,doubt``.
This script, run once from the repository root, turns each into a store file
(``datasets/labelled/writer_<name>.csv``, or ``datasets/heldout/writer_<name>.csv``
for the writers held out whole) with provenance columns, and drops near-duplicates
*between* writers: a row whose character 5-gram set has Jaccard similarity >= 0.8 with
a row already kept from another writer (the store and the held-out set first, then the
held-out writers, then the training writers) is left out and counted. Near-copies
within one writer are its contrast twins and stay.

Usage::

    python datasets/import_writers.py /work/writers --heldout w04-telegram-admin,w11-volunteer,...
    python datasets/import_writers.py /work/writers --only w13-content-moderator,... --added 2026-12-06

``--only`` imports the named writers and leaves every other file as it is (their rows
count as already kept: a new writer's near-copy of them is dropped).

It prints the counts that the data card (``datasets/README.md``) reports.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from collections import Counter
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from classifier.features import NgramHasher  # noqa: E402
from classifier.labels import COLUMNS, read_labelled  # noqa: E402
from classifier.normalize import normalize_texts  # noqa: E402

JACCARD = 0.8


def shingles(texts):
    """Binary character 5-gram sets of the normalised texts, as a CSR matrix."""
    X = NgramHasher(char_ngram_range=(5, 5), word_ngram_range=(0, 0), n_features=2**22).transform(
        normalize_texts(texts)
    )
    X.data[:] = 1.0
    return X.tocsr()


def near_duplicate_pairs(X, writers, chunk=500):
    """Pairs (i, j), i < j, of rows by different writers with Jaccard >= JACCARD."""
    sizes = np.asarray(X.sum(axis=1)).ravel()
    pairs = []
    XT = X.T.tocsc()
    for a in range(0, X.shape[0], chunk):
        inter = (X[a : a + chunk] @ XT).tocoo()
        i, j, v = inter.row + a, inter.col, inter.data
        keep = (i < j) & (writers[i] != writers[j])
        i, j, v = i[keep], j[keep], v[keep]
        jac = v / (sizes[i] + sizes[j] - v)
        hit = jac >= JACCARD
        pairs.extend(zip(i[hit].tolist(), j[hit].tolist(), strict=True))
    return pairs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="folder with one sub-folder per writer, each with rows.csv")
    parser.add_argument("--heldout", default="", help="comma-separated writers held out whole")
    parser.add_argument(
        "--only", default="", help="comma-separated writers to (re)import; others stay as they are"
    )
    parser.add_argument(
        "--added",
        default=date.today().isoformat(),
        help="the date the writers delivered their rows (the `added` column); default: today",
    )
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    held = [w for w in args.heldout.split(",") if w]

    fixed, problems = read_labelled([ROOT / "datasets" / "labelled", ROOT / "datasets" / "heldout"])
    if problems:
        sys.exit(f"fix the store first: {problems[0]}")
    writers = sorted(p.name for p in args.folder.iterdir() if (p / "rows.csv").is_file())
    only = [w for w in args.only.split(",") if w]
    if only:
        if missing := sorted(set(only) - set(writers)):
            sys.exit(f"no rows.csv for {', '.join(missing)} in {args.folder}")
        writers = only
        fixed = fixed[~fixed["writer"].isin(only)]  # re-importing a writer replaces its file
    else:
        fixed = fixed[~fixed["file"].str.contains("/writer_")]  # re-running replaces the writers' files
    order = [w for w in writers if w in held] + [w for w in writers if w not in held]
    new = []
    for w in order:
        with open(args.folder / w / "rows.csv", newline="", encoding="utf-8") as fh:
            for r in csv.DictReader(fh):
                doubt = r.get("doubt", "").strip().removeprefix("doubt:").strip()
                group = r["group"].strip()
                new.append(
                    {
                        "text": r["text"],
                        "label": r["label"],
                        "lang": r["lang"],
                        "category": r["category"],
                        "source": f"written:{w}" + (f"; doubt: {doubt}" if doubt else ""),
                        "group": group if group.startswith(w) else f"{w}-{group}",
                        "writer": w,
                        "added": args.added,
                        "annotator": w,
                        "style": r.get("style", ""),
                        "supersedes": "",
                        "captive_voice": r.get("captive_voice", ""),
                        "addressed_home": r.get("addressed_home", ""),
                        "urges_pressure": r.get("urges_pressure", ""),
                        "contrast": r.get("contrast", ""),
                    }
                )
    # a row that is nothing but chat metadata (a bare "Forwarded from ..." header) is empty
    # to the model: it cannot be labelled, so it is left out and counted
    empty = [not t.strip() for t in normalize_texts([r["text"] for r in new])]
    metadata_only = Counter(r["writer"] for r, e in zip(new, empty, strict=True) if e)
    new = [r for r, e in zip(new, empty, strict=True) if not e]
    texts = fixed["text"].tolist() + [r["text"] for r in new]
    who = np.array(fixed["writer"].tolist() + [r["writer"] for r in new])
    X = shingles(texts)
    dropped = set()
    n_fixed = len(fixed)
    # short texts have few or no 5-grams: the same normalised text is a duplicate too
    first = {}
    for k, key in enumerate(normalize_texts(texts)):
        if key in first and who[first[key]] != who[k] and k >= n_fixed:
            dropped.add(k)
        first.setdefault(key, k)
    for i, j in sorted(near_duplicate_pairs(X, who)):
        if i not in dropped and j >= n_fixed:  # keep the earlier row; the fixed rows are never dropped
            dropped.add(j)
    dropped_by = Counter(who[j] for j in dropped)
    kept = [r for k, r in enumerate(new) if k + n_fixed not in dropped]
    for w in order:
        rows = [r for r in kept if r["writer"] == w]
        folder = ROOT / "datasets" / ("heldout" if w in held else "labelled")
        pos = sum(r["label"] == "1" for r in rows)
        twins = sum(bool(r["contrast"]) for r in rows)
        print(
            f"{w:<32} {'held out' if w in held else 'training':<9} {len(rows):>5} rows, {pos:>4} positive, "
            f"{twins:>4} twins, {dropped_by.get(w, 0):>3} near-duplicates dropped, "
            f"{metadata_only.get(w, 0)} metadata-only rows left out"
        )
        if args.dry_run:
            continue
        buffer = io.StringIO(newline="")
        writer = csv.DictWriter(buffer, fieldnames=list(COLUMNS), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        (folder / f"writer_{w}.csv").write_text(buffer.getvalue(), encoding="utf-8")
    print(f"{len(new)} rows read, {len(dropped)} near-duplicates of another writer's rows dropped")


if __name__ == "__main__":
    main()
