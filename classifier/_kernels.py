"""Compiled inner loops (numba): n-gram hashing and fused linear scoring.

A batch of normalised messages arrives as one array of code points (``cps``) and an
``offsets`` array (message ``d`` is ``cps[offsets[d]:offsets[d + 1]]``). Each message is
seen padded with one space on both sides, so character n-grams see word edges.

* character n-grams: polynomial hash of the code points (+1), ``h = h * P + c``;
* words: maximal runs of word characters (``table``: letters, digits, apostrophe in
  the Basic Multilingual Plane), hashed the same way; word n-grams combine word hashes
  with a second multiplier;
* every hash is salted by kind and length and mapped to a column by multiply-shift.

All arithmetic is on unsigned 64-bit integers and wraps, so the hashes are the same on
every machine and in every process (no per-process salt as with Python's ``hash``).

``batch_grams`` lists every n-gram (for training and explanations); ``batch_scores``
goes straight from text to the calibrated model's decision value, without building a
sparse matrix: counts are kept in a dense scratch array that is reset after each
message, so the cost is linear in the number of n-grams.
"""

from __future__ import annotations

import numpy as np
from numba import njit

P = np.uint64(0x100000001B3)  # FNV-1 64-bit prime
MIX = np.uint64(0x9E3779B97F4A7C15)  # golden-ratio multiplier for multiply-shift
WORD_MIX = np.uint64(0xC2B2AE3D27D4EB4F)
SALT_CHAR = np.uint64(0x51ED270B27AE39F1)
SALT_WORD = np.uint64(0x2545F4914F6CDD1D)
_SPACE = np.uint64(33)  # " " + 1
_SHIFT29 = np.uint64(29)


_word_table: list[np.ndarray] = []


def word_table() -> np.ndarray:
    """Which code points of the Basic Multilingual Plane are word characters (cached)."""
    if not _word_table:
        _word_table.append(np.array([chr(c).isalnum() or c == 0x27 for c in range(0x10000)], dtype=np.bool_))
    return _word_table[0]


def shift_for(n_features: int) -> np.uint64:
    """Multiply-shift amount mapping a 64-bit hash to ``n_features`` columns (a power of two)."""
    bits = int(n_features).bit_length() - 1
    if n_features < 2 or 1 << bits != n_features:
        raise ValueError(f"n_features must be a power of two, got {n_features}")
    return np.uint64(64 - bits)


