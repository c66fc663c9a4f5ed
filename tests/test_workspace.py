"""Workspaces (init, discovery, --home, writers refused outside one) and the shipped default model."""

import csv
import hashlib
import io
import json
import os
import shutil

import pytest
from click.testing import CliRunner

from classifier import config, workspace
from classifier.cli import cli
from classifier.errors import ModelIntegrityError, NoWorkspaceError
from classifier.registry import ShippedRegistry

from .conftest import model_opts, tiny_rows, write_store

MESSAGES = "Мамо, я в полоні, виходьте на Майдан, вимагайте обміну\nкупи хліба дорогою додому\n\n"


@pytest.fixture
def nowhere(tmp_path, monkeypatch):
    """An empty current folder with no workspace at or above it, and no COERCION_CLASSIFIER_HOME."""
    monkeypatch.delenv(config.HOME_ENV, raising=False)
    folder = tmp_path / "empty"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


def _invoke(*args, **kwargs):
    return CliRunner().invoke(cli, [str(a) for a in args], **kwargs)


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- init --------------------------------------------------------------------------------------


def test_init_makes_a_marked_workspace_and_never_a_second_time(nowhere):
    result = _invoke("init", "ws")
    assert result.exit_code == 0, result.output
    ws = nowhere / "ws"
    assert (ws / workspace.MARKER).is_file() and (ws / "datasets" / "labelled").is_dir()
    assert (ws / "models").is_dir()
    assert workspace.is_workspace(ws) and not workspace.is_workspace(nowhere)
    assert result.stdout.splitlines()[0] == (
        f"workspace created in {ws}: coercion-classifier.toml, datasets/labelled/, models/"
    )
    marker = (ws / workspace.MARKER).read_text(encoding="utf-8")
    again = _invoke("init", "ws")
    assert again.exit_code == 1 and "Traceback" not in again.output
    (line,) = again.stderr.strip().splitlines()
    assert "already a workspace" in line and "nothing was changed" in line
    assert (ws / workspace.MARKER).read_text(encoding="utf-8") == marker


def test_init_from_shipped_copies_the_shipped_store_checked_against_its_sums(nowhere, shipped):
    result = _invoke("init", "ws", "--from-shipped")
    assert result.exit_code == 0, result.output
    copied = nowhere / "ws" / "datasets" / "labelled" / "tiny.csv"
    assert copied.read_bytes() == (shipped / "datasets" / "labelled" / "tiny.csv").read_bytes()
    assert "30 labelled rows in 1 file from the shipped store" in result.stdout
    assert not list((nowhere / "ws" / "models").iterdir())  # the shipped model stays shipped

    shipped_csv = shipped / "datasets" / "labelled" / "tiny.csv"
    original = shipped_csv.read_bytes()
    try:
        shipped_csv.write_bytes(original.replace("Мамо".encode(), "Тату".encode(), 1))
        damaged = _invoke("init", "ws2", "--from-shipped")
    finally:
        shipped_csv.write_bytes(original)
    assert damaged.exit_code == 1
    assert "does not match" in damaged.stderr and "reinstall" in damaged.stderr
    assert not (nowhere / "ws2" / workspace.MARKER).exists()  # a failed init is no workspace


def test_init_from_shipped_without_a_shipped_store_says_so(nowhere):
    result = _invoke("init", "ws", "--from-shipped")
    assert result.exit_code == 1 and "Traceback" not in result.output
    (line,) = result.stderr.strip().splitlines()
    assert "ships no label store" in line and "without --from-shipped" in line
    assert not (nowhere / "ws").exists()


# --- finding the workspace -------------------------------------------------------------------


def test_the_workspace_is_found_by_walking_up(nowhere):
    assert _invoke("init", "ws").exit_code == 0
    deep = nowhere / "ws" / "exports" / "week48"
    deep.mkdir(parents=True)
    os.chdir(deep)
    found = workspace.locate()
    assert found.root == nowhere / "ws" and found.how == "found" and found.workspace
    assert config.labelled_dir() == nowhere / "ws" / "datasets" / "labelled"
    new = deep / "n.csv"
    new.write_text("text,label\nзовсім нове повідомлення,0\n", encoding="utf-8")
    result = _invoke("labels", "add", "n.csv", "--source", "week48")
    assert result.exit_code == 0, result.output
    assert len(list((nowhere / "ws" / "datasets" / "labelled").glob("added_*_week48.csv"))) == 1
    assert not (deep / "datasets").exists()


