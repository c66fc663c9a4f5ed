"""Streaming, atomic output in CSV, TSV, JSON Lines, Parquet or XLSX.

Output goes to a temporary file beside the target and is renamed into place only when
the run completes: an interrupted run (an exception, Ctrl-C, a kill) never leaves a
partial file at the output path, and a previous file there stays whole. A kill -9 can
leave the hidden temporary ``.NAME.*.part`` file behind, never the target.

A write that fails (no space left, a read-only folder) removes the temporary file and
raises :class:`~classifier.errors.OutputError`, a one-line message. :func:`check_output`
refuses, before any work, an output that is one of the inputs (however it is spelled:
symlinks and hard links too) or lies inside an input folder, and an existing file that
the caller may not replace.

CSV and TSV are written for people, who open them in a spreadsheet: their text cells go
through :func:`classifier._cells.escape_cell`, so that no cell runs as a formula
(``classifier._cells.unescape_cell`` gives the exact text back); ``excel=True`` adds a
UTF-8 BOM, without which Excel reads UTF-8 Cyrillic as cp1252. XLSX (openpyxl's
write-only mode, in constant memory) holds the exact text in text cells: a cell that
:func:`~classifier._cells.escape_cell` would escape is a string cell with Excel's own
quote prefix, so it is shown as typed and never evaluated, not even when edited. JSON
Lines and Parquet are for programs and hold the exact values.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import re
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from ._cells import escape_cell, escape_frame
from ._files import WRITE_ERRNOS, default_mode, write_failure
from .errors import InputError

# What every engine writes (the Dask engine's parts too).
OUTPUT_FORMATS = ("csv", "jsonl", "parquet")
# A frame column of per-row dicts (Record.meta: kept input columns, chat metadata), which
# the writer spreads into columns of their own; never written under this name.
META_COLUMN = "\0meta"
# The prefix of a kept input column named like one of ours (score -> input_score).
INPUT_PREFIX = "input_"
# What the local engine writes into one file.
FILE_FORMATS = ("csv", "tsv", "jsonl", "parquet", "xlsx")
_EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet",
               ".xlsx": "xlsx"}  # fmt: skip
_ACCEPTED = ".csv, .tsv, .jsonl, .parquet or .xlsx"
# Columns whose CSV cells the writer formats itself (numbers, true/false): never text.
_FORMATTED = frozenset({"row", "score", "flagged", "truncated"})
# An Excel sheet's rows (the header included); past it, rows go on in a new sheet.
XLSX_MAX_ROWS = 1_048_576
# An Excel cell's characters; a longer text is cut and says so (the other formats keep it whole).
XLSX_MAX_CELL = 32_767
# Column widths come from the header and this many first rows, within these bounds.
_WIDTH_ROWS, _MIN_WIDTH, _MAX_WIDTH = 50, 6, 60


def output_format(path: str | None, fmt: str | None) -> str:
    """The output format: ``fmt`` if given, else from the output file's extension; csv on stdout.

    Raises
    ------
    InputError
        An extension that is not one of ``.csv``, ``.tsv``, ``.jsonl`` (``.ndjson``),
        ``.parquet``, ``.xlsx`` without ``fmt``; an extension of one format with ``fmt``
        naming another: a file is never written in a format its name does not say.
    """
    if fmt and fmt not in FILE_FORMATS:
        raise InputError(f"unknown output format {fmt!r}; use {', '.join(FILE_FORMATS)}")
    if _is_stdout(path):
        return fmt or "csv"
    suffix = Path(path).suffix.lower()
    named = _EXTENSIONS.get(suffix)
    if fmt and named and named != fmt:
        raise InputError(
            f"{path} has the extension {suffix} but --format is {fmt}; change the extension or --format"
        )
    if fmt or named:
        return fmt or named
    raise InputError(
        f"{path}: unknown output extension {suffix or '(none)'!r}; use {_ACCEPTED}, or pass --format"
    )


def _cell(value) -> str | None:
    """A meta value as a text cell (None stays empty)."""
    return value if value is None or isinstance(value, str) else str(value)


def _is_stdout(path) -> bool:
    return path is None or str(path) == "-"


def check_output(output, inputs=(), *, overwrite: bool = True, option: str = "-o") -> None:
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
    option : str, default="-o"
        The option that named the output, for the message.

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
        raise InputError(f"{output} exists; pass --overwrite to replace it, or choose another {option}")


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


def check_excel(fmt: str) -> None:
    """Refuse ``excel`` (a BOM for Excel) for an output that is not CSV or TSV.

    Raises
    ------
    InputError
    """
    if fmt not in ("csv", "tsv"):
        raise InputError(f"--excel is for CSV output (a BOM for Excel); {fmt} output does not take it")


_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")  # no XML 1.0 document may hold these


class _XlsxSheets:
    """Rows into an xlsx workbook in openpyxl's write-only mode (constant memory).

    Each sheet has the header as its first row, frozen; past :data:`XLSX_MAX_ROWS` the
    rows go on in a new sheet (``scores``, ``scores 2``, ...) with the same header, so
    that no row is lost and each sheet opens in Excel. Column widths are set from the
    header and the first rows (write-only sheets take them before the first row).
    """

    def __init__(self, columns, title: str = "scores"):
        from openpyxl import Workbook

        self.columns, self.title = [str(c) for c in columns], title
        self.book = Workbook(write_only=True)
        self.sheets = 0
        self._sheet = None
        self._in_sheet = 0
        self._widths = None

    def append(self, rows: list[list]) -> None:
        """Append rows of Python values (None, bool, int, float, str), in column order."""
        if self._widths is None:
            self._widths = _column_widths(self.columns, rows[:_WIDTH_ROWS])
        for row in rows:
            if self._sheet is None or self._in_sheet >= XLSX_MAX_ROWS:
                self._new_sheet()
            self._sheet.append([self._cell(v) for v in row])
            self._in_sheet += 1

    def save(self, path) -> None:
        """Write the workbook to ``path`` (an empty run: the header alone)."""
        if self._sheet is None:
            self._widths = self._widths or _column_widths(self.columns, [])
            self._new_sheet()
        self.book.save(path)

    def _new_sheet(self) -> None:
        from openpyxl.utils import get_column_letter

        self.sheets += 1
        sheet = self.book.create_sheet(self.title if self.sheets == 1 else f"{self.title} {self.sheets}")
        sheet.freeze_panes = "A2"
        for i, width in enumerate(self._widths, 1):
            sheet.column_dimensions[get_column_letter(i)].width = width
        self._sheet = sheet
        sheet.append([self._cell(c) for c in self.columns])
        self._in_sheet = 1

    def _cell(self, value):
        if value is None or isinstance(value, bool | int):
            return value
        if isinstance(value, float):
            return None if value != value else value  # an error row's score: an empty cell
        text = _xlsx_text(str(value))
        quoted = escape_cell(text) != text  # the one rule of what a spreadsheet would evaluate
        if not quoted and not text.startswith("#"):
            return text
        from openpyxl.cell import WriteOnlyCell

        # a string cell whatever it looks like ("=...", "#N/A"); Excel's quote prefix, as
        # when one types '=1+1, keeps it text when the cell is edited too
        cell = WriteOnlyCell(self._sheet, value=text)
        cell.data_type = "s"
        cell.quotePrefix = quoted
        return cell


def _xlsx_text(text: str) -> str:
    """``text`` as an Excel cell can hold it: control characters shown as ``⟨U+001B⟩``, cut to the limit."""
    text = _ILLEGAL_XML.sub(lambda m: f"⟨U+{ord(m.group()):04X}⟩", text)
    if len(text) > XLSX_MAX_CELL:
        keep = XLSX_MAX_CELL - 100  # room for the note
        text = (
            text[:keep] + f" … [{len(text) - keep:,} more characters: an Excel cell holds {XLSX_MAX_CELL:,}]"
        )
    return text


def _column_widths(columns, rows) -> list[float]:
    """Widths from the header and ``rows``: the longest line + 2, within bounds."""
    widths = []
    for i, name in enumerate(columns):
        longest = len(name)
        for row in rows:
            value = row[i]
            if value is None or value == "":
                continue
            shown = f"{value:.6f}" if isinstance(value, float) else str(value)
            longest = max(longest, *(len(line) for line in shown.splitlines() or [""]))
        widths.append(min(max(longest + 2, _MIN_WIDTH), _MAX_WIDTH))
    return widths


def _python_rows(frame: pd.DataFrame) -> list[list]:
    """A DataFrame's rows as lists of Python values, missing values None."""
    return frame.astype(object).where(frame.notna(), None).values.tolist()


