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
from .errors import EXIT_TOO_MANY_ERRORS, ClassifierError, counted


def _friendly(func):
    """Turn ClassifierError into a one-line message and its exit code."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except ClassifierError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt as exc:  # classifier.errors.Interrupted says what was written
            click.echo(getattr(exc, "message", None) or "Interrupted; no output was written.", err=True)
            sys.exit(130)
        except BrokenPipeError:  # e.g. piped into `head`
            sys.exit(0)

    return wrapper


def _read_options(func):
    """The options that say how inputs are read, shared by score and suggest."""
    options = [
        click.option(
            "--input-format",
            type=click.Choice(
                ["txt", "csv", "tsv", "jsonl", "parquet", "xlsx", "telegram", "whatsapp", "chatlog"]
            ),
            help="Input format, for stdin or files without a telling extension. Default: from the extension "
            "(.json: a Telegram export; a .txt whose first lines are WhatsApp or '[date] name: text' lines: that export).",
        ),
        click.option(
            "--text-column",
            "text_columns",
            multiple=True,
            metavar="[PATH=]COLUMN",
            help="Column (name, any case, or 1-based number) or JSON field (outer.inner) with the message; "
            "PATH=COLUMN for one input (repeatable). Default: text (or Текст).",
        ),
        click.option(
            "--id-column", help="Column (name or number) or field copied to the output as the message id."
        ),
        click.option("--encoding", help="Input text encoding (e.g. cp1251, koi8-u). Default: detected."),
        click.option(
            "--delimiter",
            help="CSV delimiter: , ; | or tab. Default: sniffed from the first records (.tsv: tab).",
        ),
        click.option("--sheet", metavar="NAME", help="The sheet of .xlsx inputs. Default: the first."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="coercion-classifier")
@click.option(
    "--home",
    type=click.Path(exists=True, file_okay=False),
    help="The workspace (datasets/, models/). Default: $COERCION_CLASSIFIER_HOME, else the nearest "
    "folder at or above this one with coercion-classifier.toml or datasets/labelled/.",
)
@click.pass_context
def cli(ctx, home):
    """Find messages in which a prisoner of war is made to urge relatives to protest.

    Score txt/csv/jsonl files with the shipped model, or with a model trained on your
    own labels in a workspace (coercion-classifier init): every input row gets a
    score, a flag and (on errors) a reason.

    Commands use the workspace they are run in (or below), COERCION_CLASSIFIER_HOME, or
    --home; the repository root is one.
    """
    if home:
        from .workspace import using

        ctx.with_resource(using(home))


@cli.command()
@click.argument("folder", default=".", type=click.Path(file_okay=False))
@click.option(
    "--from-shipped",
    is_flag=True,
    help="Start the label store and held-out set from the copy shipped with coercion-classifier.",
)
@_friendly
def init(folder, from_shipped):
    """Create a workspace in FOLDER (default: here) for labels and models of your own.

    Makes coercion-classifier.toml (which marks the workspace), datasets/labelled/ and
    models/. Commands run in FOLDER or below it then add labels, train and score there;
    until a model is trained, scoring uses the shipped model. Nothing there is
    overwritten.

    Example:

        coercion-classifier init hotline-ws --from-shipped
    """
    from .workspace import init as create

    for line in create(folder, from_shipped=from_shipped).lines():
        click.echo(line)


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

    Prints the cross-writer validation figures first (every writer who wrote both
    labels held out whole: the headline), per language, per writer and per
    category, then the held-out writers, the team's held-out set (optimistic) and
    the real texts, and saves models/<version>/ with its model card model.json.

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
    click.echo(format_report(_nan(card["cv"]), cv_title(card["cv"])))
    for key, title in EVALUATION_SETS:
        if card.get(key):
            click.echo("")
            click.echo(format_report(_nan(card[key]), title))


# The evaluation sets a model card reports, in the order they are shown.
EVALUATION_SETS = (
    ("heldout_writers", "held-out writers (never trained on, none of their rows in the store)"),
    ("heldout_team", "team's held-out set (OPTIMISTIC: written like the training rows)"),
    ("real", "real public texts (datasets/real; small, never trained on)"),
)


def cv_title(cv: dict) -> str:
    """The headline's title: cross-writer, or marked optimistic when folds were by row group."""
    if cv.get("grouping") == "writer":
        return (
            f"cross-writer validation: {cv['folds']} folds over {cv['writers_tested']} writers who wrote "
            "both labels, each held out whole"
        )
    return f"cross-validation, {cv.get('folds')} folds by row group (OPTIMISTIC: the model saw every writer)"


def _nan(obj):
    """JSON null back to NaN for the report formatter."""
    if isinstance(obj, dict):
        return {k: _nan(v) for k, v in obj.items()}
    return float("nan") if obj is None else obj


