"""A small, fast language guess for messages: ``uk``, ``ru``, ``en`` or ``other``.

Used to label output rows and to slice metrics; not a general language identifier.

* Letters and common short words are counted per message in one compiled pass over
  the batch (words are matched by hash against small stop-word tables).
* Cyrillic text is told apart by the letters only one of the two languages uses
  (Ukrainian ``і ї є ґ``, Russian ``ы э ъ ё``). When those are absent, or tie, the
  stop words decide; a full tie says ``ru``.
* Latin-letter text is ``en`` when at least a tenth of its words are common English
  words, else ``other`` (transliterated Russian or Ukrainian, other languages).
"""

from __future__ import annotations

import numpy as np

from . import _kernels

_UK_WORDS = frozenset(
    {
        "що",
        "як",
        "це",
        "та",
        "його",
        "вона",
        "мене",
        "тебе",
        "але",
        "щоб",
        "ще",
        "вже",
        "ми",
        "ви",
        "він",
        "вони",
        "мамо",
        "тату",
        "живий",
        "добре",
        "дуже",
        "буде",
        "був",
        "була",
        "коли",
        "де",
        "чи",
        "бо",
        "нема",
        "немає",
        "треба",
        "хлопці",
        "наших",
        "нашим",
        "свої",
        "свого",
        "вас",
        "вам",
        "тобі",
        "мені",
    }
)
_RU_WORDS = frozenset(
    {
        "что",
        "как",
        "это",
        "его",
        "она",
        "меня",
        "тебя",
        "но",
        "чтобы",
        "еще",
        "уже",
        "мы",
        "вы",
        "он",
        "они",
        "живой",
        "хорошо",
        "очень",
        "будет",
        "был",
        "была",
        "когда",
        "где",
        "ли",
        "потому",
        "нет",
        "надо",
        "ребята",
        "наших",
        "нашим",
        "свои",
        "своего",
        "вас",
        "вам",
        "тебе",
        "мне",
        "если",
        "или",
    }
)
_EN_WORDS = frozenset({
    "the", "and", "to", "of", "is", "you", "we", "i", "in", "for", "are", "my", "me", "it",
    "that", "this", "not", "our", "your", "be", "they", "have", "on", "with", "please",
    "a", "an", "was", "were", "at", "from", "he", "she", "his", "her", "them", "us", "will", "all",
    "can", "do", "don't", "im", "i'm", "it's", "its", "just", "so", "if", "what", "there", "here",
})  # fmt: skip


def _hashes(words) -> np.ndarray:
    return np.array(sorted({_kernels.word_hash(w) for w in words}), dtype=np.uint64)


_TABLES = (_hashes(_UK_WORDS), _hashes(_RU_WORDS), _hashes(_EN_WORDS))


def _decide(cyr, lat, uk, ru, words, uk_w, ru_w, en_w) -> str:
    if cyr == 0 and lat == 0:
        return "other"
    if cyr >= lat:
        if uk != ru:
            return "uk" if uk > ru else "ru"
        if uk_w != ru_w:
            return "uk" if uk_w > ru_w else "ru"
        return "ru"
    return "en" if en_w >= max(1, 0.1 * words) else "other"


def detect_languages(texts: list[str]) -> list[str]:
    """Guess the language of each message of a batch (see :func:`detect_language`)."""
    if not texts:
        return []
    cps, offsets = _kernels.encode_batch(texts)
    counts = _kernels.batch_language_counts(cps, offsets, *_TABLES).tolist()
    return [_decide(*c) for c in counts]


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
    >>> detect_language("Mom, I am alive, please do not worry")
    'en'
    """
    return detect_languages([text])[0]
