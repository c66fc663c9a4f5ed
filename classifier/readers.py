"""Streaming readers: every input row becomes one :class:`Record`, good or bad.

A reader never drops a row. A row that cannot be scored (empty text, bytes that are
not valid in the file's encoding, a malformed JSON line) still yields a record, with
``error`` set, so the output has exactly one row per input row.

Formats, chosen by file extension: ``.txt`` (one message per line), ``.csv`` and
``.tsv`` (a text column, by default ``text``), ``.jsonl`` / ``.ndjson`` (a text
field). ``-`` reads standard input as text lines unless a format is given.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))

FORMATS = {".txt": "txt", ".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
_UNDECODABLE = re.compile("[\udc80-\udcff]")


@dataclass
class Record:
    """One input row.

    Attributes
    ----------
    row : int
        1-based line number (txt, jsonl) or record number after the header (csv, tsv).
    text : str or None
        The message; None when the row could not be read.
    id : str or None
        The value of the id column, when one was asked for.
    error : str
        Empty, or why this row cannot be scored.
    """

    row: int
    text: str | None
    id: str | None = None
    error: str = ""


def detect_format(path: str, fmt: str | None = None) -> str:
    """The input format of ``path`` from its extension (or ``fmt`` if given)."""
    if fmt:
        if fmt not in set(FORMATS.values()):
            raise InputError(f"unknown input format {fmt!r}; use one of txt, csv, tsv, jsonl")
        return fmt
    if path == "-":
        return "txt"
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise InputError(
            f"{path}: unknown file type {suffix or '(no extension)'!r}; "
            "use .txt (one message per line), .csv, .tsv or .jsonl"
        )
    return FORMATS[suffix]


def _check_path(path: str, fmt: str | None) -> str:
    kind = detect_format(path, fmt)
    if path != "-":
        p = Path(path)
        if not p.exists():
            raise InputError(f"{path}: no such file")
        if not p.is_file():
            raise InputError(f"{path}: is a folder, not a file; pass the files inside it")
    return kind


def check_input(
    path: str | Path, fmt: str | None = None, *, text_column: str = "text", id_column: str | None = None
) -> str:
    """Raise :class:`InputError` unless ``path`` can be scored; return its format.

    Besides existence and type, reads the first record of a file, so that a CSV
    without the text column is refused before any work starts (standard input is
    not peeked at: it can be read only once).
    """
    path = str(path)
    kind = _check_path(path, fmt)
    if path != "-":
        records = read_records(path, fmt=fmt, text_column=text_column, id_column=id_column)
        try:
            next(records, None)
        finally:
            records.close()
    return kind


def _open_text(path: str):
    # surrogateescape keeps undecodable bytes visible (as lone surrogates) so the
    # affected row can be reported instead of silently altered.
    if path == "-":
        return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", errors="surrogateescape", newline="")
    return open(path, encoding="utf-8-sig", errors="surrogateescape", newline="")


def _check_text(record: Record) -> Record:
    if record.error or record.text is None:
        return record
    match = _UNDECODABLE.search(record.text)
    if match:
        record.error = f"undecodable bytes at column {match.start() + 1} (the file is not valid UTF-8)"
        record.text = None
    elif not record.text.strip():
        record.error = "empty text"
    return record


def _read_txt(fh) -> Iterator[Record]:
    for n, line in enumerate(fh, start=1):
        yield _check_text(Record(n, line.rstrip("\r\n")))


def _read_delimited(fh, path, delimiter, text_column, id_column) -> Iterator[Record]:
    reader = csv.reader(fh, delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise InputError(f"{path}:1: unreadable header ({exc})") from None
    header = [h.strip() for h in header]
    for name, what in ((text_column, "--text-column"), (id_column, "--id-column")):
        if name is not None and name not in header:
            raise InputError(
                f"{path}: no column {name!r}; the columns are: {', '.join(header)}; pass {what} NAME"
            )
    ti = header.index(text_column)
    ii = header.index(id_column) if id_column else None
    n = 0
    while True:
        line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            n += 1
            yield Record(n, None, error=f"malformed CSV at line {line} ({exc})")
            continue
        n += 1
        if len(row) <= ti:
            yield Record(n, None, error=f"line {line} has {len(row)} fields, no {text_column!r} field")
            continue
        rid = row[ii] if ii is not None and ii < len(row) else None
        yield _check_text(Record(n, row[ti], rid))


def _read_jsonl(fh, path, text_column, id_column) -> Iterator[Record]:
    checked = False
    for n, line in enumerate(fh, start=1):
        if not line.strip():
            yield Record(n, None, error="empty line")
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield Record(n, None, error=f"malformed JSON at column {exc.colno} ({exc.msg})")
            continue
        if not isinstance(obj, dict):
            yield Record(n, None, error=f"JSON line is a {type(obj).__name__}, not an object")
            continue
        if not checked:
            checked = True
            if text_column not in obj:
                raise InputError(
                    f"{path}:{n}: no field {text_column!r}; the fields are: {', '.join(obj)}; "
                    "pass --text-column NAME"
                )
        rid = obj.get(id_column) if id_column else None
        rid = None if rid is None else str(rid)
        text = obj.get(text_column)
        if text is None:
            yield Record(n, None, rid, error=f"no field {text_column!r}")
        elif not isinstance(text, str):
            yield Record(
                n, None, rid, error=f"field {text_column!r} is a {type(text).__name__}, not a string"
            )
        else:
            yield _check_text(Record(n, text, rid))


def read_records(
    path: str | Path, *, fmt: str | None = None, text_column: str = "text", id_column: str | None = None
) -> Iterator[Record]:
    """Stream the records of one input file.

    Parameters
    ----------
    path : str or Path
        A file, or ``-`` for standard input.
    fmt : {"txt", "csv", "tsv", "jsonl"}, optional
        Overrides the format implied by the extension.
    text_column : str, default="text"
        Column (csv/tsv) or field (jsonl) holding the message.
    id_column : str, optional
        Column or field copied to the output as the message's id.

    Yields
    ------
    Record

    Raises
    ------
    InputError
        The file is missing, of an unknown type, or lacks the text column.

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "m.txt")
    >>> _ = open(p, "w").write("мамо я живий\\n\\n")
    >>> [(r.row, r.error) for r in read_records(p)]
    [(1, ''), (2, 'empty text')]
    """
    path = str(path)
    kind = _check_path(path, fmt)
    fh = _open_text(path)
    try:
        if kind == "txt":
            yield from _read_txt(fh)
        elif kind in ("csv", "tsv"):
            yield from _read_delimited(fh, path, "," if kind == "csv" else "\t", text_column, id_column)
        else:
            yield from _read_jsonl(fh, path, text_column, id_column)
    finally:
        if path != "-":
            fh.close()
