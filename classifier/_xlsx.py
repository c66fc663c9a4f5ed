"""Excel ``.xlsx`` input: the rows of one sheet, streamed in bounded memory.

openpyxl's read-only mode parses the sheet's XML as it goes, so rows cost nothing
once read. Two things it would otherwise hold whole are handled here:

* the shared-string table (``xl/sharedStrings.xml``), where Excel puts every distinct
  text of the workbook once: it is parsed once into a temporary file (each text cut to
  ``MAX_CHARS + 1`` characters) with an array of offsets, 8 bytes a text in memory,
  and cells read their text from there (:class:`_SpilledStrings`);
* a zip bomb: before openpyxl opens anything, every member of the archive is checked
  against the gzip rule of :mod:`classifier.readers` (past its first MiB a member may
  not expand more than ``MAX_EXPANSION`` times its compressed size). Python's zipfile
  stops at a member's declared size, so a member that lies about it is a CRC error,
  not more data.

XML entity expansion ("billion laughs") is refused by the expat parser (2.4 and later)
and by defusedxml, which openpyxl uses when it is installed.

Cells become text as a spreadsheet shows them (:func:`classifier.readers._cell_text`):
``2`` not ``2.0``, dates as ISO 8601, booleans as TRUE/FALSE. The first row is the
header; rows are numbered from the first row after it, as in CSV. A row whose text
cell is empty is an ``empty text`` error row; empty rows after the sheet's last
non-empty row (formatting often reaches far below the data) are not rows.
"""

from __future__ import annotations

import array
import tempfile
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator

from .errors import InputError
from .readers import (
    BOMB_CHECK_AFTER,
    MAX_CHARS,
    MAX_EXPANSION,
    Record,
    _cell_text,
    _check_text,
    _one_line,
    _text_aliases,
    find_column,
    kept_columns,
)

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # encrypted OOXML and old .xls files
_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_CORRUPT = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    ET.ParseError,
    KeyError,
    IndexError,
    TypeError,
    ValueError,
    EOFError,
    OSError,
)


def _check_archive(path: str) -> None:
    """Refuse a file that is not a zip archive, is encrypted, or expands like a bomb."""
    try:
        with open(path, "rb") as fh:
            magic = fh.read(len(_OLE_MAGIC))
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    if magic == _OLE_MAGIC:
        raise InputError(
            f"{path}: is password-protected (encrypted) or an old .xls file, not .xlsx; "
            "open it in Excel and save it without a password as .xlsx, or as CSV"
        )
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(
            f"{path}: not an .xlsx file ({_one_line(exc)}); save it from the spreadsheet as .xlsx, "
            "or rename it to its real extension (.csv, .txt)"
        ) from None
    for info in members:
        if info.file_size > BOMB_CHECK_AFTER and info.file_size > MAX_EXPANSION * max(info.compress_size, 1):
            raise InputError(
                f"{path}: {info.filename} expands more than {MAX_EXPANSION:,} times "
                f"({info.file_size:,} bytes from {info.compress_size:,}), like a decompression bomb; "
                "nothing was written. If the file is genuine, save it as CSV and pass that"
            )


class _SpilledStrings:
    """The shared-string table in a temporary file: ``table[i]`` reads text ``i`` back."""

    def __init__(self, source):
        self._file = tempfile.TemporaryFile()
        self._offsets = array.array("q", [0])
        write = self._file.write
        position = 0
        events = ET.iterparse(source, events=("start", "end"))
        _, root = next(events)
        for event, node in events:
            if event != "end" or node.tag != f"{_MAIN}si":
                continue
            text = _entry_text(node)[: MAX_CHARS + 1]
            data = text.encode("utf-8", "surrogatepass")
            write(data)
            position += len(data)
            self._offsets.append(position)
            root.clear()  # the parsed entries, so that memory stays flat
        self._file.flush()

    def __len__(self):
        return len(self._offsets) - 1

    def __getitem__(self, i):
        begin, end = self._offsets[i], self._offsets[i + 1]
        self._file.seek(begin)
        return self._file.read(end - begin).decode("utf-8", "surrogatepass")

    def close(self):
        self._file.close()


def _entry_text(si) -> str:
    """The text of a shared-string entry: its ``t``, or the ``t`` of each rich-text run ``r``.

    Phonetic hints (``rPh``) are not text. ``_x005F_`` is how the format escapes an
    underscore that starts an ``_xHHHH_`` sequence, as openpyxl's own reader undoes it.
    """
    parts = []
    for child in si:
        if child.tag == f"{_MAIN}t":
            parts.append(child.text or "")
        elif child.tag == f"{_MAIN}r":
            parts.extend(t.text or "" for t in child.iter(f"{_MAIN}t"))
    return "".join(parts).replace("x005F_", "")


