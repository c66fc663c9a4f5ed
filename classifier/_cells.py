"""CSV cells that a spreadsheet would run as a formula, neutralised reversibly.

Excel and LibreOffice evaluate a cell that begins with ``=``, ``+``, ``-``, ``@``, a tab
or a carriage return (CSV or formula injection: ``=cmd|' -C calc'!A0`` runs a program).
Every CSV written for people passes its text cells through :func:`escape_cell`, which
puts a single quote in front of such a cell, as OWASP recommends: the spreadsheet shows
the text and evaluates nothing.

The quote must come off again when the tool reads its own files back (``labels add``
reading a ``suggest`` file), and a text that itself begins with a quote must survive.
So a cell that begins with a quote followed by a dangerous character or by another
quote gets one more quote; :func:`unescape_cell` removes exactly one quote from any cell
that begins with a quote followed by one of those characters. The pair is a bijection:
``unescape_cell(escape_cell(s)) == s`` for every string.

A plain number (``-5``, ``+2.5``, ``-1e-3``) is left alone: a spreadsheet reads it as the
number it is, and nothing in it can run.
"""

from __future__ import annotations

import re

DANGEROUS = frozenset("=+-@\t\r")
_QUOTE = "'"
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def escape_cell(text: str) -> str:
    """``text`` as a CSV cell that no spreadsheet evaluates (reversible by :func:`unescape_cell`).

    Examples
    --------
    >>> [escape_cell(t) for t in ("=1+1", "'=1+1", "'quoted", "-5", "-2+3", "hello")]
    ["'=1+1", "''=1+1", "'quoted", '-5', "'-2+3", 'hello']
    """
    if not text:
        return text
    first = text[0]
    if first in DANGEROUS:
        return text if _NUMBER.fullmatch(text) else _QUOTE + text
    if first == _QUOTE and len(text) > 1 and (text[1] in DANGEROUS or text[1] == _QUOTE):
        return _QUOTE + text
    return text


def unescape_cell(text: str) -> str:
    """The original text of a cell written by :func:`escape_cell`.

    Examples
    --------
    >>> [unescape_cell(t) for t in ("'=1+1", "''=1+1", "'quoted", "-5")]
    ['=1+1', "'=1+1", "'quoted", '-5']
    """
    if len(text) > 1 and text[0] == _QUOTE and (text[1] in DANGEROUS or text[1] == _QUOTE):
        return text[1:]
    return text


def escape_frame(frame, text_columns=None):
    """A copy of a DataFrame whose text cells (and column names) are escaped for a spreadsheet.

    Parameters
    ----------
    frame : pandas.DataFrame
    text_columns : iterable of str, optional
        The columns to escape; default every column of text (or object) dtype. Numeric columns
        (scores, row numbers) are never text.
    """
    from pandas.api.types import is_object_dtype, is_string_dtype

    out = frame.copy()
    if text_columns is None:
        text_columns = [c for c in out.columns if is_object_dtype(out[c]) or is_string_dtype(out[c])]
    columns = list(text_columns)
    for column in columns:
        out[column] = [v if not isinstance(v, str) else escape_cell(v) for v in out[column].tolist()]
    out.columns = [escape_cell(str(c)) for c in out.columns]
    return out
