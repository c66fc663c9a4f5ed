"""``labels add``: merge analysts' new labels into the store without losing anything.

New rows go into a new dated file in the store folder; existing files are never
rewritten, and the new file never replaces one: it is written under a temporary name
and hard-linked to its final name, which fails if that name is taken. The whole
read-check-write runs under the store's lock (``.lock`` in the store folder), so two
``labels add`` runs at once take turns and the second sees the first's rows.

Every new row is validated as it would be stored, by the same checks ``labels check``
runs on the store (:func:`classifier.labels.row_problems`); one bad row and nothing is
written. Each new row is then compared with the store (and with the other new rows) by
its normalised text:

* the same raw text with the same label: an *exact duplicate*, skipped;
* the same normalised text (case, spacing, look-alike letters...) with the same label:
  a *near duplicate*, skipped;
* the same normalised text with a different label: a *conflict*, with the store or
  inside the new files. Conflicts are never merged silently: without ``resolve``
  nothing is written and they are listed. With ``resolve="keep"`` the earliest label
  stays: the stored one, or inside the new files the first row; with
  ``resolve="newest"`` the newest label wins: inside the new files the last row (files
  in the order given, rows in file order), and against the store the new row, which
  is added with ``supersedes`` pointing at the old row (``FILE.csv:LINE``); the old
  row stays on disk but is no longer trained on.

Every new row keeps its provenance: ``source``, ``annotator`` and ``added`` (the date).
"""

from __future__ import annotations

import contextlib
import csv
import errno
import fcntl
import io
import json
import os
import re
import tempfile
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from ._cells import unescape_cell
from ._files import UnsafeFile, default_mode, fsync_dir, open_regular
from .errors import DataError, InputError, counted
from .labels import (
    COLUMNS,
    CONDITIONS,
    POSITIVE_CATEGORY,
    Problem,
    read_labelled,
    row_problems,
    store_files,
    superseded_rows,
    validate,
)
from .lang import detect_languages
from .normalize import normalize_texts
from .readers import _SAMPLE, _cell_text, _delimiter_option, detect_encoding, json_kind, sniff_delimiter

# Ukrainian and Russian analysts write "так/ні", "да/нет" in their spreadsheets
_TRUE = {"1", "yes", "y", "true", "t", "так", "да"}
_FALSE = {"0", "no", "n", "false", "f", "ні", "нет"}
LABEL_WORDS = "1/0, yes/no, true/false, так/ні or да/нет"
# other names of the text and label columns (casefolded), tried when neither is given
# nor found by its own name
_ALIASES = {"text": ("текст",), "label": ("мітка", "метка")}

LOCK_FILE = ".lock"
LOCK_WAIT = 600.0  # seconds a run waits for another one to finish with the store


def normalize_label(value) -> int | None:
    """``1/0``, ``yes/no``, ``true/false``, ``так/ні``, ``да/нет`` (any case) to 1 or 0; else None.

    Examples
    --------
    >>> [normalize_label(v) for v in ("1", "Yes", "FALSE", " no ", "Так", "нет", "maybe", "")]
    [1, 1, 0, 0, 1, 0, None, None]
    """
    text = str(value).strip().lower()
    if text in _TRUE:
        return 1
    if text in _FALSE:
        return 0
    return None


@dataclass(frozen=True)
class Conflict:
    """One text labelled both ways: a new row against the store or against another new row.

    ``label`` is what ``new`` says, ``other_label`` what ``other`` says; ``stored`` is the
    label the store holds for the text after the add (None when nothing was written).
    """

    new: str  # FILE:LINE of the new row
    other: str  # FILE:LINE of the stored row, or of the other new row
    label: int
    other_label: int
    text: str
    inside: bool  # both rows are in the new files
    resolve: str | None = None
    stored: int | None = None
    superseded: str | None = None  # the stored row a new row supersedes

    def line(self) -> str:
        """One line for people: where, who says what, and what is stored now."""
        kind = "inside the new file(s)" if self.inside else "with the store"
        out = f"conflict {kind}: {self.new} says {self.label}, {self.other} says {self.other_label}"
        if self.resolve and self.stored is not None:
            out += f" -> {self.resolve}: label {self.stored} is stored"
            if self.superseded:
                out += f" ({self.superseded} superseded)"
        return out


class InvalidRowsError(DataError):
    """New rows that cannot be stored; :attr:`rows` holds one line per problem."""

    def __init__(self, rows: list[str]):
        self.rows = rows
        self.summary = f"{len(rows)} invalid row(s), nothing was added"
        shown = "; ".join(rows[:5]) + (f" (and {len(rows) - 5} more)" if len(rows) > 5 else "")
        super().__init__(f"{self.summary}: {shown}")


