"""Chat exports as inputs: Telegram Desktop's JSON, WhatsApp's .txt, "[date] name: text" logs.

Each message becomes one :class:`~classifier.readers.Record` whose ``text`` is the message
alone; its date, sender, chat and forwarded-from go to ``Record.meta`` (keys
:data:`META_KEYS`, always all four, None when the export does not say), so that they
never reach the model.

* ``telegram``: ``result.json`` of one chat (``{"name", "type", "id", "messages"}``) or
  of the whole account (``{"chats": {"list": [...]}, "left_chats": ...}``), read as a
  stream of JSON events (ijson), so a file of any size is read in constant memory. Text
  given as a list of strings and entities (``{"type": "bold", "text": ...}``) is joined.
  Service messages (joins, pins, calls) are not messages: they are counted in
  ``Input.skipped``. A message with media and no text (no caption) is an error row
  ``no text: photo``, like an empty line in a .txt: it still has a date and a sender.
* ``whatsapp``: lines ``12/03/2024, 21:14 - Оля: text`` (Android) or ``[12.03.24,
  21:14:05] Оля: text`` (iPhone), in any locale's date order, 12 or 24 hours, with the
  U+200E and U+202F marks the app writes. A line that does not start a message continues
  the one before. System lines (encryption notice, "added", "left") are counted in
  ``Input.skipped``; media placeholders (``<Media omitted>``, ``‎image omitted``) and
  deleted messages are error rows ``no text: ...``.
* ``chatlog``: ``[date time] name: text`` lines, continued the same way.

Dates become ISO 8601 (``2024-03-12T21:14``) when their order is certain: year first,
or dotted (every locale that writes ``12.03.24`` puts the day first), or, for ``/`` and
``-`` dates, when some date in the file has a first number above 12 (day first) or a
second one above 12 (month first), and not both. The whole file is scanned for this
before its first row; a pipe or standard input is decided from its first 64 KiB. Without
such evidence (every day of the file is 12 or less), or with contradicting evidence, the
dates are kept as written.
"""

from __future__ import annotations

import datetime
import io
import os
import re
from collections.abc import Iterator

from .errors import InputError
from .readers import (
    _GZIP_MAGIC,
    _SAMPLE,
    CHAT_FORMATS,
    MAX_CHARS,
    Record,
    _check_text,
    _Gunzip,
    _gunzip_start,
    _lines,
    _peeked,
    _text_stream,
    detect_encoding,
    json_kind,
)

__all__ = ["CHAT_FORMATS", "CHAT_SKIPS", "META_KEYS", "read_chat_export", "sniff_text_format"]

META_KEYS = ("date", "sender", "chat", "forwarded_from")
SERVICE = "Telegram service"
SYSTEM = "WhatsApp system"
# Reasons in Input.skipped that are chat lines (the rest are --by-file folder entries).
CHAT_SKIPS = frozenset({SERVICE, SYSTEM})
# No JSON string or number in a Telegram export comes near this (a message is at most
# 4,096 characters, split into entities); the JSON parser holds a whole token, so a
# longer run of bytes without a string ending is refused before it is held.
MAX_JSON_TOKEN = 2 << 20
MAX_DEPTH = 64
_META_CHARS = 1000  # a sender's or chat's name is at most a few hundred characters

# --- line-based exports: WhatsApp and generic logs ------------------------------------------

