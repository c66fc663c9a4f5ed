import csv
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from classifier.cli import cli

from .conftest import model_opts, tiny_rows, write_store

ROOT = Path(__file__).resolve().parent.parent


def _commands(group=cli, prefix=()):
    for name, cmd in group.commands.items():
        yield (*prefix, name)
        if hasattr(cmd, "commands"):
            yield from _commands(cmd, (*prefix, name))


COMMANDS = list(_commands())


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help_and_is_in_readme(command):
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output and len(result.output) > 150
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"coercion-classifier {' '.join(command)}" in readme


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A project home with the tiny store and no model yet."""
    write_store(tmp_path / "datasets" / "labelled" / "tiny.csv", tiny_rows())
    monkeypatch.setenv("COERCION_CLASSIFIER_HOME", str(tmp_path))
    return tmp_path


def test_score_trains_default_model_first_then_reuses_it(home):
    sample = home / "m.txt"
    sample.write_text("Мамо, я в полоні, виходьте на Майдан\nкупи хліба\n\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["score", str(sample)])
    assert result.exit_code == 0, result.output
    assert "No model in" in result.stderr and "training the default model" in result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["row"] for r in rows] == ["1", "2", "3"]
    assert rows[2]["error"] == "empty text" and rows[0]["error"] == ""
    assert re.search(r"3 rows read, 2 scored, \d flagged, 1 error in", result.stderr)
    assert (home / "models" / "CURRENT").exists()

    again = CliRunner().invoke(cli, ["score", str(sample), "-o", str(home / "out.csv")])
    assert again.exit_code == 0 and "training" not in again.stderr
    assert again.stdout == ""
    assert list(csv.DictReader(io.StringIO((home / "out.csv").read_text(encoding="utf-8")))) == rows


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["score", "missing.txt"], "Error: missing.txt: no such file"),
        (
            ["score", "notes.docx"],
            "Error: notes.docx: unknown file type '.docx'; use .txt (one message per line), .csv, .tsv, .jsonl, "
            ".ndjson, .parquet, .json (a Telegram export), each optionally .gz, or .xlsx, or pass --input-format",
        ),
        (
            ["score", "m.csv"],
            "Error: m.csv: no column 'text'; the columns are: id, body; pass --text-column NAME or NUMBER",
        ),
    ],
)
def test_score_unusable_input_is_one_line_error(home, monkeypatch, args, message):
    monkeypatch.chdir(home)
    (home / "notes.docx").write_text("x")
    (home / "m.csv").write_text("id,body\n1,hello\n")
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [message]
    assert "Traceback" not in result.output


def test_score_without_data_or_model_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("COERCION_CLASSIFIER_HOME", str(tmp_path))
    (tmp_path / "m.txt").write_text("x\n")
    result = CliRunner().invoke(cli, ["score", str(tmp_path / "m.txt")])
    assert result.exit_code == 1
    assert "no such file or folder; run from the repository root or pass --data" in result.stderr
    assert "Traceback" not in result.output


def test_train_prints_metrics_and_registers(home):
    result = CliRunner().invoke(cli, ["train", "--quiet", "--seed", "2", "--target-precision", "0.9"])
    assert result.exit_code == 0, result.output
    assert re.search(r"model \d{8}T\d{6}Z(-\d+)?  threshold 0\.\d{4}", result.stdout)
    assert "lang=uk" in result.stdout and "scam" in result.stdout
    version = (home / "models" / "CURRENT").read_text().strip()
    assert (home / "models" / version / "model.joblib").exists()


def test_labels_check_ok_and_counts(home):
    result = CliRunner().invoke(cli, ["labels", "check"])
    assert result.exit_code == 0
    assert "30 rows in 1 file(s): OK" in result.stdout
    assert re.search(r"coerced_appeal\s+15", result.stdout)


def test_labels_check_lists_every_problem_and_fails(home):
    rows = tiny_rows()
    rows[0]["label"] = "maybe"
    rows[5]["text"] = rows[6]["text"]
    path = write_store(home / "datasets" / "labelled" / "tiny.csv", rows)
    result = CliRunner().invoke(cli, ["labels", "check"])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert f"{path}:2 [label]: label must be 0 or 1, got 'maybe'" in lines
    assert any(line.startswith(f"{path}:8 [text]: duplicate of {path}:7") for line in lines)
    assert lines[-1].startswith("Error: 2 problems")


def test_python_dash_m_works():
    out = subprocess.run(
        [sys.executable, "-m", "classifier", "--help"], capture_output=True, text=True, check=True
    )
    assert "coercion-classifier" in out.stdout and "score" in out.stdout


# --- score: the batch-scoring options ------------------------------------------------


def _csv(text):
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture
def messages(tmp_path):
    from .conftest import NEGATIVES, POSITIVES

    lines = [t for _, t in POSITIVES] + [t for *_, t in NEGATIVES]
    path = tmp_path / "m.txt"
    path.write_text("\n".join(lines * 40) + "\n", encoding="utf-8")
    return path, lines * 40


def test_score_cli_api_and_jobs_agree(tiny_model, messages, tmp_path):
    from classifier.scoring import score_texts

    path, lines = messages
    model = model_opts(tiny_model)
    one = CliRunner().invoke(cli, ["score", str(path), *model, "--jobs", "1"])
    two = CliRunner().invoke(cli, ["score", str(path), *model, "--jobs", "2"])
    assert one.exit_code == two.exit_code == 0
    assert one.stdout == two.stdout
    rows = _csv(one.stdout)
    assert len(rows) == len(lines) and [int(r["row"]) for r in rows] == list(range(1, len(lines) + 1))
    api = score_texts(lines, tiny_model)
    assert [r["score"] for r in rows] == [f"{s:.6f}" for s in api["score"]]
    assert [r["reasons"] for r in rows] == list(api["reasons"])
    assert re.search(
        rf"{len(lines):,} rows read, {len(lines):,} scored, [\d,]+ flagged, 0 errors", one.stderr
    )


def test_score_stdin_jsonl_output_only_flagged_threshold(tiny_model, messages):
    path, lines = messages
    result = CliRunner().invoke(
        cli,
        [
            "score",
            "-",
            *model_opts(tiny_model),
            "--format",
            "jsonl",
            "--only-flagged",
            "--threshold",
            "0.5",
        ],
        input=path.read_text(encoding="utf-8"),
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert rows and all(r["flagged"] and r["score"] >= 0.5 and r["source"] == "-" for r in rows)
    assert len(rows) < len(lines)
    assert f"{len(rows):,} rows written" in result.stderr


def test_score_by_file_and_parquet_output(tiny_model, tmp_path):
    folder = tmp_path / "calls"
    folder.mkdir()
    (folder / "001.txt").write_text(
        "Мамо, я в полоні.\nВиходьте на Майдан, вимагайте обміну!\n", encoding="utf-8"
    )
    (folder / "002.txt").write_text("Купи хліба", encoding="utf-8")
    out = tmp_path / "out.parquet"
    result = CliRunner().invoke(
        cli, ["score", str(folder), "--by-file", *model_opts(tiny_model), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    import pandas as pd

    df = pd.read_parquet(out)
    assert list(df["row"]) == [1, 2] and df["source"].iloc[0].endswith("001.txt")
    assert df["score"].iloc[0] > df["score"].iloc[1]


def test_parquet_to_stdout_is_refused(tiny_model, messages):
    path, _ = messages
    result = CliRunner().invoke(cli, ["score", str(path), *model_opts(tiny_model), "--format", "parquet"])
    assert result.exit_code == 2
    assert result.stderr.strip() == "Error: parquet output needs a file: pass -o FILE.parquet"


def test_killed_run_leaves_no_output_file(tiny_model, tmp_path):
    import signal
    import time

    src = tmp_path / "big.txt"
    src.write_text(
        "Мамо, виходьте на Майдан, нас тут покинули, вимагайте обміну\n" * 400_000, encoding="utf-8"
    )
    out = tmp_path / "scored.csv"
    out.write_text("previous complete output\n", encoding="utf-8")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "classifier",
            "score",
            str(src),
            "-o",
            str(out),
            *model_opts(tiny_model),
            "--jobs",
            "2",
            "--no-progress",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".scored.csv.*.part")) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # mid-way: the temporary file is being written
    assert proc.poll() is None, proc.stderr.read().decode()
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert out.read_text(encoding="utf-8") == "previous complete output\n"


# --- outputs: never over an input, never over an analyst's file, errors counted -------------


def _model(model):
    return ["--models-dir", str(model.path.parent), "--model", str(model.version)]


@pytest.mark.parametrize("how", ["same", "spelled", "symlink", "hardlink", "symlinked-folder"])
def test_score_refuses_an_output_that_is_an_input(tiny_model, tmp_path, monkeypatch, how):
    import os

    monkeypatch.chdir(tmp_path)
    src = tmp_path / "m.txt"
    src.write_text("Мамо виходьте на Майдан\nкупи хліба\n", encoding="utf-8")
    before = src.read_bytes()
    out = {"same": str(src), "spelled": "./sub/../m.txt"}.get(how)
    (tmp_path / "sub").mkdir()
    if how == "symlink":
        os.symlink(src, tmp_path / "link.txt")
        out = str(tmp_path / "link.txt")
    elif how == "hardlink":
        os.link(src, tmp_path / "hard.txt")
        out = str(tmp_path / "hard.txt")
    elif how == "symlinked-folder":
        os.symlink(tmp_path, tmp_path / "alias")
        out = str(tmp_path / "alias" / "m.txt")
    result = CliRunner().invoke(cli, ["score", "m.txt", *_model(tiny_model), "-o", out])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines() == [
        f"Error: {out} is the input m.txt; write the output to another file"
    ]
    assert src.read_bytes() == before


def test_score_refuses_an_output_that_is_the_file_on_standard_input(tiny_model, tmp_path):
    src = tmp_path / "m.txt"
    src.write_text("Мамо виходьте на Майдан\nкупи хліба\n", encoding="utf-8")
    before = src.read_bytes()
    env = {**__import__("os").environ, "PYTHONPATH": str(ROOT)}
    with open(src, "rb") as stdin:
        run = subprocess.run(
            [sys.executable, "-m", "classifier", "score", "-", *_model(tiny_model), "-o", str(src)],
            stdin=stdin,
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
        )
    assert run.returncode == 2, run.stderr
    assert "is the file on standard input" in run.stderr
    assert src.read_bytes() == before


@pytest.mark.parametrize("folder", ["datasets/labelled", "datasets/heldout", "models"])
def test_outputs_never_go_into_the_projects_own_folders(tiny_model, tmp_path, monkeypatch, folder):
    monkeypatch.setenv("COERCION_CLASSIFIER_HOME", str(tmp_path))
    write_store(tmp_path / "datasets" / "labelled" / "tiny.csv", tiny_rows())
    (tmp_path / folder).mkdir(parents=True, exist_ok=True)
    src = tmp_path / "m.txt"
    src.write_text("Мамо виходьте на Майдан\nкупи хліба\n", encoding="utf-8")
    out = tmp_path / folder / "x.csv"
    for args in (
        ["score", str(src), *_model(tiny_model), "-o", str(out)],
        ["suggest", str(src), "-n", "1", *_model(tiny_model), "-o", str(out)],
    ):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 2, result.output
        assert "is inside" in result.stderr and "write the output elsewhere" in result.stderr
        assert not out.exists()


def test_by_file_summary_counts_the_entries_it_skipped(tiny_model, tmp_path):
    folder = tmp_path / "calls"
    folder.mkdir()
    (folder / "001.txt").write_text("Мамо виходьте на Майдан", encoding="utf-8")
    (folder / "sub.txt").mkdir()
    (folder / "broken.txt").symlink_to(folder / "gone.txt")
    (folder / "notes.md").write_text("x", encoding="utf-8")
    result = CliRunner().invoke(
        cli, ["score", str(folder), "--by-file", *_model(tiny_model), "-o", str(tmp_path / "s.csv")]
    )
    assert result.exit_code == 0, result.output
    assert "; 3 folder entries skipped (1 broken link, 1 folder, 1 not .txt)" in result.stderr


def test_score_refuses_an_output_inside_a_by_file_folder(tiny_model, tmp_path):
    folder = tmp_path / "calls"
    folder.mkdir()
    (folder / "001.txt").write_text("Мамо виходьте на Майдан", encoding="utf-8")
    out = folder / "scores.txt"
    result = CliRunner().invoke(
        cli, ["score", str(folder), "--by-file", *_model(tiny_model), "-o", str(out), "--format", "csv"]
    )
    assert result.exit_code == 2, result.output
    assert "is inside the input folder" in result.stderr and not out.exists()


def test_suggest_refuses_an_existing_output_unless_overwrite(tiny_model, tmp_path):
    src = tmp_path / "pool.txt"
    src.write_text("Мамо виходьте на Майдан\nкупи хліба додому\n", encoding="utf-8")
    out = tmp_path / "to_label.csv"
    out.write_text("text,label\nfilled in by an analyst,1\n", encoding="utf-8")
    args = ["suggest", str(src), "-o", str(out), *_model(tiny_model)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines() == [
        f"Error: {out} exists; pass --overwrite to replace it, or choose another -o"
    ]
    assert out.read_text(encoding="utf-8") == "text,label\nfilled in by an analyst,1\n"
    # its own input is never replaced, not even with --overwrite
    again = CliRunner().invoke(cli, ["suggest", str(src), "-o", str(src), "--overwrite", *_model(tiny_model)])
    assert again.exit_code == 2 and "is the input" in again.stderr
    done = CliRunner().invoke(cli, [*args, "--overwrite"])
    assert done.exit_code == 0, done.output
    assert out.read_text(encoding="utf-8").startswith("text,label,lang,category,source,row,score\n")


def test_labels_audit_refuses_an_existing_output_and_escapes_texts(home, monkeypatch):
    monkeypatch.chdir(home)
    store = home / "datasets" / "labelled"
    rows = tiny_rows()
    rows[0]["text"] = "=" + rows[0]["text"]
    write_store(store / "tiny.csv", rows)
    out = home / "to_review.csv"
    out.write_text("reviewed\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["labels", "audit", "-o", str(out), "--min-suspicion", "0"])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines() == [
        f"Error: {out} exists; pass --overwrite to replace it, or choose another -o"
    ]
    assert out.read_text(encoding="utf-8") == "reviewed\n"
    into_store = CliRunner().invoke(
        cli, ["labels", "audit", "-o", str(store / "tiny.csv"), "--overwrite", "--min-suspicion", "0"]
    )
    assert into_store.exit_code == 2 and "is inside the input folder" in into_store.stderr
    done = CliRunner().invoke(cli, ["labels", "audit", "-o", str(out), "--overwrite", "--min-suspicion", "0"])
    assert done.exit_code == 0, done.output
    found = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert len(found) == len(rows)
    assert "'" + rows[0]["text"] in [r["text"] for r in found]


OUTPUT_NAMES = ["source", "row", "lang", "score", "flagged", "reasons", "truncated", "error", "campaign"]


@pytest.mark.parametrize("name", OUTPUT_NAMES)
def test_id_column_named_like_an_output_column_is_refused(tiny_model, tmp_path, name):
    path = tmp_path / "m.csv"
    path.write_text(f"text,{name}\nМамо виходьте на Майдан,a1\nкупи хліба,a2\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["score", str(path), "--id-column", name, *_model(tiny_model)])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines() == [
        f"Error: --id-column {name!r} is also an output column (source, row, lang, score, flagged, reasons, "
        "truncated, error, campaign); rename that column in the input, or leave out --id-column"
    ]


@pytest.mark.parametrize("name", ["text", "label", "lang", "category", "source", "row", "score"])
def test_suggest_id_column_named_like_an_output_column_is_refused(tiny_model, tmp_path, name):
    path = tmp_path / "m.csv"
    path.write_text(f"text,{name}\nМамо виходьте на Майдан,a1\n", encoding="utf-8")
    out = tmp_path / "s.csv"
    result = CliRunner().invoke(
        cli, ["suggest", str(path), "--id-column", name, "-o", str(out), *_model(tiny_model)]
    )
    assert result.exit_code == 2, result.output
    assert "is also an output column" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_every_row_failed_is_a_failure_and_max_errors_sets_the_limit(tiny_model, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("\n \n\t\n", encoding="utf-8")
    out = tmp_path / "o.csv"
    result = CliRunner().invoke(cli, ["score", str(bad), *_model(tiny_model), "-o", str(out)])
    assert result.exit_code == 3, result.output
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("3 rows read, 0 scored, 0 flagged, 3 errors")
    assert "every row failed (exit code 3); see the error column" in line
    assert [r["error"] for r in _csv(out.read_text(encoding="utf-8"))] == ["empty text"] * 3  # kept
    mixed = tmp_path / "mixed.txt"
    mixed.write_text("Мамо виходьте на Майдан\n\n\nкупи хліба\n", encoding="utf-8")
    over = CliRunner().invoke(cli, ["score", str(mixed), *_model(tiny_model), "--max-errors", "1"])
    assert over.exit_code == 3, over.output
    assert "2 errors, more than --max-errors 1 (exit code 3)" in over.stderr
    assert len(_csv(over.stdout)) == 4
    within = CliRunner().invoke(cli, ["score", str(mixed), *_model(tiny_model), "--max-errors", "2"])
    assert within.exit_code == 0, within.output and "exit code" not in within.stderr
    fine = CliRunner().invoke(cli, ["score", str(mixed), *_model(tiny_model)])
    assert fine.exit_code == 0 and "exit code" not in fine.stderr
    allowed = CliRunner().invoke(cli, ["score", str(bad), *_model(tiny_model), "--max-errors", "3"])
    assert allowed.exit_code == 0, allowed.output


# --- a full disk, a read-only folder: one line, nothing half-written --------------------------


def _no_temp_files(folder):
    return [p.name for p in folder.rglob(".*") if p.name.endswith((".part", ".tmp"))]


@pytest.mark.parametrize("fail_at", ["write", "fsync"])
def test_score_on_a_full_disk_is_one_line_and_leaves_nothing(
    tiny_model, messages, tmp_path, monkeypatch, fail_at
):
    import builtins
    import errno

    from classifier import writers

    path, _ = messages
    out = tmp_path / "out" / "scored.csv"
    out.parent.mkdir()
    out.write_text("previous complete output\n", encoding="utf-8")

    class Full(io.TextIOWrapper):
        def write(self, text):
            raise OSError(errno.ENOSPC, "No space left on device")

    def full_open(file, mode="r", *args, **kwargs):
        fh = builtins.open(file, mode, *args, **kwargs)
        if "w" in mode and "b" not in mode:
            return Full(fh.detach(), encoding="utf-8", newline="")
        return fh

    def full_fsync(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    if fail_at == "write":
        monkeypatch.setattr(writers, "open", full_open, raising=False)
    else:
        monkeypatch.setattr(writers.os, "fsync", full_fsync)
    result = CliRunner().invoke(cli, ["score", str(path), *_model(tiny_model), "-o", str(out), "--jobs", "1"])
    assert result.exit_code == 1, result.output
    assert result.stderr.strip().splitlines() == [
        f"Error: cannot write {out}: No space left on device; free some space or write elsewhere "
        "(nothing was written there)"
    ]
    assert out.read_text(encoding="utf-8") == "previous complete output\n"
    assert _no_temp_files(tmp_path) == []


def test_score_into_a_read_only_folder_is_one_line(tiny_model, messages, tmp_path, monkeypatch):
    import errno
    import os
    import stat

    path, _ = messages
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    if os.geteuid() == 0:  # root writes anywhere: make the folder refuse as a read-only one would
        from classifier import writers

        real = writers.tempfile.mkstemp

        def refuse(*args, dir=None, **kwargs):
            if dir is not None and os.path.samefile(dir, folder):
                raise PermissionError(errno.EACCES, "Permission denied", str(dir))
            return real(*args, dir=dir, **kwargs)

        monkeypatch.setattr(writers.tempfile, "mkstemp", refuse)
    result = CliRunner().invoke(cli, ["score", str(path), *_model(tiny_model), "-o", str(folder / "o.csv")])
    folder.chmod(0o755)
    assert result.exit_code == 1, result.output
    assert result.stderr.strip().splitlines() == [
        f"Error: cannot write {folder / 'o.csv'}: Permission denied; write elsewhere, or fix the "
        "permissions (nothing was written there)"
    ]
    assert list(folder.iterdir()) == []


def test_train_on_a_full_disk_is_one_line_and_registers_nothing(home, monkeypatch):
    import errno

    from classifier import registry

    real_dump = registry.joblib.dump

    def full_dump(obj, fh, *args, **kwargs):
        real_dump(obj, fh, *args, **kwargs)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(registry.joblib, "dump", full_dump)
    result = CliRunner().invoke(cli, ["train", "--no-heldout", "-q"])
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert (
        len(lines) == 1
        and lines[0].startswith("Error: cannot write ")
        and "No space left on device" in lines[0]
    )
    models = home / "models"
    assert not models.exists() or [p.name for p in models.iterdir() if p.name != ".lock"] == []


@pytest.mark.parametrize(
    ("command", "option"),
    [
        ("score", "--excel"),
        ("score", "--quiet"),
        ("score", "--summary-json"),
        ("explain", "--file"),
        ("explain", "--row"),
        ("evaluate", "--errors"),
    ],
)
def test_output_options_are_in_help_and_readme(command, option):
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0 and option in result.output
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert re.search(f"`[^`]*{option}\\b[^`]*`", readme) and f"coercion-classifier {command}" in readme
    for extension in (".csv", ".tsv", ".jsonl", ".parquet", ".xlsx"):
        assert f"| `{extension}" in readme  # the table of output formats
