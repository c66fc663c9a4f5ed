"""``labels audit``: rows whose label the model strongly disagrees with, most suspicious first.

The confident-learning idea: a model that never saw a row (out-of-fold, grouped folds)
gives it a probability; a label 1 row with a very low probability, or a label 0 row
with a very high one, is more often a labelling error than a model error. Suspicion is
the probability of the *other* label; rows above ``min_suspicion`` are listed for
review. Nothing is changed in the store.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .evaluation import out_of_fold_scores
from .labels import load_store, store_files
from .model import build_pipeline


def audit_labels(data=None, *, min_suspicion: float = 0.5, seed: int = 0) -> pd.DataFrame:
    """Probable label errors in the store.

    Parameters
    ----------
    data : list of path-like, optional
        The store; default ``datasets/labelled``.
    min_suspicion : float, default=0.5
        List rows whose out-of-fold probability of the other label is at least this.
    seed : int, default=0

    Returns
    -------
    pandas.DataFrame
        ``suspicion, label, oof_score, category, lang, file, line, text``, most
        suspicious first.
    """
    from . import config

    store = load_store(store_files(data or [config.labelled_dir()]))
    y = store["label"].to_numpy()
    # every row scored by a model that did not see its group: label errors hide in the
    # one-label batches too, which cross-writer folds never test
    scores = out_of_fold_scores(build_pipeline(seed=seed), store, grouping="group")
    suspicion = np.where(y == 1, 1.0 - scores, scores)
    out = store.assign(oof_score=scores.round(6), suspicion=suspicion.round(6))
    out = out[out["suspicion"] >= min_suspicion].sort_values("suspicion", ascending=False, kind="stable")
    return out[["suspicion", "label", "oof_score", "category", "lang", "file", "line", "text"]].reset_index(
        drop=True
    )
