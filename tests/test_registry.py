import json
import os

import numpy as np
import pytest

from classifier.errors import ModelIntegrityError, ModelNotFoundError
from classifier.registry import CURRENT_FILE, Registry
from classifier.training import train

from .conftest import NEGATIVES, POSITIVES


def test_save_load_round_trip_gives_identical_scores(tiny_model, tmp_path):
    texts = [t for _, t in POSITIVES] + [t for *_, t in NEGATIVES]
    reg = Registry(tmp_path / "models")
    version = reg.save(tiny_model.pipeline, {"threshold": tiny_model.threshold})
    loaded = reg.load()
    assert loaded.version == version == reg.current_version()
    np.testing.assert_array_equal(loaded.predict_proba(texts), tiny_model.predict_proba(texts))
    assert loaded.pipeline.get_params().keys() == tiny_model.pipeline.get_params().keys()


def test_model_card_fields(tiny_model):
    card = tiny_model.card
    for key in ("version", "created", "versions", "data", "threshold", "cv", "model_sha256", "params"):
        assert key in card, key
    for lib in ("python", "scikit-learn", "joblib", "pandas", "numpy"):
        assert card["versions"][lib]
    assert len(card["data"]["sha256"]) == 64
    assert card["data"]["rows"] == len(POSITIVES) + len(NEGATIVES)
    assert 0 < card["threshold"] < 1
    for key in ("precision", "recall", "f1", "pr_auc", "fpr"):
        assert key in card["cv"]["overall"]
    assert set(card["cv"]["by_lang"]) == {"uk", "ru", "en"}
    assert "scam" in card["cv"]["by_category"] and "fpr" in card["cv"]["by_category"]["scam"]


def test_tampered_model_is_refused_before_unpickling(tiny_model, tmp_path):
    reg = Registry(tmp_path / "models")
    version = reg.save(tiny_model.pipeline, {"threshold": 0.5})
    with open(reg.root / version / "model.joblib", "ab") as fh:
        fh.write(b"tampered")
    with pytest.raises(ModelIntegrityError, match="does not match its model card"):
        reg.load()


def test_no_model_and_missing_version(tmp_path):
    reg = Registry(tmp_path / "models")
    with pytest.raises(ModelNotFoundError, match="coercion-classifier train"):
        reg.load()
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        reg.load("20990101T000000Z")


def test_crash_during_save_keeps_previous_current(tiny_model, tmp_path, monkeypatch):
    reg = Registry(tmp_path / "models")
    first = reg.save(tiny_model.pipeline, {"threshold": 0.5})

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "rename", boom)
    with pytest.raises(OSError, match="disk full"):
        reg.save(tiny_model.pipeline, {"threshold": 0.4})
    monkeypatch.undo()
    assert reg.current_version() == first
    assert reg.versions() == [first]
    assert [p.name for p in reg.root.iterdir() if p.name.startswith(".tmp")] == []
    assert reg.load().threshold == 0.5


def test_train_is_deterministic(tiny_store, tmp_path):
    a = train([tiny_store], models_dir=tmp_path / "a", heldout=False, quiet=True, seed=1)
    b = train([tiny_store], models_dir=tmp_path / "b", heldout=False, quiet=True, seed=1)
    assert a.card["model_sha256"] == b.card["model_sha256"]
    assert a.card["cv"] == b.card["cv"] and a.card["threshold"] == b.card["threshold"]
    assert (tmp_path / "a" / CURRENT_FILE).read_text().strip() == a.version
    card = json.loads((tmp_path / "a" / a.version / "model.json").read_text())
    assert card["data"]["sha256"] == b.card["data"]["sha256"]


# --- issue 11: registry files are never followed through symbolic links -----------------


def _models_cli(root, *args):
    from click.testing import CliRunner

    from classifier.cli import cli

    return CliRunner().invoke(cli, ["models", "--models-dir", str(root), *map(str, args)])


def _one_line(result, *needles):
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and all(n in lines[0] for n in needles), lines


def test_symlinked_lock_is_refused_and_its_target_untouched(tiny_model, tmp_path):
    reg = Registry(tmp_path / "models")
    version = reg.save(tiny_model.pipeline, {"threshold": 0.5})
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (reg.root / ".lock").unlink(missing_ok=True)
    (reg.root / ".lock").symlink_to(victim)
    with pytest.raises(ModelIntegrityError, match=r"\.lock is a symbolic link"):
        with reg.lock():
            pass
    _one_line(_models_cli(reg.root, "promote", version), ".lock", "symbolic link")
    assert victim.read_text() == "precious\n"


