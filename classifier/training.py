"""Train a model from the label store, evaluate it across writers, and register it.

``train`` is what ``coercion-classifier train`` runs: load and validate the store,
fit the pipeline with **cross-writer** folds (every out-of-fold score comes from a
model that never saw that row's writer), choose the threshold from those scores,
score the held-out writers and the real texts, and save the pipeline with its model
card.

The headline figure is computed on writers who wrote both labels. A writer who wrote
one label only (the first batches of the store) is still trained on, but his rows are
never scored out of fold: on them, "who wrote it" alone predicts the label, and a
figure that includes them says more about style than about the pattern.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DataError
from .evaluation import sliced_metrics, writer_metrics
from .labels import condition_matrix, data_sha256, load_store, store_files, summarize
from .model import DEFAULT_TARGET_PRECISION, build_pipeline, choose_threshold
from .normalize import normalize_texts
from .registry import Registry, library_versions

N_SPLITS = 5
# A writer is tested across writers when each label is at least this share of his rows.
MIN_LABEL_SHARE = 0.1
# With fewer rows of a label, some cross-validation fold has none of it to train or test on.
MIN_ROWS_PER_LABEL = 3
# Writers whose name starts with this wrote the store's first batches and the first
# held-out set: one kind of writer, so their held-out figure is optimistic.
TEAM_PREFIX = "team-"


@dataclass
class TrainResult:
    """What :func:`train` produced."""

    version: str
    card: dict
    oof: pd.DataFrame  # the store with an out-of-fold ``score`` column (NaN where never tested)


@dataclass
class CrossWriterPlan:
    """How a store is cross-validated: which rows are tested, grouped by what."""

    groups: np.ndarray
    cv_rows: np.ndarray
    grouping: str  # "writer", or "group" when fewer than two writers wrote both labels


def cross_writer_plan(store: pd.DataFrame, grouping: str = "writer") -> CrossWriterPlan:
    """Folds by writer, testing only writers who wrote both labels.

    "Both labels" means each label is at least ``MIN_LABEL_SHARE`` of the writer's
    rows, so that a one-label batch with a few relabelled rows only trains.

    With fewer than two such writers (a small or old store), or ``grouping="group"``,
    every row is tested and folds keep each ``group`` together instead (an optimistic
    figure: the model has seen the row's writer); the card says which.

    Examples
    --------
    >>> frame = pd.DataFrame({"writer": ["a", "a", "b", "b", "c"], "label": [0, 1, 0, 1, 1],
    ...                       "group": ["1", "2", "3", "4", "5"]})
    >>> plan = cross_writer_plan(frame)
    >>> plan.grouping, plan.cv_rows.tolist()
    ('writer', [True, True, True, True, False])
    """
    writers = store["writer"].astype(str)
    # A one-label batch with a handful of rows relabelled by an audit is still a
    # one-label batch: on it, "who wrote it" predicts the label.
    share = store.groupby(writers)["label"].mean()
    both = set(share[(share >= MIN_LABEL_SHARE) & (share <= 1 - MIN_LABEL_SHARE)].index)
    if len(both) >= 2 and grouping == "writer":
        return CrossWriterPlan(writers.to_numpy(), writers.isin(both).to_numpy(), "writer")
    return CrossWriterPlan(store["group"].astype(str).to_numpy(), np.ones(len(store), bool), "group")


def fit_cross_writer(
    pipeline,
    store: pd.DataFrame,
    target_precision: float = DEFAULT_TARGET_PRECISION,
    grouping: str = "writer",
):
    """Fit ``pipeline`` on the store with cross-writer folds; its out-of-fold figures.

    ``grouping="group"`` folds by row group instead (see :func:`cross_writer_plan`).

    Returns
    -------
    pipeline : the fitted pipeline
    oof : pandas.DataFrame
        The store with ``score`` (NaN for rows never tested) and ``tested``.
    threshold : float
    met : bool
        Whether ``target_precision`` was reached.
    plan : CrossWriterPlan
    """
    plan = cross_writer_plan(store, grouping)
    y = store["label"].to_numpy()
    pipeline.fit(
        store["text"].tolist(),
        y,
        clf__groups=plan.groups,
        clf__conditions=condition_matrix(store),
        clf__cv_rows=plan.cv_rows,
    )
    scores = pipeline.named_steps["clf"].oof_proba_
    tested = ~np.isnan(scores)
    threshold, met = choose_threshold(y[tested], scores[tested], target_precision)
    return pipeline, store.assign(score=scores, tested=tested), threshold, met, plan


def check_trainable(store: pd.DataFrame) -> None:
    """Refuse a store with too few rows of a label to cross-validate and train.

    Raises
    ------
    DataError
        Saying how many rows of each label the store has and how many are needed.

    Examples
    --------
    >>> check_trainable(pd.DataFrame({"label": [1, 1, 0]}))
    Traceback (most recent call last):
    ...
    classifier.errors.DataError: the label store has 2 rows of label 1 and 1 of label 0; training needs at least 3 of each (add labelled messages with `coercion-classifier labels add`)
    """
    counts = store["label"].value_counts() if len(store) else pd.Series(dtype=int)
    pos, neg = int(counts.get(1, 0)), int(counts.get(0, 0))
    if min(pos, neg) < MIN_ROWS_PER_LABEL:
        raise DataError(
            f"the label store has {pos} row{'s' if pos != 1 else ''} of label 1 and {neg} of label 0; "
            f"training needs at least {MIN_ROWS_PER_LABEL} of each "
            "(add labelled messages with `coercion-classifier labels add`)"
        )


@dataclass
class EvaluationSet:
    """A labelled set that is scored but never trained on, read once per run."""

    files: list[Path]
    frame: pd.DataFrame


def load_evaluation_set(paths) -> EvaluationSet | None:
    """Read and validate an evaluation set (held-out writers, real texts); None for none."""
    if not paths:
        return None
    files = store_files(paths)
    return EvaluationSet(files, load_store(files))


def check_not_evaluation_text(store: pd.DataFrame, sets) -> None:
    """Refuse a store that holds a text of an evaluation set (held-out writers, real texts).

    Parameters
    ----------
    store : pandas.DataFrame
    sets : iterable of EvaluationSet or None

    Raises
    ------
    DataError
        Naming the first stored row and the evaluation file it repeats.
    """
    where = zip(store["file"], store["line"], strict=True)
    keys = dict(zip(normalize_texts(store["text"].astype(str).tolist()), where, strict=True))
    for evaluation in sets:
        if evaluation is None:
            continue
        frame = evaluation.frame
        for key, f, line in zip(
            normalize_texts(frame["text"].astype(str).tolist()), frame["file"], frame["line"], strict=True
        ):
            if key in keys:
                sf, sl = keys[key]
                raise DataError(
                    f"{sf}:{sl} repeats {f}:{line}, an evaluation text that must never be trained on; "
                    "remove it from the label store"
                )


def _log(message: str, quiet: bool) -> None:
    if not quiet:
        print(message, file=sys.stderr, flush=True)


def _line(name: str, m: dict) -> str:
    return f"{name}: precision {m['precision']:.3f} recall {m['recall']:.3f} F1 {m['f1']:.3f}"


def evaluate_sets(pipeline, threshold, heldout: EvaluationSet | None, real: EvaluationSet | None) -> dict:
    """Metrics of a fitted pipeline on the held-out writers, the team's held-out set and the real texts.

    Scored as ``score`` scores (:class:`classifier.scorer.LinearScorer`), so the figures
    are those of the served model.
    """
    from .scorer import LinearScorer

    scorer = LinearScorer.from_pipeline(pipeline)
    out = {}
    if heldout is not None:
        ho = heldout.frame.assign(score=scorer.predict_proba(heldout.frame["text"].tolist()))
        team = ho["writer"].astype(str).str.startswith(TEAM_PREFIX)
        for key, part in (("heldout_writers", ho[~team]), ("heldout_team", ho[team])):
            if len(part) and part["label"].nunique() == 2:
                m = sliced_metrics(part, threshold)
                m["by_writer"] = writer_metrics(part, threshold)
                m["files"] = sorted({str(f) for f in part["file"]})
                out[key] = m
        out["heldout_sha256"] = data_sha256(heldout.files)
    if real is not None:
        rs = real.frame.assign(score=scorer.predict_proba(real.frame["text"].tolist()))
        out["real"] = sliced_metrics(rs, threshold)
        out["real"]["files"] = [str(f) for f in real.files]
        out["real_sha256"] = data_sha256(real.files)
    return out


def train(
    data=None,
    *,
    models_dir=None,
    heldout=None,
    target_precision: float = DEFAULT_TARGET_PRECISION,
    seed: int = 0,
    make_current: bool = True,
    parent: str | None = None,
    quiet: bool = False,
    real=None,
    combine: str = "stack",
    _locked: bool = False,
) -> TrainResult:
    """Train, evaluate and register a model.

    Parameters
    ----------
    data : list of path-like, optional
        Labelled CSV files or folders; default ``datasets/labelled``.
    models_dir : path-like, optional
        Registry folder; default ``models`` of the workspace, which must exist
        (:func:`classifier.workspace.require`).
    heldout : list of path-like or False, optional
        Held-out labelled files scored after training and reported in the card
        (writers named ``team-*`` apart, as the optimistic figure); default
        ``datasets/heldout`` when it exists; False to skip.
    target_precision : float, default=0.95
        The threshold is the one with the highest cross-writer out-of-fold recall at
        this precision.
    seed : int, default=0
        Fixes folds and solver: the same data and seed give the same model.
    make_current : bool, default=True
    parent : str, optional
        The version this one is meant to replace; the card records it and the rows
        added since. Default: the current version, if any.
    quiet : bool, default=False
        No progress messages on stderr.
    real : list of path-like or False, optional
        Real public texts to report apart; default ``datasets/real`` when it exists.
    combine : {"stack", "direct"}, default="stack"
        The condition heads stacked, or the pattern head alone (see
        :class:`classifier.model.ConditionClassifier`).

    Returns
    -------
    TrainResult

    Examples
    --------
    >>> result = train(["datasets/labelled"], models_dir="models")  # doctest: +SKIP
    >>> result.card["threshold"]  # doctest: +SKIP
    """
    from . import config, workspace

    if models_dir is None:  # the default registry is the workspace's: refuse before any work without one
        workspace.require("train", "or pass --models-dir DIR")
    data = [Path(p) for p in (data or [config.labelled_dir()])]
    files = store_files(data)
    store = load_store(files)
    check_trainable(store)
    if heldout is None:
        heldout = [config.heldout_dir()] if config.heldout_dir().is_dir() else []
    if real is None:
        real = [config.real_dir()] if config.real_dir().is_dir() else []
    evaluation = (load_evaluation_set(heldout), load_evaluation_set(real))
    check_not_evaluation_text(store, evaluation)
    y = store["label"].to_numpy()
    counts = summarize(store)
    _log(
        f"training on {len(store)} labelled messages ({int(y.sum())} positive) from {len(files)} file(s), "
        f"{store['writer'].nunique()} writer(s)",
        quiet,
    )

    pipeline, oof, threshold, met, plan = fit_cross_writer(
        build_pipeline(seed=seed, combine=combine), store, target_precision
    )
    tested = oof[oof["tested"]]
    cv = sliced_metrics(tested, threshold)
    cv["grouping"] = plan.grouping
    cv["folds"] = len(pipeline.named_steps["clf"].folds_)
    cv["writers_tested"] = int(tested["writer"].nunique())
    cv["rows_tested"] = len(tested)
    cv["by_writer"] = writer_metrics(tested, threshold)
    cv["worst_writer"] = (
        min(cv["by_writer"].items(), key=lambda kv: _f1(kv[1]))[0] if cv["by_writer"] else None
    )
    cv["contrast_pairs"] = contrast_pair_accuracy(tested, threshold)
    what = "cross-writer" if plan.grouping == "writer" else "grouped (by row group, optimistic)"
    _log(
        _line(
            f"{what} validation ({cv['folds']} folds, {cv['writers_tested']} writers, {len(tested)} messages)",
            cv["overall"],
        )
        + f" at threshold {threshold:.4f}",
        quiet,
    )
    if cv["worst_writer"]:
        _log(_line(f"  worst writer {cv['worst_writer']}", cv["by_writer"][cv["worst_writer"]]), quiet)

    sets = evaluate_sets(pipeline, threshold, *evaluation)
    for key, title in (
        ("heldout_writers", "held-out writers"),
        ("heldout_team", "team's held-out set (same kind of writer as the store: optimistic)"),
        ("real", "real texts"),
    ):
        if key in sets:
            m = sets[key]
            _log(_line(f"{title} ({m['overall']['n']} messages)", m["overall"]), quiet)

    params = {k: v for k, v in pipeline.get_params().items() if "__" in k and not hasattr(v, "get_params")}
    registry = Registry(models_dir or config.models_dir())
    parent = parent or registry.current_version()
    changes = None
    if parent:
        try:
            parent_data = registry.card(parent).get("data", {})
            old_files = {Path(f).name: n for f, n in parent_data.get("rows_by_file", {}).items()}
            new_files = {f.name: int((store["file"] == str(f)).sum()) for f in files}
            changes = {
                "rows_added": int(len(store) - parent_data.get("rows", 0)),
                "files_added": sorted(set(new_files) - set(old_files)),
                "files_removed": sorted(set(old_files) - set(new_files)),
                "files_changed": sorted(
                    f for f in set(new_files) & set(old_files) if new_files[f] != old_files[f]
                ),
            }
        except Exception:
            changes = {"note": f"parent card {parent} unreadable"}
    card = {
        "parent": parent,
        "data_changes": changes,
        "versions": library_versions(),
        "data": {
            "files": [str(f) for f in files],
            "sha256": data_sha256(files),
            "rows_by_file": {str(f): int((store["file"] == str(f)).sum()) for f in files},
            **counts,
        },
        "params": {"seed": seed, "target_precision": target_precision, **_jsonable(params)},
        "threshold": threshold,
        "threshold_target_met": met,
        "cv": _jsonable(cv),
        **_jsonable(sets),
    }
    if _locked:  # the caller (retrain) already holds the registry's lock
        version = registry.save(pipeline, card, make_current=make_current)
    else:
        with registry.lock():
            version = registry.save(pipeline, card, make_current=make_current)
    card = registry.card(version)
    _log(f"saved model {version} in {registry.root}" + (" (current)" if make_current else ""), quiet)
    return TrainResult(version=version, card=card, oof=oof)


def _f1(m: dict) -> float:
    f1 = m.get("f1")
    return 1.0 if f1 is None or f1 != f1 else f1


def contrast_pair_accuracy(frame: pd.DataFrame, threshold: float) -> dict:
    """How often the model tells a label-1 appeal from its minimally edited twin.

    A pair is a label-1 row and a label-0 row with ``contrast`` set in the same
    ``group``. It is right when the appeal is flagged and the twin is not; also
    reported per condition the twin fails.
    """
    if "contrast" not in frame.columns:
        return {"pairs": 0}
    twins = frame[frame["contrast"].astype(str).str.strip() != ""]
    appeals = frame[frame["label"] == 1].drop_duplicates("group").set_index("group")
    rows = []
    for _, twin in twins.iterrows():
        if twin["group"] in appeals.index:
            appeal = appeals.loc[twin["group"]]
            rows.append((twin["contrast"], appeal["score"] >= threshold and twin["score"] < threshold))
    out = {"pairs": len(rows), "accuracy": float(np.mean([ok for _, ok in rows])) if rows else float("nan")}
    for kind in sorted({k for k, _ in rows}):
        oks = [ok for k, ok in rows if k == kind]
        out[kind] = {"pairs": len(oks), "accuracy": float(np.mean(oks))}
    return out


def _jsonable(obj):
    """Replace NaN with None and numpy scalars / tuples with JSON types."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and obj != obj:
        return None
    return obj
