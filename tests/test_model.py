import numpy as np
import pytest
from sklearn.base import clone

from classifier.labels import condition_matrix
from classifier.model import ConditionClassifier, build_pipeline, choose_threshold, grouped_folds
from classifier.scorer import LinearScorer

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


def test_grouped_folds_test_only_the_rows_asked_and_train_on_the_rest():
    y = np.array([0, 1] * 20)
    writers = np.repeat(np.arange(8), 5)
    rows = writers < 6  # writers 6 and 7 only ever train
    folds = grouped_folds(y, writers, n_splits=3, rows=rows)
    tested = np.concatenate([test for _, test in folds])
    assert sorted(tested) == list(np.flatnonzero(rows))
    for train, test in folds:
        assert not set(writers[train]) & set(writers[test])
        assert set(np.flatnonzero(~rows)) <= set(train)


def _tiny():
    rows = tiny_rows()
    return (
        [r["text"] for r in rows],
        np.array([r["label"] for r in rows]),
        np.array([r["group"] for r in rows]),
    )


def _frame():
    import pandas as pd

    return pd.DataFrame(tiny_rows())


def test_condition_heads_are_fitted_from_the_categories_and_score_like_the_pipeline():
    frame = _frame()
    texts, y = frame["text"].tolist(), frame["label"].to_numpy()
    pipe = build_pipeline(n_features=2**16).fit(
        texts, y, clf__groups=frame["writer"].to_numpy(), clf__conditions=condition_matrix(frame)
    )
    clf = pipe.named_steps["clf"]
    assert len(clf.heads_) == 4 and all(h is not None for h in clf.heads_)
    cond = clf.condition_proba(pipe[:2].transform(texts))
    assert cond.shape == (len(texts), 3) and ((cond >= 0) & (cond <= 1)).all()
    # every row was tested out of fold, by a model that did not see its writer
    assert not np.isnan(clf.oof_proba_).any()
    scorer = LinearScorer.from_pipeline(pipe)
    np.testing.assert_allclose(scorer.predict_proba(texts), pipe.predict_proba(texts)[:, 1], atol=1e-9)
    np.testing.assert_allclose(scorer.condition_proba(texts), cond, atol=1e-9)


def test_direct_combination_is_one_platt_scaled_head():
    frame = _frame()
    pipe = build_pipeline(n_features=2**16, combine="direct").fit(
        frame["text"].tolist(), frame["label"], clf__conditions=condition_matrix(frame)
    )
    assert len(pipe.named_steps["clf"].heads_) == 1
    scorer = LinearScorer.from_pipeline(pipe)
    assert not scorer.has_conditions
    np.testing.assert_allclose(scorer.condition_proba(["мамо"]), np.zeros((1, 3)))


def test_condition_classifier_refuses_bad_arguments():
    X = np.eye(4)
    with pytest.raises(ValueError, match="combine"):
        ConditionClassifier(combine="vote").fit(X, [0, 1, 0, 1])
    with pytest.raises(ValueError, match="both classes"):
        ConditionClassifier().fit(X, [1, 1, 1, 1])


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
        ConditionClassifier().decision_heads(np.zeros((1, 3)))
