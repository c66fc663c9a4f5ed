"""The fitted pipeline's scoring path, fused and compiled.

Training uses the scikit-learn ``Pipeline`` (normalise -> hash -> tf-idf -> calibrated
logistic regression). To score, ``LinearScorer`` reads the learned arrays out of that
pipeline (idf weights, coefficients, intercept, Platt calibration) and computes the
same function in one compiled pass per message, with no sparse matrix in between. It
also returns, per message, the text spans whose n-grams pushed the score up most.

The arrays are saved beside the pickled pipeline as ``scorer.npz``, so scoring loads
plain arrays: it neither unpickles anything nor imports scikit-learn.

The result equals ``pipeline.predict_proba(texts)[:, 1]`` up to floating-point
summation order (tests check this to 1e-9); every scoring entry point (API, CLI,
parallel workers) goes through this class, so they agree exactly with one another.
"""

from __future__ import annotations

import numpy as np

from . import _kernels
from .normalize import normalize_codepoints

N_REASONS = 3
_EDGE = " ,.;:!?-\"'()[]«»…"

# Latin letters the normaliser folds onto Cyrillic look-alikes, undone for display in
# Latin-script messages so that English reasons read as English.
_UNFOLD = str.maketrans("авсенімкорѕтхуј", "abcehimkopstxyj")


