"""Memory while scoring large inputs: peak memory of `coercion-classifier score` at 100 MB and 1 GB.

Writes input files of the given sizes (realistic uk/ru/en messages, 20-400 characters,
one per line), registers a model trained on the label store in a temporary registry,
then runs the real command line on each file::

    python -m classifier score INPUT -o OUTPUT --models-dir MODELS --model VERSION --jobs 2 --no-progress

and samples the process tree every 0.1 s: the peak of the summed PSS (proportional set
size: pages shared by the forked workers counted once, split between them), the peak
of the summed RSS (shared pages counted in every process: an upper bound), and the
main process's own peak RSS. The baseline in the same run reads the whole 100 MB file
into pandas and scores the list in one call, as a naive script would.

Usage::

    python benchmarks/score_memory.py [--sizes 100,1000] [--jobs 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import ROOT, realistic_messages, train_default


def _pids(root: int) -> list[int]:
    pids, frontier = [root], [root]
    while frontier:
        pid = frontier.pop()
        try:
            with open(f"/proc/{pid}/task/{pid}/children") as fh:
                kids = [int(x) for x in fh.read().split()]
        except OSError:
            kids = []
        pids += kids
        frontier += kids
    return pids


def _kb(pid: int, path: str, key: str) -> int:
    try:
        with open(f"/proc/{pid}/{path}") as fh:
            for line in fh:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Sampler(threading.Thread):
    """Samples a process tree's memory until stopped."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.stop = pid, threading.Event()
        self.peak_pss = self.peak_rss_sum = self.peak_main = 0

    def run(self):
        while not self.stop.is_set():
            pids = _pids(self.pid)
            self.peak_pss = max(self.peak_pss, sum(_kb(p, "smaps_rollup", "Pss:") for p in pids))
            self.peak_rss_sum = max(self.peak_rss_sum, sum(_kb(p, "status", "VmRSS:") for p in pids))
            self.peak_main = max(self.peak_main, _kb(self.pid, "status", "VmRSS:"))
            time.sleep(0.1)


def run_measured(cmd: list[str]) -> tuple[float, Sampler]:
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    sampler = Sampler(proc.pid)
    sampler.start()
    _, err = proc.communicate()
    sampler.stop.set()
    sampler.join()
    if proc.returncode:
        raise SystemExit(f"command failed: {' '.join(cmd)}\n{err.decode()}")
    return time.perf_counter() - start, sampler


def write_input(path: Path, megabytes: int, pool: list[str]) -> int:
    target, written, rows = megabytes * 1_000_000, 0, 0
    block = ("\n".join(pool) + "\n").encode()
    with open(path, "wb") as fh:
        while written < target:
            fh.write(block)
            written += len(block)
            rows += len(pool)
    return rows


BASELINE = """
import sys, csv, pandas as pd
sys.path.insert(0, {root!r})
from classifier import load_model
model = load_model({version!r}, models_dir={models!r})
df = pd.read_csv({src!r}, sep="\\x01", header=None, names=["text"], quoting=csv.QUOTE_NONE, keep_default_na=False)
df["score"] = model.predict_proba(df["text"].tolist())
df.to_csv({out!r}, index=False)
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000", help="input sizes in MB (default 100,1000)")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    from classifier.registry import Registry

    tmp = Path(tempfile.mkdtemp(prefix="memory-"))
    model, _ = train_default()
    registry = Registry(tmp / "models")
    version = registry.save(model.pipeline, {"threshold": model.threshold})
    pool = realistic_messages(50_000)

    rows = []
    for mb in sizes:
        src = tmp / f"input_{mb}mb.txt"
        n = write_input(src, mb, pool)
        cmd = [sys.executable, "-m", "classifier", "score", str(src), "-o", str(tmp / "out.csv"),
               "--models-dir", str(registry.root), "--model", version,
               "--jobs", str(args.jobs), "--no-progress"]  # fmt: skip
        seconds, s = run_measured(cmd)
        rows.append((f"score --jobs {args.jobs}, {mb} MB", n, seconds, s))
        print(f"  {rows[-1][0]}: {n:,} messages in {seconds:.0f} s", flush=True)
        if mb == min(sizes):
            code = BASELINE.format(root=str(ROOT), version=version, models=str(registry.root), src=str(src),
                                   out=str(tmp / "baseline.csv"))  # fmt: skip
            seconds, s = run_measured([sys.executable, "-c", code])
            rows.append((f"baseline: whole file in pandas, {mb} MB", n, seconds, s))
            print(f"  {rows[-1][0]}: {seconds:.0f} s", flush=True)
        os.unlink(src)

    print(
        f"{'run':<44}{'messages':>12}{'seconds':>9}{'msg/s':>9}{'peak PSS MB':>13}{'peak RSS sum MB':>17}{'main RSS MB':>13}"
    )
    for name, n, seconds, s in rows:
        print(f"{name:<44}{n:>12,}{seconds:>9.0f}{n / seconds:>9,.0f}{s.peak_pss / 1024:>13.0f}"
              f"{s.peak_rss_sum / 1024:>17.0f}{s.peak_main / 1024:>13.0f}")  # fmt: skip


if __name__ == "__main__":
    main()
