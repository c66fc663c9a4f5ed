"""The fitted pipeline's scoring path, fused and compiled.

Training uses the scikit-learn ``Pipeline`` (normalise -> hash -> tf-idf -> calibrated
logistic regression). To score, ``LinearScorer`` reads the learned arrays out of that
pipeline (idf weights, coefficients, intercept, Platt calibration) and computes the
same function in one compiled pass per message, with no sparse matrix in between. It
also returns, per message, the text spans whose n-grams pushed the score up most.

The result equals ``pipeline.predict_proba(texts)[:, 1]`` up to floating-point
summation order (tests check this to 1e-9); every scoring entry point (API, CLI,
parallel workers) goes through this class, so they agree exactly with one another.
"""

from __future__ import annotations

import numpy as np

from . import _kernels
from .features import _shift, _table, encode_batch
from .normalize import normalize_texts

N_REASONS = 3
_EDGE = " ,.;:!?-\"'()[]«»…"

# Latin letters the normaliser folds onto Cyrillic look-alikes, undone for display in
# Latin-script messages so that English reasons read as English.
_UNFOLD = str.maketrans("авсенімкорѕтхуј", "abcehimkopstxyj")


class LinearScorer:
    """Scores raw texts with a fitted pipeline's parameters.

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline
        Fitted, as built by :func:`classifier.model.build_pipeline`.
    """

    def __init__(self, pipeline):
        hasher = pipeline.named_steps["features"]
        tfidf = pipeline.named_steps["tfidf"]
        clf = pipeline.named_steps["clf"]
        if not (tfidf.sublinear_tf and tfidf.norm == "l2" and tfidf.use_idf):
            raise ValueError(
                "LinearScorer needs TfidfTransformer(sublinear_tf=True, norm='l2', use_idf=True)"
            )
        self.char_ngram_range = tuple(hasher.char_ngram_range)
        self.word_ngram_range = tuple(hasher.word_ngram_range)
        self.n_features = int(hasher.n_features)
        self.idf = np.ascontiguousarray(tfidf.idf_, dtype=np.float64)
        self.coef = np.ascontiguousarray(clf.estimator_.coef_.ravel(), dtype=np.float64)
        self.intercept = float(clf.estimator_.intercept_[0])
        self.cal_coef = float(clf.calibrator_.coef_[0, 0])
        self.cal_intercept = float(clf.calibrator_.intercept_[0])
        self._scratch = None

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_scratch"] = None  # per-process scratch space is not shipped to workers
        return state

    def _buffers(self):
        if self._scratch is None:
            self._scratch = (
                np.zeros(self.n_features, dtype=np.int32),
                np.zeros((self.n_features, 2), dtype=np.int32),
            )
        return self._scratch

    def decision(self, normalized: list[str], n_reasons: int = N_REASONS):
        """Linear decision values and reason spans for already-normalised texts.

        Returns
        -------
        z : numpy.ndarray of float64
        spans : numpy.ndarray of int32, shape (n, n_reasons, 2)
            Start and end of each reason in the padded normalised text, -1 if unused.
        """
        cps, offsets = encode_batch(normalized)
        counts, first = self._buffers()
        (clo, chi), (wlo, whi) = self.char_ngram_range, self.word_ngram_range
        return _kernels.batch_scores(
            cps,
            offsets,
            _table(),
            clo,
            chi,
            wlo,
            whi,
            _shift(self.n_features),
            self.idf,
            self.coef,
            self.intercept,
            n_reasons,
            counts,
            first,
        )

    def calibrate(self, z: np.ndarray) -> np.ndarray:
        """Platt scaling: decision values to probabilities."""
        return 1.0 / (1.0 + np.exp(-(self.cal_coef * z + self.cal_intercept)))

    def predict_proba(self, texts) -> np.ndarray:
        """Calibrated probability of the pattern for each raw text."""
        z, _ = self.decision(normalize_texts(texts), n_reasons=0)
        return self.calibrate(z)

    def score(self, texts, *, reasons: bool = True, latin=None):
        """Probabilities and, optionally, readable reasons for raw texts.

        Parameters
        ----------
        texts : list of str
        reasons : bool, default=True
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
        normalized = normalize_texts(texts)
        z, spans = self.decision(normalized, n_reasons=N_REASONS if reasons else 0)
        scores = self.calibrate(z)
        if not reasons:
            return scores, None
        if latin is None:
            latin = [False] * len(normalized)
        out = []
        for text, doc_spans, is_latin in zip(normalized, spans.tolist(), latin, strict=True):
            padded = " " + text + " "
            parts: list[str] = []
            for a, b in doc_spans:
                part = padded[a:b].strip(_EDGE) if a >= 0 else ""
                if part and not any(part in p for p in parts):
                    parts.append(part)
            joined = " | ".join(parts)
            out.append(joined.translate(_UNFOLD) if is_latin else joined)
        return scores, out
