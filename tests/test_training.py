"""Training: cross-writer folds, the card's figures, and evaluation texts kept out of training."""

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from classifier.cli import cli
from classifier.errors import DataError
from classifier.training import contrast_pair_accuracy, cross_writer_plan, train

from .conftest import tiny_rows, write_store


def test_train_refuses_a_store_holding_a_real_or_heldout_text(tmp_path):
    store = write_store(tmp_path / "labelled" / "tiny.csv", tiny_rows()).parent
    real_row = dict(tiny_rows()[3], text=tiny_rows()[3]["text"].upper(), writer="real-press")
    write_store(tmp_path / "real" / "real.csv", [real_row, dict(tiny_rows()[20], writer="real-press")])
    with pytest.raises(DataError, match="evaluation text that must never be trained on"):
        train([store], models_dir=tmp_path / "models", heldout=False, real=[tmp_path / "real"], quiet=True)
    assert not (tmp_path / "models").exists()


def test_the_card_leads_with_cross_writer_figures(tiny_model):
    cv = tiny_model.card["cv"]
    assert cv["grouping"] == "writer" and cv["writers_tested"] == 5 and cv["folds"] == 5
    assert set(cv["by_writer"]) == {f"tiny-{w}" for w in "abcde"}
    assert cv["worst_writer"] in cv["by_writer"]


def test_one_label_writers_train_but_are_never_tested():
    frame = pd.DataFrame(
        {
            "writer": ["a", "a", "b", "b", "legacy-positives", "legacy-positives"],
            "label": [0, 1, 0, 1, 1, 1],
            "group": list("123456"),
        }
    )
    plan = cross_writer_plan(frame)
    assert plan.grouping == "writer" and plan.cv_rows.tolist() == [True] * 4 + [False] * 2
    # fewer than two writers with both labels: folds by row group, marked as such
    assert cross_writer_plan(frame[frame["writer"] != "b"]).grouping == "group"
    assert cross_writer_plan(frame, grouping="group").cv_rows.all()


def test_a_one_label_batch_with_a_few_relabelled_rows_is_still_only_trained_on():
    # an audit moved one of a positives batch's 20 rows to label 0
    frame = pd.DataFrame(
        {
            "writer": ["a"] * 4 + ["b"] * 4 + ["team-positives"] * 20,
            "label": [0, 1, 0, 1] * 2 + [0] + [1] * 19,
            "group": [str(i) for i in range(28)],
        }
    )
    plan = cross_writer_plan(frame)
    assert plan.grouping == "writer" and plan.cv_rows.tolist() == [True] * 8 + [False] * 20


def test_contrast_pairs_are_right_only_when_the_appeal_is_flagged_and_the_twin_is_not():
    frame = pd.DataFrame(
        {
            "group": ["g1", "g1", "g2", "g2", "g3"],
            "label": [1, 0, 1, 0, 0],
            "contrast": ["", "captive_voice", "", "urges_pressure", ""],
            "score": [0.9, 0.2, 0.9, 0.8, 0.1],
        }
    )
    got = contrast_pair_accuracy(frame, 0.5)
    assert got["pairs"] == 2 and got["accuracy"] == 0.5
    assert got["captive_voice"]["accuracy"] == 1.0 and got["urges_pressure"]["accuracy"] == 0.0
    assert np.isnan(contrast_pair_accuracy(frame.iloc[4:], 0.5)["accuracy"])


NAMES = "Оля Петро Іван Марта Богдан Олена Тарас Ганна Юрій Леся Степан Ірина Роман Софія Василь".split()


@pytest.mark.parametrize("labels", [[1], [1, 0], [1] * 12, [1] * 12 + [0] * 2])
def test_a_store_with_too_few_rows_of_a_label_is_a_one_line_error(tmp_path, labels):
    rows = [
        dict(
            text=f"{NAMES[i]}, я в полоні, виходьте на майдан" if y else f"{NAMES[i]}, купи хліба",
            label=y,
            lang="uk",
            category="coerced_appeal" if y else "everyday",
            source="test",
            group=f"g{i}",
            writer=f"w{i % 2}",
            added="2026-12-06",
            annotator="test",
        )
        for i, y in enumerate(labels)
    ]
    store = write_store(tmp_path / "labelled" / "few.csv", rows)
    result = CliRunner().invoke(
        cli, ["train", "--data", str(store.parent), "--models-dir", str(tmp_path / "m"), "--no-heldout"]
    )
    assert result.exit_code == 1, result.output
    assert "training needs at least 3 of each" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "m").exists() or not any((tmp_path / "m").iterdir())


def test_a_store_with_three_rows_of_each_label_trains(tmp_path):
    rows = [r for r in tiny_rows() if r["label"] == 1][:3] + [r for r in tiny_rows() if r["label"] == 0][:3]
    store = write_store(tmp_path / "labelled" / "few.csv", rows)
    result = train([store.parent], models_dir=tmp_path / "m", heldout=False, real=False, quiet=True)
    assert result.card["threshold"] > 0
