import numpy as np
import pytest
from sklearn.base import clone

from classifier.features import NgramHasher, hash_ngrams


def _grams(text, **kw):
    g = hash_ngrams([text], **kw)
    padded = " " + text + " "
    return sorted(padded[s:e] for s, e in zip(g.start, g.end, strict=True))


def test_char_ngrams_cover_every_window_with_padding():
    grams = _grams("аб", char_ngram_range=(2, 3), word_ngram_range=(0, 0))
    assert grams == sorted([" а", "аб", "б ", " аб", "аб "])


def test_word_unigrams_and_bigrams():
    grams = _grams("мама, тато і я", char_ngram_range=(0, 0), word_ngram_range=(1, 2))
    words = ["мама", "тато", "і", "я"]
    bigrams = ["мама, тато", "тато і", "і я"]
    assert grams == sorted(words + bigrams)


def test_ngrams_never_cross_messages():
    texts = ["ab", "cd"]
    g = hash_ngrams(texts, char_ngram_range=(2, 5), word_ngram_range=(1, 2))
    alone = [sorted(hash_ngrams([t]).column.tolist()) for t in texts]
    for d in (0, 1):
        assert sorted(g.column[g.doc == d].tolist()) == alone[d]
        padded = " " + texts[d] + " "
        grams = {padded[s:e] for s, e in zip(g.start[g.doc == d], g.end[g.doc == d], strict=True)}
        a, b = texts[d]
        assert grams == {f" {a}", f"{a}{b}", f"{b} ", f" {a}{b}", f"{a}{b} ", f" {a}{b} "}


def test_same_ngram_same_column_anywhere():
    hasher = NgramHasher(n_features=2**16)
    X = hasher.transform(["мама мама", "мама", "тато"])
    first = set(X[0].indices)
    assert set(X[1].indices) <= first
    assert not set(X[2].indices) <= first
    # "мама" twice: its word column counts 2 in the first row, 1 in the second
    word_col = hash_ngrams(
        ["мама"], char_ngram_range=(0, 0), word_ngram_range=(1, 1), n_features=2**16
    ).column[0]
    assert X[0, word_col] == 2 and X[1, word_col] == 1


def test_batch_independent_rows():
    hasher = NgramHasher(n_features=2**18)
    texts = ["перший текст", "", "другий, довший текст 😀", "x"]
    together = hasher.transform(texts).toarray()
    alone = np.vstack([hasher.transform([t]).toarray() for t in texts])
    np.testing.assert_array_equal(together, alone)
    assert together[1].sum() == 1  # the empty message has only its padding bigram "  "


def test_deterministic_across_instances():
    a = NgramHasher(n_features=2**18).transform(["одна й та сама фраза"])
    b = clone(NgramHasher(n_features=2**18)).transform(["одна й та сама фраза"])
    assert (a != b).nnz == 0


def test_empty_batch_and_bad_n_features():
    assert NgramHasher(n_features=2**10).transform([]).shape == (0, 2**10)
    with pytest.raises(ValueError, match="power of two"):
        NgramHasher(n_features=1000).transform(["x"])


def test_text_containing_separator_is_safe():
    X = NgramHasher(n_features=2**12).transform(["a\x00b", "c"])
    assert X.shape[0] == 2 and X[1].sum() > 0
