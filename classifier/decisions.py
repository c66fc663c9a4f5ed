"""The review queue's decisions, kept durably in SQLite (``<workspace>/review/decisions.sqlite``).

Every decision is one committed transaction, so a server killed with SIGKILL, a closed
tab or a power cut loses at most the keypress being made. The database runs in WAL
mode with ``synchronous=FULL``: WAL with ``NORMAL`` survives a killed process too, but
may lose the last commits on a power cut or OS crash; ``FULL`` costs one fsync per
decision, nothing at the speed a person presses keys.

A decision belongs to an annotator and an item (:func:`item_key`: a hash of the
normalised text with its source file and row), so two annotators' decisions never
mix, and the same message reviewed again from the same file is recognised. Decisions
made by one key press (a whole campaign) share a ``batch`` number: undo removes the
annotator's last batch among the queue's own items (not a decision made over another
file). A skip is stored too (``label`` NULL): the queue shows skipped items again only
after every undecided one. A skip that a later decision replaces is kept in the
``replaced`` table, so that undoing that decision puts the skip back.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from .errors import DataError

DB_FILE = "decisions.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    annotator TEXT NOT NULL,
    item TEXT NOT NULL,
    batch INTEGER NOT NULL,
    scored_file TEXT NOT NULL,
    source TEXT NOT NULL,
    row TEXT NOT NULL,
    campaign TEXT NOT NULL,
    text TEXT NOT NULL,
    label INTEGER CHECK (label IN (0, 1)),
    category TEXT NOT NULL,
    decided_at TEXT NOT NULL,
    UNIQUE (annotator, item)
);
CREATE INDEX IF NOT EXISTS decisions_batch ON decisions (annotator, batch);
CREATE TABLE IF NOT EXISTS replaced (
    replaced_by INTEGER NOT NULL,
    id INTEGER NOT NULL,
    annotator TEXT NOT NULL,
    item TEXT NOT NULL,
    batch INTEGER NOT NULL,
    scored_file TEXT NOT NULL,
    source TEXT NOT NULL,
    row TEXT NOT NULL,
    campaign TEXT NOT NULL,
    text TEXT NOT NULL,
    label INTEGER,
    category TEXT NOT NULL,
    decided_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS replaced_batch ON replaced (annotator, replaced_by);
"""
_COLUMNS = "id, annotator, item, batch, scored_file, source, row, campaign, text, label, category, decided_at"


def item_key(text: str, source: str, row) -> str:
    """An item's identity: SHA-256 of its normalised text, source file and row.

    Examples
    --------
    >>> item_key("Мамо, я в ПОЛОНІ", "a.csv", 3) == item_key("мамо, я в полоні", "a.csv", "3")
    True
    """
    from .normalize import normalize_texts

    normalised = normalize_texts([text])[0]
    return hashlib.sha256("\0".join((normalised, str(source), str(row))).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Decision:
    """One stored decision; ``label`` is None for a skip."""

    annotator: str
    item: str
    batch: int
    scored_file: str
    source: str
    row: str
    campaign: str
    text: str
    label: int | None
    category: str
    decided_at: str


class Decisions:
    """The decisions database; open it with :func:`open_decisions` or as ``Decisions(path)``.

    Parameters
    ----------
    path : path-like
        The SQLite file, created (with its folder) when missing.

    Raises
    ------
    DataError
        The file cannot be opened or is not a decisions database.
    """

    def __init__(self, path):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # one connection shared by the server's threads, under self._lock
            self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            self._lock = threading.Lock()  # the server's threads take turns with the one connection
        except (sqlite3.Error, OSError) as exc:
            raise DataError(f"{self.path}: cannot open the review decisions database ({exc})") from None

    def close(self) -> None:
        self._db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def record(self, annotator: str, items, label: int | None, category: str = "") -> int:
        """Store one decision on ``items`` (one key press) in one transaction; the number of rows stored.

        ``items`` are :class:`classifier.review.Item` (or anything with ``key``,
        ``scored_file``, ``source``, ``row``, ``campaign`` and ``text``). An item the
        annotator already labelled keeps that label; a skipped one gets the new decision.
        """
        now = datetime.now(UTC).isoformat(timespec="seconds")
        stored = 0
        with self._transaction() as db:
            batch = db.execute(
                "SELECT COALESCE(MAX(batch), 0) + 1 FROM decisions WHERE annotator = ?", (annotator,)
            ).fetchone()[0]
            for item in items:
                # a skipped item gets the new decision (a skip again: it goes to the end of the skips);
                # the skip is kept aside so that undoing this batch puts it back
                db.execute(
                    f"INSERT INTO replaced (replaced_by, {_COLUMNS}) SELECT ?, {_COLUMNS} FROM decisions "
                    "WHERE annotator = ? AND item = ? AND label IS NULL",
                    (batch, annotator, item.key),
                )
                db.execute(
                    "DELETE FROM decisions WHERE annotator = ? AND item = ? AND label IS NULL",
                    (annotator, item.key),
                )
                cursor = db.execute(
                    "INSERT OR IGNORE INTO decisions (annotator, item, batch, scored_file, source, row, "
                    "campaign, text, label, category, decided_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (annotator, item.key, batch, item.scored_file, item.source, str(item.row),
                     item.campaign, item.text, label, category, now),
                )  # fmt: skip
                stored += cursor.rowcount
        return stored

    def undo(self, annotator: str, items=None) -> int:
        """Remove the annotator's last decision (all rows of its key press); the number of rows removed.

        With ``items`` (item keys: a queue's), the last decision on one of them: undo in
        the queue over one file never removes a decision made over another. A skip the
        undone decision replaced is put back, in its place among the skips.
        """
        with self._transaction() as db:
            if items is None:
                (batch,) = db.execute(
                    "SELECT MAX(batch) FROM decisions WHERE annotator = ?", (annotator,)
                ).fetchone()
            else:
                keys = set(items)
                rows = db.execute("SELECT item, batch FROM decisions WHERE annotator = ?", (annotator,))
                batch = max((b for item, b in rows.fetchall() if item in keys), default=None)
            if batch is None:
                return 0
            removed = db.execute(
                "DELETE FROM decisions WHERE annotator = ? AND batch = ?", (annotator, batch)
            ).rowcount
            db.execute(
                f"INSERT INTO decisions ({_COLUMNS}) SELECT {_COLUMNS} FROM replaced "
                "WHERE annotator = ? AND replaced_by = ?",
                (annotator, batch),
            )
            db.execute("DELETE FROM replaced WHERE annotator = ? AND replaced_by = ?", (annotator, batch))
            return removed

    def decided(self, annotator: str) -> dict[str, int | None]:
        """``item -> label`` (None: skipped) of the annotator's decisions."""
        with self._lock:
            rows = self._db.execute("SELECT item, label FROM decisions WHERE annotator = ?", (annotator,))
            return dict(rows.fetchall())

    def skipped(self, annotator: str) -> list[str]:
        """The annotator's skipped items, in the order they were skipped."""
        with self._lock:
            rows = self._db.execute(
                "SELECT item FROM decisions WHERE annotator = ? AND label IS NULL ORDER BY id", (annotator,)
            )
            return [item for (item,) in rows.fetchall()]

    def all(self, annotator: str | None = None) -> list[Decision]:
        """The decisions, oldest first; only ``annotator``'s when given."""
        query = "SELECT annotator, item, batch, scored_file, source, row, campaign, text, label, category, decided_at FROM decisions"
        args: tuple = ()
        if annotator is not None:
            query += " WHERE annotator = ?"
            args = (annotator,)
        with self._lock:
            return [Decision(*row) for row in self._db.execute(query + " ORDER BY id", args).fetchall()]

    def _transaction(self):
        db, lock = self._db, self._lock

        class _Tx:
            def __enter__(self):
                lock.acquire()
                try:
                    db.execute("BEGIN IMMEDIATE")
                except BaseException:
                    lock.release()
                    raise
                return db

            def __exit__(self, kind, exc, tb):
                try:
                    db.execute("ROLLBACK" if kind else "COMMIT")
                finally:
                    lock.release()
                return False

        return _Tx()