@dataclass
class AddReport:
    """What ``labels add`` did (or would do)."""

    read: int = 0
    added: int = 0
    exact_duplicates: int = 0
    near_duplicates: int = 0
    conflicts: list[Conflict] = field(default_factory=list)
    conflicts_resolved: str | None = None
    written: Path | None = None
    # new rows whose text is an evaluation text: (FILE:LINE of the new row, FILE:LINE in the set)
    evaluation_texts: list[tuple[str, str]] = field(default_factory=list)
    evaluation_allowed: bool = False
    dry_run: bool = False
    would_write: Path | None = None  # a dry run: the file the rows would go to
    refusal: str | None = None  # a dry run: why a real run would add nothing (unresolved conflicts)

    def lines(self) -> list[str]:
        """The report for people (stdout): counts, then where the rows went (or would go)."""
        out = [
            ("dry run: " if self.dry_run else "")
            + f"{counted(self.read, 'row')} read: {self.added} {'would be added' if self.dry_run else 'added'}, "
            f"{counted(self.exact_duplicates, 'exact duplicate')} "
            f"skipped, {counted(self.near_duplicates, 'near duplicate')} skipped, {counted(len(self.conflicts), 'conflict')}"
            + (
                f" (resolved: {self.conflicts_resolved})"
                if self.conflicts_resolved and self.conflicts
                else ""
            )
            + (
                f", {counted(len(self.evaluation_texts), 'held-out text')} "
                f"{'added (--allow-heldout)' if self.evaluation_allowed else 'refused'}"
                if self.evaluation_texts
                else ""
            )
        ]
        if self.written:
            out.append(f"written to {self.written}")
        if self.dry_run:
            if self.refusal:
                out.append(f"nothing was written; a real run would add nothing: {self.refusal}")
            elif self.would_write:
                out.append(f"nothing was written; the rows would go to {self.would_write}")
            else:
                out.append("nothing was written; a real run would add nothing new")
        return out

    def evaluation_line(self) -> str | None:
        """One line (stderr) on new rows whose text is a held-out (or real) text, naming them."""
        if not self.evaluation_texts:
            return None
        shown = ", ".join(f"{new} (= {old})" for new, old in self.evaluation_texts[:10])
        more = f" and {len(self.evaluation_texts) - 10} more" if len(self.evaluation_texts) > 10 else ""
        n = counted(len(self.evaluation_texts), "row")
        if self.evaluation_allowed:
            return (
                f"warning: added {n} whose text is in the held-out set: {shown}{more}; the held-out figures "
                "become optimistic, and train refuses the store until each is removed from one of the two"
            )
        return (
            f"refused {n} whose text is in the held-out set (the held-out figures would become optimistic): "
            f"{shown}{more}; pass --allow-heldout to add them anyway"
        )


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


_SURROGATE = "holds a lone surrogate escape (\\ud800-\\udfff), which is no character; fix or remove it"


def _json_cells(obj: dict) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """A JSON object's fields as the strings a CSV cell would hold, and what is wrong with them.

    Numbers and booleans become ``1``, ``0``, ``1.5``... (a label may be ``1`` or
    ``true``); the text must be a JSON string: a number, list or object stored as its
    repr would be a message nobody wrote.
    """
    cells: dict[str, str] = {}
    problems: list[tuple[str, str]] = []
    for key, value in obj.items():
        if _has_surrogate(key):
            problems.append(("", f"a field name {_SURROGATE}"))
        elif value is None:
            cells[key] = ""
            if key == "text":
                problems.append(("text", "text is null; give the message as a JSON string"))
        elif isinstance(value, str):
            cells[key] = value
            if _has_surrogate(value):
                problems.append((key, f"{key} {_SURROGATE}"))
        elif key == "text":
            problems.append(("text", f"text is {json_kind(value)}, not a string; quote the message"))
        elif isinstance(value, dict | list):
            problems.append((key, f"{key} is {json_kind(value)}; give a string or a number"))
        elif isinstance(value, bool):
            cells[key] = "1" if value else "0"
        else:
            cells[key] = str(value)
    return cells, problems


# The columns a labels file may hold, matched to its header case-insensitively; ``row`` is a
# suggest file's row number, kept for the rows' provenance.
_KNOWN_COLUMNS = tuple(dict.fromkeys(("text", "label", *COLUMNS, "row")))


