"""coercion-classifier: find messages in which a captive is made to urge relatives to protest.

Public API (re-exports)::

    from classifier import train, load_model, score_texts, score_file, score_files
"""

__version__ = "0.2.0"

from .registry import LoadedModel, Registry
from .scoring import score_file, score_files, score_texts


def load_model(version=None, models_dir=None) -> LoadedModel:
    """Load a model from the registry: by default the workspace's current one, else the shipped one.

    As the commands that only read do: with neither argument, the current model of the
    workspace (:mod:`classifier.workspace`) if it has one, else the default model shipped
    in the package (the same integrity checks), else an error that says how to train one.

    Parameters
    ----------
    version : str, optional
        A version name from the registry; default: the one in ``models/CURRENT``.
    models_dir : path-like, optional
        The registry folder; default ``models`` in the workspace.

    Returns
    -------
    LoadedModel
        With ``predict_proba(texts)``, ``threshold``, ``card`` and ``version``.
    """
    from . import config

    if version is None and models_dir is None:
        from .workspace import reading_model

        return reading_model(train=False)
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
