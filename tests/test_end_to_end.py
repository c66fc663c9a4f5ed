"""The model trained on the whole label store, as a new user gets it from the README's first command."""

import csv
import io

import numpy as np
import pytest

from classifier.evaluation import EVERYDAY_PROBES
from classifier.scoring import score_texts

from .test_docs import ROOT


@pytest.mark.slow
def test_default_model_on_real_store(store_model):
    result, model = store_model
    assert "training the default model" in result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    lines = (ROOT / "datasets" / "samples" / "messages.txt").read_text(encoding="utf-8").splitlines()
    assert len(rows) == len(lines)
    card = model.card
    # The headline is cross-writer and says so; floors sit well below the README's
    # figures so that the test fails on a broken pipeline or store, not on noise.
    assert card["cv"]["grouping"] == "writer" and card["cv"]["writers_tested"] >= 9
    assert card["cv"]["overall"]["f1"] >= 0.85 and card["cv"]["overall"]["precision"] >= 0.90
    assert card["heldout_writers"]["overall"]["f1"] >= 0.80
    assert card["threshold_target_met"]
    flagged = {int(r["row"]) for r in rows if r["flagged"] == "true"}
    # Sample lines 2, 3 and 6 are unmistakable appeals; 4, 7 and 14 are plainly not.
    assert {2, 3, 6} <= flagged
    assert not {4, 7, 14} & flagged


@pytest.mark.slow
@pytest.mark.parametrize("text", EVERYDAY_PROBES)
def test_one_word_and_everyday_messages_are_not_flagged(store_model, text):
    _, model = store_model
    assert model.predict_proba([text])[0] < model.threshold


PREFIXES = [
    "[14.02.24 18:30] Unknown: ",
    "[14.02.2024, 18:30:05] Мама: ",
    "12/03/2024, 21:14 - Oleh: ",
    "Forwarded from Полонені UA\n",
    "Переслано від Сашко:\n",
    "Oleh, [14.02.2024 18:30]\n",
    "18:30 Мама: ",
]
MESSAGES = [
    "Привіт, купи хліба і молока дорогою додому",
    "Мамо, я в полоні. Виходьте на Майдан, вимагайте обміну, влада нас кинула",
    "Mom, I'm alive, they feed us, don't worry about me",
    "родные выходите на улицы давите на офис президента нас тут бросили",
]


@pytest.mark.slow
def test_chat_export_metadata_never_moves_a_score_by_more_than_0_02(store_model):
    _, model = store_model
    plain = model.predict_proba(MESSAGES)
    for prefix in PREFIXES:
        prefixed = model.predict_proba([prefix + m for m in MESSAGES])
        assert np.abs(prefixed - plain).max() <= 0.02, prefix


@pytest.mark.slow
def test_reasons_say_which_conditions_hold_and_what_shows_them(store_model):
    _, model = store_model
    out = score_texts(["Мамо, я в полоні, нас тут тримають. Виходьте на Банкову, вимагайте обміну!"], model)
    assert bool(out["flagged"].iloc[0])
    reasons = out["reasons"].iloc[0]
    assert reasons.startswith('captive: "') and '; addressed home: "' in reasons
    assert '; urges pressure: "' in reasons