def column_map(names, path, *, text_column=None, label_column=None, strict=True) -> dict[str, str]:
    """Header names to the names ``labels add`` and ``evaluate`` read: ``{"Text": "text", "body": "text"}``.

    A header matches a known column (``text``, ``label``, the store's columns)
    case-insensitively, or ``text_column`` / ``label_column`` when given. A column that
    is not mapped keeps its name, unless that name is taken by a mapped one (a ``text``
    column beside ``--text-column body``): it is then renamed ``text (not used)``.

    Parameters
    ----------
    names : list of str
        The header (or a JSON object's keys).
    path : path-like
        For messages.
    text_column, label_column : str, optional
        The columns holding the text and the label (``--text-column``, ``--label-column``).
    strict : bool, default=True
        Raise when a given column is missing (a CSV header); otherwise (one JSON object)
        leave it out, so that the row reports its missing field.

    Raises
    ------
    DataError
        Two header names match one column, or (``strict``) a given column is missing.

    Examples
    --------
    >>> column_map(["ID", "Body", "Verdict"], "x.csv", text_column="body", label_column="VERDICT")
    {'Body': 'text', 'Verdict': 'label', 'ID': 'ID'}
    >>> column_map(["Текст", "Мітка"], "x.csv")  # the default columns' Ukrainian and Russian names
    {'Текст': 'text', 'Мітка': 'label'}
    """
    wanted = {c: c for c in _KNOWN_COLUMNS}
    given = {"text": text_column, "label": label_column}
    for column, name in given.items():
        if name:
            wanted[column] = name
    folded: dict[str, list[str]] = {}
    for name in names:
        folded.setdefault(name.strip().casefold(), []).append(name)
    mapping: dict[str, str] = {}
    for column, name in wanted.items():
        hits = folded.get(name.strip().casefold(), [])
        if not hits and not given.get(column):  # a Ukrainian or Russian header, as score finds "Текст"
            hits = next((folded[a] for a in _ALIASES.get(column, ()) if a in folded), [])
        if len(hits) > 1:
            raise DataError(
                f"{path}: the columns {', '.join(map(repr, hits))} all match {name!r}; rename all but one"
            )
        if not hits:
            if given.get(column) and strict:
                raise DataError(
                    f"{path}: no column {name!r} (--{column}-column); the header has: {', '.join(names)}"
                )
            continue
        if hits[0] in mapping:
            raise DataError(
                f"{path}: the column {hits[0]!r} cannot be both {mapping[hits[0]]} and {column}; "
                "check --text-column and --label-column"
            )
        mapping[hits[0]] = column
    taken = set(mapping.values())
    for name in names:
        if name not in mapping:
            mapping[name] = f"{name} (not used)" if name in taken else name
    return mapping


def read_label_rows(
    path: Path,
    problems: list | None = None,
    *,
    text_column=None,
    label_column=None,
    sheet: str | None = None,
    delimiter: str | None = None,
) -> list[tuple[int, dict]]:
    """Rows of a labels file (at least ``text`` and ``label``) with their line numbers.

    Used for new labels (``labels add``) and for evaluation data (``evaluate``): the one
    place where a labels file is read. It reads what ``score`` reads from a spreadsheet:
    ``.csv`` with its delimiter (``,`` ``;`` tab ``|``) sniffed as ``score`` sniffs it,
    ``.tsv``, ``.xlsx`` (the first sheet or ``sheet``; the line is the sheet's row
    number), and ``.jsonl``. Text files may be UTF-8 (with or without a BOM), UTF-16/32
    with a BOM, cp1251 or KOI8, detected as ``score`` detects them; a file is decoded
    strictly, so a byte that is not of its encoding is an error, never a changed letter.

    Parameters
    ----------
    path : Path
    problems : list, optional
        Where to append ``(line, column, message)`` for rows that cannot be read as
        labelled rows (malformed JSON, a text that is not a JSON string, a lone
        surrogate escape, more CSV fields than the header has, a value in a spreadsheet
        column without a header). Those rows are left out of the result. Without it,
        the first such row raises.
    text_column, label_column : str, optional
        The columns holding the text and the label, when they are not called ``text``
        and ``label``. Every header is matched case-insensitively (:func:`column_map`).
    sheet : str, optional
        The sheet of an ``.xlsx`` file (default: the first).
    delimiter : str, optional
        A ``.csv`` file's delimiter (default: sniffed).

    Raises
    ------
    DataError
        Undecodable, unreadable, malformed CSV, another file type, a given column that
        is missing, or (without ``problems``) a row that cannot be read.
    """
    name = path.name.lower()
    found: list[tuple[int, str, str]] = []
    try:
        delimiter = _delimiter_option(delimiter)
    except InputError as exc:
        raise DataError(str(exc)) from None
    if name.endswith(".xlsx"):
        rows = _xlsx_label_rows(path, found, text_column, label_column, sheet)
    elif name.endswith((".jsonl", ".ndjson", ".csv", ".tsv")):
        text = _decoded(path)
        if name.endswith((".jsonl", ".ndjson")):
            rows = _jsonl_label_rows(text, path, found, text_column, label_column)
        else:
            if delimiter is None:
                delimiter = "\t" if name.endswith(".tsv") else sniff_delimiter(text[:_SAMPLE])
            rows = _csv_label_rows(text, path, found, text_column, label_column, delimiter)
    else:
        raise DataError(
            f"{path}: use a .csv, .tsv, .xlsx or .jsonl file with at least the columns text and label"
        )
    if problems is not None:
        problems.extend(found)
    elif found:
        first = Problem(str(path), *found[0])
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise DataError(f"{first}{more}")
    return rows


