"""Campaigns: groups of near-duplicate messages (one script sent to many families).

A scripted appeal reaches hundreds of families as hundreds of rows, copies or light
edits of one another (another name, typos, another greeting, words inserted, letters
swapped for Latin look-alikes). :class:`CampaignGrouper` gives the rows that matter,
flagged messages and near misses (``score >= threshold x REASONS_FROM``), a shared
campaign id:

1. **Text.** One spelling per script (:func:`campaign_texts`): the message is cleaned
   as for scoring, a mixed-script word ("Mамо" with a Latin M) is read as Cyrillic,
   and every letter is read by its sound in Latin with the variants of
   transliteration collapsed, so "Виходьте" and "Vykhod'te" are both "vihodte";
   every run of non-letters becomes one space.
2. **Signature.** A MinHash (``datasketch``) of its character 5-shingles, with
   :data:`NUM_PERM` = 128 permutations (seed 1). datasketch's hash values are 32-bit,
   so a signature is kept as ``NUM_PERM`` x 4 = 512 bytes.
3. **Clustering**, once every row is scored: a ``datasketch.MinHashLSH`` index at
   :data:`THRESHOLD` = 0.5 proposes candidate pairs (25 bands of 5 rows); a pair is an
   edge only when its estimated Jaccard similarity (the share of equal hash values) is
   at least :data:`THRESHOLD`; campaigns are the connected components (union-find).
   Rows are taken in input order; one whose signature equals an earlier row's, or is
   at least 0.9 similar to an indexed one, joins it and is not indexed itself, so
   that thousands of copies cost linear time (a later edit that is 0.5 like a skipped
   copy but not like its twin can, rarely, stay apart: the rule is fixed, so ids stay
   deterministic).
   Copies with a name swapped, a greeting changed or a few words inserted are 0.79-0.95
   similar, transliterated copies about 1.0; distinct scripts on the same theme 0.01-0.2.
4. **Ids** are numbered by first appearance in input order: ``c0001`` is the campaign
   of the first grouped row, ``c0002`` the next new one... (at least four digits). The
   edges depend only on the signatures, and the numbering only on input order, so the
   same input gives the same ids whatever ``jobs``, chunk size or engine. A message
   like no other is a campaign of size 1.

Memory grows with the grouped rows only, never with the input: per grouped row its
signature (512 bytes), its order key, score, language, input, row and date (about
200 bytes of Python objects) and its text cut to :data:`MAX_TEXT` characters (up to
about 2 KB as a Python string of Cyrillic), plus datasketch's LSH index while
clustering (25 buckets per row, each a Python set). Measured by
``benchmarks/campaign_memory.py`` on 1,000,000 messages: about 2.5 KB per grouped row
between 10,000 and 50,000 grouped rows (3.1 KB against no grouping). Other rows cost
nothing.
"""

from __future__ import annotations

import datetime
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .errors import InputError
from .normalize import _LOOKALIKES, clean_texts

NUM_PERM = 128
THRESHOLD = 0.5
SHINGLE = 5
SEED = 1
MAX_TEXT = 1000  # characters of a member's text kept for the campaign's representative
COLUMN = "campaign"  # the scored output's column; the review queue reads it by this name
CAMPAIGN_COLUMNS = (
    "campaign",
    "size",
    "first_seen",
    "last_seen",
    "languages",
    "sources",
    "max_score",
    "text",
)
CAMPAIGN_FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".xlsx": "xlsx"}
TIMELINE_CAMPAIGNS = 5
_TWIN = 0.9  # estimated similarity at which a row is represented by an indexed one
_SCHEME = "affine32"  # datasketch 2.0's default, named so that signatures never change with it

_NON_LETTERS = re.compile(r"[\W\d_]+")
_WORD = re.compile(r"\w+")
_HAS_LATIN = re.compile(r"[a-z]")
_HAS_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_APOSTROPHES = str.maketrans("", "", "'\u2019\u2018\u02bc\u02b9`\u00b4")
# A mixed-script word ("Mамо" with a Latin M, "Pідні" with a Latin P) is a look-alike
# spelling: its Latin letters are read as the Cyrillic ones they imitate.
_FOLD = str.maketrans(_LOOKALIKES)
# Cyrillic (uk and ru) read as Latin letters the way people transliterate by sound, then
# the spellings that vary between transliterations collapsed ("kh"/"h"/"x", "y"/"j"/"i",
# "g"/"h", "zh"/"z", "ts"/"c"): "Виходьте на Майдан", "Vykhodte na Maidan" and
# "Vyhod'te na Majdan" all read "vihodte na maidan".
_SOUND = str.maketrans(
    {
        "а": "a", "б": "b", "в": "v", "г": "h", "ґ": "h", "д": "d", "е": "e", "є": "ie",
        "ё": "io", "ж": "z", "з": "z", "и": "i", "і": "i", "ї": "i", "й": "i", "к": "k",
        "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t",
        "у": "u", "ф": "f", "х": "h", "ц": "c", "ч": "ch", "ш": "sh", "щ": "sh", "ъ": "",
        "ы": "i", "ь": "", "э": "e", "ю": "iu", "я": "ia", "ј": "i", "ѕ": "s",
    }
)  # fmt: skip
_DIGRAPHS = (("shch", "sh"), ("sch", "sh"), ("kh", "h"), ("zh", "z"), ("ts", "c"))
_LATIN_VARIANTS = str.maketrans({"g": "h", "y": "i", "j": "i", "w": "v", "x": "h", "q": "k"})
_REPEATS = re.compile(r"(\w)\1+")


