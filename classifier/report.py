"""HTML reports with PNG plots: a model evaluated on labelled data, and a scoring run.

* :func:`read_evaluation_data`, :func:`evaluate_model` and :func:`write_evaluation_report`
  are what ``coercion-classifier evaluate --report DIR`` runs: precision-recall curve,
  reliability diagram, confusion matrix and score histograms, tables per language and
  per category, and the model card.
* :class:`BatchReport` collects a scoring run chunk by chunk, in constant memory (a
  fixed-bin histogram, counts, and a bounded heap of the top flagged messages), and
  writes ``coercion-classifier score --report DIR``.

Message texts come from adversaries. Every text put into a page goes through
:func:`html.escape`; the page loads nothing remote and carries a Content-Security-Policy
that allows no script at all. Report files are written atomically: the plots get
content-addressed names and ``report.html``, which names them, is replaced last, so
an interrupted run leaves the previous report whole and its images in place.

Plots need matplotlib (the ``report`` extra); it is imported only when a report is
written, and always with the non-interactive Agg backend.
"""

from __future__ import annotations

import hashlib
import heapq
import html
import io
import itertools
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DataError, InputError
from .evaluation import binary_metrics

REPORT_FILE = "report.html"
CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
TOP_N = 50
MAX_TEXT = 500
HIST_BINS = 50
MAX_SOURCES_SHOWN = 200

# PNG names written by this module: "<plot>-<12 hex digits of its SHA-256>.png".
_PNG_NAME = re.compile(
    r"^(?:pr_curve|calibration|confusion|score_hist|batch_scores|batch_lang|icon)-[0-9a-f]{12}\.png$"
)


def require_matplotlib() -> None:
    """Fail early, with the extra to install, when matplotlib is missing.

    Raises
    ------
    InputError
        matplotlib cannot be imported.
    """
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise InputError("reports need matplotlib: pip install 'coercion-classifier[report]'") from None