def _open_workbook(path: str):
    """The workbook in read-only mode, its shared strings spilled to disk, and the table."""
    from openpyxl.reader.excel import ExcelReader
    from openpyxl.xml.constants import SHARED_STRINGS

    holder = {}

    class _Reader(ExcelReader):
        def read_strings(self):
            part = self.package.find(SHARED_STRINGS)
            if part is not None:
                with self.archive.open(part.PartName[1:]) as src:
                    self.shared_strings = holder["table"] = _SpilledStrings(src)

    reader = _Reader(path, read_only=True, keep_vba=False, data_only=True, keep_links=False)
    reader.read()
    return reader.wb, holder.get("table")


def sheet_rows(path: str, sheet: str | None = None) -> Iterator[tuple]:
    """The rows of one sheet (the first, or ``sheet``) as tuples of cell values, header first.

    The one place that opens a workbook: ``score`` reads records through
    :func:`read_xlsx`, ``labels add`` and ``evaluate`` read labelled rows with it.

    Raises
    ------
    InputError
        Not an xlsx file, encrypted, a zip bomb, no such sheet, or data that is
        corrupted (then after some rows: the caller's output, being atomic, is not written).
    """
    _check_archive(path)
    try:
        import openpyxl  # noqa: F401
    except ImportError:
        raise InputError("reading .xlsx needs openpyxl: pip install openpyxl") from None
    try:
        workbook, table = _open_workbook(path)
    except InputError:
        raise
    except Exception as exc:  # openpyxl raises many kinds on a damaged workbook
        raise InputError(
            f"{path}: not a readable .xlsx file ({_one_line(exc)}); re-save it from the spreadsheet"
        ) from None
    n = 0
    try:
        for n, cells in enumerate(_sheet(workbook, sheet, path).iter_rows(values_only=True)):  # noqa: B007
            yield cells
    except InputError:
        raise
    except _CORRUPT as exc:
        raise InputError(
            f"{path}: corrupted .xlsx data after row {n:,} ({_one_line(exc)}); nothing was written. "
            "Re-save it from the spreadsheet, or save it as CSV"
        ) from None
    finally:
        workbook.close()
        if table is not None:
            table.close()


def read_xlsx(source) -> Iterator[Record]:
    """The records of one sheet of an xlsx :class:`~classifier.readers.Input`.

    Raises
    ------
    InputError
        As :func:`sheet_rows`, and a missing text, id or kept column.
    """
    path = source.path
    rows = sheet_rows(path, source.sheet)
    header_cells = next(rows, None)
    if header_cells is None:
        return
    header = [(_cell_text(v) or "").strip() for v in header_cells]
    ti = find_column(
        header, source.text_column, "--text-column", path, aliases=_text_aliases(source.text_column)
    )
    ii = find_column(header, source.id_column, "--id-column", path) if source.id_column else None
    kept = kept_columns(header, source.keep, {ti, ii}, path)
    n = 0
    empty = 0  # empty rows not yet given out: only those followed by data are rows
    for cells in rows:
        if all(v is None or v == "" for v in cells):
            empty += 1
            continue
        for _ in range(empty):
            n += 1
            yield Record(n, "", error="empty text", meta={name: None for _, name in kept} or None)
        empty = 0
        n += 1
        yield _record(n, cells, ti, ii, kept)


def _sheet(workbook, name, path):
    names = workbook.sheetnames
    if name is None:
        if not workbook.worksheets:
            raise InputError(f"{path}: the workbook has no worksheet")
        return workbook.worksheets[0]
    if name in names:
        return workbook[name]
    matches = [s for s in names if s.casefold() == name.casefold()]
    if len(matches) == 1:
        return workbook[matches[0]]
    raise InputError(
        f"{path}: no sheet {name!r}; the sheets are: {', '.join(map(repr, names))}; pass --sheet NAME"
    )


def _record(n, cells, ti, ii, kept) -> Record:
    def cell(i):
        return _cell_text(cells[i]) if i < len(cells) else None

    rid = cell(ii) if ii is not None else None
    meta = {name: cell(i) for i, name in kept} or None
    value = cells[ti] if ti < len(cells) else None
    text = value if isinstance(value, str) else (_cell_text(value) or "")  # a string uncut: truncated?
    return _check_text(Record(n, text[:MAX_CHARS], rid, truncated=len(text) > MAX_CHARS, meta=meta))
