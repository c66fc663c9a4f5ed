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
    assert refused.exit_code == 2 and "outside the model registry" in refused.stderr
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


# --- issue 11: only registered versions, named by name, are ever loaded ------------------


class _Evil:
    """Unpickling this creates the file ``marker``: the proof that a pickle ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _evil_version(folder, card, marker, version=None):
    """A version folder whose pickle runs code, with a consistent card that has no scorer."""
    import joblib

    from classifier._files import file_sha256

    folder.mkdir(parents=True)
    joblib.dump(_Evil(marker), folder / "model.joblib")
    card = {k: v for k, v in card.items() if k not in ("scorer_file", "scorer_sha256")}
    card.update(version=version or folder.name, model_sha256=file_sha256(folder / "model.joblib"))
    (folder / "model.json").write_text(json.dumps(card))
    return folder


def _invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _one_line_error(result, code=1, *needles):
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception  # no traceback
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), lines
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


@pytest.fixture
def sample(tmp_path):
    path = tmp_path / "m.txt"
    path.write_text("Мамо, виходьте на Банкову\nкупи хліба\n", encoding="utf-8")
    return path


def test_promote_refuses_a_folder_outside_the_registry(registry, tmp_path, sample):
    good = registry.current_version()
    marker = tmp_path / "pwned"
    outside = _evil_version(tmp_path / "usb" / "v1", _card(registry, good), marker)
    before = (registry.root / "CURRENT").read_bytes()
    for ref in (outside, "../usb/v1"):  # absolute, and relative to models/
        result = _invoke("models", "--models-dir", registry.root, "promote", ref)
        _one_line_error(result, 2, "models import", good)
    assert (registry.root / "CURRENT").read_bytes() == before
    scored = _invoke("score", sample, "--models-dir", registry.root)
    assert scored.exit_code == 0 and f"(model {good})" in scored.stderr
    assert not marker.exists()


@pytest.mark.parametrize("current", ["{outside}", "../usb/v1", "{outside}/../v1"])
def test_current_names_a_version_never_a_path(registry, tmp_path, sample, current):
    marker = tmp_path / "pwned"
    outside = _evil_version(tmp_path / "usb" / "v1", _card(registry, registry.current_version()), marker)
    (registry.root / "CURRENT").write_text(current.format(outside=outside) + "\n")
    result = _invoke("score", sample, "--models-dir", registry.root)
    _one_line_error(result, 1, "CURRENT", "models promote")
    assert not marker.exists()


def test_model_option_names_a_version_never_a_folder(registry, tmp_path, sample):
    good = registry.current_version()
    marker = tmp_path / "pwned"
    fake = tmp_path / "fake"  # looks like a registry: an empty HISTORY and CURRENT
    _evil_version(fake / "v1", _card(registry, good), marker)
    (fake / "HISTORY").write_text("")
    (fake / "CURRENT").write_text("")
    for ref in (fake / "v1", "../fake/v1", "fake/v1"):
        result = _invoke("score", sample, "--models-dir", registry.root, "--model", ref)
        _one_line_error(result, 2, good)  # lists the registered versions
    assert not marker.exists()
    # the registry's own versions may still be named as a folder inside it
    inside = _invoke("score", sample, "--models-dir", registry.root, "--model", registry.root / good)
    assert inside.exit_code == 0 and f"(model {good})" in inside.stderr


def test_unknown_model_lists_the_registered_versions_and_exits_2(registry, sample):
    result = _invoke("score", sample, "--models-dir", registry.root, "--model", "19990101T000000Z")
    line = _one_line_error(result, 2, "'19990101T000000Z' does not exist")
    assert registry.current_version() in line


def test_a_registered_card_without_scorer_file_is_refused_unpickled(registry, tmp_path, sample):
    marker = tmp_path / "pwned"
    _evil_version(registry.root / "20990101T000000Z", _card(registry, registry.current_version()), marker)
    with pytest.raises(ModelIntegrityError, match="lacks scorer_file"):
        registry.load("20990101T000000Z")
    result = _invoke("score", sample, "--models-dir", registry.root, "--model", "20990101T000000Z")
    _one_line_error(result, 1, "scorer_file")
    assert not marker.exists()


def test_a_model_not_loaded_from_a_registry_is_never_unpickled(registry, tmp_path):
    from classifier.registry import LoadedModel

    marker = tmp_path / "pwned"
    card = _card(registry, registry.current_version())
    outside = _evil_version(tmp_path / "usb" / "v1", card, marker)
    model = LoadedModel("v1", outside, json.loads((outside / "model.json").read_text()))
    with pytest.raises(ModelIntegrityError, match="not loaded from a registry"):
        model.pipeline  # noqa: B018 - the property unpickles
    with pytest.raises(ModelIntegrityError, match="scorer_file"):
        model.scorer  # noqa: B018 - without scorer.npz it would unpickle
    assert not marker.exists()


# --- import: card fields name plain files in the folder; versions are plain names -------


def test_import_refuses_card_file_names_that_leave_the_folder(registry, tmp_path):
    from classifier._files import file_sha256

    home = tmp_path / "home"
    store = home / "datasets" / "labelled"
    store.mkdir(parents=True)
    attacker = tmp_path / "datasets" / "labelled" / "x.csv"  # reached from usb/model/../../
    attacker.parent.mkdir(parents=True)
    attacker.write_text("text,label\nevil,1\n")
    outside = tmp_path / "usb" / "model"
    shutil.copytree(registry.root / registry.current_version(), outside)
    card = _card(registry, registry.current_version())
    card.update(scorer_file="../../datasets/labelled/x.csv", scorer_sha256=file_sha256(attacker))
    (outside / "model.json").write_text(json.dumps(card))
    result = _invoke("models", "--models-dir", home / "models", "import", outside, "--trust")
    _one_line_error(result, 1, "scorer_file")
    assert list(store.iterdir()) == [] and Registry(home / "models").versions() == []


@pytest.mark.parametrize(
    "version",
    ["a/b", "../../escape", ".hidden", "", 7, None, "x" * 200, "a\nb", "HISTORY", "CURRENT", "README.md"],
)
def test_import_refuses_a_version_that_is_not_a_plain_name(registry, tmp_path, version):
    outside = tmp_path / "usb" / "model"
    shutil.copytree(registry.root / registry.current_version(), outside)
    card = _card(registry, registry.current_version())
    card["version"] = version
    (outside / "model.json").write_text(json.dumps(card))
    home = tmp_path / "home" / "models"
    result = _invoke("models", "--models-dir", home, "import", outside, "--trust")
    _one_line_error(result, 1, "version")
    assert Registry(home).versions() == [] and not (tmp_path / "escape").exists()
    if version in ("HISTORY", "CURRENT", "README.md"):  # no folder in place of a registry file
        assert not (home / version).exists()


# --- card values are validated on load ----------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("threshold", 0),
        ("threshold", -1),
        ("threshold", 1.5),
        ("threshold", 1),
        ("threshold", float("nan")),
        ("threshold", float("inf")),
        ("threshold", True),
        ("threshold", "abc"),
        ("threshold", "0.5"),
        ("threshold", None),
        ("model_sha256", "abc"),
        ("scorer_sha256", 5),
        ("features_version", "2"),
        ("features_version", 2.0),
        ("features_version", True),
        ("versions", "x"),
        ("versions", {"scikit-learn": 1}),
        ("model_file", "../model.joblib"),
        ("model_file", "model.json"),
        ("scorer_file", "/etc/passwd"),
        ("scorer_file", "model.joblib"),
        ("scorer_file", None),
        ("version", "20990101T000000Z"),  # not the folder it sits in
        ("version", "x/y"),
        ("parent", 5),
        ("cv", [1]),
        ("data", "x"),
        ("created", 5),
    ],
)
def test_card_values_are_validated_on_load(registry, field, value):
    version = registry.current_version()
    card = _card(registry, version)
    card[field] = value
    (registry.root / version / "model.json").write_text(json.dumps(card))
    with pytest.raises(ModelIntegrityError, match=rf"{field}\b.*coercion-classifier"):
        registry.load()


def test_bad_card_value_is_one_line_error_in_the_cli(registry, sample):
    version = registry.current_version()
    card = _card(registry, version)
    card["threshold"] = "abc"
    (registry.root / version / "model.json").write_text(json.dumps(card))
    _one_line_error(_invoke("score", sample, "--models-dir", registry.root), 1, "threshold")


def test_card_that_is_not_an_object_and_non_utf8_current_are_one_line_errors(registry, sample):
    version = registry.current_version()
    card_path = registry.root / version / "model.json"
    card = card_path.read_text()
    card_path.write_text("[1, 2]")
    with pytest.raises(ModelIntegrityError, match="not a JSON object"):
        registry.card(version)
    for args in (["score", sample], ["models", "list"], ["models", "show", version]):
        where = ["--models-dir", registry.root]
        args = [*args[:1], *where, *args[1:]] if args[0] == "models" else [*args, *where]
        _one_line_error(_invoke(*args), 1, "model.json")
    card_path.write_text(card)
    (registry.root / "CURRENT").write_bytes(b"\xff\xfe2026\n")
    _one_line_error(_invoke("score", sample, "--models-dir", registry.root), 1, "CURRENT")


def test_model_from_a_newer_release_says_upgrade(registry):
    from classifier.normalize import FEATURES_VERSION

    version = registry.current_version()
    card = _card(registry, version)
    card["features_version"] = FEATURES_VERSION + 1
    (registry.root / version / "model.json").write_text(json.dumps(card))
    with pytest.raises(VersionMismatchError, match="upgrade coercion-classifier") as info:
        registry.load()
    assert "retrain" not in str(info.value)


# --- an empty CURRENT is an error, not a reason to train ----------------------------------


def _no_training(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("must not train")

    monkeypatch.setattr("classifier.training.train", fail)


@pytest.mark.parametrize("content", [b"", b"  \n\t\n"])
def test_empty_current_is_an_error_not_a_reason_to_train(registry, sample, monkeypatch, content):
    _no_training(monkeypatch)
    versions = registry.versions()
    (registry.root / "CURRENT").write_bytes(content)
    result = _invoke("score", sample, "--models-dir", registry.root)
    _one_line_error(result, 1, "CURRENT", "models promote", versions[0])
    assert registry.versions() == versions and (registry.root / "CURRENT").read_bytes() == content


def test_no_current_with_registered_versions_is_an_error_not_a_reason_to_train(registry, sample, monkeypatch):
    _no_training(monkeypatch)
    versions = registry.versions()
    (registry.root / "CURRENT").unlink()
    result = _invoke("score", sample, "--models-dir", registry.root)
    _one_line_error(result, 1, "models promote", versions[0])
    assert registry.versions() == versions


@pytest.mark.parametrize("kind", ["npy", "object", "garbage"])
def test_a_scorer_file_that_matches_its_card_but_is_not_a_scorer_is_refused(registry, tmp_path, kind):
    import io

    import numpy as np

    from classifier._files import file_sha256

    version = registry.current_version()
    path = registry.root / version / "scorer.npz"
    buf = io.BytesIO()
    if kind == "npy":
        np.save(buf, np.zeros(3))
    elif kind == "object":
        np.savez(buf, weights=np.array([{"a": 1}], dtype=object))
    else:
        buf.write(b"\x80\x04garbage")
    path.write_bytes(buf.getvalue())
    card = _card(registry, version)
    card["scorer_sha256"] = file_sha256(path)
    (registry.root / version / "model.json").write_text(json.dumps(card))
    with pytest.raises(ModelIntegrityError, match="is not a scorer written by coercion-classifier") as info:
        registry.load().predict_proba(["мамо"])
    assert "allow_pickle" not in str(info.value)
