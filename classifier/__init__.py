"""coercion-classifier: find messages in which a captive is made to urge relatives to protest.

Public API (re-exports)::

    from classifier import train, load_model, score_texts, score_file, score_files
"""

__version__ = "0.2.0"

from .registry import LoadedModel, Registry
from .scoring import score_file, score_files, score_texts


def load_model(version=None, models_dir=None) -> LoadedModel:
    """Load a model from the registry (default: the current one in ``models/``).

    Parameters
    ----------
    version : str, optional
        A version name from ``models/``; default: the one in ``models/CURRENT``.
    models_dir : path-like, optional
        The registry folder; default ``models`` under the project home.

    Returns
    -------
    LoadedModel
        With ``predict_proba(texts)``, ``threshold``, ``card`` and ``version``.
    """
    from . import config

    return Registry(models_dir or config.models_dir()).load(version)


def train(*args, **kwargs):
    """Train, evaluate and register a model: see :func:`classifier.training.train`."""
    from .training import train as _train

    return _train(*args, **kwargs)


__all__ = [
    "LoadedModel",
    "Registry",
    "__version__",
    "load_model",
    "score_file",
    "score_files",
    "score_texts",
    "train",
]
