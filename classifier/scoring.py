"""Batch scoring: records in, one output row per record out, in input order.

Library API:

* :func:`score_texts` scores a list of strings held in memory (a DataFrame back);
* :func:`score_file` streams one input file as DataFrame chunks, in constant memory;
* :func:`score_files` scores many inputs into one output file (what the CLI runs).

Work is split into chunks of messages. With ``jobs > 1`` the chunks are scored by
worker processes while the main process reads input and writes output; a bounded
window of chunks in flight keeps memory constant however large the input, and results
are written in input order. Every path (in-process or in workers) uses the same
compiled scorer, so scores are identical whatever ``jobs`` is.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import itertools
import multiprocessing
import os
import pickle
import signal
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .chat_exports import META_KEYS
from .errors import EXIT_TOO_MANY_ERRORS, InputError, Interrupted, counted
from .lang import detect_languages
from .readers import CHAT_FORMATS, Input, Record, expand_inputs, one_pass
from .registry import LoadedModel
from .writers import META_COLUMN, FrameWriter, check_output, output_format

CHUNK_SIZE = 4000
OUTPUT_COLUMNS = ("source", "row", "lang", "score", "flagged", "reasons", "truncated", "error")
# Reasons are given for flagged messages and for near misses (score >= threshold x this).
REASONS_FROM = 0.5


def _default_model(model: LoadedModel | None) -> LoadedModel:
    if model is not None:
        return model
    from . import config
    from .registry import Registry

    return Registry(config.models_dir()).load()


def _score_batch(scorer, threshold: float, texts: list[str]):
    """Languages, scores and reasons for a list of texts (runs in workers too)."""
    langs = detect_languages(texts)
    latin = [lang in ("en", "other") for lang in langs]
    scores, reasons = scorer.score(texts, latin=latin, min_score=threshold * REASONS_FROM)
    return langs, scores, reasons


def score_texts(texts: Iterable[str], model: LoadedModel | None = None, *, threshold: float | None = None):
    """Score messages held in memory.

    Parameters
    ----------
    texts : iterable of str
    model : LoadedModel, optional
        Default: the current model of the registry in ``models/``.
    threshold : float, optional
        Flag at this score instead of the model's threshold.

    Returns
    -------
    pandas.DataFrame
        Columns ``text``, ``lang``, ``score`` (calibrated probability of the
        pattern), ``flagged`` (``score >= threshold``) and ``reasons`` (the fragments
        that pushed the score up most, for flagged and near-threshold messages).

    Examples
    --------
    >>> score_texts(["Мамо, виходьте на Банкову, нас покинули"])  # doctest: +SKIP
    """
    model = _default_model(model)
    threshold = model.threshold if threshold is None else threshold
    texts = list(texts)
    langs, scores, reasons = _score_batch(model.scorer, threshold, texts) if texts else ([], np.zeros(0), [])
    return pd.DataFrame(
        {"text": texts, "lang": langs, "score": scores, "flagged": scores >= threshold, "reasons": reasons}
    )


# --- parallel workers -------------------------------------------------------------

_worker_state: dict = {}


def _init_worker(scorer, threshold):
    # Ctrl-C reaches every process of the terminal's group: the parent stops the pool
    # and says what was written; a worker's own KeyboardInterrupt would only print a
    # traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker_state["scorer"] = scorer
    _worker_state["threshold"] = threshold


def _work(texts):
    return _score_batch(_worker_state["scorer"], _worker_state["threshold"], texts)


class _Engine:
    """Scores chunks of texts in order, in-process or in a pool of worker processes."""

    def __init__(self, scorer, threshold, jobs):
        self.scorer, self.threshold, self.jobs = scorer, threshold, max(1, int(jobs))
        self._pool = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self._pool is not None:
            if exc[0] is None:
                self._pool.close()
            else:
                self._pool.terminate()
            self._pool.join()

    def _start(self):
        self.scorer.predict_proba([""])  # compile before forking, so workers inherit it
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        ctx = multiprocessing.get_context(method)
        self._pool = ctx.Pool(self.jobs, initializer=_init_worker, initargs=(self.scorer, self.threshold))

    def map(self, chunks: Iterator[tuple[object, list[str]]]):
        """Yield ``(tag, (langs, scores, reasons))`` for each ``(tag, texts)``, in order."""
        chunks = iter(chunks)
        first = next(chunks, None)
        if first is None:
            return
        second = next(chunks, None)
        if self.jobs == 1 or second is None:  # one chunk: not worth a pool
            for tag, texts in itertools.chain([first], [second] if second is not None else [], chunks):
                yield tag, _score_batch(self.scorer, self.threshold, texts)
            return
        self._start()
        window = collections.deque()
        for tag, texts in itertools.chain([first, second], chunks):
            window.append((tag, self._pool.apply_async(_work, (texts,))))
            if len(window) >= 2 * self.jobs:  # bounded: memory stays constant
                done_tag, result = window.popleft()
                yield done_tag, result.get()
        while window:
            done_tag, result = window.popleft()
            yield done_tag, result.get()


# --- assembling output rows ---------------------------------------------------------


def _chunks(records: Iterable[Record], size: int) -> Iterator[tuple[list[Record], list[str]]]:
    records = iter(records)
    while chunk := list(itertools.islice(records, size)):
        yield chunk, [r.text for r in chunk if not r.error]


def _frame(
    records: list[Record],
    result,
    source: str,
    id_column: str | None,
    threshold: float,
    include_text: bool = False,
    redact: bool = False,
) -> pd.DataFrame:
    langs, scores, reasons = result
    n = len(records)
    ok = np.fromiter((not r.error for r in records), dtype=bool, count=n)
    all_scores = np.full(n, np.nan)
    all_scores[ok] = scores
    lang_col = np.full(n, "", dtype=object)
    lang_col[ok] = langs
    reason_col = np.full(n, "", dtype=object)
    reason_col[ok] = reasons
    flagged = np.full(n, None, dtype=object)
    flagged[ok] = (scores >= threshold).tolist()
    data = {
        "source": [r.source or source for r in records],
        "row": [r.row for r in records],
        "lang": lang_col,
        "score": all_scores,
        "flagged": flagged,
        "reasons": reason_col,
        "truncated": [r.truncated for r in records],
        "error": [r.error for r in records],
    }
    if id_column:
        data[id_column] = [r.id for r in records]
    if include_text:
        data["text"] = [r.text for r in records]
    if redact:  # after scoring: the model saw the whole text, the output shows it masked
        from .redact import redact_texts

        data["reasons"] = redact_texts(data["reasons"])
        if include_text:
            data["text"] = redact_texts(data["text"])
    if any(r.meta for r in records):  # the writer turns these into columns (see FrameWriter)
        data[META_COLUMN] = [r.meta for r in records]
        if redact:  # kept columns (--keep) and chat metadata too
            from .redact import redact_texts

            data[META_COLUMN] = [
                dict(zip(m, redact_texts(m.values()), strict=True)) if m else m for m in data[META_COLUMN]
            ]
    return pd.DataFrame(data)


def check_id_column(id_column: str | None, columns=OUTPUT_COLUMNS) -> None:
    """Refuse an id column named like an output column: its values would overwrite that column.

    Raises
    ------
    InputError
    """
    if id_column is not None and id_column in columns:
        raise InputError(
            f"--id-column {id_column!r} is also an output column ({', '.join(columns)}); "
            "rename that column in the input, or leave out --id-column"
        )


def output_columns(id_column: str | None, include_text: bool = False, campaign: bool = False) -> list[str]:
    """The output header: ``source, row, [id column], lang, score, flagged, reasons, truncated, error[, campaign][, text]``.

    Kept input columns and chat metadata follow, added by the writer (see
    :class:`classifier.writers.FrameWriter`).
    """
    named = (*OUTPUT_COLUMNS, *(["campaign"] if campaign else []), *(["text"] if include_text else []))
    check_id_column(id_column, named)
    cols = list(OUTPUT_COLUMNS)
    if id_column:
        cols.insert(2, id_column)
    if campaign:
        cols.append("campaign")
    if include_text:
        cols.append("text")
    return cols


def _score_inputs(
    inputs: list[Input], model, threshold, jobs, chunk_size, collector=None, include_text=False, redact=False
) -> Iterator[tuple[Input, list[Record], pd.DataFrame, int | None]]:
    """``(input, records, frame, bytes of the input read when the chunk was)`` for every chunk, in order."""

    def tagged():
        for source in inputs:
            for records, texts in _chunks(source.records(), chunk_size):
                yield (source, records, source.position()), texts

    with _Engine(model.scorer, threshold, jobs) as engine:
        for (source, records, position), result in engine.map(tagged()):
            frame = _frame(records, result, source.path, source.id_column, threshold, include_text, redact)
            if collector is not None:  # e.g. batch_report.BatchReport: it needs the texts, which frames lack
                collector.add(source.path, records, frame)
            yield source, records, frame, position


def score_file(
    path,
    model: LoadedModel | None = None,
    *,
    fmt: str | None = None,
    encoding: str | None = None,
    text_column: str = "text",
    id_column: str | None = None,
    by_file: bool = False,
    threshold: float | None = None,
    jobs: int = 1,
    chunk_size: int = CHUNK_SIZE,
) -> Iterator[pd.DataFrame]:
    """Score one input chunk by chunk.

    Parameters
    ----------
    path : path-like or "-"
        A file (txt, csv, tsv, jsonl, parquet; optionally gzip-compressed), ``-`` for
        standard input, or with ``by_file`` a folder of ``.txt`` files.
    model : LoadedModel, optional
    fmt, encoding, text_column, id_column, by_file
        As in :class:`classifier.readers.Input`.
    threshold : float, optional
        Flag at this score instead of the model's threshold.
    jobs : int, default=1
        Worker processes.
    chunk_size : int, default=4000

    Yields
    ------
    pandas.DataFrame
        Columns ``source``, ``row``, the id column if given, ``lang``, ``score``,
        ``flagged``, ``reasons``, ``truncated`` (only the first
        :data:`classifier.readers.MAX_CHARS` characters were scored), ``error``;
        together, one row per input row, in order. Rows with an ``error`` have no score.
    """
    check_id_column(id_column)
    model = _default_model(model)
    threshold = model.threshold if threshold is None else threshold
    source = Input(
        path, fmt=fmt, encoding=encoding, text_column=text_column, id_column=id_column, by_file=by_file
    )
    for _, _, frame, _ in _score_inputs([source], model, threshold, jobs, chunk_size):
        yield frame


@dataclass
class ScoreSummary:
    """Counts from one scoring run."""

    rows: int = 0
    scored: int = 0
    flagged: int = 0
    errors: int = 0
    written: int = 0
    seconds: float = 0.0
    encodings: dict = field(default_factory=dict)
    max_errors: int | None = None  # None: a run fails only when every row failed
    skipped: dict = field(default_factory=dict)  # --by-file entries not read, by reason
    dropped_meta: dict = field(default_factory=dict)  # meta keys first seen after the header, rows
    sources: dict = field(default_factory=dict)  # per input: rows, scored, flagged, errors

    @property
    def rate(self) -> float:
        """Messages per second."""
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    @property
    def too_many_errors(self) -> bool:
        """More error rows than ``max_errors``; by default, every row (of at least one) failed."""
        if self.max_errors is None:
            return self.rows > 0 and self.errors == self.rows
        return self.errors > self.max_errors

    def line(self) -> str:
        text = (
            f"{counted(self.rows, 'row')} read, {self.scored:,} scored, {self.flagged:,} flagged, "
            f"{counted(self.errors, 'error')}"
            f" in {self.seconds:.1f} s ({self.rate:,.0f} messages/s)"
        )
        if self.written != self.rows:
            text += f"; {self.written:,} rows written"
        if self.dropped_meta:
            names = ", ".join(f"{k!r} ({counted(v, 'row')})" for k, v in self.dropped_meta.items())
            text += f"; columns that first appeared after the output's header were not written: {names}"
        from .chat_exports import CHAT_SKIPS

        for chat in (False, True):  # --by-file folder entries, then chat lines that are not messages
            skipped = {r: c for r, c in self.skipped.items() if (r in CHAT_SKIPS) == chat}
            if skipped:
                n = sum(skipped.values())
                reasons = ", ".join(f"{count:,} {reason}" for reason, count in sorted(skipped.items()))
                what = counted(n, "chat line") if chat else f"{n:,} folder entr{'y' if n == 1 else 'ies'}"
                text += f"; {what} skipped ({reasons})"
        if self.too_many_errors:
            if self.max_errors is None:
                text += f"; every row failed (exit code {EXIT_TOO_MANY_ERRORS}); see the error column"
            else:
                text += (
                    f"; {counted(self.errors, 'error')}, more than --max-errors {self.max_errors:,} "
                    f"(exit code {EXIT_TOO_MANY_ERRORS}); see the error column"
                )
        return text


def _declared_meta(sources: list[Input], keep) -> list[str]:
    """Meta columns the output's header must hold whichever input comes first.

    The header is fixed by the first chunk written. With several inputs, each regular
    file's kept columns are read from its first record (a pipe can be read only once:
    its columns count only if it comes first), then a chat export's date, sender, chat
    and forwarded_from.
    """
    declared: list[str] = []
    if keep and len(sources) > 1:
        for source in sources:
            if source.by_file or source.path == "-" or not os.path.isfile(source.path):
                continue
            records = copy.copy(source).records()
            try:
                first = next(records, None)
            finally:
                records.close()
            for key in (first.meta or {}) if first is not None else ():
                if key not in declared:
                    declared.append(key)
    if any(s.format in CHAT_FORMATS for s in sources):
        declared += [k for k in META_KEYS if k not in declared]
    return declared


def score_files(
    inputs,
    output=None,
    model: LoadedModel | None = None,
    *,
    out_format: str | None = None,
    in_format: str | None = None,
    encoding: str | None = None,
    text_column: str = "text",
    id_column: str | None = None,
    by_file: bool = False,
    threshold: float | None = None,
    jobs: int | None = None,
    only_flagged: bool = False,
    progress: bool = False,
    chunk_size: int = CHUNK_SIZE,
    checked: bool = False,
    collector=None,
    max_errors: int | None = None,
    text_columns: dict | None = None,
    delimiter: str | None = None,
    sheet: str | None = None,
    keep=None,
    include_text: bool = False,
    excel: bool = False,
    redact: bool = False,
    campaigns=None,
) -> ScoreSummary:
    """Score inputs into one output (standard output when ``output`` is None).

    Every input is checked (exists, known format, text column present) before any
    work starts, unless the caller did so already (``checked=True``); so is the
    output: never one of the inputs (see :func:`classifier.writers.check_output`),
    and the id column is never named like an output column. The output file appears
    only when every row has been written. With ``only_flagged``, rows that are neither
    flagged nor errors are left out. ``collector``, if given, gets
    ``collector.add(source, records, frame)`` for every scored chunk, before
    ``only_flagged`` filters it (see :class:`classifier.batch_report.BatchReport`).
    ``max_errors`` goes to the summary, whose ``too_many_errors`` says whether the run
    failed (the output is written all the same). The output's format is ``out_format``
    or its extension's (:func:`classifier.writers.output_format`); ``excel`` starts a
    CSV or TSV with a UTF-8 BOM. The progress bar shows percent and time left when every
    input is a regular txt, csv, tsv or jsonl file (gzip too), by bytes read; otherwise it
    counts messages.

    ``text_columns`` maps an input (as given in ``inputs``) to its own text column;
    ``delimiter``, ``sheet`` and ``keep`` are as in :class:`classifier.readers.Input`.
    ``include_text`` adds the message as a ``text`` column (``score --only-flagged``
    sets it by default). ``redact`` masks phones, e-mails, cards and @handles in the
    ``text`` and ``reasons`` columns (:func:`classifier.redact.redact`), after scoring.

    ``campaigns``, a :class:`classifier.campaigns.CampaignGrouper`, adds a ``campaign``
    column: flagged rows and near misses are collected while scoring, clustered once
    every row is scored, and the output is written from a temporary spool of the scored
    chunks with their ids filled in (so standard output gets its rows only at the end).
    Its :attr:`result` is then the :class:`classifier.campaigns.Campaigns`.

    Returns
    -------
    ScoreSummary

    Raises
    ------
    classifier.errors.Interrupted
        On Ctrl-C, saying what was written: nothing to a file (the output is atomic),
        or how many rows went to standard output.
    """
    columns = output_columns(
        id_column, include_text, campaigns is not None
    )  # refuses an id column named like one of them
    paths = expand_inputs(inputs)
    check_output(output, paths)
    model = _default_model(model)
    threshold = model.threshold if threshold is None else threshold
    if jobs is None:
        jobs = os.cpu_count() or 1
    text_columns = text_columns or {}
    sources = [
        Input(
            p,
            fmt=in_format,
            encoding=encoding,
            text_column=text_columns.get(p, text_column),
            id_column=id_column,
            by_file=by_file,
            delimiter=delimiter,
            sheet=sheet,
            keep=keep,
        )
        for p in paths
    ]
    if not checked:
        for source in sources:
            source.check()
    summary = ScoreSummary(max_errors=max_errors)
    start = time.perf_counter()
    writer = FrameWriter(
        output,
        output_format(output, out_format),
        columns,
        excel=excel,
        meta_keys=_declared_meta(sources, keep),
    )
    bar = _Progress(sources) if progress else None
    spool = _Spool(output) if campaigns is not None else None
    try:
        with writer, contextlib.ExitStack() as stack:
            if spool is not None:
                stack.callback(spool.close)
            for source, records, frame, position in _score_inputs(
                sources, model, threshold, jobs, chunk_size, collector, include_text, redact
            ):
                errors = int((frame["error"] != "").sum())
                flagged = int((frame["flagged"] == True).sum())  # noqa: E712 - None for error rows
                summary.rows += len(frame)
                summary.errors += errors
                summary.scored += len(frame) - errors
                summary.flagged += flagged
                per = summary.sources.setdefault(
                    source.path, dict.fromkeys(("rows", "scored", "flagged", "errors"), 0)
                )
                per["rows"] += len(frame)
                per["scored"] += len(frame) - errors
                per["flagged"] += flagged
                per["errors"] += errors
                if source.encoding:
                    summary.encodings[source.path] = source.encoding
                whole = frame
                if only_flagged:
                    frame = frame[(frame["flagged"] == True) | (frame["error"] != "")]  # noqa: E712
                if spool is not None:
                    first_key = summary.rows - len(whole)  # rows of the whole run before this chunk
                    campaigns.add(records, whole, first_key, min_score=threshold * REASONS_FROM)
                    spool.put(frame, whole, first_key)
                else:
                    writer.write(frame, columns_from=whole)
                summary.written += len(frame)
                if bar is not None:
                    bar.advance(source, position, summary.rows)
            if spool is not None:  # the second pass: the output, with each row's campaign
                campaigns.result = campaigns.cluster()
                for frame, columns_from, first_key in spool.frames():
                    frame["campaign"] = campaigns.result.column(first_key + frame.index.to_numpy())
                    writer.write(frame, columns_from=columns_from)
        if bar is not None:
            bar.finish(summary.rows)
    except KeyboardInterrupt:
        raise Interrupted(_interrupted(output, writer)) from None
    finally:
        if bar is not None:
            bar.close()
    summary.seconds = time.perf_counter() - start
    summary.dropped_meta = dict(writer.dropped_meta)
    for source in sources:  # filled once a --by-file folder has been read
        for reason, count in getattr(source, "skipped", {}).items():
            summary.skipped[reason] = summary.skipped.get(reason, 0) + count
    return summary


class _Spool:
    """Scored chunks kept on disk until their campaigns are known (one chunk in memory at a time).

    A temporary file beside the output (or in the system's temporary folder for standard
    output), deleted when closed, whatever happened.
    """

    def __init__(self, output):
        folder = None if output is None or str(output) == "-" else Path(output).parent
        if folder is not None and not folder.is_dir():  # the writer makes it later
            folder = None
        self._fh = tempfile.TemporaryFile(prefix=".campaigns-spool.", dir=folder)
        self._first = True

    def put(self, frame: pd.DataFrame, whole: pd.DataFrame, first_key: int) -> None:
        # the first chunk's unfiltered meta fixes the output's meta columns (see FrameWriter.write)
        columns_from = None
        if self._first:
            columns_from = whole.drop(columns=[c for c in whole if c not in (META_COLUMN,)])
            self._first = False
        pickle.dump((frame, columns_from, first_key), self._fh, protocol=pickle.HIGHEST_PROTOCOL)

    def frames(self) -> Iterator[tuple[pd.DataFrame, pd.DataFrame | None, int]]:
        self._fh.seek(0)
        while True:
            try:
                frame, columns_from, first_key = pickle.load(self._fh)
            except EOFError:
                return
            yield frame.copy(), columns_from, first_key

    def close(self) -> None:
        self._fh.close()


_SIZED_FORMATS = frozenset({"txt", "csv", "tsv", "jsonl"})


class _Progress:
    """The progress bar of :func:`score_files`: by bytes when the inputs' sizes are known, else by messages."""

    def __init__(self, sources: list[Input]):
        from tqdm import tqdm

        sizes = _input_sizes(sources)
        self.offsets = {}
        if sizes is None:
            self.bar = tqdm(
                unit=" msg", unit_scale=True, file=sys.stderr, dynamic_ncols=True, mininterval=0.5
            )
            self.sizes = None
            return
        done = 0
        for source, size in zip(sources, sizes, strict=True):
            self.offsets[id(source)] = (done, size)
            done += size
        self.sizes = sizes
        self.bar = tqdm(
            total=done, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr, dynamic_ncols=True,
            mininterval=0.5,
        )  # fmt: skip

    def advance(self, source: Input, position: int | None, rows: int) -> None:
        if self.sizes is None:
            self.bar.update(rows - self.bar.n)
            return
        before, size = self.offsets[id(source)]
        read = size if position is None else min(position, size)  # None: the file was read to its end
        self.bar.set_postfix_str(f"{rows:,} msg", refresh=False)
        self.bar.update(max(0, before + read - self.bar.n))

    def finish(self, rows: int) -> None:
        if self.sizes is None:
            self.bar.update(rows - self.bar.n)
            return
        self.bar.set_postfix_str(f"{rows:,} msg", refresh=False)
        self.bar.update(self.bar.total - self.bar.n)

    def close(self) -> None:
        self.bar.close()