def _decoded(path: Path) -> str:
    """A labels file's text, in the encoding ``score`` would detect, decoded strictly."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror})") from None
    encoding = detect_encoding(data[:_SAMPLE])
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not valid {encoding} (byte {exc.start}); re-save it as UTF-8") from None
    if encoding in ("cp1251", "koi8-u"):
        # any bytes decode in these: a Latin-1 file (say) reads as Latin words with
        # Cyrillic letters inside ("Cafй"), which a Cyrillic file hardly ever has; such a
        # file is refused rather than stored with its letters changed
        words = _CYRILLIC_WORD.findall(text)
        # a Latin look-alike typed for a Cyrillic letter ("полонi") does not count
        mixed = [w for w in words if _UNLIKE_CYRILLIC.search(w)]
        # and a Latin-1 "à" or "£" between Latin words reads as a lone Cyrillic letter
        runs = _CYRILLIC_RUN.findall(text)
        cyrillic = sum(map(len, runs))
        lone = [r for r in runs if len(r) == 1]
        latin = sum(1 for _ in _ANY_LATIN.finditer(text))
        isolated = runs and len(lone) * 2 > len(runs) and cyrillic * 10 < latin
        if (words and len(mixed) * 5 > len(words)) or isolated:
            if mixed:
                example = mixed[0]
            else:  # the line around the first lone letter
                at = next(m.start() for m in _CYRILLIC_RUN.finditer(text) if len(m.group()) == 1)
                line_start = text.rfind("\n", 0, at) + 1
                example = text[max(line_start, at - 20) : at + 20].split("\n")[0]
            raise DataError(
                f"{path}: not UTF-8, and not Cyrillic text in {encoding} either "
                f"(it would read {example!r}); re-save it as UTF-8"
            )
    return text


# Words with a Cyrillic letter, Latin letters that do not look Cyrillic, Cyrillic runs
# and all Latin letters: see _decoded.
_CYRILLIC_WORD = re.compile(r"\w*[\u0400-\u04ff]\w*")
_UNLIKE_CYRILLIC = re.compile("[DFGJLNQRSUVWZbdfghjklmnqrstuvwz]")
_CYRILLIC_RUN = re.compile("[\u0400-\u04ff]+")
_ANY_LATIN = re.compile("[A-Za-z]")


def _jsonl_label_rows(text, path, found, text_column, label_column):
    rows = []
    # lines end at \n only: splitlines() would also cut at U+2028, U+0085... which JSON
    # strings may hold raw
    for n, line in enumerate(text.lstrip("\ufeff").split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            found.append((n, "", f"malformed JSON at column {exc.colno} ({exc.msg})"))
            continue
        except (ValueError, RecursionError) as exc:  # a 5,000-digit number, [[[[... nested too deep
            reason = "nested too deep" if isinstance(exc, RecursionError) else str(exc).split(";")[0]
            found.append((n, "", f"unreadable JSON ({reason})"))
            continue
        if not isinstance(obj, dict):
            found.append((n, "", f"a JSON object per line is needed, got {json_kind(obj)}"))
            continue
        try:
            names = column_map(
                list(obj), path, text_column=text_column, label_column=label_column, strict=False
            )
        except DataError as exc:
            found.append((n, "", str(exc).split(": ", 1)[1]))
            continue
        cells, wrong = _json_cells({names[k]: v for k, v in obj.items()})
        found.extend((n, column, message) for column, message in wrong)
        if not wrong:
            rows.append((n, cells))
    return rows


def _csv_label_rows(text, path, found, text_column, label_column, delimiter):
    rows = []
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""), delimiter=delimiter, strict=True)
    try:
        header = reader.fieldnames or []
        names = column_map(
            [unescape_cell(k.strip()) for k in header],
            path,
            text_column=text_column,
            label_column=label_column,
        )
        keys = {k: names[unescape_cell(k.strip())] for k in header}
        line = 2
        for row in reader:
            if None in row:  # more fields than the header: an unquoted delimiter in the text?
                shown = "tabs" if delimiter == "\t" else f"{delimiter!r}"
                found.append(
                    (
                        line,
                        "",
                        f"{len(reader.fieldnames) + len(row[None])} fields where the header has "
                        f"{len(reader.fieldnames)}; quote a text that holds {shown}",
                    )
                )
            else:
                rows.append((line, {keys[k]: unescape_cell(v or "") for k, v in row.items()}))
            line = reader.line_num + 1
    except csv.Error as exc:
        raise DataError(f"{path}:{reader.line_num}: malformed CSV ({exc}); check the quoting") from None
    return rows


def _xlsx_label_rows(path, found, text_column, label_column, sheet):
    """Labelled rows of a sheet; the line is the sheet's row number, as the spreadsheet shows it."""
    from ._xlsx import sheet_rows

    rows = []
    try:
        cells_of = sheet_rows(str(path), sheet)
        header_cells = next(cells_of, None)
        if header_cells is None:
            return rows
        header = [(_cell_text(v) or "").strip() for v in header_cells]
        named = [i for i, h in enumerate(header) if h]
        names = column_map(
            [header[i] for i in named], path, text_column=text_column, label_column=label_column
        )
        for line, cells in enumerate(cells_of, start=2):
            values = [_cell_text(v) or "" for v in cells]
            if not any(v.strip() for v in values):
                continue  # an empty row (formatting often reaches far below the data)
            stray = [i for i, v in enumerate(values) if v.strip() and (i >= len(header) or not header[i])]
            if stray:
                found.append(
                    (line, "", f"a value in column {stray[0] + 1}, which has no header; name that column")
                )
                continue
            rows.append((line, {names[header[i]]: values[i] if i < len(values) else "" for i in named}))
    except InputError as exc:
        raise DataError(str(exc)) from None
    return rows


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "labels"