def write_table(frame: pd.DataFrame, path, *, overwrite: bool = False, title: str = "rows") -> None:
    """Write a table for review (``evaluate --errors``), atomically, in the format its name says.

    ``.csv`` and ``.tsv`` have their text cells escaped (see :mod:`classifier._cells`);
    ``.xlsx`` holds typed cells and the exact texts, as ``score -o FILE.xlsx`` does;
    ``.jsonl`` the exact values.

    Parameters
    ----------
    frame : pandas.DataFrame
    path : path-like
    overwrite : bool, default=False
        Replace an existing file; by default it is refused (it may hold an analyst's notes).
    title : str, default="rows"
        The sheet's name, for xlsx.

    Raises
    ------
    InputError
        Another extension, or an existing file without ``overwrite``.
    """
    fmt = output_format(str(path), None)
    if fmt == "parquet":
        raise InputError(f"{path}: a table for review is written as .csv, .tsv, .xlsx or .jsonl")
    if fmt == "xlsx":
        sheets = _XlsxSheets(frame.columns, title)
        sheets.append(_python_rows(frame))
        with atomic_path(path, overwrite=overwrite) as tmp:
            sheets.save(tmp)
        return
    if fmt == "jsonl":
        text = "".join(json.dumps(dict(zip(frame.columns, r, strict=True)), ensure_ascii=False) + "\n"
                       for r in _python_rows(frame))  # fmt: skip
    else:
        text = escape_frame(frame).to_csv(index=False, lineterminator="\n", sep="\t" if fmt == "tsv" else ",")
    with atomic_text_output(path, overwrite=overwrite) as fh:
        fh.write(text)


