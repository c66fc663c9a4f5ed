"""Streaming readers: every input row becomes one :class:`Record`, good or bad.

A reader never drops a row. A row that cannot be scored (empty text, bytes that are
not valid in the file's encoding, a malformed JSON line, a CSV quoting error) still
yields a record, with ``error`` set, so the output has exactly one row per input row.

Formats, chosen by extension (after an optional ``.gz``) or by ``fmt``:

* ``txt``: one message per line;
* ``csv`` / ``tsv``: a header row and a text column (``text`` by default);
* ``jsonl`` (``.jsonl``, ``.ndjson``): one JSON object per line, with a text field;
* ``parquet``: a text column (needs ``pyarrow``);
* a folder with ``by_file=True``: every ``.txt`` file in it is one message.

Gzip-compressed input is recognised by its magic bytes, whatever the name. Text
encodings: UTF-8 (with or without BOM), UTF-16/32 with BOM, and the legacy Cyrillic
encodings cp1251 and KOI8-U/KOI8-R are detected from the first 64 KiB (see
:func:`detect_encoding`), or taken from ``encoding``. Undecodable bytes are kept as
lone surrogates while reading and turn the row into an error record.
"""

from __future__ import annotations

import codecs
import csv
import glob
import gzip
import io
import json
import math
import os
import re
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError

FORMATS = {
    ".txt": "txt",
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
}
_UNDECODABLE = re.compile("[\ud800-\udfff]")
# Per-message cap: longer messages are scored on their first MAX_CHARS characters and
# marked truncated, so one huge line (or a decompression bomb) cannot exhaust memory.
MAX_CHARS = 100_000
# A JSON line can be longer than its text field; beyond this it is not parsed.
MAX_JSON_LINE = 4 * MAX_CHARS
_PIECE = 1 << 16
_SAMPLE = 1 << 16
_GZIP_MAGIC = b"\x1f\x8b"
# Decompression-bomb guard: past this many decompressed bytes, gzip input may not have
# expanded more than MAX_EXPANSION times. Text compresses 3-10 times, very repetitive
# exports perhaps 100 times; a bomb expands about a thousand times (deflate's limit),
# and more when nested.
BOMB_CHECK_AFTER = 256 << 20
MAX_EXPANSION = 200
# Approximate letter frequencies (%) of Russian and Ukrainian text, case-insensitive.
# Decoding with the wrong legacy encoding permutes the letters (and turns some into
# symbols), so the right encoding is the one whose decoding looks most like language.
_LETTER_FREQ = {
    "о": 10.0, "а": 8.0, "е": 7.5, "и": 6.5, "н": 6.5, "т": 5.8, "і": 3.0, "с": 5.0, "р": 4.7, "в": 4.5,
    "л": 4.1, "к": 3.5, "м": 3.1, "д": 3.0, "п": 2.8, "у": 2.8, "я": 2.0, "ы": 1.2, "ь": 1.7, "г": 1.6,
    "з": 1.8, "б": 1.6, "ч": 1.4, "й": 1.2, "х": 1.0, "ж": 0.9, "ш": 0.8, "ю": 0.7, "ц": 0.6, "щ": 0.4,
    "э": 0.2, "ф": 0.3, "ъ": 0.05, "ё": 0.05, "ї": 0.6, "є": 0.4, "ґ": 0.02,
}  # fmt: skip
_LOG_FREQ = {ch: math.log(f / 100) for ch, f in _LETTER_FREQ.items()}
_NOT_A_LETTER = math.log(0.0001)


@dataclass(slots=True)
class Record:
    """One input row.

    Attributes
    ----------
    row : int
        1-based line number (txt, jsonl), record number after the header (csv, tsv,
        parquet), or file number in the folder (by-file).
    text : str or None
        The message; None when the row could not be read.
    id : str or None
        The value of the id column, when one was asked for.
    error : str
        Empty, or why this row cannot be scored.
    source : str or None
        Where the row came from when it differs from the input path (by-file mode).
    truncated : bool
        The message was longer than :data:`MAX_CHARS` and only its start is scored.
    """

    row: int
    text: str | None
    id: str | None = None
    error: str = ""
    source: str | None = None
    truncated: bool = False


