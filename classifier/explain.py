"""Why a message got its score: the n-grams of the message and what each contributed.

The model's features are hashed, so its weights belong to columns, not to words. To
explain one message we list the n-grams of *this* text, hash them exactly as the
scorer does (:func:`classifier.features.hash_ngrams` on the normalised text), and
give each column its share of the decision value::

    decision = intercept + sum over columns c of  tfidf(c) * coef(c)
    tfidf(c) = (1 + log count(c)) * idf(c) / ||(1 + log count) * idf||

Those contributions plus the intercept reproduce each head's decision value (the
pattern head, and one head per condition of the guide), and the model's stacker
applied to them reproduces the score (tests check both). The condition heads say
which of the guide's three conditions hold, and which words show each.

Two limits, said plainly in the output:

* two n-grams of this text can fall into the same column (a collision): they share
  one contribution, and both are listed;
* a column's weight was learned from every training n-gram that hashed there, so an
  n-gram's weight may include other n-grams of the training data. With 2^19 columns
  this is rare for the strong features, but it cannot be ruled out from the text alone.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from .errors import InputError
from .features import hash_ngrams
from .lang import detect_language
from .normalize import normalize_codepoints
from .scorer import _UNFOLD, CONDITION_NAMES


@dataclass
class Feature:
    """One hashed column that the message hit.

    Attributes
    ----------
    column : int
    ngrams : list of (str, str, int, tuple of str)
        ``(kind, n-gram, count, words)`` for each distinct n-gram of the message hashed
        to this column; more than one is a collision. ``words`` are the words a
        character fragment was taken from (empty when it is a whole word). ``kind`` is ``word``, ``2 words``
        (a word pair) or ``chars`` (a character fragment, spaces included).
    tfidf : float
        The column's tf-idf value in this message (l2-normalised).
    weight : float
        The linear model's coefficient for the column.
    contribution : float
        ``tfidf * weight``: how much it moved the decision value.
    """

    column: int
    ngrams: list
    tfidf: float
    weight: float
    contribution: float

    def label(self) -> str:
        """The n-gram(s), readable: ``word "мамо"``, ``chars "их" (вихід)``, joined by ``+`` on a collision."""
        return " + ".join(
            f'{kind} "{text}"' + (f" ×{n}" if n > 1 else "") + (f" ({', '.join(words)})" if words else "")
            for kind, text, n, words in self.ngrams
        )


@dataclass
class Explanation:
    """What :func:`explain` found for one message.

    Attributes
    ----------
    normalized : str
        The message as the model sees it (for Latin-script messages, with look-alike
        letters shown in Latin again).
    lang : str
    score : float
        The calibrated score, equal to :func:`classifier.scoring.score_texts`'.
    threshold : float
    flagged : bool
    decision : float
        ``intercept + sum(f.contribution for f in features)``.
    intercept : float
    features : list of Feature
        Every column the message hit, strongest push up first.
    collisions : int
        Columns hit by more than one distinct n-gram of this message.
    model_version : str
    """

    normalized: str
    lang: str
    score: float
    threshold: float
    flagged: bool
    decision: float
    intercept: float
    features: list
    collisions: int
    model_version: str
    conditions: list = None  # Condition per condition head (empty for a single-head model)
    decisions: tuple = ()  # every head's decision value, the pattern head first

    def up(self, n: int) -> list[Feature]:
        """The ``n`` features that pushed the score up most."""
        return [f for f in self.features if f.contribution > 0][:n]

    def down(self, n: int) -> list[Feature]:
        """The ``n`` features that pushed the score down most."""
        return [f for f in reversed(self.features) if f.contribution < 0][:n]


@dataclass
class Condition:
    """One of the guide's conditions as its head sees the message.

    Attributes
    ----------
    name : str
        ``captive``, ``addressed home`` or ``urges pressure``.
    probability : float
        The head's calibrated probability that the condition holds.
    holds : bool
        ``probability >= 0.5``.
    features : list of Feature
        The head's contributions, strongest push up first.
    """

    name: str
    probability: float
    holds: bool
    features: list

    def evidence(self, n: int = 3) -> list[Feature]:
        """The ``n`` n-grams that show the condition most."""
        return [f for f in self.features if f.contribution > 0][:n]


def explain(text: str, model, *, threshold: float | None = None) -> Explanation:
    """Explain one message's score by the n-grams of its text.

    Parameters
    ----------
    text : str
        The raw message.
    model : LoadedModel
    threshold : float, optional
        Default: the model card's threshold.

    Returns
    -------
    Explanation

    Raises
    ------
    InputError
        The text is empty after normalisation.

    Examples
    --------
    >>> from classifier import load_model
    >>> e = explain("Мамо, виходьте на Майдан", load_model())  # doctest: +SKIP
    >>> e.decision == e.intercept + sum(f.contribution for f in e.features)  # doctest: +SKIP
    True
    """
    scorer = model.scorer
    threshold = model.threshold if threshold is None else float(threshold)
    cps, offsets = normalize_codepoints([text])
    normalized = cps.tobytes().decode("utf-32-le", "surrogatepass")
    if not normalized.strip():
        raise InputError(
            "the text is empty (after normalisation); pass a message, or - to read it from stdin"
        )
    lang = detect_language(text)
    padded = " " + normalized + " "
    if lang in ("en", "other"):
        padded = padded.translate(_UNFOLD)  # as the scorer shows reasons: English reads as English
    # one kind and word length at a time, so each n-gram's kind is known; columns are the same
    counts: dict[int, int] = defaultdict(int)
    seen: dict[int, dict[tuple[str, str], int]] = defaultdict(lambda: defaultdict(int))
    words_of: dict[tuple[str, str], dict[str, None]] = defaultdict(dict)  # ordered sets
    (clo, chi), (wlo, whi) = scorer.char_ngram_range, scorer.word_ngram_range
    kinds = [("chars", (clo, chi), (0, 0))] if chi > 0 else []
    kinds += [("word" if n == 1 else f"{n} words", (0, 0), (n, n)) for n in range(max(wlo, 1), whi + 1)]
    for kind, chars, words in kinds:
        grams = hash_ngrams(
            [normalized], char_ngram_range=chars, word_ngram_range=words, n_features=scorer.n_features
        )
        for col, start, end in zip(
            grams.column.tolist(), grams.start.tolist(), grams.end.tolist(), strict=True
        ):
            counts[col] += 1
            key = (kind, padded[start:end])
            seen[col][key] += 1
            if kind == "chars":
                word = _widen(padded, start, end)
                if word and word != key[1].strip():
                    words_of[key][word] = None
    cols = np.fromiter(counts, dtype=np.int64, count=len(counts))
    tf = 1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64, count=len(counts)))
    values = tf * scorer.weights[cols, 0]
    norm = float(np.sqrt(np.sum(values * values)))
    ngrams = {
        int(c): [
            (k, t, n, tuple(words_of[(k, t)])[:3])
            for (k, t), n in sorted(seen[int(c)].items(), key=lambda kv: (kv[0][0] != "word", kv[0]))
        ]
        for c in cols
    }

    def head_features(h):
        contributions = tf * scorer.weights[cols, 1 + h] / norm
        coefs = scorer.weights[cols, 1 + h] / scorer.weights[cols, 0]  # idf >= 1: no division by zero
        feats = [
            Feature(
                column=int(c),
                ngrams=ngrams[int(c)],
                tfidf=float(v / norm),
                weight=float(w),
                contribution=float(x),
            )
            for c, v, w, x in zip(cols, values, coefs, contributions, strict=True)
        ]
        feats.sort(key=lambda f: -f.contribution)
        return feats, scorer.intercepts[h] + float(np.sum(contributions))

    heads = [head_features(h) for h in range(scorer.n_heads)]
    decisions = np.array([[d for _, d in heads]])
    words = scorer.decision(cps, offsets, n_reasons=0)[3]  # the scorer's short-message cap
    score = float(scorer.calibrate(decisions, words)[0])
    probabilities = scorer.conditions(decisions)[0]
    conditions = [
        Condition(name, float(probabilities[j]), bool(probabilities[j] >= 0.5), heads[j + 1][0])
        for j, name in enumerate(CONDITION_NAMES[: scorer.n_heads - 1])
    ]
    features, decision = heads[0]
    return Explanation(
        normalized=padded[1:-1],
        lang=lang,
        score=score,
        threshold=threshold,
        flagged=score >= threshold,
        decision=decision,
        intercept=float(scorer.intercepts[0]),
        features=features,
        collisions=sum(1 for f in features if len(f.ngrams) > 1),
        model_version=model.version,
        conditions=conditions,
        decisions=tuple(float(d) for d in decisions[0]),
    )


def _widen(padded: str, start: int, end: int) -> str:
    """The word(s) around a character fragment, so that "ай" reads as "(майдан)"."""

    def is_word(ch):
        return ch.isalnum() or ch == "'"

    while start > 0 and is_word(padded[start - 1]) and is_word(padded[start]):
        start -= 1
    while end < len(padded) and is_word(padded[end]) and is_word(padded[end - 1]):
        end += 1
    return padded[start:end].strip(' ,.;:!?-"()«»…')


def format_explanation(e: Explanation, top: int = 10) -> str:
    """The explanation as the CLI prints it.

    Parameters
    ----------
    e : Explanation
    top : int, default=10
        How many features to list each way.

    Returns
    -------
    str
    """
    lines = [
        f"model {e.model_version}  threshold {e.threshold:.4f}",
        f"score {e.score:.6f}  {'FLAGGED' if e.flagged else 'not flagged'}  (language {e.lang})",
        f"decision value {e.decision:+.4f} = intercept {e.intercept:+.4f} + the contributions of "
        f"{len(e.features)} hashed columns; the score is its Platt scaling",
        f"normalised text: {e.normalized[:300]}{'…' if len(e.normalized) > 300 else ''}",
    ]
    if e.conditions:
        lines[2] = (
            f"pattern head: decision value {e.decision:+.4f} = intercept {e.intercept:+.4f} + the contributions "
            f"of {len(e.features)} hashed columns; the score stacks it with the three condition heads"
        )
        lines.append("the guide's conditions (each head's probability, and what shows it most):")
        for c in e.conditions:
            shown = ", ".join(f"{f.label()} {f.contribution:+.3f}" for f in c.evidence(3)) or "(nothing)"
            lines.append(f"  {c.name:<15} {c.probability:6.3f}  {'holds' if c.holds else 'no   '}  {shown}")
    lines.append("each line: contribution = tf-idf × weight, then the n-gram (×k: it occurs k times)")
    for title, feats in (
        ("pushed the pattern head up", e.up(top)),
        ("pushed the pattern head down", e.down(top)),
    ):
        lines.append(f"{title}:")
        if not feats:
            lines.append("  (none)")
        for f in feats:
            lines.append(
                f"  {f.contribution:+8.4f}  = tf-idf {f.tfidf:.4f} × weight {f.weight:+8.3f}  {f.label()}"
            )
    if e.collisions:
        lines.append(
            f"note: {e.collisions} column(s) are shared by two or more n-grams of this text (joined with +): "
            "they share one contribution"
        )
    lines.append(
        "note: features are hashed; a weight may also carry other training n-grams that share its column"
    )
    return "\n".join(lines)


def row_text(path, row: int, *, text_column: str = "text") -> tuple[str, bool]:
    """The text of row ``row`` of a scored file or an input file, numbered as ``score`` numbers rows.

    An input file's rows are its records (1-based lines of txt and jsonl, records after
    the header of csv and tsv, as in ``score``'s ``row`` column). A scored file (it has
    ``row`` and ``score`` columns) is looked up by its ``row`` column and needs the
    message text (``score --include-text``); its CSV cells are unescaped first (see
    :mod:`classifier._cells`). The file is streamed: only the row asked for is kept.

    Parameters
    ----------
    path : path-like
    row : int
    text_column : str, default="text"

    Returns
    -------
    (str, bool)
        The text, and whether the reader cut it to :data:`classifier.readers.MAX_CHARS`.

    Raises
    ------
    InputError
        A row out of range, one that is an error row, no text column, or (in a scored
        file) a row number that more than one input has.
    """
    from ._cells import unescape_cell
    from .readers import Input

    path = str(path)
    if row < 1:
        raise InputError(f"--row counts from 1 (the row number that score gives), not {row}")
    if _is_scored(path):
        found = _scored_row(path, row, text_column)
        text = unescape_cell(found.text) if Input(path).format in ("csv", "tsv") else found.text
        return text, found.truncated
    source = Input(path, text_column=text_column)
    source.check()
    last = 0
    records = source.records()
    try:
        for record in records:
            if record.row == row:
                if record.error:
                    raise InputError(f"{path} row {row} has no text to explain ({record.error})")
                return record.text, record.truncated
            last = record.row
    finally:
        records.close()
    if not last:
        raise InputError(f"{path} has no rows")
    raise InputError(f"{path} has {last:,} rows; pass --row from 1 to {last:,}")


def _is_scored(path: str) -> bool:
    """Whether ``path`` has the ``row`` and ``score`` columns of a ``score`` output."""
    from .readers import Input

    try:
        source = Input(path, text_column="score", id_column="row")
        if source.format == "txt":
            return False
        source.check()
    except InputError:
        return False
    return True


def _scored_row(path: str, row: int, text_column: str):
    from .readers import Input

    source = Input(path, text_column=text_column, id_column="row")
    try:
        source.check()
    except InputError:
        raise InputError(
            f"{path} is a scored file without the message text; score with --include-text, "
            "or explain the input file named in its source column"
        ) from None
    found, seen = None, []  # seen: the lowest and highest row numbers, for the message
    for record in source.records():
        if record.id != str(row):
            if record.id and record.id.isdigit():
                number = int(record.id)
                seen = [min(seen[0], number), max(seen[1], number)] if seen else [number, number]
            continue
        if found is not None:
            raise InputError(
                f"{path} has a row {row} for more than one input; explain the input file named in its "
                "source column"
            )
        found = record
    if found is None:
        span = f" (its rows go from {seen[0]:,} to {seen[1]:,})" if seen else ""
        raise InputError(f"{path} has no row {row}{span}")
    if found.error or found.text is None:
        raise InputError(f"{path} row {row} has no text to explain ({found.error or 'empty text'})")
    return found
