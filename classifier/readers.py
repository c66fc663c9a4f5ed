"""Streaming readers: every input row becomes one :class:`Record`, good or bad.

A reader never drops a row. A row that cannot be scored (empty text, bytes that are
not valid in the file's encoding, a malformed JSON line, a CSV quoting error) still
yields a record, with ``error`` set, so the output has exactly one row per input row.

Formats, chosen by extension (after an optional ``.gz``) or by ``fmt``:

* ``txt``: one message per line;
* ``csv`` / ``tsv``: a header row and a text column (``text`` by default);
* ``jsonl`` (``.jsonl``, ``.ndjson``): one JSON object per line, with a text field;
* ``parquet``: a text column (needs ``pyarrow``);
* chat exports (:mod:`classifier.chat_exports`): ``telegram`` (``.json``), and ``whatsapp``
  or ``chatlog`` for a ``.txt`` whose first lines are such messages;
* a folder with ``by_file=True``: every ``.txt`` file in it is one message.

Gzip-compressed input is recognised by its magic bytes, whatever the name; one that
expands like a decompression bomb within its first MiB is refused before any row. Text
encodings: UTF-8 (with or without BOM), UTF-16/32 (with a BOM, or recognised by their
NUL bytes), and the legacy Cyrillic encodings cp1251 and KOI8-U/KOI8-R are detected
from the first 64 KiB (see :func:`detect_encoding`), or taken from ``encoding``. In a
single-byte legacy file every row is decoded on its own, and a row that is UTF-8 is read
as UTF-8 (see :class:`_RowDecoder`). Undecodable bytes, NUL bytes and text of control
characters turn the row into an error record.

Pipes, FIFOs and standard input are read once: what :meth:`Input.check` reads of them
is replayed in front of the rest when the records are read.
"""

from __future__ import annotations

import codecs
import csv
import functools
import glob
import io
import itertools
import json
import math
import os
import re
import stat
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError, counted

FORMATS = {
    ".txt": "txt",
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".xlsx": "xlsx",
    ".json": "telegram",
}
# Read by classifier.chat_exports; their messages carry metadata in Record.meta.
CHAT_FORMATS = ("telegram", "whatsapp", "chatlog")
_UNDECODABLE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Per-message cap: longer messages are scored on their first MAX_CHARS characters and
# marked truncated, so one huge line (or a decompression bomb) cannot exhaust memory.
MAX_CHARS = 100_000
# A JSON line can be longer than its text field; beyond this it is not parsed.
MAX_JSON_LINE = 4 * MAX_CHARS
_PIECE = 1 << 16
_SAMPLE = 1 << 16
_GZIP_MAGIC = b"\x1f\x8b"
# Decompression-bomb guard: past the first MiB of decompressed data, gzip input may not
# have expanded more than MAX_EXPANSION times the compressed bytes it used (checked
# before the first row). Text compresses 3-10 times, very repetitive exports perhaps
# 100 times; a bomb expands about a thousand times (deflate's limit), more when nested.
BOMB_CHECK_AFTER = 1 << 20
MAX_EXPANSION = 200
# Parquet's dictionary encoding stores a repeated value once, and genuine exports with
# many duplicate messages reach a few hundred times; the text read (characters, cut to
# MAX_CHARS a row) may not pass this many times the file's size.
MAX_PARQUET_EXPANSION = 2000
# Parquet: a text or id column chunk may not hold more than this uncompressed (by the
# file's metadata), and rows are read this many at a time.
MAX_PARQUET_CHUNK = 512 << 20
_PARQUET_BATCH = 1024
# What the check of a pipe, FIFO or standard input may read (and keep, to replay).
_CHECK_LIMIT = 8 << 20
# Approximate letter frequencies (%) of Russian and Ukrainian text, case-insensitive.
# Decoding with the wrong legacy encoding permutes the letters (and turns some into
# symbols), so the right encoding is the one whose decoding looks most like language.
_LETTER_FREQ = {
    "о": 10.0, "а": 8.0, "е": 7.5, "и": 6.5, "н": 6.5, "т": 5.8, "і": 3.0, "с": 5.0, "р": 4.7, "в": 4.5,
    "л": 4.1, "к": 3.5, "м": 3.1, "д": 3.0, "п": 2.8, "у": 2.8, "я": 2.0, "ы": 1.2, "ь": 1.7, "г": 1.6,
    "з": 1.8, "б": 1.6, "ч": 1.4, "й": 1.2, "х": 1.0, "ж": 0.9, "ш": 0.8, "ю": 0.7, "ц": 0.6, "щ": 0.4,
    "э": 0.2, "ф": 0.3, "ъ": 0.05, "ё": 0.05, "ї": 0.6, "є": 0.4, "ґ": 0.02,
}  # fmt: skip
# Pipes, FIFOs and standard input that Input.check() read from: the open stream and the
# bytes the check read, replayed by the next records() of the same input. Keyed by the
# stream's (st_dev, st_ino), or "-".
_CHECKED_STREAMS: dict = {}
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
    meta : dict or None
        Input columns carried to the output (``--keep``) and chat-export metadata (date,
        sender, chat, forwarded_from), in input order; None when none.
    """

    row: int
    text: str | None
    id: str | None = None
    error: str = ""
    source: str | None = None
    truncated: bool = False
    meta: dict | None = None


def detect_encoding(sample: bytes) -> str:
    """Guess the text encoding of the first bytes of a file.

    BOMs decide first (UTF-32, UTF-16, UTF-8), then the NUL bytes of UTF-16/32 without
    a BOM (ASCII characters' zero high bytes, all on one side of each code unit, in a
    sample that decodes to printable text that way). Otherwise UTF-8 wins if the sample is
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
    without_bom = _utf16_or_32_without_bom(sample)
    if without_bom:
        return without_bom
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


