"""``coercion-classifier score --report``: a scoring run collected in constant memory.

:class:`BatchReport` takes every scored chunk (records and frame) and keeps a
fixed-bin histogram of scores, counts per input and per language, and a bounded heap
of the top flagged messages; :meth:`BatchReport.write` writes the page with
:mod:`classifier.report_page`. The Dask engine collects one per partition on the
workers and merges them (:meth:`BatchReport.merge`).
"""

from __future__ import annotations

import heapq
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import counted
from .report_page import (
    HIST_BINS,
    MAX_SOURCES_SHOWN,
    MAX_TEXT,
    TOP_N,
    esc,
    figure_html,
    new_figure,
    require_matplotlib,
    table_html,
    to_png,
    write_page,
)


def daily_counts(days: dict) -> tuple[list, list]:
    """Every day from the first to the last of ``days`` (date -> messages), quiet days at 0.

    A plotted line then drops to zero on a quiet day instead of bridging the gap.

    Examples
    --------
    >>> from datetime import date
    >>> x, y = daily_counts({date(2024, 2, 1): 3, date(2024, 2, 4): 1})
    >>> [d.day for d in x], y
    ([1, 2, 3, 4], [3, 0, 0, 1])
    """
    first, last = min(days), max(days)
    x = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    return x, [days.get(d, 0) for d in x]


