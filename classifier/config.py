"""Default locations of the label store, the held-out set and the model registry.

Paths are relative to the project home: the environment variable
``COERCION_CLASSIFIER_HOME`` if set, else the current directory (the repository
root, where the README's commands run). Every command also takes explicit paths.

The home is a *workspace* when its ``datasets/labelled/`` already holds the label store
(at least one CSV file). Reading commands simply fail on a missing path; commands that
write the store (``labels add``) refuse to run outside a workspace
(:func:`label_store`) rather than start a new, empty store in whatever folder they
were run from, which the real store and ``train`` would never see.
"""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "COERCION_CLASSIFIER_HOME"


def home() -> Path:
    """The project home: ``$COERCION_CLASSIFIER_HOME`` or the current directory."""
    return Path(os.environ.get(HOME_ENV) or ".")


def labelled_dir() -> Path:
    """Where the canonical labelled CSVs live (``datasets/labelled``)."""
    return home() / "datasets" / "labelled"


def label_store(store=None) -> Path:
    """The label store folder to write new labels into.

    Parameters
    ----------
    store : path-like, optional
        An explicit store folder (``--store``): it must exist; it may be empty, to start
        a new store. Default: :func:`labelled_dir`, which must already hold the store.

    Raises
    ------
    DataError
        The explicit folder does not exist, or the default one is not a store (the
        current folder is not a workspace); the message says how to point at one.
    """
    from .errors import DataError

    if store is not None:
        path = Path(store)
        if not path.is_dir():
            raise DataError(
                f"{path}: no such folder; check the --store path, or create the folder first "
                "to start a new label store there"
            )
        return path
    path = labelled_dir()
    if not path.is_dir() or not any(path.glob("*.csv")):
        where = f"{HOME_ENV}={os.environ[HOME_ENV]}" if os.environ.get(HOME_ENV) else "the current folder"
        raise DataError(
            f"no label store in {path.absolute()} ({where} is not a coercion-classifier workspace); "
            f"run from the project folder that holds datasets/labelled/, set {HOME_ENV}=/path/to/project, "
            "or pass --store DIR"
        )
    return path


def heldout_dir() -> Path:
    """The held-out test set, never trained on (``datasets/heldout``)."""
    return home() / "datasets" / "heldout"


def models_dir() -> Path:
    """The model registry (``models``)."""
    return home() / "models"


def real_dir() -> Path:
    """Real public texts, labelled by the guide, for evaluation only (``datasets/real``)."""
    return home() / "datasets" / "real"
