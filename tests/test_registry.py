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
