"""Scoring throughput: our score path vs plain predict_proba vs naive sklearn vs fastText.

Generates N realistic messages (uk/ru/en, 20-400 characters, from the label store),
writes them to a text file (one per line), trains each contender on the label store,
and measures messages per second, all in this one run on this machine:

* ours, ``score`` path: file in, CSV out (languages, scores, flags, reasons), --jobs 1 and 2;
  and the same messages, --jobs 2, as a ``;`` CSV (id, text, date), as an ``.xlsx`` laid
  out as Excel writes it (texts in the shared-string table; see ``xlsx_reading.py``) and
  as a Telegram Desktop export (``result.json``, half of them with entity lists), each
  with the peak memory (tracemalloc) of reading that file alone;
* ours, ``predict_proba`` on a list in memory (the compiled scorer), and the same model
  through scikit-learn's ``Pipeline.predict_proba``;
* naive scikit-learn: TfidfVectorizer word 1-2 + char_wb 2-5, LogisticRegression; the
  whole file read into pandas, predict_proba, CSV out;
* fastText supervised (char 2-5, word bigrams): lines read from the file, predict, CSV out.

Usage::

    pip install '.[bench]'
    python benchmarks/score_throughput.py [-n 200000]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import tempfile
import time
import tracemalloc

import pandas as pd
from _common import naive_pipeline, realistic_messages, train_default, train_fasttext
from xlsx_reading import write_xlsx

from classifier.campaigns import CampaignGrouper
from classifier.readers import Input
from classifier.scoring import score_files


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def write_telegram_export(messages, path):
    """``messages`` as a one-chat Telegram Desktop export, streamed (indent=1, as the app writes it)."""
    with open(path, "w", encoding="utf-8") as fh:
        fh.write('{\n "name": "benchmark",\n "type": "private_group",\n "id": 1,\n "messages": [\n')
        for i, text in enumerate(messages, 1):
            if i % 2:  # an entity list, as for any message with formatting or a link
                cut = len(text) // 2
                text = [text[:cut], {"type": "bold", "text": text[cut:]}]
            message = {"id": i, "type": "message", "date": "2024-03-12T21:14:05", "date_unixtime": "1710270845",
                       "from": "Оля", "from_id": "user1000", "text": text}  # fmt: skip
            fh.write(
                json.dumps(message, ensure_ascii=False, indent=1) + (",\n" if i < len(messages) else "\n")
            )
        fh.write(" ]\n}\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200_000, help="messages (default 200,000)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    messages = realistic_messages(args.n, args.seed)
    tmp = tempfile.mkdtemp(prefix="throughput-")
    src = os.path.join(tmp, "messages.txt")
    with open(src, "w", encoding="utf-8") as fh:
        fh.write("\n".join(messages) + "\n")
    mean_len = sum(map(len, messages)) / len(messages)
    print(
        f"{args.n:,} messages, mean {mean_len:.0f} characters, {os.path.getsize(src) / 1e6:.1f} MB; {os.cpu_count()} cores"
    )

    model, store = train_default(args.seed)
    texts, y = store["text"].tolist(), store["label"].to_numpy()
    model.predict_proba(messages[:100])  # compile / warm up
    rows = []

    def add(name, seconds):
        rows.append({"contender": name, "seconds": seconds, "msg/s": args.n / seconds})
        print(f"  {name}: {args.n / seconds:,.0f} msg/s", flush=True)

    for jobs in (1, 2):
        out = os.path.join(tmp, f"ours{jobs}.csv")
        add(
            f"ours: score file->file, --jobs {jobs}",
            timed(lambda j=jobs, o=out: score_files([src], o, model, jobs=j)),
        )
    # the command line's default: flagged and near-miss messages grouped into campaigns
    # (about half of these messages, which come from the label store: a heavy case)
    add(
        "ours: score file->file with campaigns (the CLI default), --jobs 2",
        timed(
            lambda: score_files(
                [src], os.path.join(tmp, "camp.csv"), model, jobs=2, campaigns=CampaignGrouper()
            )
        ),
    )
    table_rows = [(i, t, f"2024-03-{1 + i % 28:02d} 09:30") for i, t in enumerate(messages)]
    sheet_csv, sheet_xlsx, tg = (os.path.join(tmp, f) for f in ("export.csv", "export.xlsx", "result.json"))
    with open(sheet_csv, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, delimiter=";")
        writer.writerow(["id", "text", "date"])
        writer.writerows(table_rows)
    write_xlsx(sheet_xlsx, table_rows)
    write_telegram_export(messages, tg)
    peaks = {}
    for what, path in (("; CSV", sheet_csv), (".xlsx", sheet_xlsx), ("Telegram result.json", tg)):
        add(
            f"ours: score {what} ({os.path.getsize(path) / 1e6:.0f} MB) -> file, --jobs 2",
            timed(lambda p=path: score_files([p], os.path.join(tmp, "out.csv"), model, jobs=2)),
        )
        tracemalloc.start()
        read = sum(1 for _ in Input(path).records())
        peaks[what] = (read, tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    for what, (read, peak) in peaks.items():
        print(f"  reading the {what} alone: {read:,} messages, peak {peak / 1e6:.1f} MB (tracemalloc)")
    add("ours: predict_proba(list), compiled", timed(lambda: model.predict_proba(messages)))
    add("ours: sklearn Pipeline.predict_proba(list)", timed(lambda: model.pipeline.predict_proba(messages)))

    naive = naive_pipeline(args.seed).fit(texts, y)

    def run_naive():
        df = pd.read_csv(
            src, sep="\x01", header=None, names=["text"], quoting=csv.QUOTE_NONE, keep_default_na=False
        )
        df["score"] = naive.predict_proba(df["text"].tolist())[:, 1]
        df.to_csv(os.path.join(tmp, "naive.csv"), index=False)

    add("naive sklearn (pandas, whole file)", timed(run_naive))

    try:
        import fasttext  # noqa: F401 - only to check it is installed
    except ImportError:
        print("  fastText not installed (pip install '.[bench]'): its row is left out")
    else:
        ft = train_fasttext(texts, y, args.seed)

        def run_fasttext():
            with open(src, encoding="utf-8") as fh:
                lines = [line.rstrip("\n") for line in fh]
            labels, probs = ft.predict(lines, k=1)
            with open(os.path.join(tmp, "ft.csv"), "w", encoding="utf-8", newline="") as out:
                writer = csv.writer(out)
                writer.writerow(["row", "label", "p"])
                writer.writerows(
                    (i, lab[0], float(p[0])) for i, (lab, p) in enumerate(zip(labels, probs, strict=True), 1)
                )

        add("fastText supervised (file in, CSV out)", timed(run_fasttext))

    table = pd.DataFrame(rows).set_index("contender")
    by_name = table["msg/s"]
    if any("fastText" in k for k in by_name.index):
        table["x fastText"] = by_name / by_name[next(k for k in by_name.index if "fastText" in k)]
    table["x naive"] = by_name / by_name["naive sklearn (pandas, whole file)"]
    with pd.option_context("display.width", 200, "display.float_format", "{:,.2f}".format):
        print(table.to_string())


if __name__ == "__main__":
    main()
