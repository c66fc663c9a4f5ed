"""``suggest``: which unlabelled messages are most worth labelling next.

Uncertainty sampling with diversity:

1. every message is scored; its uncertainty is its distance from the threshold in
   log-odds (closest first);
2. messages whose normalised text is already labelled, or that look like a labelled
   row or an already chosen one (cosine similarity of their character 3-5-gram sets
   at least ``max_similarity``), are passed over;
3. picks go round-robin across languages, most uncertain first within each, so one
   language cannot take all the labelling effort.

Only the ``pool`` most uncertain messages are kept while reading, so any input size
works in bounded memory.
"""

from __future__ import annotations

import heapq
import itertools

import numpy as np
import pandas as pd

from .features import NgramHasher
from .lang import detect_languages
from .normalize import normalize_texts
from .readers import Input

CHUNK = 4000
# The columns of a suggest file; an id column may not take one of these names.
COLUMNS = ("text", "label", "lang", "category", "source", "row", "score")


def _logit(p):
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return np.log(p / (1 - p))


def _shapes(texts):
    X = NgramHasher(char_ngram_range=(3, 5), word_ngram_range=(0, 0), n_features=2**18).transform(texts)
    X.data[:] = 1.0
    norms = np.sqrt(np.asarray(X.sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return X.multiply(1.0 / norms[:, None]).tocsr()


def select(texts, scores, threshold, n, labelled_texts=(), *, max_similarity=0.8):
    """Indices of up to ``n`` texts to label: uncertain, diverse, spread over languages.

    Parameters
    ----------
    texts : list of str
    scores : sequence of float
        The model's probabilities for ``texts``.
    threshold : float
    n : int
    labelled_texts : sequence of str
        Already labelled: neither these nor look-alikes are picked.
    max_similarity : float, default=0.8

    Returns
    -------
    chosen : list of int
        Most uncertain first within each language, languages taken in turn.
    langs : list of str
        The language of every text.
    """
    distance = np.abs(_logit(np.asarray(scores, dtype=float)) - _logit(threshold))
    order = np.argsort(distance, kind="stable")
    keys = normalize_texts(texts)
    langs = detect_languages(texts)
    shapes = _shapes(keys)
    known = set()
    similar_to_labelled = np.zeros(len(texts))
    if len(labelled_texts):
        lab_keys = normalize_texts(list(labelled_texts))
        known = set(lab_keys)
        similar_to_labelled = np.asarray((shapes @ _shapes(lab_keys).T).max(axis=1).todense()).ravel()
    queues: dict[str, list[int]] = {}
    for i in order.tolist():
        if keys[i] and keys[i] not in known and similar_to_labelled[i] < max_similarity:
            queues.setdefault(langs[i], []).append(i)
    chosen: list[int] = []
    chosen_keys: set[str] = set()
    while len(chosen) < n and any(queues.values()):
        for lang in sorted(queues, key=lambda k: distance[queues[k][0]] if queues[k] else np.inf):
            queue = queues[lang]
            while queue:
                i = queue.pop(0)
                if keys[i] in chosen_keys:
                    continue
                if chosen and (shapes[i] @ shapes[chosen].T).max() >= max_similarity:
                    continue
                chosen.append(i)
                chosen_keys.add(keys[i])
                break
            if len(chosen) >= n:
                break
    return chosen, langs


def suggest(
    inputs,
    model,
    *,
    n: int = 50,
    labelled: pd.DataFrame | None = None,
    text_column: str = "text",
    id_column: str | None = None,
    max_similarity: float = 0.8,
    pool: int | None = None,
    text_columns: dict | None = None,
    fmt: str | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    sheet: str | None = None,
) -> pd.DataFrame:
    """Pick ``n`` messages to label next.

    Parameters
    ----------
    inputs : list of path-like
        Files of unlabelled (or scored) messages, any format ``score`` reads.
    model : LoadedModel
    n : int, default=50
    labelled : pandas.DataFrame, optional
        The label store (``text`` column): its texts and look-alikes are not suggested.
    text_column, id_column : str
    max_similarity : float, default=0.8
        Candidates at least this similar to a labelled or chosen message are skipped.
    pool : int, optional
        How many of the most uncertain messages to keep while reading; default ``20 * n``.
    text_columns : dict of str to str, optional
        The text column of some inputs (by path as given), where it differs from ``text_column``.
    fmt, encoding, delimiter, sheet : str, optional
        How inputs are read, as in :class:`classifier.readers.Input`.

    Returns
    -------
    pandas.DataFrame
        Columns ``text, label, lang, category, source, row, score`` (and the id column),
        ``label`` and ``category`` empty: fill in ``label`` and pass the file to
        ``coercion-classifier labels add``.
    """
    from .scoring import check_id_column

    check_id_column(id_column, COLUMNS)
    pool = pool or 20 * n
    heap: list = []  # (-uncertainty, counter, record)  -> keeps the `pool` most uncertain
    counter = itertools.count()
    for path in inputs:
        source = Input(
            path,
            fmt=fmt,
            encoding=encoding,
            text_column=(text_columns or {}).get(path, text_column),
            id_column=id_column,
            delimiter=delimiter,
            sheet=sheet,
        )
        records = (r for r in source.records() if not r.error)
        while chunk := list(itertools.islice(records, CHUNK)):
            texts = [r.text for r in chunk]
            scores = model.predict_proba(texts)
            distance = np.abs(_logit(scores) - _logit(model.threshold))
            for r, s, d in zip(chunk, scores.tolist(), distance.tolist(), strict=True):
                item = (-d, next(counter), (r.source or str(path), r.row, r.id, r.text, s))
                if len(heap) < pool:
                    heapq.heappush(heap, item)
                elif item[0] > heap[0][0]:
                    heapq.heapreplace(heap, item)
    if not heap:
        return pd.DataFrame(columns=list(COLUMNS))
    cands = sorted(heap, key=lambda x: (-x[0], x[1]))  # most uncertain first
    texts = [c[2][3] for c in cands]
    lab_texts = labelled["text"].astype(str).tolist() if labelled is not None and len(labelled) else []
    chosen, langs = select(
        texts, [c[2][4] for c in cands], model.threshold, n, lab_texts, max_similarity=max_similarity
    )
    rows = []
    for i in chosen:
        src, row, rid, text, score = cands[i][2]
        entry = {
            "text": text,
            "label": "",
            "lang": langs[i],
            "category": "",
            "source": src,
            "row": row,
            "score": round(score, 6),
        }
        if id_column:
            entry[id_column] = rid
        rows.append(entry)
    return pd.DataFrame(rows)
