"""The pipeline's feature steps: text normalisation and hashed word / character n-grams.

scikit-learn's ``HashingVectorizer`` / ``TfidfVectorizer`` run a Python analyzer per
message, which caps throughput at a few thousand messages a second. ``NgramHasher``
hands the whole batch, as one array of code points, to a compiled loop
(:mod:`classifier._kernels`), so the per-message Python cost is close to nil.

* Character n-grams (default 2-5) are taken across word boundaries, each message
  padded with a space on both sides. They carry Ukrainian / Russian morphology,
  typos and transliteration.
* Word n-grams (default 1-2): words are runs of letters, digits and apostrophes.
* Each n-gram is hashed (64-bit polynomial hash, salted by kind and length) into one
  of ``n_features`` columns. Hashes are pure functions of the text: the same text
  gives the same columns in every process and on every machine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin

from . import _kernels
from .normalize import normalize_texts


@dataclass
class HashedNgrams:
    """Every n-gram of a batch: which message, which column, and where in the message.

    ``start`` and ``end`` index the message padded with one space on each side:
    the n-gram is ``(" " + text + " ")[start:end]``.
    """

    doc: np.ndarray
    column: np.ndarray
    start: np.ndarray
    end: np.ndarray


def hash_ngrams(
    texts: list[str],
    *,
    char_ngram_range: tuple[int, int] = (2, 5),
    word_ngram_range: tuple[int, int] = (1, 2),
    n_features: int = 2**19,
) -> HashedNgrams:
    """Hash the character and word n-grams of a batch of (normalised) texts.

    Parameters
    ----------
    texts : list of str
        Messages, normally already passed through :func:`classifier.normalize.normalize_texts`.
    char_ngram_range, word_ngram_range : (int, int)
        Inclusive ranges of n-gram lengths; ``(0, 0)`` disables that kind.
    n_features : int
        Number of columns, a power of two.

    Returns
    -------
    HashedNgrams
    """
    shift = _kernels.shift_for(n_features)
    cps, offsets = _kernels.encode_batch(list(texts))
    (clo, chi), (wlo, whi) = char_ngram_range, word_ngram_range
    doc, col, start, end = _kernels.batch_grams(
        cps, offsets, _kernels.word_table(), clo, chi, wlo, whi, shift
    )
    return HashedNgrams(doc, col, start, end)


class _StatelessTextStep(TransformerMixin, BaseEstimator):
    """A pipeline step that takes a list of strings and learns nothing in ``fit``."""

    def fit(self, X, y=None):
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        tags.requires_fit = False
        return tags


class TextNormalizer(_StatelessTextStep):
    """Pipeline step applying :func:`classifier.normalize.normalize_texts`. Stateless."""

    def transform(self, X):
        return normalize_texts(X)


class NgramHasher(_StatelessTextStep):
    """Count hashed word and character n-grams of each message.

    Stateless: ``fit`` learns nothing, so the same instance can transform any batch.

    Parameters
    ----------
    char_ngram_range : (int, int), default=(2, 5)
        Character n-gram lengths (inclusive), taken across word boundaries;
        each message is padded with a space on both sides.
    word_ngram_range : (int, int), default=(1, 2)
        Word n-gram lengths (inclusive).
    n_features : int, default=2**19
        Number of hashed columns (a power of two).

    Examples
    --------
    >>> X = NgramHasher(n_features=2**10).transform(["виходьте на майдан", "hello"])
    >>> X.shape
    (2, 1024)
    """

    def __init__(self, *, char_ngram_range=(2, 5), word_ngram_range=(1, 2), n_features=2**19):
        self.char_ngram_range = char_ngram_range
        self.word_ngram_range = word_ngram_range
        self.n_features = n_features

    def hash(self, texts) -> HashedNgrams:
        """The n-grams of ``texts`` with their columns and positions."""
        return hash_ngrams(
            list(texts),
            char_ngram_range=tuple(self.char_ngram_range),
            word_ngram_range=tuple(self.word_ngram_range),
            n_features=self.n_features,
        )

    def transform(self, X):
        """Return a CSR matrix of n-gram counts, one row per message."""
        texts = list(X)
        grams = self.hash(texts)
        counts = sp.csr_matrix(
            (np.ones(len(grams.doc), dtype=np.float64), (grams.doc, grams.column)),
            shape=(len(texts), self.n_features),
        )
        counts.sum_duplicates()
        return counts
