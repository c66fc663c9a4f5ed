"""Default locations of the label store, the held-out set and the model registry.

Paths are relative to the project home: the environment variable
``COERCION_CLASSIFIER_HOME`` if set, else the current directory (the repository
root, where the README's commands run). Every command also takes explicit paths.
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


def heldout_dir() -> Path:
    """The held-out test set, never trained on (``datasets/heldout``)."""
    return home() / "datasets" / "heldout"


def models_dir() -> Path:
    """The model registry (``models``)."""
    return home() / "models"


def real_dir() -> Path:
    """Real public texts, labelled by the guide, for evaluation only (``datasets/real``)."""
    return home() / "datasets" / "real"
