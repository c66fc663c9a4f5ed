"""Mask personal data in message texts: phone numbers, e-mail addresses, card numbers, @handles.

Messages sent to a hotline name relatives' phones, cards to pay "for an exchange" and
Telegram accounts. :func:`redact` replaces them with ``[phone]``, ``[email]``,
``[card]`` and ``[handle]`` so that a text can be shown or shared without them.

What is masked, in this order (an earlier mask is never matched again):

* **e-mail addresses**: ``name@domain.tld`` (Unicode letters allowed);
* **Telegram links**: ``t.me/name``, ``https://t.me/name`` (as ``[handle]``);
* dates (``12.03.2024``, ``12/03/2024``, ``2024-03-12``, a range of them) are then set
  aside, so that no card or phone is looked for inside them;
* **card numbers**: a window of whole digit groups, 13 to 19 digits, that passes the
  Luhn check (ids and digit runs that fail it stay): one group (also glued to a word,
  ``картка4111111111111111``), or a group of 4 then groups of 3 to 6 digits
  (``4111 1111 1111 1111``, ``3782 822463 10005``), so that ``4111 1111 1111 1111 500``
  is a card and an amount;
* **phone numbers**: ``+`` and a country code followed by 9 to 15 digits in all
  (``+380 67 123 45 67``, ``+7 (912) 345-67-89``, ``+380671234567``), a national
  number of 10 to 12 digits starting with ``0``, ``8`` or an area code in brackets
  (``067-123-45-67``, ``8 (912) 345-67-89``, ``0671234567``), or ``380`` and 9 digits
  (``380671234567``); an amount grouped by thousands (``8 000 000 000``) is not one;
* **handles**: ``@`` followed by 5 to 32 letters, digits or ``_``, starting with a
  letter (Telegram's rule), not preceded by a letter or digit.

Digit groups may be separated by one space, no-break space, thin space, narrow no-break
space, figure space, dot, hyphen or en dash. Dates, years, times, short numbers, amounts
and an ``@`` standing alone (``5 @ 10``) are not masked. Heuristics, not a guarantee: a
13-19 digit id passes the Luhn check one time in ten and is then masked as a card; a
phone written with unusual grouping (``06 712 345 67 8``) may be left.
"""

from __future__ import annotations

import re

MASKS = {"email": "[email]", "card": "[card]", "phone": "[phone]", "handle": "[handle]"}

# what separates digit groups: a space, a no-break space, a thin space, a narrow no-break
# space, a figure space, a dot, a hyphen or an en dash
_SEP = "[ \u00a0\u2009\u202f\u2007.\\-\u2013]"
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}(?![\w-])")
_TME = re.compile(
    r"(?<![\w./])(?:https?://)?(?:www\.)?(?:t|telegram)\.me/(?:joinchat/|\+)?[\w-]+/?", re.IGNORECASE
)
# dates (dd.mm.yyyy, dd/mm/yyyy, yyyy-mm-dd) are set aside before cards and phones are looked for
_DATE = re.compile(r"(?<![\d+])(?:[0-3]?\d[./][01]?\d[./](?:19|20)\d\d|(?:19|20)\d\d-[01]\d-[0-3]\d)(?!\d)")
_KEPT = "\ue000"  # stands for a date while cards and phones are masked (not a digit, not \w)
# a run of digit groups, each separated by one separator; a letter may touch it (card glued to a word)
_DIGIT_RUN = re.compile(rf"(?<![\d+])\d+(?:{_SEP}\d+)*(?!\d)")
_PHONE = re.compile(
    rf"(?<![\w+])(?:(?:\+\d{{1,3}}|8){_SEP}?)?(?:\(\d{{2,5}}\){_SEP}?|\d{{2,5}}{_SEP})?\d{{2,4}}"
    rf"(?:{_SEP}?\d{{2,4}}){{1,3}}(?!\w)"
)
_HANDLE = re.compile(r"(?<![\w@])@[A-Za-z][A-Za-z0-9_]{4,31}(?![\w@])")


