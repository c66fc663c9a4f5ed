"""The ``coercion-classifier`` command line: a thin layer over the library.

Each command parses its options, calls one library function, and turns the
project's errors into a one-line ``Error: ...`` and a non-zero exit code.
"""

from __future__ import annotations

import functools
import json
import os
import sys

import click

from . import __version__, config
from .errors import ClassifierError, ModelNotFoundError


def _friendly(func):
    """Turn ClassifierError into a one-line message and its exit code."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except ClassifierError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("Interrupted; no output was written.", err=True)
            sys.exit(130)
        except BrokenPipeError:  # e.g. piped into `head`
            sys.exit(0)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="coercion-classifier")
def cli():
    """Find messages in which a prisoner of war is made to urge relatives to protest.

    Train a classifier from the labelled store in datasets/labelled/, then score
    txt/csv/jsonl files: every input row gets a score, a flag and (on errors) a reason.

    Run commands from the repository root, or set COERCION_CLASSIFIER_HOME.
    """


@cli.command()
@click.option(
    "--data",
    "data",
    multiple=True,
    type=click.Path(exists=True),
    help="Labelled CSV file or folder (repeatable). Default: datasets/labelled.",
)
@click.option("--models-dir", type=click.Path(file_okay=False), help="Model registry. Default: models.")
@click.option(
    "--heldout",
    multiple=True,
    type=click.Path(exists=True),
    help="Held-out labelled file or folder to report on (never trained on). Default: datasets/heldout.",
)
@click.option("--no-heldout", is_flag=True, help="Do not evaluate on a held-out set.")
@click.option(
    "--target-precision",
    type=click.FloatRange(0.0, 1.0, min_open=True),
    default=0.95,
    show_default=True,
    help="Choose the threshold with the highest recall at this out-of-fold precision.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for folds and solver.")
@click.option("--quiet", "-q", is_flag=True, help="No progress messages.")
@_friendly
def train(data, models_dir, heldout, no_heldout, target_precision, seed, quiet):
    """Train a model on the label store, cross-validate it and make it current.

    Prints the cross-validated metrics overall, per language and per category,
    and saves models/<version>/model.joblib with its model card model.json.

    Example:

        coercion-classifier train --target-precision 0.95 --seed 0
    """
    from .evaluation import format_report
    from .training import train as run_train

    result = run_train(
        list(data) or None,
        models_dir=models_dir,
        heldout=False if no_heldout else (list(heldout) or None),
        target_precision=target_precision,
        seed=seed,
        quiet=quiet,
    )
    card = result.card
    click.echo(f"model {card['version']}  threshold {card['threshold']:.4f}")
    if not card["threshold_target_met"]:
        click.echo(f"warning: no threshold reaches precision {target_precision}; using the most precise one")
    click.echo(format_report(_nan(card["cv"]), f"cross-validation, {card['cv']['folds']} grouped folds"))
    if card.get("heldout"):
        click.echo("")
        click.echo(format_report(_nan(card["heldout"]), "held-out set (never trained on)"))


def _nan(obj):
    """JSON null back to NaN for the report formatter."""
    if isinstance(obj, dict):
        return {k: _nan(v) for k, v in obj.items()}
    return float("nan") if obj is None else obj


@cli.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, allow_dash=True), help="Output file (default: stdout)."
)
@click.option(
    "--format",
    "out_format",
    type=click.Choice(["csv", "jsonl", "parquet"]),
    help="Output format. Default: from the -o extension, else csv.",
)
@click.option(
    "--input-format",
    type=click.Choice(["txt", "csv", "tsv", "jsonl", "parquet"]),
    help="Input format, for stdin or files without a telling extension. Default: from the extension.",
)
@click.option("--text-column", default="text", show_default=True, help="Column or field with the message.")
@click.option("--id-column", help="Column or field copied to the output as the message id.")
@click.option("--encoding", help="Input text encoding (e.g. cp1251, koi8-u). Default: detected.")
@click.option(
    "--model", "model_ref", help="Model version in the registry, or a version folder. Default: current."
)
@click.option(
    "--threshold", type=click.FloatRange(0.0, 1.0), help="Flag at this score. Default: the model's."
)
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1),
    default=os.cpu_count() or 1,
    show_default="all cores",
    help="Worker processes.",
)
@click.option("--only-flagged", is_flag=True, help="Write only flagged rows (and rows with errors).")
@click.option(
    "--no-progress", is_flag=True, help="No progress bar (it shows only when stderr is a terminal)."
)
@click.option("--by-file", is_flag=True, help="INPUTS are folders; each .txt file in them is one message.")
@click.option("--models-dir", type=click.Path(file_okay=False), help="Model registry. Default: models.")
@_friendly
def score(
    inputs,
    output,
    out_format,
    input_format,
    text_column,
    id_column,
    encoding,
    model_ref,
    threshold,
    jobs,
    only_flagged,
    no_progress,
    by_file,
    models_dir,
):
    """Score messages in INPUTS: files, globs, folders (--by-file) or - for stdin.

    Inputs: .txt (one message per line), .csv/.tsv (--text-column), .jsonl/.ndjson
    (--text-column field), .parquet; any of them gzip-compressed. Encodings UTF-8,
    UTF-16/32 with BOM, cp1251 and KOI8 are detected (or --encoding).

    Output, one row per input row in input order: source, row, the id column if
    given, lang, score (0..1), flagged (at the model's threshold or --threshold),
    reasons (the fragments that pushed the score up most) and error (why a row could
    not be scored). When no model exists yet, the default one is trained first.

    Example:

        coercion-classifier score "dumps/*.jsonl.gz" --id-column msg_id -o flagged.csv --only-flagged
    """
    from .readers import Input, expand_inputs
    from .scoring import score_files

    for path in expand_inputs(inputs):  # refuse unusable inputs before any work
        Input(
            path,
            fmt=input_format,
            encoding=encoding,
            text_column=text_column,
            id_column=id_column,
            by_file=by_file,
        ).check()
    model = _load_model(model_ref, models_dir)
    summary = score_files(
        inputs,
        output,
        model,
        out_format=out_format,
        in_format=input_format,
        encoding=encoding,
        text_column=text_column,
        id_column=id_column,
        by_file=by_file,
        threshold=threshold,
        jobs=jobs,
        only_flagged=only_flagged,
        progress=not no_progress and sys.stderr.isatty(),
    )
    legacy = sorted({e for e in summary.encodings.values() if e not in ("utf-8", "utf-8-sig")})
    note = f", input encoding {', '.join(legacy)}" if legacy else ""
    click.echo(f"{summary.line()} (model {model.version}{note})", err=True)


def _load_model(model_ref, models_dir):
    """The model to score with: a version, a version folder, or the current one (trained if none)."""
    from pathlib import Path

    from .registry import Registry

    if model_ref and (Path(model_ref) / "model.json").exists():
        folder = Path(model_ref).resolve()
        return Registry(folder.parent).load(folder.name)
    registry = Registry(models_dir or config.models_dir())
    if model_ref:
        return registry.load(model_ref)
    try:
        return registry.load()
    except ModelNotFoundError:
        if registry.current_version() is not None:
            raise
        from .training import train as run_train

        click.echo(
            f"No model in {registry.root} yet: training the default model from {config.labelled_dir()} "
            "(about half a minute, once)...",
            err=True,
        )
        run_train(models_dir=registry.root, quiet=False)
        return registry.load()


@cli.group()
def labels():
    """Inspect and validate the label store."""


@labels.command("check")
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@_friendly
def labels_check(paths, as_json):
    """Validate labelled CSVs (default: datasets/labelled) and print counts.

    Checks the schema, allowed labels, languages and categories, empty and
    duplicate texts, and texts stored with conflicting labels. Exits 1 and lists
    every problem (file:line [column]: message) if there is any.

    Example:

        coercion-classifier labels check datasets/labelled
    """
    from .labels import read_labelled, store_files, summarize, validate

    files = store_files(paths or [config.labelled_dir()])
    df, problems = read_labelled(files)
    if len(df):
        problems += validate(df)
    if problems:
        for p in problems:
            click.echo(str(p), err=True)
        click.echo(f"Error: {len(problems)} problem(s) in {len(files)} file(s); fix the rows above", err=True)
        sys.exit(1)
    counts = summarize(df)
    if as_json:
        click.echo(json.dumps(counts, indent=2, ensure_ascii=False))
        return
    click.echo(f"{counts['rows']} rows in {len(files)} file(s): OK")
    for key, title in (
        ("by_label", "label"),
        ("by_lang", "lang"),
        ("by_label_lang", "label/lang"),
        ("by_category", "category"),
    ):
        click.echo(f"by {title}:")
        for k, v in counts[key].items():
            click.echo(f"  {k:<28}{v:>6}")


def main():  # pragma: no cover - console script entry point
    cli()
