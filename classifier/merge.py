"""``labels add``: merge analysts' new labels into the store without losing anything.

New rows go into a new dated file in the store folder; existing files are never
rewritten. Each new row is compared with the store (and with the other new rows) by
its normalised text:

* the same raw text with the same label: an *exact duplicate*, skipped;
* the same normalised text (case, spacing, look-alike letters...) with the same label:
  a *near duplicate*, skipped;
* the same normalised text with a different label: a *conflict*. Conflicts are never
  merged silently: without ``resolve`` nothing is written and they are listed. With
  ``resolve="keep"`` the stored label stays and the new row is not added; with
  ``resolve="newest"`` the new row is added with ``supersedes`` pointing at the old
  row (``FILE.csv:LINE``), which stays on disk but is no longer trained on.

Every new row keeps its provenance: ``source``, ``annotator`` and ``added`` (the date).
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from ._cells import unescape_cell
from ._files import write_atomic
from .errors import DataError
from .labels import (
    CATEGORIES,
    COLUMNS,
    CONDITIONS,
    LANGS,
    POSITIVE_CATEGORY,
    STYLES,
    condition_problems,
    read_labelled,
    store_files,
    superseded_rows,
)
from .lang import detect_languages
from .normalize import normalize_texts

_TRUE = {"1", "yes", "y", "true", "t"}
_FALSE = {"0", "no", "n", "false", "f"}


def normalize_label(value) -> int | None:
    """``1/0``, ``yes/no``, ``true/false`` (any case) to 1 or 0; None if it is none of them.

    Examples
    --------
    >>> [normalize_label(v) for v in ("1", "Yes", "FALSE", " no ", "maybe", "")]
    [1, 1, 0, 0, None, None]
    """
    text = str(value).strip().lower()
    if text in _TRUE:
        return 1
    if text in _FALSE:
        return 0
    return None


@dataclass
class AddReport:
    """What ``labels add`` did (or would do)."""

    read: int = 0
    added: int = 0
    exact_duplicates: int = 0
    near_duplicates: int = 0
    conflicts: list = field(
        default_factory=list
    )  # (new file:line, stored file:line, new label, stored label, text)
    conflicts_resolved: str | None = None
    written: Path | None = None

    def lines(self) -> list[str]:
        out = [
            f"{self.read} rows read: {self.added} added, {self.exact_duplicates} exact duplicates skipped, "
            f"{self.near_duplicates} near duplicates skipped, {len(self.conflicts)} conflicts"
            + (
                f" (resolved: {self.conflicts_resolved})"
                if self.conflicts_resolved and self.conflicts
                else ""
            )
        ]
        if self.written:
            out.append(f"written to {self.written}")
        return out


def read_label_rows(path: Path) -> list[tuple[int, dict]]:
    """Rows of a labels file (csv or jsonl, at least ``text`` and ``label``) with their line numbers.

    Used for new labels (``labels add``) and for evaluation data (``evaluate``).

    Raises
    ------
    DataError
        Not UTF-8, unreadable, malformed CSV or JSON, or another file type.
    """
    name = path.name.lower()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 (byte {exc.start}); re-save it as UTF-8") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror})") from None
    if name.endswith((".jsonl", ".ndjson")):
        rows = []
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{n}: malformed JSON at column {exc.colno} ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise DataError(f"{path}:{n}: a JSON object per line is needed")
            rows.append((n, {k: "" if v is None else str(v) for k, v in obj.items()}))
        return rows
    if not name.endswith(".csv"):
        raise DataError(f"{path}: use a .csv or .jsonl file with at least the columns text and label")
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    rows = []
    try:
        line = 2
        for row in reader:
            rows.append((line, {_cell(k.strip()): _cell(v or "") for k, v in row.items() if k is not None}))
            line = reader.line_num + 1
    except csv.Error as exc:
        raise DataError(f"{path}:{reader.line_num}: malformed CSV ({exc}); check the quoting") from None
    return rows


def _cell(text: str) -> str:
    """A CSV cell's exact text: `suggest` and `labels audit` put a quote in front of cells a
    spreadsheet would run as formulas (see :mod:`classifier._cells`)."""
    return unescape_cell(text)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "labels"


def add_labels(
    files,
    store=None,
    *,
    source: str | None = None,
    annotator: str | None = None,
    resolve: str | None = None,
    now: datetime | None = None,
) -> AddReport:
    """Merge new labelled rows into the store as a new dated file.

    Parameters
    ----------
    files : list of path-like
        CSV or JSON Lines files with at least ``text`` and ``label`` (``1/0``,
        ``yes/no``, ``true/false``). Optional: ``lang`` (guessed when empty),
        ``category`` (``coerced_appeal`` for label 1; ``unsorted`` for label 0 when
        empty), ``source``, ``group``, ``annotator``, ``writer`` (default: the
        annotator), ``style``, the three condition columns and ``contrast``. Other columns (e.g. a
        ``score`` from ``suggest``) are ignored.
    store : path-like, optional
        The store folder; default ``datasets/labelled``.
    source, annotator : str, optional
        Provenance for rows that do not carry their own; the annotator is also the
        rows' ``writer`` unless they name one.
    resolve : {None, "newest", "keep"}
        What to do with conflicts (see the module docstring).
    now : datetime, optional
        The time stamped on the rows and the file name (for tests).

    Returns
    -------
    AddReport

    Raises
    ------
    DataError
        Unreadable files, rows with invalid values (all listed), or unresolved conflicts.
        Nothing is written then.
    """
    from . import config

    if resolve not in (None, "newest", "keep"):
        raise DataError(f"--resolve must be newest or keep, got {resolve!r}")
    store = Path(store or config.labelled_dir())
    now = now or datetime.now(UTC)
    added_date = now.strftime("%Y-%m-%d")

    stored, problems = (
        read_labelled(store_files([store])) if any(store.glob("*.csv")) else (pd.DataFrame(), [])
    )
    if problems:
        raise DataError(
            f"the store has problems ({problems[0]}); run 'coercion-classifier labels check' first"
        )
    if len(stored):
        stored = stored[~superseded_rows(stored)]
    index: dict[str, tuple[str, str, str]] = {}  # normalised text -> (where, label, raw text)
    if len(stored):
        keys = normalize_texts(stored["text"].astype(str).tolist())
        for key, f, line, label, raw in zip(
            keys, stored["file"], stored["line"], stored["label"], stored["text"], strict=True
        ):
            index.setdefault(key, (f"{Path(f).name}:{line}", str(label).strip(), raw))

    report = AddReport()
    errors: list[str] = []
    candidates = []
    for path in map(Path, files):
        for line, row in read_label_rows(Path(path)):
            report.read += 1
            where = f"{path}:{line}"
            text = row.get("text", "")
            label = normalize_label(row.get("label", ""))
            if not text.strip():
                errors.append(f"{where}: empty text")
                continue
            if label is None:
                errors.append(f"{where}: label {row.get('label', '')!r} is not 1/0, yes/no or true/false")
                continue
            category = row.get("category", "").strip() or (POSITIVE_CATEGORY if label else "unsorted")
            if category not in CATEGORIES or (category == POSITIVE_CATEGORY) != (label == 1):
                errors.append(f"{where}: category {category!r} does not fit label {label}")
                continue
            lang = row.get("lang", "").strip()
            if lang and lang not in LANGS:
                errors.append(f"{where}: lang must be one of {', '.join(LANGS)}, got {lang!r}")
                continue
            style = "|".join(s for s in row.get("style", "").split("|") if s)
            if any(s not in STYLES for s in style.split("|") if s):
                errors.append(f"{where}: unknown style tag in {style!r}")
                continue
            wrong = condition_problems(row, str(label), category)
            if wrong:
                errors.append(f"{where}: {wrong[0][1]}")
                continue
            candidates.append((where, text, label, category, lang, style, row))
    if errors:
        shown = "; ".join(errors[:5]) + (f" (and {len(errors) - 5} more)" if len(errors) > 5 else "")
        raise DataError(f"{len(errors)} invalid row(s), nothing was added: {shown}")

    keys = normalize_texts([c[1] for c in candidates])
    langs = detect_languages([c[1] for c in candidates])
    new_rows, seen = [], {}
    for (where, text, label, category, lang, style, row), key, guessed in zip(
        candidates, keys, langs, strict=True
    ):
        if key in seen:  # a duplicate inside the new files
            other = seen[key]
            if other["label"] != label:
                report.conflicts.append((where, other["_where"], label, other["label"], text))
            elif other["text"] == text:
                report.exact_duplicates += 1
            else:
                report.near_duplicates += 1
            continue
        old = index.get(key)
        supersedes = ""
        if old is not None:
            old_where, old_label, old_raw = old
            if str(label) == old_label:
                if old_raw == text:
                    report.exact_duplicates += 1
                else:
                    report.near_duplicates += 1
                continue
            report.conflicts.append((where, old_where, label, int(old_label), text))
            if resolve != "newest":
                continue
            supersedes = old_where
        entry = {
            "text": text,
            "label": label,
            "lang": lang or guessed,
            "category": category,
            "source": row.get("source", "").strip()
            or source
            or f"labels-add:{Path(where.rsplit(':', 1)[0]).name}",
            "group": row.get("group", "").strip() or "",
            "added": row.get("added", "").strip() or added_date,
            "annotator": row.get("annotator", "").strip() or annotator or "",
            # who wrote or labelled the row: cross-validation holds each writer out whole
            "writer": row.get("writer", "").strip()
            or row.get("annotator", "").strip()
            or annotator
            or f"labels-add:{_slug(source or Path(where.rsplit(':', 1)[0]).stem)}",
            **{c: row.get(c, "").strip() for c in (*CONDITIONS, "contrast")},
            "style": style,
            "supersedes": supersedes,
            "_where": where,
        }
        seen[key] = entry
        new_rows.append(entry)
    if report.conflicts and resolve is None:
        shown = "; ".join(
            f"{new} says {lab}, {old} says {old_lab}" for new, old, lab, old_lab, _ in report.conflicts[:5]
        )
        more = f" (and {len(report.conflicts) - 5} more)" if len(report.conflicts) > 5 else ""
        raise DataError(
            f"{len(report.conflicts)} conflict(s) with stored labels, nothing was added: {shown}{more}; "
            "pass --resolve newest (new label wins, old row kept but superseded) or --resolve keep"
        )
    report.conflicts_resolved = resolve
    if new_rows:
        stamp = now.strftime("%Y%m%dT%H%M%SZ")
        target = store / f"added_{stamp}_{_slug(source or Path(files[0]).stem)}.csv"
        n = 1
        while target.exists():
            n += 1
            target = store / f"added_{stamp}-{n}_{_slug(source or Path(files[0]).stem)}.csv"
        for i, entry in enumerate(new_rows, start=1):
            entry["group"] = entry["group"] or f"{target.stem}-{i:05d}"
        buffer = io.StringIO(newline="")
        writer = csv.DictWriter(buffer, fieldnames=list(COLUMNS), extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(new_rows)
        store.mkdir(parents=True, exist_ok=True)
        write_atomic(target, buffer.getvalue().encode("utf-8"))
        report.written = target
    report.added = len(new_rows)
    return report
