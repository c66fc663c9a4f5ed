"""Safe model loading: what is refused, and that nothing is unpickled before the checks."""

import json
import shutil

import pytest
from click.testing import CliRunner

from classifier.cli import cli
from classifier.errors import ModelIntegrityError, ModelNotFoundError, VersionMismatchError
from classifier.registry import Registry


@pytest.fixture
def registry(tiny_model, tmp_path):
    reg = Registry(tmp_path / "models")
    reg.save(tiny_model.pipeline, {**tiny_model.card, "threshold": tiny_model.threshold})
    return reg


def _card(reg, version):
    return json.loads((reg.root / version / "model.json").read_text())


def test_empty_model_file_is_its_own_error(registry):
    version = registry.current_version()
    (registry.root / version / "model.joblib").write_bytes(b"")
    with pytest.raises(ModelIntegrityError, match="is empty"):
        registry.load()


def test_truncated_scorer_is_refused(registry):
    version = registry.current_version()
    path = registry.root / version / "scorer.npz"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ModelIntegrityError, match="truncated, corrupted or replaced"):
        registry.load()


def test_card_with_missing_fields(registry):
    version = registry.current_version()
    card = _card(registry, version)
    del card["model_sha256"], card["threshold"]
    (registry.root / version / "model.json").write_text(json.dumps(card))
    with pytest.raises(ModelIntegrityError, match="lacks threshold, model_sha256"):
        registry.load()


def test_unreadable_card(registry):
    (registry.root / registry.current_version() / "model.json").write_text("{not json")
    with pytest.raises(ModelIntegrityError, match="not valid JSON"):
        registry.load()


def test_current_pointing_to_a_missing_version(registry):
    (registry.root / "CURRENT").write_text("20990101T000000Z\n")
    with pytest.raises(ModelNotFoundError, match="'20990101T000000Z' does not exist"):
        registry.load()


def test_other_sklearn_version_is_refused_before_unpickling(registry, monkeypatch):
    version = registry.current_version()
    card = _card(registry, version)
    card["versions"]["scikit-learn"] = "0.24.2"
    (registry.root / version / "model.json").write_text(json.dumps(card))
    loaded = registry.load()
    assert loaded.predict_proba(["мамо"]).shape == (1,)  # scoring reads plain arrays: still fine

    def no_unpickling(*args, **kwargs):
        raise AssertionError("joblib.load must not be reached")

    monkeypatch.setattr("classifier.registry.joblib.load", no_unpickling)
    with pytest.raises(VersionMismatchError, match=r"scikit-learn 0\.24\.2.*'coercion-classifier retrain'"):
        loaded.pipeline  # noqa: B018 - the property unpickles


@pytest.mark.parametrize("built", [1, None])  # None: a card from before the field existed
def test_model_built_on_other_text_features_is_refused(registry, built):
    from classifier.normalize import FEATURES_VERSION

    version = registry.current_version()
    card = _card(registry, version)
    assert card["features_version"] == FEATURES_VERSION
    if built is None:
        del card["features_version"]
    else:
        card["features_version"] = built
    (registry.root / version / "model.json").write_text(json.dumps(card))
    with pytest.raises(
        VersionMismatchError, match=r"text features of version 1.*'coercion-classifier retrain'"
    ):
        registry.load()


def test_cli_errors_are_one_line(registry, tmp_path):
    (registry.root / registry.current_version() / "model.joblib").write_bytes(b"")
    (tmp_path / "m.txt").write_text("мамо\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["score", str(tmp_path / "m.txt"), "--models-dir", str(registry.root)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1 and "is empty" in result.stderr


def test_outside_folder_refused_until_imported_with_trust(registry, tmp_path):
    outside = tmp_path / "usb" / "model"
    shutil.copytree(registry.root / registry.current_version(), outside)
    (tmp_path / "m.txt").write_text("мамо\n", encoding="utf-8")
    home = tmp_path / "home"
    refused = CliRunner().invoke(
        cli, ["score", str(tmp_path / "m.txt"), "--model", str(outside), "--models-dir", str(home)]
    )
    assert refused.exit_code == 1 and "outside the model registry" in refused.stderr
    shown = CliRunner().invoke(cli, ["models", "--models-dir", str(home), "import", str(outside)])
    assert shown.exit_code == 1 and '"model_sha256"' in shown.stdout and "--trust" in shown.stderr
    assert not (home / "CURRENT").exists()
    done = CliRunner().invoke(cli, ["models", "--models-dir", str(home), "import", str(outside), "--trust"])
    assert done.exit_code == 0, done.output
    version = done.stdout.strip().splitlines()[-1].split()[2]
    assert Registry(home).load(version).card["imported_from"] == str(outside.resolve())


def test_import_checks_files_against_the_card(registry, tmp_path):
    outside = tmp_path / "usb" / "model"
    shutil.copytree(registry.root / registry.current_version(), outside)
    with open(outside / "model.joblib", "ab") as fh:
        fh.write(b"evil")
    with pytest.raises(ModelIntegrityError, match="does not match its model card"):
        Registry(tmp_path / "home").import_model(outside, trust=True)
