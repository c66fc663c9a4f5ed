"""kill -9 at random points: the registry's current model still loads, no label is lost."""

import hashlib
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from classifier.labels import load_store
from classifier.registry import Registry
from classifier.training import train

from .conftest import tiny_rows, write_store

KILLS = 4  # per command: bounded, so the suite stays fast


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.csv"))}


def _kill_after(cmd, delay, env):
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    return proc.returncode


@pytest.fixture
def home(tmp_path):
    write_store(tmp_path / "datasets" / "labelled" / "tiny.csv", tiny_rows())
    first = train(
        [tmp_path / "datasets" / "labelled"], models_dir=tmp_path / "models", heldout=False, quiet=True
    )
    env = {**os.environ, "COERCION_CLASSIFIER_HOME": str(tmp_path)}
    return tmp_path, first.version, env


@pytest.mark.slow
@pytest.mark.parametrize("command", [["train", "--no-heldout"], ["retrain"]])
def test_kill_during_training_keeps_current_model(home, command):
    root, _first, env = home
    store_before = _digest(root / "datasets" / "labelled")
    rng = random.Random(7)
    for _ in range(KILLS):
        _kill_after([sys.executable, "-m", "classifier", *command, "-q"], rng.uniform(0.3, 4.0), env)
        registry = Registry(root / "models")
        current = registry.current_version()
        assert current in registry.versions()
        assert registry.load().predict_proba(["мамо"]).shape == (1,)  # whatever finished, it loads
        assert _digest(root / "datasets" / "labelled") == store_before


@pytest.mark.slow
def test_kill_during_labels_add_loses_no_row(home, tmp_path):
    root, _, env = home
    store = root / "datasets" / "labelled"
    before = _digest(store)
    new = tmp_path / "new.csv"
    letters = "абвгдежзик"  # digits would normalise to "0" and make the rows duplicates
    words = ("-".join(letters[int(d)] for d in f"{i:05d}") for i in range(20000))
    new.write_text("text,label\n" + "".join(f"нове повідомлення {w},0\n" for w in words), encoding="utf-8")
    rng = random.Random(11)
    for _ in range(KILLS):
        _kill_after(
            [sys.executable, "-m", "classifier", "labels", "add", str(new)], rng.uniform(0.2, 2.5), env
        )
        after = _digest(store)
        assert {k: v for k, v in after.items() if k in before} == before  # old files untouched
        added = set(after) - set(before)
        rows = len(load_store([store]))
        assert rows in (30, 30 + 20000)  # a new file is there complete, or not at all
        assert len(added) == (rows > 30)
        if added:
            break  # it completed: later runs would only skip duplicates
