import numpy as np
import pytest
from sklearn.base import clone

from classifier.model import GroupCalibratedClassifier, build_pipeline, choose_threshold, grouped_folds

from .conftest import tiny_rows


def test_choose_threshold_highest_recall_at_target():
    y = [0, 0, 0, 1, 1, 1, 1]
    s = [0.1, 0.5, 0.7, 0.4, 0.6, 0.8, 0.9]
    # >=0.8: P=1 R=.5; >=0.6: P=.75; >=0.4: P=4/6 ... target 0.75 -> threshold 0.6 (R=.75)
    assert choose_threshold(y, s, 0.75) == (0.6, True)
    assert choose_threshold(y, s, 1.0) == (0.8, True)


def test_choose_threshold_unreachable_target_reports_it():
    y = [1, 0, 1, 0]
    s = [0.9, 0.9, 0.2, 0.2]
    threshold, met = choose_threshold(y, s, 0.99)
    assert not met
    assert threshold in (0.2, 0.9)


def test_grouped_folds_keep_groups_together():
    y = np.array([0, 1] * 20)
    groups = np.repeat(np.arange(10), 4)
    for train, test in grouped_folds(y, groups, n_splits=5):
        assert not set(groups[train]) & set(groups[test])


def _tiny():
    rows = tiny_rows()
    return (
        [r["text"] for r in rows],
        np.array([r["label"] for r in rows]),
        np.array([r["group"] for r in rows]),
    )


def test_pipeline_learns_tiny_corpus_and_probabilities_are_valid():
    texts, y, groups = _tiny()
    pipe = build_pipeline(n_features=2**16).fit(texts, y, clf__groups=groups)
    proba = pipe.predict_proba(texts)
    assert proba.shape == (len(texts), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert ((proba >= 0) & (proba <= 1)).all()
    # in-sample it separates the classes: every positive above every negative
    assert proba[y == 1, 1].min() > proba[y == 0, 1].max()


def test_pipeline_generalises_a_little_on_unseen_phrasing():
    texts, y, groups = _tiny()
    pipe = build_pipeline(n_features=2**16).fit(texts, y, clf__groups=groups)
    pos, neg = (
        pipe.predict_proba(["Мамо, ми в полоні, виходьте на вулиці, вимагайте обміну"])[0, 1],
        (pipe.predict_proba(["Купи молока і хліба, будь ласка"])[0, 1]),
    )
    assert pos > neg


def test_fit_is_deterministic():
    texts, y, groups = _tiny()
    a = build_pipeline(n_features=2**16, seed=3).fit(texts, y, clf__groups=groups)
    b = clone(build_pipeline(n_features=2**16, seed=3)).fit(texts, y, clf__groups=groups)
    np.testing.assert_array_equal(a.predict_proba(texts), b.predict_proba(texts))


def test_calibrated_classifier_needs_fit():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        GroupCalibratedClassifier().predict_proba(np.zeros((1, 3)))
