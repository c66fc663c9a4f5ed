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

Trust rules, enforced here rather than in the CLI:

* only versions inside the registry are loaded: a version is a plain name (letters,
  digits, ``.``, ``_``, ``-``), the name of a real folder directly in the registry, put
  there by ``train``, ``retrain`` or ``models import --trust``; ``CURRENT`` and
  ``--model`` name a version, never a path;
* every field of a card is validated before use (types and ranges), and the files it
  names are plain names inside the version's folder;
* registry files (``CURRENT``, ``HISTORY``, ``.lock``, cards, models) and version
  folders are opened without following symbolic links, so a planted link cannot make
  the registry read or write another file;
* scoring reads ``scorer.npz`` only; the pipeline is unpickled only on explicit use,
  and only from bytes that were just read and matched against the card of a
  registered version.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import io
import json
import math
import os
import re
import shutil
import tempfile
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path

import joblib
import numpy as np

from ._files import (
    UnsafeFile,
    default_mode,
    file_sha256,
    fsync_dir,
    open_regular,
    write_atomic,
    write_failure,
)
from .errors import (
    ModelIntegrityError,
    ModelNotFoundError,
    RegistryLockedError,
    UnknownVersionError,
    VersionMismatchError,
)

MODEL_FILE = "model.joblib"
SCORER_FILE = "scorer.npz"
HISTORY_FILE = "HISTORY"
LOCK_FILE = ".lock"
CARD_FILE = "model.json"
CURRENT_FILE = "CURRENT"

MAX_CARD_BYTES = 16 << 20  # a card is tens of kilobytes; refuse to read a huge file as one
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_NOFOLLOW = os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


# The registry's own files: a version so named would take their place.
RESERVED_NAMES = frozenset({"CURRENT", "HISTORY", "README.md"})


def is_plain_name(value) -> bool:
    """Whether ``value`` can name a version or a file of one: no separator, no leading dot.

    The registry's own file names (:data:`RESERVED_NAMES`) are refused too.

    Examples
    --------
    >>> is_plain_name("20261206T224421Z"), is_plain_name("../x"), is_plain_name("HISTORY")
    (True, False, False)
    """
    return isinstance(value, str) and _NAME.fullmatch(value) is not None and value not in RESERVED_NAMES


class _CurrentContentError(ModelIntegrityError):
    """``CURRENT`` holds something other than one version name (what ``promote`` repairs)."""


# --- opening registry files without following links ---------------------------------------


def _link_error(path) -> ModelIntegrityError:
    return ModelIntegrityError(
        f"{path} is a symbolic link; the registry never follows links (one could make it read or write "
        "another file). Delete the link, and put the real file or folder there if it is wanted"
    )


def _open_file(path, flags: int, *, dir_fd=None, display=None) -> int:
    """:func:`classifier._files.open_regular`, with the registry's messages."""
    display = display or path
    try:
        return open_regular(path, flags, dir_fd=dir_fd, display=display)
    except UnsafeFile as exc:
        if exc.kind == "symbolic link":
            raise _link_error(display) from None
        if exc.kind == "hard link":
            raise ModelIntegrityError(
                f"{display} is a hard link to another file ({exc.links} names); refusing to write through "
                "it. Delete it: the registry makes a new one"
            ) from None
        raise ModelIntegrityError(f"{display} is not a regular file; delete or replace it") from None


def _open_dir(path, display=None) -> int:
    """A file descriptor of a folder that is not a symbolic link."""
    try:
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW)
    except OSError as exc:
        if os.path.islink(display or path):
            raise _link_error(display or path) from None
        if exc.errno == errno.ENOTDIR:
            raise FileNotFoundError(errno.ENOENT, "not a folder", str(path)) from None
        raise


def _read(fd: int, limit: int | None = None, display=None) -> bytes:
    with os.fdopen(fd, "rb") as fh:
        data = fh.read() if limit is None else fh.read(limit + 1)
    if limit is not None and len(data) > limit:
        raise ModelIntegrityError(f"{display} is larger than {limit:,} bytes; it is not a registry file")
    return data


