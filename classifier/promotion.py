"""``retrain``: train a candidate on the whole store and promote it only if it is not worse.

The candidate and the current model are compared two ways:

* **the held-back split** (``datasets/heldout``, never trained on): both fitted models
  score it, each at its own threshold. This is the fair comparison of the two models
  as they would serve, and the promotion gate uses it.
* **the same cross-writer folds** of today's store (each writer who wrote both labels
  held out whole): the current model's configuration and the candidate's are both
  cross-validated on them. When the
  configuration has not changed the two are the same numbers (training is
  deterministic) and say so; the gate also requires the candidate's configuration not
  to be worse there.

The candidate is promoted when, on both, its F1 and precision are no more than
``tolerance`` (default 0.01) below the current model's. Otherwise it stays registered
but not current, and the reason is printed. ``force`` promotes anyway.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import VersionMismatchError
from .evaluation import binary_metrics, sliced_metrics
from .labels import load_store, store_files
from .model import build_pipeline
from .registry import Registry

DEFAULT_TOLERANCE = 0.01
_PARAMS = ("C", "n_features", "char_ngram_range", "word_ngram_range")


@dataclass
class RetrainResult:
    candidate: str
    current: str | None
    promoted: bool
    reasons: list = field(default_factory=list)
    comparison: dict = field(default_factory=dict)  # {"heldout"|"cv": {"candidate": m, "current": m}}


def _config(card: dict) -> dict:
    params = card.get("params", {})
    out = {
        "C": params.get("clf__C"),
        "combine": params.get("clf__combine"),
        "n_features": params.get("features__n_features"),
        "char_ngram_range": tuple(params.get("features__char_ngram_range") or ()),
        "word_ngram_range": tuple(params.get("features__word_ngram_range") or ()),
    }
    return {k: v for k, v in out.items() if v not in (None, ())}


def _gate(name: str, cand: dict, cur: dict, tolerance: float) -> list[str]:
    reasons = []
    for metric in ("f1", "precision"):
        a, b = cand[metric], cur[metric]
        if a == a and b == b and a < b - tolerance:
            reasons.append(
                f"{name} {metric} {a:.3f} is below the current model's {b:.3f} by more than {tolerance}"
            )
    return reasons


def retrain(
    data=None,
    *,
    models_dir=None,
    heldout=None,
    tolerance: float = DEFAULT_TOLERANCE,
    force: bool = False,
    seed: int = 0,
    quiet: bool = False,
) -> RetrainResult:
    """Train a candidate, compare it with the current model, promote it if not worse.

    Parameters
    ----------
    data : list of path-like, optional
        The label store; default ``datasets/labelled``.
    models_dir : path-like, optional
    heldout : list of path-like, optional
        The held-back split; default ``datasets/heldout``.
    tolerance : float, default=0.01
        How much lower F1 and precision may be before the candidate is refused.
    force : bool, default=False
        Promote whatever the comparison says.
    seed : int, default=0
    quiet : bool, default=False

    Returns
    -------
    RetrainResult
    """
    from . import config, workspace
    from .training import fit_cross_writer, train

    if models_dir is None:  # the workspace's registry: refuse before any work without one
        workspace.require("retrain", "or pass --models-dir DIR")
    registry = Registry(models_dir or config.models_dir())
    heldout = heldout or ([config.heldout_dir()] if config.heldout_dir().is_dir() else [])
    with registry.lock():
        current_version = registry.current_version()
        result = train(
            data,
            models_dir=registry.root,
            heldout=heldout or False,
            seed=seed,
            make_current=False,
            parent=current_version,
            quiet=quiet,
            _locked=True,
        )
        out = RetrainResult(candidate=result.version, current=current_version, promoted=False)
        if current_version is None:
            registry.set_current(result.version, action="retrain (first model)")
            out.promoted = True
            out.reasons.append("there was no current model")
            return out
        try:
            current = registry.load(current_version)
        except VersionMismatchError as exc:  # built for another version of the tool: unusable here
            registry.set_current(result.version, action="retrain (current model unusable)")
            out.promoted = True
            out.reasons.append(f"the current model cannot be used: {exc}")
            return out
        candidate = registry.load(result.version)

        if heldout:
            ho = load_store(store_files(heldout))
            texts = ho["text"].tolist()
            out.comparison["heldout"] = {
                name: sliced_metrics(ho.assign(score=model.predict_proba(texts)), model.threshold)
                for name, model in (("candidate", candidate), ("current", current))
            }
        cand_cv = candidate.card["cv"]
        cur_config, cand_config = _config(current.card), _config(candidate.card)
        if cur_config == cand_config:
            cur_cv, same = cand_cv, True
        else:
            store = load_store(store_files(data or [config.labelled_dir()]))
            _, oof, threshold, _, _ = fit_cross_writer(
                build_pipeline(seed=seed, **cur_config), store, candidate.card["params"]["target_precision"]
            )
            tested = oof[oof["tested"]]
            cur_cv = {"overall": binary_metrics(tested["label"], tested["score"], threshold)}
            same = False
        out.comparison["cv"] = {"candidate": cand_cv, "current": cur_cv, "same_configuration": same}

        if "heldout" in out.comparison:
            h = out.comparison["heldout"]
            out.reasons += _gate("held-out", h["candidate"]["overall"], h["current"]["overall"], tolerance)
        out.reasons += _gate("cross-validation", _nan(cand_cv["overall"]), _nan(cur_cv["overall"]), tolerance)
        if not out.reasons or force:
            registry.set_current(result.version, action="retrain --force" if out.reasons else "retrain")
            out.promoted = True
        return out


def _nan(metrics: dict) -> dict:
    return {k: (np.nan if v is None else v) for k, v in metrics.items()}
