"""Word and character n-gram features, hashed, computed for a whole batch at once.

scikit-learn's ``HashingVectorizer`` / ``TfidfVectorizer`` run a Python analyzer per
message, which caps throughput at a few thousand messages a second. ``NgramHasher``
instead turns the batch into one array of code points and computes every n-gram hash
with numpy, so the per-message Python cost is close to nil:

* character n-grams: a polynomial rolling hash over the code points, extended one
  character at a time (``h_n = h_{n-1} * P + c``) for every position at once;
* word n-grams: words are runs of letters, digits and apostrophes; a word's hash
  comes from prefix sums of ``c_j * P^-j`` (mod 2^64, ``P`` odd so it has an inverse),
  which gives the same polynomial hash for segments of any length without a loop;
* each hash is mapped to one of ``n_features`` columns by multiply-shift hashing,
  salted per n-gram kind and length so that, say, the word "за" and the character
  bigram "за" land in different columns.

Character n-grams carry Ukrainian / Russian morphology, typos and transliteration;
word n-grams carry phrases. Hashing keeps the model small and needs no vocabulary.
Hashes are pure functions of the text (no per-process salt), so the same text gives
the same features in every process and on every machine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin

_P = np.uint64(0x100000001B3)  # FNV-1 64-bit prime: odd, so invertible mod 2**64
_P_INV = np.uint64(pow(int(_P), -1, 2**64))
_MIX = np.uint64(0x9E3779B97F4A7C15)  # golden-ratio multiplier for multiply-shift
_BIGRAM = np.uint64(0xC2B2AE3D27D4EB4F)
_SALT_CHAR = 0x51ED270B27AE39F1
_SALT_WORD = 0x2545F4914F6CDD1D
_SEP = "\x00"

_word_table: np.ndarray | None = None


def _word_chars() -> np.ndarray:
    """Boolean table over the Basic Multilingual Plane: which code points are word characters."""
    global _word_table
    if _word_table is None:
        table = np.zeros(0x10000, dtype=bool)
        for cp in range(0x10000):
            ch = chr(cp)
            table[cp] = ch.isalnum() or ch == "'"
        _word_table = table
    return _word_table


@dataclass
class HashedNgrams:
    """Every n-gram of a batch: which message, which column, and where in the text."""

    doc: np.ndarray  # message index in the batch
    column: np.ndarray  # feature column
    start: np.ndarray  # offset of the n-gram in the padded, joined batch string
    end: np.ndarray  # end offset (exclusive)
    joined: str  # the padded batch string the offsets refer to


def _bucket(h: np.ndarray, salt: int, bits: int) -> np.ndarray:
    h = h ^ np.uint64(salt)
    h = h ^ (h >> np.uint64(29))
    return ((h * _MIX) >> np.uint64(64 - bits)).astype(np.int32)


def hash_ngrams(
    texts: list[str],
    *,
    char_ngram_range: tuple[int, int] = (2, 5),
    word_ngram_range: tuple[int, int] = (1, 2),
    n_features: int = 2**19,
    positions: bool = False,
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
    positions : bool, default=False
        Also return where each n-gram starts and ends (for explanations); off
        for plain transforms, where it would only cost memory.

    Returns
    -------
    HashedNgrams
    """
    bits = int(n_features).bit_length() - 1
    if n_features < 2 or 1 << bits != n_features:
        raise ValueError(f"n_features must be a power of two, got {n_features}")
    if not texts:
        empty = np.zeros(0, dtype=np.int32)
        return HashedNgrams(empty, empty, empty, empty, "")
    joined = " " + (" " + _SEP + " ").join(texts) + " "
    if joined.count(_SEP) != len(texts) - 1:  # a text contained the separator itself
        joined = " " + (" " + _SEP + " ").join(t.replace(_SEP, " ") for t in texts) + " "
    cps = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
    length = len(cps)
    is_sep = cps == 0
    seps_before = np.zeros(length + 1, dtype=np.int64)
    np.cumsum(is_sep, out=seps_before[1:])
    values = cps.astype(np.uint64) + np.uint64(1)

    docs, cols, starts, ends = [], [], [], []
    lo, hi = char_ngram_range
    if hi > 0:
        h = values.copy()
        for n in range(1, min(hi, length) + 1):
            if n > 1:
                h = h[:-1] * _P + values[n - 1 :]
            if n < lo:
                continue
            pos = np.flatnonzero(seps_before[n:] == seps_before[: length - n + 1])
            docs.append(seps_before[pos].astype(np.int32))
            cols.append(_bucket(h[pos], _SALT_CHAR + n, bits))
            if positions:
                starts.append(pos)
                ends.append(pos + n)

    lo, hi = word_ngram_range
    if hi > 0:
        table = _word_chars()
        is_word = np.zeros(length, dtype=bool)
        bmp = cps < 0x10000
        is_word[bmp] = table[cps[bmp]]
        edge = np.diff(np.concatenate(([False], is_word, [False])).astype(np.int8))
        w_start = np.flatnonzero(edge == 1)
        w_end = np.flatnonzero(edge == -1)  # exclusive
        if len(w_start):
            with np.errstate(over="ignore"):
                pinv_pow = np.cumprod(np.concatenate(([np.uint64(1)], np.full(length - 1, _P_INV))))
                p_pow = np.cumprod(np.concatenate(([np.uint64(1)], np.full(length - 1, _P))))
            prefix = np.zeros(length + 1, dtype=np.uint64)
            np.cumsum(values * pinv_pow, out=prefix[1:])
            w_hash = (prefix[w_end] - prefix[w_start]) * p_pow[w_end - 1]
            w_doc = seps_before[w_start]
            h = w_hash
            for n in range(1, min(hi, len(w_hash)) + 1):
                if n > 1:
                    h = h[:-1] * _BIGRAM + w_hash[n - 1 :]
                if n < lo:
                    continue
                k = np.flatnonzero(w_doc[: len(w_doc) - n + 1] == w_doc[n - 1 :])
                docs.append(w_doc[k].astype(np.int32))
                cols.append(_bucket(h[k], _SALT_WORD + n, bits))
                if positions:
                    starts.append(w_start[k])
                    ends.append(w_end[k + n - 1])

    def cat(parts):
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)

    return HashedNgrams(cat(docs), cat(cols), cat(starts), cat(ends), joined)


class NgramHasher(TransformerMixin, BaseEstimator):
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

    def fit(self, X, y=None):
        return self

    def hash(self, texts, *, positions=False) -> HashedNgrams:
        """The n-grams of ``texts`` with their columns (and positions, for explanations)."""
        return hash_ngrams(
            list(texts),
            char_ngram_range=tuple(self.char_ngram_range),
            word_ngram_range=tuple(self.word_ngram_range),
            n_features=self.n_features,
            positions=positions,
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

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        tags.requires_fit = False
        return tags
