"""The model: one scikit-learn ``Pipeline`` from raw text to a calibrated probability.

Steps: :class:`~classifier.features.TextNormalizer` -> :class:`~classifier.features.NgramHasher`
(word 1-2-grams and character 2-5-grams, hashed) -> ``TfidfTransformer`` (sublinear tf,
idf, l2) -> :class:`GroupCalibratedClassifier` wrapping a ``LogisticRegression``.

Calibration uses Platt scaling fitted on out-of-fold decision scores, with folds that
keep each ``group`` of variants together: calibrating on scores of near-copies of
training rows would make the model look surer than it is.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import precision_recall_curve
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from .features import NgramHasher, TextNormalizer

DEFAULT_TARGET_PRECISION = 0.95


def grouped_folds(y, groups=None, *, n_splits=5, random_state=0):
    """Stratified folds that never split a group; plain stratified folds without groups.

    Returns
    -------
    list of (train_index, test_index)
    """
    y = np.asarray(y)
    n_splits = max(2, min(n_splits, int(np.bincount(y).min())))
    if groups is None:
        splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
        return list(splitter.split(np.zeros(len(y)), y))
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
    return list(splitter.split(np.zeros(len(y)), y, groups))


class GroupCalibratedClassifier(ClassifierMixin, BaseEstimator):
    """A linear classifier with Platt-scaled probabilities, calibrated out of fold.

    ``fit`` computes decision scores for every training row from models that did not
    see the row's group, fits a one-feature logistic regression on them (the
    calibrator), then refits the estimator on all rows. Scoring costs one linear
    model plus a sigmoid: no ensemble of fold models.

    Parameters
    ----------
    estimator : classifier with ``decision_function``, default=None
        ``LogisticRegression(C=30, solver="liblinear")`` when None.
    n_splits : int, default=5
        Folds used to produce the calibration scores.
    random_state : int, default=0
        Seed for the fold assignment.
    """

    def __init__(self, estimator=None, *, n_splits=5, random_state=0):
        self.estimator = estimator
        self.n_splits = n_splits
        self.random_state = random_state

    def _base(self):
        if self.estimator is not None:
            return clone(self.estimator)
        return LogisticRegression(C=30.0, solver="liblinear", random_state=self.random_state)

    def fit(self, X, y, groups=None):
        """Fit the calibrator on out-of-fold scores, then the estimator on all rows.

        Parameters
        ----------
        X : sparse matrix of shape (n_samples, n_features)
        y : array-like of 0/1
        groups : array-like, optional
            Rows sharing a group are never split between fit and calibration folds.

        Returns
        -------
        self
        """
        y = np.asarray(y).astype(int)
        self.classes_ = np.array([0, 1])
        oof = np.zeros(len(y))
        for train, test in grouped_folds(y, groups, n_splits=self.n_splits, random_state=self.random_state):
            oof[test] = self._base().fit(X[train], y[train]).decision_function(X[test])
        self.calibrator_ = LogisticRegression(C=1e6).fit(oof.reshape(-1, 1), y)
        self.estimator_ = self._base().fit(X, y)
        return self

    def decision_function(self, X):
        """Raw linear scores (uncalibrated)."""
        check_is_fitted(self, "estimator_")
        return self.estimator_.decision_function(X)

    def predict_proba(self, X):
        """Calibrated probabilities, shape (n_samples, 2)."""
        raw = self.decision_function(X).reshape(-1, 1)
        return self.calibrator_.predict_proba(raw)

    def predict(self, X):
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    @property
    def coef_(self):
        """Weights of the linear model, for explanations."""
        return self.estimator_.coef_


def build_pipeline(
    *, C=30.0, n_features=2**19, char_ngram_range=(2, 5), word_ngram_range=(1, 2), class_weight=None, seed=0
):
    """The untrained pipeline: normalise, hash n-grams, tf-idf, calibrated logistic regression.

    Parameters
    ----------
    C : float, default=30.0
        Inverse regularisation strength of the logistic regression.
    n_features : int, default=2**19
        Hashed feature columns (a power of two).
    char_ngram_range, word_ngram_range : (int, int)
        N-gram lengths, inclusive.
    class_weight : None or "balanced", default=None
        Passed to the logistic regression.
    seed : int, default=0
        Seeds the calibration folds and the solver.

    Returns
    -------
    sklearn.pipeline.Pipeline
        Fit with ``pipeline.fit(texts, y, clf__groups=groups)``.

    Examples
    --------
    >>> pipe = build_pipeline(n_features=2**12)
    >>> [name for name, _ in pipe.steps]
    ['normalize', 'features', 'tfidf', 'clf']
    """
    return Pipeline(
        [
            ("normalize", TextNormalizer()),
            (
                "features",
                NgramHasher(
                    char_ngram_range=char_ngram_range,
                    word_ngram_range=word_ngram_range,
                    n_features=n_features,
                ),
            ),
            ("tfidf", TfidfTransformer(sublinear_tf=True)),
            (
                "clf",
                GroupCalibratedClassifier(
                    LogisticRegression(C=C, solver="liblinear", class_weight=class_weight, random_state=seed),
                    random_state=seed,
                ),
            ),
        ]
    )


def choose_threshold(y_true, scores, target_precision=DEFAULT_TARGET_PRECISION):
    """The threshold with the highest recall whose precision reaches the target.

    Parameters
    ----------
    y_true : array-like of 0/1
    scores : array-like of float
        Out-of-fold probabilities.
    target_precision : float, default=0.95

    Returns
    -------
    threshold : float
        Flag a message when ``score >= threshold``.
    met : bool
        False when no threshold reaches the target; the threshold then maximises
        precision (ties: highest recall) and the model card says so.

    Examples
    --------
    >>> choose_threshold([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9], 0.9)
    (0.9, True)
    """
    y_true = np.asarray(y_true).astype(int)
    scores = np.asarray(scores, dtype=float)
    precision, recall, thresholds = precision_recall_curve(y_true, scores)
    precision, recall = precision[:-1], recall[:-1]  # the last point has no threshold
    ok = precision >= target_precision
    if ok.any():
        best = np.flatnonzero(ok & (recall == recall[ok].max()))
        return float(thresholds[best[-1]]), True
    best = np.flatnonzero(precision == precision.max())
    best = best[recall[best] == recall[best].max()]
    return float(thresholds[best[-1]]), False