def _figure(width=6.4, height=4.2, rows=1, height_ratios=None):
    """A matplotlib Figure on an Agg canvas (no pyplot: no global state, no display)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    if rows == 1:
        return fig, fig.subplots()
    return fig, fig.subplots(rows, 1, gridspec_kw={"height_ratios": height_ratios}, sharex=True)


def _icon() -> bytes:
    """A 16x16 red square PNG: the page's own icon, so the browser asks for no other file."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\xd6\x27\x28" * 16 for _ in range(16))  # filter byte + RGB pixels
    header = struct.pack(">IIBBBBB", 16, 16, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def _png(fig) -> bytes:
    buf = io.BytesIO()
    # "tight" keeps long axis labels (e.g. the confusion matrix's) inside the image
    fig.savefig(buf, format="png", metadata={"Software": None}, bbox_inches="tight", pad_inches=0.1)
    return buf.getvalue()


# --- writing a report folder atomically ---------------------------------------------


def _e(value) -> str:
    """Escape anything for HTML text or a quoted attribute."""
    return html.escape(str(value), quote=True)


def _write_report(directory, title: str, body: str, plots: dict[str, bytes]) -> Path:
    """Write PNGs under content-addressed names, then ``report.html`` (the commit point).

    ``body`` refers to plot ``name`` as ``<@name@>``: escaped text never holds a ``<``,
    so no message can forge the placeholder. Stale PNGs of earlier reports
    in the folder are removed only after the new page is in place.
    """
    from .writers import atomic_path, atomic_text_output

    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise InputError(f"{directory}: exists and is not a folder; pass a folder for --report")
    directory.mkdir(parents=True, exist_ok=True)
    names = {}
    plots = {**plots, "icon": _icon()}
    for name, data in plots.items():
        filename = f"{name}-{hashlib.sha256(data).hexdigest()[:12]}.png"
        names[name] = filename
        if not (directory / filename).exists():
            with atomic_path(directory / filename) as tmp:
                tmp.write_bytes(data)
    for name, filename in names.items():
        body = body.replace(f"<@{name}@>", _e(filename))
    page = _PAGE.format(title=_e(title), csp=_e(CSP), style=_STYLE, body=body, icon=_e(names["icon"]))
    target = directory / REPORT_FILE
    with atomic_text_output(target) as fh:
        fh.write(page)
    keep = set(names.values())
    for old in directory.iterdir():
        if _PNG_NAME.match(old.name) and old.name not in keep:
            old.unlink(missing_ok=True)
    return target


_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:1100px;
padding:0 1rem;color:#1b1b1b;line-height:1.4}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0 1rem}th,td{border:1px solid #ccc;padding:.25rem .5rem;
vertical-align:top}th{background:#f2f2f2;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
.plots{display:flex;flex-wrap:wrap;gap:1rem}.plots figure{margin:0}img{max-width:100%;height:auto}
figcaption{font-size:.9rem;color:#444;max-width:640px}.msg{white-space:pre-wrap;word-break:break-word;
max-width:560px}.note{color:#555;font-size:.9rem}code{background:#f4f4f4;padding:0 .2rem}
"""

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="{icon}">
<title>{title}</title>
<style>{style}</style>
</head>
<body>
<h1>{title}</h1>
{body}
</body>
</html>
"""


def _fmt(value, digits=3) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _table(header: list[str], rows: list[list], numeric_from: int = 1) -> str:
    """An HTML table; every cell is escaped, columns from ``numeric_from`` right-aligned."""
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="num">{_e(_fmt(v))}</td>' if i >= numeric_from else f"<td>{_e(_fmt(v))}</td>"
            for i, v in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _figure_html(name: str, alt: str, caption: str) -> str:
    return (
        f'<figure><img src="<@{name}@>" alt="{_e(alt)}" width="640">'
        f"<figcaption>{_e(caption)}</figcaption></figure>"
    )


# --- evaluation on labelled data ------------------------------------------------------


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
        A file that is not UTF-8 CSV, lacks a ``text`` or ``label`` column, has a
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
    from .merge import normalize_label

    try:
        files = store_files(paths or [config.heldout_dir()])
    except DataError as exc:  # a path that is not there is unusable input, as for score
        raise InputError(str(exc)) from None
    frames = []
    for f in files:
        try:
            df = pd.read_csv(f, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        except UnicodeDecodeError:
            raise DataError(f"{f}: not UTF-8; re-save the file as UTF-8") from None
        except pd.errors.EmptyDataError:
            raise DataError(f"{f}: empty file; a labelled CSV needs a header and rows") from None
        except pd.errors.ParserError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else "parse error"
            raise DataError(f"{f}: malformed CSV ({first}); check the quoting") from None
        df.columns = [str(c).strip() for c in df.columns]
        for col in ("text", "label"):
            if col not in df.columns:
                raise DataError(
                    f"{f}: no column '{col}'; the columns are: {', '.join(df.columns)}; "
                    "evaluation needs labelled rows (text,label[,lang,category])"
                )
        labels = [normalize_label(v) for v in df["label"]]
        bad = [i for i, v in enumerate(labels) if v is None]
        if bad:
            raise DataError(
                f"{f}: data row {bad[0] + 1} has label {df['label'].iloc[bad[0]]!r}, not 1/0, yes/no or "
                f"true/false ({len(bad)} such row(s))"
            )
        part = pd.DataFrame(
            {
                "text": df["text"],
                "label": np.asarray(labels, dtype=int),
                "lang": df["lang"].str.strip() if "lang" in df.columns else "",
                "category": df["category"].str.strip() if "category" in df.columns else "",
            }
        )
        frames.append(part)
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
    by_lang, by_category : dict of str to dict
        The same metrics per language and per category.
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

    def sliced(column):
        return {
            key: binary_metrics(part["label"], part["score"], threshold)
            for key, part in sorted(frame.groupby(column), key=lambda kv: str(kv[0]))
        }

    trained = {Path(f).resolve() for f in (model.card.get("data") or {}).get("files", [])}
    return Evaluation(
        model_version=model.version,
        threshold=threshold,
        card=model.card,
        data=data,
        overall=binary_metrics(frame["label"], frame["score"], threshold),
        by_lang=sliced("lang"),
        by_category=sliced("category"),
        trained_on=[str(f) for f in data.files if f.resolve() in trained],
    )


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
        f"precision {_fmt(m['precision'])}  recall {_fmt(m['recall'])}  f1 {_fmt(m['f1'])}  "
        f"pr_auc {_fmt(m['pr_auc'])}  fpr {_fmt(m['fpr'])}  (tp {m['tp']} fp {m['fp']} fn {m['fn']} tn {m['tn']})",
    ]
    if result.data.skipped_empty:
        lines.append(f"note: {result.data.skipped_empty} row(s) with an empty text left out")
    if result.trained_on:
        lines.append(
            f"warning: the model was trained on {', '.join(result.trained_on)}: these figures are optimistic"
        )
    lines.append(f"{'slice':<34}{'n':>6}{'pos':>6}{'flagged':>9}{'prec':>8}{'recall':>8}{'fpr':>8}")
    for prefix, table in (("lang", result.by_lang), ("category", result.by_category)):
        for key, s in table.items():
            lines.append(
                f"{prefix + '=' + str(key):<34}{s['n']:>6}{s['positives']:>6}{s['tp'] + s['fp']:>9}"
                f"{_fmt(s['precision']):>8}{_fmt(s['recall']):>8}{_fmt(s['fpr']):>8}"
            )
    return "\n".join(lines)


def _plot_pr(y, scores, result: Evaluation) -> bytes:
    from sklearn.metrics import precision_recall_curve

    precision, recall, _ = precision_recall_curve(y, scores)
    m = result.overall
    fig, ax = _figure()
    ax.step(recall, precision, where="post", color="#1f77b4", label=f"model (PR-AUC {_fmt(m['pr_auc'])})")
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
        label=f"threshold {result.threshold:.3f}: precision {_fmt(m['precision'])}, recall {_fmt(m['recall'])}",
    )
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall (share of coerced appeals flagged)")
    ax.set_ylabel("precision (share of flagged that are appeals)")
    ax.set_title(f"Precision-recall curve (n = {m['n']}, {m['positives']} positive)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    return _png(fig)


def _plot_calibration(y, scores) -> bytes:
    edges = np.linspace(0, 1, 11)
    which = np.clip(np.digitize(scores, edges[1:-1]), 0, 9)
    counts = np.bincount(which, minlength=10)
    used = counts > 0
    mean_score = np.bincount(which, weights=scores, minlength=10)[used] / counts[used]
    share = np.bincount(which, weights=y, minlength=10)[used] / counts[used]
    fig, (ax, ax_n) = _figure(height=5.2, rows=2, height_ratios=[3, 1])
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
    return _png(fig)


def _plot_confusion(result: Evaluation) -> bytes:
    m = result.overall
    cells = np.array([[m["tn"], m["fp"]], [m["fn"], m["tp"]]])
    fig, ax = _figure(width=5.2, height=4.4)
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
    return _png(fig)


def _plot_histograms(y, scores, threshold) -> bytes:
    edges = np.linspace(0, 1, HIST_BINS + 1)
    fig, ax = _figure()
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
    return _png(fig)


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
    out = ["<h2>Model card</h2>", _table(["field", "value"], rows, numeric_from=2)]
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
        out.append(_table(["", *metric_keys], metric_rows))
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
            _figure_html(
                "pr_curve",
                "precision-recall curve",
                "Precision and recall at every threshold; the red dot is the model's threshold.",
            )
        )
    plots["calibration"] = _plot_calibration(y, scores)
    figures.append(
        _figure_html(
            "calibration",
            "reliability diagram",
            "Mean score against the share of true positives per score bin; "
            "points on the diagonal mean the score can be read as a probability.",
        )
    )
    plots["confusion"] = _plot_confusion(result)
    figures.append(_figure_html("confusion", "confusion matrix", "Counts at the model's threshold."))
    plots["score_hist"] = _plot_histograms(y, scores, result.threshold)
    figures.append(
        _figure_html(
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
            f"{_e(', '.join(result.trained_on))}; these figures are optimistic.</p>"
        )
    if result.data.skipped_empty:
        notes.append(
            f"<p class='note'>{result.data.skipped_empty} row(s) with an empty text were left out.</p>"
        )
    summary = _table(
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
        f"<p>Model <code>{_e(result.model_version)}</code> at threshold <strong>{result.threshold:.4f}</strong>, "
        f"on {_e(', '.join(str(f) for f in result.data.files))} "
        f"(SHA-256 <code>{_e(result.data.sha256)}</code>). "
        f"Written {_e(datetime.now(UTC).isoformat(timespec='seconds'))}.</p>",
        *notes,
        summary,
        "<h2>Plots</h2>",
        f"<div class='plots'>{''.join(figures)}</div>",
        "<h2>Per language</h2>",
        _table(["language", *_METRIC_HEADER], [[k, *_metric_row(v)] for k, v in result.by_lang.items()]),
        "<h2>Per category</h2>",
        "<p class='note'>A category holds one label: for a negative category the false-positive rate is the "
        "share flagged by mistake, for <code>coerced_appeal</code> recall is the share caught.</p>",
        _table(["category", *_METRIC_HEADER], [[k, *_metric_row(v)] for k, v in result.by_category.items()]),
        _card_html(result.card),
    ]
    return _write_report(directory, f"Evaluation of model {result.model_version}", "\n".join(body), plots)


# --- the report of a scoring run -----------------------------------------------------


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

    Examples
    --------
    >>> report = BatchReport(threshold=0.6, model_version="20261129T101959Z")
    >>> summary = score_files(["export.txt"], "scored.csv", model, collector=report)  # doctest: +SKIP
    >>> report.write("reports/export")  # doctest: +SKIP
    """

    def __init__(self, *, threshold: float, model_version: str, top_n: int = TOP_N, max_text: int = MAX_TEXT):
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
        fig, ax = _figure()
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
        return _png(fig)

    def _plot_langs(self) -> bytes:
        langs = sorted(self.by_lang)
        scored = np.array([self.by_lang[k][0] for k in langs])
        flagged = np.array([self.by_lang[k][1] for k in langs])
        share = np.divide(flagged, scored, out=np.zeros(len(langs)), where=scored > 0)
        fig, ax = _figure(height=3.6)
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
        return _png(fig)

    def write(self, directory, *, seconds: float | None = None) -> Path:
        """Write ``DIR/report.html`` and its PNGs (atomically, like the evaluation report).

        Parameters
        ----------
        directory : path-like
        seconds : float, optional
            How long the run took, for the page.

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
            _figure_html(
                "batch_scores",
                "score distribution",
                f"Scores in {HIST_BINS} fixed bins; red bins lie above the threshold (a bin the threshold "
                "cuts holds messages on both sides).",
            )
        ]
        if self.by_lang:
            plots["batch_lang"] = self._plot_langs()
            figures.append(
                _figure_html(
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
            out = [f"<td class='num'>{t['score']:.4f}</td>", f"<td>{_e(t['source'])}</td>"]
            out.append(f"<td class='num'>{t['row']}</td>")
            if ids:
                out.append(f"<td>{_e(t['id'] if t['id'] is not None else '')}</td>")
            out += [
                f"<td>{_e(t['lang'])}</td>",
                f"<td>{_e(t['reasons'])}</td>",
                f"<td class='msg'>{_e(t['text'])}</td>",
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
            f"<p>Model <code>{_e(self.model_version)}</code>, threshold <strong>{self.threshold:.4f}</strong>. "
            f"{rows:,} rows read, {scored:,} scored, <strong>{flagged:,} flagged</strong>, {errors:,} errors"
            f"{_e(took)}; {self.truncated:,} message(s) longer than the cap were scored on their start. "
            f"Written {_e(datetime.now(UTC).isoformat(timespec='seconds'))}.</p>",
            "<h2>Plots</h2>",
            f"<div class='plots'>{''.join(figures)}</div>",
            "<h2>Per input</h2>",
            _table(["input", "rows", "scored", "flagged", "share flagged", "errors"], source_rows),
            more,
            "<h2>Per language</h2>",
            _table(["language", "scored", "flagged", "share flagged"], lang_rows),
            f"<h2>Top {len(top)} flagged messages</h2>",
            "<p class='note'>Highest scores first. Reasons are fragments of the normalised message whose "
            "n-grams pushed the score up most.</p>",
            top_table,
        ]
        return _write_report(directory, f"Scoring run, model {self.model_version}", "\n".join(body), plots)
