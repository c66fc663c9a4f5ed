"""Dask scaling: the local engine (``--jobs 2``) vs Dask LocalClusters of 1 and 2 workers.

Writes about ``--mb`` MB of realistic messages (uk/ru/en, 20-400 characters, built from
the label store) to one text file, then scores it three ways with the same model and
the same output format (parquet), in this one run on this machine:

* the local engine, ``score_files(jobs=2)``: one output file;
* ``score --engine dask`` on a LocalCluster of 1 worker process, then of 2: a folder of
  parts (the default partition size for the cluster).

msg/s counts the scoring run only. Starting a cluster, and the first small job that
loads the compiled kernels in each worker, are timed apart ("startup s"): a
long-lived cluster pays them once. Rows and flags are checked to be the same on
every path.

Usage::

    pip install '.[bench,dask]'
    python benchmarks/dask_scaling.py [--mb 1000] [--model models/VERSION]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd
from _common import realistic_messages, train_default

from classifier.distributed import connect, score_distributed
from classifier.scoring import score_files


def write_input(path: Path, mb: float, seed: int) -> int:
    """About ``mb`` MB of messages, one per line; returns the number of lines."""
    pool = realistic_messages(100_000, seed)  # ~21 MB, reshuffled for every pass
    rng = random.Random(seed)
    target, lines = mb * 1e6, 0
    with open(path, "w", encoding="utf-8") as fh:
        while fh.tell() < target:
            rng.shuffle(pool)
            for text in pool:
                fh.write(text + "\n")
                lines += 1
                if lines % 1000 == 0 and fh.tell() >= target:
                    return lines
    return lines


def load_model(ref: str | None, seed: int):
    if not ref:
        print("training our pipeline on the label store (about half a minute)...", flush=True)
        return train_default(seed)[0]
    from classifier.registry import Registry

    folder = Path(ref).resolve()
    return Registry(folder.parent).load(folder.name)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=1000, help="input size in MB (default 1000)")
    parser.add_argument("--model", help="a model version folder (default: train one on the label store)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="dask-scaling-"))
    try:
        run(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(args, tmp: Path):
    model = load_model(args.model, args.seed)
    src = tmp / "messages.txt"
    n = write_input(src, args.mb, args.seed)
    print(f"{n:,} messages, {src.stat().st_size / 1e6:,.0f} MB; {os.cpu_count()} cores", flush=True)
    warm = tmp / "warm.txt"
    warm.write_text("\n".join(realistic_messages(2000, args.seed + 1)) + "\n", encoding="utf-8")
    model.predict_proba(["warm up"])  # compile in this process, as the local engine does

    rows = []

    def add(name, seconds, startup, summary):
        rows.append(
            {
                "engine": name,
                "msg/s": n / seconds,
                "seconds": seconds,
                "startup s": startup,
                "rows": summary.rows,
                "flagged": summary.flagged,
            }
        )
        print(f"  {name}: {n / seconds:,.0f} msg/s", flush=True)

    start = time.perf_counter()
    summary = score_files([str(src)], str(tmp / "local.parquet"), model, jobs=2)
    add("local engine, --jobs 2", time.perf_counter() - start, 0.0, summary)

    for workers in (1, 2):
        start = time.perf_counter()
        with connect(workers=workers) as client:
            score_distributed([str(warm)], tmp / f"warm{workers}", model, client=client)
            startup = time.perf_counter() - start
            start = time.perf_counter()
            summary = score_distributed([str(src)], tmp / f"dask{workers}", model, client=client)
            seconds = time.perf_counter() - start
        add(
            f"dask LocalCluster, {workers} worker(s), {summary.partitions} partitions",
            seconds,
            startup,
            summary,
        )

    table = pd.DataFrame(rows).set_index("engine")
    if table["rows"].nunique() != 1 or table["flagged"].nunique() != 1:
        raise SystemExit(f"the engines disagree:\n{table}")
    table["x local"] = table["msg/s"] / table["msg/s"].iloc[0]
    with pd.option_context("display.width", 200, "display.float_format", "{:,.2f}".format):
        print(table.drop(columns=["rows", "flagged"]).to_string())


if __name__ == "__main__":
    main()