class LinearScorer:
    """Scores raw texts with a fitted pipeline's parameters.

    Build it from a fitted pipeline (:meth:`from_pipeline`) or from the arrays saved
    beside a model (:meth:`load`): scoring needs no unpickling and no scikit-learn.

    Parameters
    ----------
    weights : numpy.ndarray of shape (n_features, 2)
        Per hashed column: the idf weight, and idf times the linear coefficient.
    intercept : float
        Intercept of the linear model.
    cal_coef, cal_intercept : float
        Platt scaling of the decision value.
    char_ngram_range, word_ngram_range : (int, int)
        The hasher's n-gram lengths.
    """

    _ARRAYS = ("weights", "intercept", "cal_coef", "cal_intercept", "char_ngram_range", "word_ngram_range")

    def __init__(self, weights, intercept, cal_coef, cal_intercept, char_ngram_range, word_ngram_range):
        self.weights = np.ascontiguousarray(weights, dtype=np.float64)
        self.n_features = int(self.weights.shape[0])
        self.intercept = float(intercept)
        self.cal_coef = float(cal_coef)
        self.cal_intercept = float(cal_intercept)
        self.char_ngram_range = tuple(int(n) for n in char_ngram_range)
        self.word_ngram_range = tuple(int(n) for n in word_ngram_range)
        _kernels.shift_for(self.n_features)  # validates the size
        self._scratch = None

    @classmethod
    def from_pipeline(cls, pipeline) -> LinearScorer:
        """Take the learned arrays out of a fitted :func:`classifier.model.build_pipeline` pipeline."""
        hasher = pipeline.named_steps["features"]
        tfidf = pipeline.named_steps["tfidf"]
        clf = pipeline.named_steps["clf"]
        if not (tfidf.sublinear_tf and tfidf.norm == "l2" and tfidf.use_idf):
            raise ValueError(
                "LinearScorer needs TfidfTransformer(sublinear_tf=True, norm='l2', use_idf=True)"
            )
        idf = np.asarray(tfidf.idf_, dtype=np.float64)
        # idf and idf x coefficient side by side: one memory access per n-gram column
        weights = np.stack([idf, idf * clf.estimator_.coef_.ravel()], axis=1)
        if weights.shape[0] != hasher.n_features:
            raise ValueError("the tf-idf step does not match the hasher's n_features")
        return cls(
            weights,
            clf.estimator_.intercept_[0],
            clf.calibrator_.coef_[0, 0],
            clf.calibrator_.intercept_[0],
            hasher.char_ngram_range,
            hasher.word_ngram_range,
        )

    def save(self, path) -> None:
        """Write the arrays to an ``.npz`` file (plain arrays: loading it runs no code)."""
        with open(path, "wb") as fh:
            np.savez(fh, **{name: np.asarray(getattr(self, name)) for name in self._ARRAYS})

    @classmethod
    def load(cls, path) -> LinearScorer:
        """Read arrays written by :meth:`save` (``allow_pickle=False``: no code runs)."""
        with np.load(path, allow_pickle=False) as data:
            return cls(**{name: data[name] for name in cls._ARRAYS})

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_scratch"] = None  # per-process scratch space is not shipped to workers
        return state

    def _slots(self):
        if self._scratch is None:
            self._scratch = np.zeros(self.n_features, dtype=np.int32)
        return self._scratch

    def decision(self, cps: np.ndarray, offsets: np.ndarray, n_reasons: int = N_REASONS):
        """Linear decision values and reason spans for normalised code points.

        Parameters
        ----------
        cps, offsets
            As returned by :func:`classifier.normalize.normalize_codepoints`.

        Returns
        -------
        z : numpy.ndarray of float64
        spans : numpy.ndarray of int32, shape (n, n_reasons, 2)
            Start and end of each reason in the padded normalised text, -1 if unused.
        """
        (clo, chi), (wlo, whi) = self.char_ngram_range, self.word_ngram_range
        return _kernels.batch_scores(
            cps,
            offsets,
            _kernels.word_table(),
            clo,
            chi,
            wlo,
            whi,
            _kernels.shift_for(self.n_features),
            self.weights,
            self.intercept,
            n_reasons,
            self._slots(),
        )

    def calibrate(self, z: np.ndarray) -> np.ndarray:
        """Platt scaling: decision values to probabilities."""
        return 1.0 / (1.0 + np.exp(-(self.cal_coef * z + self.cal_intercept)))

    def predict_proba(self, texts) -> np.ndarray:
        """Calibrated probability of the pattern for each raw text."""
        texts = list(texts)
        if not texts:
            return np.zeros(0)
        z, _ = self.decision(*normalize_codepoints(texts), n_reasons=0)
        return self.calibrate(z)

    def score(self, texts, *, reasons: bool = True, latin=None, min_score: float = 0.0):
        """Probabilities and, optionally, readable reasons for raw texts.

        Parameters
        ----------
        texts : list of str
        reasons : bool, default=True
        min_score : float, default=0.0
            Reasons are built only for messages scoring at least this (others get
            ``""``), so low-scoring messages cost no string work.
        latin : sequence of bool, optional
            Which messages are in Latin script (e.g. language ``en`` or ``other``):
            their reasons are shown with look-alike letters unfolded back to Latin.

        Returns
        -------
        scores : numpy.ndarray
        reasons : list of str or None
            Up to three fragments of the (normalised) message, strongest first,
            joined by ``" | "``; empty when nothing pushed the score up.
        """
        texts = list(texts)
        if not texts:
            return np.zeros(0), ([] if reasons else None)
        cps, offsets = normalize_codepoints(texts)
        z, spans = self.decision(cps, offsets, n_reasons=N_REASONS if reasons else 0)
        scores = self.calibrate(z)
        if not reasons:
            return scores, None
        if latin is None:
            latin = [False] * len(texts)
        out = []
        normalized = cps.tobytes().decode("utf-32-le", "surrogatepass")
        bounds = offsets.tolist()
        for d, (doc_spans, is_latin) in enumerate(zip(spans.tolist(), latin, strict=True)):
            if doc_spans[0][0] < 0 or scores[d] < min_score:
                out.append("")
                continue
            padded = " " + normalized[bounds[d] : bounds[d + 1]] + " "
            parts: list[str] = []
            for a, b in doc_spans:
                part = padded[a:b].strip(_EDGE) if a >= 0 else ""
                if part and not any(part in p for p in parts):
                    parts.append(part)
            reason = " | ".join(parts)
            out.append(reason.translate(_UNFOLD) if is_latin else reason)
        return scores, out