def _read_checked(folder: Path, name: str, expected, *, dir_fd=None) -> bytes:
    """The bytes of ``folder/name`` (not followed through a link), refused unless their SHA-256 is ``expected``."""
    import hashlib

    path = folder / name
    try:
        fd = _open_file(name if dir_fd is not None else path, os.O_RDONLY, dir_fd=dir_fd, display=path)
    except FileNotFoundError:
        raise ModelNotFoundError(f"{path} is missing; retrain with 'coercion-classifier retrain'") from None
    data = _read(fd)
    if not data:
        raise ModelIntegrityError(
            f"{path} is empty (an interrupted copy?); retrain with 'coercion-classifier retrain'"
        )
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise ModelIntegrityError(
            f"{path} does not match its model card (SHA-256 {actual[:12]}... vs {str(expected)[:12]}...): "
            "truncated, corrupted or replaced; refusing to load it. Retrain with 'coercion-classifier retrain'"
        )
    return data


def _listing(versions: list[str]) -> str:
    shown = versions[-8:]
    more = f" and {len(versions) - len(shown)} older" if len(versions) > len(shown) else ""
    return ", ".join(shown) + more


class LoadedModel:
    """A registered model: its card, its scorer, and (loaded on first use) its pipeline.

    Scoring needs only :attr:`scorer`, read from ``scorer.npz`` (plain arrays, no
    code runs). :attr:`pipeline`, the pickled scikit-learn Pipeline, is unpickled only
    when something asks for it (evaluation, explanations, retraining), and only for a
    model that :meth:`Registry.load` loaded, from bytes checked against its card.

    Parameters
    ----------
    version : str
    path : Path
        The version's folder.
    card : dict
    pipeline : fitted Pipeline, optional
        Given directly (e.g. just trained); otherwise read from ``model.joblib``.
    registry : Registry, optional
        The registry that loaded and verified this version (set by :meth:`Registry.load`).
    """

    def __init__(self, version, path, card, pipeline=None, *, registry=None):
        self.version = version
        self.path = Path(path)
        self.card = card
        self._pipeline = pipeline
        self._registry = registry

    @property
    def threshold(self) -> float:
        """Flag a message when its score is at least this."""
        return float(self.card["threshold"])

    @property
    def pipeline(self):
        """The fitted scikit-learn Pipeline (unpickled on first use, after the version check)."""
        if self._pipeline is None:
            if self.card.get("model_file") is None:  # a scorer-only card: the shipped model
                raise ModelIntegrityError(
                    f"model {self.version} is the one shipped with coercion-classifier: it holds the scorer "
                    "only (no pickle), which scores, evaluates and explains. To train on your own labels, "
                    "create a workspace with 'coercion-classifier init DIR --from-shipped' and run "
                    "'coercion-classifier train' there"
                )
            if self._registry is None:
                raise ModelIntegrityError(
                    f"model {self.version} at {self.path} was not loaded from a registry; refusing to unpickle "
                    f"its pipeline. Register it with 'coercion-classifier models import {self.path} --trust' "
                    "and load it by its version"
                )
            check_versions(self.card)
            data = self._registry._read_verified(self.version, self.card, "model_file", "model_sha256")
            self._pipeline = joblib.load(io.BytesIO(data))  # the bytes just matched against the card
        return self._pipeline

    @cached_property
    def scorer(self):
        """The compiled scoring path (:class:`classifier.scorer.LinearScorer`), read without unpickling."""
        from .scorer import LinearScorer

        if self._pipeline is not None and self._registry is None:  # built in memory, e.g. just trained
            return LinearScorer.from_pipeline(self._pipeline)
        name = self.card.get("scorer_file")
        if not is_plain_name(name):
            raise ModelIntegrityError(
                f"model {self.version}: its card names no scorer_file (scorer.npz), and scoring never "
                "unpickles the pipeline; retrain with 'coercion-classifier retrain'"
            )
        if self._registry is not None:
            data = self._registry._read_verified(self.version, self.card, "scorer_file", "scorer_sha256")
        else:
            data = _read_checked(self.path, name, self.card.get("scorer_sha256"))
        return LinearScorer.load(io.BytesIO(data), name=self.path / name)

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

    # Whether cards name the scorer only (model_file and model_sha256 null): the shipped model.
    scorer_only = False

    def __init__(self, root):
        self.root = Path(root)

    def _artefacts(self) -> tuple[tuple[str, str], ...]:
        """The card's (file name field, SHA-256 field) pairs this registry checks on load."""
        pairs = (("model_file", "model_sha256"), ("scorer_file", "scorer_sha256"))
        return pairs[1:] if self.scorer_only else pairs

    def is_empty(self) -> bool:
        """No version and no ``CURRENT`` at all: a first run (a broken ``CURRENT`` is not empty)."""
        return self._first_run()

    def versions(self) -> list[str]:
        """Saved versions, oldest first (version names sort by creation time).

        Only real folders with a plain name and a card count; a symbolic link is never a version.
        """
        if not self.root.is_dir():
            return []
        return sorted(
            p.name
            for p in self.root.iterdir()
            if is_plain_name(p.name) and not p.is_symlink() and p.is_dir() and (p / CARD_FILE).is_file()
        )

    def _choose_hint(self) -> str:
        versions = self.versions()
        if versions:
            return f"Choose one with 'coercion-classifier models promote VERSION' (registered: {_listing(versions)})"
        return "No version is registered: delete it and train one with 'coercion-classifier train'"

    def _read_registry_file(self, name: str, limit: int) -> bytes | None:
        path = self.root / name
        try:
            fd = _open_file(path, os.O_RDONLY, display=path)
        except FileNotFoundError:
            return None
        return _read(fd, limit, display=path)

    def current_version(self) -> str | None:
        """The version named in ``CURRENT``, or None when there is no ``CURRENT``.

        Raises
        ------
        ModelIntegrityError
            ``CURRENT`` is a symbolic link, empty, not UTF-8, or holds anything but one version name.
        """
        data = self._read_registry_file(CURRENT_FILE, 4096)
        if data is None:
            return None
        path = self.root / CURRENT_FILE
        try:
            version = data.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise _CurrentContentError(
                f"{path} is not UTF-8 text; it must hold one version name. {self._choose_hint()}"
            ) from None
        if not version:
            raise _CurrentContentError(
                f"{path} is empty; it must name the version in service. {self._choose_hint()}"
            )
        if not is_plain_name(version):
            raise _CurrentContentError(
                f"{path} holds {version[:80]!r}, which is not a version name (a folder in {self.root}, never "
                f"a path). {self._choose_hint()}"
            )
        return version

    def resolve_version(self, ref) -> str:
        """The version a ``--model`` value names: a version name, or ``models/VERSION`` in this registry.

        Raises
        ------
        UnknownVersionError
            ``ref`` is a path outside this registry (a folder from elsewhere must be
            imported with ``models import PATH --trust`` first).
        """
        ref = str(ref)
        if is_plain_name(ref):
            return ref
        path = Path(ref)
        if is_plain_name(path.name) and path.parent.resolve() == self.root.resolve():
            return path.name
        versions = self.versions()
        listing = f"registered versions: {_listing(versions)}" if versions else "no version is registered"
        raise UnknownVersionError(
            f"{ref!r} is not a version of {self.root} ({listing}), and {path} is outside the model registry: "
            f"a model is named by its version, never by a path. Check a folder from elsewhere with "
            f"'coercion-classifier models import PATH', then add --trust to register a copy"
        )

    def _open_version(self, version, *, requested: bool = False) -> tuple[int, Path]:
        """A file descriptor of a version's folder (a real folder, directly in the registry)."""
        error = UnknownVersionError if requested else ModelNotFoundError
        versions = None
        if not is_plain_name(version):
            versions = self.versions()
            raise error(
                f"{str(version)[:120]!r} is not a version name: CURRENT and --model name a folder in "
                f"{self.root} ({'registered: ' + _listing(versions) if versions else 'none is registered'}), "
                "never a path. A model folder from elsewhere must be registered first with "
                "'coercion-classifier models import PATH --trust'"
            )
        folder = self.root / version
        try:
            return _open_dir(folder), folder
        except FileNotFoundError:
            versions = self.versions()
            hint = (
                f"registered versions: {_listing(versions)} (see 'coercion-classifier models list')"
                if versions
                else "none is registered; train one with 'coercion-classifier train'"
            )
            raise error(f"model version {version!r} does not exist in {self.root}; {hint}") from None

    def _read_verified(self, version: str, card: dict, name_field: str, sha_field: str) -> bytes:
        """A file of a version, read (not through a link) and matched against ``card`` now."""
        fd, folder = self._open_version(version)
        try:
            return _read_checked(folder, card[name_field], card[sha_field], dir_fd=fd)
        finally:
            os.close(fd)

    def set_current(self, version: str, *, action: str = "promote") -> None:
        """Point ``CURRENT`` at a registered version (atomically) and log it in ``HISTORY``."""
        fd, folder = self._open_version(version, requested=True)
        try:
            try:
                os.close(_open_file(CARD_FILE, os.O_RDONLY, dir_fd=fd, display=folder / CARD_FILE))
            except FileNotFoundError:
                raise ModelNotFoundError(
                    f"no model version {version!r} in {self.root} (no {CARD_FILE})"
                ) from None
        finally:
            os.close(fd)
        try:
            previous = self.current_version()
        except _CurrentContentError:  # a damaged CURRENT is what promoting repairs
            previous = None
        history = self.root / HISTORY_FILE
        hfd = _open_file(history, os.O_WRONLY | os.O_APPEND | os.O_CREAT, display=history)
        with os.fdopen(hfd, "a", encoding="utf-8") as fh:  # opened first: a refused HISTORY changes nothing
            write_atomic(self.root / CURRENT_FILE, (version + "\n").encode())
            stamp = datetime.now(UTC).isoformat(timespec="seconds")
            try:
                fh.write(f"{stamp}\t{action}\t{version}\t{previous or '-'}\n")
                fh.flush()
            except OSError as exc:
                # a full disk: put CURRENT back, so that HISTORY still tells how it got there
                if previous is not None:
                    write_atomic(self.root / CURRENT_FILE, (previous + "\n").encode())
                raise write_failure(history, exc) from None

    def history(self) -> list[dict]:
        """Every change of the current version, oldest first."""
        data = self._read_registry_file(HISTORY_FILE, 256 << 20)
        if data is None:
            return []
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ModelIntegrityError(
                f"{self.root / HISTORY_FILE} is not UTF-8 text; it was not written by coercion-classifier"
            ) from None
        out = []
        for line in text.splitlines():
            parts = line.split("\t")
            if len(parts) == 4:
                out.append(dict(zip(("time", "action", "version", "previous"), parts, strict=True)))
        return out

    def rollback(self) -> str:
        """Make the version that was current before the present one current again.

        Each rollback goes one further back: the history is replayed as a stack of
        versions put into service, a rollback popping it, so rolling back twice after
        ``a -> b -> c`` gives ``b`` then ``a`` (not ``c`` again).

        Returns
        -------
        str
            The version now current.
        """
        current = self.current_version()
        stack: list[str] = []
        for entry in self.history():
            version = entry["version"]
            if not is_plain_name(version):
                continue
            if entry["action"].startswith("rollback") and version in stack:
                del stack[len(stack) - stack[::-1].index(version) :]
            else:
                stack.append(version)
        if current in stack:  # normally on top; after a hand edit, from its last place
            del stack[len(stack) - stack[::-1].index(current) :]
        registered = set(self.versions())
        for version in reversed(stack[:-1] if current in stack else stack):
            if version != current and version in registered:
                self.set_current(version, action="rollback")
                return version
        raise ModelNotFoundError(f"no earlier current version to roll back to in {self.root}")

    @contextlib.contextmanager
    def lock(self, *, wait: bool = False, on_wait=None):
        """Hold the registry's lock: one training, retraining or promotion at a time.

        Parameters
        ----------
        wait : bool, default=False
            Wait for another holder to finish instead of refusing.
        on_wait : callable, optional
            Called with a description of the holder before waiting.

        Raises
        ------
        RegistryLockedError
            Another process holds it (and ``wait`` is False).
        ModelIntegrityError
            ``.lock`` is a symbolic link, a hard link or not a regular file.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / LOCK_FILE
        fh = os.fdopen(_open_file(path, os.O_RDWR | os.O_CREAT, display=path), "r+b")
        try:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.seek(0)
                holder = fh.read(100).decode("utf-8", "replace").strip() or "another process"
                if not wait:
                    raise RegistryLockedError(
                        f"{self.root} is locked by {holder} (a train, retrain or promotion is running); "
                        f"wait for it, or delete {path} if no such process exists"
                    ) from None
                if on_wait is not None:
                    on_wait(holder)
                fcntl.flock(fh, fcntl.LOCK_EX)
            fh.seek(0)
            fh.truncate()
            fh.write(f"pid {os.getpid()}".encode())
            fh.flush()
            yield
        finally:
            fh.close()  # closing releases the lock

    def load_or_train(self, *, announce=None) -> LoadedModel:
        """The current model; on a first run (no version and no ``CURRENT`` at all) train the default one.

        Training holds the registry's lock from start to end. A second first run that
        starts meanwhile waits for the lock, then loads the model the first one made.
        A registry with versions but no usable ``CURRENT`` is an error, never a reason
        to train.

        Parameters
        ----------
        announce : callable, optional
            Called with one-line messages (training the default model; waiting for the lock).
        """
        if not self._first_run():
            return self.load()
        say = announce or (lambda message: None)
        with self.lock(
            wait=True,
            on_wait=lambda holder: say(
                f"waiting for {holder}, which holds the lock on {self.root} (another first run training the "
                "default model?)..."
            ),
        ):
            if self._first_run():  # still nothing: nobody trained it while we waited
                from . import config
                from .training import train

                say(
                    f"No model in {self.root} yet: training the default model from {config.labelled_dir()} "
                    "(a minute or two, once)..."
                )
                train(models_dir=self.root, quiet=False, _locked=True)
        return self.load()

    def _first_run(self) -> bool:
        return not os.path.lexists(self.root / CURRENT_FILE) and not self.versions()

    def _new_version(self, created: datetime) -> str:
        base = created.strftime("%Y%m%dT%H%M%SZ")
        version, n = base, 1
        while os.path.lexists(self.root / version):
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
            with open(model_path, "xb") as fh:
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
            validate_card(card, self.root / version / CARD_FILE, folder_name=version, action="save")
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
        """The model card of a version (parsed, not validated: see :func:`validate_card`)."""
        fd, folder = self._open_version(version, requested=True)
        try:
            return _card_at(fd, folder, version)
        finally:
            os.close(fd)

    def load(self, version: str | None = None) -> LoadedModel:
        """Load a version (default: the current one), verifying its card and checksums first.

        Raises
        ------
        ModelNotFoundError
            No current model, or no such version (:class:`UnknownVersionError` when
            ``version`` was asked for by name).
        ModelIntegrityError
            A card field is invalid, a file does not match the SHA-256 in its card, or a
            registry file or folder is a symbolic link.
        VersionMismatchError
            The model was built on other text features.
        """
        requested = version is not None
        if version is None:
            version = self.current_version()
            if version is None:
                versions = self.versions()
                if versions:
                    raise ModelNotFoundError(
                        f"no current model in {self.root}: {CURRENT_FILE} is missing. Choose one with "
                        f"'coercion-classifier models promote VERSION' (registered: {_listing(versions)})"
                    )
                raise ModelNotFoundError(
                    f"no current model in {self.root}; train one with 'coercion-classifier train'"
                )
        fd, folder = self._open_version(version, requested=requested)
        try:
            card = _card_at(fd, folder, version)
            validate_card(card, folder / CARD_FILE, folder_name=version, scorer_only=self.scorer_only)
            for name_field, sha_field in self._artefacts():
                _hash_check(folder, card[name_field], card[sha_field], fd)
        finally:
            os.close(fd)
        built, computed = card.get("features_version", 1), _features_version()
        if built > computed:
            raise VersionMismatchError(
                f"model {version} was built by a newer coercion-classifier (text features of version {built}; "
                f"this one computes version {computed}); upgrade coercion-classifier to use it, or choose "
                "another version with 'coercion-classifier models promote VERSION'"
            )
        if built != computed:
            raise VersionMismatchError(
                f"model {version} was built on text features of version {built}, and this "
                f"coercion-classifier computes version {computed} (normalisation changed); its scores "
                "would be wrong. Rebuild it from the label store with 'coercion-classifier retrain'"
            )
        return LoadedModel(version=version, path=folder, card=card, registry=self)

    def import_model(self, folder, *, trust: bool = False) -> str:
        """Register a model folder from outside the registry (a copy; the original is untouched).

        The card is validated and the files are checked against it; what is copied is
        exactly the bytes that were checked, written under the card's plain file names
        inside the new version's folder.

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
        card = read_card(folder)
        validate_card(card, card_path, action="import")
        try:
            fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)  # the folder the user named may be a link
        except OSError as exc:
            raise ModelNotFoundError(f"{folder}: cannot open the folder ({exc.strerror})") from None
        try:
            files = {
                card[name_field]: _read_checked(folder, card[name_field], card[sha_field], dir_fd=fd)
                for name_field, sha_field in (
                    ("model_file", "model_sha256"),
                    ("scorer_file", "scorer_sha256"),
                )
            }
        finally:
            os.close(fd)
        if not trust:
            raise ModelIntegrityError(
                f"{folder} is outside the registry; read its card above and, if you trust who trained it, "
                f"run 'coercion-classifier models import {folder} --trust'"
            )
        self.root.mkdir(parents=True, exist_ok=True)
        version = card["version"]
        if os.path.lexists(self.root / version):
            version = self._new_version(datetime.now(UTC))
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{version}-", dir=self.root))
        try:
            os.chmod(tmp, default_mode(directory=True))
            for name, data in files.items():  # plain names: they stay inside tmp
                with open(tmp / name, "xb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
            card = {**card, "version": version, "imported_from": str(folder.resolve())}
            write_atomic(tmp / CARD_FILE, (json.dumps(card, indent=2, ensure_ascii=False) + "\n").encode())
            fsync_dir(tmp)
            os.rename(tmp, self.root / version)
            fsync_dir(self.root)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return version


class ShippedRegistry(Registry):
    """The registry shipped in the wheel: the default model, read-only and scorer-only.

    It is loaded through the same checks as any registry (no link followed, the card
    validated, the scorer's SHA-256 matched against it before use), but its card names
    no pickle (``model_file`` null), and nothing ever writes to it.
    """

    scorer_only = True

    def _read_only(self, *args, **kwargs):
        raise ModelIntegrityError(
            f"{self.root} is the model shipped with coercion-classifier, which is read-only; create a "
            "workspace with 'coercion-classifier init DIR' for models of your own"
        )

    lock = save = set_current = rollback = import_model = load_or_train = _read_only


def _parse_card(data: bytes, path) -> dict:
    try:
        card = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise ModelIntegrityError(
            f"{path} is not valid JSON ({detail}); retrain with 'coercion-classifier train'"
        ) from None
    if not isinstance(card, dict):
        raise ModelIntegrityError(
            f"{path} is not a JSON object (a model card is {{...}}, this is a {type(card).__name__}); "
            "retrain with 'coercion-classifier train'"
        )
    return card


def _card_at(fd: int, folder: Path, version: str) -> dict:
    path = folder / CARD_FILE
    try:
        cfd = _open_file(CARD_FILE, os.O_RDONLY, dir_fd=fd, display=path)
    except FileNotFoundError:
        raise ModelNotFoundError(
            f"no model card at {path}; is {version!r} a version in {folder.parent}?"
        ) from None
    return _parse_card(_read(cfd, MAX_CARD_BYTES, display=path), path)


def read_card(folder) -> dict:
    """The parsed model card of a version folder anywhere (not validated; nothing else is read).

    Raises
    ------
    ModelNotFoundError
        No ``model.json`` in the folder.
    ModelIntegrityError
        It is a symbolic link, not JSON, or not a JSON object.
    """
    folder = Path(folder)
    path = folder / CARD_FILE
    try:
        fd = _open_file(path, os.O_RDONLY)
    except (FileNotFoundError, NotADirectoryError):
        raise ModelNotFoundError(
            f"{folder} has no {CARD_FILE}; only folders written by 'coercion-classifier train' can be imported"
        ) from None
    return _parse_card(_read(fd, MAX_CARD_BYTES, display=path), path)


def _hash_check(folder: Path, name: str, expected: str, dir_fd: int) -> None:
    """Stream a version's file (not through a link) and compare its SHA-256 with the card's."""
    import hashlib

    path = folder / name
    try:
        fd = _open_file(name, os.O_RDONLY, dir_fd=dir_fd, display=path)
    except FileNotFoundError:
        raise ModelNotFoundError(f"{path} is missing; retrain with 'coercion-classifier retrain'") from None
    digest, size = hashlib.sha256(), 0
    with os.fdopen(fd, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    if size == 0:
        raise ModelIntegrityError(
            f"{path} is empty (an interrupted copy?); retrain with 'coercion-classifier retrain'"
        )
    actual = digest.hexdigest()
    if actual != expected:
        raise ModelIntegrityError(
            f"{path} does not match its model card (SHA-256 {actual[:12]}... vs {str(expected)[:12]}...): "
            "truncated, corrupted or replaced; refusing to load it. Retrain with 'coercion-classifier retrain'"
        )


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


REQUIRED_CARD_FIELDS = (
    "version",
    "threshold",
    "model_file",
    "model_sha256",
    "scorer_file",
    "scorer_sha256",
    "versions",
)
# Optional fields that, when present, hold an object (or null): metrics and provenance.
_OBJECT_FIELDS = (
    "data",
    "data_changes",
    "params",
    "cv",
    "heldout",
    "heldout_writers",
    "heldout_team",
    "real",
)


def _show(value) -> str:
    """A card value as JSON spells it (``true``, ``null``, ``"abc"``), cut short."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def validate_card(
    card, path, *, folder_name: str | None = None, action: str = "load", scorer_only: bool = False
) -> None:
    """Check every field a model card must have, and the type and range of each known one.

    Parameters
    ----------
    card : dict
    path : path-like
        Where the card is (for the message).
    folder_name : str, optional
        The folder the card sits in: its ``version`` must be that name.
    action : {"load", "import", "save"}
        What is refused (for the message).
    scorer_only : bool, default=False
        A card of the shipped model (:class:`ShippedRegistry`): ``model_file`` and
        ``model_sha256`` must be null, since it ships no pickle.

    Raises
    ------
    ModelIntegrityError
        One line naming the first bad field, what it holds and what it must hold.
    """
    fix = (
        "ask whoever trained it for a folder written by 'coercion-classifier train'"
        if action == "import"
        else "retrain with 'coercion-classifier retrain'"
    )
    if not isinstance(card, dict):
        raise ModelIntegrityError(f"{path} is not a JSON object; {fix}")
    missing = [f for f in REQUIRED_CARD_FIELDS if f not in card]
    if missing:
        raise ModelIntegrityError(
            f"the model card {path} lacks {', '.join(missing)}; refusing to {action} it. "
            f"{fix[0].upper()}{fix[1:]}"
        )

    def bad(field, must):
        raise ModelIntegrityError(
            f"the model card {path}: {field} is {_show(card[field])}; it must be {must}. "
            f"Refusing to {action} it: {fix}"
        )

    name_rule = (
        "a plain name (letters, digits, '.', '_', '-'; not starting with '.'; no '/'; "
        "not CURRENT, HISTORY or README.md)"
    )
    if not is_plain_name(card["version"]):
        bad("version", name_rule)
    if folder_name is not None and card["version"] != folder_name:
        bad("version", f"the name of the folder it is in, {folder_name!r}")
    threshold = card["threshold"]
    if not (_is_number(threshold) and math.isfinite(threshold) and 0 < threshold < 1):
        bad("threshold", "a number strictly between 0 and 1")
    files = ("scorer_file",) if scorer_only else ("model_file", "scorer_file")
    for field in files:
        if not is_plain_name(card[field]) or card[field] == CARD_FILE:
            bad(field, f"the {name_rule} of a file in the version's folder, other than {CARD_FILE}")
    if scorer_only:
        for field in ("model_file", "model_sha256"):
            if card[field] is not None:
                bad(field, "null: the shipped model carries no pickle")
    elif card["scorer_file"] == card["model_file"]:
        bad("scorer_file", "another file than model_file")
    for field in ("scorer_sha256",) if scorer_only else ("model_sha256", "scorer_sha256"):
        if not (isinstance(card[field], str) and _SHA256.fullmatch(card[field])):
            bad(field, "a SHA-256: 64 lowercase hexadecimal digits")
    versions = card["versions"]
    if not (isinstance(versions, dict) and all(isinstance(v, str) for v in versions.values())):
        bad("versions", 'an object of library versions, e.g. {"scikit-learn": "1.9.1"}')
    if "features_version" in card:
        built = card["features_version"]
        if not (isinstance(built, int) and not isinstance(built, bool) and built >= 1):
            bad("features_version", "a whole number (written without quotes), 1 or more")
    if card.get("parent") is not None and not is_plain_name(card["parent"]):
        bad("parent", f"null or a version: {name_rule}")
    for field in ("created", "imported_from"):
        if field in card and not isinstance(card[field], str):
            bad(field, "a string")
    if "threshold_target_met" in card and not isinstance(card["threshold_target_met"], bool):
        bad("threshold_target_met", "true or false")
    for field in _OBJECT_FIELDS:
        if card.get(field) is not None and not isinstance(card[field], dict):
            bad(field, "an object or null")
    for field in ("heldout_sha256", "real_sha256"):
        if card.get(field) is not None and not (
            isinstance(card[field], str) and _SHA256.fullmatch(card[field])
        ):
            bad(field, "null or a SHA-256: 64 lowercase hexadecimal digits")


def verify_files(folder: Path, card: dict) -> None:
    """Check every artefact of a version against the SHA-256 in its card (nothing is unpickled, no link followed)."""
    folder = Path(folder)
    fd = _open_dir(folder)
    try:
        for name_field, sha_field in (("model_file", "model_sha256"), ("scorer_file", "scorer_sha256")):
            name = card.get(name_field)
            if not is_plain_name(name):
                raise ModelIntegrityError(
                    f"the model card in {folder}: {name_field} is {_show(name)}, not a file name in the folder"
                )
            _hash_check(folder, name, card.get(sha_field), fd)
    finally:
        os.close(fd)


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
