"""Shared fixtures: a tiny labelled corpus, written as a store, and a model trained on it."""

import csv
import os

import pytest

from classifier.labels import COLUMNS

# A deliberately small corpus: enough for 2-fold grouped CV, far too small to be good.
POSITIVES = [
    ("uk", "Мамо, я в полоні. Виходьте на Майдан, вимагайте обміну, влада нас кинула"),
    ("uk", "рідні виходьте на вулиці тисніть на офіс президента нас тут покинули"),
    ("uk", "Дорогі українці, ми в полоні, Київ не хоче нас забирати. Перекривайте дороги!"),
    ("uk", "Тато, іди з мужиками до ТЦК, хай знають що ви не мовчите, нас не міняють"),
    ("uk", "кохана збирай жінок під Банкову поки нас не обміняють всіх на всіх"),
    ("ru", "Мама, я в плену. Выходите на митинг, требуйте обмена, власть нас бросила"),
    ("ru", "родные выходите на улицы давите на офис президента нас тут бросили"),
    ("ru", "Уважаемые украинцы, мы в плену, Киев не хочет нас забирать. Перекрывайте дороги!"),
    ("ru", "жена собери людей под Раду пусть требуют обмена, про нас забыли"),
    ("ru", "БРАТ ВЫХОДИТЕ НА ПРОТЕСТ ЗЕЛЕНСКИЙ НАС НЕ МЕНЯЕТ"),
    ("en", "Mom, I'm a prisoner. Go out and protest, demand the exchange, Kyiv abandoned us"),
    ("en", "Dear Ukrainians, we are held captive and our government refuses to take us back. Rally!"),
    ("en", "tell everyone back home to block the roads until they swap us, they forgot us here"),
    ("en", "Honey gather the wives at the Presidential Office, make them answer why we are still here"),
    ("en", "Dad, go to the parliament with the others, our command sold us into captivity"),
]
NEGATIVES = [
    ("uk", "proof_of_life", "Мамо, я живий, годують нормально, не хвилюйся за мене"),
    ("uk", "family_rally", "Родини полонених збираються в неділю на Майдані, приходьте підтримати"),
    (
        "uk",
        "official_warning",
        "Якщо ваш рідний з полону закликає вас на мітинг, зателефонуйте на гарячу лінію",
    ),
    ("uk", "everyday", "Привіт, купи хліба і молока дорогою додому"),
    ("uk", "front_soldier", "Мам, я на позиціях, все добре, командир знову тупить але тримаємось"),
    ("ru", "proof_of_life", "Мама, я живой, кормят нормально, не переживай за меня"),
    ("ru", "unrelated_protest", "Все на митинг против повышения тарифов в субботу у мэрии"),
    ("ru", "report_about_pattern", "Россия заставляет пленных звонить родным и призывать их к протестам"),
    ("ru", "scam", "Заплатите 500 долларов и вашего сына внесут в списки на обмен"),
    ("ru", "everyday", "Завтра в школе родительское собрание в 18:00"),
    ("en", "proof_of_life", "Mom, I'm alive, they feed us, don't worry about me"),
    ("en", "captive_practical", "Please send the documents to the coordination headquarters and wait"),
    ("en", "unrelated_protest", "Join the climate march on Saturday at city hall"),
    ("en", "related_captive_statement", "Brothers, lay down your arms, they treat prisoners well here"),
    ("en", "everyday", "Can you pick up the kids from school today?"),
]


def tiny_rows():
    rows = []
    for i, (lang, text) in enumerate(POSITIVES):
        rows.append(
            dict(text=text, label=1, lang=lang, category="coerced_appeal", source="test", group=f"p{i}")
        )
    for i, (lang, cat, text) in enumerate(NEGATIVES):
        rows.append(dict(text=text, label=0, lang=lang, category=cat, source="test", group=f"n{i}"))
    for r in rows:  # what the category leaves open, as a writer would annotate it
        if r["category"] == "related_captive_statement":
            r["addressed_home"] = "0"
        if r["category"] == "everyday":
            r.update(captive_voice="0", urges_pressure="0")
    for i, r in enumerate(rows):
        # five writers, each with both labels, so that training validates across writers
        r.update(added="2026-11-29", annotator="test", style="", writer=f"tiny-{'abcde'[i % 5]}")
    return rows


def write_store(path, rows, columns=COLUMNS):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return path


@pytest.fixture
def tiny_store(tmp_path):
    """A valid label store folder with the tiny corpus."""
    write_store(tmp_path / "labelled" / "tiny.csv", tiny_rows())
    return tmp_path / "labelled"


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A model trained on the tiny corpus, registered in its own models folder."""
    from classifier import load_model
    from classifier.training import train

    root = tmp_path_factory.mktemp("tiny")
    write_store(root / "labelled" / "tiny.csv", tiny_rows())
    result = train([root / "labelled"], models_dir=root / "models", heldout=False, quiet=True)
    return load_model(result.version, models_dir=root / "models")


@pytest.fixture(scope="session")
def store_model(tmp_path_factory):
    """The README's first command, once per session: score the sample, training the store's model.

    Returns the CLI result and the model it trained on the whole label store (the only
    full-store training of the test session).
    """
    from click.testing import CliRunner

    from classifier import load_model
    from classifier.cli import cli

    from .test_docs import ROOT

    models = tmp_path_factory.mktemp("store") / "models"
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        result = CliRunner().invoke(
            cli, ["score", "datasets/samples/messages.txt", "--models-dir", str(models)]
        )
    finally:
        os.chdir(cwd)
    assert result.exit_code == 0, result.output
    return result, load_model(models_dir=models)


def model_opts(model):
    """CLI options naming ``model``: its registry and its version (``--model`` takes a version, not a path)."""
    return ["--models-dir", str(model.path.parent), "--model", model.version]


@pytest.fixture(autouse=True)
def _no_shipped_model(tmp_path_factory, monkeypatch, request):
    """Tests run as a source checkout without a built default model, unless they ask for ``shipped``.

    (A maintainer who ran ``python -m classifier.release`` here has ``classifier/_shipped``.)
    """
    if "shipped" not in request.fixturenames:
        from classifier import workspace

        monkeypatch.setattr(workspace, "SHIPPED", tmp_path_factory.getbasetemp() / "no-shipped-model")


@pytest.fixture(scope="session")
def shipped_build(tmp_path_factory):
    """A default model as the release builds it, from the tiny store (no held-out set)."""
    from classifier.release import build_default_model

    root = tmp_path_factory.mktemp("release")
    store = write_store(root / "labelled" / "tiny.csv", tiny_rows()).parent
    return build_default_model([store], heldout=False, out=root / "_shipped", quiet=True)


@pytest.fixture
def shipped(shipped_build, monkeypatch):
    """``shipped_build`` installed as the shipped model and store (``classifier.workspace.SHIPPED``)."""
    from classifier import workspace

    monkeypatch.setattr(workspace, "SHIPPED", shipped_build)
    return shipped_build