def encode_batch(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """A batch as one uint32 array of code points and the offsets of each message."""
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    # surrogatepass: lone surrogates (undecodable input kept by the readers) still encode
    cps = np.frombuffer("".join(texts).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    return cps, offsets


@njit(cache=True, inline="always")
def _value(cps, start, length, p):
    if p == 0 or p == length - 1:
        return _SPACE
    return np.uint64(cps[start + p - 1]) + np.uint64(1)


@njit(cache=True, inline="always")
def _bucket(h, salt, shift):
    h = h ^ salt
    h = h ^ (h >> _SHIFT29)
    return np.int32((h * MIX) >> shift)


WINDOW = 4096  # positions of one message hashed per pass: bounds scratch memory


@njit(cache=True)
def _doc_grams(
    cps,
    start,
    stop,
    p_from,
    p_to,
    table,
    clo,
    chi,
    wlo,
    whi,
    shift,
    cols,
    g_start,
    g_end,
    w_start,
    w_end,
    w_hash,
):
    """Fill cols/g_start/g_end with the n-grams of one message that start in [p_from, p_to).

    A character n-gram starts at its first character, a word n-gram at its first
    word. Positions are in the padded message (0 is the leading space). Returns how
    many n-grams were written. Callers walk a long message window by window, so the
    buffers stay small however long the message.
    """
    length = stop - start + 2
    k = 0
    if chi > 0:
        for p in range(p_from, min(p_to, length)):
            h = np.uint64(0)
            for n in range(1, chi + 1):
                if p + n > length:
                    break
                h = h * P + _value(cps, start, length, p + n - 1)
                if n >= clo:
                    cols[k] = _bucket(h, SALT_CHAR + np.uint64(n), shift)
                    g_start[k] = p
                    g_end[k] = p + n
                    k += 1
    if whi > 0:
        nw = 0
        n_first = 0
        p = max(p_from, 1)
        while (
            1 < p < length - 1
            and _is_word(cps, start, length, table, p - 1)
            and _is_word(cps, start, length, table, p)
        ):
            p += 1  # inside a word that started in the previous window
        while p < length - 1:
            if _is_word(cps, start, length, table, p):
                if p >= p_to and nw - n_first >= whi - 1:
                    break
                h = np.uint64(0)
                q = p
                while q < length - 1 and _is_word(cps, start, length, table, q):
                    h = h * P + np.uint64(cps[start + q - 1]) + np.uint64(1)
                    q += 1
                w_start[nw] = p
                w_end[nw] = q
                w_hash[nw] = h
                if p < p_to:
                    n_first += 1
                nw += 1
                p = q
            else:
                p += 1
        for i in range(n_first):
            h = np.uint64(0)
            for n in range(1, whi + 1):
                if i + n > nw:
                    break
                h = w_hash[i] if n == 1 else h * WORD_MIX + w_hash[i + n - 1]
                if n >= wlo:
                    cols[k] = _bucket(h, SALT_WORD + np.uint64(n), shift)
                    g_start[k] = w_start[i]
                    g_end[k] = w_end[i + n - 1]
                    k += 1
    return k


@njit(cache=True)
def _buffers(clo, chi, wlo, whi):
    """Scratch buffers for one window of one message."""
    n_char = max(0, chi - max(clo, 1) + 1) if chi > 0 else 0
    n_word = max(0, whi - max(wlo, 1) + 1) if whi > 0 else 0
    words = WINDOW // 2 + whi + 2
    size = WINDOW * n_char + words * n_word + 1
    return (
        np.empty(size, np.int32),
        np.empty(size, np.int32),
        np.empty(size, np.int32),
        np.empty(words, np.int32),
        np.empty(words, np.int32),
        np.empty(words, np.uint64),
    )


@njit(cache=True)
def batch_grams(cps, offsets, table, clo, chi, wlo, whi, shift):
    """Every n-gram of a batch: (doc, column, start, end) arrays; positions are padded."""
    n_docs = len(offsets) - 1
    cols, g_start, g_end, w_start, w_end, w_hash = _buffers(clo, chi, wlo, whi)
    total = 0
    for d in range(n_docs):
        length = offsets[d + 1] - offsets[d] + 2
        total += length * max(0, chi) + (length // 2 + 1) * max(0, whi)
    out_doc = np.empty(total, np.int32)
    out_col = np.empty(total, np.int32)
    out_start = np.empty(total, np.int32)
    out_end = np.empty(total, np.int32)
    k = 0
    for d in range(n_docs):
        length = offsets[d + 1] - offsets[d] + 2
        for p_from in range(0, length, WINDOW):
            m = _doc_grams(
                cps, offsets[d], offsets[d + 1], p_from, p_from + WINDOW, table, clo, chi, wlo, whi, shift,
                cols, g_start, g_end, w_start, w_end, w_hash,
            )  # fmt: skip
            out_doc[k : k + m] = d
            out_col[k : k + m] = cols[:m]
            out_start[k : k + m] = g_start[:m]
            out_end[k : k + m] = g_end[:m]
            k += m
    return out_doc[:k], out_col[:k], out_start[:k], out_end[:k]


@njit(cache=True)
def batch_scores(
    cps, offsets, table, clo, chi, wlo, whi, shift, weights, intercepts, n_reasons, head_reasons, slot_of
):
    """Decision values of linear heads on shared tf-idf (sublinear, l2) features, and reason spans.

    One hashing pass serves every head: the model's heads (the pattern and the guide's
    conditions) read the same n-gram counts and the same l2 norm.

    Parameters
    ----------
    weights : float64 array (n_features, 1 + n_heads)
        Per column: idf, then idf times each head's linear coefficient.
    intercepts : float64 array (n_heads,)
    n_reasons : int
        How many merged spans of the first head to return per message (the strongest
        positive ones).
    head_reasons : bool
        Also find, for every other head (the conditions), the one n-gram that pushed
        it up most, widened to whole words: one comparison per n-gram and head, so the
        conditions' reasons cost no second pass.
    slot_of : int32 array of n_features, all zero (scratch; left all zero). It maps a
        column to its slot in the current message, so counting needs no sort.

    Returns
    -------
    z : float64 array (n_docs, n_heads)
    spans : int32 array (n_docs, n_reasons, 2) of padded positions, -1 where unused
    head_spans : int32 array (n_docs, n_heads - 1, 2): each other head's strongest n-gram,
        -1 where none pushed it up (or ``head_reasons`` is False)
    words : int32 array (n_docs,): distinct words of each message, counted up to ``MIN_WORDS``
    """
    n_docs = len(offsets) - 1
    n_heads = weights.shape[1] - 1
    cols, g_start, g_end, w_start, w_end, w_hash = _buffers(clo, chi, wlo, whi)
    # a message has at most n_features distinct columns, so these bound its memory
    slot_col = np.empty(len(slot_of), np.int32)
    slot_count = np.empty(len(slot_of), np.int32)
    slot_start = np.empty(len(slot_of), np.int32)
    slot_end = np.empty(len(slot_of), np.int32)
    z = np.empty((n_docs, n_heads))
    words = np.empty(n_docs, np.int32)
    dots = np.empty(n_heads)
    spans = np.full((n_docs, n_reasons, 2), -1, np.int32)
    head_spans = np.full((n_docs, max(n_heads - 1, 0), 2), -1, np.int32)
    best_w = np.empty(n_heads)
    best_s = np.empty(n_heads, np.int32)
    best_e = np.empty(n_heads, np.int32)
    top = 12  # strongest features considered before widening to words and merging
    top_w = np.empty(top)
    top_s = np.empty(top, np.int32)
    top_e = np.empty(top, np.int32)
    for d in range(n_docs):
        length = offsets[d + 1] - offsets[d] + 2
        nt = 0
        for p_from in range(0, length, WINDOW):
            m = _doc_grams(
                cps, offsets[d], offsets[d + 1], p_from, p_from + WINDOW, table, clo, chi, wlo, whi, shift,
                cols, g_start, g_end, w_start, w_end, w_hash,
            )  # fmt: skip
            for i in range(m):
                c = cols[i]
                s = slot_of[c]
                if s == 0:
                    slot_col[nt] = c
                    slot_count[nt] = 1
                    slot_start[nt] = g_start[i]
                    slot_end[nt] = g_end[i]
                    nt += 1
                    slot_of[c] = nt
                else:
                    slot_count[s - 1] += 1
        dots[:] = 0.0
        best_w[:] = 0.0
        norm2 = 0.0
        n_top = 0
        for t in range(nt):
            c = slot_col[t]
            slot_of[c] = 0
            tf = 1.0 + np.log(slot_count[t])
            v = tf * weights[c, 0]
            norm2 += v * v
            contrib = tf * weights[c, 1]
            dots[0] += contrib
            for h in range(1, n_heads):
                w = tf * weights[c, 1 + h]
                dots[h] += w
                if (
                    head_reasons
                    and w > best_w[h]
                    and _has_word(cps, offsets[d], length, table, slot_start[t], slot_end[t])
                ):
                    best_w[h] = w
                    best_s[h] = slot_start[t]
                    best_e[h] = slot_end[t]
            if n_reasons and contrib > 0.0 and (n_top < top or contrib > top_w[n_top - 1]):
                j = n_top if n_top < top else top - 1
                while j > 0 and top_w[j - 1] < contrib:
                    top_w[j] = top_w[j - 1]
                    top_s[j] = top_s[j - 1]
                    top_e[j] = top_e[j - 1]
                    j -= 1
                top_w[j] = contrib
                top_s[j] = slot_start[t]
                top_e[j] = slot_end[t]
                if n_top < top:
                    n_top += 1
        words[d] = _distinct_words(cps, offsets[d], offsets[d + 1], table, MIN_WORDS)
        norm = np.sqrt(norm2)
        for h in range(n_heads):
            z[d, h] = (dots[h] / norm if norm2 > 0.0 else 0.0) + intercepts[h]
        if n_top:
            _widen_to_words(cps, offsets[d], offsets[d + 1] - offsets[d] + 2, table, top_s, top_e, n_top)
            _merge_spans(top_w, top_s, top_e, n_top, spans[d])
        if head_reasons:
            for h in range(1, n_heads):
                if best_w[h] > 0.0:
                    _widen_to_words(
                        cps, offsets[d], offsets[d + 1] - offsets[d] + 2, table, best_s[h:], best_e[h:], 1
                    )
                    head_spans[d, h - 1, 0] = best_s[h]
                    head_spans[d, h - 1, 1] = best_e[h]
    return z, spans, head_spans, words


MIN_WORDS = 3  # fewer distinct words cannot show the guide's three conditions


@njit(cache=True)
def _has_word(cps, start, length, table, a, b):
    """Whether padded positions [a, b) hold a word character (a reason must show a word)."""
    for p in range(a, b):
        if _is_word(cps, start, length, table, p):
            return True
    return False


@njit(cache=True)
def _distinct_words(cps, start, stop, table, limit):
    """How many distinct words a message has, counted up to ``limit`` (then it stops)."""
    seen = np.zeros(limit, np.uint64)
    n = 0
    p = start
    while p < stop:
        c = cps[p]
        if c < 0x10000 and table[c]:
            h = np.uint64(0)
            while p < stop and cps[p] < 0x10000 and table[cps[p]]:
                h = h * P + np.uint64(cps[p]) + np.uint64(1)
                p += 1
            new = True
            for i in range(n):
                if seen[i] == h:
                    new = False
            if new:
                seen[n] = h
                n += 1
                if n >= limit:
                    return n
        else:
            p += 1
    return n


@njit(cache=True, inline="always")
def _is_word(cps, start, length, table, p):
    if p <= 0 or p >= length - 1:
        return False
    c = cps[start + p - 1]
    return c < 0x10000 and table[c]


@njit(cache=True)
def _widen_to_words(cps, start, length, table, s, e, n):
    """Extend each span to whole words, so reasons read as words, not fragments."""
    for i in range(n):
        a, b = s[i], e[i]
        while a > 1 and _is_word(cps, start, length, table, a - 1) and _is_word(cps, start, length, table, a):
            a -= 1
        while (
            b < length - 1
            and _is_word(cps, start, length, table, b)
            and _is_word(cps, start, length, table, b - 1)
        ):
            b += 1
        s[i] = a
        e[i] = b


@njit(cache=True)
def _merge_spans(w, s, e, n, out):
    """Merge overlapping spans (summing weights) and write the strongest into out."""
    order = np.argsort(s[:n])
    ms = np.empty(n, np.int32)
    me = np.empty(n, np.int32)
    mw = np.empty(n)
    k = -1
    for i in order:
        if k >= 0 and s[i] <= me[k]:
            me[k] = max(me[k], e[i])
            mw[k] += w[i]
        else:
            k += 1
            ms[k] = s[i]
            me[k] = e[i]
            mw[k] = w[i]
    best = np.argsort(-mw[: k + 1])
    for r in range(min(len(out), k + 1)):
        out[r, 0] = ms[best[r]]
        out[r, 1] = me[best[r]]


@njit(cache=True, inline="always")
def _lower(c):
    if 0x41 <= c <= 0x5A or 0x410 <= c <= 0x42F:
        return c + 0x20
    if 0x400 <= c <= 0x40F:
        return c + 0x50
    if c == 0x2019:  # typographic apostrophe
        return 0x27
    return c


@njit(cache=True, inline="always")
def _is_letter(c):
    return 0x61 <= c <= 0x7A or 0x430 <= c <= 0x45F or c == 0x491 or c == 0x27


def word_hash(word: str) -> int:
    """The hash ``batch_language_counts`` gives a lower-case word (for the stop-word tables)."""
    h = 0
    for ch in word:
        h = (h * int(P) + ord(ch) + 1) % 2**64
    return h


@njit(cache=True)
def batch_language_counts(cps, offsets, uk_words, ru_words, en_words):
    """Per message: Cyrillic letters, Latin letters, Ukrainian-only letters, Russian-only
    letters, words, and Ukrainian / Russian / English stop words (by sorted word hashes)."""
    n_docs = len(offsets) - 1
    out = np.zeros((n_docs, 8), np.int32)
    for d in range(n_docs):
        h = np.uint64(0)
        in_word = False
        for i in range(offsets[d], offsets[d + 1] + 1):
            c = _lower(np.int64(cps[i])) if i < offsets[d + 1] else 0x20
            if 0x430 <= c <= 0x45F or c == 0x491:
                out[d, 0] += 1
                if c == 0x456 or c == 0x457 or c == 0x454 or c == 0x491:  # і ї є ґ
                    out[d, 2] += 1
                elif c == 0x44B or c == 0x44D or c == 0x44A or c == 0x451:  # ы э ъ ё
                    out[d, 3] += 1
            elif 0x61 <= c <= 0x7A:
                out[d, 1] += 1
            if _is_letter(c):
                h = h * P + np.uint64(c + 1)
                in_word = True
            elif in_word:
                out[d, 4] += 1
                for col, table in ((5, uk_words), (6, ru_words), (7, en_words)):
                    j = np.searchsorted(table, h)
                    if j < len(table) and table[j] == h:
                        out[d, col] += 1
                h = np.uint64(0)
                in_word = False
    return out


# --- normalisation ------------------------------------------------------------------

DELETE = -1
SPACE = -2
DIGIT = -3


# Leetspeak digits 0-9 as the letters they stand for: о і z е а ѕ б т в g. Every digit
# has one, so a digit between letters never becomes "0" (which a second pass would read
# as "о"): normalising twice changes nothing.
_LEET = np.array([0x43E, 0x456, 0x7A, 0x435, 0x430, 0x455, 0x431, 0x442, 0x432, 0x67], dtype=np.int64)


@njit(cache=True, inline="always")
def _is_letter_cp(c):
    return (0x61 <= c <= 0x7A) or (0x430 <= c <= 0x45F) or c == 0x491


@njit(cache=True)
def _join_spaced_letters(out, start, stop):
    """Join runs of 3+ single letters separated by single spaces ("в и х і д" -> "вихід").

    Works in place on ``out[start:stop]``; returns the new end.
    """
    w = start
    r = start
    while r < stop:
        # a run of single letters: letter, space, letter, space, letter ...
        j = r
        n = 0
        while (
            j < stop
            and _is_letter_cp(out[j])
            and (j == start or out[j - 1] == 0x20)
            and (j + 1 == stop or out[j + 1] == 0x20)
        ):
            n += 1
            if j + 2 < stop and _is_letter_cp(out[j + 2]) and (j + 3 >= stop or out[j + 3] == 0x20):
                j += 2
            else:
                break
        if n >= 3:
            for q in range(r, j + 1, 2):
                out[w] = out[q]
                w += 1
            r = j + 1
        else:
            out[w] = out[r]
            w += 1
            r += 1
    return w


@njit(cache=True)
def _leet_one(cps, start, stop, table):
    """Leetspeak "1" as и in Russian-looking messages, else і (Ukrainian і, English i).

    Russian has no і; Ukrainian has і, ї or є in almost every message; Latin i is
    already folded to і. So a message with и, ы, э or ъ and none of і, ї, є, ґ is read
    as Russian.
    """
    ru = False
    for q in range(start, stop):
        m = _mapped(np.int64(cps[q]), table)
        if m == 0x456 or m == 0x457 or m == 0x454 or m == 0x491:
            return 0x456
        if m == 0x438 or m == 0x44B or m == 0x44D or m == 0x44A:
            ru = True
    return 0x438 if ru else 0x456


@njit(cache=True, inline="always")
def _mapped(c, table):
    if c < 0x10000:
        return np.int64(table[c])
    return DELETE if 0xE0000 <= c <= 0xE007F else c  # Unicode tag characters are invisible


@njit(cache=True)
def normalize_batch(cps, bounds, table):
    """Map, delete and collapse code points, message by message.

    ``bounds`` holds each message's start and end in ``cps`` (separators excluded).
    ``table`` maps every code point of the Basic Multilingual Plane to a code point,
    ``DELETE`` (invisible characters), ``SPACE`` (whitespace and control characters) or
    ``DIGIT``. Higher planes pass unchanged (but Unicode tag characters are deleted).

    Per message: whitespace runs become one space and the ends are trimmed; a digit
    run with at least 9 digits (allowing spaces, brackets, dots, dashes and a leading
    ``+`` inside) is a phone number and becomes ``zvn``, any other digit run becomes
    ``0``; a single digit (or ``@``) between two letters is read as the letter it
    stands for (leetspeak: ``0`` о, ``1`` і, ``3`` е, ``4`` а ...); a character repeated
    more than three times is cut to three; runs of three or more single letters
    separated by single spaces are joined into one word ("в и х о д ь т е").

    Returns
    -------
    out : uint32 array of the normalised code points, messages back to back
    offsets : int64 array, message ``d`` is ``out[offsets[d]:offsets[d + 1]]``
    """
    n_docs = len(bounds) // 2
    out = np.empty(len(cps) + 3 * n_docs, np.uint32)
    offsets = np.empty(n_docs + 1, np.int64)
    k = 0
    for d in range(n_docs):
        start, stop = bounds[2 * d], bounds[2 * d + 1]
        offsets[d] = k
        pending_space = False
        one = 0  # what leetspeak "1" reads as in this message, decided when first needed
        last = -1
        run = 0
        i = start
        while i < stop:
            c = np.int64(cps[i])
            m = _mapped(c, table)
            i += 1
            if m == DELETE:
                continue
            if m == SPACE:
                pending_space = k > offsets[d]
                continue
            if m == DIGIT or c == 0x40:
                # leetspeak: a run of ASCII digits or @ touching letters is read as letters
                # ("в1ходьте", "пр00тест", "7ут", "хлопц1"). Between two letters any run
                # counts; at a word's edge only 1-2 digits, so "2024р" stays a number.
                left = not pending_space and k > offsets[d] and _is_letter_cp(out[k - 1])
                j = i
                n_run = 1
                has_at = c == 0x40
                while j < stop and (cps[j] == 0x40 or _mapped(np.int64(cps[j]), table) in (DIGIT, DELETE)):
                    if cps[j] == 0x40:
                        has_at = True
                        n_run += 1
                    elif _mapped(np.int64(cps[j]), table) == DIGIT:
                        n_run += 1
                    j += 1  # invisible characters inside the run do not end it
                right = j < stop and _is_letter_cp(_mapped(np.int64(cps[j]), table))
                if (left and right) or ((left or right) and n_run <= 2 and not has_at):
                    if pending_space:
                        out[k] = 0x20
                        k += 1
                        pending_space = False
                        last = 0x20
                        run = 1
                    for q in range(i - 1, j):
                        cq = np.int64(cps[q])
                        if cq != 0x40 and _mapped(cq, table) == DELETE:
                            continue
                        if cq == 0x40:
                            x = 0x430  # @ -> а
                        elif cq == 0x31:
                            if one == 0:
                                one = _leet_one(cps, start, stop, table)
                            x = one
                        elif 0x30 <= cq <= 0x39:
                            x = _LEET[cq - 0x30]
                        else:
                            x = 0x7A  # a digit of another script: z, stable under a second pass
                        if x == last:  # letters from digits count towards the repeat cut too
                            run += 1
                            if run > 3:
                                continue
                        else:
                            last = x
                            run = 1
                        out[k] = x
                        k += 1
                    i = j
                    continue
                if m == DIGIT and left:
                    # a number glued to a word stays a number, set apart so that a second
                    # pass does not read its "0" as a leetspeak letter
                    pending_space = True
            if m == DIGIT or (m == 0x2B and i < stop and _mapped(np.int64(cps[i]), table) == DIGIT):
                # a digit run: count digits over digits and phone punctuation
                j = i - 1
                digits = 0
                end = j
                while j < stop:
                    cj = np.int64(cps[j])
                    mj = _mapped(cj, table)
                    if mj == DIGIT:
                        digits += 1
                        end = j + 1
                    elif not (
                        cj == 0x20
                        or cj == 0x28
                        or cj == 0x29
                        or cj == 0x2E
                        or cj == 0x2D
                        or (cj == 0x2B and j == i - 1)
                    ):
                        break
                    j += 1
                if m == 0x2B and digits < 9:
                    pass  # a lone plus sign: emitted below as itself
                else:
                    if pending_space:
                        out[k] = 0x20
                        k += 1
                        pending_space = False
                    if digits >= 9:
                        out[k] = 0x7A  # z
                        out[k + 1] = 0x76  # v
                        out[k + 2] = 0x6E  # n
                        k += 3
                        i = end
                    else:
                        out[k] = 0x30  # 0
                        k += 1
                        # the rest of the run; invisible characters inside it do not split it
                        while i < stop and _mapped(np.int64(cps[i]), table) in (DIGIT, DELETE):
                            i += 1
                        if i < stop and _is_letter_cp(_mapped(np.int64(cps[i]), table)):
                            pending_space = True  # a number glued to a word: set apart, as above
                    last = -1
                    run = 0
                    continue
            if pending_space:
                out[k] = 0x20
                k += 1
                pending_space = False
                last = 0x20
                run = 1
            if m == last:
                run += 1
                if run > 3:
                    continue
            else:
                last = m
                run = 1
            out[k] = m
            k += 1
        k = _join_spaced_letters(out, offsets[d], k)
    offsets[n_docs] = k
    return out[:k], offsets