def luhn_ok(digits: str) -> bool:
    """Whether a string of digits passes the Luhn check that payment card numbers carry.

    Examples
    --------
    >>> luhn_ok("4111111111111111"), luhn_ok("4111111111111112")
    (True, False)
    """
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _cards(match: re.Match) -> str:
    """A digit run with every card in it masked.

    A card is a window of whole digit groups, 13 to 19 digits, that passes the Luhn check:
    one group, or a first group of 4 digits and groups of 3 to 6 after it (4-4-4-4,
    4-6-5, 4-4-4-4-3), so that ``4111 1111 1111 1111 500`` is a card then an amount.
    The longest window from each group is tried first.
    """
    run = match.group()
    groups = [(g.start(), g.end()) for g in re.finditer(r"\d+", run)]
    out, pos, i = [], 0, 0
    while i < len(groups):
        for j in range(len(groups) - 1, i - 1, -1):
            sizes = [end - start for start, end in groups[i : j + 1]]
            if not 13 <= sum(sizes) <= 19:
                continue
            if j > i and (sizes[0] != 4 or not all(3 <= n <= 6 for n in sizes[1:])):
                continue
            window = run[groups[i][0] : groups[j][1]]
            if luhn_ok(re.sub(r"\D", "", window)):
                out.append(run[pos : groups[i][0]] + MASKS["card"])
                pos, i = groups[j][1], j
                break
        i += 1
    return "".join(out) + run[pos:]


def _phone(match: re.Match) -> str:
    text = match.group()
    n = sum(ch.isdigit() for ch in text)
    if text.startswith("+"):
        return MASKS["phone"] if 9 <= n <= 15 else text
    groups = re.findall(r"\d+", text)
    # an amount grouped by thousands (8 000 000 000) is not a phone
    if "(" not in text and text[0] != "0" and len(groups) > 2 and all(len(g) == 3 for g in groups[1:]):
        return text
    # a national number: a trunk prefix (0 in Ukraine, 8 in Russia) or an area code in brackets;
    # runs like "2024 2025 2026" or an id starting 1-7 are not phones
    if 10 <= n <= 12 and text[0] in "08(":
        return MASKS["phone"]
    # Ukraine's country code without the +: 380671234567
    if n == 12 and re.sub(r"\D", "", text).startswith("380"):
        return MASKS["phone"]
    return text


def redact(text: str) -> str:
    """``text`` with phone numbers, e-mail addresses, card numbers and @handles masked.

    Parameters
    ----------
    text : str

    Returns
    -------
    str
        The text with each match replaced by ``[phone]``, ``[email]``, ``[card]`` or
        ``[handle]`` (see the module docstring for what matches).

    Examples
    --------
    >>> redact("Мамо, дзвони +380 67 123 45 67 або пиши @vanya_ua, olena.k@ukr.net")
    'Мамо, дзвони [phone] або пиши [handle], [email]'
    >>> redact("Оплата 4111 1111 1111 1111 до 12.03.2024, 5 @ 10")
    'Оплата [card] до 12.03.2024, 5 @ 10'
    """
    if not text:
        return text
    text = _EMAIL.sub(MASKS["email"], text)
    text = _TME.sub(MASKS["handle"], text)
    dates = [] if _KEPT in text else _DATE.findall(text)
    if dates:
        text = _DATE.sub(_KEPT, text)
    text = _DIGIT_RUN.sub(_cards, text)
    text = _PHONE.sub(_phone, text)
    text = _HANDLE.sub(MASKS["handle"], text)
    if dates:
        kept = iter(dates)
        text = re.sub(_KEPT, lambda _: next(kept), text)
    return text


def redact_texts(values):
    """:func:`redact` applied to each string of ``values`` (other values, e.g. None, kept)."""
    return [redact(v) if isinstance(v, str) else v for v in values]