def _input_sizes(sources: list[Input]) -> list[int] | None:
    """Each input's size in bytes, or None unless every input is a regular file read as a stream."""
    sizes = []
    for source in sources:
        if source.by_file or source.format not in _SIZED_FORMATS or one_pass(source.path):
            return None
        try:
            sizes.append(os.stat(source.path).st_size)
        except OSError:
            return None
    return sizes if sum(sizes) > 0 else None


def check_summary_path(path, inputs, output) -> None:
    """Refuse a ``--summary-json`` file that is an input, the output, or in the project's folders.

    Raises
    ------
    InputError
    """
    if path is None:
        return
    if output is not None and str(output) != "-":
        resolved, out = Path(path).resolve(), Path(output).resolve()
        if resolved == out:
            raise InputError(f"--summary-json is the -o file {output}; write the summary to another file")
        if out in resolved.parents:  # a Dask output folder holds its parts and nothing else
            raise InputError(f"--summary-json is inside the output folder {output}; write it elsewhere")
    check_output(path, expand_inputs(inputs), option="--summary-json")


def summary_record(summary: ScoreSummary, *, model_version: str, threshold: float, output, fmt: str) -> dict:
    """What ``score --summary-json FILE`` writes: the run's counts, per input, model and seconds."""
    return {
        "model": str(model_version),
        "threshold": threshold,
        "output": "-" if output is None else str(output),
        "format": fmt,
        "rows": summary.rows,
        "scored": summary.scored,
        "flagged": summary.flagged,
        "errors": summary.errors,
        "written": summary.written,
        "seconds": round(summary.seconds, 3),
        "too_many_errors": summary.too_many_errors,
        "inputs": summary.sources,
        "encodings": summary.encodings,
        "skipped": summary.skipped,
    }


def write_summary(summary: ScoreSummary, path, **record) -> None:
    """Write :func:`summary_record` as JSON to ``path``, atomically (``record``: its keyword arguments)."""
    import json

    from .writers import atomic_text_output

    with atomic_text_output(path) as fh:
        fh.write(json.dumps(summary_record(summary, **record), indent=2, ensure_ascii=False) + "\n")


def _interrupted(output, writer: FrameWriter) -> str:
    """What an interrupted run wrote, truthfully."""
    if output is not None and str(output) != "-":
        return f"Interrupted; no output file was written ({output})"
    text = f"Interrupted; {writer.rows:,} rows were written to stdout before the interrupt"
    if writer.partial:
        text += f", and part of the next {writer.partial:,} (the last line may be cut short)"
    return text