@contextlib.contextmanager
def store_lock(store: Path, *, wait: float = LOCK_WAIT, on_wait=None):
    """Hold the label store's lock (``STORE/.lock``): one ``labels add`` at a time.

    The lock file is opened without following a symbolic link (a link there could
    otherwise point the write of the holder's pid at any file). A second run waits up
    to ``wait`` seconds for the first to finish, then gives up.

    Parameters
    ----------
    store : Path
    wait : float
    on_wait : callable, optional
        Called once with a message when the lock is taken by another process.

    Raises
    ------
    DataError
        The lock file is a link or not a plain file, cannot be created, or stays taken.
    """
    path = Path(store) / LOCK_FILE
    try:
        fd = open_regular(path, os.O_RDWR | os.O_CREAT, mode=default_mode())
    except UnsafeFile as exc:
        what = {"symbolic link": "a symlink", "hard link": "a hard link to another file"}.get(
            exc.kind, "not a plain file"
        )
        raise DataError(f"{path} is {what}; remove it (the store's lock is a plain file)") from None
    except OSError as exc:
        raise DataError(f"cannot lock the label store: {path} ({exc.strerror})") from None
    try:
        deadline = time.monotonic() + wait
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = os.pread(fd, 100, 0).decode("utf-8", "replace").strip() or "another process"
                if time.monotonic() >= deadline:
                    raise DataError(
                        f"the label store {store} is locked by {holder} (another labels add is running); "
                        "try again when it has finished"
                    ) from None
                if on_wait and not told:
                    on_wait(f"waiting for {holder} (another labels add) to finish with {store}...")
                    told = True
                time.sleep(0.1)
        with contextlib.suppress(OSError):  # who holds it, for the next run's message; not vital
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()}".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _create_new(store: Path, names, build, verify) -> Path:
    """Write a new file in ``store`` under the first free name; never replace a file.

    The bytes go to a hidden temporary file first (flushed to disk), which is then
    hard-linked to its name: linking fails if the name exists, so another writer's
    file, however it got there, is never replaced, and the name appears only with its
    whole content. ``build(name)`` gives the bytes for a name; ``verify(path)`` checks
    the temporary file before it gets its name, and raises to stop.
    """
    for name in names:
        target = store / name
        if target.exists():
            continue
        data = build(target)
        fd, tmp = tempfile.mkstemp(prefix=".added-", suffix=".tmp", dir=store)
        try:
            try:
                os.fchmod(fd, default_mode())  # mkstemp makes 0600 files
                _write_all(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            verify(Path(tmp))
            try:
                os.link(tmp, target)
            except FileExistsError:
                continue  # taken since we looked: the next name
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS):
                    raise
                # no hard links on this file system: under the store's lock, a free name
                # stays free unless a program that ignores the lock writes there
                if target.exists():
                    continue
                os.rename(tmp, target)
        finally:
            Path(tmp).unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # the file is complete; this only makes it durable sooner
            fsync_dir(store)
        return target
    raise AssertionError("unreachable: the names never run out")  # pragma: no cover


def _store_index(stored: pd.DataFrame, keys: list[str]) -> dict[str, tuple[str, int, str]]:
    """Normalised text -> (FILE.csv:LINE, label, raw text) of the rows that are trained on."""
    index: dict[str, tuple[str, int, str]] = {}
    if not len(stored):
        return index
    live = ~superseded_rows(stored).to_numpy()
    for key, f, line, label, raw, trained in zip(
        keys, stored["file"], stored["line"], stored["label"], stored["text"], live, strict=True
    ):
        if trained:
            label = str(label).strip()  # 0 or 1 in a valid store; anything else conflicts with both
            index.setdefault(
                key, (f"{Path(f).name}:{line}", int(label) if label in ("0", "1") else label, raw)
            )
    return index