_DATE = r"(?P<d1>\d{1,4})(?P<sep>[./-])(?P<d2>\d{1,2})(?P=sep)(?P<d3>\d{2,4})"
_TIME = r"(?P<h>\d{1,2})[:.](?P<mi>\d{2})(?:[:.](?P<s>\d{2}))?(?:\s*(?P<ampm>[AaPp]\.?\s?[Mm]\.?))?"
_ANDROID = re.compile(rf"(?P<stamp>{_DATE},?\s+{_TIME})\s+[-–]\s(?P<rest>.*)", re.S)
_IOS = re.compile(rf"\[(?P<stamp>{_DATE},\s+{_TIME})\]\s(?P<rest>.*)", re.S)
_LOG = re.compile(rf"\[(?P<stamp>{_DATE}(?:,?\s+|T){_TIME})\]\s?(?P<rest>.*)", re.S)
_SENDER = re.compile(r'(?P<sender>[^:"\n]{1,100}?): (?P<text>.*)', re.S)
_MARKS = "\ufeff\u200e\u200f"
# Whole-message placeholders for media the export left out (Android in angle brackets,
# iPhone after U+200E), in the languages analysts' phones use.
_MEDIA = re.compile(
    r"<(?:media omitted|медіа пропущено|медиа отсутствуют|без медиафайлов|medien ausgeschlossen"
    r"|attached: [^<>\n]+)>"
    r"|(?:image|video|audio|sticker|gif|document|contact card) omitted"
    r"|(?:зображення|відео|аудіо|стікер|документ) пропущено"
    r"|(?:изображение|видео|аудио|стикер|документ) отсутствует",
    re.I,
)
_DELETED = re.compile(
    r"this message was deleted\.?|you deleted this message\.?|це повідомлення видалено\.?"
    r"|ви видалили це повідомлення\.?|это сообщение удалено\.?|данное сообщение удалено\.?"
    r"|вы удалили это сообщение\.?",
    re.I,
)
_ENCRYPTED = re.compile(r"end-to-end encrypted|наскрізним шифруванням|сквозным шифрованием", re.I)
_CHAT_NAME = re.compile(r"WhatsApp Chat (?:with|-) (?P<name>.+?)(?: \(\d+\))?\.txt(?:\.gz)?$", re.I)
_SNIFF_LINES = 20


def _header(line: str, fmt: str):
    """The match of a line that starts a message, or None."""
    line = line.lstrip(_MARKS)
    if fmt == "whatsapp":
        return _ANDROID.match(line) or _IOS.match(line)
    return _LOG.match(line)


def sniff_text_format(text: str) -> str | None:
    """``whatsapp`` or ``chatlog`` if the first lines of ``text`` are such an export, else None.

    The first non-empty line must start a message, and so must at least half of the first
    20 non-empty lines (the others may continue multi-line messages).

    Examples
    --------
    >>> sniff_text_format("12/03/2024, 21:14 - Оля: привіт\\n")
    'whatsapp'
    >>> sniff_text_format("[14.02.24 18:30] Unknown: text\\n")
    'chatlog'
    >>> sniff_text_format("мамо, я живий\\n12/03/2024, 21:14 - Оля: привіт\\n") is None
    True
    """
    lines = [line for line in text.lstrip("\ufeff").splitlines() if line.strip()][:_SNIFF_LINES]
    if len(text) >= _SAMPLE and len(lines) > 1:
        lines = lines[:-1]  # the sample may cut the last line
    for fmt in ("whatsapp", "chatlog"):
        hits = [_header(line, fmt) is not None for line in lines]
        if hits and hits[0] and 2 * sum(hits) >= len(hits):
            return fmt
    return None


def sniff_file(path: str) -> str | None:
    """:func:`sniff_text_format` on the first 64 KiB of a regular file (gzip or not); None if unreadable."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(_SAMPLE)
            if data.startswith(_GZIP_MAGIC):
                data, _ = _gunzip_start(data, fh, _SAMPLE)
    except (OSError, EOFError, ValueError):
        return None  # reading it for real says what is wrong
    return sniff_text_format(data.decode(detect_encoding(data), "replace"))


def _date_order(stamps) -> str | None:
    """``dmy``, ``mdy`` or None (no evidence, or contradicting) from the headers' matches."""
    day_first = month_first = False
    for m in stamps:
        if m["sep"] == "." or len(m["d1"]) == 4:
            continue
        day_first |= int(m["d1"]) > 12
        month_first |= int(m["d2"]) > 12
    if day_first != month_first:
        return "dmy" if day_first else "mdy"
    return None