@cli.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option(
    "-o",
    "--output",
    type=click.Path(allow_dash=True),
    help="Output file (default: stdout); with --engine dask, an output folder.",
)
@click.option(
    "--format",
    "out_format",
    type=click.Choice(["csv", "tsv", "jsonl", "parquet", "xlsx"]),
    help="Output format. Default: from the -o extension (.csv, .tsv, .jsonl, .parquet, .xlsx); csv on stdout.",
)
@click.option(
    "--excel", is_flag=True, help="CSV for Excel: UTF-8 with a BOM, so that Cyrillic opens correctly."
)
@_read_options
@click.option(
    "--model", "model_ref", help="Model version in the registry (or models/VERSION). Default: current."
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
    "--keep",
    metavar="COLUMNS",
    help="Input columns to copy to the output (comma-separated names or numbers, or all), after ours; "
    "one named like ours gets an input_ prefix.",
)
@click.option(
    "--include-text/--no-include-text",
    default=None,
    help="Add the message as a text column. Default: with --only-flagged (not with --engine dask).",
)
@click.option(
    "--no-progress", is_flag=True, help="No progress bar (it shows only when stderr is a terminal)."
)
@click.option("--by-file", is_flag=True, help="INPUTS are folders; each .txt file in them is one message.")
@click.option("--models-dir", type=click.Path(file_okay=False), help="Model registry. Default: models.")
@click.option(
    "--engine",
    type=click.Choice(["local", "dask"]),
    default="local",
    show_default=True,
    help="dask: score on a Dask cluster into the folder -o (part files + _summary.json); pip install '.[dask]'.",
)
@click.option(
    "--scheduler",
    metavar="tcp://HOST:PORT",
    help="With --engine dask: a running Dask scheduler. Default: a local cluster of --jobs workers.",
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="With --engine dask: replace the -o folder once the new one is complete.",
)
@click.option(
    "--report",
    "report_dir",
    type=click.Path(file_okay=False),
    help="Also write DIR/report.html: score distribution, flagged per input and language, top flagged.",
)
@click.option(
    "--max-errors",
    type=click.IntRange(min=0),
    metavar="N",
    help=f"Exit with code {EXIT_TOO_MANY_ERRORS} when more than N rows are errors (the output is still "
    "written, error rows included). Default: only when every row is an error.",
)
@click.option(
    "--campaigns",
    "campaigns_file",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Also write one row per campaign (near-duplicate flagged and near-miss messages) to FILE "
    "(.csv, .tsv, .jsonl or .xlsx).",
)
@click.option(
    "--date-column",
    metavar="NAME",
    help="The input column with each message's date, for the campaigns' first and last seen (copied to "
    "the output as --keep would). Default: a chat export's date.",
)
@click.option(
    "--no-campaigns",
    is_flag=True,
    help="No campaign column: do not group near-duplicate messages (the output of earlier versions).",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no summary line (errors still show).")
@click.option(
    "--redact",
    is_flag=True,
    help="Mask phones, e-mails, card numbers and @handles in the text and reasons written (and --report).",
)
@click.option(
    "--summary-json",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Also write the run's counts (rows read, scored, flagged, errors, per input), model and seconds as JSON.",
)
@_friendly
def score(
    inputs,
    output,
    out_format,
    excel,
    input_format,
    text_columns,
    id_column,
    encoding,
    delimiter,
    sheet,
    model_ref,
    threshold,
    jobs,
    only_flagged,
    keep,
    include_text,
    no_progress,
    by_file,
    models_dir,
    engine,
    scheduler,
    overwrite,
    report_dir,
    max_errors,
    campaigns_file,
    date_column,
    no_campaigns,
    quiet,
    summary_json,
    redact,
):
    """Score messages in INPUTS: files, globs, folders (--by-file) or - for stdin.

    Inputs: .txt (one message per line), .csv/.tsv (--text-column; the delimiter , ; |
    or tab is sniffed), .xlsx (--sheet), .jsonl/.ndjson (--text-column field, nested as
    outer.inner), .parquet; all but .xlsx also gzip-compressed. Chat exports: a
    Telegram result.json, a WhatsApp .txt or a "[date] name: text" log (their date and
    sender are metadata, never scored). Encodings UTF-8,
    UTF-16/32 with BOM, cp1251 and KOI8 are detected (or --encoding).

    Output, one row per input row in input order: source, row, the id column if
    given, lang, score (0..1), flagged (at the model's threshold or --threshold),
    reasons (the fragments that pushed the score up most) and error (why a row could
    not be scored). When no model exists yet, the default one is trained first.
    Output formats: .csv, .tsv, .jsonl, .parquet, .xlsx (typed cells, frozen header);
    any other extension is refused. CSV cells that a spreadsheet would run as a formula
    (=, +, -, @...) get a ' in front; --excel adds a BOM for Excel.

    Flagged messages and near misses get a campaign id (column campaign): copies and
    light edits of one script share it; --campaigns FILE lists the campaigns.

    The output is never one of the inputs. Exit code 3: every row was an error (or more
    than --max-errors were); the output is written all the same.

    Example:

        coercion-classifier score "dumps/*.jsonl.gz" --id-column msg_id -o flagged.csv --only-flagged
    """
    from .campaigns import CampaignGrouper, check_campaigns_path, write_campaigns
    from .distributed import check_request
    from .errors import InputError
    from .readers import Input, expand_inputs, parse_column_option, parse_keep
    from .scoring import check_summary_path, output_columns, score_files, write_summary
    from .writers import check_excel, output_format

    text_column, per_input = parse_column_option(text_columns, expand_inputs(inputs))
    keep = parse_keep(keep)
    if no_campaigns:
        for given, name in ((campaigns_file, "--campaigns"), (date_column, "--date-column")):
            if given:
                raise InputError(f"{name} needs the campaigns that --no-campaigns turns off; leave one out")
    if date_column is not None:
        if not date_column.strip():
            raise InputError("--date-column needs a column name")
        if engine == "dask":
            raise InputError("--date-column is not supported with --engine dask; use --engine local")
        if keep != "all" and date_column.casefold() not in {k.casefold() for k in keep or ()}:
            keep = [*(keep or []), date_column]  # its values reach the grouper as kept meta
    check_campaigns_path(campaigns_file, expand_inputs(inputs), output)
    if engine == "dask":  # its parts are what every engine writes; --quiet and --summary-json work there too
        for given, name in ((out_format in ("tsv", "xlsx"), f"--format {out_format}"), (excel, "--excel")):
            if given:
                raise InputError(
                    f"{name} is not supported with --engine dask (its parts are parquet, csv or jsonl); "
                    "score with the local engine"
                )
        given = {"--keep": keep, "--include-text": include_text, "--delimiter": delimiter, "--sheet": sheet,
                 "--text-column PATH=COLUMN": per_input, "--redact": redact}  # fmt: skip
        for option, value in given.items():
            if value:
                raise InputError(
                    f"{option} is not supported with --engine dask; leave it out, or use --engine local"
                )
    if include_text is None:  # a list of flagged rows is read for their texts (not by the dask engine)
        include_text = only_flagged and engine == "local"
    output_columns(id_column, include_text, not no_campaigns)  # refuses an id column named text or campaign
    check_request(
        engine,
        inputs,
        output,
        scheduler=scheduler,
        overwrite=overwrite,
        out_format=out_format,
        id_column=id_column,
    )
    if engine != "dask":
        fmt = output_format(output, out_format)  # an extension that says no format is refused here
        if excel:
            check_excel(fmt)
    else:
        fmt = out_format or "parquet"
    check_summary_path(summary_json, inputs, output)
    for path in expand_inputs(inputs):  # refuse unusable inputs before any work
        Input(
            path,
            fmt=input_format,
            encoding=encoding,
            text_column=per_input.get(path, text_column),
            id_column=id_column,
            by_file=by_file,
            delimiter=delimiter,
            sheet=sheet,
            keep=keep,
        ).check()
    if report_dir:
        from .batch_report import BatchReport
        from .report_page import require_matplotlib

        require_matplotlib()  # before a model is loaded, or trained
    model = _load_model(model_ref, models_dir, quiet=quiet)
    flag_at = model.threshold if threshold is None else threshold
    collector = (
        BatchReport(threshold=flag_at, model_version=model.version, redact=redact) if report_dir else None
    )
    grouper = None if no_campaigns else CampaignGrouper(date_key=date_column or "date")
    run, extra = score_files, {"excel": excel}
    if engine == "dask":  # the same options; the output is a folder of parts
        from .distributed import score_distributed as run

        extra = dict(scheduler=scheduler, overwrite=overwrite)
    summary = run(
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
        progress=not (no_progress or quiet) and sys.stderr.isatty(),
        checked=True,  # checked above, before the model was loaded or trained
        collector=collector,
        max_errors=max_errors,
        campaigns=grouper,
        **extra,
        **(
            dict(
                text_columns=per_input,
                delimiter=delimiter,
                sheet=sheet,
                keep=keep,
                include_text=include_text,
                redact=redact,
            )
            if engine == "local"
            else {}
        ),
    )
    legacy = sorted({e for e in summary.encodings.values() if e not in ("utf-8", "utf-8-sig")})
    note = f", input encoding {', '.join(legacy)}" if legacy else ""
    result = grouper.result if grouper is not None else None
    if redact and result is not None:  # the campaigns file and the report show a member's text
        result.redact()
    if not quiet and result is not None and result.ids:  # before the summary line, which stays last
        click.echo(
            f"{counted(len(result.ids), 'flagged or near-miss message')} in {counted(len(result.table), 'campaign')}",
            err=True,
        )
    if not quiet:
        click.echo(f"{summary.line()} (model {model.version}{note})", err=True)
    if campaigns_file:
        write_campaigns(result, campaigns_file)
        if not quiet:
            click.echo(f"campaigns: {campaigns_file}", err=True)
    if collector is not None:
        page = collector.write(report_dir, seconds=summary.seconds, campaigns=result)
        if not quiet:
            click.echo(f"report: {page}", err=True)
    if summary_json:
        write_summary(
            summary, summary_json, model_version=model.version, threshold=flag_at, output=output, fmt=fmt
        )
    if summary.too_many_errors:  # the summary line says so; the output is kept for its error rows
        sys.exit(EXIT_TOO_MANY_ERRORS)


@cli.command()
@click.option(
    "--model", "model_ref", help="Model version in the registry (or models/VERSION). Default: current."
)
@click.option("--models-dir", type=click.Path(file_okay=False), help="Model registry. Default: models.")
@click.option(
    "--data",
    "data",
    multiple=True,
    help="Labelled file (.csv, .tsv, .xlsx, .jsonl) or folder of CSVs (text,label[,lang,category,...]; repeatable). Default: datasets/heldout.",
)
@click.option(
    "--report", "report_dir", type=click.Path(file_okay=False), help="Write DIR/report.html with PNG plots."
)
@click.option(
    "--errors",
    "errors_file",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Write the false positives and false negatives (text, label, score, category, writer, source) "
    "to FILE (.csv, .tsv, .xlsx or .jsonl) for review.",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing --errors file (it may hold your notes).")
@click.option(
    "--redact",
    is_flag=True,
    help="Mask phones, e-mails, card numbers and @handles in the --errors file's texts.",
)
@_friendly
def evaluate(model_ref, models_dir, data, report_dir, errors_file, overwrite, redact):
    """Measure a model on labelled data; print a summary and optionally write an HTML report.

    Prints precision, recall, F1, PR-AUC and false-positive rate at the model's
    threshold, overall, per language and per category. With --report DIR, also writes
    DIR/report.html with a precision-recall curve, a reliability diagram, the
    confusion matrix, score histograms per class, the tables and the model card.
    With --errors FILE, also writes the misclassified rows for review: false
    positives (highest score first), then false negatives (lowest first). An existing
    FILE is kept unless --overwrite.

    Example:

        coercion-classifier evaluate --data datasets/heldout --report reports/heldout
    """
    from .report import (
        evaluate_model,
        format_evaluation,
        misclassified,
        read_evaluation_data,
        require_matplotlib,
    )
    from .writers import check_output, output_format, write_table

    if report_dir:
        require_matplotlib()
    labelled = read_evaluation_data(list(data) or None)  # bad data fails before a model is loaded
    if errors_file:
        output_format(errors_file, None)  # an extension that says no format is refused before the work
        check_output(errors_file, labelled.files, overwrite=overwrite, option="--errors")
    result = evaluate_model(_load_model(model_ref, models_dir), labelled)
    click.echo(format_evaluation(result))
    if errors_file:
        wrong = misclassified(result)
        if redact:
            from .redact import redact_texts

            wrong["text"] = redact_texts(wrong["text"])
        write_table(wrong, errors_file, overwrite=overwrite, title="errors")
        fp = int((wrong["kind"] == "false positive").sum())
        click.echo(
            f"{counted(len(wrong), 'misclassified row')} written to {errors_file} "
            f"({counted(fp, 'false positive')}, {counted(len(wrong) - fp, 'false negative')})"
        )
    if report_dir:
        from .report import write_evaluation_report

        click.echo(f"report: {write_evaluation_report(result, report_dir)}")


@cli.command()
@click.argument("text", required=False)
@click.option(
    "--model", "model_ref", help="Model version in the registry (or models/VERSION). Default: current."
)
@click.option("--models-dir", type=click.Path(file_okay=False), help="Model registry. Default: models.")
@click.option(
    "--top", type=click.IntRange(min=1), default=10, show_default=True, help="Features to list each way."
)
@click.option(
    "--file",
    "file_path",
    type=click.Path(exists=True, dir_okay=False),
    help="Explain a row of this file instead: an input of score, or a scored file with the text.",
)
@click.option("--row", type=int, metavar="N", help="With --file: the row, numbered as score's row column.")
@click.option("--text-column", default="text", show_default=True, help="With --file: the column of the text.")
@_friendly
def explain(text, model_ref, models_dir, top, file_path, row, text_column):
    """Explain TEXT's score: the words and character fragments that pushed it up and down.

    Lists each n-gram of the (normalised) text with its contribution, tf-idf times the
    model's weight; the contributions plus the intercept give the decision value, whose
    Platt scaling is the score. Pass - to read the text from standard input, or
    --file F --row N for row N of F (an input file, or a scored file that has the
    text), numbered as score numbers rows.

    Example:

        coercion-classifier explain "Мамо, виходьте на Майдан, нас тут покинули" --top 5
    """
    from .errors import InputError
    from .explain import explain as run
    from .explain import format_explanation, row_text
    from .readers import MAX_CHARS

    if (text is None) == (file_path is None):
        raise InputError("explain needs either TEXT or --file F --row N (not both)")
    if file_path is not None and row is None:
        raise InputError("--file needs --row N (the row number that score gives)")
    if file_path is None and row is not None:
        raise InputError("--row needs --file F")
    truncated = False
    if file_path is not None:
        text, truncated = row_text(file_path, row, text_column=text_column)
    elif text == "-":
        text = sys.stdin.read(MAX_CHARS + 1)
    if len(text) > MAX_CHARS:
        text, truncated = text[:MAX_CHARS], True
    explanation = run(text, _load_model(model_ref, models_dir))
    if file_path is not None:
        click.echo(f"{file_path} row {row}")
    click.echo(format_explanation(explanation, top=top))
    if truncated:
        click.echo(f"note: only the first {MAX_CHARS:,} characters were explained, as score does", err=True)


def _load_model(model_ref, models_dir, *, quiet=False):
    """The model to read with: a version, the workspace's current one, or the shipped one (said on stderr)."""
    from .workspace import reading_model

    return reading_model(
        model_ref, models_dir, announce=lambda message: quiet or click.echo(message, err=True)
    )


@cli.group()
def labels():
    """Inspect and validate the label store."""


@labels.command("check")
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@_friendly
def labels_check(paths, as_json):
    """Validate labelled CSVs (default: datasets/labelled) and print counts.

    Checks the schema (a writer for every row), allowed labels, languages and
    categories, the three condition columns against the label and category,
    empty and duplicate texts, and texts stored with conflicting labels. Exits 1 and lists
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
        click.echo(
            f"Error: {counted(len(problems), 'problem')} in {counted(len(files), 'file')}; fix the rows above",
            err=True,
        )
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
        ("by_writer", "writer"),
    ):
        click.echo(f"by {title}:")
        for k, v in counts[key].items():
            click.echo(f"  {k:<28}{v:>6}")


@labels.command("add")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--source",
    help="Provenance of every row (e.g. hotline-2026-11); a row's own source column is kept beside it.",
)
@click.option(
    "--annotator",
    help="Who labelled the rows (for rows without an annotator column); also their writer, "
    "by which cross-validation holds rows out.",
)
@click.option(
    "--resolve",
    type=click.Choice(["newest", "keep"]),
    help="On conflicts: newest = the newest label wins (a later row over an earlier one; a new row over "
    "the store's, which is kept but marked superseded); keep = the earliest label stays.",
)
@click.option(
    "--store",
    type=click.Path(file_okay=False),
    help="Label store folder (must exist). Default: datasets/labelled in the workspace: "
    "the current folder, or $COERCION_CLASSIFIER_HOME.",
)
@click.option("--text-column", help="The column (or JSON field) with the text. Default: text.")
@click.option("--label-column", help="The column (or JSON field) with the label. Default: label.")
@click.option("--sheet", metavar="NAME", help="The sheet of .xlsx files. Default: the first.")
@click.option("--delimiter", help="CSV delimiter: , ; | or tab. Default: sniffed (.tsv: tab).")
@click.option(
    "--dry-run", is_flag=True, help="Report what would be added, conflicts and refusals; write nothing."
)
@click.option(
    "--allow-heldout",
    is_flag=True,
    help="Add rows whose text is in the held-out set too (its figures become optimistic). Default: refuse them.",
)
@_friendly
def labels_add(
    files,
    source,
    annotator,
    resolve,
    store,
    text_column,
    label_column,
    sheet,
    delimiter,
    dry_run,
    allow_heldout,
):
    """Merge new labelled rows (csv, tsv, xlsx, jsonl: text, label, ...) into the store as a new dated file.

    Labels may be 1/0, yes/no, true/false, так/ні or да/нет. Every row is checked as labels check
    checks the store; one bad row (each is listed) and nothing is added. Existing
    files are never rewritten. Rows whose text (after normalisation) is already
    stored with the same label are skipped as duplicates. A text labelled both ways
    (against the store, or twice in the new files) is a conflict: the conflicts are
    listed and nothing is added unless --resolve says what to do. Two runs at once
    take turns. Headers match case-insensitively; --text-column and --label-column
    name other columns. A CSV's delimiter and encoding (UTF-8, cp1251, KOI8) are
    detected, as score detects them. A row whose text is in the held-out set (datasets/heldout/) is
    refused unless --allow-heldout. --dry-run says all this and writes nothing.

    Run it in a workspace (coercion-classifier init), or set COERCION_CLASSIFIER_HOME,
    or pass --home or --store.

    Example:

        coercion-classifier labels add week48.csv --source hotline-week48 --annotator olena --dry-run
    """
    from .errors import DataError
    from .merge import InvalidRowsError, add_labels

    try:
        report = add_labels(
            list(files),
            store,
            source=source,
            annotator=annotator,
            resolve=resolve,
            on_wait=lambda message: click.echo(message, err=True),
            dry_run=dry_run,
            text_column=text_column,
            label_column=label_column,
            allow_heldout=allow_heldout,
            sheet=sheet,
            delimiter=delimiter,
        )
    except InvalidRowsError as exc:
        for line in exc.rows:  # one line per bad row, as labels check lists the store's
            click.echo(line, err=True)
        raise DataError(f"{exc.summary}; fix the rows above") from None
    for line in report.lines():
        click.echo(line)
    for conflict in report.conflicts:
        click.echo(conflict.line(), err=True)
    if report.evaluation_line():
        click.echo(report.evaluation_line(), err=True)
    if report.refusal:  # a dry run with unresolved conflicts: the real run would fail
        sys.exit(1)


@labels.command("audit")
@click.option(
    "--data", multiple=True, type=click.Path(exists=True), help="Labelled CSV file or folder (repeatable)."
)
@click.option("-o", "--output", type=click.Path(dir_okay=False), default="label_audit.csv", show_default=True)
@click.option(
    "--overwrite", is_flag=True, help="Replace an existing -o file (it may hold your review notes)."
)
@click.option("--min-suspicion", type=click.FloatRange(0, 1), default=0.5, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@_friendly
def labels_audit(data, output, overwrite, min_suspicion, seed):
    """Write probable label errors to a CSV for review, most suspicious first.

    Each row gets an out-of-fold probability from a model that never saw it (grouped
    folds); suspicion is the probability of the other label. Nothing in the store
    changes. An existing -o file is kept unless --overwrite.

    Example:

        coercion-classifier labels audit -o to_review.csv
    """
    from .audit import audit_labels
    from .writers import check_output, write_csv

    check_output(output, list(data) or [config.labelled_dir()], overwrite=overwrite)  # before the work
    found = audit_labels(list(data) or None, min_suspicion=min_suspicion, seed=seed)
    write_csv(found, output, overwrite=overwrite)
    click.echo(f"{len(found)} row(s) with suspicion >= {min_suspicion} written to {output}")


@cli.command()
@click.option(
    "--data", multiple=True, type=click.Path(exists=True), help="Labelled CSV file or folder (repeatable)."
)
@click.option("--models-dir", type=click.Path(file_okay=False), help="Model registry. Default: models.")
@click.option("--tolerance", type=click.FloatRange(0, 1), default=0.01, show_default=True,
              help="How much lower F1 and precision may be before the candidate is refused.")  # fmt: skip
@click.option("--force", is_flag=True, help="Promote the candidate whatever the comparison says.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--quiet", "-q", is_flag=True, help="No progress messages.")
@_friendly
def retrain(data, models_dir, tolerance, force, seed, quiet):
    """Train a candidate on the whole store and promote it only if it is not worse.

    Candidate and current model are compared on the held-back split (datasets/heldout)
    and on the same grouped cross-validation folds; the candidate becomes current only
    if its F1 and precision are within --tolerance of the current model's on both.
    Otherwise it is registered but not current, and the reason is printed.

    Example:

        coercion-classifier retrain --tolerance 0.01
    """
    from .promotion import retrain as run

    result = run(
        list(data) or None, models_dir=models_dir, tolerance=tolerance, force=force, seed=seed, quiet=quiet
    )
    for name, comp in result.comparison.items():
        if name == "cv" and comp.get("same_configuration"):
            click.echo("cross-validation: same configuration, same folds: identical by construction")
            continue
        click.echo(f"{'held-out split' if name == 'heldout' else 'cross-validation (same folds)'}:")
        click.echo(f"  {'':<12}{'precision':>10}{'recall':>8}{'f1':>8}{'pr_auc':>8}")
        for who in ("current", "candidate"):
            m = comp[who]["overall"]
            vals = [m.get(k) for k in ("precision", "recall", "f1", "pr_auc")]
            click.echo(
                f"  {who:<12}" + "".join(f"{v:>8.3f}  " if v is not None else "     -  " for v in vals)
            )
        if name == "heldout":
            for lang in sorted(comp["candidate"]["by_lang"]):
                cur = comp["current"]["by_lang"].get(lang, {})
                cand = comp["candidate"]["by_lang"][lang]
                click.echo(
                    f"  lang={lang:<7} f1 current {cur.get('f1', float('nan')):.3f} candidate {cand['f1']:.3f}"
                )
    if result.promoted:
        note = f" ({'; '.join(result.reasons)}; --force)" if result.reasons and force else ""
        click.echo(f"promoted {result.candidate} (was {result.current or 'none'}){note}")
    else:
        click.echo(f"kept {result.current} current; candidate {result.candidate} registered, not promoted:")
        for reason in result.reasons:
            click.echo(f"  - {reason}")


@cli.group()
@click.option("--models-dir", type=click.Path(file_okay=False), help="Model registry. Default: models.")
@click.pass_context
@_friendly
def models(ctx, models_dir):
    """List, inspect, promote and roll back model versions."""
    from .registry import Registry
    from .workspace import require

    if models_dir is None and ctx.invoked_subcommand in ("promote", "rollback", "import"):
        require(f"models {ctx.invoked_subcommand}", "or pass --models-dir DIR")  # they write the registry
    ctx.obj = Registry(models_dir or config.models_dir())


@models.command("list")
@click.pass_obj
@_friendly
def models_list(registry):
    """Every version with its key figures; * marks the current one.

    Example:

        coercion-classifier models list
    """
    current = registry.current_version()
    versions = registry.versions()
    if not versions:
        from .workspace import shipped_registry

        shipped = shipped_registry()
        using = f"; score uses the shipped model {shipped.current_version()}" if shipped is not None else ""
        click.echo(f"no models in {registry.root}{using}; train one with 'coercion-classifier train'")
        return
    click.echo(f"  {'version':<22}{'parent':<22}{'rows':>6}{'cv f1':>8}{'held-out f1':>13}{'threshold':>11}")
    for v in versions:
        card = registry.card(v)
        cv = (card.get("cv") or {}).get("overall", {})
        ho = (card.get("heldout_writers") or {}).get("overall", {})

        def fmt(x):
            return f"{x:.3f}" if isinstance(x, int | float) else "-"

        click.echo(
            f"{'*' if v == current else ' '} {v:<22}{card.get('parent') or '-':<22}{card.get('data', {}).get('rows', 0):>6}"
            f"{fmt(cv.get('f1')):>8}{fmt(ho.get('f1')):>13}{fmt(card.get('threshold')):>11}"
        )


@models.command("show")
@click.argument("version")
@click.pass_obj
@_friendly
def models_show(registry, version):
    """Print a version's model card (JSON).

    Example:

        coercion-classifier models show 20261129T085027Z
    """
    click.echo(json.dumps(registry.card(version), indent=2, ensure_ascii=False))


@models.command("promote")
@click.argument("version")
@click.pass_obj
@_friendly
def models_promote(registry, version):
    """Make VERSION the current model.

    Example:

        coercion-classifier models promote 20261129T085027Z
    """
    with registry.lock():
        version = registry.resolve_version(version)
        registry.load(version)  # refuse a damaged version before it goes into service
        registry.set_current(version, action="promote")
    click.echo(f"current model: {version}")


@models.command("rollback")
@click.pass_obj
@_friendly
def models_rollback(registry):
    """Return to the model that was current before the present one.

    Each rollback goes one step further back through models/HISTORY.

    Example:

        coercion-classifier models rollback
    """
    with registry.lock():
        version = registry.rollback()
    click.echo(f"rolled back; current model: {version}")


@models.command("import")
@click.argument("path", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--trust", is_flag=True, help="Register it: you trust whoever trained it (its pickle runs code)."
)
@click.pass_obj
@_friendly
def models_import(registry, path, trust):
    """Show the card of a model folder from elsewhere; with --trust, register a copy.

    The files are checked against the card's SHA-256 first. Nothing outside the
    registry is ever loaded for scoring: import it, then promote it if you want it.

    Example:

        coercion-classifier models import /mnt/shared/models/20261129T085027Z --trust
    """
    from .registry import read_card

    click.echo(json.dumps(read_card(path), indent=2, ensure_ascii=False))
    with registry.lock():
        version = registry.import_model(path, trust=trust)
    click.echo(
        f"imported as {version} (not current; 'coercion-classifier models promote {version}' to use it)"
    )


@cli.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option(
    "-n", "count", type=click.IntRange(min=1), default=50, show_default=True, help="How many to suggest."
)
@click.option("-o", "--output", type=click.Path(dir_okay=False), default="to_label.csv", show_default=True)
@click.option(
    "--overwrite", is_flag=True, help="Replace an existing -o file (it may hold labels you filled in)."
)
@_read_options
@click.option("--model", "model_ref", help="Model version in the registry. Default: current.")
@click.option("--models-dir", type=click.Path(file_okay=False))
@click.option(
    "--data",
    multiple=True,
    type=click.Path(exists=True),
    help="Label store (to avoid suggesting labelled texts).",
)
@_friendly
def suggest(
    inputs,
    count,
    output,
    overwrite,
    input_format,
    text_columns,
    id_column,
    encoding,
    delimiter,
    sheet,
    model_ref,
    models_dir,
    data,
):
    """Pick the unlabelled messages most worth labelling next, into a CSV for `labels add`.

    Chooses messages near the decision threshold, spread across languages, and not
    near-duplicates of each other or of labelled rows. The CSV has an empty label
    column: fill it with 1/0 (and a category if you like), then run labels add. An
    existing -o file is kept unless --overwrite.

    Example:

        coercion-classifier suggest export.jsonl -n 50 -o to_label.csv
    """
    from .active import COLUMNS
    from .active import suggest as pick
    from .labels import read_labelled, store_files
    from .readers import Input, expand_inputs, parse_column_option
    from .scoring import check_id_column
    from .writers import check_output, write_csv

    paths = expand_inputs(inputs)
    text_column, per_input = parse_column_option(text_columns, paths)
    read = dict(fmt=input_format, encoding=encoding, delimiter=delimiter, sheet=sheet)
    for path in paths:  # refuse unusable inputs before the model is loaded (or trained)
        Input(path, text_column=per_input.get(path, text_column), id_column=id_column, **read).check()
    store_paths = list(data) or ([config.labelled_dir()] if config.labelled_dir().is_dir() else [])
    check_id_column(id_column, COLUMNS)  # before the model is loaded (or trained)
    check_output(output, [*expand_inputs(inputs), *store_paths], overwrite=overwrite)
    model = _load_model(model_ref, models_dir)
    labelled = read_labelled(store_files(store_paths))[0] if store_paths else None
    chosen = pick(
        paths,
        model,
        n=count,
        labelled=labelled,
        text_column=text_column,
        id_column=id_column,
        text_columns=per_input,
        **read,
    )
    write_csv(chosen, output, overwrite=overwrite)
    langs = ", ".join(f"{k} {v}" for k, v in chosen["lang"].value_counts().items()) if len(chosen) else "none"
    click.echo(f"{len(chosen)} message(s) to label written to {output} ({langs})")


@cli.command()
@click.argument("scored", required=False, type=click.Path(dir_okay=False))
@click.option(
    "--annotator", help="Who is labelling. Default: your login name ($USER); with --export: everyone's."
)
@click.option(
    "--port", type=click.IntRange(0, 65535), default=0, help="Port on 127.0.0.1. Default: a free one."
)
@click.option(
    "--redact", is_flag=True, help="Show (and export) texts with phones, e-mails, cards and @handles masked."
)
@click.option("--stats", is_flag=True, help="Print each annotator's counts and Cohen's kappa, then exit.")
@click.option(
    "--export",
    "export_only",
    is_flag=True,
    help="Send the decisions to the label store (as labels add), then exit.",
)
@click.option(
    "--resolve", type=click.Choice(["newest", "keep"]), help="On export conflicts: as labels add --resolve."
)
@click.option(
    "--store", type=click.Path(file_okay=False), help="Label store for the export. Default: the workspace's."
)
@click.option("--model", "model_ref", help="Model version for the condition heads. Default: current.")
@click.option("--models-dir", type=click.Path(file_okay=False), help="Model registry. Default: models.")
@_friendly
def review(scored, annotator, port, redact, stats, export_only, resolve, store, model_ref, models_dir):
    """Label SCORED (a score output with --include-text, or a campaigns file) one message at a time.

    Starts a page on 127.0.0.1 only, at the URL printed (with a random token; any other
    request gets 403), highest score first, with the reasons, the guide's three
    conditions (the model's condition heads) and the campaign size. Keys: y pattern,
    n not (then a category key), Y/N the whole campaign, s skip, u undo, e export, ?
    help. Each decision is saved at once in <workspace>/review/decisions.sqlite; the
    queue resumes where it stopped. Nothing leaves the machine.

    Example:

        coercion-classifier review scored.csv --annotator olena
    """
    import getpass

    from .decisions import DB_FILE, format_agreement, open_decisions
    from .errors import InputError
    from .review import export_decisions, export_lines
    from .workspace import home, require

    if stats and export_only:
        raise InputError("--stats and --export are separate runs; pass one of them")
    if stats:
        if not (home() / "review" / DB_FILE).is_file():
            click.echo("no review decisions yet")
            return
        with open_decisions() as decisions:
            click.echo(format_agreement(decisions.all()))
        return
    require("review", "or pass --home DIR")  # the decisions (and exports) live in the workspace

    def export(who):
        with open_decisions() as decisions:
            return export_lines(
                export_decisions(decisions, annotator=who, store=store, redact=redact, resolve=resolve)
            )

    if export_only:
        for line in export(annotator):
            click.echo(line)
        return
    if scored is None:
        raise InputError(
            "review needs SCORED (a file written by score --include-text), or --stats or --export"
        )
    if not annotator:
        try:
            annotator = getpass.getuser()
        except (OSError, KeyError, ImportError):  # no $USER/$LOGNAME and no passwd entry (a container)
            raise InputError(
                "cannot tell who is labelling (no login name for this user); pass --annotator NAME"
            ) from None
    from .review import ReviewQueue, create_app, load_items, new_token, serve

    items = load_items(scored, _load_model(model_ref, models_dir), redact=redact)
    token = new_token()
    decisions = open_decisions()
    queue = ReviewQueue(items, decisions, annotator)

    def ready(bound):
        done, total = queue.progress()
        click.echo(
            f"review of {scored} by {queue.annotator}: {done} of {total} labelled; decisions in {decisions.path}"
        )
        click.echo(f"open http://127.0.0.1:{bound}/?t={token}  (Ctrl-C stops; nothing leaves this machine)")

    app = create_app(queue, token, export=lambda: export(queue.annotator))
    try:
        serve(app, port, on_ready=ready)
    except OSError as exc:
        raise InputError(
            f"cannot listen on 127.0.0.1:{port} ({exc.strerror or exc}); pass another --port"
        ) from None
    except KeyboardInterrupt:
        click.echo("stopped; every decision is saved", err=True)
    finally:
        decisions.close()


def main():  # pragma: no cover - console script entry point
    cli()