def _candidates(files, report: AddReport, source, annotator, added_date, **read_options):
    """The new rows as they would be stored, each checked as ``labels check`` checks stored rows.

    Returns
    -------
    list of dict
        One entry per good row, with the store's columns plus ``_where`` (FILE:LINE)
        and ``_key`` (normalised text). ``group`` is empty when the row gave none
        (filled in when the file is named).

    Raises
    ------
    InvalidRowsError
        Any row that cannot be stored, all listed, one per line.
    """
    bad: list[tuple[int, int, str]] = []  # (file number, line, message): listed in file order
    entries = []
    for number, path in enumerate(map(Path, files)):
        problems: list[tuple[int, str, str]] = []
        rows = read_label_rows(path, problems, **read_options)
        report.read += len(rows) + len({line for line, _, _ in problems})
        bad.extend(
            (number, line, str(Problem(str(path), line, column, message)))
            for line, column, message in problems
        )
        if path.name.lower().endswith((".csv", ".tsv", ".xlsx")) and rows:
            missing = [c for c in ("text", "label") if c not in rows[0][1]]
            if missing:
                raise DataError(
                    f"{path}: no column {', '.join(missing)}; the header has: {', '.join(rows[0][1])}; "
                    "labels add needs at least text and label"
                )
        for line, row in rows:
            where = f"{path}:{line}"
            if "text" not in row:
                bad.append((number, line, f"{where} [text]: no field 'text'; give the message text"))
                continue
            label = normalize_label(row.get("label", ""))
            if label is None:
                value = row.get("label", "")
                bad.append((number, line, f"{where} [label]: label {value!r} is not {LABEL_WORDS}"))
                continue
            stem = _slug(source or path.stem)
            own = row.get("source", "").strip()
            if (
                source and own and own != source
            ):  # --source for every row; the file's own source kept beside it
                at = row.get("row", "").strip()  # a suggest file: the row of the input it came from
                row_source = f"{source} (from {own}{f' row {at}' if at else ''})"
            else:
                row_source = source or own or f"labels-add:{path.name}"
            entries.append(
                {
                    "text": row["text"],
                    "label": label,
                    "lang": row.get("lang", "").strip(),
                    "category": row.get("category", "").strip()
                    or (POSITIVE_CATEGORY if label else "unsorted"),
                    "source": row_source,
                    "group": row.get("group", "").strip(),
                    "added": row.get("added", "").strip() or added_date,
                    "annotator": row.get("annotator", "").strip() or annotator or "",
                    # who wrote or labelled the row: cross-validation holds each writer out whole
                    "writer": row.get("writer", "").strip()
                    or row.get("annotator", "").strip()
                    or annotator
                    or f"labels-add:{stem}",
                    **{c: row.get(c, "").strip() for c in (*CONDITIONS, "contrast")},
                    "style": "|".join(s for s in row.get("style", "").split("|") if s),
                    "supersedes": "",
                    "_where": where,
                    "_at": (number, line),
                }
            )
    unknown = [e for e in entries if not e["lang"]]
    for entry, guessed in zip(unknown, detect_languages([e["text"] for e in unknown]), strict=True):
        entry["lang"] = guessed
    for entry, key in zip(entries, normalize_texts([e["text"] for e in entries]), strict=True):
        entry["_key"] = key
        checked = {**entry, "group": entry["group"] or "(named when written)"}
        for column, message in row_problems(checked, key):
            bad.append((*entry["_at"], f"{entry['_where']} [{column}]: {message}"))
    if bad:
        raise InvalidRowsError([message for *_, message in sorted(bad)])
    return entries


def add_labels(
    files,
    store=None,
    *,
    source: str | None = None,
    annotator: str | None = None,
    resolve: str | None = None,
    now: datetime | None = None,
    on_wait=None,
    dry_run: bool = False,
    text_column: str | None = None,
    label_column: str | None = None,
    allow_heldout: bool = False,
    sheet: str | None = None,
    delimiter: str | None = None,
    original_texts=None,
) -> AddReport:
    """Merge new labelled rows into the store as a new dated file.

    Parameters
    ----------
    files : list of path-like
        ``.csv`` (any delimiter of ``, ; tab |``), ``.tsv``, ``.xlsx`` or JSON Lines
        files (see :func:`read_label_rows`) with at least ``text`` and ``label`` (``1/0``,
        ``yes/no``, ``true/false``). Optional: ``lang`` (guessed when empty),
        ``category`` (``coerced_appeal`` for label 1; ``unsorted`` for label 0 when
        empty), ``source``, ``group``, ``annotator``, ``writer`` (default: the
        annotator), ``style``, the three condition columns and ``contrast``. Other columns (e.g. a
        ``score`` from ``suggest``) are ignored.
    store : path-like, optional
        The store folder, which must exist; default ``datasets/labelled`` in the
        workspace (:func:`classifier.config.label_store`).
    source, annotator : str, optional
        Provenance: ``source`` for every row (a row's own ``source``, e.g. the input
        file a ``suggest`` row came from, is kept beside it: ``SOURCE (from FILE row
        N)``); ``annotator`` for rows that do not name theirs, and their ``writer``
        unless they name one.
    resolve : {None, "newest", "keep"}
        What to do with conflicts (see the module docstring).
    now : datetime, optional
        The time stamped on the rows and the file name (for tests).
    on_wait : callable, optional
        Called with a message if another run holds the store's lock (this one waits).
    dry_run : bool, default=False
        Do everything but write: the report says what would be added, the conflicts
        (without ``resolve``: why nothing would be added, in :attr:`AddReport.refusal`)
        and the refused rows. No lock is taken: the store's files appear whole (they
        are linked into place), so reading them needs none.
    text_column, label_column : str, optional
        The columns holding the text and the label, when not ``text`` and ``label``
        (headers match case-insensitively).
    sheet, delimiter : str, optional
        The sheet of ``.xlsx`` files (default: the first) and the delimiter of ``.csv``
        files (default: sniffed), as ``score --sheet/--delimiter``.
    allow_heldout : bool, default=False
        Add rows whose text is in the held-out set (``datasets/heldout/``, or
        ``datasets/real/``, beside the store) too. By default they are refused and
        listed in :attr:`AddReport.evaluation_texts`: the held-out figures would
        become optimistic, and ``train`` refuses a store that holds such a text.
    original_texts : dict, optional
        For rows whose text was masked (``review --export --redact``): the normalised
        text of a row -> the original texts it was masked from. The held-out check
        looks at those too, so a held-out text that held a phone is still refused.

    Returns
    -------
    AddReport

    Raises
    ------
    DataError
        No store there, unreadable files, rows with invalid values
        (:class:`InvalidRowsError`, all listed), unresolved conflicts, or the new file
        cannot be written (full disk...). Nothing is written then.
    """
    from . import config

    if resolve not in (None, "newest", "keep"):
        raise DataError(f"--resolve must be newest or keep, got {resolve!r}")
    store = config.label_store(store)
    now = now or datetime.now(UTC)
    report = AddReport()
    # the new files are read and checked first: they are not the store, and a bad row
    # should not keep another run waiting
    read_options = dict(text_column=text_column, label_column=label_column, sheet=sheet, delimiter=delimiter)
    candidates = _candidates(files, report, source, annotator, now.strftime("%Y-%m-%d"), **read_options)
    candidates = _evaluation_check(candidates, store, report, allow_heldout, original_texts)
    report.dry_run = dry_run
    lock = contextlib.nullcontext() if dry_run else store_lock(store, on_wait=on_wait)
    with lock:  # from reading the store to writing the new file
        stored, problems = (
            read_labelled(store_files([store])) if any(store.glob("*.csv")) else (pd.DataFrame(), [])
        )
        if problems:
            raise DataError(
                f"the store has problems ({problems[0]}); run 'coercion-classifier labels check' first"
            )
        stored_keys = normalize_texts(stored["text"].astype(str).tolist()) if len(stored) else []
        new_rows = _merge(candidates, _store_index(stored, stored_keys), report, resolve, dry_run=dry_run)
        report.conflicts_resolved = resolve
        name = source or Path(files[0]).stem
        if new_rows and dry_run:
            report.would_write = next(p for p in _file_names(store, now, name) if not p.exists())
        elif new_rows:
            report.written = _write(store, new_rows, stored, stored_keys, now, name)
        report.added = len(new_rows)
    return report