def _utf16_or_32_without_bom(sample: bytes) -> str | None:
    """UTF-16/32 (LE or BE) recognised by where a sample's NUL bytes fall, or None."""
    nuls = sample.count(0)
    if nuls < max(2, len(sample) // 100):
        return None
    n4 = len(sample) // 4 * 4
    candidates = []
    if n4:  # UTF-32: the two high bytes of every unit are zero for any BMP text
        if sample[2:n4:4].count(0) + sample[3:n4:4].count(0) >= 0.9 * n4 // 2:
            candidates.append("utf-32-le")
        if sample[0:n4:4].count(0) + sample[1:n4:4].count(0) >= 0.9 * n4 // 2:
            candidates.append("utf-32-be")
    odd = sample[1::2].count(0)
    if odd >= 0.9 * nuls:
        candidates.append("utf-16-le")
    if nuls - odd >= 0.9 * nuls:
        candidates.append("utf-16-be")
    for encoding in candidates:
        unit = 4 if "32" in encoding else 2
        text = sample[: len(sample) // unit * unit].decode(encoding, "replace")
        printable = sum(c.isprintable() or c in "\t\n\r" for c in text)
        western = sum(c < "\u0530" for c in text)  # Latin, Greek, Cyrillic: not bytes paired at random
        if printable >= 0.95 * len(text) and western >= 0.5 * len(text):
            return encoding
    return None


@functools.lru_cache(maxsize=64)
def _single_byte(encoding: str) -> bool:
    """Whether ``encoding`` maps every byte to one character, ASCII to itself (cp1251, KOI8, Latin-1)."""
    if codecs.lookup(encoding).name.startswith("utf"):
        return False
    try:
        text = bytes(range(256)).decode(encoding, "surrogateescape")
    except (UnicodeError, LookupError):
        return False
    return len(text) == 256 and text[:128] == bytes(range(128)).decode("ascii")


class _RowDecoder:
    """Decodes the rows of a file in a single-byte legacy encoding one by one.

    Such a file is read as Latin-1 (each byte one character, so lines and CSV fields
    split exactly as in the real encoding) and every row is decoded here. A row whose
    bytes are valid UTF-8 with multi-byte characters, and which reads more like language
    as UTF-8 than in the legacy encoding, is decoded as UTF-8 and counted in
    :attr:`recoded`: the file mixes encodings (a cp1251 export with UTF-8 rows appended,
    or ``--encoding cp1251`` given for UTF-8). Legacy Cyrillic text is almost never
    valid UTF-8, and when a short row is (``"Ві"`` is also UTF-8 for ``"³"``), the
    legacy reading looks more like language and is kept.
    """

    def __init__(self, encoding: str):
        self.encoding = encoding
        self.recoded = 0

    def __call__(self, text: str, cut: bool = False) -> str:
        if text.isascii():
            return text
        data = text.encode("latin-1")
        legacy = data.decode(self.encoding, "surrogateescape")
        try:
            utf8 = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            # a row cut at the length limit may end inside a character
            if not (cut and exc.start >= len(data) - 3 and exc.reason == "unexpected end of data"):
                return legacy
            utf8 = data[: exc.start].decode("utf-8")
        if _language_likeness(utf8) > _language_likeness(legacy):
            self.recoded += 1
            return utf8
        return legacy


def _text_stream(stream, encoding: str):
    """A text stream over binary ``stream``, and the row decoder to apply (or None)."""
    if _single_byte(encoding):
        return io.TextIOWrapper(stream, encoding="latin-1", newline=""), _RowDecoder(encoding)
    return io.TextIOWrapper(stream, encoding=encoding, errors="surrogateescape", newline=""), None


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


class _CheckLimit(Exception):
    """The check of a pipe read as much as it may keep."""


class _Recorder(io.RawIOBase):
    """A raw stream that keeps a copy of the first ``limit`` bytes read through it."""

    def __init__(self, raw, limit: int):
        self._raw = raw
        self._limit = limit
        self.kept = bytearray()

    def readable(self):
        return True

    def readinto(self, buffer):
        room = self._limit - len(self.kept)
        if room <= 0:
            raise _CheckLimit
        data = self._raw.read(min(len(buffer), room))
        buffer[: len(data)] = data
        self.kept += data
        return len(data)


class _Gunzip(io.RawIOBase):
    """The decompressed data of every gzip member of ``fh``, stopping like a bomb guard.

    zlib is driven directly, so the compressed bytes actually used are known exactly: a
    read-ahead would make a bomb's ratio look like text's. Past :data:`BOMB_CHECK_AFTER`
    decompressed bytes, the data may not have expanded more than :data:`MAX_EXPANSION`
    times. Zero padding after a member is skipped, as gzip does.
    """

    def __init__(self, fh, path: str):
        self._fh = fh
        self._path = path
        self._d = zlib.decompressobj(wbits=31)
        self._data = b""  # compressed bytes read but not yet used
        self._in_member = True
        self.consumed = 0
        self.produced = 0

    def readable(self):
        return True

    def readinto(self, buffer):
        while True:
            if not self._data:
                self._data = self._fh.read(_PIECE)
                if not self._data:
                    if self._in_member:
                        raise EOFError("the gzip data ends early")
                    return 0
            if not self._in_member:
                self._data = self._data.lstrip(b"\0")
                if not self._data:
                    continue
                self._d, self._in_member = zlib.decompressobj(wbits=31), True
            before = len(self._data)
            out = self._d.decompress(self._data, len(buffer))
            if self._d.eof:
                self._data, self._in_member = self._d.unused_data, False
            else:
                self._data = self._d.unconsumed_tail
            self.consumed += before - len(self._data)
            if out:
                self.produced += len(out)
                _check_expansion(self.produced, self.consumed, self._path)
                buffer[: len(out)] = out
                return len(out)


def _check_expansion(produced: int, source: int, path: str, what: str = "gzip") -> None:
    """Refuse data that has grown like a decompression bomb (see :data:`MAX_EXPANSION`).

    ``what`` is "gzip" (``produced`` decompressed bytes from ``source`` compressed
    bytes) or "parquet" (characters of text from a file of ``source`` bytes).
    """
    limit = MAX_EXPANSION if what == "gzip" else MAX_PARQUET_EXPANSION
    if produced > BOMB_CHECK_AFTER and produced > limit * max(source, 1):
        amount, advice = (
            (f"{produced:,} bytes from {source:,}", "decompress it first and pass the result")
            if what == "gzip"
            else (
                f"{produced:,} characters of text from {source:,} bytes",
                "convert it to CSV or JSONL first",
            )
        )
        raise InputError(
            f"{path}: {what} data expands more than {limit:,} times ({amount}), like a decompression bomb; "
            f"nothing was written. If the file is genuine, {advice}"
        )


def _peeked(raw, size: int = _SAMPLE) -> tuple[bytes, io.BufferedReader]:
    """The first ``size`` bytes of a binary stream, and a stream that still starts at the beginning."""
    pieces, got = [], 0
    while got < size:  # a raw stream may return less than asked before its end
        piece = raw.read(size - got)
        if not piece:
            break
        pieces.append(piece)
        got += len(piece)
    sample = b"".join(pieces)
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


# Delimiters a .csv may use: Excel writes ";" where the decimal separator is a comma
# (Ukrainian, Russian, most of Europe), and exports use tabs and "|" too.
DELIMITERS = (",", ";", "\t", "|")
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
# The sniffer looks at this many records of the file's first 64 KiB.
_SNIFF_RECORDS = 50


def sniff_delimiter(sample: str) -> str:
    """The delimiter of a CSV file, from its first records (``sample``, decoded).

    Each of :data:`DELIMITERS` splits the sample with ``"`` quoting (doubled quotes
    inside, as Excel writes); the winner gives the header at least two fields and the
    most records with the header's number of fields, then the most fields. A
    one-column file has no delimiter to find: ``,``.

    Examples
    --------
    >>> sniff_delimiter("id;text\n1;a, b, c\n2;1,5\n")
    ';'
    >>> sniff_delimiter('id\ttext\n1\t"a\tb"\n')
    '\t'
    """
    lines = sample.splitlines(keepends=True)
    if len(lines) > 1 and not lines[-1].endswith(("\n", "\r")):
        lines.pop()  # cut by the sample's end
    best, best_key = ",", None
    for delimiter in DELIMITERS:
        try:
            records = [
                r for r in itertools.islice(csv.reader(lines, delimiter=delimiter), _SNIFF_RECORDS) if r
            ]
        except csv.Error:
            continue
        if not records or len(records[0]) < 2:
            continue
        width = len(records[0])
        same = sum(len(r) == width for r in records[1:])
        key = (same == len(records) - 1, same, width)
        if best_key is None or key > best_key:
            best, best_key = delimiter, key
    return best


def _delimiter_option(value: str | None) -> str | None:
    """``--delimiter``: one character (``tab`` or ``\\t`` for a tab), or None to sniff."""
    if value is None:
        return None
    value = {"tab": "\t", "\\t": "\t", "semicolon": ";", "comma": ",", "pipe": "|"}.get(value.lower(), value)
    if len(value) != 1 or value in '"\r\n':
        raise InputError(
            f"--delimiter {value!r}: give one character other than a quote or line break, "
            "e.g. ';', ',', '|' or tab"
        )
    return value


def find_column(names, wanted: str, option: str, path: str, *, aliases=()) -> int:
    """The index of column ``wanted`` among a header's ``names``.

    An exact name wins; else a 1-based column number (``"3"``); else the one name that
    equals ``wanted`` or one of ``aliases`` ignoring case (``Text``, ``ТЕКСТ``).

    Raises
    ------
    InputError
        No such column, a column number out of range, or several columns matching
        (listed), each a one-line message naming ``option``.
    """
    names = list(names)
    if wanted in names:
        return names.index(wanted)
    if wanted.isdigit():
        number = int(wanted)
        if 1 <= number <= len(names):
            return number - 1
        raise InputError(
            f"{path}: {option} {wanted}: there is no column {number}, the header has {counted(len(names), 'column')}"
        )
    keys = {wanted.casefold(), *(a.casefold() for a in aliases)}
    matches = [i for i, name in enumerate(names) if name.casefold() in keys]
    if len(matches) == 1:
        return matches[0]
    if matches:
        listed = ", ".join(repr(names[i]) for i in matches)
        raise InputError(
            f"{path}: {option} {wanted!r} matches the columns {listed}; pass the exact name, "
            f"or the column number ({option} {matches[0] + 1})"
        )
    raise InputError(
        f"{path}: no column {wanted!r}; the columns are: {', '.join(names)}; pass {option} NAME or NUMBER"
    )


def _text_aliases(text_column: str) -> tuple[str, ...]:
    """Other names the default text column goes by: ``текст`` (Ukrainian and Russian)."""
    return ("текст",) if text_column == "text" else ()


def kept_columns(names, keep, skip, path: str) -> list[tuple[int, str]]:
    """The header's columns that ``keep`` carries to the output: (index, name), in input order.

    Parameters
    ----------
    names : list of str
        The header.
    keep : "all", list of str, or None
        ``all``: every column except those in ``skip`` (the text and id columns); a list:
        those columns (by name, case-insensitively, or number, as :func:`find_column`).
    skip : set of int
    path : str

    Names are made unique (``note``, ``note_2``) and an empty name becomes ``column_N``.
    """
    if not keep:
        return []
    if keep == "all":
        indices = [i for i in range(len(names)) if i not in skip]
    else:
        indices = sorted({find_column(names, name, "--keep", path) for name in keep})
    out, seen = [], set()
    for i in indices:
        name = names[i] or f"column_{i + 1}"
        base, k = name, 1
        while name in seen:
            k += 1
            name = f"{base}_{k}"
        seen.add(name)
        out.append((i, name))
    return out


def parse_keep(value: str | None):
    """``--keep``: ``all``, or a comma-separated list of column names (or numbers); None for none.

    Examples
    --------
    >>> parse_keep("date, sender"), parse_keep("ALL"), parse_keep(None)
    (['date', 'sender'], 'all', None)
    """
    if value is None:
        return None
    if value.strip().lower() == "all":
        return "all"
    names = [name.strip() for name in value.split(",") if name.strip()]
    if not names:
        raise InputError("--keep needs column names (comma-separated) or all")
    return names


def parse_column_option(values, paths, option: str = "--text-column", default: str = "text"):
    """Split repeatable ``--text-column`` values into a default and per-input columns.

    ``PATH=COLUMN`` sets the column of the input ``PATH`` (as given, the same file, or
    its file name when that names one input); a plain value is the default for the
    others. A column whose name holds ``=`` can be given by its number.

    Returns
    -------
    default : str
    per_input : dict of str to str
        Input path (as in ``paths``) to its column.

    Raises
    ------
    InputError
        ``PATH`` names no input, or two plain values.
    """
    if isinstance(values, str):
        values = [values]
    plain = [v for v in values if "=" not in v]
    if len(plain) > 1:
        raise InputError(
            f"{option} given twice ({', '.join(map(repr, plain))}); give one default, "
            f"and PATH=COLUMN for the inputs that differ"
        )
    per_input: dict[str, str] = {}
    for value in values:
        if "=" not in value:
            continue
        key, column = value.split("=", 1)
        matches = [p for p in paths if _names_input(key, p)]
        if len(matches) != 1:
            what = "names several inputs" if matches else "names no input"
            raise InputError(
                f"{option} {value!r}: {key!r} {what} (the inputs are: {', '.join(map(str, paths))}); "
                "write PATH=COLUMN with the input's path as given"
            )
        per_input[matches[0]] = column
    return (plain[0] if plain else default), per_input


def _names_input(key: str, path: str) -> bool:
    if key == path:
        return True
    try:
        if os.path.exists(key) and os.path.samefile(key, path):
            return True
    except OSError:
        pass
    return "/" not in key and os.sep not in key and Path(path).name == key


def _split_name(path: str) -> tuple[str, bool]:
    name = path.lower()
    gz = name.endswith(".gz")
    return (name[:-3] if gz else name), gz


def detect_format(path: str, fmt: str | None = None) -> str:
    """The input format of ``path`` from its extension (or ``fmt`` if given)."""
    if fmt:
        if fmt not in {*FORMATS.values(), *CHAT_FORMATS}:
            raise InputError(
                f"unknown input format {fmt!r}; use one of txt, csv, tsv, jsonl, parquet, xlsx, "
                f"{', '.join(CHAT_FORMATS)}"
            )
        return fmt
    if path == "-":
        return "txt"
    name, _ = _split_name(path)
    suffix = Path(name).suffix
    if suffix not in FORMATS:
        raise InputError(
            f"{path}: unknown file type {suffix or '(no extension)'!r}; use .txt (one message per line), "
            ".csv, .tsv, .jsonl, .ndjson, .parquet, .json (a Telegram export), each optionally .gz, "
            "or .xlsx, or pass --input-format"
        )
    if FORMATS[suffix] == "txt" and os.path.isfile(path):  # a WhatsApp export or chat log, by content
        from .chat_exports import sniff_file

        return sniff_file(path) or "txt"
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


def one_pass(path: str) -> bool:
    """Whether ``path`` is standard input, a pipe, a FIFO or a device: readable only once."""
    if path == "-":
        return True
    try:
        return not stat.S_ISREG(os.stat(path).st_mode) and not os.path.isdir(path)
    except OSError:
        return False


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
    delimiter : str, optional
        CSV/TSV delimiter (``tab`` for a tab); default sniffed from a .csv's first
        records (see :func:`sniff_delimiter`), a tab for .tsv.
    sheet : str, optional
        The sheet of an .xlsx input; default the first.
    keep : "all" or list of str, optional
        Input columns (JSON fields) to carry to the output in :attr:`Record.meta`
        (see :func:`kept_columns`).

    Column names (``text_column``, ``id_column``, ``keep``) of csv, tsv, xlsx and
    parquet inputs are found case-insensitively, or by 1-based number; the default
    text column is also found as ``текст``. JSON fields may be nested:
    ``message.body``.

    Attributes
    ----------
    format : str
    delimiter_used : str or None
        The CSV/TSV delimiter, once reading has started.
    encoding : str or None
        The encoding used (detected or given), once reading has started; for by-file
        folders, None (each file is detected on its own).
    recoded_rows : int
        Rows of a file read in a single-byte legacy encoding (cp1251, KOI8, ...) whose
        bytes were UTF-8, and were decoded as UTF-8: the file mixes encodings.
    skipped : dict of str to int
        By-file mode, once read: entries of the folder not read, by reason ("not .txt",
        "folder", "not a regular file", "broken link", "link out of the folder"); chat
        exports: lines that are not messages (``chat_exports.CHAT_SKIPS``).

    Raises
    ------
    InputError
        Missing path, unknown format or encoding.
    """

    def __init__(
        self,
        path,
        *,
        fmt=None,
        encoding=None,
        text_column="text",
        id_column=None,
        by_file=False,
        delimiter=None,
        sheet=None,
        keep=None,
    ):
        self.path = str(path)
        self.text_column = text_column
        self.id_column = id_column
        self.by_file = by_file
        self.delimiter = _delimiter_option(delimiter)
        self.delimiter_used = None
        self.sheet = sheet
        self.keep = keep
        self.given_encoding = encoding
        self.encoding = encoding
        self.skipped: dict[str, int] = {}
        self._decoder = None
        self._recoded_files = 0  # by-file: files that were UTF-8 in a legacy encoding
        self._stream_key = None
        _check_encoding(encoding)
        if by_file:
            if not Path(self.path).is_dir():
                raise InputError(f"{self.path}: --by-file needs a folder of .txt files")
            self.format = "txt-files"
            return
        if self.path == "-":
            self._stream_key = "-"
        else:
            p = Path(self.path)
            if not p.exists():
                raise InputError(f"{self.path}: no such file")
            if p.is_dir():
                raise InputError(
                    f"{self.path}: is a folder; pass the files in it, or --by-file for one message per file"
                )
            st = p.stat()
            if not stat.S_ISREG(st.st_mode):  # a pipe (<(...), /dev/fd/N), FIFO or device: one pass
                self._stream_key = (st.st_dev, st.st_ino)
        self.format = detect_format(self.path, fmt)
        if self.path == "-" and self.format in ("parquet", "xlsx"):
            raise InputError(f"{self.format} cannot be read from standard input; pass the file's path")

    @property
    def recoded_rows(self) -> int:
        """Rows (files, by-file) of a single-byte legacy file that were UTF-8, read as UTF-8."""
        return self._recoded_files + (self._decoder.recoded if self._decoder is not None else 0)

    def position(self) -> int | None:
        """Bytes of the file read so far (compressed bytes for gzip), while :meth:`records` reads it.

        None before and after, and for Parquet and by-file folders. Reading runs a buffer
        ahead of the records handed out: a position for progress bars, not an offset.
        """
        raw = getattr(self, "_raw", None)
        if raw is None or raw.closed:
            return None
        try:
            return raw.tell()
        except (OSError, ValueError):
            return None

    def check(self) -> None:
        """Read the first record, so that a missing text column is refused before any work.

        A pipe, FIFO or standard input can be read only once: what the check reads is
        kept (up to :data:`_CHECK_LIMIT` bytes) with the open stream, and the next
        :meth:`records` of the same input, by this or another :class:`Input`, replays it
        before reading on.
        """
        if self.by_file:
            return
        if self._stream_key is None or self.format in ("parquet", "xlsx"):
            records = self.records()
            try:
                next(records, None)
            finally:
                records.close()
            return
        raw = sys.stdin.buffer if self.path == "-" else open(self.path, "rb")
        recorder = _Recorder(raw, _CHECK_LIMIT)
        records = self._read_stream(recorder)
        try:
            next(records, None)
        except _CheckLimit:
            pass  # a first record this long is checked while scoring
        except BaseException:
            if self.path != "-":
                raw.close()
            raise
        finally:
            records.close()
        _CHECKED_STREAMS[self._stream_key] = (raw, bytes(recorder.kept))

    def records(self) -> Iterator[Record]:
        """Stream the records."""
        if self.by_file:
            yield from self._read_folder()
            return
        if self.format == "parquet":
            yield from self._read_parquet()
            return
        if self.format == "xlsx":
            from ._xlsx import read_xlsx

            yield from read_xlsx(self)
            return
        held = _CHECKED_STREAMS.pop(self._stream_key, None) if self._stream_key is not None else None
        if held is not None and (self.path != "-" or held[0] is sys.stdin.buffer):
            raw, kept = held
            stream = io.BufferedReader(_Prefixed(kept, raw), buffer_size=1 << 16)
        else:
            raw = stream = sys.stdin.buffer if self.path == "-" else open(self.path, "rb")
        self._raw = raw  # for position()
        try:
            yield from self._read_stream(stream)
        finally:
            if self.path != "-":
                raw.close()

    def _read_stream(self, raw) -> Iterator[Record]:
        try:
            sample, stream = _peeked(raw)
            if sample.startswith(_GZIP_MAGIC):
                # the first MiB is decompressed before any row, so a bomb yields none
                sample, stream = _peeked(_Gunzip(stream, self.path), BOMB_CHECK_AFTER + 1)
            self.encoding = self.given_encoding or detect_encoding(sample[:_SAMPLE])
            fh, self._decoder = _text_stream(stream, self.encoding)
            decode = self._decoder
            if self.format == "txt":
                yield from _read_txt(fh, decode=decode)
            elif self.format in ("csv", "tsv"):
                delimiter = self.delimiter or ("\t" if self.format == "tsv" else None)
                if delimiter is None:  # delimiters are ASCII: any single-byte reading finds them
                    start = sample[:_SAMPLE].decode("latin-1" if decode else self.encoding, "replace")
                    delimiter = sniff_delimiter(start)
                self.delimiter_used = delimiter
                yield from _read_delimited(
                    fh, self.path, delimiter, self.text_column, self.id_column, decode=decode, keep=self.keep
                )
            elif self.format in CHAT_FORMATS:
                from .chat_exports import read_chat_export

                yield from read_chat_export(self, stream, fh, sample)
            else:
                yield from _read_jsonl(
                    fh, self.path, self.text_column, self.id_column, decode=decode, keep=self.keep
                )
        except (OSError, EOFError, zlib.error) as exc:
            raise InputError(f"{self.path}: cannot read ({exc}); is the file complete?") from None
        except UnicodeError as exc:  # e.g. UTF-16 with an odd number of bytes or no BOM
            reason = getattr(exc, "reason", None) or str(exc)
            raise InputError(
                f"{self.path}: cannot decode as {self.encoding} ({reason}); pass the right --encoding"
            ) from None

    def _read_folder(self) -> Iterator[Record]:
        """The folder's ``.txt`` (and ``.txt.gz``) files, one record each, in name order.

        Links are followed only to files inside the folder; every entry not read is
        counted in :attr:`skipped`, by reason.
        """
        self.skipped = {}
        self._recoded_files = 0
        folder = os.path.realpath(self.path)
        files = []
        for p in sorted(Path(self.path).iterdir()):
            reason = None
            target = os.path.realpath(p)
            if p.is_symlink() and not os.path.exists(target):
                reason = "broken link"
            elif os.path.commonpath([folder, target]) != folder:
                reason = "link out of the folder"
            elif os.path.isdir(target):
                reason = "folder"
            elif not os.path.isfile(target):
                reason = "not a regular file"
            elif not p.name.lower().endswith((".txt", ".txt.gz")):
                reason = "not .txt"
            if reason:
                self.skipped[reason] = self.skipped.get(reason, 0) + 1
            else:
                files.append((p, target))
        limit = 4 * MAX_CHARS + 4  # bounded: at most 4 bytes a character
        for n, (p, target) in enumerate(files, start=1):
            try:  # no link followed and no FIFO waited on, should the entry change meanwhile
                fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            except OSError as exc:
                yield Record(n, None, error=f"cannot read ({exc.strerror})", source=str(p))
                continue
            with open(fd, "rb") as fh:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    yield Record(n, None, error="not a regular file", source=str(p))
                    continue
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
            if _single_byte(encoding):
                decoder = _RowDecoder(encoding)
                text = decoder(data.decode("latin-1"), cut=more)
                self._recoded_files += decoder.recoded
            else:
                text = data.decode(encoding, "surrogateescape")
            if text.startswith("\ufeff"):
                text = text[1:]
            cut = len(text) > MAX_CHARS or more
            record = Record(n, text[:MAX_CHARS].strip("\r\n"), source=str(p), truncated=cut)
            yield _check_text(record, decoded=True)

    def _read_parquet(self, row_groups=None, first: int = 1) -> Iterator[Record]:
        """Rows of a parquet file (or of some row groups), read in bounded batches.

        Column chunks larger than :data:`MAX_PARQUET_CHUNK` uncompressed (by the file's
        metadata) are refused before reading. Text columns are read as dictionaries, so
        a value repeated in many rows is one string, however many rows repeat it; and
        the text read may not expand past :data:`MAX_PARQUET_EXPANSION` times the file's
        size (a dictionary-encoded bomb). Corrupted data is a one-line error.
        """
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise InputError(
                "reading parquet needs pyarrow: pip install 'coercion-classifier[parquet]'"
            ) from None
        try:
            pf = pq.ParquetFile(self.path)
            schema = pf.schema_arrow
        except Exception as exc:
            raise InputError(f"{self.path}: not a readable parquet file ({_one_line(exc)})") from None
        names = schema.names
        ti = find_column(
            names, self.text_column, "--text-column", self.path, aliases=_text_aliases(self.text_column)
        )
        ii = find_column(names, self.id_column, "--id-column", self.path) if self.id_column else None
        kept = kept_columns(names, self.keep, {ti, ii}, self.path)
        columns = [names[ti]] + ([names[ii]] if ii is not None else []) + [names[i] for i, _ in kept]
        strings = [c for c in columns if _is_string_type(pa, schema.field(c).type)]
        try:
            _check_parquet_sizes(pf.metadata, columns, row_groups, self.path)
            pf = pq.ParquetFile(self.path, read_dictionary=strings)
            batches = pf.iter_batches(batch_size=_PARQUET_BATCH, columns=columns, row_groups=row_groups)
        except InputError:
            raise
        except Exception as exc:
            raise InputError(f"{self.path}: not a readable parquet file ({_one_line(exc)})") from None
        size = os.path.getsize(self.path)
        texts_cache, ids_cache = _DictionaryCache(pa, MAX_CHARS + 1), _DictionaryCache(pa, None)
        kept_caches = [_DictionaryCache(pa, MAX_CHARS) for _ in kept]
        n, produced = first - 1, 0
        while True:
            try:
                batch = next(batches, None)
                if batch is None:
                    return
                texts, chars = texts_cache.cells(batch.column(0))
                ids = ids_cache.cells(batch.column(1))[0] if ii is not None else [None] * len(texts)
                first_kept = 1 + (ii is not None)
                kept_cells = []
                for k, cache in enumerate(kept_caches):
                    cells, more = cache.cells(batch.column(first_kept + k))
                    kept_cells.append(cells)
                    chars += more  # kept text counts against the bomb limit too
            except (pa.ArrowException, OSError, ValueError) as exc:
                raise InputError(
                    f"{self.path}: corrupted parquet data after row {n:,} ({_one_line(exc)}); "
                    "nothing was written. Rewrite or re-export the file"
                ) from None
            produced += chars
            _check_expansion(produced, size, self.path, "parquet")
            for j, (text, rid) in enumerate(zip(texts, ids, strict=True)):
                n += 1
                rid = None if rid is None else str(rid)
                meta = {name: _cell_text(cells[j]) for (_, name), cells in zip(kept, kept_cells, strict=True)}
                meta = meta or None
                if text is None:
                    yield Record(n, None, rid, error="empty text (null)", meta=meta)
                elif not isinstance(text, str):
                    yield Record(
                        n,
                        None,
                        rid,
                        error=f"column {names[ti]!r} holds a value of type {type(text).__name__}, not text",
                        meta=meta,
                    )
                else:
                    yield _check_text(
                        Record(n, text[:MAX_CHARS], rid, truncated=len(text) > MAX_CHARS, meta=meta)
                    )


def _cell_text(value) -> str | None:
    """A spreadsheet or parquet cell as text: numbers as written (``2``, not ``2.0``), dates as ISO.

    Examples
    --------
    >>> import datetime
    >>> [_cell_text(v) for v in (None, 2.0, 1.5, True, datetime.datetime(2024, 3, 1, 9, 30))]
    [None, '2', '1.5', 'TRUE', '2024-03-01 09:30:00']
    """
    import datetime

    if value is None:
        return None
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool):
        text = "TRUE" if value else "FALSE"  # as a spreadsheet shows it
    elif isinstance(value, float):
        text = str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    elif isinstance(value, datetime.datetime):
        if value.time() == datetime.time(0) and value.tzinfo is None:
            text = value.date().isoformat()
        else:
            text = value.isoformat(sep=" ", timespec="microseconds" if value.microsecond else "seconds")
    elif isinstance(value, datetime.date | datetime.time):
        text = value.isoformat()
    else:
        text = str(value)
    return _UNDECODABLE.sub("\ufffd", text[:MAX_CHARS])


def _one_line(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_string_type(pa, kind) -> bool:
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


def _check_parquet_sizes(meta, columns, row_groups, path) -> None:
    """Refuse a column chunk that would take more than :data:`MAX_PARQUET_CHUNK` bytes to decode."""
    wanted = set(columns)
    for i in range(meta.num_row_groups) if row_groups is None else row_groups:
        group = meta.row_group(i)
        for j in range(group.num_columns):
            chunk = group.column(j)
            if chunk.path_in_schema in wanted and chunk.total_uncompressed_size > MAX_PARQUET_CHUNK:
                raise InputError(
                    f"{path}: column {chunk.path_in_schema!r} of row group {i} holds "
                    f"{chunk.total_uncompressed_size:,} bytes uncompressed, more than {MAX_PARQUET_CHUNK:,}; "
                    "rewrite the file with smaller row groups (e.g. pyarrow's row_group_size=100_000)"
                )


class _DictionaryCache:
    """Python values of a parquet column's batches, with strings cut to ``cut`` characters.

    A dictionary-encoded batch is converted value by value from its dictionary (once for
    consecutive batches sharing it) and its rows share those strings, so memory follows
    the dictionary's size, not the rows'.
    """

    def __init__(self, pa, cut: int | None):
        self._pa = pa
        self._cut = cut
        self._dictionary = None
        self._values: list = []
        self._lengths: list[int] = []

    def _convert(self, values: list) -> list:
        if self._cut is None:
            return values
        return [v[: self._cut] if isinstance(v, str) else v for v in values]

    def cells(self, array) -> tuple[list, int]:
        """The batch's values, and how many characters of text they hold."""
        if not self._pa.types.is_dictionary(array.type):
            values = self._convert(array.to_pylist())
            return values, sum(len(v) for v in values if isinstance(v, str))
        dictionary = array.dictionary
        if self._dictionary is None or not dictionary.equals(self._dictionary):
            self._dictionary = dictionary
            self._values = self._convert(dictionary.to_pylist())
            self._lengths = [len(v) if isinstance(v, str) else 0 for v in self._values]
        values, lengths = self._values, self._lengths
        indices = array.indices.to_pylist()
        cells = [None if i is None else values[i] for i in indices]
        return cells, sum(lengths[i] for i in indices if i is not None)


def _check_text(record: Record, decoded: bool = False) -> Record:
    """Set the record's error if its text is undecodable or empty.

    With ``decoded`` (the text was decoded from the file's bytes: txt, csv, tsv,
    by-file), text with a NUL, or with control characters making up a tenth of it, is
    an error too: binary data, or UTF-16/32 read as another encoding, never a message.
    """
    if record.error or record.text is None:
        return record
    text = record.text
    match = _UNDECODABLE.search(text)
    if match:
        record.error = (
            f"undecodable bytes at column {match.start() + 1} (pass --encoding if the file is not UTF-8)"
        )
        record.text = None
    elif (
        decoded
        and _CONTROL.search(text)
        and ("\0" in text or len(_CONTROL.findall(text)) * 10 >= max(len(text), 2))
    ):
        record.error = (
            "text holds NUL bytes or control characters: binary data, or UTF-16/32 without a BOM; "
            "pass --encoding (e.g. utf-16-le) if it is text"
        )
        record.text = None
    elif not text.strip():
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


def _read_txt(fh, first: int = 1, decode=None) -> Iterator[Record]:
    for n, (line, cut) in enumerate(_lines(fh, MAX_CHARS), start=first):
        line = line.rstrip("\r\n")
        if decode is not None:
            line = decode(line, cut)
        yield _check_text(Record(n, line, truncated=cut), decoded=True)


# A CSV record longer than this many characters is re-read field by field, keeping the
# first MAX_CHARS + 1 characters of each field, so memory stays bounded however long
# the field (the csv module would otherwise hold the whole record).
_MAX_RECORD = 4 * MAX_CHARS
# What is handed on of one cut record: a record of countless small fields loses the rest.
_MAX_HANDED_ON = 2 * _MAX_RECORD
# A quoted field that runs on over this many lines (five times as many in a one-column
# file) is looked at: if most of its lines look like records, its quote is stray.
_RUN_ON_LINES = 20
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
        self.field_end = _FIELD_END.get(delimiter) or re.compile("[" + re.escape(delimiter) + "\r\n]")
        # past the budget only line ends and quotes that open a field still matter
        self.skim = re.compile("[\r\n]|(?<=" + re.escape(delimiter) + ')"')
        self.lines = 0
        self.cut = False
        self.width = 0  # the header's number of fields, once known: run-on fields are looked for
        self.swallowed: int | None = None  # last line of a run-on quoted field given up on
        self._numeric_ids: bool | None = None  # every record so far starts with a number
        self._kept: list[str] = []  # the record so far (at most _MAX_RECORD characters)
        self._size = 0
        self._next_check = 0

    def expect(self, width: int) -> None:
        """The header has ``width`` fields: from now on, give up on run-on quoted fields."""
        self.width = width
        self._next_check = _RUN_ON_LINES if width > 1 else 5 * _RUN_ON_LINES

    def saw(self, row: list[str]) -> None:
        """A good record: learn whether records start with a number (an id)."""
        if row and self._numeric_ids is not False:
            self._numeric_ids = row[0].strip().isdigit()

    def record_done(self) -> None:
        self._kept.clear()
        self._size = 0
        self.cut = False
        self.swallowed = None
        if self.width:
            self._next_check = _RUN_ON_LINES if self.width > 1 else 5 * _RUN_ON_LINES

    def __iter__(self):
        source = self.fh
        readline = source.fh.readline  # the hot path; the text stream keeps \r\n together
        kept = self._kept
        while True:
            if self.width and len(kept) >= self._next_check and not self.cut:
                self._next_check *= 2  # looked at again when twice as long
                if self._runs_on(kept):
                    self._read_again()
                    yield '"\n'  # closes the quoted field: the csv reader ends the record
                    continue
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

    def _read_again(self) -> None:
        """Give up on the current record: its lines after the first are read again."""
        kept = self._kept
        self.swallowed = self.lines
        self.lines -= len(kept) - 1
        self.fh.unread("".join(kept[1:]))
        kept.clear()
        self._size = 0

    def failed(self) -> int | None:
        """After a quoting error in a record of several lines that look like records.

        A stray quote that a later quote closes, with text after it, makes the csv reader
        fail at the closing line: the lines in between are read again as records, and
        the last line looked at is returned. None (nothing read again) otherwise.
        """
        if not self.width or self.cut or len(self._kept) < 2 or not self._runs_on(self._kept):
            return None
        self._read_again()
        return self.swallowed

    def _runs_on(self, kept: list[str]) -> bool:
        """Whether most lines after the record's first would be records of their own.

        A record only continues past a line end inside a quoted field; when that field's
        lines look like the file's records (the header's number of fields, and a number
        first if every record so far started with one; for a one-column file, any
        non-empty line without quotes), its opening quote is most likely stray.
        """
        inner = kept[1:]
        return sum(map(self._record_like, inner)) * 2 >= len(inner)

    def _record_like(self, line: str) -> bool:
        line = line.rstrip("\r\n")
        if not line.strip():
            return False
        if self.width == 1:
            return '"' not in line
        try:
            fields = next(csv.reader([line], delimiter=self.delimiter, strict=True))
        except csv.Error:
            return False
        return len(fields) == self.width and (not self._numeric_ids or fields[0].strip().isdigit())

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


def _read_delimited(fh, path, delimiter, text_column, id_column, decode=None, keep=None) -> Iterator[Record]:
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
    header = [(decode(h) if decode else h).strip() for h in header]
    ti = find_column(header, text_column, "--text-column", path, aliases=_text_aliases(text_column))
    ii = find_column(header, id_column, "--id-column", path) if id_column else None
    text_column = header[ti]
    kept = kept_columns(header, keep, {ti, ii}, path)
    lines.expect(len(header))
    sep = _DELIMITER_NAMES.get(delimiter, repr(delimiter))
    n = 0
    while True:
        line = lines.lines + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            swallowed = lines.failed()
            lines.record_done()
            n += 1
            if swallowed is not None:
                # a new reader over the lines: the old one may have seen their end already
                reader = csv.reader(lines, delimiter=delimiter, strict=True)
                yield Record(n, None, error=_run_on_error(line, swallowed))
            else:
                yield Record(n, None, error=f"malformed CSV at line {line} ({exc})")
            continue
        cut, swallowed = lines.cut, lines.swallowed
        lines.record_done()
        n += 1
        rid = row[ii] if ii is not None and ii < len(row) else None
        if rid is not None and decode is not None:
            rid = decode(rid)
        if swallowed is not None:
            yield Record(n, None, rid, error=_run_on_error(line, swallowed))
            continue
        if len(row) <= ti:
            yield Record(n, None, rid, error=f"line {line} has {len(row)} fields, no {text_column!r} field")
            continue
        if len(row) > len(header):
            count = f"at least {len(row):,}" if cut else f"{len(row):,}"  # a cut record lost some
            yield Record(
                n,
                None,
                rid,
                error=f"line {line} has {count} fields, the header has {len(header)} "
                f"(an unquoted {sep} in the text? quote the field)",
            )
            continue
        lines.saw(row)
        text = row[ti]
        long = cut or len(text) > MAX_CHARS
        if decode is not None:
            text = decode(text, long)
        meta = _row_meta(row, kept, decode) if kept else None
        yield _check_text(Record(n, text[:MAX_CHARS], rid, truncated=long, meta=meta), decoded=True)


def _row_meta(row, kept, decode=None) -> dict:
    """The kept cells of a CSV row (empty where the row is short), each cut to MAX_CHARS."""
    meta = {}
    for i, name in kept:
        value = row[i] if i < len(row) else ""
        if decode is not None:
            value = decode(value, len(value) > MAX_CHARS)
        meta[name] = _UNDECODABLE.sub("\ufffd", value[:MAX_CHARS])  # stray bytes cannot be written out
    return meta


def json_kind(value) -> str:
    """What a parsed JSON value is, for messages: ``a JSON number``, ``a JSON object``..."""
    kinds = {bool: "boolean", int: "number", float: "number", str: "string", list: "array", dict: "object"}
    return "null" if value is None else f"a JSON {kinds.get(type(value), type(value).__name__)}"


def _run_on_error(line: int, last: int) -> str:
    return (
        f"malformed CSV at line {line}: the quoted field opened there runs on over lines "
        f"{line + 1}-{last}, which look like records of their own (a stray quote?); "
        "those lines are read as records; fix the quoting"
    )


_MISSING = object()


def json_field(obj: dict, name: str):
    """The value of field ``name`` of a JSON object: a key, or a dotted path into nested objects.

    A key spelled exactly as ``name`` wins (``"message.body": ...``); otherwise
    ``message.body`` is ``obj["message"]["body"]``. A missing field is ``_MISSING``.

    Examples
    --------
    >>> json_field({"message": {"body": "hi"}}, "message.body")
    'hi'
    """
    if name in obj:
        return obj[name]
    value = obj
    for part in name.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _json_cell(value) -> str | None:
    """A JSON value as an output cell: strings as they are, numbers and booleans as JSON, the rest as JSON text."""
    if value is None or value is _MISSING:
        return None
    if isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, ensure_ascii=False)
    return _UNDECODABLE.sub("\ufffd", text[:MAX_CHARS])


def _read_jsonl(
    fh, path, text_column, id_column, first: int = 1, checked: bool = False, decode=None, keep=None
) -> Iterator[Record]:
    for n, (line, cut) in enumerate(_lines(fh, MAX_JSON_LINE), start=first):
        if cut:
            yield Record(n, None, error=f"JSON line longer than {MAX_JSON_LINE:,} characters; not parsed")
            continue
        if not line.strip():
            yield Record(n, None, error="empty line")
            continue
        if decode is not None:
            line = decode(line)
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield Record(n, None, error=f"malformed JSON at column {exc.colno} ({exc.msg})")
            continue
        except ValueError as exc:  # an integer of more digits than Python converts
            yield Record(n, None, error=f"malformed JSON ({str(exc).split(';')[0]})")
            continue
        except RecursionError:
            yield Record(n, None, error="malformed JSON (arrays or objects nested too deeply)")
            continue
        if not isinstance(obj, dict):
            yield Record(n, None, error=f"JSON line is {json_kind(obj)}, not an object")
            continue
        if not checked:
            checked = True
            if json_field(obj, text_column) is _MISSING:
                raise InputError(
                    f"{path}:{n}: no field {text_column!r}; the fields are: {', '.join(obj)}; "
                    "pass --text-column NAME (a nested field as outer.inner)"
                )
        rid = json_field(obj, id_column) if id_column else None
        rid = None if rid is None or rid is _MISSING else str(rid)
        meta = None
        if keep:
            skip = {text_column, text_column.split(".")[0], id_column}  # the text is not copied twice
            names = [k for k in obj if k not in skip] if keep == "all" else keep
            meta = {name: _json_cell(json_field(obj, name)) for name in names}
        text = json_field(obj, text_column)
        if text is None or text is _MISSING:
            error = f"field {text_column!r} is null" if text is None else f"no field {text_column!r}"
            yield Record(n, None, rid, error=error, meta=meta)
        elif not isinstance(text, str):
            yield Record(
                n, None, rid, error=f"field {text_column!r} is {json_kind(text)}, not a string", meta=meta
            )
        else:
            yield _check_text(Record(n, text[:MAX_CHARS], rid, truncated=len(text) > MAX_CHARS, meta=meta))


def read_records(
    path,
    *,
    fmt: str | None = None,
    text_column: str = "text",
    id_column: str | None = None,
    encoding=None,
    delimiter=None,
    sheet=None,
    keep=None,
) -> Iterator[Record]:
    """Stream the records of one input file (see :class:`Input` for the options).

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "m.txt")
    >>> _ = open(p, "w", encoding="utf-8").write("мамо я живий\\n\\n")
    >>> [(r.row, r.error) for r in read_records(p)]
    [(1, ''), (2, 'empty text')]
    """
    return Input(
        path,
        fmt=fmt,
        encoding=encoding,
        text_column=text_column,
        id_column=id_column,
        delimiter=delimiter,
        sheet=sheet,
        keep=keep,
    ).records()


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
            fh, source._decoder = _text_stream(stream, encoding)
            decode = source._decoder
            if source.format == "txt":
                yield from _read_txt(fh, first_row, decode=decode)
            else:  # a later part: the text field was checked on the file's first object
                yield from _read_jsonl(
                    fh,
                    source.path,
                    source.text_column,
                    source.id_column,
                    first_row,
                    checked=begin > 0,
                    decode=decode,
                )
    except OSError as exc:
        raise InputError(f"{source.path}: cannot read ({exc}); is the file complete?") from None