class FrameWriter:
    """Write scored DataFrame chunks in one format.

    Parameters
    ----------
    path : str or None
        Output file; None or ``-`` writes CSV, TSV or JSON Lines to standard output.
    fmt : {"csv", "tsv", "jsonl", "parquet", "xlsx"}
    columns : list of str
        Output columns, in order.
    excel : bool, default=False
        CSV or TSV for Excel: starts with a UTF-8 BOM (cells are neutralised in any case).
    meta_keys : sequence of str, default=()
        Meta keys written as columns whatever the first rows hold (after theirs), e.g.
        a chat export's date and sender when a spreadsheet is scored before it.

    Frames may carry :data:`META_COLUMN`, a dict (or None) per row: kept input columns
    and chat metadata. Their keys become columns after ``columns``, in the order of
    the first row that has any, in the first chunk written (or in ``columns_from`` of
    that :meth:`write`); a key named like an output column is written as
    ``input_KEY``. That set is fixed with the header: a key that first appears later
    is not written, and :attr:`dropped_meta` counts the rows that had it. Meta cells
    are text, and in CSV neutralised against formulas like every text cell.

    Use as a context manager; the file appears only if the block completes.
    """

    def __init__(self, path, fmt, columns, *, excel: bool = False, meta_keys=()):
        if fmt not in FILE_FORMATS:
            raise InputError(f"unknown output format {fmt!r}; use {', '.join(FILE_FORMATS)}")
        for needs_file in ("parquet", "xlsx"):
            if fmt == needs_file and (path is None or str(path) == "-"):
                raise InputError(f"{fmt} output needs a file: pass -o FILE.{fmt}")
        if excel:
            check_excel(fmt)
        self.path, self.fmt, self.columns, self.excel = path, fmt, list(columns), excel
        self.meta_columns: list[tuple[str, str]] | None = None  # (key, column), fixed at the first write
        self.meta_keys = tuple(meta_keys)  # meta columns written even if the first rows lack them
        self.dropped_meta: dict[str, int] = {}
        self._stack = contextlib.ExitStack()
        self._header = True
        self._parquet = None
        self._xlsx = None
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
        elif self.fmt == "xlsx":
            self._xlsx = _XlsxSheets(self.columns)
            self._tmp = self._stack.enter_context(atomic_path(self.path))
        else:
            self._stream = self._stack.enter_context(atomic_text_output(self.path))
            if self.excel:
                self._stream.write("\ufeff")
        return self

    def __exit__(self, *exc):
        if exc[0] is None:
            try:
                if self._parquet is None and self.fmt == "parquet":
                    self._write_parquet(self._empty())  # an empty run still writes a valid file
                if self._parquet is not None:
                    self._parquet.close()
                if self._xlsx is not None:
                    self._xlsx.save(self._tmp)
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
        keys = list(first or ())
        keys += [k for k in self.meta_keys if k not in keys]
        for key in keys:
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
            if self._xlsx is not None:  # its header is written with the first row
                self._xlsx.columns = [str(c) for c in self.columns]
        frame = self._spread_meta(frame)[self.columns]
        if self.fmt == "parquet":
            self._write_parquet(frame)
            self.rows += len(frame)
            return
        if self.fmt == "xlsx":
            self._xlsx.append(_python_rows(frame))
            self.rows += len(frame)
            return
        if self.fmt in ("csv", "tsv"):
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
            sep = "\t" if self.fmt == "tsv" else ","
            text = out.to_csv(header=self._header, index=False, lineterminator="\n", sep=sep)
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
