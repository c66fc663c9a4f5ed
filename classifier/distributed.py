"""Score inputs on a Dask cluster: ``coercion-classifier score INPUT... --engine dask -o OUTDIR``.

The same readers, the same chunks and the same compiled scorer as the local engine
(:mod:`classifier.scoring`) run inside Dask tasks, so every row, error, truncation flag
and score is identical; only the work is spread over the cluster's workers.

* **Partitions.** An uncompressed txt or jsonl file larger than the block size, in an
  encoding where line breaks are single bytes (UTF-8, cp1251, KOI8), is cut into byte
  ranges at line starts. Row numbers must be those of the whole file, so the graph
  first counts the lines of every block (cheap tasks), then each scoring task gets its
  first row number from the counts of the blocks before it. A parquet file is cut at
  row groups (numbered from the file's metadata). CSV (quoted fields may span lines),
  gzip, UTF-16/32 and ``--by-file`` folders are one partition each.
* **The model** goes to every worker once: the bytes of ``scorer.npz`` with the SHA-256
  from the model card, scattered with ``broadcast=True``. Each worker process checks
  the SHA-256 before loading the arrays (plain numpy, no pickle), and keeps the
  loaded scorer for every later partition.
* **Output.** ``OUTDIR/part-00000.parquet`` (or ``.csv``, ``.jsonl``), one per
  partition, in input order, and ``OUTDIR/_summary.json``. Workers write their parts
  themselves, so the inputs and ``OUTDIR`` must be on a file system that every worker
  sees at the same path. Parts are written atomically, so a partition that Dask runs
  again (its worker died) simply replaces its part. The whole folder is built under a
  hidden sibling name and renamed to ``OUTDIR`` only when complete.

Dask is an optional dependency (``pip install '.[dask]'``); this module imports it only
when a run starts.
"""

from __future__ import annotations

import codecs
import contextlib
import copy
import hashlib
import io
import json
import os
import re
import shutil
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._files import default_mode, fsync_dir
from .errors import ClassifierError, ClusterError, InputError, ModelIntegrityError
from .readers import (
    _GZIP_MAGIC,
    _SAMPLE,
    CHAT_FORMATS,
    Input,
    detect_encoding,
    detect_format,
    expand_inputs,
    one_pass,
    read_part,
)
from .scoring import CHUNK_SIZE, ScoreSummary, _chunks, _frame, _score_batch, check_id_column, output_columns
from .writers import OUTPUT_FORMATS, FrameWriter, check_output

# Bytes of text per partition: about 100,000 messages, some seconds of work per task,
# and few enough tasks that the scheduler's per-task overhead does not matter.
BLOCK_SIZE = 32 << 20
SUMMARY_FILE = "_summary.json"  # "_" so that pandas/pyarrow/Dask read OUTDIR as one table
CONNECT_TIMEOUT = 10  # seconds to reach a scheduler, and to wait for its first worker
# Line breaks are single bytes that never occur inside a character in these encodings.
SPLITTABLE_ENCODINGS = frozenset({"utf-8", "utf-8-sig", "cp1251", "koi8-u", "koi8-r"})
INSTALL_HINT = "pip install '.[dask]' (or 'coercion-classifier[dask]')"


# --- options checked before any work ---------------------------------------------------


def check_request(
    engine, inputs, output, *, scheduler=None, overwrite=False, out_format=None, id_column=None
) -> None:
    """Refuse a ``score`` command line that cannot run, before any input is read.

    Parameters
    ----------
    engine : {"local", "dask"}
    inputs : list of str
    output : str or None
        The output file (local) or folder (dask).
    scheduler : str, optional
    overwrite : bool, default=False
    out_format : str, optional
    id_column : str, optional

    Raises
    ------
    InputError
        Dask-only options without ``--engine dask``, no ``-o``, standard input or a
        pipe or FIFO, an input inside the output folder, an output that is an input or
        lies inside an input folder, an output folder that exists and is not empty
        (without ``overwrite``), an id column named like an output column.
    ClusterError
        Dask is not installed.
    """
    check_id_column(id_column)
    if engine != "dask":
        if scheduler or overwrite:
            raise InputError("--scheduler and --overwrite need --engine dask")
        if output and output != "-" and Path(output).is_dir():
            raise InputError(f"{output} is a folder; pass a file with -o, or --engine dask to write a folder")
        check_output(output, expand_inputs(inputs))
        return
    if not output or output == "-":
        raise InputError("--engine dask writes a folder of parts: pass -o OUTDIR")
    if "-" in inputs:
        raise InputError("--engine dask cannot read standard input (the workers read the files); pass paths")
    for path in expand_inputs(inputs):
        if one_pass(path):
            raise InputError(
                f"{path}: --engine dask cannot read a pipe or FIFO (the workers read files); save it first"
            )
    _require_dask()
    if (out_format or "parquet") == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise InputError(
                "parquet output needs pyarrow: pip install '.[dask]', or pass --format csv"
            ) from None
    _check_outdir(Path(output), overwrite)
    check_output(output, expand_inputs(inputs))
    out = Path(output).resolve()
    for path in expand_inputs(inputs):
        if out in Path(path).resolve().parents:  # --overwrite would delete it after the run
            raise InputError(f"{path} is inside the output folder {output}; write the output elsewhere")
    _check_replaceable(Path(output))