def open_decisions(path=None) -> Decisions:
    """The workspace's decisions database (``<workspace>/review/decisions.sqlite``), or the one at ``path``."""
    if path is None:
        from .workspace import home

        path = home() / "review" / DB_FILE
    return Decisions(path)


@dataclass(frozen=True)
class AnnotatorCounts:
    annotator: str
    pattern: int
    not_pattern: int
    skipped: int


def agreement(decisions: list[Decision]) -> tuple[list[AnnotatorCounts], list[tuple[str, str, int, float]]]:
    """Per-annotator counts, and Cohen's kappa for each pair of annotators on the items both labelled.

    Returns
    -------
    counts : list of AnnotatorCounts
    pairs : list of (annotator, annotator, items both labelled, kappa)
        Kappa is NaN when the pair labelled nothing in common, or both gave one
        label to every common item (it is undefined there).
    """
    from sklearn.metrics import cohen_kappa_score

    labels: dict[str, dict[str, int]] = {}
    counts: dict[str, list[int]] = {}
    for d in decisions:
        c = counts.setdefault(d.annotator, [0, 0, 0])
        c[2 if d.label is None else 1 - d.label] += 1
        if d.label is not None:
            labels.setdefault(d.annotator, {})[d.item] = d.label
    names = sorted(counts)
    pairs = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            common = sorted(set(labels.get(a, {})) & set(labels.get(b, {})))
            ya = [labels[a][k] for k in common]
            yb = [labels[b][k] for k in common]
            kappa = float("nan")
            if common and len(set(ya) | set(yb)) > 1:
                kappa = float(cohen_kappa_score(ya, yb, labels=[0, 1]))
            pairs.append((a, b, len(common), kappa))
    return [AnnotatorCounts(n, *counts[n]) for n in names], pairs


def format_agreement(decisions: list[Decision]) -> str:
    """``review --stats``: a plain table of counts per annotator, then kappa per pair."""
    counts, pairs = agreement(decisions)
    if not counts:
        return "no review decisions yet"
    lines = [f"{'annotator':<20}{'pattern':>9}{'not':>7}{'skipped':>9}{'total':>7}"]
    for c in counts:
        total = c.pattern + c.not_pattern + c.skipped
        lines.append(f"{c.annotator:<20}{c.pattern:>9}{c.not_pattern:>7}{c.skipped:>9}{total:>7}")
    if pairs:
        lines.append("")
        lines.append(f"{'annotators':<30}{'both labelled':>14}{'kappa':>8}")
        for a, b, n, kappa in pairs:
            shown = "-" if kappa != kappa else f"{kappa:.3f}"
            lines.append(f"{a + ' / ' + b:<30}{n:>14}{shown:>8}")
    return "\n".join(lines)
