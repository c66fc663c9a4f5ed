"""Text normalisation shared by training and scoring.

The same function runs on labelled data and on scored messages, so the model never
sees a difference between the two. The steps, in order:

1. Unicode NFKC (full-width letters, ligatures, compatibility digits).
2. Case folding.
3. Invisible and control characters removed (zero-width spaces and joiners, bidi
   marks, soft hyphens, BOMs): they are used to split words so filters miss them.
4. URLs and e-mail addresses become ``url``, @mentions ``@u``, phone numbers
   ``zvn``; every run of digits becomes ``0``.
5. Latin / Greek letters that look like Cyrillic ones (in upper or lower case) are
   folded onto the Cyrillic letter (``o`` -> ``о``, ``m`` -> ``м`` ...), and ``ё``
   onto ``е``. The fold is
   applied to all text, English included: it is a fixed relabelling of letters,
   so features stay consistent, and homoglyph-mixed words map to one spelling.
6. Apostrophes, quotes and dashes unified; a character repeated more than three
   times is cut to three (``ВЫХОДИТЕЕЕЕЕ``); whitespace collapsed.

``normalize_texts`` does all of this on a whole batch at once (one call per step on
the joined batch), which is several times faster than a per-message loop.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from sklearn.base import BaseEstimator, TransformerMixin

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

_TABLE = str.maketrans(
    {
        **{ch: None for ch in _INVISIBLE},
        # C0/C1 control characters (but not whitespace) become spaces.
        **{chr(c): " " for c in range(0x20) if chr(c) not in "\t\n\r\x0b\x0c"},
        **{chr(c): " " for c in range(0x7F, 0xA0)},
        **_LOOKALIKES,
        **_PUNCT,
    }
)

_URL = re.compile(r"(?:https?://|www\.)\S+|\b[\w.-]+\.(?:com|org|net|ua|ru|info|me|io)(?:/\S*)?\b")
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b")
_MENTION = re.compile(r"(?<!\w)@\w+")
_PHONE = re.compile(r"(?<!\w)\+?\d[\d\s().-]{7,}\d(?!\w)")
_DIGITS = re.compile(r"\d+")
_REPEAT = re.compile(r"(.)\1{3,}")
_SPACE = re.compile(r"[^\S\ue000]+")

# Joins a batch into one string; a private-use character no step touches.
_SEP = "\ue000"


def _normalize_joined(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    # Placeholders use only letters the look-alike fold leaves alone.
    text = _URL.sub(" url ", text)
    text = _EMAIL.sub(" url ", text)
    text = _MENTION.sub(" @u ", text)
    text = _PHONE.sub(" zvn ", text)
    text = _DIGITS.sub("0", text)
    text = text.translate(_TABLE)
    text = _REPEAT.sub(r"\1\1\1", text)
    return _SPACE.sub(" ", text)


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
    return _normalize_joined(text.replace(_SEP, " ")).strip()


def normalize_texts(texts: Iterable[str]) -> list[str]:
    """Normalise a batch of messages; same result as ``normalize_text`` on each.

    Parameters
    ----------
    texts : iterable of str

    Returns
    -------
    list of str
    """
    texts = [t.replace(_SEP, " ") if _SEP in t else t for t in texts]
    if not texts:
        return []
    parts = _normalize_joined(_SEP.join(texts)).split(_SEP)
    if len(parts) != len(texts):  # pragma: no cover - NFKC never creates the separator
        return [normalize_text(t) for t in texts]
    return [p.strip() for p in parts]


class TextNormalizer(TransformerMixin, BaseEstimator):
    """Pipeline step applying :func:`normalize_texts`. Stateless."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return normalize_texts(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        tags.requires_fit = False
        return tags
