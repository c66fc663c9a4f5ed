"""The model registry: ``models/<version>/{model.joblib,model.json}`` and ``models/CURRENT``.

* ``model.joblib`` is the fitted pipeline; ``model.json`` is its model card (versions,
  data hash, counts, cross-validated metrics, threshold, and the SHA-256 of
  ``model.joblib``).
* ``CURRENT`` is a one-line text file naming the version in service (a file, not a
  symlink, so it survives copies to shared drives and Windows).
* Saving is atomic: the version is written into a hidden temporary folder, flushed,
  then renamed into place; ``CURRENT`` is replaced with ``os.replace``. A crash at
  any point leaves the previous current model loadable.

Each version also holds ``scorer.npz``: the arrays scoring needs (plain numpy, read
with ``allow_pickle=False``), so ``score`` never unpickles anything.

Loading checks the SHA-256 of ``model.joblib`` and ``scorer.npz`` against the card
*before* using either: a joblib file is a pickle, and unpickling runs code, so a file
that is not the one the card describes is refused.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path

import joblib
import numpy as np

from ._files import default_mode, file_sha256, fsync_dir, write_atomic, write_failure
from .errors import ModelIntegrityError, ModelNotFoundError, RegistryLockedError, VersionMismatchError

MODEL_FILE = "model.joblib"
SCORER_FILE = "scorer.npz"
HISTORY_FILE = "HISTORY"
LOCK_FILE = ".lock"
CARD_FILE = "model.json"
CURRENT_FILE = "CURRENT"


class LoadedModel:
    """A registered model: its card, its scorer, and (loaded on first use) its pipeline.

    Scoring needs only :attr:`scorer`, read from ``scorer.npz`` (plain arrays, no
    code runs). :attr:`pipeline`, the pickled scikit-learn Pipeline, is unpickled only
    when something asks for it (evaluation, explanations, retraining).

    Parameters
    ----------
    version : str
    path : Path
        The version's folder.
    card : dict
    pipeline : fitted Pipeline, optional
        Given directly (e.g. just trained); otherwise read from ``model.joblib``.
    """

    def __init__(self, version, path, card, pipeline=None):
        self.version = version
        self.path = Path(path)
        self.card = card
        self._pipeline = pipeline

    @property
    def threshold(self) -> float:
        """Flag a message when its score is at least this."""
        return float(self.card["threshold"])

    @property
    def pipeline(self):
        """The fitted scikit-learn Pipeline (unpickled on first use, after the version check)."""
        if self._pipeline is None:
            check_versions(self.card)
            verify_files(self.path, self.card)  # again: the file may have changed since load()
            self._pipeline = joblib.load(self.path / self.card.get("model_file", MODEL_FILE))
        return self._pipeline

    @cached_property
    def scorer(self):
        """The compiled scoring path (:class:`classifier.scorer.LinearScorer`)."""
        from .scorer import LinearScorer

        scorer_file = self.card.get("scorer_file")
        if scorer_file and self._pipeline is None:
            return LinearScorer.load(self.path / scorer_file)
        return LinearScorer.from_pipeline(self.pipeline)

    def predict_proba(self, texts) -> np.ndarray:
        """Calibrated probability of the pattern for each text (1-D array)."""
        return self.scorer.predict_proba(list(texts))


class Registry:
    """Versions of the model in one folder.

    Parameters
    ----------
    root : path-like
        The registry folder (``models/`` by default in the CLI).
    """

    def __init__(self, root):
        self.root = Path(root)

    def versions(self) -> list[str]:
        """Saved versions, oldest first (version names sort by creation time)."""
        if not self.root.is_dir():
            return []
        return sorted(
            p.name
            for p in self.root.iterdir()
            if p.is_dir() and not p.name.startswith(".") and (p / CARD_FILE).exists()
        )

    def current_version(self) -> str | None:
        """The version named in ``CURRENT``, or None when there is none."""
        path = self.root / CURRENT_FILE
        if not path.exists():
            return None
        version = path.read_text(encoding="utf-8").strip()
        return version or None

    def set_current(self, version: str, *, action: str = "promote") -> None:
        """Point ``CURRENT`` at an existing version (atomically) and log it in ``HISTORY``."""
        if not (self.root / version / CARD_FILE).exists():
            raise ModelNotFoundError(f"no model version {version!r} in {self.root}")
        previous = self.current_version()
        write_atomic(self.root / CURRENT_FILE, (version + "\n").encode())
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        with open(self.root / HISTORY_FILE, "a", encoding="utf-8") as fh:
            fh.write(f"{stamp}\t{action}\t{version}\t{previous or '-'}\n")

    def history(self) -> list[dict]:
        """Every change of the current version, oldest first."""
        path = self.root / HISTORY_FILE
        if not path.exists():
            return []
        out = []
        for line in path.read_text(encoding="utf-8").splitlines():
            parts = line.split("\t")
            if len(parts) == 4:
                out.append(dict(zip(("time", "action", "version", "previous"), parts, strict=True)))
        return out

    def rollback(self) -> str:
        """Make the version that was current before the present one current again.

        Returns
        -------
        str
            The version now current.
        """
        current = self.current_version()
        for entry in reversed(self.history()):
            if entry["version"] == current and entry["previous"] not in ("-", current):
                self.set_current(entry["previous"], action="rollback")
                return entry["previous"]
        raise ModelNotFoundError(f"no earlier current version to roll back to in {self.root}")

    @contextlib.contextmanager
    def lock(self):
        """Hold the registry's lock: one training, retraining or promotion at a time.

        Raises
        ------
        RegistryLockedError
            Another process holds it.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        fh = open(self.root / LOCK_FILE, "a+")
        try:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.seek(0)
                holder = fh.read().strip() or "another process"
                raise RegistryLockedError(
                    f"{self.root} is locked by {holder} (a train, retrain or promotion is running); "
                    f"wait for it, or delete {self.root / LOCK_FILE} if no such process exists"
                ) from None
            fh.seek(0)
            fh.truncate()
            fh.write(f"pid {os.getpid()}")
            fh.flush()
            yield
        finally:
            fh.close()  # closing releases the lock

    def _new_version(self, created: datetime) -> str:
        base = created.strftime("%Y%m%dT%H%M%SZ")
        version, n = base, 1
        while (self.root / version).exists():
            n += 1
            version = f"{base}-{n}"
        return version

    def save(self, pipeline, card: dict, *, make_current: bool = True) -> str:
        """Save a fitted pipeline and its card as a new version.

        Parameters
        ----------
        pipeline : fitted sklearn Pipeline
        card : dict
            Model card fields; ``version``, ``created`` and ``model_sha256`` are
            filled in here.
        make_current : bool, default=True

        Returns
        -------
        str
            The new version name.
        """
        created = datetime.now(UTC)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            version = self._new_version(created)
            tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{version}-", dir=self.root))
        except OSError as exc:
            raise write_failure(self.root, exc) from None
        try:
            os.chmod(tmp, default_mode(directory=True))  # mkdtemp makes 0700 folders
            model_path = tmp / MODEL_FILE
            with open(model_path, "wb") as fh:
                joblib.dump(pipeline, fh)
                fh.flush()
                os.fsync(fh.fileno())
            from .scorer import LinearScorer

            scorer_path = tmp / SCORER_FILE
            LinearScorer.from_pipeline(pipeline).save(scorer_path)
            card = {
                "version": version,
                "created": created.isoformat(timespec="seconds"),
                "versions": library_versions(),
                "features_version": _features_version(),
                **{k: v for k, v in card.items() if k not in ("version", "created", "features_version")},
                "model_file": MODEL_FILE,
                "model_sha256": file_sha256(model_path),
                "scorer_file": SCORER_FILE,
                "scorer_sha256": file_sha256(scorer_path),
            }
            write_atomic(tmp / CARD_FILE, (json.dumps(card, indent=2, ensure_ascii=False) + "\n").encode())
            fsync_dir(tmp)
            os.rename(tmp, self.root / version)
            fsync_dir(self.root)
        except OSError as exc:  # e.g. the disk filled up: no half-written version stays
            shutil.rmtree(tmp, ignore_errors=True)
            raise write_failure(self.root / version, exc) from None
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        if make_current:
            self.set_current(version, action="train")
        return version

    def card(self, version: str) -> dict:
        """The model card of a version."""
        path = self.root / version / CARD_FILE
        if not path.exists():
            raise ModelNotFoundError(f"no model card at {path}; is {version!r} a version in {self.root}?")
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ModelIntegrityError(
                f"{path} is not valid JSON ({exc}); retrain with 'coercion-classifier train'"
            ) from None

    def load(self, version: str | None = None) -> LoadedModel:
        """Load a version (default: the current one), verifying its checksum first.

        Raises
        ------
        ModelNotFoundError
            No current model, or no such version.
        ModelIntegrityError
            ``model.joblib`` does not match the SHA-256 in its card.
        """
        if version is None:
            version = self.current_version()
            if version is None:
                raise ModelNotFoundError(
                    f"no current model in {self.root}; train one with 'coercion-classifier train'"
                )
        folder = self.root / version
        if not folder.is_dir():
            raise ModelNotFoundError(
                f"model version {version!r} does not exist in {self.root}; "
                "retrain with 'coercion-classifier train'"
            )
        card = self.card(version)
        missing = [f for f in REQUIRED_CARD_FIELDS if f not in card]
        if missing:
            raise ModelIntegrityError(
                f"the model card {folder / CARD_FILE} lacks {', '.join(missing)}; refusing to load it. "
                "Retrain with 'coercion-classifier retrain'"
            )
        verify_files(folder, card)
        built, computed = card.get("features_version", 1), _features_version()
        if built != computed:
            raise VersionMismatchError(
                f"model {version} was built on text features of version {built}, and this "
                f"coercion-classifier computes version {computed} (normalisation changed); its scores "
                "would be wrong. Rebuild it from the label store with 'coercion-classifier retrain'"
            )
        return LoadedModel(version=version, path=folder, card=card)

    def import_model(self, folder, *, trust: bool = False) -> str:
        """Register a model folder from outside the registry (a copy; the original is untouched).

        Parameters
        ----------
        folder : path-like
            A version folder (``model.json``, ``model.joblib``, ``scorer.npz``).
        trust : bool, default=False
            Must be True: importing means you trust whoever trained it, because
            its pickle will run code when the pipeline is loaded.

        Returns
        -------
        str
            The version name in this registry (not made current).
        """
        folder = Path(folder)
        card_path = folder / CARD_FILE
        if not card_path.exists():
            raise ModelNotFoundError(
                f"{folder} has no {CARD_FILE}; only folders written by 'coercion-classifier train' can be imported"
            )
        card = Registry(folder.parent).card(folder.name)
        missing = [f for f in REQUIRED_CARD_FIELDS if f not in card]
        if missing:
            raise ModelIntegrityError(
                f"the model card {card_path} lacks {', '.join(missing)}; refusing to import it"
            )
        verify_files(folder, card)
        if not trust:
            raise ModelIntegrityError(
                f"{folder} is outside the registry; read its card above and, if you trust who trained it, "
                f"run 'coercion-classifier models import {folder} --trust'"
            )
        self.root.mkdir(parents=True, exist_ok=True)
        version = str(card["version"])
        if (self.root / version).exists():
            version = self._new_version(datetime.now(UTC))
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{version}-", dir=self.root))
        try:
            os.chmod(tmp, default_mode(directory=True))
            for name in {CARD_FILE, card["model_file"], card.get("scorer_file")} - {None}:
                shutil.copyfile(folder / name, tmp / name)
            card = {**card, "version": version, "imported_from": str(folder.resolve())}
            write_atomic(tmp / CARD_FILE, (json.dumps(card, indent=2, ensure_ascii=False) + "\n").encode())
            os.rename(tmp, self.root / version)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return version