def _require_dask():
    try:
        import distributed
    except ImportError:
        raise ClusterError(f"--engine dask needs Dask, which is not installed: {INSTALL_HINT}") from None
    return distributed


def _check_outdir(outdir: Path, overwrite: bool) -> None:
    if outdir.exists() and not outdir.is_dir():
        raise InputError(f"{outdir} is a file; --engine dask writes a folder: pass a folder path with -o")
    if outdir.is_dir() and any(outdir.iterdir()) and not overwrite:
        raise InputError(
            f"{outdir} exists and is not empty; pass --overwrite to replace it once the new run completes"
        )


def _check_replaceable(outdir: Path) -> None:
    if outdir.is_dir() and any(outdir.iterdir()) and not _is_earlier_output(outdir):
        # --overwrite removes the old folder: only ever one that a run of ours wrote
        raise InputError(
            f"{outdir} is not the output of an earlier `score --engine dask` run (it has no {SUMMARY_FILE} "
            "or holds other files); --overwrite replaces only such a folder: choose another -o"
        )


def _is_earlier_output(folder: Path) -> bool:
    """A folder holding ``_summary.json`` and nothing but parts (and hidden leftovers)."""
    names = [entry.name for entry in folder.iterdir()]
    return SUMMARY_FILE in names and all(
        name == SUMMARY_FILE
        or name.startswith(".")
        or (name.startswith("part-") and (folder / name).is_file())
        for name in names
    )


# --- partitions -------------------------------------------------------------------------


@dataclass(frozen=True)
class ReadOptions:
    """How every input is read (the ``score`` options that concern reading)."""

    fmt: str | None = None
    encoding: str | None = None
    text_column: str = "text"
    id_column: str | None = None
    by_file: bool = False

    def open(self, path) -> Input:
        """The :class:`~classifier.readers.Input` for ``path`` with these options."""
        return Input(
            path,
            fmt=self.fmt,
            encoding=self.encoding,
            text_column=self.text_column,
            id_column=self.id_column,
            by_file=self.by_file,
        )


@dataclass(frozen=True)
class Partition:
    """One unit of work: a whole input, a byte range of one, or some of its row groups.

    Attributes
    ----------
    index : int
        Position in the output (``part-<index>``): partitions are in input order.
    path : str
        Absolute path, opened by the workers.
    source : str
        The path as given, written in the ``source`` column (as the local engine does).
    block : tuple of (int, int), optional
        Bytes ``[start, stop)`` of the file; the partition reads the lines that start in it.
    block_no : int
        Which block of its file this is (0 for the first).
    encoding : str, optional
        The whole file's encoding, for ``block``.
    row_groups : tuple of int, optional
        Parquet row groups.
    first_row : int
        Row number of the first record (for ``row_groups``; blocks learn theirs from the
        line counts of the blocks before them).
    """

    index: int
    path: str
    source: str
    block: tuple[int, int] | None = None
    block_no: int = 0
    encoding: str | None = None
    row_groups: tuple[int, ...] | None = None
    first_row: int = 1


