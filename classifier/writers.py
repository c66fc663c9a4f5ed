"""Streaming, atomic output in CSV, JSON Lines or Parquet.

Output goes to a temporary file beside the target and is renamed into place only when
the run completes: an interrupted run (an exception, Ctrl-C, a kill) never leaves a
partial file at the output path, and a previous file there stays whole. A kill -9 can
leave the hidden temporary ``.NAME.*.part`` file behind, never the target.

A write that fails (no space left, a read-only folder) removes the temporary file and
raises :class:`~classifier.errors.OutputError`, a one-line message. :func:`check_output`
refuses, before any work, an output that is one of the inputs (however it is spelled:
symlinks and hard links too) or lies inside an input folder, and an existing file that
the caller may not replace.

CSV is written for people, who open it in a spreadsheet: its text cells go through
:func:`classifier._cells.escape_cell`, so that no cell runs as a formula
(``classifier._cells.unescape_cell`` gives the exact text back). JSON Lines and Parquet
are for programs and hold the exact values.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from ._cells import escape_frame
from ._files import WRITE_ERRNOS, default_mode, write_failure
from .errors import InputError

OUTPUT_FORMATS = ("csv", "jsonl", "parquet")
# A frame column of per-row dicts (Record.meta: kept input columns, chat metadata), which
# the writer spreads into columns of their own; never written under this name.
META_COLUMN = "\0meta"
# The prefix of a kept input column named like one of ours (score -> input_score).
INPUT_PREFIX = "input_"
# Columns whose CSV cells the writer formats itself (numbers, true/false): never text.
_FORMATTED = frozenset({"row", "score", "flagged", "truncated"})


def output_format(path: str | None, fmt: str | None) -> str:
    """The output format: ``fmt`` if given, else from the output file's extension, else csv."""
    if fmt:
        return fmt
    if path and path != "-":
        suffix = Path(path).suffix.lower().lstrip(".")
        return {"jsonl": "jsonl", "ndjson": "jsonl", "parquet": "parquet"}.get(suffix, "csv")
    return "csv"


def _cell(value) -> str | None:
    """A meta value as a text cell (None stays empty)."""
    return value if value is None or isinstance(value, str) else str(value)


def _is_stdout(path) -> bool:
    return path is None or str(path) == "-"


def check_output(output, inputs=(), *, overwrite: bool = True) -> None:
    """Refuse an output that would replace an input or a file the caller may not replace.

    Parameters
    ----------
    output : path-like or None
        The output file (or folder); None or ``-`` is standard output, always fine.
    inputs : iterable of path-like
        Input files (compared by device and inode, so symlinks and hard links count,
        and by resolved path) and folders (``--by-file``, a label store: the output may
        not lie inside them). ``-`` is skipped.
    overwrite : bool, default=True
        False: an existing output is refused too (``suggest``, ``labels audit``: an
        analyst may have filled it in).

    Raises
    ------
    InputError
    """
    if _is_stdout(output):
        return
    out = Path(output)
    try:
        out_id = (lambda st: (st.st_dev, st.st_ino))(os.stat(out))
    except OSError:  # not there yet (or a dangling link): compare resolved paths only
        out_id = None
    resolved = out.resolve()
    for given in inputs:
        if str(given) == "-":
            # standard input redirected from a file (`score - -o F < F`): the same file?
            try:
                st = os.fstat(0)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode) and out_id == (st.st_dev, st.st_ino):
                raise InputError(f"{output} is the file on standard input; write the output to another file")
            continue
        path = Path(given)
        if path.is_dir():
            if path.resolve() in resolved.parents:
                raise InputError(f"{output} is inside the input folder {given}; write the output elsewhere")
            continue
        try:
            st = os.stat(path)
            same = out_id == (st.st_dev, st.st_ino)
        except OSError:
            same = False
        if same or path.resolve() == resolved:
            raise InputError(f"{output} is the input {given}; write the output to another file")
    for folder in _protected_folders():
        if folder == resolved or folder in resolved.parents:
            raise InputError(
                f"{output} is inside {folder}, which the tool manages (label store, evaluation sets, "
                "model registry); write the output elsewhere"
            )
    if not overwrite and (out.exists() or out.is_symlink()):
        raise InputError(f"{output} exists; pass --overwrite to replace it, or choose another -o")


def _protected_folders() -> list[Path]:
    """The project's own folders, which no output may be written into."""
    from . import config

    return [
        p.resolve()
        for p in (config.labelled_dir(), config.heldout_dir(), config.real_dir(), config.models_dir())
    ]