def _iso(m, order: str | None) -> str:
    """The header's date and time in ISO 8601 when certain, else as written."""
    d1, d2, d3 = int(m["d1"]), int(m["d2"]), int(m["d3"])
    if len(m["d1"]) == 4:
        year, month, day = d1, d2, d3
    else:
        year = d3 + 2000 if len(m["d3"]) == 2 else d3
        if m["sep"] == "." or order == "dmy":
            day, month = d1, d2
        elif order == "mdy":
            month, day = d1, d2
        else:
            return m["stamp"]
    hour = int(m["h"])
    if m["ampm"]:
        if hour > 12 or hour == 0:
            return m["stamp"]
        hour = hour % 12 + (12 if m["ampm"][0] in "Pp" else 0)
    try:
        stamp = datetime.datetime(year, month, day, hour, int(m["mi"]), int(m["s"] or 0))
    except ValueError:
        return m["stamp"]
    return stamp.isoformat(timespec="seconds" if m["s"] else "minutes")


def _scan_order(source, fmt: str, sample: bytes) -> str | None:
    """The file's date order (see the module docstring), from all of it when it can be read twice."""
    if source._stream_key is not None:  # a pipe: only its start
        text = sample.decode(source.encoding, "replace")
        return _date_order(m for line in text.splitlines() if (m := _header(line, fmt)))
    with open(source.path, "rb") as raw:
        start, stream = _peeked(raw)
        if start.startswith(_GZIP_MAGIC):
            stream = io.BufferedReader(_Gunzip(stream, source.path), buffer_size=1 << 16)
        fh, _ = _text_stream(stream, source.encoding)  # dates are ASCII: no row decoding
        matches = (_header(line, fmt) for line, _ in _lines(fh, MAX_CHARS))
        return _date_order(m for m in matches if m)


def _read_lines(source, fh, sample: bytes, decode) -> Iterator[Record]:
    """Messages of a WhatsApp or "[date] name: text" export (``source.format``)."""
    fmt, path = source.format, source.path
    if source.id_column:
        raise InputError(
            f"{path}: --id-column does not apply to {fmt} exports (their messages have no ids); "
            "rows are numbered by the line each message starts on"
        )
    order = _scan_order(source, fmt, sample)
    name = _CHAT_NAME.search(os.path.basename(path)) if fmt == "whatsapp" else None
    chat = name["name"] if name else None
    skipped = source.skipped
    current = None  # [row, meta, pieces, length, cut]
    started = False  # a message or system line was seen: later lines continue it

    def finish():
        row, meta, pieces, _, cut = current
        text = "".join(pieces).rstrip()
        if fmt == "whatsapp":
            marked = text.startswith("\u200e")
            bare = text.lstrip(_MARKS).strip()
            if _MEDIA.fullmatch(bare):
                return Record(row, None, error=f"no text: {bare.strip('<>')}", meta=meta)
            if _DELETED.fullmatch(bare):
                return Record(row, None, error="no text: message deleted", meta=meta)
            if marked or (meta["sender"] is None and _ENCRYPTED.search(bare)):
                skipped[SYSTEM] = skipped.get(SYSTEM, 0) + 1  # iPhone marks its own lines with U+200E
                return None
        long = cut or len(text) > MAX_CHARS
        return _check_text(Record(row, text[:MAX_CHARS], truncated=long, meta=meta), decoded=True)

    for n, (line, cut) in enumerate(_lines(fh, MAX_CHARS), start=1):
        line = line.rstrip("\r\n")
        if decode is not None:
            line = decode(line, cut)
        m = _header(line, fmt)
        if m is None:
            if current is None:
                if line.strip() and not started:
                    yield Record(
                        n,
                        None,
                        error=f"not a {'WhatsApp message' if fmt == 'whatsapp' else 'chat log'} line "
                        "(date, time, sender: text), and no message before it",
                    )
                continue
            if current[3] <= MAX_CHARS:
                current[2].append("\n" + line)
                current[3] += len(line) + 1
            current[4] = current[4] or cut or current[3] > MAX_CHARS
            continue
        if current is not None and (record := finish()) is not None:
            yield record
        started, rest = True, m["rest"]
        said = _SENDER.fullmatch(rest)
        if said is None and fmt == "whatsapp":
            skipped[SYSTEM] = skipped.get(SYSTEM, 0) + 1  # "Оля added Петро", the encryption notice
            current = None  # its continuation lines, if any, go with it
            continue
        sender, text = (said["sender"].lstrip(_MARKS), said["text"]) if said else (None, rest)
        meta = {"date": _iso(m, order), "sender": sender, "chat": chat, "forwarded_from": None}
        current = [n, meta, [text], len(text), cut]
    if current is not None and (record := finish()) is not None:
        yield record