def plan_partitions(paths, options: ReadOptions, block_size: int = BLOCK_SIZE) -> list[Partition]:
    """Cut inputs into partitions, in input order.

    Parameters
    ----------
    paths : list of str
        Inputs (files, or folders with ``options.by_file``), globs already expanded.
    options : ReadOptions
    block_size : int
        Bytes (txt, jsonl) or compressed bytes (parquet row groups) per partition.

    Returns
    -------
    list of Partition

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "m.txt")
    >>> _ = open(p, "w", encoding="utf-8").write("мамо\\n" * 100)
    >>> [part.block for part in plan_partitions([p], ReadOptions(), block_size=400)]
    [(0, 400), (400, 800), (800, 900)]
    """
    parts: list[Partition] = []

    def add(path, **kw):
        parts.append(Partition(len(parts), os.path.abspath(path), path, **kw))

    for path in paths:
        fmt = "by-file" if options.by_file else detect_format(path, options.fmt)
        if fmt in CHAT_FORMATS:  # one document: no parts, and the workers do not count skipped lines
            raise InputError(
                f"{path}: --engine dask does not read {fmt} exports; score them without --engine dask"
            )
        if fmt in ("txt", "jsonl"):
            size = os.path.getsize(path)
            encoding = _splittable_encoding(path, options.encoding) if size > block_size else None
            if encoding is None:
                add(path)
                continue
            for n, start in enumerate(range(0, size, block_size)):
                add(path, block=(start, min(start + block_size, size)), block_no=n, encoding=encoding)
        elif fmt == "parquet":
            groups = _row_group_runs(path, block_size)
            if len(groups) <= 1:
                add(path)
                continue
            for first_row, run in groups:
                add(path, row_groups=run, first_row=first_row)
        else:  # csv/tsv: a quoted field may span lines; by-file: one folder
            add(path)
    return parts