def _evaluation_check(
    candidates: list[dict], store: Path, report: AddReport, allow: bool, original_texts=None
) -> list[dict]:
    """The candidates that may be added: those whose text is an evaluation text are refused unless ``allow``.

    The evaluation sets are the workspace's ``datasets/heldout/`` and ``datasets/real/``
    (beside the store folder), matched by normalised text as ``train`` matches them; a
    masked row (``original_texts``) also by the texts it was masked from.
    """
    index: dict[str, str] = {}
    for folder in (store.parent / "heldout", store.parent / "real"):
        if not folder.is_dir() or not any(folder.glob("*.csv")):
            continue
        for path in store_files([folder]):
            rows = read_label_rows(path, [])  # only the texts matter; a row that cannot be read has none
            texts = [row.get("text", "") for _, row in rows]
            for (line, _), key in zip(rows, normalize_texts(texts), strict=True):
                if key:
                    index.setdefault(key, f"{path}:{line}")
    if not index:
        return candidates
    report.evaluation_allowed = allow
    kept = []
    originals = {
        key: [k for k in normalize_texts(list(texts)) if k] for key, texts in (original_texts or {}).items()
    }
    for entry in candidates:
        where = index.get(entry["_key"])
        for key in originals.get(entry["_key"], ()):
            where = where or index.get(key)
        if where is not None:
            report.evaluation_texts.append((entry["_where"], where))
            if not allow:
                continue
        kept.append(entry)
    return kept