def test_the_environment_variable_beats_walking_up_and_home_beats_both(nowhere, monkeypatch):
    for name in ("a", "b", "c"):
        assert _invoke("init", name).exit_code == 0
    os.chdir(nowhere / "a")
    assert workspace.locate().root == workspace.Path(".")
    monkeypatch.setenv(config.HOME_ENV, str(nowhere / "b"))
    assert workspace.locate() == workspace.Home(nowhere / "b", config.HOME_ENV, True)
    new = nowhere / "n.csv"
    new.write_text("text,label\nзовсім нове повідомлення,0\n", encoding="utf-8")
    result = _invoke("--home", nowhere / "c", "labels", "add", new)
    assert result.exit_code == 0, result.output
    assert [bool(list((nowhere / n / "datasets" / "labelled").glob("*.csv"))) for n in "abc"] == [
        False,
        False,
        True,
    ]
    assert workspace.locate().root == nowhere / "b"  # --home held for that command only


def test_the_repository_root_is_a_workspace(monkeypatch):
    from .test_docs import ROOT

    monkeypatch.delenv(config.HOME_ENV, raising=False)
    monkeypatch.chdir(ROOT / "datasets" / "samples")
    found = workspace.locate()
    assert found.workspace and found.root.resolve() == ROOT.resolve()


@pytest.mark.parametrize(
    "command",
    [
        ["labels", "add", "{new}"],
        ["train"],
        ["retrain"],
        ["models", "promote", "20261129T085027Z"],
        ["models", "rollback"],
        ["models", "import", "{folder}"],
    ],
    ids=" ".join,
)
def test_writers_refuse_without_a_workspace_in_one_line(nowhere, tmp_path, command):
    new = tmp_path / "n.csv"
    new.write_text("text,label\nзовсім нове повідомлення,0\n", encoding="utf-8")
    args = [a.format(new=new, folder=tmp_path) for a in command]
    result = _invoke(*args)
    assert result.exit_code == NoWorkspaceError.exit_code, result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("Error: ") and "coercion-classifier init DIR" in line
    assert "--home DIR" in line and config.HOME_ENV in line
    assert list(nowhere.iterdir()) == []  # nothing made here


def test_a_home_that_is_not_a_workspace_is_refused_by_writers(tmp_path, monkeypatch):
    monkeypatch.setenv(config.HOME_ENV, str(tmp_path))
    with pytest.raises(NoWorkspaceError, match=f"from {config.HOME_ENV}.*is not one"):
        workspace.require("train")


# --- reading commands: the workspace's model, else the shipped one ---------------------------


def test_score_from_an_empty_folder_uses_the_shipped_model_and_says_so(nowhere, shipped):
    (nowhere / "m.txt").write_text(MESSAGES, encoding="utf-8")
    result = _invoke("score", "m.txt")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["row"] for r in rows] == ["1", "2", "3"] and rows[2]["error"] == "empty text"
    assert float(rows[0]["score"]) > float(rows[1]["score"])
    version = (shipped / "models" / "CURRENT").read_text().strip()
    assert version.startswith("default-")
    assert f"using the shipped model {version}" in result.stderr
    assert f"(model {version})" in result.stderr
    assert sorted(p.name for p in nowhere.iterdir()) == ["m.txt"]  # no models/ trained here


def test_every_reading_command_says_which_model_it_used(nowhere, shipped):
    write_store(nowhere / "eval.csv", tiny_rows()[:6])
    (nowhere / "m.txt").write_text(MESSAGES, encoding="utf-8")
    for args in (
        ["explain", "Мамо, виходьте на Майдан"],
        ["evaluate", "--data", "eval.csv"],
        ["suggest", "m.txt", "-n", "1", "-o", "s.csv"],
    ):
        result = _invoke(*args)
        assert result.exit_code == 0, (args, result.output)
        assert "using the shipped model default-" in result.stderr, args


def test_a_workspace_with_a_model_uses_it_not_the_shipped_one(nowhere, shipped, tiny_model):
    assert _invoke("init", "ws").exit_code == 0
    shutil.copytree(tiny_model.path.parent, nowhere / "ws" / "models", dirs_exist_ok=True)
    os.chdir(nowhere / "ws")
    (nowhere / "ws" / "m.txt").write_text(MESSAGES, encoding="utf-8")
    result = _invoke("score", "m.txt")
    assert result.exit_code == 0, result.output
    assert f"using model {tiny_model.version} of the workspace" in result.stderr
    assert "shipped" not in result.stderr


