"""Text normalisation shared by training and scoring.

The same function runs on labelled data and on scored messages, so the model never
sees a difference between the two. The steps, in order:

1. Invisible characters removed (zero-width spaces and joiners, bidi marks, soft
   hyphens, BOMs, tag characters): they are used to split words so filters miss
   them.
2. Unicode NFKC (full-width letters, ligatures, compatibility digits), case folding,
   and NFKC again (case folding can undo it).
3. Chat-export metadata is removed from the start of each line: time stamps with a
   sender ("[14.02.24 18:30] Unknown:", WhatsApp's "12/03/2024, 21:14 - Oleh:",
   Telegram's "Oleh, [14.02.2024 18:30]"), bare time stamps and forwarded headers
   ("Forwarded from ...", "Переслано від ..."). They say who sent a message and when,
   not what it says: a model that saw them learned which exports its positives came
   from. Then URLs and e-mail addresses become ``url``, @mentions ``@u``.
4. Combining marks that NFKC could not compose (stress accents) are removed; control
   characters count as spaces.
5. Leetspeak: a run of digits (or ``@``) between two letters, or of one or two digits
   at a word's edge, is read as the letters it stands for (``0`` о, ``1`` і, or и in
   a Russian-looking message, ``3`` е, ``4`` а, ``7`` т ...): "7ут", "пр0тест".
   Phone numbers (a digit run of 9 or more digits, spaces, brackets, dots and dashes
   allowed inside) become ``zvn``; every other run of digits becomes ``0``, set apart
   from a word it was glued to ("2024р" -> "0 р").
6. Latin / Greek letters that look like Cyrillic ones (in upper or lower case) are
   folded onto the Cyrillic letter (``o`` -> ``о``, ``m`` -> ``м`` ...), and ``ё``
   onto ``е``. The fold is
   applied to all text, English included: it is a fixed relabelling of letters,
   so features stay consistent, and homoglyph-mixed words map to one spelling.
7. Apostrophes, quotes and dashes unified; a character repeated more than three
   times is cut to three (``ВЫХОДИТЕЕЕЕЕ``); whitespace collapsed; runs of three or
   more single letters separated by spaces joined ("в и х о д ь т е").

Normalising twice gives the same text as normalising once (a property test checks
it). Steps 1-3 run as string methods on the joined batch (the URL patterns only on
the messages that can hold one); steps 4-7 are one compiled pass over the batch's
code points (:func:`classifier._kernels.normalize_batch`).
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterable

import numpy as np

from . import _kernels

# What a text's features are: normalisation plus n-gram hashing. Bump it whenever either
# changes what the model sees, so that models built before are refused, not misread.
# 2: leetspeak at word edges, "1" as и in Russian text, placeholders after case folding.
# 3: chat-export metadata (time stamps, senders, forwarded headers) removed.
FEATURES_VERSION = 3

# Characters that render as nothing (or nearly) and are used to break up words.
_INVISIBLE = (
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e"
    "\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
    "\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069\u206a\u206b\u206c\u206d\u206e\u206f"
    "\u3164\ufe00\ufe01\ufe02\ufe03\ufe04\ufe05\ufe06\ufe07\ufe08\ufe09\ufe0a\ufe0b\ufe0c\ufe0d"
    "\ufe0e\ufe0f\ufeff\uffa0"
)

# Look-alike letters folded onto Cyrillic. Folding runs after casefold, so the
# lower-case forms of upper-case look-alikes (B/В, H/Н, K/К, M/М, T/Т) are
# folded too: "ПPOTECT" written with Latin capitals must meet "протест".
_LOOKALIKES = {
    "a": "а",
    "b": "в",
    "c": "с",
    "e": "е",
    "h": "н",
    "i": "і",
    "j": "ј",
    "k": "к",
    "m": "м",
    "o": "о",
    "p": "р",
    "s": "ѕ",
    "t": "т",
    "x": "х",
    "y": "у",
    "ё": "е",
    # Greek
    "α": "а",
    "ε": "е",
    "ο": "о",
    "ρ": "р",
    "χ": "х",
    "κ": "к",
    "ι": "і",
}

_PUNCT = {
    "\u2019": "'",
    "\u2018": "'",
    "\u02bc": "'",
    "\u02b9": "'",
    "`": "'",
    "\u00b4": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u00ab": '"',
    "\u00bb": '"',
    "\u2013": "-",
    "\u2014": "-",
    "\u2012": "-",
    "\u2212": "-",
}

# Chat-export metadata at the start of a line (matched after case folding). A sender
# name is at most 40 characters without a colon, bracket or line break.
_DATE = r"\d{1,4}[./-]\d{1,2}[./-]\d{1,4}"
_TIME = r"\d{1,2}:\d{2}(?::\d{2})?(?:\s?[ap]\.?m\.?)?"
_NAME = r"[^\n:\[\]]{1,40}?"
_META_ITEM = (
    rf"\[[^\]\n]{{0,30}}?{_TIME}[^\]\n]{{0,12}}\](?:\s*{_NAME}:)?"  # [14.02.24 18:30] Unknown:, [Viber 16:44]
    rf"|\[{_DATE}\](?:\s*{_NAME}:)?"  # [14.02.24] Unknown:
    rf"|{_DATE},?\s+{_TIME}\s*[-–—]\s*{_NAME}:"  # 12/03/2024, 21:14 - Oleh:
    rf"|(?:{_DATE}[,\s]+)?{_TIME}\s+[^\s:\[\]]+(?:[ \t][^\s:\[\]]+){{0,2}}:(?=\s)"  # 18:30 Мама:
    rf"|{_NAME},\s*\[{_DATE}[,\s]+{_TIME}\]"  # Oleh, [14.02.2024 18:30]
    rf"|(?:{_DATE}[,\s]+)?{_TIME}[ \t]*$"  # a time stamp alone on its line
    r"|-*\s*forwarded message\s*-*"
    r"|(?:forwarded from|переслано (?:від|з|із|из|от)|пересланное сообщение от|переслане повідомлення від)"
    r"[^\n:]{0,60}?(?::|[ \t]*$)"
)
_META = re.compile(rf"^[\s\x00-\x1f\x7f-\x9f]*(?:(?:{_META_ITEM})[ \t]*)+", re.MULTILINE)
_META_HINT = re.compile(r"\d:\d\d|forwarded|переслан|\[\d")

_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_BARE_URL = re.compile(r"\b[\w.-]+\.(?:com|org|net|ua|ru|info|me|io)(?:/\S*)?\b", re.IGNORECASE)
_TLD_HINT = re.compile(r"\.(?:com|org|net|ua|ru|info|me|io)\b", re.IGNORECASE)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_MENTION = re.compile(r"(?<!\w)@[\w@]+")

# Combining marks of the Basic Multilingual Plane (the compiled pass deletes them too).
_MARKS_RE = re.compile(
    "["
    + "".join(re.escape(chr(c)) for c in range(0x300, 0x10000) if unicodedata.category(chr(c)) == "Mn")
    + "]"
)
_INVISIBLE_RE = re.compile("[" + re.escape(_INVISIBLE) + "\U000e0000-\U000e007f]")

# Joins a batch into one string; a private-use character the steps leave alone.
_SEP = "\ue000"


def _code_point_table() -> np.ndarray:
    table = np.arange(0x10000, dtype=np.int32)
    for cp in range(0x10000):
        ch = chr(cp)
        if ch.isspace() or (cp < 0x20 or 0x7F <= cp < 0xA0):
            table[cp] = _kernels.SPACE  # control characters become spaces, like whitespace
        elif ch.isdecimal():
            table[cp] = _kernels.DIGIT
        elif unicodedata.category(ch) == "Mn":
            # combining marks left after NFKC (stress accents, stacked diacritics) carry no
            # meaning here and would let a second pass compose differently
            table[cp] = _kernels.DELETE
    for ch in _INVISIBLE:
        table[ord(ch)] = _kernels.DELETE
    for src, dst in {**_LOOKALIKES, **_PUNCT}.items():
        table[ord(src)] = ord(dst)
    table[ord(_SEP)] = _kernels.SPACE  # never inside a message (it is the separator)
    return table


_table_cache: list[np.ndarray] = []


def _table() -> np.ndarray:
    if not _table_cache:
        _table_cache.append(_code_point_table())
    return _table_cache[0]


def strip_metadata(text: str) -> str:
    """Remove chat-export time stamps, sender names and forwarded headers at line starts.

    Expects case-folded text (as the normaliser has it by then).

    Examples
    --------
    >>> strip_metadata("[14.02.24 18:30] unknown: мамо, привіт")
    'мамо, привіт'
    >>> strip_metadata("12/03/2024, 21:14 - oleh: i'm fine")
    "i'm fine"
    """
    if not _META_HINT.search(text):
        return text
    return _META.sub("", text)


def _placeholders(text: str) -> str:
    # Regexes run only on messages that can match: scanning every message with
    # them would cost more than all the other steps together.
    if ("@" in text or "." in text) and _MARKS_RE.search(text):
        text = _MARKS_RE.sub("", text)  # a mark must not hide a link or mention ("@\u0306x")
    if "://" in text or "www." in text:
        text = _URL.sub(" url ", text)
    if "." in text and _TLD_HINT.search(text):
        text = _BARE_URL.sub(" url ", text)
    if "@" in text:
        text = _MENTION.sub(" @u ", _EMAIL.sub(" url ", text))
    return text


def _nfkc(joined: str) -> str:
    """NFKC of a joined batch, normalising only the messages that need it.

    One message with an emoji or an ellipsis would otherwise cost the whole batch a
    normalisation. Per message is the same: the separator never combines with anything.
    """
    if unicodedata.is_normalized("NFKC", joined):
        return joined
    return _SEP.join(
        [
            t if unicodedata.is_normalized("NFKC", t) else unicodedata.normalize("NFKC", t)
            for t in joined.split(_SEP)
        ]
    )


def _clean_joined(texts: list[str]) -> str:
    """Steps 1-3 of the module docstring on a batch, joined by ``_SEP``."""
    joined = _SEP.join([t.replace(_SEP, " ") if _SEP in t else t for t in texts])
    if _INVISIBLE_RE.search(joined):  # before NFKC, so that "а\u200b\u0306" composes like "а\u0306"
        joined = _INVISIBLE_RE.sub("", joined)
    joined = _nfkc(joined)
    joined = _nfkc(joined.casefold())  # casefold can undo NFKC ("ǅ", "İ"...)
    if _META_HINT.search(joined):
        joined = _SEP.join([strip_metadata(t) for t in joined.split(_SEP)])
    # Placeholders last, on the cleaned text, so that a second pass finds nothing new
    # (an invisible character or a capital letter no longer hides a link or a mention).
    if "@" in joined or "." in joined or "://" in joined:
        joined = _SEP.join([_placeholders(t) for t in joined.split(_SEP)])
    return joined


def clean_texts(texts: Iterable[str]) -> list[str]:
    """Steps 1-3 only: invisible characters, NFKC and case, chat metadata, links and mentions.

    The letters are left as written (no look-alike fold, no leetspeak), for uses that
    read the spelling itself, such as matching a transliterated copy of a message
    (:func:`classifier.campaigns.campaign_texts`).

    Examples
    --------
    >>> clean_texts(["[14.02.24 18:30] Unknown: Mamo, VY\u200bKHODTE!"])
    ['mamo, vykhodte!']
    """
    texts = list(texts)
    return _clean_joined(texts).split(_SEP) if texts else []


def normalize_codepoints(texts) -> tuple[np.ndarray, np.ndarray]:
    """Normalise a batch straight to code points, for the compiled feature code.

    Returns
    -------
    cps : numpy.ndarray of uint32
        The normalised messages back to back.
    offsets : numpy.ndarray of int64
        Message ``d`` is ``cps[offsets[d]:offsets[d + 1]]``.
    """
    texts = list(texts)
    joined = _clean_joined(texts)
    raw = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    seps = np.flatnonzero(raw == ord(_SEP))
    bounds = np.empty(2 * len(texts), dtype=np.int64)
    bounds[0::2] = np.concatenate(([0], seps + 1))
    bounds[1::2] = np.concatenate((seps, [len(raw)]))
    return _kernels.normalize_batch(raw, bounds, _table())


def decode(cps: np.ndarray, offsets: np.ndarray) -> list[str]:
    """Code points and offsets back to a list of strings."""
    joined = cps.tobytes().decode("utf-32-le", "surrogatepass")
    bounds = offsets.tolist()
    return [joined[a:b] for a, b in itertools.pairwise(bounds)]


def normalize_text(text: str) -> str:
    """Normalise one message.

    Parameters
    ----------
    text : str
        Raw message text.

    Returns
    -------
    str
        The normalised text (see the module docstring for the steps).

    Examples
    --------
    >>> normalize_text("ВЫХОДИТЕ   на\u200b МАЙДАН!!!!! https://t.me/x")
    'выходите на майдан!!! url'
    """
    return normalize_texts([text])[0]


def normalize_texts(texts: Iterable[str]) -> list[str]:
    """Normalise a batch of messages (one compiled pass for the whole batch).

    Parameters
    ----------
    texts : iterable of str

    Returns
    -------
    list of str
    """
    texts = list(texts)
    if not texts:
        return []
    return decode(*normalize_codepoints(texts))