def _fold_mixed(text: str) -> str:
    if not (_HAS_LATIN.search(text) and _HAS_CYRILLIC.search(text)):
        return text
    return _WORD.sub(
        lambda m: m[0].translate(_FOLD) if _HAS_LATIN.search(m[0]) and _HAS_CYRILLIC.search(m[0]) else m[0],
        text,
    )


def campaign_texts(texts: Sequence[str]) -> list[str]:
    """The texts that signatures are made of: one spelling for a script however it is written.

    The message is cleaned as for scoring (invisible characters, case, chat-export
    metadata, links; :func:`classifier.normalize.clean_texts`), mixed-script words are
    read as Cyrillic, every letter is then read by its sound in Latin with the
    variant spellings of transliteration collapsed (so a copy transliterated by sound
    meets its Cyrillic script), doubled letters are cut to one, and runs of
    non-letters become one space.

    Examples
    --------
    >>> campaign_texts(["Мамо, ВИХОДЬТЕ на Майдан!!!", "Mамо, виходьте на майдан",
    ...                 "Mamo, vykhodte na Maidan", "[14.02.24 18:30] Oleh: Mamo, vyhod'te na Majdan"])
    ['mamo vihodte na maidan', 'mamo vihodte na maidan', 'mamo vihodte na maidan', 'mamo vihodte na maidan']
    """
    out = []
    for text in clean_texts(texts):
        text = _fold_mixed(text.translate(_APOSTROPHES)).translate(_SOUND)
        for a, b in _DIGRAPHS:
            if a in text:
                text = text.replace(a, b)
        text = _REPEATS.sub(r"\1", _NON_LETTERS.sub(" ", text.translate(_LATIN_VARIANTS)))
        out.append(text.strip())
    return out


def _shingles(text: str) -> list[bytes]:
    if len(text) <= SHINGLE:
        return [text.encode("utf-8")]
    return [text[i : i + SHINGLE].encode("utf-8") for i in range(len(text) - SHINGLE + 1)]