def detect_encoding(sample: bytes) -> str:
    """Guess the text encoding of the first bytes of a file.

    BOMs decide first (UTF-32, UTF-16, UTF-8). Otherwise UTF-8 wins if the sample is
    valid UTF-8, or nearly so (a few bad bytes among many good multi-byte characters:
    those rows get errors). Otherwise the legacy Cyrillic encoding whose decoding gives
    the most common lower-case Cyrillic letters: cp1251 or KOI8-U (a superset of
    KOI8-R for letters).

    Examples
    --------
    >>> detect_encoding("привіт, мамо".encode("cp1251"))
    'cp1251'
    >>> detect_encoding("привет, мама".encode("koi8-r"))
    'koi8-u'
    >>> detect_encoding("привіт".encode("utf-8"))
    'utf-8'
    """
    if sample.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if exc.start >= len(sample) - 3 and exc.reason == "unexpected end of data":
            return "utf-8"  # the sample cut a character in two
    decoded = sample.decode("utf-8", "replace")
    bad = decoded.count("\ufffd")
    good = sum(1 for c in decoded if ord(c) > 127) - bad
    if good >= 4 * bad:
        return "utf-8"
    scores = {enc: _language_likeness(sample.decode(enc, "replace")) for enc in ("cp1251", "koi8-u")}
    return max(scores, key=scores.get)


def _language_likeness(text: str) -> float:
    score = 0.0
    for ch in text:
        if ord(ch) > 127:
            score += _LOG_FREQ.get(ch.lower(), _NOT_A_LETTER)
    return score