def test_hard_linked_lock_is_refused(tiny_model, tmp_path):
    reg = Registry(tmp_path / "models")
    reg.save(tiny_model.pipeline, {"threshold": 0.5})
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (reg.root / ".lock").unlink(missing_ok=True)
    os.link(victim, reg.root / ".lock")
    with pytest.raises(ModelIntegrityError, match="hard link"):
        with reg.lock():
            pass
    assert victim.read_text() == "precious\n"


def test_full_disk_while_logging_history_is_one_line_and_keeps_current(tiny_model, tmp_path, monkeypatch):
    import errno

    from classifier.errors import OutputError

    reg = Registry(tmp_path / "models")
    first = reg.save(tiny_model.pipeline, {"threshold": 0.5})
    second = reg.save(tiny_model.pipeline, {"threshold": 0.4}, make_current=False)
    history = (reg.root / "HISTORY").read_text()
    real_fdopen = os.fdopen

    class Full:
        def __init__(self, fh):
            self.fh = fh

        def write(self, text):
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.fh, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

    def fdopen(fd, mode="r", *args, **kwargs):
        fh = real_fdopen(fd, mode, *args, **kwargs)
        return Full(fh) if mode == "a" else fh

    monkeypatch.setattr(os, "fdopen", fdopen)
    with pytest.raises(OutputError, match=r"HISTORY: No space left on device; free some space"):
        reg.set_current(second)
    monkeypatch.undo()
    assert reg.current_version() == first
    assert (reg.root / "HISTORY").read_text() == history


def test_symlinked_history_is_not_appended_through(tiny_model, tmp_path):
    reg = Registry(tmp_path / "models")
    first = reg.save(tiny_model.pipeline, {"threshold": 0.5})
    second = reg.save(tiny_model.pipeline, {"threshold": 0.4})
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (reg.root / "HISTORY").unlink()
    (reg.root / "HISTORY").symlink_to(victim)
    _one_line(_models_cli(reg.root, "promote", first), "HISTORY", "symbolic link")
    assert victim.read_text() == "precious\n" and reg.current_version() == second


def test_symlinked_current_is_refused(tiny_model, tmp_path):
    reg = Registry(tmp_path / "models")
    version = reg.save(tiny_model.pipeline, {"threshold": 0.5})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text(version + "\n")
    (reg.root / CURRENT_FILE).unlink()
    (reg.root / CURRENT_FILE).symlink_to(elsewhere)
    with pytest.raises(ModelIntegrityError, match="CURRENT is a symbolic link"):
        reg.load()


@pytest.mark.parametrize("what", ["folder", "model.json", "scorer.npz", "model.joblib"])
def test_symlinked_version_folder_or_file_is_refused(tiny_model, tmp_path, what):
    other = Registry(tmp_path / "other")
    version = other.save(tiny_model.pipeline, {"threshold": 0.5})
    reg = Registry(tmp_path / "models")
    if what == "folder":
        reg.root.mkdir()
        (reg.root / version).symlink_to(other.root / version)
        (reg.root / CURRENT_FILE).write_text(version + "\n")
    else:
        reg.save(tiny_model.pipeline, {"threshold": 0.5})
        version = reg.current_version()
        target = tmp_path / what
        (reg.root / version / what).rename(target)
        (reg.root / version / what).symlink_to(target)
    with pytest.raises(ModelIntegrityError, match="symbolic link"):
        reg.load().predict_proba(["мамо"])


# --- issue 11: the first run trains once, whoever else starts at the same time -------------


def test_a_second_first_run_waits_for_the_first_and_uses_its_model(tiny_model, tmp_path):
    import subprocess
    import sys
    import threading
    from pathlib import Path

    reg = Registry(tmp_path / "models")
    sample = tmp_path / "m.txt"
    sample.write_text("Мамо, виходьте на Банкову\n", encoding="utf-8")
    env = {**os.environ, "COERCION_CLASSIFIER_HOME": str(tmp_path)}  # no label store: training would fail
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    cmd = [sys.executable, "-m", "classifier", "score", str(sample), "--models-dir", str(reg.root)]
    with reg.lock():  # the first run, training
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        before = []  # stderr up to the line saying it waits for the lock

        def read_until_waiting():
            for line in proc.stderr:
                before.append(line)
                if "waiting" in line:
                    return

        reader = threading.Thread(target=read_until_waiting)
        reader.start()
        reader.join(120)
        assert before and "waiting" in before[-1], before
        version = reg.save(tiny_model.pipeline, {"threshold": 0.5})
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, [*before, err]
    assert f"(model {version})" in err and "training" not in err
    assert reg.versions() == [version] and len(out.splitlines()) == 2
