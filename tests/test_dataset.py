"""The label store itself: valid, and as large and varied as the labelling guide promises."""

from pathlib import Path

import pandas as pd
import pytest

from classifier.labels import NEGATIVE_CATEGORIES, load_store

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def store():
    return load_store([ROOT / "datasets" / "labelled"])


def test_store_size_and_balance(store):
    assert len(store) >= 11000
    assert (store["label"] == 1).sum() >= 700


@pytest.mark.parametrize("label", [0, 1])
@pytest.mark.parametrize("lang", ["uk", "ru", "en"])
def test_each_language_is_a_fifth_of_each_class(store, label, lang):
    part = store[store["label"] == label]
    assert (part["lang"] == lang).mean() >= 0.20


def test_mixed_and_transliterated_present(store):
    assert (store["lang"] == "mixed").sum() >= 50
    assert store["style"].str.contains("translit").sum() >= 50


@pytest.mark.parametrize("category", [c for c in NEGATIVE_CATEGORIES if c != "unsorted"])
def test_every_negative_category_has_60_examples(store, category):
    assert (store["category"] == category).sum() >= 60


def test_lengths_vary_from_short_to_long(store):
    words = store["text"].str.split().str.len()
    assert words.min() <= 6 and words.max() >= 150
    # the coverage: very short messages (1-8 words) and long ones (150+ words)
    assert (words <= 8).mean() > 0.08 and (words >= 150).mean() > 0.04


def test_heldout_is_valid_and_disjoint_from_training(store):
    heldout = load_store([ROOT / "datasets" / "heldout"])
    assert len(heldout) >= 400 and set(heldout["label"]) == {0, 1}
    assert not set(heldout["text"]) & set(store["text"])
    assert not set(heldout["group"]) & set(store["group"])


# Writers of the store's first batches: one label per batch, named after it.
LEGACY = ("team-", "corpus-")


@pytest.fixture(scope="module")
def heldout():
    return load_store([ROOT / "datasets" / "heldout"])


def _new_writers(frame):
    return frame[~frame["writer"].str.startswith(LEGACY)]


def test_every_row_has_a_writer_and_new_writers_write_both_labels(store, heldout):
    new = pd.concat([_new_writers(store), _new_writers(heldout)])
    assert new["writer"].nunique() >= 12
    for writer, part in new.groupby("writer"):
        assert set(part["label"]) == {0, 1}, writer
        assert (part["label"] == 1).mean() >= 0.25, writer


def test_new_writers_wrote_contrast_twins_in_their_appeals_groups(store):
    new = _new_writers(store)
    twins = new[new["contrast"] != ""]
    appeals = set(new.loc[new["label"] == 1, "group"])
    assert len(twins) >= 0.25 * (new["label"] == 1).sum()
    assert twins["group"].isin(appeals).mean() > 0.95
    assert set(twins["contrast"]) == {"captive_voice", "addressed_home", "urges_pressure"}


def test_held_out_writers_are_nowhere_in_the_store(store, heldout):
    held = set(_new_writers(heldout)["writer"])
    assert len(held) >= 2 and not held & set(store["writer"])
