"""Batch scoring: records in, one output row per record out, in input order.

The library API is :func:`score_texts` (a list of strings to a DataFrame) and
:func:`score_file` (a file to an iterator of DataFrame chunks, constant memory);
:func:`score_to_csv` is what the CLI's ``score`` command runs.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .lang import detect_language
from .readers import Record, read_records
from .registry import LoadedModel
from .writers import CsvRowWriter, atomic_text_output

CHUNK_SIZE = 2000
OUTPUT_COLUMNS = ("source", "row", "lang", "score", "flagged", "error")


def _default_model(model: LoadedModel | None) -> LoadedModel:
    if model is not None:
        return model
    from . import config
    from .registry import Registry

    return Registry(config.models_dir()).load()


def score_texts(texts: Iterable[str], model: LoadedModel | None = None) -> pd.DataFrame:
    """Score messages held in memory.

    Parameters
    ----------
    texts : iterable of str
    model : LoadedModel, optional
        Default: the current model of the registry in ``models/``.

    Returns
    -------
    pandas.DataFrame
        Columns ``text``, ``lang``, ``score`` (calibrated probability of the
        pattern) and ``flagged`` (``score >= model.threshold``), one row per text.

    Examples
    --------
    >>> score_texts(["Мамо, виходьте на Банкову, нас покинули"])  # doctest: +SKIP
    """
    model = _default_model(model)
    texts = list(texts)
    scores = model.predict_proba(texts) if texts else np.zeros(0)
    return pd.DataFrame(
        {
            "text": texts,
            "lang": [detect_language(t) for t in texts],
            "score": scores,
            "flagged": scores >= model.threshold,
        }
    )


def _score_chunk(
    records: list[Record], model: LoadedModel, source: str, id_column: str | None
) -> pd.DataFrame:
    ok = [i for i, r in enumerate(records) if not r.error]
    scores = np.full(len(records), np.nan)
    if ok:
        scores[ok] = model.predict_proba([records[i].text for i in ok])
    rows = {
        "source": source,
        "row": [r.row for r in records],
        "lang": [detect_language(r.text) if not r.error else "" for r in records],
        "score": scores,
        "flagged": [bool(s >= model.threshold) if s == s else None for s in scores],
        "error": [r.error for r in records],
    }
    if id_column:
        rows[id_column] = [r.id for r in records]
    return pd.DataFrame(rows)


def score_file(
    path,
    model: LoadedModel | None = None,
    *,
    fmt: str | None = None,
    text_column: str = "text",
    id_column: str | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> Iterator[pd.DataFrame]:
    """Score a file chunk by chunk.

    Parameters
    ----------
    path : path-like or "-"
    model : LoadedModel, optional
    fmt, text_column, id_column
        As in :func:`classifier.readers.read_records`.
    chunk_size : int, default=2000

    Yields
    ------
    pandas.DataFrame
        Columns ``source``, ``row``, the id column if given, ``lang``, ``score``,
        ``flagged``, ``error``; together, one row per input row, in order. Rows with
        an ``error`` have no score.
    """
    model = _default_model(model)
    records = read_records(path, fmt=fmt, text_column=text_column, id_column=id_column)
    source = str(path)
    while chunk := list(itertools.islice(records, chunk_size)):
        yield _score_chunk(chunk, model, source, id_column)


@dataclass
class ScoreSummary:
    """Counts from one scoring run."""

    rows: int = 0
    scored: int = 0
    flagged: int = 0
    errors: int = 0
    per_source: dict = field(default_factory=dict)

    def line(self) -> str:
        return f"{self.rows} rows read, {self.scored} scored, {self.flagged} flagged, {self.errors} errors"


def output_columns(id_column: str | None) -> list[str]:
    """The output header: ``source, row, [id column], lang, score, flagged, error``."""
    cols = list(OUTPUT_COLUMNS)
    if id_column:
        cols.insert(2, id_column)
    return cols


def _format(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out["score"] = [f"{s:.6f}" if s == s else "" for s in frame["score"]]
    out["flagged"] = ["" if f is None else ("true" if f else "false") for f in frame["flagged"]]
    return out


def score_to_csv(
    inputs,
    output=None,
    model: LoadedModel | None = None,
    *,
    text_column: str = "text",
    id_column: str | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> ScoreSummary:
    """Score input files into one CSV (standard output when ``output`` is None).

    The output file appears only when every row has been written.

    Returns
    -------
    ScoreSummary
    """
    model = _default_model(model)
    summary = ScoreSummary()
    with atomic_text_output(output) as stream:
        writer = CsvRowWriter(stream, output_columns(id_column))
        for path in inputs:
            for chunk in score_file(
                path, model, text_column=text_column, id_column=id_column, chunk_size=chunk_size
            ):
                writer.write_frame(_format(chunk))
                errors = int((chunk["error"] != "").sum())
                summary.rows += len(chunk)
                summary.errors += errors
                summary.scored += len(chunk) - errors
                summary.flagged += int((chunk["flagged"] == True).sum())  # noqa: E712 - None for errors
    return summary
