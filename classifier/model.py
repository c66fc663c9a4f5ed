"""The model: one scikit-learn ``Pipeline`` from raw text to a calibrated probability.

Steps: :class:`~classifier.features.TextNormalizer` -> :class:`~classifier.features.NgramHasher`
(word 1-2-grams and character 2-5-grams, hashed counts) -> :class:`ConditionClassifier`.

The labelling guide's label is an AND of three conditions (a captive's voice, addressed
to people at home, urging pressure on their own authorities). One bag-of-n-grams model
cannot express an AND, so it learns shortcuts: a word such as "мамо" that is common in
appeals pushes any message towards the pattern. ``ConditionClassifier`` therefore
fits four linear heads on the same tf-idf features: the pattern itself, and one per
condition. A small logistic regression (the *stacker*) combines their decision values,
with the weakest condition's value as an extra input, so a message that shows no sign
of one condition can be held down however much it looks like the others.

Every probability is calibrated on **cross-writer** out-of-fold scores: folds hold out
whole writers (the ``groups`` given to ``fit``), so the stacker and the threshold learn
how the heads behave on phrasing they never saw, not on their own writers' habits.
"""

from __future__ import annotations

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import precision_recall_curve
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from .features import NgramHasher, TextNormalizer

DEFAULT_TARGET_PRECISION = 0.95
CONDITIONS = ("captive_voice", "addressed_home", "urges_pressure")
HEADS = ("pattern", *CONDITIONS)
COMBINE = ("stack", "direct")


def grouped_folds(y, groups=None, *, n_splits=5, random_state=0, rows=None):
    """Stratified folds that never split a group; plain stratified folds without groups.

    Parameters
    ----------
    y : array-like of 0/1
    groups : array-like, optional
        Rows that share a value are always in the same fold (writers, or variants).
    n_splits : int, default=5
        Fewer when the data has fewer groups or fewer rows of the smaller class.
    random_state : int, default=0
    rows : array-like of bool, optional
        Only these rows are assigned to test folds; the others are in every fold's
        training part (for example writers who wrote one label only).

    Returns
    -------
    list of (train_index, test_index)

    Examples
    --------
    >>> y = [0, 1, 0, 1, 0, 1]
    >>> folds = grouped_folds(y, ["a", "a", "b", "b", "c", "c"], n_splits=3)
    >>> sorted(len(test) for _, test in folds)
    [2, 2, 2]
    """
    y = np.asarray(y).astype(int)
    rows = np.ones(len(y), bool) if rows is None else np.asarray(rows, bool)
    idx = np.flatnonzero(rows)
    ys = y[idx]
    n_splits = max(2, min(n_splits, int(np.bincount(ys, minlength=2).min())))
    g = None if groups is None else np.asarray(groups)[idx]
    if g is not None and len(np.unique(g)) >= 2:
        n_splits = max(2, min(n_splits, len(np.unique(g))))
        splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
        parts = splitter.split(np.zeros(len(idx)), ys, g)
    else:  # no groups, or a single one: nothing to keep apart
        splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
        parts = splitter.split(np.zeros(len(idx)), ys)
    folds = []
    for _, test in parts:
        test = idx[test]
        mask = np.ones(len(y), bool)
        mask[test] = False
        folds.append((np.flatnonzero(mask), test))
    return folds


def _stack_inputs(z: np.ndarray) -> np.ndarray:
    """Stacker inputs: every head's decision value, plus the weakest condition's."""
    if z.shape[1] == 1:
        return z
    return np.column_stack([z, z[:, 1:].min(axis=1)])


def _fit_split(X, train, y, conditions, heads, make_lr, sample_weight=None):
    """On one split's training rows: tf-idf, then one logistic regression per head.

    Returns ``(tfidf, [model or None, ...])``; None for a condition this data says
    nothing about (no head, no evidence).
    """
    tfidf = TfidfTransformer(sublinear_tf=True).fit(X[train])
    Xt = tfidf.transform(X[train])
    models = [None] * heads
    for h in range(heads):
        target = y[train] if h == 0 else conditions[train, h - 1]
        known = ~np.isnan(target)
        if h and (known.sum() < 2 or len(np.unique(target[known])) < 2):
            continue
        w = None if sample_weight is None else sample_weight[train][known]
        models[h] = make_lr().fit(Xt[known], target[known].astype(int), sample_weight=w)
    return tfidf, models


def _fit_splits(X, y, conditions, splits, heads, make_lr, n_jobs, sample_weight=None):
    """:func:`_fit_split` for every split, in worker processes.

    Processes, not threads: liblinear's dual solver (see ``ConditionClassifier._lr``)
    draws from one random generator per process, and two fits sharing it in threads
    would make training non-deterministic. Returns ``[(tfidf, [model or None, ...])]``.
    """
    return Parallel(n_jobs=n_jobs, prefer="processes")(
        delayed(_fit_split)(X, train, y, conditions, heads, make_lr, sample_weight) for train in splits
    )


