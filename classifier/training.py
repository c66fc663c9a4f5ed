"""Train a model from the label store, evaluate it, and register it.

``train`` is what ``coercion-classifier train`` runs: load and validate the store,
cross-validate with grouped stratified folds, choose the threshold from the
out-of-fold scores, fit on all rows, score the held-out set if there is one, and
save the pipeline with its model card.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .evaluation import out_of_fold_scores, sliced_metrics
from .labels import data_sha256, load_store, store_files, summarize
from .model import DEFAULT_TARGET_PRECISION, build_pipeline, choose_threshold
from .registry import Registry, library_versions

N_SPLITS = 5


@dataclass
class TrainResult:
    """What :func:`train` produced."""

    version: str
    card: dict
    oof: pd.DataFrame  # the store with an out-of-fold ``score`` column


def _log(message: str, quiet: bool) -> None:
    if not quiet:
        print(message, file=sys.stderr, flush=True)


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
    _locked: bool = False,
) -> TrainResult:
    """Train, evaluate and register a model.

    Parameters
    ----------
    data : list of path-like, optional
        Labelled CSV files or folders; default ``datasets/labelled``.
    models_dir : path-like, optional
        Registry folder; default ``models``.
    heldout : list of path-like or False, optional
        Held-out labelled files scored after training and reported in the card;
        default ``datasets/heldout`` when it exists; False to skip.
    target_precision : float, default=0.95
        The threshold is the one with the highest out-of-fold recall at this precision.
    seed : int, default=0
        Fixes folds and solver: the same data and seed give the same model.
    make_current : bool, default=True
    parent : str, optional
        The version this one is meant to replace; the card records it and the rows
        added since. Default: the current version, if any.
    quiet : bool, default=False
        No progress messages on stderr.

    Returns
    -------
    TrainResult

    Examples
    --------
    >>> result = train(["datasets/labelled"], models_dir="models")  # doctest: +SKIP
    >>> result.card["threshold"]  # doctest: +SKIP
    """
    from . import config

    data = [Path(p) for p in (data or [config.labelled_dir()])]
    files = store_files(data)
    store = load_store(files)
    texts = store["text"].tolist()
    y = store["label"].to_numpy()
    groups = store["group"].to_numpy()
    counts = summarize(store)
    _log(
        f"training on {len(store)} labelled messages ({int(y.sum())} positive) from {len(files)} file(s)",
        quiet,
    )

    pipeline = build_pipeline(seed=seed)
    scores, folds = out_of_fold_scores(pipeline, texts, y, groups, n_splits=N_SPLITS, seed=seed)
    threshold, met = choose_threshold(y, scores, target_precision)
    oof = store.assign(score=scores)
    cv = sliced_metrics(oof, threshold)
    cv["folds"] = len(folds)
    _log(
        f"cross-validation ({len(folds)} grouped folds): precision {cv['overall']['precision']:.3f} "
        f"recall {cv['overall']['recall']:.3f} F1 {cv['overall']['f1']:.3f} at threshold {threshold:.4f}",
        quiet,
    )

    pipeline.fit(texts, y, clf__groups=groups)

    heldout_metrics = None
    if heldout is None:
        heldout = [config.heldout_dir()] if config.heldout_dir().is_dir() else []
    if heldout:
        ho_files = store_files(heldout)
        ho = load_store(ho_files)
        ho = ho.assign(score=pipeline.predict_proba(ho["text"].tolist())[:, 1])
        heldout_metrics = sliced_metrics(ho, threshold)
        heldout_metrics["files"] = [str(f) for f in ho_files]
        heldout_metrics["sha256"] = data_sha256(ho_files)
        m = heldout_metrics["overall"]
        _log(
            f"held-out set ({len(ho)} messages): precision {m['precision']:.3f} "
            f"recall {m['recall']:.3f} F1 {m['f1']:.3f}",
            quiet,
        )

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
        "heldout": _jsonable(heldout_metrics),
    }
    if _locked:  # the caller (retrain) already holds the registry's lock
        version = registry.save(pipeline, card, make_current=make_current)
    else:
        with registry.lock():
            version = registry.save(pipeline, card, make_current=make_current)
    card = registry.card(version)
    _log(f"saved model {version} in {registry.root}" + (" (current)" if make_current else ""), quiet)
    return TrainResult(version=version, card=card, oof=oof)


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
