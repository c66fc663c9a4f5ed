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

import zipfile

import numpy as np

from . import _kernels
from .normalize import normalize_codepoints

N_REASONS = 3
_EDGE = " ,.;:!?-\"'()[]«»…"

# Latin letters the normaliser folds onto Cyrillic look-alikes, undone for display in
# Latin-script messages so that English reasons read as English.
_UNFOLD = str.maketrans("авсенімкорѕтхуј", "abcehimkopstxyj")


CONDITION_NAMES = ("captive", "addressed home", "urges pressure")
MIN_WORDS = _kernels.MIN_WORDS
SHORT_CAP = 0.01  # the highest score of a message with fewer than MIN_WORDS distinct words


class LinearScorer:
    """Scores raw texts with a fitted pipeline's parameters.

    Build it from a fitted pipeline (:meth:`from_pipeline`) or from the arrays saved
    beside a model (:meth:`load`): scoring needs no unpickling and no scikit-learn.

    Parameters
    ----------
    weights : numpy.ndarray of shape (n_features, 1 + n_heads)
        Per hashed column: the idf weight, then idf times each head's coefficient
        (head 0 is the pattern, heads 1-3 the guide's conditions, when present).
    intercepts : numpy.ndarray of shape (n_heads,)
    stack_coef : numpy.ndarray
        The stacker's coefficients on the heads' decision values (and, with condition
        heads, on the weakest condition's value); with one head this is Platt scaling.
    stack_intercept : float
    condition_calibration : numpy.ndarray of shape (3, 2)
        Platt ``(coef, intercept)`` of each condition head (zeros without them).
    char_ngram_range, word_ngram_range : (int, int)
        The hasher's n-gram lengths.
    """

    _ARRAYS = (
        "weights",
        "intercepts",
        "stack_coef",
        "stack_intercept",
        "condition_calibration",
        "char_ngram_range",
        "word_ngram_range",
    )

    def __init__(
        self,
        weights,
        intercepts,
        stack_coef,
        stack_intercept,
        condition_calibration,
        char_ngram_range,
        word_ngram_range,
    ):
        self.weights = np.ascontiguousarray(weights, dtype=np.float64)
        if self.weights.ndim != 2 or self.weights.shape[1] < 2:
            raise ValueError("weights must have shape (n_features, 1 + n_heads)")
        self.n_features = int(self.weights.shape[0])
        self.n_heads = int(self.weights.shape[1] - 1)
        self.intercepts = np.ascontiguousarray(intercepts, dtype=np.float64).reshape(self.n_heads)
        n_inputs = 1 if self.n_heads == 1 else self.n_heads + 1
        self.stack_coef = np.asarray(stack_coef, dtype=np.float64).reshape(n_inputs)
        self.stack_intercept = float(stack_intercept)
        self.condition_calibration = np.asarray(condition_calibration, dtype=np.float64).reshape(3, 2)
        self.char_ngram_range = tuple(int(n) for n in np.asarray(char_ngram_range).ravel())
        self.word_ngram_range = tuple(int(n) for n in np.asarray(word_ngram_range).ravel())
        for rng in (self.char_ngram_range, self.word_ngram_range):
            if len(rng) != 2 or not (0 <= rng[0] <= rng[1] <= 32 and (rng[0] >= 1 or rng[1] == 0)):
                raise ValueError(
                    f"an n-gram range must be (0, 0) or (low, high), 1 <= low <= high <= 32, not {rng}"
                )
        _kernels.shift_for(self.n_features)  # validates the size
        self._scratch = None

    @classmethod
    def from_pipeline(cls, pipeline) -> LinearScorer:
        """Take the learned arrays out of a fitted :func:`classifier.model.build_pipeline` pipeline."""
        hasher = pipeline.named_steps["features"]
        clf = pipeline.named_steps["clf"]
        tfidf = clf.tfidf_
        if not (tfidf.sublinear_tf and tfidf.norm == "l2" and tfidf.use_idf):
            raise ValueError(
                "LinearScorer needs TfidfTransformer(sublinear_tf=True, norm='l2', use_idf=True)"
            )
        idf = np.asarray(tfidf.idf_, dtype=np.float64)
        if idf.shape[0] != hasher.n_features:
            raise ValueError("the tf-idf step does not match the hasher's n_features")
        coefs, intercepts = [], []
        for head in clf.heads_:
            coefs.append(np.zeros(len(idf)) if head is None else head.coef_.ravel())
            intercepts.append(0.0 if head is None else head.intercept_[0])
        # idf and idf x each head's coefficient side by side: one memory access per column
        weights = np.column_stack([idf, *(idf * c for c in coefs)])
        return cls(
            weights,
            np.array(intercepts),
            clf.stacker_.coef_.ravel(),
            clf.stacker_.intercept_[0],
            clf.condition_calibration_,
            hasher.char_ngram_range,
            hasher.word_ngram_range,
        )

    def save(self, path) -> None:
        """Write the arrays to an ``.npz`` file (plain arrays: loading it runs no code)."""
        with open(path, "wb") as fh:
            np.savez(fh, **{name: np.asarray(getattr(self, name)) for name in self._ARRAYS})

    @classmethod
    def load(cls, path, *, name=None) -> LinearScorer:
        """Read arrays written by :meth:`save` (``allow_pickle=False``: no code runs).

        Parameters
        ----------
        path : path-like or binary file
        name : str, optional
            What to call the file in an error message (default: ``path``).

        Raises
        ------
        ModelIntegrityError
            Not an ``.npz`` of the scorer's arrays, or arrays of the wrong kind or shape.
        """
        from .errors import ModelIntegrityError

        name = name or path
        try:
            data = np.load(path, allow_pickle=False)
            if not isinstance(data, np.lib.npyio.NpzFile):
                raise ValueError("not an .npz archive of arrays")
            with data:
                missing = [key for key in cls._ARRAYS if key not in data.files]
                if missing:
                    raise ValueError(f"scorer arrays missing: {', '.join(missing)}")
                return cls(**{key: data[key] for key in cls._ARRAYS})
        except (ValueError, TypeError, OSError, EOFError, KeyError, zipfile.BadZipFile) as exc:
            detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            if "pickle" in detail:  # numpy's own message suggests allow_pickle=True: never
                detail = "it holds pickled data, which scoring never loads"
            raise ModelIntegrityError(
                f"{name} is not a scorer written by coercion-classifier ({detail}); "
                "retrain with 'coercion-classifier retrain'"
            ) from None

    @property
    def has_conditions(self) -> bool:
        """Whether the model has the guide's three condition heads."""
        return self.n_heads > 1

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_scratch"] = None  # per-process scratch space is not shipped to workers
        return state

    def _slots(self):
        if self._scratch is None:
            self._scratch = np.zeros(self.n_features, dtype=np.int32)
        return self._scratch

    def decision(self, cps: np.ndarray, offsets: np.ndarray, n_reasons: int = N_REASONS, head_reasons=False):
        """Every head's linear decision value, and reason spans, for normalised code points.

        Parameters
        ----------
        cps, offsets
            As returned by :func:`classifier.normalize.normalize_codepoints`.
        n_reasons : int
            Spans of the pattern head.
        head_reasons : bool, default=False
            Also each condition head's strongest fragment (third return value).

        Returns
        -------
        z : numpy.ndarray of float64, shape (n, n_heads)
        spans : numpy.ndarray of int32, shape (n, n_reasons, 2)
            Start and end of each reason in the padded normalised text, -1 if unused.
        head_spans : numpy.ndarray of int32, shape (n, n_heads - 1, 2)
        words : numpy.ndarray of int32
            Distinct words per message, counted up to ``MIN_WORDS``.
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
            self.intercepts,
            n_reasons,
            bool(head_reasons),
            self._slots(),
        )

    def stack(self, z: np.ndarray) -> np.ndarray:
        """The final log-odds from the heads' decision values (the stacker)."""
        if self.n_heads == 1:
            inputs = z
        else:
            inputs = np.column_stack([z, z[:, 1:].min(axis=1)])
        # column by column, in a fixed order: a matrix product may round differently with
        # the batch size, and a message's score must not depend on its neighbours
        out = np.full(len(inputs), self.stack_intercept)
        for k, coef in enumerate(self.stack_coef):
            out += inputs[:, k] * coef
        return out

    def calibrate(self, z: np.ndarray, words=None) -> np.ndarray:
        """Heads' decision values (n, n_heads) to the calibrated probability of the pattern.

        ``words`` (distinct words per message, from :meth:`decision`): a message with
        fewer than ``MIN_WORDS`` distinct words cannot show a captive's voice, an
        addressee at home and a call to act at once, so its score is at most
        ``SHORT_CAP`` ("вимагайте вимагайте вимагайте", "Мамо").
        """
        p = 1.0 / (1.0 + np.exp(-self.stack(np.asarray(z).reshape(-1, self.n_heads))))
        if words is not None:
            p = np.where(np.asarray(words) < MIN_WORDS, np.minimum(p, SHORT_CAP), p)
        return p

    def conditions(self, z: np.ndarray) -> np.ndarray:
        """Calibrated probability of each condition, shape (n, 3); zeros without condition heads."""
        out = np.zeros((len(z), 3))
        for j in range(self.n_heads - 1):
            a, b = self.condition_calibration[j]
            out[:, j] = 1.0 / (1.0 + np.exp(-(a * z[:, j + 1] + b)))
        return out

    def predict_proba(self, texts) -> np.ndarray:
        """Calibrated probability of the pattern for each raw text."""
        texts = list(texts)
        if not texts:
            return np.zeros(0)
        z, _, _, words = self.decision(*normalize_codepoints(texts), n_reasons=0)
        return self.calibrate(z, words)

    def condition_proba(self, texts) -> np.ndarray:
        """Calibrated probability of each of the guide's three conditions, shape (n, 3)."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, 3))
        z, _, _, _ = self.decision(*normalize_codepoints(texts), n_reasons=0)
        return self.conditions(z)

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
            With condition heads: each of the guide's conditions, whether it holds,
            and the fragment that shows it most (``captive: "нас тут тримають";
            addressed home: "мамо"; urges pressure: "виходьте на банкову"``).
            Without: up to three fragments, strongest first, joined by ``" | "``.
            Empty when nothing pushed the score up.
        """
        texts = list(texts)
        if not texts:
            return np.zeros(0), ([] if reasons else None)
        cps, offsets = normalize_codepoints(texts)
        n_reasons = N_REASONS if reasons and not self.has_conditions else 0
        z, spans, head_spans, words = self.decision(
            cps, offsets, n_reasons=n_reasons, head_reasons=reasons and self.has_conditions
        )
        scores = self.calibrate(z, words)
        if not reasons:
            return scores, None
        if latin is None:
            latin = [False] * len(texts)
        normalized = cps.tobytes().decode("utf-32-le", "surrogatepass")
        bounds = offsets.tolist()

        def show(d, a, b):
            part = " " + normalized[bounds[d] : bounds[d + 1]] + " "
            part = part[a:b].strip(_EDGE) if a >= 0 else ""
            return part.translate(_UNFOLD) if latin[d] else part

        out = [""] * len(texts)
        if self.has_conditions:
            chosen = np.flatnonzero(scores >= min_score)
            held = self.conditions(z[chosen]) >= 0.5
            for k, d in enumerate(chosen.tolist()):
                parts = []
                for j, name in enumerate(CONDITION_NAMES):
                    fragment = show(d, *head_spans[d, j]) if held[k, j] else ""
                    parts.append(
                        f'{name}: "{fragment}"' if fragment else f"{name}: {'yes' if held[k, j] else 'no'}"
                    )
                out[d] = "; ".join(parts)
            return scores, out
        for d, doc_spans in enumerate(spans.tolist()):
            if doc_spans[0][0] < 0 or scores[d] < min_score:
                continue
            parts: list[str] = []
            for a, b in doc_spans:
                part = show(d, a, b)
                if part and not any(part in p for p in parts):
                    parts.append(part)
            out[d] = " | ".join(parts)
        return scores, out
