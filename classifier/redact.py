"""Mask personal data in message texts: phone numbers, e-mail addresses, card numbers, @handles.

Messages sent to a hotline name relatives' phones, cards to pay "for an exchange" and
Telegram accounts. :func:`redact` replaces them with ``[phone]``, ``[email]``,
``[card]`` and ``[handle]`` so that a text can be shown or shared without them.

What is masked, in this order (an earlier mask is never matched again):

* **e-mail addresses**: ``name@domain.tld`` (Unicode letters allowed);
* **card numbers**: 13 to 19 digits, alone or grouped by single spaces or dashes,
  that pass the Luhn check, so that ids and digit runs that fail it stay;
* **phone numbers**: ``+`` and a country code followed by 9 to 15 digits in all
  (``+380 67 123 45 67``, ``+7 (912) 345-67-89``, ``+380671234567``), or a national
  number of 10 to 12 digits starting with ``0``, ``8`` or an area code in brackets
  (``067-123-45-67``, ``8 (912) 345-67-89``, ``0671234567``);
* **handles**: ``@`` followed by 5 to 32 letters, digits or ``_``, starting with a
  letter (Telegram's rule), not preceded by a letter or digit.

Dates (``12.03.2024``, ``2024-03-12``), years, times, short numbers, amounts and an
``@`` standing alone (``5 @ 10``) are not masked. Heuristics, not a guarantee: a
13-19 digit id passes the Luhn check one time in ten and is then masked as a card; a
phone written with unusual grouping (``06 712 345 67 8``) may be left.
"""

from __future__ import annotations

import re

MASKS = {"email": "[email]", "card": "[card]", "phone": "[phone]", "handle": "[handle]"}

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}(?![\w-])")
_CARD = re.compile(r"(?<![\w+])\d(?:[ -]?\d){12,18}(?![\w])")
_PHONE = re.compile(
    r"(?<![\w+])(?:(?:\+\d{1,3}|8)[ .-]?)?(?:\(\d{2,5}\)[ .-]?|\d{2,5}[ .-])?\d{2,4}(?:[ .-]?\d{2,4}){1,3}(?!\w)"
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


def _card(match: re.Match) -> str:
    digits = re.sub(r"\D", "", match.group())
    return MASKS["card"] if luhn_ok(digits) else match.group()


def _phone(match: re.Match) -> str:
    text = match.group()
    n = sum(ch.isdigit() for ch in text)
    if text.startswith("+"):
        return MASKS["phone"] if 9 <= n <= 15 else text
    # a national number: a trunk prefix (0 in Ukraine, 8 in Russia) or an area code in brackets;
    # runs like "2024 2025 2026" or an id starting 1-7 are not phones
    if 10 <= n <= 12 and text[0] in "08(":
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
    text = _CARD.sub(_card, text)
    text = _PHONE.sub(_phone, text)
    return _HANDLE.sub(MASKS["handle"], text)


def redact_texts(values):
    """:func:`redact` applied to each string of ``values`` (other values, e.g. None, kept)."""
    return [redact(v) if isinstance(v, str) else v for v in values]