class BatchReport:
    """Collects a scoring run in constant memory and writes its report.

    Pass it to :func:`classifier.scoring.score_files` as ``collector``; it receives
    every chunk (records and scored frame). It keeps a fixed-bin histogram of scores,
    counts per input and per language, and the ``top_n`` highest-scoring flagged
    messages in a bounded heap, each text cut to ``max_text`` characters: memory does
    not grow with the number of messages.

    Parameters
    ----------
    threshold : float
        The threshold the run flags at.
    model_version : str
    top_n : int, default=50
    max_text : int, default=500
    redact : bool, default=False
        Mask phones, e-mails, cards and @handles in the messages shown
        (:func:`classifier.redact.redact`; ``score --redact``).

    Examples
    --------
    >>> report = BatchReport(threshold=0.6, model_version="20261129T101959Z")
    >>> summary = score_files(["export.txt"], "scored.csv", model, collector=report)  # doctest: +SKIP
    >>> report.write("reports/export")  # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        threshold: float,
        model_version: str,
        top_n: int = TOP_N,
        max_text: int = MAX_TEXT,
        redact: bool = False,
    ):
        self.redact = bool(redact)  # mask personal data in the top messages (score --redact)
        self.threshold = float(threshold)
        self.model_version = model_version
        self.top_n = int(top_n)
        self.max_text = int(max_text)
        self.edges = np.linspace(0.0, 1.0, HIST_BINS + 1)
        self.histogram = np.zeros(HIST_BINS, dtype=np.int64)
        self.by_source: dict[str, list[int]] = {}  # rows, scored, flagged, errors
        self.by_lang: dict[str, list[int]] = {}  # scored, flagged
        self.truncated = 0
        self._top: list = []  # min-heap of (score, -sequence, item)
        self._seq = 0

    @property
    def rows(self) -> int:
        """Rows seen."""
        return sum(c[0] for c in self.by_source.values())

    def add(self, source: str, records, frame: pd.DataFrame) -> None:
        """Take one scored chunk.

        Parameters
        ----------
        source : str
            The input it came from (a path, ``-``, or a folder with ``--by-file``).
        records : list of classifier.readers.Record
            The chunk's records, one per row of ``frame``, in order.
        frame : pandas.DataFrame
            The scored chunk (``score``, ``flagged``, ``lang``, ``error`` ...).
        """
        ok = (frame["error"] == "").to_numpy()
        scores = frame["score"].to_numpy(dtype=float)
        flagged = (frame["flagged"] == True).to_numpy()  # noqa: E712 - None on error rows
        self.histogram += np.histogram(scores[ok], bins=self.edges)[0]
        counts = self.by_source.setdefault(str(source), [0, 0, 0, 0])
        counts[0] += len(frame)
        counts[1] += int(ok.sum())
        counts[2] += int(flagged.sum())
        counts[3] += int((~ok).sum())
        self.truncated += int(frame["truncated"].sum())
        langs = frame["lang"].to_numpy()
        for lang, n in zip(*np.unique(langs[ok], return_counts=True), strict=True):
            self.by_lang.setdefault(str(lang), [0, 0])[0] += int(n)
        for lang, n in zip(*np.unique(langs[flagged], return_counts=True), strict=True):
            self.by_lang.setdefault(str(lang), [0, 0])[1] += int(n)
        candidates = np.flatnonzero(flagged)
        if len(self._top) >= self.top_n:  # only what can enter the heap costs Python work
            candidates = candidates[scores[candidates] > self._top[0][0]]
        sources, rows, reasons = (
            frame["source"].to_numpy(),
            frame["row"].to_numpy(),
            frame["reasons"].to_numpy(),
        )
        for i in candidates[np.argsort(-scores[candidates], kind="stable")][: self.top_n]:
            key = (float(scores[i]), -(self._seq + int(i)))
            if len(self._top) >= self.top_n and key <= self._top[0][:2]:
                continue
            text = records[i].text
            if self.redact:
                from .redact import redact

                text = redact(text)
            item = {
                "score": float(scores[i]),
                "source": str(sources[i]),
                "row": int(rows[i]),
                "id": records[i].id,
                "lang": str(langs[i]),
                "reasons": str(reasons[i]),
                "text": text if len(text) <= self.max_text else text[: self.max_text] + "…",
            }
            if len(self._top) < self.top_n:
                heapq.heappush(self._top, (*key, item))
            else:
                heapq.heapreplace(self._top, (*key, item))
        self._seq += len(frame)

    def merge(self, other: BatchReport) -> None:
        """Add another collector's counts and top messages, as if its chunks came next.

        The Dask engine collects one report per partition on the workers and merges
        them in partition order, so the result equals the local engine's.
        """
        self.histogram += other.histogram
        for mine, theirs in ((self.by_source, other.by_source), (self.by_lang, other.by_lang)):
            for key, counts in theirs.items():
                kept = mine.setdefault(key, [0] * len(counts))
                for i, n in enumerate(counts):
                    kept[i] += n
        self.truncated += other.truncated
        for score, neg_seq, item in other._top:
            key = (score, neg_seq - self._seq)  # their rows come after ours
            if len(self._top) < self.top_n:
                heapq.heappush(self._top, (*key, item))
            elif key > self._top[0][:2]:
                heapq.heapreplace(self._top, (*key, item))
        self._seq += other._seq

    def top(self) -> list[dict]:
        """The kept flagged messages, highest score first (earlier rows first on ties)."""
        return [item for *_, item in sorted(self._top, key=lambda t: (-t[0], -t[1]))]

    def _plot_scores(self) -> bytes:
        fig, ax = new_figure()
        left = self.edges[:-1]
        above = left >= self.threshold - 1e-12
        width = self.edges[1] - self.edges[0]
        ax.bar(left[~above], self.histogram[~above], width=width, align="edge", color="#1f77b4",
               edgecolor="white", linewidth=0.3, label="below the threshold")  # fmt: skip
        ax.bar(left[above], self.histogram[above], width=width, align="edge", color="#d62728",
               edgecolor="white", linewidth=0.3, label="bins at or above the threshold")  # fmt: skip
        ax.axvline(
            self.threshold,
            color="black",
            linestyle="--",
            linewidth=1,
            label=f"threshold {self.threshold:.3f}",
        )
        ax.set_yscale("log")
        ax.set_ylim(0.8, max(2, int(self.histogram.max())) * 2)
        ax.set_xlim(0, 1)
        ax.set_xlabel("score")
        ax.set_ylabel("messages (log scale)")
        ax.set_title(f"Score distribution ({int(self.histogram.sum()):,} scored messages)")
        ax.grid(alpha=0.3, axis="y")
        ax.legend(loc="upper center", fontsize=8)
        return to_png(fig)

    def _plot_langs(self) -> bytes:
        langs = sorted(self.by_lang)
        scored = np.array([self.by_lang[k][0] for k in langs])
        flagged = np.array([self.by_lang[k][1] for k in langs])
        share = np.divide(flagged, scored, out=np.zeros(len(langs)), where=scored > 0)
        fig, ax = new_figure(height=3.6)
        x = np.arange(len(langs))
        ax.bar(x, 100 * share, width=0.6, color="#d62728")
        for xi, p, f, n in zip(x, share, flagged, scored, strict=True):
            ax.text(xi, 100 * p, f"{f:,} of {n:,}", ha="center", va="bottom", fontsize=8)
        ax.set_xticks(x, langs)
        ax.set_ylim(0, max(5.0, 100 * share.max()) * 1.12)  # room for the labels above the bars
        ax.set_xlabel("language (guessed from the text)")
        ax.set_ylabel("flagged (% of scored)")
        ax.set_title("Share flagged per language (labels: flagged of scored)")
        ax.grid(alpha=0.3, axis="y")
        return to_png(fig)

    def _plot_timeline(self, campaigns) -> bytes:
        fig, ax = new_figure(height=3.6)
        for cid, days in campaigns.timeline.items():
            x, y = daily_counts(days)
            size = int(campaigns.table.loc[campaigns.table["campaign"] == cid, "size"].iloc[0])
            ax.plot(x, y, marker="o", markersize=3, linewidth=1, label=f"{cid} ({size:,})")
        ax.set_xlabel("day")
        ax.set_ylabel("messages per day")
        ax.set_title(f"The {len(campaigns.timeline)} largest campaigns with dates, per day")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.autofmt_xdate()
        return to_png(fig)

    def _campaign_sections(self, campaigns, plots: dict, figures: list) -> list[str]:
        """The campaigns table, and the top list with one row per campaign (not every copy)."""
        table = campaigns.table
        if campaigns.timeline:
            plots["batch_campaigns"] = self._plot_timeline(campaigns)
            figures.append(
                figure_html(
                    "batch_campaigns",
                    "campaigns over time",
                    "Messages per day of the largest campaigns whose messages have dates.",
                )
            )
        timeline_note = (
            "" if campaigns.timeline else "<p class='note'>No timeline: no dates in the input.</p>"
        )

        def cut(text):
            return text if len(text) <= self.max_text else text[: self.max_text] + "…"

        shown = table.head(TOP_N)
        campaign_rows = [
            [r.campaign, r.size, r.first_seen, r.last_seen, r.languages, r.sources, r.max_score, cut(r.text)]
            for r in shown.itertuples()
        ]
        top = table[table["max_score"] >= self.threshold].sort_values(
            "max_score", ascending=False, kind="stable"
        )
        top = top.head(self.top_n)
        top_rows = [
            [r.max_score, r.campaign, r.size, campaigns.best[r.campaign]["source"],
             campaigns.best[r.campaign]["row"], r.languages, cut(r.text)]
            for r in top.itertuples()
        ]  # fmt: skip
        return [
            f"<h2>Campaigns ({len(table):,})</h2>",
            "<p class='note'>Flagged messages and near misses that are copies or light edits of one script "
            f"share a campaign; largest first ({len(shown):,} shown). The text is the highest-scoring "
            "member's.</p>",
            timeline_note,
            table_html(
                ["campaign", "size", "first seen", "last seen", "languages", "sources", "max score", "text"],
                campaign_rows,
            ),
            f"<h2>Top {len(top_rows)} flagged campaigns</h2>",
            "<p class='note'>One row per campaign, by its highest score; source, row and text are that "
            "message's, size counts its copies.</p>",
            table_html(["score", "campaign", "size", "source", "row", "languages", "message"], top_rows)
            if top_rows
            else "<p>No message was flagged.</p>",
        ]

    def write(self, directory, *, seconds: float | None = None, campaigns=None) -> Path:
        """Write ``DIR/report.html`` and its PNGs (atomically, like the evaluation report).

        Parameters
        ----------
        directory : path-like
        seconds : float, optional
            How long the run took, for the page.
        campaigns : classifier.campaigns.Campaigns, optional
            The run's campaigns: a campaigns table and timeline, and a top list of one
            row per campaign instead of the top flagged messages.

        Returns
        -------
        Path
            The ``report.html`` written.
        """
        require_matplotlib()
        totals = np.array(list(self.by_source.values()) or [[0, 0, 0, 0]]).sum(axis=0)
        rows, scored, flagged, errors = (int(v) for v in totals)
        plots = {"batch_scores": self._plot_scores()}
        figures = [
            figure_html(
                "batch_scores",
                "score distribution",
                f"Scores in {HIST_BINS} fixed bins; red bins lie above the threshold (a bin the threshold "
                "cuts holds messages on both sides).",
            )
        ]
        if self.by_lang:
            plots["batch_lang"] = self._plot_langs()
            figures.append(
                figure_html(
                    "batch_lang",
                    "flagged per language",
                    "Share of each language's scored messages that were flagged.",
                )
            )
        took = f" in {seconds:.1f} s" if seconds is not None else ""
        sources = sorted(self.by_source.items(), key=lambda kv: (-kv[1][2], kv[0]))
        shown = sources[:MAX_SOURCES_SHOWN]
        source_rows = [[k, c[0], c[1], c[2], (c[2] / c[1]) if c[1] else float("nan"), c[3]] for k, c in shown]
        more = (
            f"<p class='note'>{len(sources) - len(shown)} more input(s) not shown (those with fewest flagged).</p>"
            if len(sources) > len(shown)
            else ""
        )
        lang_rows = [
            [k, c[0], c[1], (c[1] / c[0]) if c[0] else float("nan")] for k, c in sorted(self.by_lang.items())
        ]
        top = self.top()
        ids = any(t["id"] is not None for t in top)  # an id column only when the input had one

        def cells(t):
            out = [f"<td class='num'>{t['score']:.4f}</td>", f"<td>{esc(t['source'])}</td>"]
            out.append(f"<td class='num'>{t['row']}</td>")
            if ids:
                out.append(f"<td>{esc(t['id'] if t['id'] is not None else '')}</td>")
            out += [
                f"<td>{esc(t['lang'])}</td>",
                f"<td>{esc(t['reasons'])}</td>",
                f"<td class='msg'>{esc(t['text'])}</td>",
            ]
            return "".join(out)

        top_rows = "".join(f"<tr>{cells(t)}</tr>" for t in top)
        top_table = (
            "<table><thead><tr><th>score</th><th>source</th><th>row</th>"
            + ("<th>id</th>" if ids else "")
            + "<th>lang</th>"
            f"<th>reasons</th><th>message (first {self.max_text} characters)</th></tr></thead>"
            f"<tbody>{top_rows}</tbody></table>"
            if top
            else "<p>No message was flagged.</p>"
        )
        body = [
            f"<p>Model <code>{esc(self.model_version)}</code>, threshold <strong>{self.threshold:.4f}</strong>. "
            f"{rows:,} rows read, {scored:,} scored, <strong>{flagged:,} flagged</strong>, {counted(errors, 'error')}"
            f"{esc(took)}; {self.truncated:,} message(s) longer than the cap were scored on their start. "
            f"Written {esc(datetime.now(UTC).isoformat(timespec='seconds'))}.</p>",
            "<h2>Plots</h2>",
            f"<div class='plots'>{''.join(figures)}</div>",
            "<h2>Per input</h2>",
            table_html(["input", "rows", "scored", "flagged", "share flagged", "errors"], source_rows),
            more,
            "<h2>Per language</h2>",
            table_html(["language", "scored", "flagged", "share flagged"], lang_rows),
        ]
        if campaigns is not None:
            body += self._campaign_sections(campaigns, plots, figures)
            body[2] = f"<div class='plots'>{''.join(figures)}</div>"  # with the timeline
        else:
            body += [
                f"<h2>Top {len(top)} flagged messages</h2>",
                "<p class='note'>Highest scores first. Reasons are fragments of the normalised message whose "
                "n-grams pushed the score up most.</p>",
                top_table,
            ]
        return write_page(directory, f"Scoring run, model {self.model_version}", "\n".join(body), plots)