def _merge(candidates, index, report: AddReport, resolve, *, dry_run: bool = False) -> list[dict]:
    """The rows to add (in the order their texts first appear): duplicates skipped, conflicts resolved.

    Raises
    ------
    DataError
        Conflicts and no ``resolve``: all counted, the first listed. In a dry run,
        the conflicts go into the report instead, with the reason in
        :attr:`AddReport.refusal`, and no row is to be added.
    """
    groups: dict[str, list[dict]] = {}
    for entry in candidates:
        groups.setdefault(entry["_key"], []).append(entry)
    new_rows, pending = [], []  # pending: (Conflict without outcome, key)
    for key, rows in groups.items():
        winner = rows[-1] if resolve == "newest" else rows[0]
        for entry in rows:
            if entry is winner:
                continue
            if entry["label"] != winner["label"]:
                # name the later row first, as "new": it says something else than the earlier one
                late, early = (winner, entry) if resolve == "newest" else (entry, winner)
                pending.append(
                    (
                        Conflict(
                            late["_where"],
                            early["_where"],
                            late["label"],
                            early["label"],
                            late["text"],
                            True,
                        ),
                        key,
                    )
                )
            elif entry["text"] == winner["text"]:
                report.exact_duplicates += 1
            else:
                report.near_duplicates += 1
        old = index.get(key)
        if old is not None:
            old_where, old_label, old_raw = old
            if winner["label"] == old_label:
                if old_raw == winner["text"]:
                    report.exact_duplicates += 1
                else:
                    report.near_duplicates += 1
                continue
            conflict = Conflict(
                winner["_where"], old_where, winner["label"], old_label, winner["text"], False
            )
            pending.append((conflict, key))
            if resolve != "newest":
                continue
            winner["supersedes"] = old_where
        new_rows.append(winner)
    if pending and resolve is None:
        conflicts = [c for c, _ in pending]
        inside = sum(c.inside for c in conflicts)
        if inside == len(conflicts):
            head = f"{inside} conflict(s) inside the new file(s)"
        elif not inside:
            head = f"{len(conflicts)} conflict(s) with stored labels"
        else:
            head = (
                f"{len(conflicts)} conflict(s) ({len(conflicts) - inside} with stored labels, "
                f"{inside} inside the new file(s))"
            )
        if dry_run:
            report.conflicts.extend(conflicts)
            report.refusal = (
                f"{head}; pass --resolve newest (the newest label wins) or --resolve keep (the earliest "
                "label stays)"
            )
            return []
        shown = "; ".join(f"{c.new} says {c.label}, {c.other} says {c.other_label}" for c in conflicts[:5])
        more = f" (and {len(conflicts) - 5} more)" if len(conflicts) > 5 else ""
        raise DataError(
            f"{head}, nothing was added: {shown}{more}; pass --resolve newest (the newest label wins: "
            "a later row over an earlier one, a new row over the store's, whose row is kept but "
            "superseded) or --resolve keep (the earliest label stays)"
        )
    added = {e["_key"]: e for e in new_rows}
    for conflict, key in pending:
        entry = added.get(key)
        stored = entry["label"] if entry is not None else index[key][1]
        superseded = (entry["supersedes"] or None) if entry is not None else None
        report.conflicts.append(replace(conflict, resolve=resolve, stored=stored, superseded=superseded))
    return new_rows


def _file_names(store: Path, now: datetime, name: str):
    """The new file's candidate paths, in order: ``added_<UTC time>[-N]_<slug>.csv``."""
    stamp, slug = now.strftime("%Y%m%dT%H%M%SZ"), _slug(name)
    return (store / f"added_{stamp}{'' if n == 1 else f'-{n}'}_{slug}.csv" for n in range(1, 1 << 30))


def _write(
    store: Path, new_rows: list[dict], stored: pd.DataFrame, stored_keys, now: datetime, name: str
) -> Path:
    """Write the new rows as a new file in the store; its path.

    Before the file gets its name, it is read back by the reader ``labels check`` uses
    and, with the stored rows of the same texts, goes through
    :func:`classifier.labels.validate`: whatever is published, the check accepts, and
    it holds exactly the texts given.
    """
    names = (path.name for path in _file_names(store, now, name))
    given = [e["group"] for e in new_rows]
    # Python's csv writer quotes a field only for the characters of its line terminator: a
    # lone CR would end the record when read back, so then every field is quoted
    has_cr = any("\r" in str(v) for e in new_rows for k, v in e.items() if not k.startswith("_"))

    def build(target: Path) -> bytes:
        for i, (entry, group) in enumerate(zip(new_rows, given, strict=True), start=1):
            entry["group"] = group or f"{target.stem}-{i:05d}"
        buffer = io.StringIO(newline="")
        writer = csv.DictWriter(
            buffer,
            fieldnames=list(COLUMNS),
            extrasaction="ignore",
            lineterminator="\n",
            quoting=csv.QUOTE_ALL if has_cr else csv.QUOTE_MINIMAL,
        )
        writer.writeheader()
        writer.writerows(new_rows)
        return buffer.getvalue().encode("utf-8")

    def verify(written: Path) -> None:
        _check_with_store(written, new_rows, stored, stored_keys)

    try:
        return _create_new(store, names, build, verify)
    except OSError as exc:
        raise DataError(
            f"cannot write the new label file in {store} ({exc.strerror or exc}); nothing was added"
        ) from None


def _check_with_store(written: Path, new_rows: list[dict], stored: pd.DataFrame, stored_keys) -> None:
    """Read the written file as ``labels check`` does; validate it with the stored rows of its texts."""
    frame, problems = read_labelled([written])
    texts = frame["text"].tolist()
    if problems or texts != [e["text"] for e in new_rows]:  # pragma: no cover - a bug, not the rows
        detail = str(problems[0]) if problems else "the texts read back differ from those written"
        raise DataError(f"the new label file did not read back as written ({detail}); nothing was added")
    where = dict(zip(frame["line"], (e["_where"] for e in new_rows), strict=True))
    if len(stored):
        keys = {e["_key"] for e in new_rows}
        same = stored[[k in keys for k in stored_keys]]
        frame = pd.concat([same[frame.columns], frame], ignore_index=True)
    wrong = [p for p in validate(frame) if p.file == str(written)]
    if wrong:  # pragma: no cover - a bug here, not in the rows: the checks before should catch it
        raise InvalidRowsError([f"{where[p.line]} [{p.column}]: {p.message}" for p in wrong])
