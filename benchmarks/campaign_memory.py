"""Memory and time of campaigns: `score` with and without campaign grouping, 1% and 5% scripted copies.

Writes inputs of N messages (default 1,000,000) as ``score_memory.py`` does (realistic
uk/ru/en messages from the label store, 20-400 characters, one per line), in which a
share of the lines (1% and 5%) are edited copies of 200 coerced appeals from the label
store (a greeting added, a word inserted, a few letters swapped for Latin look-alikes):
scripted campaigns, which are flagged. Then runs the real command line on each::

    python -m classifier score INPUT -o OUTPUT --models-dir MODELS --model VERSION --jobs 2 --no-progress \\
        [--no-campaigns | --campaigns CAMPAIGNS.csv]

and samples the process tree's memory as ``score_memory.py`` does. The baseline in the
same run is ``--no-campaigns`` (no grouping: the output of earlier versions). The
table says how many messages were grouped (flagged and near misses), so that the
growth of memory per grouped message can be read off the two shares.

Usage::

    python benchmarks/campaign_memory.py [--messages 1000000] [--shares 1,5] [--jobs 2]
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import tempfile
from pathlib import Path

from _common import ROOT, realistic_messages, train_default
from score_memory import run_measured

_GREETINGS = ("Мамо, ", "Тату, ", "Кохана, ", "Рідні, ", "Мама, ", "Папа, ", "Hi mom, ")
_INSERTS = ("будь ласка", "негайно", "прошу", "срочно", "всі разом")
_LOOKALIKE = str.maketrans({"о": "o", "а": "a", "е": "e", "р": "p", "с": "c"})


def scripts(n: int, seed: int = 0) -> list[str]:
    """``n`` coerced appeals of the label store (at least 60 characters), the campaigns' scripts."""
    from classifier.labels import load_store

    store = load_store([ROOT / "datasets" / "labelled"])
    texts = sorted({" ".join(t.split()) for t, y in zip(store["text"], store["label"], strict=True)
                    if int(y) == 1 and len(t) >= 60})  # fmt: skip
    return random.Random(seed).sample(texts, min(n, len(texts)))


def edited(script: str, rng: random.Random) -> str:
    """A light edit of ``script``, as one family receives it."""
    words = script.split()
    pick = rng.random()
    if pick < 0.3:
        words.insert(rng.randrange(len(words) + 1), rng.choice(_INSERTS))
    elif pick < 0.6:
        words.insert(0, rng.choice(_GREETINGS).strip())
    elif pick < 0.8:
        i = rng.randrange(len(words))
        words[i] = words[i].translate(_LOOKALIKE)
    return " ".join(words)


def write_input(path: Path, n: int, share: float, pool: list[str], appeals: list[str], seed: int = 0) -> None:
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            text = edited(rng.choice(appeals), rng) if rng.random() < share else pool[i % len(pool)]
            fh.write(text + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--shares", default="1,5", help="percent of scripted copies (default 1,5)")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()

    from classifier.registry import Registry
    from classifier.scoring import REASONS_FROM

    tmp = Path(tempfile.mkdtemp(prefix="campaigns-"))
    model, _ = train_default()
    registry = Registry(tmp / "models")
    version = registry.save(model.pipeline, {"threshold": model.threshold})
    # background traffic: messages neither flagged nor near misses, so that the copies are what is grouped
    pool = realistic_messages(60_000)
    pool = [
        t for t, p in zip(pool, model.predict_proba(pool), strict=True) if p < model.threshold * REASONS_FROM
    ]
    appeals = scripts(200)

    rows = []
    for share in (float(s) for s in args.shares.split(",")):
        src = tmp / f"input_{share:g}pct.txt"
        write_input(src, args.messages, share / 100, pool, appeals)
        base = [sys.executable, "-m", "classifier", "score", str(src), "-o", str(tmp / "out.csv"),
                "--models-dir", str(registry.root), "--model", version, "--jobs", str(args.jobs),
                "--no-progress"]  # fmt: skip
        table = tmp / "campaigns.csv"
        for name, extra in (
            ("--no-campaigns", ["--no-campaigns"]),
            ("--campaigns FILE", ["--campaigns", str(table)]),
        ):
            seconds, s = run_measured(base + extra)
            grouped = campaigns = 0
            if extra[0] == "--campaigns":
                with open(table, encoding="utf-8", newline="") as fh:
                    sizes = [int(r["size"]) for r in csv.DictReader(fh)]
                grouped, campaigns = sum(sizes), len(sizes)
            rows.append((f"{share:g}% copies, {name}", seconds, s, grouped, campaigns))
            print(f"  {rows[-1][0]}: {seconds:.0f} s", flush=True)
        src.unlink()

    print(f"{args.messages:,} messages, --jobs {args.jobs}")
    print(
        f"{'run':<32}{'seconds':>9}{'msg/s':>9}{'peak PSS MB':>13}{'main RSS MB':>13}{'grouped':>10}{'campaigns':>11}"
    )
    for name, seconds, s, grouped, campaigns in rows:
        print(f"{name:<32}{seconds:>9.0f}{args.messages / seconds:>9,.0f}{s.peak_pss / 1024:>13.0f}"
              f"{s.peak_main / 1024:>13.0f}{grouped:>10,}{campaigns:>11,}")  # fmt: skip


if __name__ == "__main__":
    main()