def _put_in_place(tmp: str, target: Path, overwrite: bool) -> None:
    if overwrite:
        os.replace(tmp, target)
        return
    try:  # a link fails if the target exists: no file that appeared meanwhile is replaced
        os.link(tmp, target)
    except FileExistsError:
        raise InputError(f"{target} exists; pass --overwrite to replace it, or choose another -o") from None
    except OSError as exc:
        if exc.errno in WRITE_ERRNOS - {errno.EPERM}:
            raise
        # a file system without hard links: checked once more, then renamed
        if target.exists() or target.is_symlink():
            raise InputError(
                f"{target} exists; pass --overwrite to replace it, or choose another -o"
            ) from None
        os.replace(tmp, target)
        return
    os.unlink(tmp)


@contextlib.contextmanager
def atomic_path(path: str | Path, *, overwrite: bool = True) -> Iterator[Path]:
    """A temporary path that becomes ``path`` when the block completes.

    Parameters
    ----------
    path : path-like
    overwrite : bool, default=True
        False: an existing ``path`` is never replaced (:class:`InputError` instead),
        even one that appeared while the block ran.

    Raises
    ------
    OutputError
        The folder cannot be written, or the disk is full; the temporary file is gone.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
        os.close(fd)
    except OSError as exc:
        raise write_failure(target, exc) from None
    try:
        os.chmod(tmp, default_mode())  # mkstemp makes 0600 files
        yield Path(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        _put_in_place(tmp, target, overwrite)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise write_failure(target, exc) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_text_output(path: str | Path | None, *, overwrite: bool = True) -> Iterator[io.TextIOBase]:
    """A text stream that becomes ``path`` when the block completes (stdout for None or ``-``)."""
    if _is_stdout(path):
        try:
            yield sys.stdout
            sys.stdout.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:  # stdout redirected to a full disk
            raise write_failure("standard output", exc) from None
        return
    with atomic_path(path, overwrite=overwrite) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
        yield fh


def write_csv(frame: pd.DataFrame, path, *, overwrite: bool = False) -> None:
    """Write a table for people (``suggest``, ``labels audit``) as CSV, atomically.

    Text cells are escaped against formula injection (see :mod:`classifier._cells`);
    ``labels add`` reads such a file back with the exact texts.

    Parameters
    ----------
    frame : pandas.DataFrame
    path : path-like
    overwrite : bool, default=False
        Replace an existing file; by default it is refused (it may hold an analyst's work).
    """
    text = escape_frame(frame).to_csv(index=False, lineterminator="\n")
    with atomic_text_output(path, overwrite=overwrite) as fh:
        fh.write(text)


class FrameWriter:
    """Write scored DataFrame chunks in one format.

    Parameters
    ----------
    path : str or None
        Output file; None or ``-`` writes CSV or JSON Lines to standard output.
    fmt : {"csv", "jsonl", "parquet"}
    columns : list of str
        Output columns, in order.

    Frames may carry :data:`META_COLUMN`, a dict (or None) per row: kept input columns
    and chat metadata. Their keys become columns after ``columns``, in the order of
    the first row that has any, in the first chunk written (or in ``columns_from`` of
    that :meth:`write`); a key named like an output column is written as
    ``input_KEY``. That set is fixed with the header: a key that first appears later
    is not written, and :attr:`dropped_meta` counts the rows that had it. Meta cells
    are text, and in CSV neutralised against formulas like every text cell.

    Use as a context manager; the file appears only if the block completes.
    """

    def __init__(self, path, fmt, columns):
        if fmt not in OUTPUT_FORMATS:
            raise InputError(f"unknown output format {fmt!r}; use csv, jsonl or parquet")
        if fmt == "parquet" and (path is None or str(path) == "-"):
            raise InputError("parquet output needs a file: pass -o FILE.parquet")
        self.path, self.fmt, self.columns = path, fmt, list(columns)
        self.meta_columns: list[tuple[str, str]] | None = None  # (key, column), fixed at the first write
        self.dropped_meta: dict[str, int] = {}
        self._stack = contextlib.ExitStack()
        self._header = True
        self._parquet = None
        self.rows = 0  # rows written whole
        self.partial = 0  # rows of a write that an exception cut short (some may be out)

    def __enter__(self):
        if self.fmt == "parquet":
            try:
                import pyarrow  # noqa: F401
            except ImportError:
                raise InputError(
                    "parquet output needs pyarrow: pip install 'coercion-classifier[parquet]'"
                ) from None
            self._tmp = self._stack.enter_context(atomic_path(self.path))
        else:
            self._stream = self._stack.enter_context(atomic_text_output(self.path))
        return self

    def __exit__(self, *exc):
        if exc[0] is None:
            try:
                if self._parquet is None and self.fmt == "parquet":
                    self._write_parquet(self._empty())  # an empty run still writes a valid file
                if self._parquet is not None:
                    self._parquet.close()
            except BaseException:  # e.g. the disk is full: the temporary file goes too
                if not self._stack.__exit__(*sys.exc_info()):
                    raise
                return False
        elif self._parquet is not None:
            with contextlib.suppress(Exception):
                self._parquet.close()
        return self._stack.__exit__(*exc)

    def _empty(self):
        return pd.DataFrame({c: pd.Series(dtype=object) for c in self.columns})

    def _fix_meta(self, frame: pd.DataFrame | None) -> None:
        """Fix the meta columns from the first row of ``frame`` that has meta (none if none does)."""
        first = None
        if frame is not None and META_COLUMN in frame:
            first = next((m for m in frame[META_COLUMN].tolist() if m), None)
        taken = set(self.columns)
        self.meta_columns = []
        for key in first or ():
            name = key
            while name in taken:
                name = INPUT_PREFIX + name
            taken.add(name)
            self.meta_columns.append((key, name))
        self.columns += [name for _, name in self.meta_columns]

    def _spread_meta(self, frame: pd.DataFrame) -> pd.DataFrame:
        metas = frame[META_COLUMN].tolist() if META_COLUMN in frame else [None] * len(frame)
        frame = frame.drop(columns=[META_COLUMN], errors="ignore")
        if not self.meta_columns and not any(metas):
            return frame
        frame = frame.copy()
        keys = {key for key, _ in self.meta_columns}
        for key, name in self.meta_columns:
            frame[name] = [_cell(m.get(key)) if m else None for m in metas]
        for m in metas:
            for key in m or ():
                if key not in keys:
                    self.dropped_meta[key] = self.dropped_meta.get(key, 0) + 1
        return frame

    def write(self, frame: pd.DataFrame, *, columns_from: pd.DataFrame | None = None) -> None:
        """Append one chunk (only ``columns``, in order, then the meta columns).

        ``columns_from``: the chunk before it was filtered (``--only-flagged``), whose
        meta fixes the meta columns on the first write.
        """
        if self.meta_columns is None:
            self._fix_meta(frame if columns_from is None else columns_from)
        frame = self._spread_meta(frame)[self.columns]
        if self.fmt == "parquet":
            self._write_parquet(frame)
            self.rows += len(frame)
            return
        if self.fmt == "csv":
            out = frame.copy()
            out["score"] = [f"{s:.6f}" if s == s else "" for s in frame["score"].tolist()]
            out["flagged"] = [
                "" if f is None else ("true" if f else "false") for f in frame["flagged"].tolist()
            ]
            if "truncated" in out:
                out["truncated"] = ["true" if t else "false" for t in frame["truncated"].tolist()]
            # every text cell (source, id, reasons, error) is neutralised for spreadsheets
            text_columns = [c for c in self.columns if c not in _FORMATTED]
            out = escape_frame(out, text_columns)
            text = out.to_csv(header=self._header, index=False, lineterminator="\n")
        else:
            records = frame.astype(object).where(frame.notna(), None).to_dict("records")
            text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        try:  # one write per chunk: an interrupt leaves whole chunks, or says which one it cut
            self._stream.write(text)
        except BaseException:
            self.partial = len(frame)
            raise
        self.rows += len(frame)
        self._header = False

    def _write_parquet(self, frame):
        import pyarrow as pa
        import pyarrow.parquet as pq

        types = {"row": pa.int64(), "score": pa.float64(), "flagged": pa.bool_(), "truncated": pa.bool_()}
        schema = pa.schema([(c, types.get(c, pa.string())) for c in self.columns])
        data = {
            c: (
                frame[c].astype(object).where(frame[c].notna(), None).tolist()
                if c != "score"
                else frame[c].to_numpy(np.float64)
            )
            for c in self.columns
        }
        table = pa.table(data, schema=schema)
        if self._parquet is None:
            self._parquet = pq.ParquetWriter(self._tmp, schema)
        self._parquet.write_table(table)
