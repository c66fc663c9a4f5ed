"""The workspace: the folder that holds an analyst's label store and model registry.

A workspace holds ``datasets/labelled/`` (the label store), ``models/`` (the registry)
and, when ``coercion-classifier init`` made it, ``coercion-classifier.toml``. Commands
find it as git finds a repository:

1. ``--home DIR`` (the command line's option, :func:`using`);
2. ``$COERCION_CLASSIFIER_HOME``;
3. the current folder, or the nearest folder above it, that is a workspace: it holds
   ``coercion-classifier.toml``, or a label store (``datasets/labelled/*.csv``: the
   repository root, and folders set up by hand before ``init`` existed).

Without any of them, the home is the current folder, as it was before workspaces were
looked for. :mod:`classifier.config` builds every default path on :func:`home`.

The policy, kept here so that the command line only asks:

* commands that write labels or models (``labels add``, ``train``, ``retrain``,
  ``models promote/rollback/import``) need a workspace (:func:`require`) unless they are
  given the folder to write (``--store``, ``--models-dir``): a label file or a model left
  in whatever folder the command ran in would be seen by nothing else;
* commands that only read (``score``, ``explain``, ``evaluate``, ``suggest``) use the
  workspace's current model if it has one, else the model shipped in the wheel
  (:func:`shipped_registry`), else, in a source checkout where no default model was
  built, they train the default one on a first run as they always did
  (:func:`reading_model`).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from .errors import DataError, NoWorkspaceError, counted

HOME_ENV = "COERCION_CLASSIFIER_HOME"
MARKER = "coercion-classifier.toml"
# What the wheel ships (package data, written by ``python -m classifier.release``): a
# read-only registry ``models/`` holding the default model, the label store and held-out
# set it was trained on (``datasets/``), and ``SHA256SUMS`` of every file.
SHIPPED = Path(__file__).resolve().parent / "_shipped"
SUMS_FILE = "SHA256SUMS"

_override: Path | None = None  # --home, for the duration of one command


@dataclass(frozen=True)
class Home:
    """Where the commands' default paths are, and how it was found.

    ``how`` is ``"--home"``, ``HOME_ENV``, ``"found"`` (walking up from the current
    folder) or ``"none"`` (no workspace: the current folder). ``workspace`` says whether
    the folder is one.
    """

    root: Path
    how: str
    workspace: bool

    def describe(self) -> str:
        """Where, for messages: ``the workspace /x (found above the current folder)``."""
        where = {
            "--home": "given with --home",
            HOME_ENV: f"from {HOME_ENV}",
            "found": "found from the current folder",
            "none": "the current folder",
        }[self.how]
        return f"{self.root.absolute()} ({where})"


def has_store(folder) -> bool:
    """Whether ``folder`` holds a label store: at least one CSV file."""
    folder = Path(folder)
    return folder.is_dir() and any(folder.glob("*.csv"))


def is_workspace(folder) -> bool:
    """Whether ``folder`` is a workspace: it holds ``coercion-classifier.toml`` or a label store."""
    folder = Path(folder)
    return (folder / MARKER).is_file() or has_store(folder / "datasets" / "labelled")


@contextlib.contextmanager
def using(folder):
    """Make ``folder`` the home for the block (the command line's ``--home DIR``)."""
    global _override
    previous, _override = _override, Path(folder)
    try:
        yield
    finally:
        _override = previous


def locate(cwd=None) -> Home:
    """The home: ``--home``, else ``$COERCION_CLASSIFIER_HOME``, else the nearest workspace up from ``cwd``.

    Parameters
    ----------
    cwd : path-like, optional
        Where to start walking up (default: the current folder).
    """
    if _override is not None:
        return Home(_override, "--home", is_workspace(_override))
    if os.environ.get(HOME_ENV):
        given = Path(os.environ[HOME_ENV])
        return Home(given, HOME_ENV, is_workspace(given))
    start = Path(cwd) if cwd is not None else Path.cwd()
    start = start.absolute()
    for folder in (start, *start.parents):
        if is_workspace(folder):
            # the current folder stays ".", so that paths in messages read as they always did
            return Home(Path(".") if cwd is None and folder == start else folder, "found", True)
    return Home(Path(cwd) if cwd is not None else Path("."), "none", False)


def home() -> Path:
    """The folder the default paths (``datasets/``, ``models/``) are relative to."""
    return locate().root


def require(command: str, alternative: str = "") -> Home:
    """The workspace a command that writes labels or models works in; refuse without one.

    Parameters
    ----------
    command : str
        The command, for the message (``"train"``).
    alternative : str, optional
        Another way out, appended to the message (``"or pass --store DIR"``).

    Raises
    ------
    NoWorkspaceError
        One line: where no workspace was found, how to create one and how to point at one.
    """
    found = locate()
    if found.workspace:
        return found
    other = f", {alternative}" if alternative else ""
    if found.how in ("--home", HOME_ENV):
        raise NoWorkspaceError(
            f"{command} writes into a workspace, and {found.describe()} is not one (no {MARKER}, no label "
            f"store in datasets/labelled/); create it with 'coercion-classifier init {found.root}', or point "
            f"--home or {HOME_ENV} at another{other}"
        )
    raise NoWorkspaceError(
        f"{command} writes into a workspace, and there is none in {Path.cwd()} or above it; create one with "
        f"'coercion-classifier init DIR' and run there, or point at one with --home DIR or "
        f"{HOME_ENV}=DIR{other}"
    )


# --- the shipped model and store -------------------------------------------------------------


def shipped_registry():
    """The read-only registry of the model shipped in the wheel, or None (a source checkout without one)."""
    from .registry import CURRENT_FILE, ShippedRegistry

    root = SHIPPED / "models"
    return ShippedRegistry(root) if os.path.lexists(root / CURRENT_FILE) else None


def reading_model(model_ref=None, models_dir=None, *, announce=None, train: bool = True):
    """The model a command that only reads (``score``, ``explain``, ``evaluate``, ``suggest``) uses.

    Parameters
    ----------
    model_ref : str, optional
        ``--model``: a version of the registry (exactly as before; no fallback).
    models_dir : path-like, optional
        ``--models-dir``: that registry (exactly as before; no fallback).
    announce : callable, optional
        Called with one-line messages: which model is used and where it came from, or
        that the default one is being trained (a first run in a source checkout).
    train : bool, default=True
        In a source checkout with no model and no shipped one, train the default model
        (the CLI's first run); otherwise raise :class:`~classifier.errors.ModelNotFoundError`.

    Returns
    -------
    classifier.registry.LoadedModel

    Notes
    -----
    A registry with a version or a ``CURRENT`` is used as it is: a broken ``CURRENT`` is
    an error, never a reason to fall back to the shipped model (which would score with
    another model than the analyst chose).
    """
    from . import config
    from .registry import Registry

    say = announce or (lambda message: None)
    if model_ref or models_dir:
        registry = Registry(models_dir or config.models_dir())
        if model_ref:
            return registry.load(registry.resolve_version(model_ref))
        return registry.load_or_train(announce=say)
    registry = Registry(config.models_dir())
    if not registry.is_empty():
        model = registry.load()
        say(f"using model {model.version} of the workspace {locate().describe()}")
        return model
    shipped = shipped_registry()
    if shipped is not None:
        model = shipped.load()
        say(
            f"using the shipped model {model.version} (no model in {registry.root.absolute()}; "
            "train one in a workspace to use your own labels)"
        )
        return model
    if not train:
        return registry.load()  # no model: a one-line error that says how to train one
    return registry.load_or_train(announce=say)  # a source checkout: train it on a first run


# --- init -------------------------------------------------------------------------------------


@dataclass
class InitResult:
    """What ``init`` made: the workspace's folder and, from the shipped store, how much it holds."""

    root: Path
    store_files: int = 0
    store_rows: int = 0
    heldout_files: int = 0

    def lines(self) -> list[str]:
        out = [f"workspace created in {self.root.absolute()}: {MARKER}, datasets/labelled/, models/"]
        if self.store_files:
            out.append(
                f"datasets/labelled/: {counted(self.store_rows, 'labelled row')} in "
                f"{counted(self.store_files, 'file')} from the shipped store; datasets/heldout/: "
                f"{counted(self.heldout_files, 'file')}"
            )
        out.append(
            "add labels with 'coercion-classifier labels add FILE', then 'coercion-classifier train'; "
            "commands run in this folder or below it use this workspace"
        )
        return out


def _shipped_sums() -> dict[str, str]:
    """``relative path -> SHA-256`` of the shipped files, from ``SHA256SUMS``."""
    path = SHIPPED / SUMS_FILE
    sums = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        digest, _, name = line.partition("  ")
        if digest and name:
            sums[name] = digest
    return sums


def _copy_checked(source: Path, target: Path, expected: str) -> None:
    """Copy a shipped file, refusing it unless its SHA-256 is the one ``SHA256SUMS`` gives."""
    data = source.read_bytes()
    if hashlib.sha256(data).hexdigest() != expected:
        raise DataError(
            f"{source} does not match {SHIPPED / SUMS_FILE} (damaged installation); reinstall "
            "coercion-classifier"
        )
    with open(target, "xb") as fh:  # never over a file that is there
        fh.write(data)


def init(folder=".", *, from_shipped: bool = False) -> InitResult:
    """Create a workspace: ``coercion-classifier.toml``, ``datasets/labelled/``, ``models/``.

    Parameters
    ----------
    folder : path-like, default="."
        Created if missing. Existing files in it are never overwritten.
    from_shipped : bool, default=False
        Start the label store (and the held-out set) from the copy shipped in the wheel,
        each file checked against ``SHA256SUMS``.

    Returns
    -------
    InitResult

    Raises
    ------
    DataError
        The folder is already a workspace, a label store is there and ``from_shipped``
        would mix the shipped one into it, or this installation ships no store.

    Examples
    --------
    >>> init("hotline-ws", from_shipped=True).lines()[0]  # doctest: +SKIP
    'workspace created in /home/olena/hotline-ws: coercion-classifier.toml, datasets/labelled/, models/'
    """
    from . import __version__

    root = Path(folder)
    if root.exists() and not root.is_dir():
        raise DataError(f"{root} is a file; give a folder for the workspace")
    if (root / MARKER).exists():
        raise DataError(f"{root.absolute()} is already a workspace ({MARKER} is there); nothing was changed")
    labelled, heldout = root / "datasets" / "labelled", root / "datasets" / "heldout"
    sums = {}
    if from_shipped:
        if not (SHIPPED / SUMS_FILE).is_file():
            raise DataError(
                "this installation ships no label store (a source checkout: its datasets/ folder is the "
                "store; or build one with 'python -m classifier.release'); run init without --from-shipped"
            )
        for folder_path in (labelled, heldout):
            if folder_path.is_dir() and any(folder_path.iterdir()):
                raise DataError(
                    f"{folder_path} is not empty; --from-shipped never mixes the shipped store into "
                    "another one. Choose an empty folder"
                )
        sums = _shipped_sums()
    result = InitResult(root)
    labelled.mkdir(parents=True, exist_ok=True)
    (root / "models").mkdir(exist_ok=True)
    for name, digest in sorted(sums.items()):
        if not name.startswith(("datasets/labelled/", "datasets/heldout/")):
            continue
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        _copy_checked(SHIPPED / name, target, digest)
        if name.startswith("datasets/labelled/"):
            result.store_files += 1
            with open(target, "rb") as fh:  # rows, not lines: a quoted text may span lines
                result.store_rows += sum(1 for _ in csv.reader(io.TextIOWrapper(fh, "utf-8-sig"))) - 1
        else:
            result.heldout_files += 1
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    marker = (
        "# A coercion-classifier workspace: commands run in this folder or below it use its\n"
        "# datasets/ (label store, held-out set) and models/ (the model registry).\n"
        "[workspace]\n"
        f'created = "{stamp}"\n'
        f'coercion_classifier = "{__version__}"\n'
        f"from_shipped = {'true' if from_shipped else 'false'}\n"
    )
    with open(root / MARKER, "x", encoding="utf-8") as fh:  # the last step: a failed init is no workspace
        fh.write(marker)
    return result