class _Prefixed(io.RawIOBase):
    """A raw stream that replays ``prefix`` before reading on from ``rest``."""

    def __init__(self, prefix: bytes, rest):
        self._prefix = memoryview(prefix)
        self._rest = rest

    def readable(self):
        return True

    def readinto(self, buffer):
        if self._prefix:
            n = min(len(buffer), len(self._prefix))
            buffer[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class _Counted(io.RawIOBase):
    """A raw stream that counts the bytes read through it."""

    def __init__(self, raw):
        self._raw = raw
        self.count = 0

    def readable(self):
        return True

    def readinto(self, buffer):
        data = self._raw.read(len(buffer))
        buffer[: len(data)] = data
        self.count += len(data)
        return len(data)


class _BombGuard(io.RawIOBase):
    """Decompressed gzip data that stops, with a clear error, if it expands like a bomb."""

    def __init__(self, gz, compressed: _Counted, path: str):
        self._gz = gz
        self._compressed = compressed
        self._path = path
        self._count = 0

    def readable(self):
        return True

    def readinto(self, buffer):
        n = self._gz.readinto(buffer)
        self._count += n
        if self._count > BOMB_CHECK_AFTER and self._count > MAX_EXPANSION * max(self._compressed.count, 1):
            raise InputError(
                f"{self._path}: gzip data expands more than {MAX_EXPANSION:,} times "
                f"({self._count:,} bytes from {self._compressed.count:,}), like a decompression bomb; "
                "nothing was written. If the file is genuine, decompress it first and pass the result"
            )
        return n


def _peeked(raw) -> tuple[bytes, io.BufferedReader]:
    """First bytes of a binary stream, and a stream that still starts at the beginning."""
    sample = raw.read(_SAMPLE)
    return sample, io.BufferedReader(_Prefixed(sample, raw), buffer_size=1 << 16)


def _gunzip_start(data: bytes, fh, limit: int) -> tuple[bytes, bool]:
    """The first ``limit`` decompressed bytes of a gzip file, and whether there is more.

    ``data`` is the file's start; the rest is read from ``fh`` only as needed, so a small
    file that expands enormously costs no more than ``limit`` bytes.
    """
    d = zlib.decompressobj(wbits=31)
    out = d.decompress(data, limit + 1)
    while len(out) <= limit and not d.eof:
        chunk = d.unconsumed_tail or fh.read(_PIECE)
        if not chunk:
            raise EOFError("the gzip data ends early")
        out += d.decompress(chunk, limit + 1 - len(out))
    # a further gzip member (concatenated files) counts as more text too
    return out[:limit], len(out) > limit or bool(d.unused_data or fh.read(1))


def _split_name(path: str) -> tuple[str, bool]:
    name = path.lower()
    gz = name.endswith(".gz")
    return (name[:-3] if gz else name), gz


def detect_format(path: str, fmt: str | None = None) -> str:
    """The input format of ``path`` from its extension (or ``fmt`` if given)."""
    if fmt:
        if fmt not in set(FORMATS.values()):
            raise InputError(f"unknown input format {fmt!r}; use one of txt, csv, tsv, jsonl, parquet")
        return fmt
    if path == "-":
        return "txt"
    name, _ = _split_name(path)
    suffix = Path(name).suffix
    if suffix not in FORMATS:
        raise InputError(
            f"{path}: unknown file type {suffix or '(no extension)'!r}; use .txt (one message per line), "
            ".csv, .tsv, .jsonl, .ndjson or .parquet (optionally .gz), or pass --input-format"
        )
    return FORMATS[suffix]


def expand_inputs(patterns) -> list[str]:
    """Expand shell-style globs that the shell left alone (e.g. quoted ``"dumps/*.csv"``).

    A pattern that matches nothing is an error: a silent empty run would look like a
    clean one.
    """
    paths: list[str] = []
    for pattern in map(str, patterns):
        if pattern != "-" and not os.path.exists(pattern) and glob.has_magic(pattern):
            matches = sorted(glob.glob(pattern, recursive=True))
            if not matches:
                raise InputError(f"{pattern}: no file matches this pattern")
            paths.extend(matches)
        else:
            paths.append(pattern)
    return paths


def _check_encoding(encoding: str | None) -> None:
    if encoding is None:
        return
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise InputError(
            f"unknown encoding {encoding!r}; use e.g. utf-8, utf-16, cp1251, koi8-u, koi8-r"
        ) from None


class Input:
    """One input: a file, ``-`` (standard input) or, in by-file mode, a folder.

    Parameters
    ----------
    path : str or Path
    fmt : str, optional
        Input format; default from the extension (``txt`` for standard input).
    encoding : str, optional
        Text encoding; default detected.
    text_column : str, default="text"
    id_column : str, optional
    by_file : bool, default=False
        ``path`` is a folder whose ``.txt`` files are one message each.

    Attributes
    ----------
    format : str
    encoding : str or None
        The encoding used (detected or given), once reading has started; for by-file
        folders, None (each file is detected on its own).

    Raises
    ------
    InputError
        Missing path, unknown format or encoding.
    """

    def __init__(self, path, *, fmt=None, encoding=None, text_column="text", id_column=None, by_file=False):
        self.path = str(path)
        self.text_column = text_column
        self.id_column = id_column
        self.by_file = by_file
        self.given_encoding = encoding
        self.encoding = encoding
        _check_encoding(encoding)
        if by_file:
            if not Path(self.path).is_dir():
                raise InputError(f"{self.path}: --by-file needs a folder of .txt files")
            self.format = "txt-files"
            return
        if self.path != "-":
            p = Path(self.path)
            if not p.exists():
                raise InputError(f"{self.path}: no such file")
            if p.is_dir():
                raise InputError(
                    f"{self.path}: is a folder; pass the files in it, or --by-file for one message per file"
                )
        self.format = detect_format(self.path, fmt)
        if self.path == "-" and self.format == "parquet":
            raise InputError("parquet cannot be read from standard input; pass the file's path")

    def check(self) -> None:
        """Read the first record, so that a missing text column is refused before any work."""
        if self.path == "-" or self.by_file:
            return
        records = self.records()
        try:
            next(records, None)
        finally:
            records.close()

    def records(self) -> Iterator[Record]:
        """Stream the records."""
        if self.by_file:
            yield from self._read_folder()
            return
        if self.format == "parquet":
            yield from self._read_parquet()
            return
        raw = sys.stdin.buffer if self.path == "-" else open(self.path, "rb")
        try:
            sample, stream = _peeked(raw)
            if sample.startswith(_GZIP_MAGIC):
                compressed = _Counted(stream)
                gz = gzip.GzipFile(fileobj=io.BufferedReader(compressed), mode="rb")
                sample, stream = _peeked(_BombGuard(gz, compressed, self.path))
            self.encoding = self.given_encoding or detect_encoding(sample)
            fh = io.TextIOWrapper(stream, encoding=self.encoding, errors="surrogateescape", newline="")
            if self.format == "txt":
                yield from _read_txt(fh)
            elif self.format in ("csv", "tsv"):
                delimiter = "," if self.format == "csv" else "\t"
                yield from _read_delimited(fh, self.path, delimiter, self.text_column, self.id_column)
            else:
                yield from _read_jsonl(fh, self.path, self.text_column, self.id_column)
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise InputError(f"{self.path}: cannot read ({exc}); is the file complete?") from None
        except UnicodeError as exc:  # e.g. UTF-16 with an odd number of bytes or no BOM
            reason = getattr(exc, "reason", None) or str(exc)
            raise InputError(
                f"{self.path}: cannot decode as {self.encoding} ({reason}); pass the right --encoding"
            ) from None
        finally:
            if self.path != "-":
                raw.close()

    def _read_folder(self) -> Iterator[Record]:
        files = sorted(
            p
            for p in Path(self.path).iterdir()
            if p.is_file() and p.name.lower().endswith((".txt", ".txt.gz"))
        )
        limit = 4 * MAX_CHARS + 4  # bounded: at most 4 bytes a character
        for n, p in enumerate(files, start=1):
            with open(p, "rb") as fh:
                data = fh.read(limit)
                if data.startswith(_GZIP_MAGIC):
                    try:
                        data, more = _gunzip_start(data, fh, limit)
                    except (OSError, EOFError, zlib.error) as exc:
                        yield Record(n, None, error=f"cannot decompress ({exc})", source=str(p))
                        continue
                else:
                    more = bool(fh.read(1))
            encoding = self.given_encoding or detect_encoding(data[:_SAMPLE])
            text = data.decode(encoding, "surrogateescape")
            if text.startswith("\ufeff"):
                text = text[1:]
            cut = len(text) > MAX_CHARS or more
            yield _check_text(Record(n, text[:MAX_CHARS].strip("\r\n"), source=str(p), truncated=cut))

    def _read_parquet(self, row_groups=None, first: int = 1) -> Iterator[Record]:
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise InputError(
                "reading parquet needs pyarrow: pip install 'coercion-classifier[parquet]'"
            ) from None
        try:
            pf = pq.ParquetFile(self.path)
        except Exception as exc:
            raise InputError(f"{self.path}: not a readable parquet file ({exc})") from None
        names = pf.schema_arrow.names
        for name, what in ((self.text_column, "--text-column"), (self.id_column, "--id-column")):
            if name is not None and name not in names:
                raise InputError(
                    f"{self.path}: no column {name!r}; the columns are: {', '.join(names)}; pass {what} NAME"
                )
        columns = [self.text_column] + ([self.id_column] if self.id_column else [])
        n = first - 1
        for batch in pf.iter_batches(batch_size=8192, columns=columns, row_groups=row_groups):
            texts = batch.column(0).to_pylist()
            ids = batch.column(1).to_pylist() if self.id_column else [None] * len(texts)
            for text, rid in zip(texts, ids, strict=True):
                n += 1
                rid = None if rid is None else str(rid)
                if text is None:
                    yield Record(n, None, rid, error="empty text (null)")
                elif not isinstance(text, str):
                    yield Record(
                        n,
                        None,
                        rid,
                        error=f"column {self.text_column!r} holds a value of type {type(text).__name__}, not text",
                    )
                else:
                    yield _check_text(Record(n, text[:MAX_CHARS], rid, truncated=len(text) > MAX_CHARS))


def _check_text(record: Record) -> Record:
    if record.error or record.text is None:
        return record
    match = _UNDECODABLE.search(record.text)
    if match:
        record.error = (
            f"undecodable bytes at column {match.start() + 1} (pass --encoding if the file is not UTF-8)"
        )
        record.text = None
    elif not record.text.strip():
        record.error = "empty text"
    return record


class _LineSource:
    """A text stream's ``readline(limit)`` and ``read(n)``, with text put back in front.

    ``readline`` never splits a ``\\r\\n`` pair, which would add a line.
    """

    __slots__ = ("fh", "pending")

    def __init__(self, fh):
        self.fh = fh
        self.pending = ""

    def unread(self, text: str) -> None:
        self.pending = text + self.pending

    def read(self, n: int) -> str:
        if not self.pending:
            return self.fh.read(n)
        text, self.pending = self.pending, ""
        return text if len(text) >= n else text + self.fh.read(n - len(text))

    def readline(self, limit: int) -> str:
        if self.pending:
            buf, self.pending = self.pending, ""
            m = _LINE_END.search(buf, 0, limit)
            if m:
                line, self.pending = buf[: m.end()], buf[m.end() :]
            elif len(buf) >= limit:
                line, self.pending = buf[:limit], buf[limit:]
            else:
                line = buf + self.fh.readline(limit - len(buf))
        else:
            line = self.fh.readline(limit)
        return self.keep_pair(line)

    def keep_pair(self, line: str) -> str:
        """``line``, with the ``\\n`` of a ``\\r\\n`` pair that a read limit cut off."""
        if line.endswith("\r"):  # a lone \r ends a line, unless a \n follows
            after = self.read(1)
            if after == "\n":
                line += after
            else:
                self.unread(after)
        return line


def _lines(fh, limit: int) -> Iterator[tuple[str, bool]]:
    """Lines of at most ``limit`` characters, and whether each was cut.

    The rest of a longer line is read in pieces and dropped, so memory stays bounded
    however long the line.
    """
    source = _LineSource(fh)
    readline = fh.readline  # the hot path: the text stream keeps \r\n together below the limit
    while True:
        if source.pending:
            line = source.readline(limit)
        else:
            line = readline(limit)
            if len(line) == limit:  # the limit may have cut a \r\n pair
                line = source.keep_pair(line)
        if not line:
            return
        if len(line) == limit and not line.endswith(("\n", "\r")):
            while True:  # drain the rest of the line
                rest = source.readline(_PIECE)
                if not rest or rest.endswith(("\n", "\r")):
                    break
            yield line, True
        else:
            yield line, False


def _read_txt(fh, first: int = 1) -> Iterator[Record]:
    for n, (line, cut) in enumerate(_lines(fh, MAX_CHARS), start=first):
        yield _check_text(Record(n, line.rstrip("\r\n"), truncated=cut))


# A CSV record longer than this many characters is re-read field by field, keeping the
# first MAX_CHARS + 1 characters of each field, so memory stays bounded however long
# the field (the csv module would otherwise hold the whole record).
_MAX_RECORD = 4 * MAX_CHARS
# What is handed on of one cut record: a record of countless small fields loses the rest.
_MAX_HANDED_ON = 2 * _MAX_RECORD
_QUOTED_RUN = re.compile('[^"]*(?:""[^"]*)*')
_LINE_END = re.compile("\r\n|\r|\n")
_FIELD_END = {",": re.compile("[,\r\n]"), "\t": re.compile("[\t\r\n]")}
# The csv module's parser states we need, and _SKIP: the rest of a line after a quoting
# error (the csv reader drops it and starts again on the next line).
_START, _FIELD, _QUOTED, _QUOTE, _SKIP = range(5)


class _BoundedRecords:
    """Physical lines for :func:`csv.reader`, with overlong records cut down.

    Short records pass through untouched. When the record being read would pass
    :data:`_MAX_RECORD` characters, the rest of it is scanned with the csv module's
    own rules (delimiter, ``"`` quoting with doubled quotes) and handed on with each
    field cut to ``MAX_CHARS + 1`` characters, which marks it truncated downstream.
    The caller calls :meth:`record_done` after each record the reader returns (or
    fails on); :attr:`cut` says whether that record was cut; :attr:`lines` counts the
    physical lines consumed, for error messages.
    """

    def __init__(self, fh, delimiter: str):
        self.fh = _LineSource(fh)
        self.delimiter = delimiter
        self.field_end = _FIELD_END[delimiter]
        # past the budget only line ends and quotes that open a field still matter
        self.skim = re.compile("[\r\n]|(?<=" + re.escape(delimiter) + ')"')
        self.lines = 0
        self.cut = False
        self._kept: list[str] = []  # the record so far (at most _MAX_RECORD characters)
        self._size = 0

    def record_done(self) -> None:
        self._kept.clear()
        self._size = 0
        self.cut = False

    def __iter__(self):
        source = self.fh
        readline = source.fh.readline  # the hot path; the text stream keeps \r\n together
        kept = self._kept
        while True:
            budget = _MAX_RECORD - self._size
            line = source.readline(budget + 1) if source.pending else readline(budget + 1)
            if not line:
                return
            if len(line) <= budget:
                self.lines += 1  # short of the limit, so it ends a line (or the file)
                kept.append(line)
                self._size += len(line)
                yield line
            else:
                self.cut = True
                yield self._rest_of_record(line)

    def _state(self) -> tuple[int, int]:
        """Parser state and current field length at the end of the kept lines."""
        state, length = _START, 0
        for piece in self._kept:
            state, length, _ = self._scan(piece, state, length, None)
        return state, length

    def _rest_of_record(self, piece: str) -> str:
        state, length = self._state()
        out: list[str] = []
        emitted = 0
        frozen = None  # the state where handing on stopped, past the budget
        while True:
            if piece.endswith("\r"):
                piece += self.fh.read(1)  # keep a \r\n pair in one piece
            if frozen is None and emitted > _MAX_HANDED_ON:
                frozen = state  # a record of countless small fields: scan on, keep nothing
            before = len(out)
            state, length, end = self._scan(
                piece, state, length, out if frozen is None else None, frozen is not None
            )
            emitted += sum(len(x) for x in out[before:])
            used = piece if end < 0 else piece[:end]
            self.lines += used.count("\n") + used.count("\r") - used.count("\r\n")
            if end >= 0:
                self.fh.unread(piece[end:])
                break
            if not (piece := self.fh.read(_PIECE)):
                break
        last = state if frozen is None else frozen
        if last == _QUOTE or (frozen is not None and last == _QUOTED):
            out.append('"')  # close the quoted field that was handed on
        if frozen is not None and end >= 0:
            out.append("\n")
        return "".join(out)

    def _scan(self, piece: str, state: int, length: int, out: list[str] | None, skim: bool = False):
        """Run the parser over ``piece``; with ``out``, append what to hand on.

        Returns the new state, the current field's length, and where in ``piece`` the
        record ended (after its line end), or -1. With ``skim`` (nothing is handed on
        any more) unquoted fields are skipped wholesale and lengths are not kept.
        """
        keep = MAX_CHARS + 1
        i, n = 0, len(piece)
        while i < n:
            if out is None and state == _FIELD and skim:
                m = self.skim.search(piece, i)
                if not m:
                    return (_START if piece[-1] == self.delimiter else _FIELD), 0, -1
                i = m.start()
                state = _START  # at a line end, or at the quote opening a field
            if state == _SKIP:
                m = _LINE_END.search(piece, i)
                if m:
                    return _START, 0, m.end()
                break
            if state == _QUOTED:
                j = _QUOTED_RUN.match(piece, i).end()  # up to a quote that is not doubled
                raw = piece[i:j]
                doubled = raw.count('""')
                if out is not None and length < keep:
                    if doubled:  # cut the content, not the escaped text
                        content = raw[: 2 * (keep - length)].replace('""', '"')
                        out.append(content[: keep - length].replace('"', '""'))
                    else:
                        out.append(raw[: keep - length])
                length += len(raw) - doubled
                if j < n:
                    state = _QUOTE  # a closing quote, or the first of a doubled one
                i = j + 1
            elif state == _FIELD:
                m = self.field_end.search(piece, i)
                j = m.start() if m else n
                if out is not None and length < keep:
                    out.append(piece[i : min(j, i + keep - length)])
                length += j - i
                i = j
                state = _START if j < n else _FIELD  # at a delimiter or the record's end
            else:  # at the start of a field, or just after a quote inside a quoted field
                c = piece[i]
                if state == _QUOTE and c == '"':  # a doubled quote: one quote character
                    state = _QUOTED
                    if out is not None and length < keep:
                        out.append('""')
                    length += 1
                    i += 1
                    continue
                if state == _QUOTE and out is not None:
                    out.append('"')  # it was the closing quote
                if c in "\r\n":
                    end = i + 2 if piece.startswith("\r\n", i) else i + 1
                    if out is not None:
                        out.append(piece[i:end])
                    return _START, 0, end
                if c == self.delimiter:
                    state, length = _START, 0
                    if out is not None:
                        out.append(c)
                elif c == '"' and state == _START:
                    state = _QUOTED
                    if out is not None:
                        out.append(c)
                elif state == _QUOTE:
                    # malformed after a closing quote: hand it on so the csv reader says so
                    # and drops the rest of the line, as it would have
                    if out is not None:
                        out.append(c)
                    state = _SKIP
                else:
                    state = _FIELD
                    if out is not None and length < keep:
                        out.append(c)
                    length += 1
                i += 1
        return state, length, -1


def _read_delimited(fh, path, delimiter, text_column, id_column) -> Iterator[Record]:
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    lines = _BoundedRecords(fh, delimiter)
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise InputError(f"{path}:1: unreadable header ({exc})") from None
    lines.record_done()
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
        line = lines.lines + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            lines.record_done()
            n += 1
            yield Record(n, None, error=f"malformed CSV at line {line} ({exc})")
            continue
        cut = lines.cut
        lines.record_done()
        n += 1
        if len(row) <= ti:
            yield Record(n, None, error=f"line {line} has {len(row)} fields, no {text_column!r} field")
            continue
        rid = row[ii] if ii is not None and ii < len(row) else None
        text = row[ti]
        yield _check_text(Record(n, text[:MAX_CHARS], rid, truncated=cut or len(text) > MAX_CHARS))


def json_kind(value) -> str:
    """What a parsed JSON value is, for messages: ``a JSON number``, ``a JSON object``..."""
    kinds = {bool: "boolean", int: "number", float: "number", str: "string", list: "array", dict: "object"}
    return "null" if value is None else f"a JSON {kinds.get(type(value), type(value).__name__)}"


def _read_jsonl(fh, path, text_column, id_column, first: int = 1, checked: bool = False) -> Iterator[Record]:
    for n, (line, cut) in enumerate(_lines(fh, MAX_JSON_LINE), start=first):
        if cut:
            yield Record(n, None, error=f"JSON line longer than {MAX_JSON_LINE:,} characters; not parsed")
            continue
        if not line.strip():
            yield Record(n, None, error="empty line")
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield Record(n, None, error=f"malformed JSON at column {exc.colno} ({exc.msg})")
            continue
        if not isinstance(obj, dict):
            yield Record(n, None, error=f"JSON line is {json_kind(obj)}, not an object")
            continue
        if not checked:
            checked = True
            if text_column not in obj:
                raise InputError(
                    f"{path}:{n}: no field {text_column!r}; the fields are: {', '.join(obj)}; pass --text-column NAME"
                )
        rid = obj.get(id_column) if id_column else None
        rid = None if rid is None else str(rid)
        text = obj.get(text_column)
        if text is None:
            missing = text_column not in obj
            yield Record(
                n,
                None,
                rid,
                error=f"no field {text_column!r}" if missing else f"field {text_column!r} is null",
            )
        elif not isinstance(text, str):
            yield Record(n, None, rid, error=f"field {text_column!r} is {json_kind(text)}, not a string")
        else:
            yield _check_text(Record(n, text[:MAX_CHARS], rid, truncated=len(text) > MAX_CHARS))


def read_records(
    path, *, fmt: str | None = None, text_column: str = "text", id_column: str | None = None, encoding=None
) -> Iterator[Record]:
    """Stream the records of one input file (see :class:`Input`).

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "m.txt")
    >>> _ = open(p, "w", encoding="utf-8").write("мамо я живий\\n\\n")
    >>> [(r.row, r.error) for r in read_records(p)]
    [(1, ''), (2, 'empty text')]
    """
    return Input(path, fmt=fmt, encoding=encoding, text_column=text_column, id_column=id_column).records()


# --- one part of an input (the Dask engine reads big files as several partitions) ------


class _Window(io.RawIOBase):
    """The bytes ``[begin, end)`` of an open binary file, as a raw stream."""

    def __init__(self, fh, begin: int, end: int):
        fh.seek(begin)
        self._fh, self._left = fh, max(0, end - begin)

    def readable(self):
        return True

    def readinto(self, buffer):
        data = self._fh.read(min(len(buffer), self._left))
        buffer[: len(data)] = data
        self._left -= len(data)
        return len(data)


def read_part(
    source: Input, *, first_row: int = 1, byte_range=None, row_groups=None, encoding=None
) -> Iterator[Record]:
    """Stream the records of one part of an input, numbered as when the whole input is read.

    Parameters
    ----------
    source : Input
    first_row : int, default=1
        The row number of the part's first record in the whole input.
    byte_range : (int, int), optional
        Bytes ``[begin, end)`` of an uncompressed txt or jsonl file, both at line
        starts, in an encoding where line breaks are single bytes (UTF-8, cp1251,
        KOI8). A line break never falls inside a character there, so each piece
        decodes exactly as it does within the whole file.
    row_groups : list of int, optional
        Row groups of a parquet file.
    encoding : str, optional
        The whole file's encoding (detected from its start), for ``byte_range``.

    Yields
    ------
    Record
        The same records, errors and truncation as :meth:`Input.records` gives for
        these rows. Without ``byte_range`` or ``row_groups``, the whole input.
    """
    if row_groups is not None:
        yield from source._read_parquet(list(row_groups), first_row)
        return
    if byte_range is None:
        yield from source.records()
        return
    begin, end = byte_range
    if begin > 0 and codecs.lookup(encoding).name == "utf-8-sig":
        encoding = "utf-8"  # only the file's first part starts with the BOM
    source.encoding = encoding
    try:
        with open(source.path, "rb") as raw:
            stream = io.BufferedReader(_Window(raw, begin, end), buffer_size=1 << 16)
            fh = io.TextIOWrapper(stream, encoding=encoding, errors="surrogateescape", newline="")
            if source.format == "txt":
                yield from _read_txt(fh, first_row)
            else:  # a later part: the text field was checked on the file's first object
                yield from _read_jsonl(
                    fh, source.path, source.text_column, source.id_column, first_row, checked=begin > 0
                )
    except OSError as exc:
        raise InputError(f"{source.path}: cannot read ({exc}); is the file complete?") from None