def library_versions() -> dict:
    """Versions of the interpreter and the libraries that shape a saved model."""
    import platform

    import pandas as pd
    import scipy
    import sklearn

    from . import __version__

    return {
        "python": platform.python_version(),
        "coercion_classifier": __version__,
        "scikit-learn": sklearn.__version__,
        "joblib": joblib.__version__,
        "pandas": pd.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
    }


REQUIRED_CARD_FIELDS = ("version", "threshold", "model_file", "model_sha256", "versions")


def verify_files(folder: Path, card: dict) -> None:
    """Check every artefact of a version against the SHA-256 in its card (nothing is unpickled)."""
    files = [(card.get("model_file", MODEL_FILE), "model_sha256")]
    if card.get("scorer_file"):
        files.append((card["scorer_file"], "scorer_sha256"))
    for name, key in files:
        path = folder / name
        if not path.exists():
            raise ModelNotFoundError(f"{path} is missing; retrain with 'coercion-classifier retrain'")
        if path.stat().st_size == 0:
            raise ModelIntegrityError(
                f"{path} is empty (an interrupted copy?); retrain with 'coercion-classifier retrain'"
            )
        expected, actual = card.get(key), file_sha256(path)
        if expected != actual:
            raise ModelIntegrityError(
                f"{path} does not match its model card (SHA-256 {actual[:12]}... vs {str(expected)[:12]}...): "
                "truncated, corrupted or replaced; refusing to load it. Retrain with 'coercion-classifier retrain'"
            )


def _features_version() -> int:
    from .normalize import FEATURES_VERSION  # imported late: listing models needs no numba

    return FEATURES_VERSION


def check_versions(card: dict) -> None:
    """Refuse to unpickle a pipeline saved by another scikit-learn minor (or joblib / numpy major) version.

    Unpickling across such versions can fail deep inside scikit-learn or, worse,
    load silently with different behaviour.
    """
    import sklearn

    saved = card.get("versions", {})
    running = {"scikit-learn": sklearn.__version__, "joblib": joblib.__version__, "numpy": np.__version__}
    parts = {"scikit-learn": 2, "joblib": 1, "numpy": 1}
    for lib, n in parts.items():
        have, want = running[lib], saved.get(lib)
        if want is None or have.split(".")[:n] != str(want).split(".")[:n]:
            raise VersionMismatchError(
                f"this model was saved with {lib} {want or 'unknown'}, and {have} is installed; refusing to "
                "unpickle it. Rebuild it from the label store with 'coercion-classifier retrain' "
                f"(or install {lib}=={want})"
            )