def _decisions(tfidf, models, X) -> np.ndarray:
    Xt = tfidf.transform(X)
    return np.column_stack(
        [m.decision_function(Xt) if m is not None else np.zeros(X.shape[0]) for m in models]
    )


class ConditionClassifier(ClassifierMixin, BaseEstimator):
    """Linear heads for the pattern and the guide's three conditions, stacked and calibrated.

    Takes hashed n-gram counts (``NgramHasher``'s output) and applies sublinear tf-idf
    itself, so that cross-validation fits idf on each fold's training rows only.

    ``fit`` first produces, for every row it may test, decision values of all heads
    from models that did not see the row's group (its writer); the stacker is fitted on
    them. Those scores, with the stacker itself fitted out of fold, are kept as
    :attr:`oof_proba_`: the cross-writer figures that training reports and uses to
    choose the threshold. The heads are then refitted on all rows.

    Parameters
    ----------
    C : float, default=30.0
        Inverse regularisation strength of each head's logistic regression.
    combine : {"stack", "direct"}, default="stack"
        ``"stack"``: the pattern head and the three condition heads, combined by the
        stacker. ``"direct"``: the pattern head alone with Platt scaling (the single
        model of earlier versions); kept to compare the two.
    n_splits : int, default=5
        Folds for the out-of-fold decision values.
    class_weight : None or "balanced", default=None
    n_jobs : int, default=2
        Folds fitted in parallel (threads: liblinear releases the GIL).
    random_state : int, default=0

    Attributes
    ----------
    heads_ : list of LogisticRegression or None
        ``HEADS`` order; None for a condition the training data never labelled.
    tfidf_ : TfidfTransformer
    stacker_ : LogisticRegression
        On :func:`_stack_inputs` of the heads' decision values.
    condition_calibration_ : numpy.ndarray of shape (3, 2)
        Platt ``(coef, intercept)`` per condition head, for explanations.
    oof_proba_ : numpy.ndarray
        Cross-writer out-of-fold probability of every row; NaN for rows never tested.
    oof_decision_ : numpy.ndarray of shape (n_samples, n_heads)
    folds_ : list of numpy.ndarray
        The test rows of each fold.

    Examples
    --------
    >>> from classifier.features import NgramHasher
    >>> texts = ["мамо я в полоні виходьте на майдан", "мамо я живий", "купи хліба",
    ...          "рідні ми в полоні перекривайте дороги", "привіт як справи", "тато ми тут іди на банкову"]
    >>> X = NgramHasher(n_features=2**12).transform(texts)
    >>> clf = ConditionClassifier(n_splits=2, n_jobs=1).fit(X, [1, 0, 0, 1, 0, 1])
    >>> clf.predict_proba(X).shape
    (6, 2)
    """

    def __init__(self, *, C=30.0, combine="stack", n_splits=5, class_weight=None, n_jobs=2, random_state=0):
        self.C = C
        self.combine = combine
        self.n_splits = n_splits
        self.class_weight = class_weight
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _lr(self):
        # liblinear's dual solver: with far more hashed columns than rows it reaches the
        # primal solver's optimum (decision values within 0.004 on the store) in about
        # 0.6x the time
        return LogisticRegression(
            C=self.C,
            solver="liblinear",
            dual=True,
            tol=1e-3,
            max_iter=1000,
            class_weight=self.class_weight,
            random_state=self.random_state,
        )

    def fit(self, X, y, groups=None, conditions=None, cv_rows=None, sample_weight=None):
        """Fit the heads out of fold, the stacker on their scores, then the heads on all rows.

        Parameters
        ----------
        X : sparse matrix of shape (n_samples, n_features)
            Hashed n-gram counts.
        y : array-like of 0/1
        groups : array-like, optional
            Rows sharing a value (a writer) are never split between fit and test folds.
        conditions : array-like of shape (n_samples, 3), optional
            The guide's conditions per row (``CONDITIONS`` order): 1, 0 or NaN when
            unknown. Without them the condition heads are not fitted and only the
            pattern head decides.
        cv_rows : array-like of bool, optional
            Rows that may be tested out of fold; the others only ever train.
        sample_weight : array-like of float, optional
            Weight of each row in every head's fit (the stacker is unweighted).

        Returns
        -------
        self
        """
        if self.combine not in COMBINE:
            raise ValueError(f"combine must be one of {COMBINE}, got {self.combine!r}")
        y = np.asarray(y).astype(int)
        if set(np.unique(y)) - {0, 1}:
            raise ValueError("y must hold 0 and 1 only")
        if len(np.unique(y)) < 2:
            raise ValueError("y needs both classes")
        n = len(y)
        if conditions is None or self.combine == "direct":
            cond = np.full((n, len(CONDITIONS)), np.nan)
        else:
            cond = np.asarray(conditions, dtype=float).reshape(n, len(CONDITIONS))
        n_heads = 1 if self.combine == "direct" or np.isnan(cond).all() else len(HEADS)
        self.classes_ = np.array([0, 1])
        folds = grouped_folds(y, groups, n_splits=self.n_splits, random_state=self.random_state, rows=cv_rows)

        # the folds' heads and the final heads (on all rows) in one pool
        splits = [train for train, _ in folds] + [np.arange(n)]
        weight = None if sample_weight is None else np.asarray(sample_weight, dtype=float).reshape(n)
        fitted = _fit_splits(X, y, cond, splits, n_heads, self._lr, self.n_jobs, weight)
        oof = np.full((n, n_heads), np.nan)
        for (tfidf, models), (_, test) in zip(fitted, folds, strict=False):
            oof[test] = _decisions(tfidf, models, X[test])
        tested = ~np.isnan(oof[:, 0])

        # The stacker, cross-fitted so that the reported out-of-fold probability of a
        # row comes from a stacker that did not see the row's fold either.
        F = _stack_inputs(np.nan_to_num(oof))
        self.oof_proba_ = np.full(n, np.nan)
        for _, test in folds:
            others = tested.copy()
            others[test] = False
            if len(np.unique(y[others])) == 2:
                self.oof_proba_[test] = self._stacker().fit(F[others], y[others]).predict_proba(F[test])[:, 1]
        self.stacker_ = self._stacker().fit(F[tested], y[tested])
        self.oof_decision_ = oof
        self.folds_ = [test for _, test in folds]

        self.condition_calibration_ = np.zeros((len(CONDITIONS), 2))
        for j in range(n_heads - 1):
            known = tested & ~np.isnan(cond[:, j])
            if len(np.unique(cond[known, j])) == 2:
                cal = LogisticRegression(C=1e6).fit(oof[known, j + 1 : j + 2], cond[known, j].astype(int))
                self.condition_calibration_[j] = (cal.coef_[0, 0], cal.intercept_[0])

        self.tfidf_, self.heads_ = fitted[-1]
        return self

    def _stacker(self):
        # Platt scaling when one head decides; a mildly regularised stack of the heads otherwise
        return LogisticRegression(C=1e6 if self.combine == "direct" else 1.0)

    def decision_heads(self, X) -> np.ndarray:
        """Each head's linear decision value, shape (n_samples, n_heads)."""
        check_is_fitted(self, "heads_")
        return _decisions(self.tfidf_, self.heads_, X)

    def decision_function(self, X) -> np.ndarray:
        """The stacker's decision value (log-odds of the pattern)."""
        return self.stacker_.decision_function(_stack_inputs(self.decision_heads(X)))

    def predict_proba(self, X) -> np.ndarray:
        """Calibrated probabilities, shape (n_samples, 2)."""
        p = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.column_stack([1.0 - p, p])

    def condition_proba(self, X) -> np.ndarray:
        """Calibrated probability of each of the guide's conditions, shape (n_samples, 3).

        Zero for every condition when the model has no condition heads.
        """
        z = self.decision_heads(X)
        out = np.zeros((X.shape[0], len(CONDITIONS)))
        for j in range(z.shape[1] - 1):
            a, b = self.condition_calibration_[j]
            out[:, j] = 1.0 / (1.0 + np.exp(-(a * z[:, j + 1] + b)))
        return out

    def predict(self, X):
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


