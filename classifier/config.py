"""Default locations of the label store, the held-out set and the model registry.

Paths are relative to the project home (:func:`classifier.workspace.home`): ``--home``,
else the environment variable ``COERCION_CLASSIFIER_HOME``, else the nearest workspace
at or above the current directory (the repository root is one), else the current
directory. Every command also takes explicit paths.

The home is a *workspace* when it holds ``coercion-classifier.toml`` (made by
``coercion-classifier init``) or its ``datasets/labelled/`` already holds the label
store (at least one CSV file). Reading commands simply fail on a missing path; commands
that write the store (``labels add``) refuse to run outside a workspace
(:func:`label_store`) rather than start a new, empty store in whatever folder they
were run from, which the real store and ``train`` would never see.
"""

from __future__ import annotations

from pathlib import Path

from . import workspace
from .workspace import HOME_ENV

__all__ = ["HOME_ENV", "heldout_dir", "home", "label_store", "labelled_dir", "models_dir", "real_dir"]


def home() -> Path:
    """The project home: ``--home``, ``$COERCION_CLASSIFIER_HOME``, the nearest workspace up, or ``.``."""
    return workspace.home()


def labelled_dir() -> Path:
    """Where the canonical labelled CSVs live (``datasets/labelled``)."""
    return home() / "datasets" / "labelled"


def label_store(store=None) -> Path:
    """The label store folder to write new labels into.

    Parameters
    ----------
    store : path-like, optional
        An explicit store folder (``--store``): it must exist; it may be empty, to start
        a new store. Default: ``datasets/labelled`` of the workspace
        (:func:`classifier.workspace.require`).

    Raises
    ------
    DataError
        The explicit folder does not exist, or there is no workspace
        (:class:`~classifier.errors.NoWorkspaceError`); the message says how to create
        or point at one.
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
    found = workspace.require("labels add", "or pass --store DIR")
    path = found.root / "datasets" / "labelled"
    path.mkdir(parents=True, exist_ok=True)  # a workspace made by init whose store folder was removed
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
