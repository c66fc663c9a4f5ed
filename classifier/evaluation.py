"""Cross-validation and metrics, overall and sliced by language and category."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score

# Messages with no captive voice, no home addressee or no call to act: one-word and
# everyday messages and keyword salads. The guide says none of them is the pattern, and
# the issue that introduced the condition heads asks that none ever be flagged; the
# end-to-end tests and ``benchmarks/accuracy.py`` check every one against the model.
EVERYDAY_PROBES = (
    "Мамо",
    "мама",
    "Mum",
    "hello there",
    "Мамо, чекай мене",
    "Мама, жди меня",
    "вимагайте вимагайте вимагайте",
    "требуйте требуйте требуйте",
    "полон мітинг банкова обмін",
    "мамо виходьте на вулицю погуляти, сонце",
    "Mum, go out and get some fresh air",
    "нас тут багато, наш автобус запізнюється",
    "[14.02.24 18:30] Unknown: привіт",
    "Забери дітей зі школи",
    "ok",
    "Слава Україні!",
)


def out_of_fold_scores(pipeline, store: pd.DataFrame, grouping: str = "writer"):
    """Cross-writer out-of-fold probabilities of the store's rows (NaN where never tested).

    A thin wrapper over :func:`classifier.training.fit_cross_writer` for callers that
    need the scores only (``labels audit``, the benchmarks).

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline
        As built by :func:`classifier.model.build_pipeline` (unfitted).
    store : pandas.DataFrame
        As returned by :func:`classifier.labels.load_store`.
    grouping : {"writer", "group"}, default="writer"
        ``"group"`` tests every row, holding out its group only (optimistic).

    Returns
    -------
    numpy.ndarray
    """
    from .training import fit_cross_writer

    return fit_cross_writer(pipeline, store, grouping=grouping)[1]["score"].to_numpy()


def binary_metrics(y_true, scores, threshold) -> dict:
    """Precision, recall, F1, PR-AUC and false-positive rate at a threshold."""
    y_true = np.asarray(y_true).astype(int)
    scores = np.asarray(scores, dtype=float)
    flagged = scores >= threshold
    tp = int((flagged & (y_true == 1)).sum())
    fp = int((flagged & (y_true == 0)).sum())
    fn = int((~flagged & (y_true == 1)).sum())
    tn = int((~flagged & (y_true == 0)).sum())
    precision = tp / (tp + fp) if tp + fp else float("nan")
    recall = tp / (tp + fn) if tp + fn else float("nan")
    if tp + fp and tp + fn and precision + recall:
        f1 = 2 * precision * recall / (precision + recall)
    else:
        f1 = float("nan") if not (tp + fn) else 0.0
    both = 0 < y_true.sum() < len(y_true)
    return {
        "n": len(y_true),
        "positives": int(y_true.sum()),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "pr_auc": float(average_precision_score(y_true, scores)) if both else float("nan"),
        "fpr": fp / (fp + tn) if fp + tn else float("nan"),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
    }


def metrics_by(frame: pd.DataFrame, column: str, threshold: float) -> dict:
    """:func:`binary_metrics` for each value of ``column`` (``lang``, ``category`` ...), sorted."""
    return {
        key: binary_metrics(part["label"], part["score"], threshold)
        for key, part in sorted(frame.groupby(column), key=lambda kv: str(kv[0]))
    }


def writer_metrics(frame: pd.DataFrame, threshold: float) -> dict:
    """:func:`binary_metrics` per ``writer``: the worst writer's F1 is the number to raise."""
    if "writer" not in frame.columns:
        return {}
    return metrics_by(frame, "writer", threshold)


def sliced_metrics(frame: pd.DataFrame, threshold: float) -> dict:
    """Metrics overall, per language and per category.

    Parameters
    ----------
    frame : pandas.DataFrame
        Columns ``label``, ``score``, ``lang``, ``category``.
    threshold : float

    Returns
    -------
    dict
        ``overall`` and ``by_lang`` hold :func:`binary_metrics`; ``by_category``
        holds, per category, its size and the share flagged (the false-positive
        rate for a negative category, the recall for the positive one).
    """
    out = {
        "overall": binary_metrics(frame["label"], frame["score"], threshold),
        "by_lang": metrics_by(frame, "lang", threshold),
        "by_category": {},
    }
    for cat, part in sorted(frame.groupby("category"), key=lambda kv: kv[0]):
        flagged = float((part["score"] >= threshold).mean())
        key = "recall" if int(part["label"].iloc[0]) == 1 else "fpr"
        out["by_category"][cat] = {"n": len(part), key: flagged}
    return out


def format_report(metrics: dict, title: str) -> str:
    """A plain-text table of :func:`sliced_metrics` output."""

    def fmt(v):
        return "   -  " if v != v else f"{v:6.3f}"  # NaN is not equal to itself

    lines = [
        title,
        f"{'slice':<28}{'n':>6}{'pos':>6}{'prec':>8}{'recall':>8}{'f1':>8}{'pr_auc':>8}{'fpr':>8}",
    ]
    rows = [
        ("overall", metrics["overall"]),
        *((f"lang={k}", v) for k, v in metrics["by_lang"].items()),
        *((f"writer={k}", v) for k, v in metrics.get("by_writer", {}).items()),
    ]
    for name, m in rows:
        lines.append(
            f"{name:<28}{m['n']:>6}{m['positives']:>6}  {fmt(m['precision'])}  {fmt(m['recall'])}"
            f"  {fmt(m['f1'])}  {fmt(m['pr_auc'])}  {fmt(m['fpr'])}"
        )
    lines.append(f"{'category':<28}{'n':>6}  flagged share (recall for coerced_appeal, else FPR)")
    for cat, m in metrics["by_category"].items():
        share = m.get("recall", m.get("fpr"))
        lines.append(f"{cat:<28}{m['n']:>6}  {fmt(share)}")
    return "\n".join(lines)