# --- Telegram Desktop's JSON export ---------------------------------------------------------


class _TooDeep(Exception):
    """The JSON nests deeper than :data:`MAX_DEPTH` (or, with a message, ends where it may not)."""


class _TokenGuard:
    """A binary stream that refuses a run of :data:`MAX_JSON_TOKEN` bytes without a string ending.

    The JSON parser holds a whole string or number while it reads it; this sees every
    byte first and counts the bytes since the last quote that is not escaped, so no
    token longer than the limit is ever held. Only a chunk whose first or last quote
    follows a backslash is looked at closely (escapes replaced, lengths kept).
    """

    def __init__(self, stream, path: str):
        self._stream = stream
        self._path = path
        self._run = 0  # bytes since the last string delimiter
        self._slash = False  # the previous chunk ended with an odd run of backslashes
        self.offset = 0

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size if size and size > 0 else 1 << 16) if size != 0 else b""
        if data:
            self.offset += len(data)
            self._see(data)
        return data

    def _see(self, data: bytes) -> None:
        first, last = data.find(b'"'), data.rfind(b'"')
        if first >= 0 and not self._slash and (first == 0 or data[first - 1] != 0x5C):
            if last == 0 or data[last - 1] != 0x5C:
                self._check(self._run + first)
                self._run = len(data) - last - 1
                self._after(data)
                return
        if first < 0:
            self._run += len(data)
        else:  # a quote after a backslash: read the escapes exactly
            text = (b"\\" if self._slash else b"") + data
            text = text.replace(b"\\\\", b"__").replace(b'\\"', b"__")
            if self._slash:
                text = text[1:]
            first, last = text.find(b'"'), text.rfind(b'"')
            if first < 0:
                self._run += len(data)
            else:
                self._check(self._run + first)
                self._run = len(data) - last - 1
        self._after(data)

    def _after(self, data: bytes) -> None:
        self._check(self._run)
        if data.endswith(b"\\"):
            tail = len(data) - len(data.rstrip(b"\\"))
            self._slash = (tail + (self._slash and tail == len(data))) % 2 == 1
        else:
            self._slash = False

    def _check(self, run: int) -> None:
        if run > MAX_JSON_TOKEN:
            raise InputError(
                f"{self._path}: more than {MAX_JSON_TOKEN >> 20} MiB without a JSON string ending, before byte "
                f"{self.offset:,}: not a Telegram Desktop export (its messages are at most "
                "4,096 characters); nothing was written. If it is one, split the message"
            )


