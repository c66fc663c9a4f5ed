"""A small, fast language guess for messages: ``uk``, ``ru``, ``en`` or ``other``.

Used to label output rows and to slice metrics; not a general language identifier.
Cyrillic text is told apart by letters only one of the two languages uses (Ukrainian
``і ї є ґ``, Russian ``ы э ъ ё``) and, when those are absent, by common short words.
Latin-letter text is ``en`` when it has enough common English words, else ``other``
(transliterated Russian or Ukrainian, other languages).
"""

from __future__ import annotations

import re

_UK_LETTERS = set("іїєґ")
_RU_LETTERS = set("ыэъё")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_LATIN = re.compile(r"[a-z]")
_WORD = re.compile(r"[^\W\d_]+")
_UK_WORDS = {"що", "як", "це", "та", "його", "вона", "мене", "тебе", "але", "щоб", "ще", "вже", "нас"}
_RU_WORDS = {"что", "как", "это", "его", "она", "меня", "тебя", "но", "чтобы", "еще", "уже", "нас", "мы"}
_EN_WORDS = {
    "the", "and", "to", "of", "is", "you", "we", "i", "in", "for", "are", "my", "me", "it",
    "that", "this", "not", "our", "your", "be", "they", "have", "on", "with", "please",
}  # fmt: skip


def detect_language(text: str) -> str:
    """Guess the language of one message.

    Parameters
    ----------
    text : str

    Returns
    -------
    str
        ``"uk"``, ``"ru"``, ``"en"`` or ``"other"``.

    Examples
    --------
    >>> detect_language("Мамо, я живий, не хвилюйся")
    'uk'
    >>> detect_language("Мама, выходите на митинг")
    'ru'
    """
    lower = text.lower()
    cyr = len(_CYRILLIC.findall(lower))
    lat = len(_LATIN.findall(lower))
    if cyr == 0 and lat == 0:
        return "other"
    if cyr >= lat:
        uk = sum(ch in _UK_LETTERS for ch in lower)
        ru = sum(ch in _RU_LETTERS for ch in lower)
        if uk != ru:
            return "uk" if uk > ru else "ru"
        words = _WORD.findall(lower)
        uk_w = sum(w in _UK_WORDS for w in words)
        ru_w = sum(w in _RU_WORDS for w in words)
        if uk_w != ru_w:
            return "uk" if uk_w > ru_w else "ru"
        return "ru" if "и" in lower else "uk"
    words = _WORD.findall(lower)
    if not words:
        return "other"
    en = sum(w in _EN_WORDS for w in words)
    return "en" if en >= max(1, 0.15 * len(words)) else "other"
