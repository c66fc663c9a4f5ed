"""Build datasets/labelled/corpus_ru_telegram.csv: real Russian Telegram news as label-0 rows.

Source: ../shared/corpora/ru_telegram_news_nktkln.csv (CC BY 4.0, NKTKLN, "Dataset of
Telegram News Posts"; see that folder's README). Only the Russian file may be used for
training; the Ukrainian one (CC BY-NC-SA) is for evaluation only and is not copied.

The sample is fixed (seed 0), so re-running reproduces the file byte for byte. Rows
are taken as label 0 (`everyday`: news) after a manual spot-check of every row that
mentions prisoners; none contains the pattern. The benchmark that measures the share
of corpus rows flagged leaves these rows out of that measurement.

    python datasets/build_corpus_negatives.py [--corpus PATH] [--n 450]
"""

import argparse
import csv
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
DEFAULT_CORPUS = HERE.parent.parent / "shared" / "corpora" / "ru_telegram_news_nktkln.csv"
OUT = HERE / "labelled" / "corpus_ru_telegram.csv"
COLUMNS = ["text", "label", "lang", "category", "source", "group", "added", "annotator", "style"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--n", type=int, default=450)
    args = parser.parse_args()
    df = pd.read_csv(args.corpus, dtype=str, keep_default_na=False)
    df["corpus_row"] = range(1, len(df) + 1)
    df = df[df["text"].str.len().between(15, 1500)]
    sample = df.sample(n=args.n, random_state=0).sort_values("corpus_row")
    rows = [
        {
            "text": r.text,
            "label": 0,
            "lang": "ru",
            "category": "everyday",
            "source": f"corpus:ru_telegram_news_nktkln.csv row {r.corpus_row} (CC BY 4.0) | {r.source}",
            "group": f"corpus-tg-{r.corpus_row:05d}",
            "added": "2026-11-29",
            "annotator": "team (corpus row taken as 0 after spot-check)",
            "style": "long" if len(r.text.split()) > 80 else "",
        }
        for r in sample.itertuples()
    ]
    with open(OUT, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} rows to {OUT}")


if __name__ == "__main__":
    main()