class _Events:
    """ijson's basic events, with the nesting depth kept and bounded by :data:`MAX_DEPTH`."""

    def __init__(self, events):
        self._events = self.raw = events
        self.depth = 0

    def enter(self) -> None:
        """Count a start event read from :attr:`raw`."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _TooDeep

    def next(self):
        try:
            event, value = next(self._events)
        except StopIteration:  # not inside a generator: it would become a RuntimeError there
            raise _TooDeep("ends early") from None
        step = _STEP.get(event)
        if step:
            self.depth += step
            if self.depth > MAX_DEPTH:
                raise _TooDeep
        return event, value

    def skip(self, event) -> None:
        """Skip the rest of the value that ``event`` began (the hot loop: events skipped are most)."""
        if event not in ("start_map", "start_array"):
            return
        level, room, events, step = 1, MAX_DEPTH - self.depth, self._events, _STEP.get
        try:
            while level:
                level += step(next(events)[0], 0)
                if level > room:
                    raise _TooDeep
        except StopIteration:
            raise _TooDeep("ends early") from None
        self.depth -= 1


_END = (None, None)  # what next(raw, _END) gives at the end of the events
_STEP = {"start_map": 1, "start_array": 1, "end_map": -1, "end_array": -1}
_TOP_KEYS = {"about", "personal_information", "name", "type", "id", "messages", "chats", "left_chats"}
_MEDIA_KEYS = {
    "photo": "photo",
    "file": "file",
    "poll": "poll",
    "location_information": "location",
    "contact_information": "contact",
    "game_information": "game",
    "invoice_information": "invoice",
}
_KEPT = {"type", "date", "from", "forwarded_from", "media_type"}


def _not_telegram(path: str, why: str) -> InputError:
    return InputError(
        f"{path}: {why}: not a Telegram Desktop export (result.json); for one JSON object per line, "
        "name the file .jsonl or pass --input-format jsonl"
    )


def _cut(value) -> str | None:
    return None if value is None else str(value)[:_META_CHARS]


def _read_telegram(source, stream) -> Iterator[Record]:
    import ijson

    path, id_column, skipped = source.path, source.id_column, source.skipped
    guard = _TokenGuard(stream, path)
    events = _Events(ijson.basic_parse(guard, use_float=True))
    row = 0
    yielded = False

    def message(chat) -> Record | None:
        """One message object (its start_map already read)."""
        fields: dict = {}
        pieces: list[str] = []
        length, media = 0, None
        raw = events.raw
        while True:  # the hot loop: the events of a message's own fields, depth kept by hand
            event, key = next(raw, _END)
            if event == "end_map":
                events.depth -= 1
                break
            event, value = next(raw, _END)
            if event in ("start_map", "start_array"):
                events.enter()
            elif event is None:
                raise _TooDeep("ends early")
            if key == "text":
                if event == "string":
                    pieces.append(value[: MAX_CHARS + 1])
                    length += len(value)
                elif event == "start_array":
                    length = entities(pieces, length)
                else:
                    events.skip(event)
            elif key in _MEDIA_KEYS:
                media = media or _MEDIA_KEYS[key]
                events.skip(event)
            elif key in _KEPT or key == id_column:
                if event in ("start_map", "start_array"):
                    events.skip(event)
                else:
                    fields[key] = _cut(value)
            else:
                events.skip(event)
        if fields.get("type") == "service":
            skipped[SERVICE] = skipped.get(SERVICE, 0) + 1
            return None
        meta = {
            "date": fields.get("date"),
            "sender": fields.get("from"),
            "chat": chat,
            "forwarded_from": fields.get("forwarded_from"),
        }
        rid = fields.get(id_column) if id_column else None
        text = "".join(pieces)
        media = fields.get("media_type") or media
        if media and not text.strip():
            return Record(row, None, rid, error=f"no text: {media}", meta=meta)
        record = Record(row, text[:MAX_CHARS], rid, truncated=length > MAX_CHARS, meta=meta)
        return _check_text(record)

    def entities(pieces, length) -> int:
        """A text given as a list of strings and entity objects; returns the text's length."""
        while True:
            event, value = events.next()
            if event == "end_array":
                return length
            if event == "string":
                text = value
            elif event == "start_map":
                text = None
                while (item := events.next())[0] != "end_map":
                    event, value = events.next()
                    if item[1] == "text" and event == "string":
                        text = value
                    else:
                        events.skip(event)
            else:
                events.skip(event)
                continue
            if text and length <= MAX_CHARS:
                pieces.append(text[: MAX_CHARS + 1 - length])
            length += len(text or "")

    def messages(chat) -> Iterator[Record]:
        nonlocal row
        while True:
            event, value = events.next()
            if event == "end_array":
                return
            row += 1
            if event != "start_map":
                events.skip(event)
                yield Record(row, None, error=f"message is {_kind(event, value)}, not an object")
                continue
            if (record := message(chat)) is not None:
                yield record

    def chat_list(found) -> Iterator[Record]:
        """``{"about": ..., "list": [chat, ...]}``."""
        while (item := events.next())[0] != "end_map":
            event, _ = events.next()
            if item[1] != "list" or event != "start_array":
                events.skip(event)
                continue
            while (event := events.next()[0]) != "end_array":
                if event != "start_map":
                    events.skip(event)
                    continue
                name = None
                while (item := events.next())[0] != "end_map":
                    event, value = events.next()
                    if item[1] == "name" and event not in ("start_map", "start_array"):
                        name = _cut(value)
                    elif item[1] == "messages" and event == "start_array":
                        found.append(True)
                        yield from messages(name)
                    else:
                        events.skip(event)

    def document() -> Iterator[Record]:
        try:
            event, value = events.next()
        except ijson.JSONError:
            raise _not_telegram(path, "not JSON") from None
        if event != "start_map":
            raise _not_telegram(path, f"its top level is {_kind(event, value)}")
        name, found, first = None, [], True
        while (item := events.next())[0] != "end_map":
            key = item[1]
            if first and key not in _TOP_KEYS:
                raise _not_telegram(path, f"its first key is {key!r}")
            first = False
            event, value = events.next()
            if key == "name" and event not in ("start_map", "start_array"):
                name = _cut(value)
            elif key == "messages" and event == "start_array":
                found.append(True)
                yield from messages(name)
            elif key in ("chats", "left_chats") and event == "start_map":
                yield from chat_list(found)
            else:
                events.skip(event)
        if not found:
            raise _not_telegram(path, "a JSON object with no chats or messages")

    records = document()
    try:
        for record in records:
            yielded = True
            yield record
    except InputError:
        raise
    except (ijson.JSONError, ValueError, _TooDeep) as exc:
        if isinstance(exc, _TooDeep):
            why = "ends early" if exc.args else f"nests more than {MAX_DEPTH} levels deep"
        elif isinstance(exc, ijson.IncompleteJSONError) and "premature EOF" in str(exc):
            why = "ends early"
        else:
            why = f"is malformed ({' '.join(str(exc).split())[:120]})"
        where = f"near byte {guard.offset:,}"
        if not yielded:
            raise InputError(
                f"{path}: the JSON {why} {where}, before any message; is the file complete?"
            ) from None
        yield Record(
            row + 1,
            None,
            error=f"the JSON {why} {where}: the messages after it were not read",
        )


def _kind(event: str, value) -> str:
    """What the JSON value that ``event`` starts is, for messages."""
    return {"start_array": "a JSON array", "start_map": "a JSON object"}.get(event) or json_kind(value)


def read_chat_export(source, stream, fh, sample: bytes) -> Iterator[Record]:
    """The records of a chat export, for :meth:`classifier.readers.Input.records`.

    Parameters
    ----------
    source : Input
        Its ``format`` is one of :data:`CHAT_FORMATS`; its ``skipped`` counts what is
        not a message.
    stream : binary stream
        The input from its start (decompressed), for JSON.
    fh : text stream
        The same, decoded, for line-based exports.
    sample : bytes
        The input's first bytes (decompressed).
    """
    source.skipped = {}
    if source.format == "telegram":
        if source.encoding not in ("utf-8", "utf-8-sig"):
            raise _not_telegram(source.path, f"the file is {source.encoding}, and Telegram writes UTF-8")
        if sample.startswith(b"\xef\xbb\xbf"):
            stream.read(3)
        yield from _read_telegram(source, stream)
    else:
        yield from _read_lines(source, fh, sample, source._decoder)