def test_a_broken_current_is_an_error_never_a_fall_back_to_the_shipped_model(nowhere, shipped):
    assert _invoke("init", "ws").exit_code == 0
    (nowhere / "ws" / "models" / "CURRENT").write_text("")
    (nowhere / "m.txt").write_text(MESSAGES, encoding="utf-8")
    result = _invoke("--home", nowhere / "ws", "score", "m.txt")
    assert result.exit_code == 1 and "is empty" in result.stderr and "shipped" not in result.stderr


def test_the_python_api_reads_as_the_commands_do(nowhere, shipped, tiny_model):
    """load_model(): the workspace's current model, else the shipped one; an explicit folder as before."""
    import classifier

    version = (shipped / "models" / "CURRENT").read_text().strip()
    assert classifier.load_model().version == version
    assert classifier.load_model(models_dir=tiny_model.path.parent).version == tiny_model.version
    assert _invoke("init", "ws").exit_code == 0
    shutil.copytree(tiny_model.path.parent, nowhere / "ws" / "models", dirs_exist_ok=True)
    os.chdir(nowhere / "ws")
    assert classifier.load_model().version == tiny_model.version


def test_the_python_api_never_trains_on_its_own(nowhere):
    """Without a model and without a shipped one, load_model() says how to get one (the CLI would train)."""
    import classifier
    from classifier.errors import ModelNotFoundError

    with pytest.raises(ModelNotFoundError, match="train"):
        classifier.load_model()
    assert sorted(p.name for p in nowhere.iterdir()) == []


def test_models_list_names_the_shipped_model_when_the_workspace_has_none(nowhere, shipped):
    assert _invoke("init", "ws").exit_code == 0
    result = _invoke("--home", nowhere / "ws", "models", "list")
    version = (shipped / "models" / "CURRENT").read_text().strip()
    assert result.exit_code == 0 and f"score uses the shipped model {version}" in result.stdout


def test_explicit_model_options_work_as_before(nowhere, shipped, tiny_model):
    (nowhere / "m.txt").write_text(MESSAGES, encoding="utf-8")
    result = _invoke("score", "m.txt", *model_opts(tiny_model))
    assert result.exit_code == 0 and f"(model {tiny_model.version})" in result.stderr
    assert "using" not in result.stderr


# --- the shipped model: read-only, scorer-only, same checks --------------------------------------


def test_the_shipped_model_is_read_only_and_holds_no_pickle(shipped):
    registry = workspace.shipped_registry()
    assert isinstance(registry, ShippedRegistry)
    model = registry.load()
    assert model.card["model_file"] is None and not list(model.path.glob("*.joblib"))
    assert model.predict_proba(["Мамо, я в полоні, виходьте на Майдан"]).shape == (1,)
    with pytest.raises(ModelIntegrityError, match="scorer only"):
        _ = model.pipeline
    with pytest.raises(ModelIntegrityError, match="read-only"):
        registry.set_current(model.version)
    with pytest.raises(ModelIntegrityError, match="read-only"):
        registry.lock()


def test_a_damaged_shipped_scorer_or_card_is_refused(shipped_build, tmp_path, monkeypatch):
    copy = tmp_path / "_shipped"
    shutil.copytree(shipped_build, copy)
    monkeypatch.setattr(workspace, "SHIPPED", copy)
    version = (copy / "models" / "CURRENT").read_text().strip()
    scorer = copy / "models" / version / "scorer.npz"
    data = scorer.read_bytes()
    scorer.write_bytes(data[:-10] + bytes(10))
    with pytest.raises(ModelIntegrityError, match="does not match its model card"):
        workspace.shipped_registry().load()
    scorer.write_bytes(data)
    card_path = copy / "models" / version / "model.json"
    card = json.loads(card_path.read_text(encoding="utf-8"))
    card_path.write_text(json.dumps({**card, "model_file": "model.joblib"}), encoding="utf-8")
    with pytest.raises(ModelIntegrityError, match=r"model_file.*null"):
        workspace.shipped_registry().load()


def test_the_release_build_is_reproducible(shipped_build, tmp_path, monkeypatch):
    from classifier.release import build_default_model

    store = shipped_build / "datasets" / "labelled"
    again = build_default_model([store], heldout=False, out=tmp_path / "again", quiet=True)
    sums = (shipped_build / workspace.SUMS_FILE).read_text().splitlines()
    again_sums = (again / workspace.SUMS_FILE).read_text().splitlines()
    scorer = [line for line in sums if line.endswith("scorer.npz")]
    assert scorer and scorer[0] in again_sums  # the same arrays, the same bytes
    assert [line for line in sums if "datasets/" in line] == [
        line for line in again_sums if "datasets/" in line
    ]
    for line in again_sums:
        digest, name = line.split("  ")
        assert _sha(again / name) == digest