def auto_block_size(paths, threads: int) -> int:
    """Bytes per partition: :data:`BLOCK_SIZE`, or less so that every worker thread gets work.

    With at least four partitions per thread, a slow or restarted worker delays the end
    of the run by a small fraction; never below 1 MiB, where per-task overhead would show.
    """
    total = sum(os.path.getsize(p) for p in paths if os.path.isfile(p))
    return int(min(BLOCK_SIZE, max(1 << 20, total // (4 * max(1, threads)))))


def _splittable_encoding(path: str, given: str | None) -> str | None:
    """The file's encoding if it can be cut at line starts, else None (gzip, UTF-16/32)."""
    with open(path, "rb") as fh:
        sample = fh.read(_SAMPLE)
    if sample.startswith(_GZIP_MAGIC):
        return None
    encoding = given or detect_encoding(sample)  # as readers.Input.records() decides it
    return encoding if codecs.lookup(encoding).name in SPLITTABLE_ENCODINGS else None


def _row_group_runs(path: str, block_size: int) -> list[tuple[int, tuple[int, ...]]]:
    """Consecutive row groups of about ``block_size`` bytes, with their first row number."""
    try:
        import pyarrow.parquet as pq

        meta = pq.ParquetFile(path).metadata
    except Exception:  # unreadable or no pyarrow: one partition, whose reader says why
        return []
    runs, run, size, first, row = [], [], 0, 1, 1
    for i in range(meta.num_row_groups):
        group = meta.row_group(i)
        if run and size + group.total_byte_size > block_size:
            runs.append((first, tuple(run)))
            run, size, first = [], 0, row
        run.append(i)
        size += group.total_byte_size
        row += group.num_rows
    if run:
        runs.append((first, tuple(run)))
    return runs


# --- line arithmetic (runs in the line-count tasks) --------------------------------------

# Lines end as readers._lines sees them (universal newlines): "\r\n", "\n" or a lone "\r".
_BREAK = re.compile(rb"\r\n|\n|\r")
_PIECE = 1 << 22


def _line_start(fh, pos: int, size: int) -> int:
    """The first line start at or after byte ``pos`` (``size`` if none)."""
    if pos <= 0:
        return 0
    if pos >= size:
        return size
    fh.seek(pos - 1)  # a line starts at pos if the byte before it ends a line
    offset = pos - 1
    while piece := fh.read(1 << 16):
        match = _BREAK.search(piece)
        if match:
            end = offset + match.end()
            if match.group() == b"\r" and match.end() == len(piece) and fh.read(1) == b"\n":
                end += 1  # the piece cut a "\r\n" in two
            return end
        offset += len(piece)
    return size


def count_block(path: str, block: tuple[int, int]) -> tuple[int, int, int]:
    """Align a block to line starts and count its lines.

    The readers never split a ``"\\r\\n"`` pair, and read a line longer than their
    cap as one record, so the lines counted here are the block's records.

    Parameters
    ----------
    path : str
    block : (int, int)
        Bytes ``[start, stop)``.

    Returns
    -------
    (begin, end, lines)
        The block's lines are the bytes ``[begin, end)``; both are line starts, and
        the next block begins at ``end``.
    """
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        begin, end = _line_start(fh, block[0], size), _line_start(fh, block[1], size)
        fh.seek(begin)
        left = end - begin
        lines = 0
        prev_cr = False
        last = 0
        while left > 0:
            piece = fh.read(min(_PIECE, left))
            if not piece:
                break
            left -= len(piece)
            a = np.frombuffer(piece, dtype=np.uint8)
            lf, cr = a == 10, a == 13
            pairs = int(np.count_nonzero(cr[:-1] & lf[1:])) + int(prev_cr and lf[0])
            lines += int(np.count_nonzero(lf)) + int(np.count_nonzero(cr)) - pairs
            prev_cr, last = bool(cr[-1]), int(a[-1])
        if end > begin and last not in (10, 13):
            lines += 1  # the file's last line has no line break
    return begin, end, lines


def _first_rows(*counts) -> list[tuple[int, int, int]]:
    """``(begin, end, first_row)`` of each block of one file, from the blocks' counts."""
    out, row = [], 1
    for begin, end, lines in counts:
        out.append((begin, end, row))
        row += lines
    return out


# --- the model on the workers ---------------------------------------------------------------


@dataclass(frozen=True)
class ModelBlob:
    """What a worker needs to score: the scorer's ``.npz`` bytes and their expected SHA-256."""

    version: str
    sha256: str
    npz: bytes = field(repr=False)


def model_blob(model) -> ModelBlob:
    """The scorer arrays of ``model`` as bytes, with the SHA-256 its model card promises.

    For a registered model, the bytes of ``scorer.npz`` and the card's
    ``scorer_sha256``: a worker that receives anything else refuses it. A model built
    in memory (not registered) is saved to bytes and hashed here.
    """
    scorer_file = model.card.get("scorer_file")
    if scorer_file and model.card.get("scorer_sha256") and model._pipeline is None:
        return ModelBlob(
            str(model.version), model.card["scorer_sha256"], (model.path / scorer_file).read_bytes()
        )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scorer.npz"
        model.scorer.save(path)
        data = path.read_bytes()
    return ModelBlob(str(model.version), hashlib.sha256(data).hexdigest(), data)


_scorers: dict = {}  # SHA-256 -> LinearScorer, verified once per worker process
_scorers_lock = threading.Lock()
_thread = threading.local()
LOADS: Counter = Counter()  # SHA-256 -> times verified and loaded in this process (for tests)


def worker_scorer(blob: ModelBlob):
    """The scorer for ``blob`` in this process: checked and loaded on first use, then cached.

    Raises
    ------
    ModelIntegrityError
        The bytes do not match the SHA-256 of the model card.
    """
    mine = getattr(_thread, "scorers", None)
    if mine is None:
        mine = _thread.scorers = {}
    if blob.sha256 in mine:
        return mine[blob.sha256]
    with _scorers_lock:
        scorer = _scorers.get(blob.sha256)
        if scorer is None:
            actual = hashlib.sha256(blob.npz).hexdigest()
            if actual != blob.sha256:
                raise ModelIntegrityError(
                    f"model {blob.version}: the scorer received on {socket.gethostname()} does not match its "
                    f"model card (SHA-256 {actual[:12]}... vs {blob.sha256[:12]}...); refusing to score with it"
                )
            from .scorer import LinearScorer

            if len(_scorers) >= 4:  # a long-lived cluster serving many models: keep a few
                _scorers.clear()
            scorer = _scorers[blob.sha256] = LinearScorer.load(io.BytesIO(blob.npz))
            LOADS[blob.sha256] += 1
    # Each thread gets its own copy: the arrays are shared, the scratch space is not.
    mine[blob.sha256] = copy.copy(scorer)
    return mine[blob.sha256]


# --- the task that scores one partition -------------------------------------------------------


def part_name(index: int, count: int, fmt: str) -> str:
    """``part-00000.parquet``: zero-padded so that names sort in input order."""
    return f"part-{index:0{max(5, len(str(count - 1)))}d}.{fmt}"


@dataclass(frozen=True)
class _Job:
    """Everything a scoring task needs besides its partition and the model."""

    options: ReadOptions
    threshold: float
    folder: str
    out_format: str
    count: int
    only_flagged: bool
    chunk_size: int
    report: tuple | None = None  # (model version, top_n, max_text) of ``score --report``
    date_key: str | None = None  # campaigns: the meta key of dates; None: no campaigns


def score_partition(part: Partition, layout, blob: ModelBlob, job: _Job) -> dict:
    """Score one partition into its part file (runs on a worker).

    Parameters
    ----------
    part : Partition
    layout : list of (begin, end, first_row), optional
        For a byte-range partition: every block of its file, aligned and numbered.
    blob : ModelBlob
    job : _Job

    Returns
    -------
    dict
        ``index``, ``source``, ``encoding``, ``file`` and the counts ``rows``,
        ``scored``, ``flagged``, ``errors``, ``written``.
    """
    _visible(part.path)
    scorer = worker_scorer(blob)
    source = job.options.open(part.path)
    if part.block is not None:
        begin, end, first_row = layout[part.block_no]
        records = read_part(source, first_row=first_row, byte_range=(begin, end), encoding=part.encoding)
    elif part.row_groups is not None:
        records = read_part(source, first_row=part.first_row, row_groups=part.row_groups)
    else:
        records = read_part(source)
    counts = dict.fromkeys(("rows", "scored", "flagged", "errors", "written"), 0)
    report = None
    if job.report is not None:
        from .batch_report import BatchReport

        version, top_n, max_text = job.report
        report = BatchReport(threshold=job.threshold, model_version=version, top_n=top_n, max_text=max_text)
    grouper = None
    if job.date_key is not None:
        from .campaigns import CampaignGrouper
        from .scoring import REASONS_FROM

        grouper = CampaignGrouper(date_key=job.date_key)
    name = part_name(part.index, job.count, job.out_format)
    id_column = job.options.id_column
    # Checked last: after a failed run the client removes the folder, and a task that
    # starts late must not create it again (the writer makes missing parent folders).
    _visible(job.folder)
    with FrameWriter(os.path.join(job.folder, name), job.out_format, output_columns(id_column)) as writer:
        for chunk, texts in _chunks(records, job.chunk_size):
            for record in chunk:
                if record.source:  # by-file: name the .txt file under the folder as given
                    record.source = str(Path(part.source) / Path(record.source).name)
            # the local engine's own steps: same languages, scores, reasons, columns
            frame = _frame(
                chunk, _score_batch(scorer, job.threshold, texts), part.source, id_column, job.threshold
            )
            if report is not None:
                report.add(part.source, chunk, frame)
            if grouper is not None:  # keys count this partition's rows; the client shifts them
                grouper.add(chunk, frame, counts["rows"], min_score=job.threshold * REASONS_FROM)
            errors = int((frame["error"] != "").sum())
            counts["rows"] += len(frame)
            counts["errors"] += errors
            counts["scored"] += len(frame) - errors
            counts["flagged"] += int((frame["flagged"] == True).sum())  # noqa: E712 - None on errors
            if job.only_flagged:
                frame = frame[(frame["flagged"] == True) | (frame["error"] != "")]  # noqa: E712
            if len(frame):
                writer.write(frame)
                counts["written"] += len(frame)
        if counts["written"] == 0 and job.out_format == "csv":  # an empty CSV part still gets its header
            writer.write(_frame([], ([], np.zeros(0), []), part.source, id_column, job.threshold))
    result = {"index": part.index, "source": part.source, "encoding": source.encoding, "file": name, **counts}
    return {**result, "report": report, "campaigns": grouper}


def _visible(path: str) -> None:
    if not os.path.exists(path):
        raise InputError(
            f"{path}: not found on worker {socket.gethostname()}; --engine dask needs the inputs and "
            "the output folder on a file system every worker sees at the same path"
        )


# --- the run, on the client -----------------------------------------------------------------


@dataclass
class DistributedSummary(ScoreSummary):
    """Counts from one Dask run: those of :class:`~classifier.scoring.ScoreSummary`, and more."""

    partitions: int = 0
    workers: int = 0
    outdir: str = ""
    sources: dict = field(default_factory=dict)

    def line(self) -> str:
        return f"{super().line()}; {self.partitions:,} partitions on {self.workers} Dask workers -> {self.outdir}"


@contextlib.contextmanager
def connect(scheduler: str | None = None, workers: int | None = None):
    """A Dask client: to ``scheduler``, or to a new ``LocalCluster`` of ``workers`` processes.

    Parameters
    ----------
    scheduler : str, optional
        ``tcp://HOST:PORT`` of a running scheduler.
    workers : int, optional
        Worker processes of the local cluster (one thread each: scoring holds the
        GIL). Default: one per core.

    Yields
    ------
    distributed.Client

    Raises
    ------
    ClusterError
        Dask missing, or no scheduler (or no worker) answers at the address.
    """
    distributed = _require_dask()
    with contextlib.ExitStack() as stack:
        if scheduler:
            try:
                client = stack.enter_context(distributed.Client(scheduler, timeout=CONNECT_TIMEOUT))
            except Exception as exc:
                raise ClusterError(
                    f"cannot reach the Dask scheduler at {scheduler} ({_one_line(exc)}); "
                    "check --scheduler tcp://HOST:PORT, or leave it out to use a local cluster"
                ) from None
            try:
                client.wait_for_workers(1, timeout=CONNECT_TIMEOUT)
            except Exception:
                raise ClusterError(
                    f"the Dask scheduler at {scheduler} has no workers after {CONNECT_TIMEOUT} s; start some "
                    f"with 'dask worker {scheduler}'"
                ) from None
        else:
            try:
                cluster = stack.enter_context(
                    distributed.LocalCluster(
                        n_workers=workers or os.cpu_count() or 1,
                        threads_per_worker=1,
                        processes=True,
                        dashboard_address=None,
                    )
                )
                client = stack.enter_context(distributed.Client(cluster))
            except Exception as exc:
                raise ClusterError(f"cannot start a local Dask cluster ({_one_line(exc)})") from None
        _check_workers(client)
        yield client


def _worker_version() -> str:
    from . import __version__

    return __version__


def _check_workers(client) -> None:
    """Refuse workers that cannot import this package, or run another version of it."""
    from . import __version__

    try:
        versions = client.run(_worker_version)
    except Exception as exc:
        raise ClusterError(
            f"the Dask workers cannot run coercion-classifier ({_one_line(exc)}); install version "
            f"{__version__} on every worker"
        ) from None
    other = sorted({v for v in versions.values() if v != __version__})
    if other:
        raise ClusterError(
            f"some Dask workers run coercion-classifier {', '.join(other)}, this is {__version__}; "
            "install the same version on every worker"
        )


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]


def score_distributed(
    inputs,
    outdir,
    model=None,
    *,
    client=None,
    scheduler: str | None = None,
    jobs: int | None = None,
    out_format: str | None = None,
    in_format: str | None = None,
    encoding: str | None = None,
    text_column: str = "text",
    id_column: str | None = None,
    by_file: bool = False,
    threshold: float | None = None,
    only_flagged: bool = False,
    overwrite: bool = False,
    progress: bool = False,
    block_size: int | None = None,
    chunk_size: int = CHUNK_SIZE,
    checked: bool = False,
    collector=None,
    max_errors: int | None = None,
    campaigns=None,
) -> DistributedSummary:
    """Score inputs on a Dask cluster into a folder of parts (what ``score --engine dask`` runs).

    Parameters
    ----------
    inputs : list of str
        Files, globs or (with ``by_file``) folders; not standard input.
    outdir : path-like
        The output folder: ``part-NNNNN.<format>`` per partition, in input order, and
        ``_summary.json``. It appears only when the run completes.
    model : LoadedModel, optional
        Default: the current model of the registry.
    client : distributed.Client, optional
        Use this client (and its cluster); otherwise connect to ``scheduler``, or
        start a ``LocalCluster`` of ``jobs`` worker processes for this run.
    scheduler : str, optional
        ``tcp://HOST:PORT`` of a running Dask scheduler.
    jobs : int, optional
        Workers of the local cluster (default: one per core); unused with a scheduler.
    out_format : {"parquet", "csv", "jsonl"}, default "parquet"
    in_format, encoding, text_column, id_column, by_file, threshold, only_flagged, chunk_size
        As in :func:`classifier.scoring.score_files`.
    overwrite : bool, default=False
        Replace an existing, non-empty ``outdir`` (once the new one is complete).
    block_size : int, optional
        Bytes of txt/jsonl (or parquet row groups) per partition. Default:
        :func:`auto_block_size` for the cluster.
    checked : bool, default=False
        The caller already checked the inputs (exist, format, text column).
    collector : classifier.batch_report.BatchReport, optional
        Gets every partition's report merged in, in input order (``score --report``).
    max_errors : int, optional
        As in :func:`classifier.scoring.score_files`.
    campaigns : classifier.campaigns.CampaignGrouper, optional
        As in :func:`classifier.scoring.score_files`: workers collect their grouped
        rows, the client merges them in partition order (keys shifted by the rows of
        the partitions before), clusters them and rewrites every part once, adding
        the ``campaign`` column (each part to a temporary file, then renamed); the ids
        are those of the local engine.

    Returns
    -------
    DistributedSummary

    Examples
    --------
    >>> summary = score_distributed(["dumps/*.jsonl"], "scored/", scheduler="tcp://10.0.0.5:8786")  # doctest: +SKIP
    """
    from .scoring import _default_model

    out_format = out_format or "parquet"
    if out_format not in OUTPUT_FORMATS:
        raise InputError(f"unknown output format {out_format!r}; use csv, jsonl or parquet")
    shown, outdir = str(outdir), Path(outdir).resolve()  # "." and "x/.." have no usable name
    paths = expand_inputs(inputs)
    check_request("dask", paths, shown, overwrite=overwrite, out_format=out_format, id_column=id_column)
    options = ReadOptions(in_format, encoding, text_column, id_column, by_file)
    if not checked:
        for path in paths:
            options.open(path).check()
    model = _default_model(model)
    threshold = model.threshold if threshold is None else threshold
    blob = model_blob(model)
    start = time.perf_counter()
    outdir.parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.tmp-", dir=outdir.parent)).resolve()
    try:
        os.chmod(folder, default_mode(directory=True))  # mkdtemp makes 0700 folders
        with contextlib.ExitStack() as stack:
            if client is None:
                client = stack.enter_context(connect(scheduler, jobs))
            threads = client.nthreads()
            parts = plan_partitions(
                paths, options, block_size or auto_block_size(paths, sum(threads.values()))
            )
            job = _Job(
                options,
                threshold,
                str(folder),
                out_format,
                len(parts),
                only_flagged,
                chunk_size,
                None if collector is None else (str(model.version), collector.top_n, collector.max_text),
                None if campaigns is None else campaigns.date_key,
            )
            results = _run(client, parts, blob, job, progress)
            n_workers = len(threads)
        if collector is not None:
            for result in results:  # in partition order, which is input order
                collector.merge(result["report"])
        if campaigns is not None:
            _fill_campaigns(folder, results, campaigns, out_format)
        summary = _summarize(results, shown, n_workers)
        summary.max_errors = max_errors
        summary.seconds = time.perf_counter() - start
        _write_summary(
            folder / SUMMARY_FILE,
            summary,
            results,
            model,
            threshold,
            out_format,
            id_column,
            campaigns is not None,
        )
        _keep_only(folder, {r["file"] for r in results} | {SUMMARY_FILE})
        _publish(folder, outdir)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return summary


def _run(client, parts: list[Partition], blob: ModelBlob, job: _Job, progress: bool) -> list[dict]:
    """Submit the graph (line counts, first rows, scoring) and wait for every partition."""
    distributed = _require_dask()
    run = uuid.uuid4().hex[:8]
    # once per worker, not once per partition; a key of its own, so that releasing it at the
    # end cannot race with the next run's scatter of the same model
    model = client.scatter(blob, broadcast=True, hash=False)
    futures, layouts = [], {}
    for part in parts:
        layout = None
        if part.block is not None:
            first = part.index - part.block_no  # a file's blocks are consecutive partitions
            if first not in layouts:
                n = 1
                while first + n < len(parts) and parts[first + n].block_no == n:
                    n += 1
                blocks = parts[first : first + n]
                counts = [
                    client.submit(count_block, p.path, p.block, key=f"count-{run}-{p.index}") for p in blocks
                ]
                layouts[first] = client.submit(_first_rows, *counts, key=f"rows-{run}-{part.index}")
            layout = layouts[first]
        futures.append(
            client.submit(score_partition, part, layout, model, job, key=f"score-{run}-{part.index:06d}")
        )
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(parts), unit=" part", file=sys.stderr, dynamic_ncols=True)
    results: list[dict] = [{}] * len(parts)
    try:
        for future in distributed.as_completed(futures):
            try:
                result = future.result()
            except ClassifierError:
                raise
            except distributed.KilledWorker as exc:
                raise ClusterError(
                    f"task {exc.task!r} ran on {exc.allowed_failures + 1} workers and each died while "
                    "running it (out of memory?); see the workers' logs"
                ) from None
            except Exception as exc:  # lost scheduler, or a bug: the worker's log has the traceback
                raise ClusterError(
                    f"the Dask run failed ({type(exc).__name__}: {_one_line(exc)}); see the workers' logs"
                ) from None
            results[result["index"]] = result
            if bar is not None:
                bar.update(1)
    except BaseException:
        client.cancel([*futures, *layouts.values()], force=True)
        raise
    finally:
        if bar is not None:
            bar.close()
        model.release()  # frees the model's memory on the workers
    return results


def _summarize(results, outdir: str, n_workers: int) -> DistributedSummary:
    summary = DistributedSummary(partitions=len(results), workers=n_workers, outdir=outdir)
    for r in results:
        for key in ("rows", "scored", "flagged", "errors", "written"):
            setattr(summary, key, getattr(summary, key) + r[key])
        per = summary.sources.setdefault(
            r["source"], dict.fromkeys(("rows", "scored", "flagged", "errors"), 0)
        )
        for key in ("rows", "scored", "flagged", "errors"):
            per[key] += r[key]
        per["partitions"] = per.get("partitions", 0) + 1
        if r["encoding"]:
            per["encoding"] = summary.encodings[r["source"]] = r["encoding"]
    return summary


def _fill_campaigns(folder: Path, results: list[dict], grouper, out_format: str) -> None:
    """Cluster the partitions' grouped rows and add the ``campaign`` column to every part.

    A part's rows are matched by (source, row), which identify a row within a
    partition, so that ``--only-flagged`` parts (a subset of the rows) are filled too.
    """
    offset = 0
    for r in results:  # partition order is input order: keys as the local engine counts them
        r["offset"] = offset
        grouper.merge(r["campaigns"], offset)
        offset += r["rows"]
    grouper.result = grouper.cluster()
    ids = grouper.result.ids
    for r in results:
        part = r.pop("campaigns")
        cells = {
            (src, row): ids[k + r["offset"]]
            for k, (_, _, src, row, *_) in zip(part._keys, part._info, strict=True)
        }
        _add_campaign_column(folder / r["file"], out_format, cells)


def _add_campaign_column(path: Path, fmt: str, cells: dict) -> None:
    """Rewrite one part with ``campaign`` after ``error``, streaming, to a temporary file renamed over it."""
    tmp = path.with_name(f".{path.name}.campaigns.part")
    try:
        if fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            source = pq.ParquetFile(path)
            schema = source.schema_arrow
            at = schema.get_field_index("error") + 1
            schema = schema.insert(at, pa.field("campaign", pa.string()))
            with pq.ParquetWriter(tmp, schema) as out:
                for batch in source.iter_batches():
                    keys = zip(
                        batch.column("source").to_pylist(), batch.column("row").to_pylist(), strict=True
                    )
                    column = pa.array([cells.get(k, "") for k in keys], pa.string())
                    out.write_table(pa.Table.from_batches([batch]).add_column(at, schema.field(at), column))
        elif fmt == "csv":
            import csv

            with (
                open(path, encoding="utf-8", newline="") as src,
                open(tmp, "w", encoding="utf-8", newline="") as dst,
            ):
                reader, writer = csv.reader(src), csv.writer(dst, lineterminator="\n")
                header = next(reader)
                at, s_at, r_at = header.index("error") + 1, header.index("source"), header.index("row")
                writer.writerow([*header[:at], "campaign", *header[at:]])
                for row in reader:  # cells are kept as written (already escaped for spreadsheets)
                    # the source cell may carry the writer's formula guard: ids hold only plain names
                    cell = cells.get((row[s_at], int(row[r_at])), "") or cells.get(
                        (row[s_at][1:], int(row[r_at])), ""
                    )
                    writer.writerow([*row[:at], cell, *row[at:]])
        else:
            with open(path, encoding="utf-8") as src, open(tmp, "w", encoding="utf-8") as dst:
                for line in src:
                    record = json.loads(line)
                    cell = cells.get((record["source"], record["row"]), "")
                    items = list(record.items())
                    at = [k for k, _ in items].index("error") + 1
                    dst.write(
                        json.dumps(dict([*items[:at], ("campaign", cell), *items[at:]]), ensure_ascii=False)
                        + "\n"
                    )
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, default_mode())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_summary(path, summary, results, model, threshold, out_format, id_column, campaign=False) -> None:
    data = {
        "engine": "dask",
        "model": str(model.version),
        "threshold": threshold,
        "format": out_format,
        "columns": output_columns(id_column, campaign=campaign),
        "rows": summary.rows,
        "scored": summary.scored,
        "flagged": summary.flagged,
        "errors": summary.errors,
        "written": summary.written,
        "seconds": round(summary.seconds, 3),
        "partitions": summary.partitions,
        "workers": summary.workers,
        "sources": summary.sources,
        "parts": [{"file": r["file"], "source": r["source"], "rows": r["written"]} for r in results],
    }
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def _keep_only(folder: Path, names: set[str]) -> None:
    """Remove what is not a finished part or the summary, before the folder is published.

    A worker killed while writing its part leaves the hidden temporary file of that
    write (``.part-00003.parquet.*.part``); Dask runs the partition again elsewhere, and
    the leftover must not be published with the complete parts.
    """
    for entry in folder.iterdir():
        if entry.name not in names:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


def _publish(folder: Path, outdir: Path) -> None:
    """Rename the finished folder to ``outdir``; an old ``outdir`` is removed only afterwards."""
    fsync_dir(folder)
    old = None
    if outdir.is_dir() and any(outdir.iterdir()):  # --overwrite, checked before the run
        old = outdir.with_name(f".{outdir.name}.old-{uuid.uuid4().hex[:8]}")
        os.rename(outdir, old)
    try:
        os.rename(folder, outdir)  # over a missing or empty folder
    except OSError as exc:
        if old is not None:
            os.rename(old, outdir)
        raise InputError(f"{outdir}: cannot put the output in place ({_one_line(exc)})") from None
    fsync_dir(outdir.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