def signatures(texts: Sequence[str], num_perm: int = NUM_PERM) -> np.ndarray:
    """MinHash signatures of the texts' character shingles, one row of ``uint32`` per text.

    Examples
    --------
    >>> a, b, c = signatures(["Мамо, виходьте на Майдан, вимагайте обміну",
    ...                       "Тато, виходьте на Майдан, вимагайте обміну",
    ...                       "Завтра в школі батьківські збори о 18:00"])
    >>> bool(similarity(a, b) > 0.6), bool(similarity(a, c) < 0.2)
    (True, True)
    """
    from datasketch import MinHash

    out = np.empty((len(texts), num_perm), dtype=np.uint32)
    template = MinHash(num_perm=num_perm, seed=SEED, scheme=_SCHEME)  # its permutations, drawn once
    for i, text in enumerate(campaign_texts(list(texts))):
        m = MinHash(num_perm=num_perm, seed=SEED, scheme=_SCHEME, permutations=template.permutations)
        m.update_batch(_shingles(text))
        out[i] = m.hashvalues
    return out


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard similarity of two signatures: the share of equal hash values."""
    return float(np.mean(a == b))


def _parse_date(value) -> datetime.datetime | None:
    if value is None or value == "":
        return None
    try:
        return datetime.datetime.fromisoformat(str(value).strip().replace("Z", "+00:00")).replace(tzinfo=None)
    except ValueError:
        return None  # a date "as written" whose day and month order is unknown: not placed


def _meta_value(meta, key: str):
    """``meta[key]``, the key matched in any case (``--date-column`` names a column as ``--keep`` does)."""
    if not meta:
        return None
    if key in meta:
        return meta[key]
    folded = key.casefold()
    return next((v for k, v in meta.items() if str(k).casefold() == folded), None)


def check_campaigns_path(path, inputs=(), output=None) -> None:
    """Refuse a ``--campaigns`` file with another extension, or one that is an input or ``-o``.

    Raises
    ------
    InputError
    """
    from pathlib import Path

    from .writers import check_output

    if path is None:
        return
    suffix = Path(path).suffix.lower()
    if suffix not in CAMPAIGN_FORMATS:
        raise InputError(
            f"--campaigns {path}: unknown extension {suffix or '(none)'!r}; use .csv, .tsv, .jsonl or .xlsx"
        )
    if output is not None and str(output) != "-":
        resolved, out = Path(path).resolve(), Path(output).resolve()
        if resolved == out:
            raise InputError(f"--campaigns is the -o file {output}; write the campaigns to another file")
        if out in resolved.parents:  # a Dask output folder holds its parts and nothing else
            raise InputError(f"--campaigns is inside the output folder {output}; write it elsewhere")
    check_output(path, inputs, option="--campaigns")


class _UnionFind:
    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        root = i
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[i] != root:  # path compression
            self.parent[i], i = root, self.parent[i]
        return root

    def union(self, i: int, j: int) -> None:
        a, b = self.find(i), self.find(j)
        if a != b:
            self.parent[max(a, b)] = min(a, b)  # the earlier row is the root


@dataclass
class Campaigns:
    """The outcome of :meth:`CampaignGrouper.cluster`.

    Attributes
    ----------
    ids : dict
        Order key of each grouped row -> its campaign id.
    table : pandas.DataFrame
        One row per campaign, columns :data:`CAMPAIGN_COLUMNS`, largest first (then
        highest ``max_score``).
    best : dict
        Campaign id -> ``source``, ``row``, ``lang`` of its highest-scoring member.
    timeline : dict
        For the :data:`TIMELINE_CAMPAIGNS` largest campaigns with dates: id -> Counter
        of messages per day (``datetime.date``).
    """

    ids: dict = field(default_factory=dict)
    table: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(CAMPAIGN_COLUMNS)))
    best: dict = field(default_factory=dict)
    timeline: dict = field(default_factory=dict)

    def redact(self) -> None:
        """Mask phones, e-mails, cards and @handles in the representative texts (``--redact``)."""
        from .redact import redact

        self.table["text"] = self.table["text"].map(lambda t: redact(t) if isinstance(t, str) else t)

    def column(self, keys) -> list[str]:
        """The ``campaign`` cells of rows with these order keys (empty for rows not grouped)."""
        ids = self.ids
        return [ids.get(int(k), "") for k in keys]


class CampaignGrouper:
    """Collects grouped rows while a run scores, then clusters them into campaigns.

    Parameters
    ----------
    date_key : str, default="date"
        The ``Record.meta`` key with the message's date (chat exports: ``date``).
    threshold : float, default=THRESHOLD
        Least estimated Jaccard similarity of two members' shingles.
    num_perm : int, default=NUM_PERM

    Examples
    --------
    >>> g = CampaignGrouper()
    >>> g.add_rows([0, 1, 2], ["Мамо, виходьте на Майдан, вимагайте обміну, влада нас кинула",
    ...                        "Тато, виходьте на Майдан, вимагайте обміну, влада нас кинула",
    ...                        "Кохана, збирай жінок під Банкову, про нас забули"],
    ...            scores=[0.9, 0.95, 0.8], langs=["uk"] * 3, sources=["a.txt"] * 3, rows=[1, 2, 3])
    >>> result = g.cluster()
    >>> result.column([0, 1, 2, 3])
    ['c0001', 'c0001', 'c0002', '']
    >>> result.table[["campaign", "size", "max_score"]].values.tolist()
    [['c0001', 2, 0.95], ['c0002', 1, 0.8]]
    """

    def __init__(self, *, date_key: str = "date", threshold: float = THRESHOLD, num_perm: int = NUM_PERM):
        self.date_key, self.threshold, self.num_perm = date_key, float(threshold), int(num_perm)
        self._keys: list[int] = []
        self._sigs: list[np.ndarray] = []
        self._info: list[tuple] = []  # (score, lang, source, row, date, text)
        self.result: Campaigns | None = None  # set by score_files once the run is clustered

    def __len__(self) -> int:
        return len(self._keys)

    def add_rows(self, keys, texts, *, scores, langs, sources, rows, dates=None) -> None:
        """Take grouped rows: order keys (input order, unique), texts and what the table shows."""
        if not len(keys):
            return
        self._sigs.append(signatures(list(texts), self.num_perm))
        self._keys += [int(k) for k in keys]
        dates = dates if dates is not None else [None] * len(keys)
        for t, s, lang, src, row, d in zip(texts, scores, langs, sources, rows, dates, strict=True):
            text = t if len(t) <= MAX_TEXT else t[:MAX_TEXT] + "…"
            self._info.append((float(s), str(lang), str(src), int(row), _parse_date(d), text))

    def add(self, records, frame: pd.DataFrame, first_key: int, *, min_score: float) -> None:
        """Take a scored chunk's grouped rows (``score >= min_score``, no error); row i has key ``first_key + i``."""
        scores = frame["score"].to_numpy(dtype=float)
        picked = np.flatnonzero((frame["error"] == "").to_numpy() & (scores >= min_score))
        if not len(picked):
            return
        key = self.date_key
        self.add_rows(
            first_key + picked,
            [records[i].text for i in picked],
            scores=scores[picked],
            langs=frame["lang"].to_numpy()[picked],
            sources=frame["source"].to_numpy()[picked],
            rows=frame["row"].to_numpy()[picked],
            dates=[_meta_value(records[i].meta, key) for i in picked],
        )

    def merge(self, other: CampaignGrouper, offset: int) -> None:
        """Add another grouper's rows (a Dask partition's), their keys shifted by ``offset``."""
        self._keys += [k + offset for k in other._keys]
        self._sigs += other._sigs
        self._info += other._info

    def cluster(self) -> Campaigns:
        """Group the rows: LSH candidates, verified estimated Jaccard, union-find; see the module docstring."""
        from datasketch import LeanMinHash, MinHashLSH

        if not self._keys:
            return Campaigns()
        order = np.argsort(np.asarray(self._keys, dtype=np.int64), kind="stable")
        sigs = np.concatenate(self._sigs)[order]
        keys = [self._keys[i] for i in order]
        info = [self._info[i] for i in order]
        n = len(keys)
        lsh = MinHashLSH(threshold=self.threshold, num_perm=self.num_perm)
        uf = _UnionFind(n)
        need, twin = self.threshold * self.num_perm, _TWIN * self.num_perm
        exact: dict[bytes, int] = {}
        for i in range(n):
            raw = sigs[i].tobytes()
            if raw in exact:  # an exact copy: its twin's edges are its edges
                uf.union(i, exact[raw])
                continue
            exact[raw] = i
            sig = LeanMinHash(seed=SEED, hashvalues=sigs[i], scheme=_SCHEME)
            closest = 0
            for j in lsh.query(sig):  # only earlier rows are indexed: each pair once
                same = np.count_nonzero(sigs[i] == sigs[j])
                if same >= need:
                    uf.union(i, j)
                    closest = max(closest, same)
            # A near-exact copy of an indexed row is not indexed itself: the twin stands for
            # it, so that candidate lists stay as long as the distinct variants, not the copies
            # (thousands of copies of one script would make the clustering quadratic).
            if closest < twin:
                lsh.insert(i, sig, check_duplication=False)
        del lsh
        roots = [uf.find(i) for i in range(n)]
        width = max(4, len(str(len(set(roots)))))
        names: dict[int, str] = {}
        for r in roots:  # rows are in input order: numbered by first appearance
            if r not in names:
                names[r] = f"c{len(names) + 1:0{width}d}"
        members: dict[str, list[int]] = {}
        for i, r in enumerate(roots):
            members.setdefault(names[r], []).append(i)
        result = Campaigns(ids={keys[i]: names[roots[i]] for i in range(n)})
        table = []
        for cid, idx in members.items():
            best = max(idx, key=lambda i: (info[i][0], -i))  # highest score, earliest on ties
            dates = [info[i][4] for i in idx if info[i][4] is not None]
            langs = Counter(info[i][1] for i in idx)
            sources = list(dict.fromkeys(info[i][2] for i in idx))
            table.append({
                "campaign": cid,
                "size": len(idx),
                "first_seen": min(dates).isoformat(sep=" ") if dates else "",
                "last_seen": max(dates).isoformat(sep=" ") if dates else "",
                "languages": ";".join(k for k, _ in sorted(langs.items(), key=lambda kv: (-kv[1], kv[0]))),
                "sources": ";".join(sources),
                "max_score": round(info[best][0], 6),
                "text": info[best][5],
            })  # fmt: skip
            result.best[cid] = {"source": info[best][2], "row": info[best][3], "lang": info[best][1]}
            if dates:
                result.timeline[cid] = Counter(d.date() for d in dates)
        frame = pd.DataFrame(table, columns=list(CAMPAIGN_COLUMNS))
        frame["_first"] = np.arange(len(frame))
        frame = frame.sort_values(
            ["size", "max_score", "_first"], ascending=[False, False, True], kind="stable"
        )
        result.table = frame.drop(columns="_first").reset_index(drop=True)
        largest = [c for c in result.table["campaign"] if c in result.timeline][:TIMELINE_CAMPAIGNS]
        result.timeline = {c: result.timeline[c] for c in largest}
        return result


def write_campaigns(campaigns: Campaigns, path) -> None:
    """Write the campaigns table (``score --campaigns FILE``) atomically, in the format its extension says."""
    from .writers import write_table

    write_table(campaigns.table, path, overwrite=True, title="campaigns")