def build_pipeline(
    *,
    C=30.0,
    n_features=2**19,
    char_ngram_range=(2, 5),
    word_ngram_range=(1, 2),
    class_weight=None,
    combine="stack",
    n_splits=5,
    seed=0,
):
    """The untrained pipeline: normalise, hash n-grams, condition heads with a calibrated stack.

    Parameters
    ----------
    C : float, default=30.0
        Inverse regularisation strength of each head.
    n_features : int, default=2**19
        Hashed feature columns (a power of two).
    char_ngram_range, word_ngram_range : (int, int)
        N-gram lengths, inclusive.
    class_weight : None or "balanced", default=None
    combine : {"stack", "direct"}, default="stack"
        See :class:`ConditionClassifier`.
    n_splits : int, default=5
        Cross-writer folds used for calibration and the out-of-fold figures.
    seed : int, default=0
        Seeds the folds and the solver.

    Returns
    -------
    sklearn.pipeline.Pipeline
        Fit with ``pipeline.fit(texts, y, clf__groups=writers, clf__conditions=C)``.

    Examples
    --------
    >>> pipe = build_pipeline(n_features=2**12)
    >>> [name for name, _ in pipe.steps]
    ['normalize', 'features', 'clf']
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
            (
                "clf",
                ConditionClassifier(
                    C=C, combine=combine, n_splits=n_splits, class_weight=class_weight, random_state=seed
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
