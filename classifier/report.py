"""``coercion-classifier evaluate``: a model measured on labelled data, as text and HTML.

:func:`read_evaluation_data`, :func:`evaluate_model` and :func:`write_evaluation_report`
are what ``coercion-classifier evaluate --report DIR`` runs: precision-recall curve,
reliability diagram, confusion matrix and score histograms, tables per language and
per category, and the model card. The page itself is built with
:mod:`classifier.report_page`; a scoring run's report is :mod:`classifier.batch_report`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DataError, InputError
from .evaluation import binary_metrics, metrics_by
from .report_page import (
    HIST_BINS,
    esc,
    figure_html,
    fmt,
    new_figure,
    require_matplotlib,
    table_html,
    to_png,
    write_page,
)

__all__ = [
    "Evaluation",
    "EvaluationData",
    "evaluate_model",
    "format_evaluation",
    "misclassified",
    "read_evaluation_data",
    "require_matplotlib",
    "write_evaluation_report",
]


@dataclass
class EvaluationData:
    """Labelled rows read for an evaluation.

    Attributes
    ----------
    frame : pandas.DataFrame
        Columns ``text``, ``label`` (int 0/1), ``lang``, ``category``.
    files : list of Path
    sha256 : str
        :func:`classifier.labels.data_sha256` of the files.
    skipped_empty : int
        Rows with an empty text, left out.
    """

    frame: pd.DataFrame
    files: list[Path]
    sha256: str
    skipped_empty: int = 0


def read_evaluation_data(paths=None) -> EvaluationData:
    """Read labelled CSVs in the store format for an evaluation.

    Only ``text`` and ``label`` are required; ``lang`` is guessed and ``category``
    set from the label (``coerced_appeal`` or ``unsorted``) where absent or empty.
    Labels may be ``1/0``, ``yes/no`` or ``true/false``.

    Parameters
    ----------
    paths : list of path-like, optional
        CSV files or folders of them. Default: the held-out set, ``datasets/heldout``.

    Returns
    -------
    EvaluationData

    Raises
    ------
    InputError
        A path that does not exist, or a folder without CSV files.
    DataError
        A file that is not UTF-8 CSV (or JSON Lines), lacks a ``text`` or ``label`` column, has a
        label that is not 0/1, or holds no rows.

    Examples
    --------
    >>> data = read_evaluation_data(["datasets/heldout"])  # doctest: +SKIP
    >>> data.frame.columns.tolist()  # doctest: +SKIP
    ['text', 'label', 'lang', 'category']
    """
    from . import config
    from .labels import data_sha256, store_files
    from .lang import detect_languages
    from .merge import LABEL_WORDS, normalize_label, read_label_rows

    try:
        files = store_files(paths or [config.heldout_dir()])
    except DataError as exc:  # a path that is not there is unusable input, as for score
        raise InputError(str(exc)) from None
    frames = []
    for f in files:
        numbered = list(read_label_rows(f))
        if not numbered:
            continue
        lines, rows = [n for n, _ in numbered], [row for _, row in numbered]
        for line, row in numbered:  # every row: a JSON Lines row may lack a field the first has
            for col in ("text", "label"):
                if col not in row:
                    if line == lines[0]:
                        where = f"{f}: no column '{col}'; the columns are"
                    else:
                        where = f"{f}:{line}: no field '{col}'; the row has"
                    raise DataError(
                        f"{where}: {', '.join(row)}; evaluation needs labelled rows (text,label[,lang,category])"
                    )
        labels = [normalize_label(row["label"]) for row in rows]
        bad = [i for i, v in enumerate(labels) if v is None]
        if bad:
            raise DataError(
                f"{f}:{lines[bad[0]]}: label {rows[bad[0]]['label']!r} is not {LABEL_WORDS} "
                f"({len(bad)} such row(s))"
            )
        frames.append(
            pd.DataFrame(
                {
                    "text": [row["text"] for row in rows],
                    "label": np.asarray(labels, dtype=int),
                    "lang": [row.get("lang", "").strip() for row in rows],
                    "category": [row.get("category", "").strip() for row in rows],
                    "writer": [row.get("writer", "").strip() for row in rows],
                    "source": [(row.get("source") or "").strip() for row in rows],
                }
            )
        )
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    empty = frame["text"].str.strip() == "" if len(frame) else pd.Series(dtype=bool)
    skipped = int(empty.sum())
    frame = frame[~empty].reset_index(drop=True) if len(frame) else frame
    if not len(frame):
        raise DataError(f"no labelled rows in {', '.join(map(str, files))}")
    missing_lang = frame["lang"] == ""
    if missing_lang.any():
        frame.loc[missing_lang, "lang"] = detect_languages(frame.loc[missing_lang, "text"].tolist())
    missing_cat = frame["category"] == ""
    frame.loc[missing_cat, "category"] = np.where(
        frame.loc[missing_cat, "label"] == 1, "coerced_appeal", "unsorted"
    )
    return EvaluationData(frame=frame, files=files, sha256=data_sha256(files), skipped_empty=skipped)


@dataclass
class Evaluation:
    """A model's scores on labelled data and the metrics at its threshold.

    Attributes
    ----------
    model_version : str
    threshold : float
    card : dict
        The model card.
    data : EvaluationData
        With a ``score`` column added to ``data.frame``.
    overall : dict
        :func:`classifier.evaluation.binary_metrics` on all rows.
    by_lang, by_category, by_writer : dict of str to dict
        The same metrics per language, per category and per writer (rows that
        name their writer).
    trained_on : list of str
        Evaluated files that the model was trained on (its metrics are then optimistic).
    """

    model_version: str
    threshold: float
    card: dict
    data: EvaluationData
    overall: dict
    by_lang: dict
    by_category: dict
    trained_on: list = field(default_factory=list)
    by_writer: dict = field(default_factory=dict)


def evaluate_model(model, data: EvaluationData, *, threshold: float | None = None) -> Evaluation:
    """Score labelled data with a model and compute the metrics at its threshold.

    Parameters
    ----------
    model : LoadedModel
    data : EvaluationData
        From :func:`read_evaluation_data`.
    threshold : float, optional
        Default: the model card's threshold.

    Returns
    -------
    Evaluation

    Examples
    --------
    >>> from classifier import load_model
    >>> result = evaluate_model(load_model(), read_evaluation_data())  # doctest: +SKIP
    >>> result.overall["precision"]  # doctest: +SKIP
    """
    threshold = model.threshold if threshold is None else float(threshold)
    frame = data.frame
    frame["score"] = model.predict_proba(frame["text"].tolist())

    trained = {Path(f).resolve() for f in (model.card.get("data") or {}).get("files", [])}
    return Evaluation(
        model_version=model.version,
        threshold=threshold,
        card=model.card,
        data=data,
        overall=binary_metrics(frame["label"], frame["score"], threshold),
        by_lang=metrics_by(frame, "lang", threshold),
        by_category=metrics_by(frame, "category", threshold),
        trained_on=[str(f) for f in data.files if f.resolve() in trained],
        by_writer=metrics_by(frame[frame["writer"] != ""], "writer", threshold),
    )


def misclassified(result: Evaluation) -> pd.DataFrame:
    """An evaluation's false positives (highest score first), then its false negatives (lowest first).

    Parameters
    ----------
    result : Evaluation

    Returns
    -------
    pandas.DataFrame
        Columns ``kind`` (``false positive`` or ``false negative``), ``text``, ``label``,
        ``score``, ``category``, ``lang``, and ``writer`` and ``source`` when the data
        names them: what ``evaluate --errors FILE`` writes for review.
    """
    frame = result.data.frame
    flagged = frame["score"] >= result.threshold
    fp = frame[flagged & (frame["label"] == 0)].sort_values("score", ascending=False, kind="stable")
    fn = frame[~flagged & (frame["label"] == 1)].sort_values("score", kind="stable")
    columns = ["text", "label", "score", "category", "lang"]
    columns += [c for c in ("writer", "source") if c in frame and (frame[c] != "").any()]
    out = pd.concat([fp[columns], fn[columns]], ignore_index=True)
    out.insert(0, "kind", ["false positive"] * len(fp) + ["false negative"] * len(fn))
    return out


_METRIC_HEADER = ["n", "positives", "flagged", "precision", "recall", "false-positive rate"]


def _metric_row(m: dict) -> list:
    return [m["n"], m["positives"], m["tp"] + m["fp"], m["precision"], m["recall"], m["fpr"]]


def format_evaluation(result: Evaluation) -> str:
    """A short plain-text summary of an :class:`Evaluation` (what the CLI prints).

    Parameters
    ----------
    result : Evaluation

    Returns
    -------
    str
    """
    m = result.overall
    files = ", ".join(str(f) for f in result.data.files)
    lines = [
        f"model {result.model_version}  threshold {result.threshold:.4f}",
        f"data {files}: {m['n']} rows, {m['positives']} positive (sha256 {result.data.sha256[:12]})",
        f"precision {fmt(m['precision'])}  recall {fmt(m['recall'])}  f1 {fmt(m['f1'])}  "
        f"pr_auc {fmt(m['pr_auc'])}  fpr {fmt(m['fpr'])}  (tp {m['tp']} fp {m['fp']} fn {m['fn']} tn {m['tn']})",
    ]
    if result.data.skipped_empty:
        lines.append(f"note: {result.data.skipped_empty} row(s) with an empty text left out")
    if result.trained_on:
        lines.append(
            f"warning: the model was trained on {', '.join(result.trained_on)}: these figures are optimistic"
        )
    lines.append(f"{'slice':<34}{'n':>6}{'pos':>6}{'flagged':>9}{'prec':>8}{'recall':>8}{'fpr':>8}")
    for prefix, table in (
        ("lang", result.by_lang),
        ("category", result.by_category),
        ("writer", result.by_writer),
    ):
        for key, s in table.items():
            lines.append(
                f"{prefix + '=' + str(key):<34}{s['n']:>6}{s['positives']:>6}{s['tp'] + s['fp']:>9}"
                f"{fmt(s['precision']):>8}{fmt(s['recall']):>8}{fmt(s['fpr']):>8}"
            )
    return "\n".join(lines)


def _plot_pr(y, scores, result: Evaluation) -> bytes:
    from sklearn.metrics import precision_recall_curve

    precision, recall, _ = precision_recall_curve(y, scores)
    m = result.overall
    fig, ax = new_figure()
    ax.step(recall, precision, where="post", color="#1f77b4", label=f"model (PR-AUC {fmt(m['pr_auc'])})")
    ax.axhline(m["positives"] / m["n"], color="#999", linestyle=":", label="chance (share of positives)")
    target = (result.card.get("params") or {}).get("target_precision")
    if target:
        ax.axhline(target, color="#2ca02c", linestyle="--", linewidth=1, label=f"target precision {target:g}")
    ax.plot(
        [m["recall"]],
        [m["precision"]],
        marker="o",
        markersize=9,
        color="#d62728",
        linestyle="none",
        label=f"threshold {result.threshold:.3f}: precision {fmt(m['precision'])}, recall {fmt(m['recall'])}",
    )
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall (share of coerced appeals flagged)")
    ax.set_ylabel("precision (share of flagged that are appeals)")
    ax.set_title(f"Precision-recall curve (n = {m['n']}, {m['positives']} positive)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    return to_png(fig)


def _plot_calibration(y, scores) -> bytes:
    edges = np.linspace(0, 1, 11)
    which = np.clip(np.digitize(scores, edges[1:-1]), 0, 9)
    counts = np.bincount(which, minlength=10)
    used = counts > 0
    mean_score = np.bincount(which, weights=scores, minlength=10)[used] / counts[used]
    share = np.bincount(which, weights=y, minlength=10)[used] / counts[used]
    fig, (ax, ax_n) = new_figure(height=5.2, rows=2, height_ratios=[3, 1])
    ax.plot([0, 1], [0, 1], color="#999", linestyle=":", label="perfectly calibrated")
    ax.plot(mean_score, share, marker="o", color="#1f77b4", label="model: mean score of each of 10 bins")
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel("share of positives in the bin")
    ax.set_title("Calibration (reliability diagram)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    ax_n.bar(edges[:-1], counts, width=0.1, align="edge", color="#aec7e8", edgecolor="#1f77b4")
    ax_n.set_yscale("log")
    ax_n.set_ylim(0.8, max(2, counts.max()) * 2)
    ax_n.set_xlabel("predicted score")
    ax_n.set_ylabel("messages in\nthe bin (log)")
    ax_n.grid(alpha=0.3, axis="y")
    return to_png(fig)


def _plot_confusion(result: Evaluation) -> bytes:
    m = result.overall
    cells = np.array([[m["tn"], m["fp"]], [m["fn"], m["tp"]]])
    fig, ax = new_figure(width=5.2, height=4.4)
    ax.imshow(cells, cmap="Blues", vmin=0, vmax=max(1, cells.max()))
    rows = cells.sum(axis=1)
    for i, j in itertools.product(range(2), range(2)):
        share = f"\n{cells[i, j] / rows[i]:.1%} of row" if rows[i] else ""
        dark = cells[i, j] > 0.6 * cells.max()
        ax.text(j, i, f"{cells[i, j]}{share}", ha="center", va="center", color="white" if dark else "black")
    ax.set_xticks([0, 1], ["not flagged", "flagged"])
    ax.set_yticks([0, 1], ["label 0\n(not the pattern)", "label 1\n(coerced appeal)"])
    ax.set_xlabel("model decision")
    ax.set_ylabel("true label")
    ax.set_title(f"Confusion matrix at threshold {result.threshold:.3f}")
    return to_png(fig)


def _plot_histograms(y, scores, threshold) -> bytes:
    edges = np.linspace(0, 1, HIST_BINS + 1)
    fig, ax = new_figure()
    for label, name, color in (
        (0, "label 0 (not the pattern)", "#1f77b4"),
        (1, "label 1 (coerced appeal)", "#ff7f0e"),
    ):
        part = scores[y == label]
        ax.hist(part, bins=edges, histtype="stepfilled", alpha=0.4, color=color)
        # an outline on top of the fill keeps each class visible where the two overlap
        ax.hist(
            part, bins=edges, histtype="step", linewidth=1.4, color=color, label=f"{name}, n = {len(part)}"
        )
    ax.axvline(threshold, color="#d62728", linestyle="--", label=f"threshold {threshold:.3f}")
    ax.set_yscale("log")
    ax.set_xlim(0, 1)
    ax.set_xlabel("score")
    ax.set_ylabel("messages (log scale)")
    ax.set_ylim(0.8, None)
    ax.set_title("Scores by true label")
    ax.grid(alpha=0.3, axis="y")
    fig.legend(loc="outside lower center", ncols=2, fontsize=8)  # below the axes: no bar hidden
    return to_png(fig)


def _card_html(card: dict) -> str:
    rows = [
        ["version", card.get("version")],
        ["created", card.get("created")],
        ["parent", card.get("parent")],
        ["threshold", card.get("threshold")],
        ["threshold reaches the target precision", card.get("threshold_target_met")],
        ["target precision", (card.get("params") or {}).get("target_precision")],
        ["seed", (card.get("params") or {}).get("seed")],
        ["training rows", (card.get("data") or {}).get("rows")],
        ["training data SHA-256", (card.get("data") or {}).get("sha256")],
        ["training files", len((card.get("data") or {}).get("files", []))],
        ["model.joblib SHA-256", card.get("model_sha256")],
        ["scorer.npz SHA-256", card.get("scorer_sha256")],
    ]
    rows += [[f"version of {k}", v] for k, v in (card.get("versions") or {}).items()]
    out = ["<h2>Model card</h2>", table_html(["field", "value"], rows, numeric_from=2)]
    metric_keys = ["n", "positives", "precision", "recall", "f1", "pr_auc", "fpr"]
    metric_rows = []
    for name, key in (
        ("cross-validation (out of fold)", "cv"),
        ("held-out set, at training time", "heldout"),
    ):
        overall = (card.get(key) or {}).get("overall")
        if overall:
            metric_rows.append([name, *[overall.get(k) for k in metric_keys]])
    if metric_rows:
        out.append("<p>Metrics recorded in the card:</p>")
        out.append(table_html(["", *metric_keys], metric_rows))
    return "\n".join(out)


def write_evaluation_report(result: Evaluation, directory) -> Path:
    """Write ``DIR/report.html`` and its PNG plots for an :class:`Evaluation`.

    The page holds a precision-recall curve with the threshold marked, a reliability
    diagram, the confusion matrix at the threshold, score histograms per class, tables
    per language and per category (n, precision, recall, false-positive rate), and the
    model card. Every text is escaped; the page loads nothing remote.

    Parameters
    ----------
    result : Evaluation
    directory : path-like
        Created if needed. An older report there is replaced only once the new one is
        complete.

    Returns
    -------
    Path
        The ``report.html`` written.

    Examples
    --------
    >>> write_evaluation_report(result, "reports/heldout")  # doctest: +SKIP
    PosixPath('reports/heldout/report.html')
    """
    require_matplotlib()
    frame = result.data.frame
    y = frame["label"].to_numpy()
    scores = frame["score"].to_numpy()
    both = 0 < y.sum() < len(y)
    plots = {}
    figures = []
    if both:
        plots["pr_curve"] = _plot_pr(y, scores, result)
        figures.append(
            figure_html(
                "pr_curve",
                "precision-recall curve",
                "Precision and recall at every threshold; the red dot is the model's threshold.",
            )
        )
    plots["calibration"] = _plot_calibration(y, scores)
    figures.append(
        figure_html(
            "calibration",
            "reliability diagram",
            "Mean score against the share of true positives per score bin; "
            "points on the diagonal mean the score can be read as a probability.",
        )
    )
    plots["confusion"] = _plot_confusion(result)
    figures.append(figure_html("confusion", "confusion matrix", "Counts at the model's threshold."))
    plots["score_hist"] = _plot_histograms(y, scores, result.threshold)
    figures.append(
        figure_html(
            "score_hist",
            "score histograms per class",
            "Where each class's scores fall; the dashed line is the threshold.",
        )
    )
    m = result.overall
    notes = []
    if not both:
        notes.append("<p class='note'>The data has only one class: no precision-recall curve.</p>")
    if result.trained_on:
        notes.append(
            f"<p class='note'><strong>Warning:</strong> the model was trained on "
            f"{esc(', '.join(result.trained_on))}; these figures are optimistic.</p>"
        )
    if result.data.skipped_empty:
        notes.append(
            f"<p class='note'>{result.data.skipped_empty} row(s) with an empty text were left out.</p>"
        )
    summary = table_html(
        ["", "n", "positives", "flagged", "precision", "recall", "F1", "PR-AUC", "false-positive rate"],
        [
            [
                "all rows",
                m["n"],
                m["positives"],
                m["tp"] + m["fp"],
                m["precision"],
                m["recall"],
                m["f1"],
                m["pr_auc"],
                m["fpr"],
            ]
        ],
    )
    body = [
        f"<p>Model <code>{esc(result.model_version)}</code> at threshold <strong>{result.threshold:.4f}</strong>, "
        f"on {esc(', '.join(str(f) for f in result.data.files))} "
        f"(SHA-256 <code>{esc(result.data.sha256)}</code>). "
        f"Written {esc(datetime.now(UTC).isoformat(timespec='seconds'))}.</p>",
        *notes,
        summary,
        "<h2>Plots</h2>",
        f"<div class='plots'>{''.join(figures)}</div>",
        "<h2>Per language</h2>",
        table_html(["language", *_METRIC_HEADER], [[k, *_metric_row(v)] for k, v in result.by_lang.items()]),
        "<h2>Per category</h2>",
        "<p class='note'>A category holds one label: for a negative category the false-positive rate is the "
        "share flagged by mistake, for <code>coerced_appeal</code> recall is the share caught.</p>",
        table_html(
            ["category", *_METRIC_HEADER], [[k, *_metric_row(v)] for k, v in result.by_category.items()]
        ),
        _card_html(result.card),
    ]
    return write_page(directory, f"Evaluation of model {result.model_version}", "\n".join(body), plots)


# --- the report of a scoring run -----------------------------------------------------
