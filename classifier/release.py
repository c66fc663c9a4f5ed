"""Build the default model the wheel ships: ``python -m classifier.release``, before ``pip wheel .``.

It trains on the label store (seeded: the same store and seed give the same arrays),
then writes into package data, ``classifier/_shipped/``:

* ``models/CURRENT`` and ``models/default-<version>/``: the model card ``model.json``
  and the scorer's arrays ``scorer.npz``: a read-only, scorer-only registry (no pickle:
  scoring never unpickles, and a pickle would tie the wheel to one scikit-learn
  version), loaded through the registry's checks (:class:`classifier.registry.ShippedRegistry`);
* ``datasets/labelled/`` and ``datasets/heldout/``: the store the model was trained on
  and the held-out set it was measured on, for ``coercion-classifier init --from-shipped``;
* ``SHA256SUMS``: the SHA-256 of every file above.

``scorer.npz`` is written with fixed zip time stamps (and deflated unless
``--no-compress``), so that it is byte for byte the same for the same store and seed;
the card's ``created`` is ``$SOURCE_DATE_EPOCH`` when that is set, as reproducible
builds expect. A source checkout without ``_shipped/`` behaves as before: the first
``score`` trains the default model in the repository's ``models/``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import click
import numpy as np

from .errors import ClassifierError, DataError
from .workspace import SHIPPED, SUMS_FILE

_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest zip time stamp: the same bytes on every build


def write_npz(path, arrays: dict, *, compress: bool = True) -> None:
    """Write arrays as an ``.npz`` that :func:`numpy.load` reads, the same bytes for the same arrays."""
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", compression=method) as archive:
        for name in sorted(arrays):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_EPOCH)
            info.compress_type = method
            with archive.open(info, "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.asarray(arrays[name]), allow_pickle=False)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _copy_flat(files, target: Path, root: Path) -> dict[str, str]:
    """Copy files into ``target`` by name; their SHA-256 by path relative to ``root``."""
    target.mkdir(parents=True, exist_ok=True)
    sums = {}
    for path in map(Path, files):
        if (target / path.name).exists():
            raise DataError(f"two store files are named {path.name}; the shipped store is flat: rename one")
        shutil.copyfile(path, target / path.name)
        sums[(target / path.name).relative_to(root).as_posix()] = _sha256(target / path.name)
    return sums


def build_default_model(
    data=None,
    *,
    heldout=None,
    out=None,
    seed: int = 0,
    compress: bool = True,
    quiet: bool = False,
) -> Path:
    """Train the default model on the store and write it, with the store, as package data.

    Parameters
    ----------
    data : list of path-like, optional
        The label store; default ``datasets/labelled`` of the workspace.
    heldout : list of path-like or False, optional
        The held-out set, measured in the card and shipped beside the store; default
        ``datasets/heldout`` when it exists; False for none.
    out : path-like, optional
        Where to write; default ``classifier/_shipped`` (package data). It is replaced
        as a whole once the new one is complete.
    seed : int, default=0
    compress : bool, default=True
        Deflate ``scorer.npz`` (the wheel deflates its files anyway; this makes the
        installed file smaller too).
    quiet : bool, default=False

    Returns
    -------
    Path
        ``out``.
    """
    from . import __version__, config
    from .labels import store_files
    from .registry import CARD_FILE, CURRENT_FILE, SCORER_FILE, Registry, validate_card
    from .training import train

    out = Path(out) if out is not None else SHIPPED
    data = [Path(p) for p in (data or [config.labelled_dir()])]
    if heldout is None:
        heldout = [config.heldout_dir()] if config.heldout_dir().is_dir() else []
    heldout = [Path(p) for p in heldout or []]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        store, held = store_files(data), store_files(heldout) if heldout else []
        sums = _copy_flat(store, tmp / "datasets" / "labelled", tmp)
        sums |= _copy_flat(held, tmp / "datasets" / "heldout", tmp)
        result = train(data, models_dir=tmp / ".train", heldout=heldout or False, seed=seed, quiet=quiet)
        changed = [p for p in store if _sha256(Path(p)) != sums[f"datasets/labelled/{Path(p).name}"]]
        if changed:
            raise DataError(f"{changed[0]} changed while the model was trained on it; run the release again")
        trained = Registry(tmp / ".train")
        card = trained.card(result.version)
        with np.load(tmp / ".train" / result.version / SCORER_FILE, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        version = f"default-{__version__}"
        folder = tmp / "models" / version
        folder.mkdir(parents=True)
        write_npz(folder / SCORER_FILE, arrays, compress=compress)
        epoch = os.environ.get("SOURCE_DATE_EPOCH")
        created = (
            datetime.fromtimestamp(int(epoch), UTC).isoformat(timespec="seconds")
            if epoch
            else card["created"]
        )
        card = {
            **card,
            "version": version,
            "created": created,
            "model_file": None,  # scorer only: the wheel ships no pickle
            "model_sha256": None,
            "scorer_file": SCORER_FILE,
            "scorer_sha256": _sha256(folder / SCORER_FILE),
            "shipped": {"seed": seed, "built_by": "python -m classifier.release"},
        }
        validate_card(card, folder / CARD_FILE, folder_name=version, action="save", scorer_only=True)
        (folder / CARD_FILE).write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", "utf-8")
        (tmp / "models" / CURRENT_FILE).write_text(version + "\n", "utf-8")
        shutil.rmtree(tmp / ".train")
        for name in (
            f"models/{CURRENT_FILE}",
            f"models/{version}/{CARD_FILE}",
            f"models/{version}/{SCORER_FILE}",
        ):
            sums[name] = _sha256(tmp / name)
        (tmp / SUMS_FILE).write_text("".join(f"{sums[n]}  {n}\n" for n in sorted(sums)), "utf-8")
        old = None
        if out.exists():  # package data of an earlier build: replaced only by a complete new one
            old = out.parent / f".{out.name}.old-{os.getpid()}"
            os.rename(out, old)
        os.rename(tmp, out)
        if old is not None:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


@click.command()
@click.option(
    "--data", multiple=True, type=click.Path(exists=True), help="Label store. Default: datasets/labelled."
)
@click.option(
    "--heldout", multiple=True, type=click.Path(exists=True), help="Held-out set. Default: datasets/heldout."
)
@click.option("--no-heldout", is_flag=True, help="Ship no held-out set (and measure on none).")
@click.option("--out", type=click.Path(file_okay=False), help="Output folder. Default: classifier/_shipped.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--no-compress", is_flag=True, help="Store scorer.npz uncompressed.")
@click.option("--quiet", "-q", is_flag=True)
def main(data, heldout, no_heldout, out, seed, no_compress, quiet):
    """Build the default model the wheel ships, from the label store, into classifier/_shipped.

    Example:

        python -m classifier.release && pip wheel --no-deps -w dist .
    """
    try:
        path = build_default_model(
            list(data) or None,
            heldout=False if no_heldout else (list(heldout) or None),
            out=out,
            seed=seed,
            compress=not no_compress,
            quiet=quiet,
        )
    except ClassifierError as exc:
        raise click.ClickException(str(exc)) from None
    sums = (path / SUMS_FILE).read_text(encoding="utf-8").splitlines()
    size = sum((path / line.split("  ", 1)[1]).stat().st_size for line in sums)
    click.echo(f"default model written to {path}: {len(sums)} files, {size / 1e6:.1f} MB")


if __name__ == "__main__":  # pragma: no cover
    main()
